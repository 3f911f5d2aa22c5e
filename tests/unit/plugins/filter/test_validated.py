# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``splitdriver.xen.validated``: the roles' checks are the module_utils rules, word for word."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.splitdriver.xen.plugins.filter import validated
from ansible_collections.splitdriver.xen.plugins.module_utils._kernel_module import info
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import validate


def test_registered_under_its_file_name():
    assert validated.FilterModule().filters() == {"validated": validated.validated}


@pytest.mark.parametrize("rule, value, expected", [
    ("device_type", "mydevice", "mydevice"),
    ("device_type", "t" * 15, "t" * 15),
    ("kernel_module_name", "mydeviceback", "mydeviceback"),
    ("kernel_module_version", "1.0", "1.0"),
    # an unquoted YAML 1.0 is a float: checked and returned as the string a str option makes of it
    ("kernel_module_version", 1.0, "1.0"),
    ("kernel_module_version", 2, "2"),
    ("kernel_release", "6.1.0-28-amd64", "6.1.0-28-amd64"),
])
def test_accepts(rule, value, expected):
    assert validated.validated(value, rule, "opt") == expected


@pytest.mark.parametrize("rule, value, check", [
    ("device_type", "my device", validate.check_device_type),
    ("device_type", "t" * 16, validate.check_device_type),
    ("device_type", "mydevice\n", validate.check_device_type),
    ("device_type", "", validate.check_device_type),
    ("device_type", None, validate.check_device_type),
    ("device_type", True, validate.check_device_type),
    ("kernel_module_name", "bad name/../x", info.validate_name),
    ("kernel_module_name", "x" * 56, info.validate_name),
    ("kernel_module_version", "1/2", info.validate_version),
    ("kernel_module_version", ["1"], info.validate_version),
    ("kernel_release", "../../etc", info.validate_release),
    ("kernel_release", "", info.validate_release),
])
def test_rejects_with_the_module_utils_message(rule, value, check):
    with pytest.raises((validate.ValidationError, info.KernelModuleInfoError)) as expected:
        check(value, "some_option")
    with pytest.raises(AnsibleFilterError) as exc:
        validated.validated(value, rule, "some_option")
    assert exc.value.message == str(expected.value)
    assert str(expected.value).startswith("some_option %r " % (value,)) or \
        str(expected.value).startswith("some_option must be")


def test_option_defaults_to_the_rule_name():
    with pytest.raises(AnsibleFilterError, match="^device_type 'a b' contains characters outside"):
        validated.validated("a b", "device_type")


def test_unknown_rule():
    with pytest.raises(AnsibleFilterError, match="^validated: unknown rule 'colour' "
                       r"\(known: device_type, kernel_module_name, kernel_module_version, kernel_release\)"):
        validated.validated("x", "colour")
