# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A device's identity includes its backend, teardown after a guest or its driver domain is
gone, and device pairs that can never connect: ``splitdriver.xen.xenstore_device`` run by the
real ``ansible-playbook`` against the test daemon, with scripted driver peers where a driver
would answer.

The daemon is seeded like an xl host (dom0, ``guest1`` 1, ``guest2`` 2) plus a driver domain
``drv`` (3). Refusals are counted from the request log: no WRITE/MKDIR/RM/SET_PERMS at all.
"""

from __future__ import annotations

import pytest
from test_xenstore_device_playbooks import WRITE_OPS, device, ops, run_playbook, xenstore

pytestmark = pytest.mark.slow

FE = "/local/domain/1/device/mydevice/0"
BE0 = "/local/domain/0/backend/mydevice/1/0"
BE3 = "/local/domain/3/backend/mydevice/1/0"


def task(name, args, **extra):
    return dict({"name": name, "splitdriver.xen.xenstore_device": args}, **extra)


def writes(daemon):
    return ops(daemon.requests(), WRITE_OPS)


def exists(daemon, path):
    return xenstore(daemon, "xenstore-exists", path, check=False).returncode == 0


@pytest.fixture
def host(xenstored):
    """guest1's device served by the driver domain drv (3), both ends Connected."""
    xenstored.create_domain(3, "drv")
    return xenstored


@pytest.fixture
def served_by_drv(tmp_path, host):
    run_playbook(tmp_path, host, [task("create", dict(device("guest1"), backend="drv"))])
    xenstore(host, "xenstore-write", BE3 + "/state", "4", FE + "/state", "4")
    host.clear_log()
    return host


@pytest.mark.parametrize("asked", [{}, {"backend": 0}, {"backend": "Domain-0"}, {"backend_domid": 0}])
def test_present_never_re_points_a_device_a_driver_domain_serves(tmp_path, served_by_drv, asked):
    args = dict(device("guest1"), **asked)
    run = run_playbook(tmp_path, served_by_drv, [
        task("check", args, check_mode=True, ignore_errors=True),
        task("real", args, ignore_errors=True),
        task("batch", {"devices": [device("guest2"), args]}, ignore_errors=True),
    ])
    for name in ("check", "real", "batch"):
        result = run[name]
        assert result["failed"] and not result["changed"], name
        assert "mydevice device 0 of domain 1 is served by backend domain 3 (drv) (its frontend's backend-id), " \
               "not by backend domain 0" in result["msg"], result["msg"]
        assert "Nothing was written" in result["msg"] and "force=true" in result["msg"]
    assert writes(served_by_drv) == []
    # every transaction was aborted, and the device still points at drv
    assert xenstore(served_by_drv, "xenstore-read", FE + "/backend-id").stdout.strip() == "3"
    assert not exists(served_by_drv, "/local/domain/0/backend/mydevice")


def test_present_with_force_moves_the_device_after_the_old_handshake(tmp_path, served_by_drv, backend_peer):
    backend_peer(served_by_drv, role="closer", domid=3)
    args = dict(device("guest1"), force=True)
    run = run_playbook(tmp_path, served_by_drv, [
        task("check", args, check_mode=True), task("move", args), task("again", dict(device("guest1"))),
    ])
    for name in ("check", "move"):
        entry = run[name]["devices"][0]
        assert entry["action"] == "moved" and entry["previous_backend_domid"] == 3 and run[name]["changed"]
        assert any("moves from backend domain 3 (drv) to backend domain 0 (force=true)" in w
                   for w in run[name]["warnings"])
    assert run["again"]["devices"][0]["action"] == "unchanged" and not run["again"]["changed"]
    log = served_by_drv.requests()
    first_rm = next(i for i, e in enumerate(log) if e["op"] == "RM")
    # the old backend was asked to close, and answered (the closer's write), before anything was removed
    assert [(e["path"], e["domid"]) for e in log[:first_rm] if e["op"] == "WRITE"] == [
        (BE3 + "/online", 0), (BE3 + "/state", 0), (BE3 + "/state", 3)]
    assert not exists(served_by_drv, BE3)
    assert xenstore(served_by_drv, "xenstore-read", FE + "/backend").stdout.strip() == BE0


def test_absent_closes_the_backend_the_frontend_points_at(tmp_path, served_by_drv, backend_peer):
    backend_peer(served_by_drv, role="closer", domid=3)
    run = run_playbook(tmp_path, served_by_drv, [
        task("named", dict(device("guest1"), state="absent", backend=0), ignore_errors=True),
        task("check", dict(device("guest1"), state="absent"), check_mode=True),
        task("absent", dict(device("guest1"), state="absent")),
        task("again", dict(device("guest1"), state="absent")),
    ])
    assert run["named"]["failed"] and "served by backend domain 3 (drv)" in run["named"]["msg"]
    assert "leave the backend out" in run["named"]["msg"]
    for name in ("check", "absent"):
        entry = run[name]["devices"][0]
        assert entry["backend_domid"] == 3 and entry["action"] == "removed" and run[name]["changed"]
    assert run["check"]["diff"] if "diff" in run["check"] else True
    assert not run["again"]["changed"]
    touched = [e["path"] for e in writes(served_by_drv)]
    assert touched[:2] == [BE3 + "/online", BE3 + "/state"]
    assert not any(path.startswith("/local/domain/0/") for path in touched)
    assert not exists(served_by_drv, FE) and not exists(served_by_drv, "/local/domain/3/backend/mydevice")


def test_a_guest_cannot_steer_a_removal_to_another_guests_backend(tmp_path, xenstored):
    run_playbook(tmp_path, xenstored, [task("create", {"devices": [device("1"), device("2")]})])
    other = "/local/domain/0/backend/mydevice/2/0"
    # guest1 owns its frontend dir and rewrites its pointers, as the guest itself
    xenstore(xenstored, "xenstore-write", FE + "/backend", other, FE + "/backend-id", "bogus", domid=1)
    run = run_playbook(tmp_path, xenstored, [task("absent", dict(device("guest1"), state="absent", force=True))])
    assert run["absent"]["devices"][0]["backend_domid"] == 0
    assert exists(xenstored, other) and not exists(xenstored, BE0) and not exists(xenstored, FE)


# Teardown after a domain is gone ---------------------------------------------------------

def test_absent_after_xl_destroy_succeeds_on_what_is_left(tmp_path, xenstored):
    run_playbook(tmp_path, xenstored, [task("create", {"devices": [device("1"), device("2"), device("guest1", devid=1)]})])
    xenstored.destroy_domain(1)
    assert exists(xenstored, BE0)
    xenstored.clear_log()
    run = run_playbook(tmp_path, xenstored, [
        task("by-name", {"devices": [device("guest1"), device("guest1", devid=1)], "state": "absent"}),
        task("by-domid", {"devices": [device("1")], "state": "absent"}),
        task("by-name-prune", {"devices": [device("guest1")], "state": "absent", "prune_stale": True}),
        task("again", {"devices": [device("guest1"), device("1")], "state": "absent", "prune_stale": True}),
    ])
    for entry in run["by-name"]["devices"]:
        assert entry["action"] == "unchanged" and entry["condition"] == "frontend-domain-gone"
        assert entry["frontend"] is None and entry["frontend_name"] == "guest1"
    assert not run["by-name"]["changed"]
    # by domid: the backend dir of the dead guest is found and removed, without a handshake
    entry = run["by-domid"]["devices"][0]
    assert entry["action"] == "removed" and entry["condition"] == "frontend-domain-gone" and run["by-domid"]["changed"]
    assert run["by-name-prune"]["pruned"] == ["/local/domain/0/backend/mydevice/1"] and run["by-name-prune"]["changed"]
    assert not run["again"]["changed"]
    assert [e["op"] for e in writes(xenstored)] == ["RM", "RM"]
    assert not exists(xenstored, "/local/domain/0/backend/mydevice/1")
    assert exists(xenstored, "/local/domain/0/backend/mydevice/2/0")


@pytest.mark.parametrize("kwargs", [{}, {"backend": 3}, {"force": True}])
def test_absent_after_the_driver_domain_died(tmp_path, served_by_drv, kwargs):
    served_by_drv.destroy_domain(3)
    served_by_drv.clear_log()
    run = run_playbook(tmp_path, served_by_drv, [
        task("absent", dict(device("guest1"), state="absent", **kwargs)),
        task("again", dict(device("guest1"), state="absent", **kwargs)),
    ])
    entry = run["absent"]["devices"][0]
    assert entry["action"] == "removed" and entry["condition"] == "backend-domain-gone" and entry["backend_domid"] == 3
    assert not run["again"]["changed"]
    # the frontend dir, then the type dir it leaves empty: no handshake with a dead domain
    assert [(e["op"], e["path"]) for e in writes(served_by_drv)] == [("RM", FE), ("RM", "/local/domain/1/device/mydevice")]


def test_present_follows_a_restarted_driver_domain(tmp_path, served_by_drv):
    served_by_drv.destroy_domain(3)
    served_by_drv.create_domain(8, "drv")
    run = run_playbook(tmp_path, served_by_drv, [task("present", dict(device("guest1"), backend="drv"))])
    entry = run["present"]["devices"][0]
    assert entry["action"] == "moved" and entry["previous_backend_domid"] == 3 and entry["backend_domid"] == 8
    assert any("its backend domain 3 is gone" in w for w in run["present"]["warnings"])
    assert xenstore(served_by_drv, "xenstore-read", FE + "/backend-id").stdout.strip() == "8"
    assert xenstore(served_by_drv, "xenstore-read", FE + "/state").stdout.strip() == "1"


# Pairs that can never connect --------------------------------------------------------------

@pytest.mark.parametrize("damage, condition", [
    ({BE0 + "/state": "6"}, "backend-closed"),
    ({BE0 + "/state": "5"}, "backend-closed"),
    ({FE + "/state": "6", BE0 + "/state": "4"}, "frontend-closed"),
    ({FE + "/state": "4", "rm": BE0}, "backend-missing"),
    ({BE0 + "/state": "4", "rm": FE}, "frontend-missing"),
])
def test_present_reports_pairs_that_can_never_connect(tmp_path, xenstored, damage, condition):
    run_playbook(tmp_path, xenstored, [task("create", device("1"))])
    for path, value in damage.items():
        if path == "rm":
            xenstore(xenstored, "xenstore-rm", value)
        else:
            xenstore(xenstored, "xenstore-write", path, value)
    run = run_playbook(tmp_path, xenstored, [
        task("check", device("1"), check_mode=True), task("present", device("1")),
    ])
    for name in ("check", "present"):
        entry = run[name]["devices"][0]
        assert entry["condition"] == condition, (name, entry)
        assert any("mydevice device 0 of domain 1" in w for w in run[name].get("warnings", [])), run[name]


def test_a_half_made_device_is_completed_without_a_warning(tmp_path, xenstored):
    run_playbook(tmp_path, xenstored, [task("create", device("1"))])
    xenstore(xenstored, "xenstore-rm", BE0)
    run = run_playbook(tmp_path, xenstored, [task("present", device("1"))])
    entry = run["present"]["devices"][0]
    assert entry["action"] == "created" and entry["condition"] == "incomplete"
    assert not run["present"].get("warnings")
