# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Slicing the fleet run into jobs of whole Xen hosts, as docs/awx.md documents it.

The constructed inventory source of docs/awx.md (taken from the page itself) over a fleet of
test XenStore daemons (test_playbook_fleet.py): its slice groups are disjoint, cover every host
and keep each Xen host whole; ``site`` once per slice (``--limit splitdriver_xen_slice_<n>``)
creates every device exactly once, counted in the daemons' request logs; a second pass over all
slices writes nothing. For contrast, AWX's own job slicing (hosts sorted by name, dealt out
round-robin, each slice job seeing only its hosts) splits Xen hosts and fails the plan.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

import test_playbook_fleet
from test_playbook_fleet import ANSIBLE_PLAYBOOK, COLLECTIONS, ROOT, Run, fe_dir, writes

pytestmark = pytest.mark.slow

fleet = test_playbook_fleet.fleet  # its fixture: test XenStore daemons, one per Xen host

SLICES = 3
# With 3 slices, xen_slice puts xen6 in slice 1, xen2 in slice 2, xen1 and xen3 in slice 3.
XEN_HOSTS = {
    "xen1": {1: "web1", 2: "web2"},
    "xen2": {3: "db1"},
    "xen3": {4: "app1", 5: "app2", 6: "app3"},
    "xen6": {7: "cache1", 8: "cache2"},
}
EXPECTED_SLICES = {1: {"xen6"}, 2: {"xen2"}, 3: {"xen1", "xen3"}}


def documented_constructed_source(count):
    """The constructed inventory source of docs/awx.md, for ``count`` slices."""
    with open(os.path.join(ROOT, "docs", "awx.md")) as page:
        blocks = re.findall(r"```yaml\n(.*?)```", page.read(), re.S)
    (source,) = [b for b in blocks if "plugin: ansible.builtin.constructed" in b]
    source, replaced = re.subn(r"splitdriver\.xen\.xen_slice\(4\)", "splitdriver.xen.xen_slice(%d)" % count, source)
    assert replaced == 1
    return source


def env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1")


def play(fleet, inventory, *args, expect_rc=0):
    cmd = [ANSIBLE_PLAYBOOK, "-i", inventory, "splitdriver.xen.site", *args]
    proc = subprocess.run(cmd, env=env(), cwd=fleet.workdir, capture_output=True, text=True, timeout=300, check=False)
    run = Run(proc.returncode, proc.stdout + proc.stderr)
    assert proc.returncode == expect_rc, "%s exited %d:\n%s" % (" ".join(cmd), proc.returncode, run.output)
    return run


def groups_of(inventory):
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", inventory,
                           "--list"], env=env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = json.loads(proc.stdout)
    return {name: set(group.get("hosts", ())) for name, group in listed.items() if name not in ("_meta", "all")}


def created(daemon, since):
    """Devices ``(domid, devid)`` whose frontend ``state`` the playbook's modules wrote."""
    found = []
    for request in writes(daemon.module_requests(since)):
        match = re.match(r"^/local/domain/(\d+)/device/mydevice/(\d+)/state$", request["path"] or "")
        if match and request["op"] == "WRITE":
            found.append((int(match.group(1)), int(match.group(2))))
    return found


@pytest.fixture
def sliced_fleet(fleet):
    for xen_host, guests in XEN_HOSTS.items():
        fleet.xen_host(xen_host, guests)
        for domid, name in guests.items():
            fleet.guest(name, xen_host, devids=(0, 1) if domid % 2 else (0,))
    inventory = os.path.join(fleet.workdir, "inventory")
    os.mkdir(inventory)
    os.replace(fleet.inventory(), os.path.join(inventory, "hosts.json"))
    with open(os.path.join(inventory, "zz-slices.yml"), "w") as out:
        out.write(documented_constructed_source(SLICES))
    return fleet, inventory


def test_slices_hold_whole_xen_hosts_and_activate_each_device_once(sliced_fleet):
    fleet, inventory = sliced_fleet
    groups = groups_of(inventory)
    slices = {n: groups.get("splitdriver_xen_slice_%d" % n, set()) for n in range(1, SLICES + 1)}
    assert sorted(g for g in groups if g.startswith("splitdriver_xen_slice")) == [
        "splitdriver_xen_slice_%d" % n for n in range(1, SLICES + 1)]
    everybody = set(fleet.daemons) | set(fleet.guests)
    # disjoint, covering, and each Xen host whole: its dom0 and all its guests in one slice
    assert sum(len(hosts) for hosts in slices.values()) == len(everybody)
    assert set().union(*slices.values()) == everybody
    for n, hosts in slices.items():
        assert hosts == EXPECTED_SLICES[n] | {g for x in EXPECTED_SLICES[n] for g in XEN_HOSTS[x].values()}

    marks = {name: d.mark() for name, d in fleet.daemons.items()}
    creations = {}
    for n in range(1, SLICES + 1):
        before = {name: d.mark() for name, d in fleet.daemons.items()}
        run = play(fleet, inventory, "--limit", "splitdriver_xen_slice_%d" % n)
        assert set(run.recap) == slices[n]
        for name, daemon in fleet.daemons.items():
            for device in created(daemon, before[name]):
                creations.setdefault((name,) + device, []).append(n)
    every_device = {(x, domid, devid): [n for n, xs in EXPECTED_SLICES.items() if x in xs]
                    for x, guests in XEN_HOSTS.items() for domid in guests
                    for devid in ((0, 1) if domid % 2 else (0,))}
    assert creations == every_device  # each device created once, in its Xen host's slice
    for name, daemon in fleet.daemons.items():
        for domid in XEN_HOSTS[name]:
            assert daemon.exists(fe_dir(domid))
        assert len({r["conn"] for r in writes(daemon.module_requests(marks[name]))}) == 1

    # Every slice again: nothing changed, nothing written.
    marks = {name: d.mark() for name, d in fleet.daemons.items()}
    for n in range(1, SLICES + 1):
        run = play(fleet, inventory, "--limit", "splitdriver_xen_slice_%d" % n)
        assert all(r["changed"] == 0 for r in run.recap.values()), run.output
    for name, daemon in fleet.daemons.items():
        assert writes(daemon.requests(marks[name])) == []


def test_awx_job_slicing_splits_xen_hosts(sliced_fleet, tmp_path):
    """AWX's rule (hosts by name, slice n gets hosts n, n+K, ...; its inventory holds only those)."""
    fleet, inventory = sliced_fleet
    with open(os.path.join(inventory, "hosts.json")) as handle:
        full = json.load(handle)
    hosts = sorted(set(fleet.daemons) | set(fleet.guests))
    awx = {n: set(hosts[n - 1::SLICES]) for n in range(1, SLICES + 1)}
    split = [x for x, guests in XEN_HOSTS.items()
             if len({n for n, hs in awx.items() for g in guests.values() if g in hs}) > 1]
    assert split  # this fleet has Xen hosts whose guests AWX deals out to several slices
    # the slice job of web1: its dom0 xen1 is not in its inventory, so the plan refuses to run
    (n,) = [n for n, hs in awx.items() if "web1" in hs]
    assert "xen1" not in awx[n]
    children = full["all"]["children"]
    sliced = {"all": {"vars": full["all"]["vars"], "children": {
        group: {"hosts": {h: v for h, v in children[group]["hosts"].items() if h in awx[n]}}
        for group in children}}}
    path = str(tmp_path / "slice.json")
    with open(path, "w") as out:
        json.dump(sliced, out)
    marks = {name: d.mark() for name, d in fleet.daemons.items()}
    run = play(fleet, path, expect_rc=2)
    assert re.search(r"fleet_devices: \w+: splitdriver_xen_host='xen\d' is not an inventory host", run.output)
    assert all(writes(d.requests(marks[name])) == [] for name, d in fleet.daemons.items())
