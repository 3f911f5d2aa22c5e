# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filter wrappers: registered names, Ansible errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.splitdriver.xen.plugins.filter import fleet_devices


def test_filters_are_registered_under_their_file_names():
    assert fleet_devices.FilterModule().filters() == {"fleet_devices": fleet_devices.fleet_devices}


def test_fleet_devices_passes_the_plan_through():
    hostvars = {"xen1": {}, "g1": {"splitdriver_xen_host": "xen1", "splitdriver_xen_devices": [{"type": "t"}]}}
    plan = fleet_devices.fleet_devices(hostvars, ["g1"])
    assert plan["xen1"]["devices"] == [{"type": "t", "frontend": "g1", "devid": 0}]


def test_fleet_devices_errors_are_filter_errors():
    with pytest.raises(AnsibleFilterError, match="^fleet_devices: g1: splitdriver_xen_host is not set"):
        fleet_devices.fleet_devices({"g1": {}}, ["g1"])
