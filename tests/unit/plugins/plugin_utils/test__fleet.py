# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet plan: inventory variables -> one device list per Xen host."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.plugin_utils._fleet import FleetError, fleet_plan

XEN = {"xen1": {}, "xen2": {}}


def inv(**guests):
    hostvars = dict(XEN)
    hostvars.update(guests)
    return hostvars


def guest(xen_host="xen1", devices=None, domain=None):
    hvars = {"splitdriver_xen_host": xen_host}
    if devices is not None:
        hvars["splitdriver_xen_devices"] = devices
    if domain is not None:
        hvars["splitdriver_xen_domain"] = domain
    return hvars


def test_groups_guests_by_xen_host_in_host_order():
    hostvars = inv(
        g1=guest(devices=[{"type": "mydevice"}]),
        g2=guest("xen2", devices=[{"type": "mydevice", "devids": [0, 1]}]),
        g3=guest(devices=[{"type": "vfoo", "devid": 7}], domain="guest-three"),
    )
    plan = fleet_plan(hostvars, ["g3", "g2", "g1"])
    assert list(plan) == ["xen1", "xen2"]
    assert plan["xen1"] == {
        "guests": ["g3", "g1"],
        "domains": ["guest-three", "g1"],
        "backend_domains": [],
        "devices": [
            {"type": "vfoo", "frontend": "guest-three", "devid": 7},
            {"type": "mydevice", "frontend": "g1", "devid": 0},
        ],
    }
    assert plan["xen2"]["devices"] == [
        {"type": "mydevice", "frontend": "g2", "devid": 0},
        {"type": "mydevice", "frontend": "g2", "devid": 1},
    ]


def test_only_the_given_hosts_are_planned():
    # --limit g1: g2 on the same Xen host must not appear at all
    hostvars = inv(g1=guest(devices=[{"type": "mydevice"}]), g2=guest(devices=[{"type": "mydevice"}]))
    plan = fleet_plan(hostvars, ["g1"])
    assert plan == {
        "xen1": {
            "guests": ["g1"],
            "domains": ["g1"],
            "backend_domains": [],
            "devices": [{"type": "mydevice", "frontend": "g1", "devid": 0}],
        }
    }
    assert fleet_plan(hostvars, []) == {}


def test_guest_without_devices_is_planned_but_adds_nothing():
    plan = fleet_plan(inv(g1=guest(), g2=guest(devices=[])), ["g1", "g2"])
    assert plan["xen1"]["guests"] == ["g1", "g2"]
    assert plan["xen1"]["devices"] == []


def test_driver_domain_backend_and_entries():
    hostvars = inv(
        g1=guest(
            devices=[
                {
                    "type": "mydevice",
                    "backend": "drv1",
                    "frontend_entries": {"ring-size": "1"},
                    "backend_entries": {"mode": "rw"},
                },
                {"type": "other", "backend": "Domain-0"},
            ]
        )
    )
    plan = fleet_plan(hostvars, ["g1"])
    assert plan["xen1"]["backend_domains"] == ["drv1"]
    assert plan["xen1"]["devices"] == [
        {
            "type": "mydevice",
            "frontend": "g1",
            "devid": 0,
            "backend": "drv1",
            "frontend_entries": {"ring-size": "1"},
            "backend_entries": {"mode": "rw"},
        },
        {"type": "other", "frontend": "g1", "devid": 0},
    ]


def test_devid_strings_of_digits_are_accepted():
    plan = fleet_plan(inv(g1=guest(devices=[{"type": "t", "devid": "3"}])), ["g1"])
    assert plan["xen1"]["devices"][0]["devid"] == 3


@pytest.mark.parametrize(
    "hostvars, hosts, message",
    [
        (inv(), ["nope"], "nope: not an inventory host"),
        (inv(g1={}), ["g1"], "g1: splitdriver_xen_host is not set"),
        (inv(g1=guest("g1")), ["g1"], "g1: splitdriver_xen_host names the guest itself"),
        (inv(g1=guest("xen9")), ["g1"], "g1: splitdriver_xen_host='xen9' is not an inventory host"),
        (inv(g1=guest(domain="Domain-0")), ["g1"], "g1: splitdriver_xen_domain must be the guest's Xen domain name"),
        (inv(g1=guest(domain=" x")), ["g1"], "splitdriver_xen_domain must be"),
        (inv(g1=guest(domain=5)), ["g1"], "splitdriver_xen_domain must be"),
        (
            inv(g1=guest(domain="web"), g2=guest(domain="web")),
            ["g1", "g2"],
            "g1 and g2 both claim Xen domain 'web' on Xen host xen1",
        ),
        (inv(g1=guest(devices={"type": "t"})), ["g1"], "g1: splitdriver_xen_devices must be a list of devices, got dict"),
        (inv(g1=guest(devices=["t"])), ["g1"], "g1: splitdriver_xen_devices[0] must be a dictionary, got str"),
        (inv(g1=guest(devices=[{"type": "t", "dev": 1}])), ["g1"], "splitdriver_xen_devices[0]: unknown keys dev"),
        (inv(g1=guest(devices=[{"devid": 1}])), ["g1"], "g1: splitdriver_xen_devices[0].type must be a non-empty string, got None"),
        # the module's rule and message (validate.check_device_type), named after the inventory variable
        (inv(g1=guest(devices=[{"type": "a/b"}])), ["g1"],
         "g1: splitdriver_xen_devices[0].type 'a/b' contains characters outside A-Z a-z 0-9 _ -"),
        (inv(g1=guest(devices=[{"type": "t\n"}])), ["g1"], "splitdriver_xen_devices[0].type 't\\n' contains characters outside"),
        (inv(g1=guest(devices=[{"type": "@t"}])), ["g1"], "splitdriver_xen_devices[0].type '@t' contains characters outside"),
        (inv(g1=guest(devices=[{"type": "t" * 16}])), ["g1"],
         "g1: splitdriver_xen_devices[0].type 'tttttttttttttttt' is 16 characters long, more than the limit of 15"),
        # the bus id of a guest named, not numbered: the shortest domid it can have
        (inv(g1=guest(devices=[{"type": "t" * 15, "devids": [0, 10]}])), ["g1"],
         "g1: splitdriver_xen_devices[0].type 'ttttttttttttttt' is too long: the backend bus id "
         "ttttttttttttttt-<domid of g1>-10 has at least 20 characters"),
        (inv(g1=guest(domain="web\n")), ["g1"], "splitdriver_xen_domain must be"),
        (inv(g1=guest(devices=[{"type": "t", "devid": -1}])), ["g1"], "devid must be an integer from 0 to 2147483647, got -1"),
        (inv(g1=guest(devices=[{"type": "t", "devid": 2**31}])), ["g1"], "got 2147483648"),
        (inv(g1=guest(devices=[{"type": "t", "devid": True}])), ["g1"], "got True"),
        (inv(g1=guest(devices=[{"type": "t", "devid": 1.0}])), ["g1"], "got 1.0"),
        (inv(g1=guest(devices=[{"type": "t", "devid": 0, "devids": [1]}])), ["g1"], "give devid or devids, not both"),
        (inv(g1=guest(devices=[{"type": "t", "devids": []}])), ["g1"], "devids must be a non-empty list"),
        (
            inv(g1=guest(devices=[{"type": "t", "devids": [0, 1]}, {"type": "t", "devid": 1}])),
            ["g1"],
            "g1: splitdriver_xen_devices[1] repeats device t/1 (already in splitdriver_xen_devices[0])",
        ),
        (inv(g1=guest(devices=[{"type": "t", "devids": [2, 2]}])), ["g1"], "repeats device t/2"),
        (inv(g1=guest(devices=[{"type": "t", "backend": ""}])), ["g1"], "backend must be the Xen domain name"),
        (inv(g1=guest(devices=[{"type": "t", "backend": 0}])), ["g1"], "backend must be the Xen domain name"),
        (inv(g1=guest(devices=[{"type": "t", "backend": "g1"}])), ["g1"], "backend 'g1' is the guest itself"),
        (inv(g1=guest(devices=[{"type": "t", "frontend_entries": ["a"]}])), ["g1"], "frontend_entries must be a dictionary"),
    ],
)
def test_bad_inventory_is_named(hostvars, hosts, message):
    with pytest.raises(FleetError) as exc:
        fleet_plan(hostvars, hosts)
    assert message in str(exc.value)
