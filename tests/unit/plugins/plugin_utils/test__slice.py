# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Slice numbers of Xen hosts: stable, in range, whole Xen hosts, bad input named."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.plugin_utils._slice import COUNT_MAX, SliceError, xen_slice


# Fixed values (sha256 of the name, first 8 bytes, modulo count, plus one): a change of the rule
# would move Xen hosts between the slices of existing set-ups.
@pytest.mark.parametrize("name, count, expected", [
    ("xen1", 4, 2),
    ("xen1.example.org", 1, 1),
    ("dom0.rack7.example.org", 1000, 721),
    ("dom0.rack7.example.org", "1000", 721),
    ("xén-hôte", 3, 1),
])
def test_slice_is_the_documented_function_of_the_name(name, count, expected):
    assert xen_slice(name, count) == expected


def test_known_values_do_not_drift():
    assert [xen_slice("xen%d" % i, 3) for i in range(1, 9)] == [3, 2, 3, 3, 3, 1, 1, 1]


def test_every_slice_in_range_and_used_over_many_hosts():
    for count in (1, 2, 3, 7, 16):
        seen = {xen_slice("xen%03d.example.org" % i, count) for i in range(200)}
        assert seen == set(range(1, count + 1))


def test_adding_xen_hosts_moves_no_other():
    before = {"xen%d" % i: xen_slice("xen%d" % i, 5) for i in range(20)}
    after = {"xen%d" % i: xen_slice("xen%d" % i, 5) for i in range(40)}
    assert {name: after[name] for name in before} == before


@pytest.mark.parametrize("count", [0, -1, COUNT_MAX + 1, 2.5, "two", "", None, True])
def test_bad_count_is_named(count):
    with pytest.raises(SliceError, match=r"^count must be an integer from 1 to 1000, got "):
        xen_slice("xen1", count)


@pytest.mark.parametrize("name", ["", None, 7, ["xen1"]])
def test_bad_name_is_named(name):
    with pytest.raises(SliceError, match=r"^the Xen host must be a non-empty inventory name, got "):
        xen_slice(name, 2)
