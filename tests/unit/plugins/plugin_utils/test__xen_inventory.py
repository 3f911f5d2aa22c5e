# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""From the Xen hosts' domains to inventory hosts, variables and groups; the per-host cache."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.plugin_utils._xen_inventory import (
    CACHE_VERSION,
    cache_entries,
    cache_key,
    cached_listings,
    device_group,
    host_group,
    plan_inventory,
    safe_group_name,
    skip_reason,
)


def dom(domid, name, device_types=(), backend_types=(), state="running", uuid=None):
    return {"domid": domid, "name": name, "uuid": uuid or "00000000-0000-0000-0000-%012d" % domid, "state": state,
            "device_types": list(device_types), "backend_types": list(backend_types)}


DOM0 = dom(0, "Domain-0", backend_types=["mydevice"])
XEN1 = [DOM0, dom(1, "web1", ["mydevice", "vbd"]), dom(2, "web2", ["vbd"], state="paused")]
XEN2 = [DOM0, dom(3, "db1", ["mydevice"])]


def guest(xen_host, domain):
    return {
        "splitdriver_xen_host": xen_host,
        "splitdriver_xen_domain": domain["name"],
        "splitdriver_xen_domid": domain["domid"],
        "splitdriver_xen_uuid": domain["uuid"],
        "splitdriver_xen_state": domain["state"],
        "splitdriver_xen_device_types": domain["device_types"],
        "splitdriver_xen_backend_types": domain["backend_types"],
    }


@pytest.mark.parametrize("name, safe", [
    ("xen_host_xen1", "xen_host_xen1"),
    ("xen_host_xen1.example.org", "xen_host_xen1_example_org"),
    ("xen_device_my-dev", "xen_device_my_dev"),
    ("xen_host_10.0.0.1", "xen_host_10_0_0_1"),
    ("xen_host_a b@c", "xen_host_a_b_c"),
])
def test_safe_group_name(name, safe):
    assert safe_group_name(name) == safe


def test_group_names():
    assert host_group("xen1.example.org") == "xen_host_xen1_example_org"
    assert device_group("my-dev") == "xen_device_my_dev"


@pytest.mark.parametrize("domain, exclude, reason", [
    (dom(1, "web1"), (), None),
    (dom(0, "Domain-0"), (), "domain 0 is the Xen host itself"),
    (dom(4, None), (), "domain 4 has no name in XenStore (being built or torn down)"),
    (dom(4, "web1--incoming"), (), "domain 4 (web1--incoming) is a copy in live migration"),
    (dom(4, "web1--migratedaway"), (), "domain 4 (web1--migratedaway) is a copy in live migration"),
    (dom(4, "web1-incoming"), (), None),
    (dom(5, "web1-dm"), ("*-dm",), "domain 5 (web1-dm) matches exclude_domains pattern '*-dm'"),
    (dom(5, "netdrv"), ("db*", "netdrv"), "domain 5 (netdrv) matches exclude_domains pattern 'netdrv'"),
    (dom(5, "Netdrv"), ("netdrv",), None),  # case-sensitive, as xl's names are
])
def test_skip_reason(domain, exclude, reason):
    assert skip_reason(domain, exclude) == reason


def test_plan_lists_guests_with_their_vars_and_groups():
    plan = plan_inventory([("xen1", XEN1), ("xen2.example.org", XEN2)])
    assert plan["hosts"] == {
        "web1": guest("xen1", XEN1[1]),
        "web2": guest("xen1", XEN1[2]),
        "db1": guest("xen2.example.org", XEN2[1]),
    }
    assert plan["groups"] == {
        "xen_backends": ["xen1", "xen2.example.org"],
        "xen_host_xen1": ["web1", "web2"],
        "xen_host_xen2_example_org": ["db1"],
        "xen_frontends": ["web1", "web2", "db1"],
        "xen_device_mydevice": ["web1", "db1"],
        "xen_device_vbd": ["web1", "web2"],
    }
    assert plan["skipped"] == ["xen1: domain 0 is the Xen host itself", "xen2.example.org: domain 0 is the Xen host itself"]
    assert plan["conflicts"] == []


def test_plan_keeps_a_failed_host_as_backend_with_an_empty_group():
    plan = plan_inventory([("xen1", None), ("xen2", XEN2)])
    assert list(plan["hosts"]) == ["db1"]
    assert plan["groups"]["xen_backends"] == ["xen1", "xen2"]
    assert plan["groups"]["xen_host_xen1"] == []


def test_plan_without_frontends_and_backends_groups():
    plan = plan_inventory([("xen1", XEN1)], frontends_group="", backends_group=None)
    assert set(plan["groups"]) == {"xen_host_xen1", "xen_device_mydevice", "xen_device_vbd"}
    plan = plan_inventory([("xen1", XEN1)], frontends_group="guests", backends_group="dom0s")
    assert plan["groups"]["guests"] == ["web1", "web2"] and plan["groups"]["dom0s"] == ["xen1"]


def test_plan_names_guests_with_the_hostname_function():
    plan = plan_inventory([("xen1", XEN1), ("xen2", XEN2)],
                          hostname=lambda v: "%s.%s" % (v["splitdriver_xen_domain"], v["splitdriver_xen_host"]))
    assert list(plan["hosts"]) == ["web1.xen1", "web2.xen1", "db1.xen2"]
    assert plan["hosts"]["web1.xen1"]["splitdriver_xen_domain"] == "web1"
    assert plan["groups"]["xen_frontends"] == ["web1.xen1", "web2.xen1", "db1.xen2"]


@pytest.mark.parametrize("name", ["", "  ", None, 7, ["web1"]])
def test_plan_rejects_a_hostname_that_is_no_name(name):
    with pytest.raises(ValueError) as err:
        plan_inventory([("xen1", XEN1)], hostname=lambda v: name)
    assert "hostname gave %r for domain web1 on xen1: need a non-empty string" % (name,) in str(err.value)


def test_plan_passes_hostname_errors_on():
    def broken(_hvars):
        raise ValueError("hostname: 'x' is undefined")
    with pytest.raises(ValueError, match="'x' is undefined"):
        plan_inventory([("xen1", XEN1)], hostname=broken)


def test_plan_leaves_out_a_guest_whose_name_is_taken():
    # web1 runs on both Xen hosts (a split-brain or a copy); a guest is named like a Xen host
    xen2 = [DOM0, dom(3, "web1", ["mydevice"]), dom(4, "xen1")]
    plan = plan_inventory([("xen1", XEN1), ("xen2", xen2)])
    assert plan["hosts"]["web1"]["splitdriver_xen_host"] == "xen1"
    assert "xen1" not in plan["hosts"]
    assert plan["conflicts"] == [
        "xen2: inventory name 'web1' is already taken by domain web1 (1) on xen1; domain web1 (3) on xen2 left out",
        "xen2: inventory name 'xen1' is already taken by Xen host xen1; domain xen1 (4) on xen2 left out",
    ]
    assert plan["groups"]["xen_host_xen2"] == []
    assert plan["groups"]["xen_device_mydevice"] == ["web1"]
    # told apart by the hostname function, both are listed
    plan = plan_inventory([("xen1", XEN1), ("xen2", xen2)],
                          hostname=lambda v: v["splitdriver_xen_domain"] + "." + v["splitdriver_xen_host"])
    assert plan["conflicts"] == [] and len(plan["hosts"]) == 4


def test_plan_skips_excluded_and_unnamed_domains():
    xen1 = XEN1 + [dom(7, "web1-dm"), dom(8, None), dom(9, "web2--incoming")]
    plan = plan_inventory([("xen1", xen1)], exclude=["*-dm"])
    assert list(plan["hosts"]) == ["web1", "web2"]
    assert plan["skipped"][1:] == [
        "xen1: domain 7 (web1-dm) matches exclude_domains pattern '*-dm'",
        "xen1: domain 8 has no name in XenStore (being built or torn down)",
        "xen1: domain 9 (web2--incoming) is a copy in live migration",
    ]


def test_plan_of_no_listings():
    assert plan_inventory([]) == {"hosts": {}, "groups": {"xen_frontends": []}, "skipped": [], "conflicts": []}


# ---------------------------------------------------------------------------------- cache

H1 = {"name": "xen1", "address": "xen1", "user": None, "port": None, "transport": "ssh", "ssh_args": [],
      "environment": {}, "become": False}
H2 = dict(H1, name="xen2", address="xen2")
K1, K2 = cache_key(H1), cache_key(H2)


def test_cache_key_follows_how_the_host_is_reached():
    assert cache_key(H1) == cache_key(dict(reversed(list(H1.items()))))
    assert cache_key(H1) != cache_key(dict(H1, address="192.0.2.7"))
    assert cache_key(H1) != cache_key(dict(H1, environment={"XENSTORED_PATH": "/other"}))


def stored(**entries):
    return {"version": CACHE_VERSION, "hosts": entries}


@pytest.mark.parametrize("cached, now, max_age, expected", [
    (stored(**{K1: {"listed_at": 100, "domains": XEN1}, K2: {"listed_at": 50, "domains": XEN2}}), 120, 60,
     {K1: XEN1}),  # xen2's entry is 70 s old
    (stored(**{K1: {"listed_at": 100, "domains": XEN1}}), 100 + 10**6, 0, {K1: XEN1}),  # timeout 0: never expires
    (stored(**{K1: {"listed_at": 100, "domains": XEN1}}), 160, 60, {}),
    (stored(**{K1: {"listed_at": 200, "domains": XEN1}}), 100, 60, {}),  # from the future: clock went back
    (stored(**{K1: {"listed_at": "100", "domains": XEN1}}), 120, 60, {}),
    (stored(**{K1: {"listed_at": 100, "domains": None}}), 120, 60, {}),
    (stored(**{K1: ["junk"]}), 120, 60, {}),
    ({"version": CACHE_VERSION + 1, "hosts": {K1: {"listed_at": 100, "domains": XEN1}}}, 120, 60, {}),
    ({"version": CACHE_VERSION, "hosts": []}, 120, 60, {}),
    (None, 120, 60, {}),
    ("garbage", 120, 60, {}),
])
def test_cached_listings(cached, now, max_age, expected):
    assert cached_listings(cached, [H1, H2], now, max_age) == expected


def test_cache_entries_stamp_the_listed_hosts_and_keep_the_others():
    old = stored(**{K1: {"listed_at": 100, "domains": XEN1}, "gone": {"listed_at": 100, "domains": []}})
    # xen2 listed now, xen1 failed (its old entry stays), "gone" is no longer configured
    assert cache_entries(old, [H1, H2], {K2: XEN2}, 150) == stored(**{
        K1: {"listed_at": 100, "domains": XEN1},
        K2: {"listed_at": 150, "domains": XEN2},
    })
    assert cache_entries(None, [H1, H2], {K2: XEN2}, 150) == stored(**{K2: {"listed_at": 150, "domains": XEN2}})
    assert cache_entries({"version": 0, "hosts": {K1: {}}}, [H1], {}, 150) == stored()
