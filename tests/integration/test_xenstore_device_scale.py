# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Directories bigger than one 4096-byte XenStore reply, with the real ``ansible-playbook``
against the test daemon: 10,000 devices of one type in one guest (created, re-run with no
write, removed) and 2,000 domains under ``/local/domain`` (a frontend resolved by name, the
domain listing). The module reads such directories with DIRECTORY_PART after DIRECTORY's
E2BIG, as libxenstore does; Debian's ``xenstore-list`` (libxenstore 4.17) checks the result.

Wall time on a 2-core machine: about 65 s when lightly loaded, up to 6 min when shared with
many other jobs. The 10,000-device test takes ~60 s of it: creating ~5 s, the re-run ~8 s, the
forced removal most of the rest, spent in the planner's removal bookkeeping
(plan._collapse_removals, which grows with the square of the number of devices removed in one
call); the 2,000 domains take ~4 s.
"""

from __future__ import annotations

import pytest

from xenstored.daemon import XenstoredProcess
from test_xenstore_device_playbooks import (  # pylint: disable=import-error
    MODULE, READ_OPS, WRITE_OPS, ops, per_connection, run_playbook, xenstore,
)

pytestmark = pytest.mark.slow

DEVICES = 10000
DOMAINS = 2000


def test_ten_thousand_devices_in_one_guest(tmp_path, xenstored):
    """Created in one transaction, re-run with zero writes, removed with force; the guest's
    device directory and dom0's backend directory hold 10,000 entries each (~49 KB of names)."""
    devices = [dict(type="mydevice", frontend=1, devid=devid) for devid in range(DEVICES)]
    run = run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: {"devices": devices}},
        {"name": "re-run", MODULE: {"devices": devices}},
    ], dump=False)
    assert run.recap["changed"] == 1, run.stdout
    create_log, rerun_log = per_connection(xenstored)

    # created: libxl's 11 writes per device, one transaction, nothing listed in parts (the
    # directories did not exist yet)
    assert len(ops(create_log, WRITE_OPS)) == 11 * DEVICES
    assert sum(e["op"] == "TRANSACTION_START" for e in create_log) == 1
    listed = xenstore(xenstored, "xenstore-list", "/local/domain/1/device/mydevice").stdout.split()
    assert sorted(map(int, listed)) == list(range(DEVICES))
    backends = xenstore(xenstored, "xenstore-list", "/local/domain/0/backend/mydevice/1").stdout.split()
    assert sorted(map(int, backends)) == list(range(DEVICES))

    # re-run: both directories answered E2BIG, then were read in parts, in the transaction;
    # no write at all, the same 16 reads per device as for small directories
    assert ops(rerun_log, WRITE_OPS) == []
    e2big = [e["path"] for e in rerun_log if e["result"] == "E2BIG"]
    assert sorted(e2big) == ["/local/domain/0/backend/mydevice/1", "/local/domain/1/device/mydevice"]
    parts = ops(rerun_log, {"DIRECTORY_PART"})
    assert {e["path"] for e in parts} == set(e2big) and all(e["result"] == "OK" for e in parts)
    assert 2 * 12 <= len(parts) <= 2 * 14  # ~49 KB of names each, < 4 KB per part
    assert len({e["tx"] for e in rerun_log if e["op"] != "TRANSACTION_START"} - {0}) == 1
    assert all(e["tx"] != 0 for e in parts)
    assert len(ops(rerun_log, {"READ", "GET_PERMS"})) == 16 * DEVICES
    assert len(ops(rerun_log, READ_OPS)) / DEVICES < 16.01

    # the guest owns its 40,000 frontend nodes, as under libxl: dom0 is exempt from the
    # per-domain node quota (1000), the guest is not: it can no longer create nodes itself
    denied = xenstore(xenstored, "xenstore-write", "/local/domain/1/data/new", "1", domid=1, check=False)
    answers = [e["result"] for e in xenstored.requests(domid=1, op="WRITE") if e["path"] == "/local/domain/1/data/new"]
    assert denied.returncode != 0 and answers[-1:] == ["ENOSPC"]

    xenstored.clear_log()
    removed = run_playbook(tmp_path, xenstored, [
        {"name": "remove", MODULE: {"devices": devices, "state": "absent", "force": True}},
    ])["remove"]
    assert removed["changed"] and len(removed["devices"]) == DEVICES
    assert sorted(removed["removed"]) == ["/local/domain/0/backend/mydevice", "/local/domain/1/device/mydevice"]
    log = per_connection(xenstored)[0]
    # each device's two dirs (libxl's order: xenbus sees an event per device), then the
    # parents they leave empty; both 10,000-entry listings read in parts again
    writes = ops(log, WRITE_OPS)
    assert {e["op"] for e in writes} == {"RM"} and len(writes) == 2 * DEVICES + 2
    assert sorted(e["path"] for e in writes[-2:]) == removed["removed"]
    assert len(ops(log, {"DIRECTORY_PART"})) == len(parts)
    for path in removed["removed"]:
        assert xenstore(xenstored, "xenstore-exists", path, check=False).returncode == 1
    assert xenstore(xenstored, "xenstore-write", "/local/domain/1/data/new", "1", domid=1).returncode == 0


@pytest.fixture
def many_domains():
    """A daemon seeded like an xl host running 2,000 guests ``guest1`` … ``guest2000``
    (/local/domain lists 2,001 domains: ~9 KB of names)."""
    daemon = XenstoredProcess(seed_xl=dict((domid, "guest%d" % domid) for domid in range(1, DOMAINS + 1)))
    try:
        yield daemon.start(timeout=120)
    finally:
        daemon.cleanup()


def test_frontend_by_name_among_two_thousand_domains(tmp_path, many_domains):
    """``frontend: guest1999`` is resolved from the listing read in parts; xen_domain_info
    lists every domain."""
    run = run_playbook(tmp_path, many_domains, [
        {"name": "create", MODULE: {"type": "mydevice", "frontend": "guest1999"}},
        {"name": "list", "splitdriver.xen.xen_domain_info": {}},
        {"name": "one", "splitdriver.xen.xen_domain_info": {"name": "guest2000"}},
    ])
    device = run["create"]["devices"][0]
    assert run["create"]["changed"] and (device["action"], device["frontend"]) == ("created", 1999)
    assert xenstore(many_domains, "xenstore-read", "/local/domain/1999/device/mydevice/0/backend").stdout == \
        "/local/domain/0/backend/mydevice/1999/0\n"
    domains = run["list"]["domains"]
    assert [d["domid"] for d in domains] == list(range(DOMAINS + 1))
    assert [d["name"] for d in domains[1:]] == ["guest%d" % domid for domid in range(1, DOMAINS + 1)]
    assert domains[1999]["device_types"] == ["mydevice", "suspend"] and domains[0]["backend_types"] == ["mydevice"]
    assert [d["domid"] for d in run["one"]["domains"]] == [DOMAINS]

    log = many_domains.requests()
    listed = xenstore(many_domains, "xenstore-list", "/local/domain").stdout.split()
    assert sorted(map(int, listed)) == list(range(DOMAINS + 1))
    # three module runs, each listing /local/domain: E2BIG, then 3 parts (~9 KB)
    module_conns = set(e["conn"] for e in log if e["op"] == "TRANSACTION_START")
    listing = [e for e in log if e["conn"] in module_conns and e["path"] == "/local/domain"
               and e["op"] in ("DIRECTORY", "DIRECTORY_PART")]
    assert [(e["op"], e["result"]) for e in listing] == [
        ("DIRECTORY", "E2BIG"), ("DIRECTORY_PART", "OK"), ("DIRECTORY_PART", "OK"), ("DIRECTORY_PART", "OK")] * 3
    assert ops(log, WRITE_OPS) and all(e["path"].startswith(("/local/domain/1999/device", "/local/domain/0/backend"))
                                       for e in ops(log, WRITE_OPS))
