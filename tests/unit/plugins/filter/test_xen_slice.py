# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The xen_slice filter wrapper: registered name, Ansible errors, and what Jinja passes it."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.splitdriver.xen.plugins.filter import xen_slice
from ansible_collections.splitdriver.xen.plugins.plugin_utils import _slice


def test_registered_under_its_file_name():
    assert xen_slice.FilterModule().filters() == {"xen_slice": xen_slice.xen_slice}


def test_passes_the_slice_through():
    assert xen_slice.xen_slice("xen1", 4) == _slice.xen_slice("xen1", 4)


def test_errors_are_filter_errors():
    with pytest.raises(AnsibleFilterError, match="^xen_slice: count must be an integer from 1 to 1000, got 0$"):
        xen_slice.xen_slice("xen1", 0)
