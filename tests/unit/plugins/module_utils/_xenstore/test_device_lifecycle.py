# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A device's identity includes its backend; teardown of what a dead domain left behind;
conditions that keep a pair from ever connecting. ``DeviceManager`` on the fake store."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import device as device_logic
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.plan import IdentityError

FE = "/local/domain/1/device/mydevice/0"
BE0 = "/local/domain/0/backend/mydevice/1/0"
BE3 = "/local/domain/3/backend/mydevice/1/0"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def params(**kwargs):
    base = dict((name, spec.get("default")) for name, spec in device_logic.argument_spec().items())
    base.update(kwargs)
    return base


def run(fake, check_mode=False, **kwargs):
    manager = device_logic.DeviceManager(fake, params(**kwargs), check_mode=check_mode, clock=Clock(),
                                         sleep=lambda seconds: None)
    return manager.run(), manager


def closing_backends(fake):
    """Every backend driver's side of a removal: answers Closing (5) with Closed (6)."""
    events = []
    for path, node in list(fake.nodes.items()):
        if "/backend/" in path and path.endswith("/state") and node[0] == "5":
            fake.put(path, "6")
            events.append(path)
    return events


@pytest.fixture
def host(fake_xs):
    """domu1 (1), domu2 (2) and a driver domain drv (3); domu1's device served by drv."""
    fake_xs.put("/local/domain/3", "", ["n0", "r3"])
    fake_xs.put("/local/domain/3/name", "drv")
    fake_xs.put("/local/domain/3/backend", "", ["n3"])
    run(fake_xs, type="mydevice", frontend="domu1", backend="drv")
    fake_xs.put(BE3 + "/state", "4")
    fake_xs.put(FE + "/state", "4")
    fake_xs.log.clear()
    return fake_xs


# Identity -------------------------------------------------------------------------------

@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("asked", [dict(), dict(backend=0), dict(backend="Domain-0"), dict(backend_domid=0)])
def test_present_with_another_backend_fails_and_writes_nothing(host, check_mode, asked):
    asked = dict(("backend" if k == "backend_domid" else k, v) for k, v in asked.items())
    with pytest.raises(IdentityError) as info:
        run(host, check_mode=check_mode, type="mydevice", frontend="domu1", **asked)
    message = str(info.value)
    assert "mydevice device 0 of domain 1 is served by backend domain 3 (drv)" in message
    assert "not by backend domain 0" in message and "Nothing was written" in message and "force=true" in message
    assert host.writes() == []


@pytest.mark.parametrize("backend", [3, "3", "drv"])
def test_present_with_its_own_backend_is_unchanged(host, backend):
    result, dummy = run(host, type="mydevice", frontend=1, backend=backend)
    assert result["devices"][0]["action"] == "unchanged" and not result["changed"]
    assert host.writes() == []


def test_one_conflict_fails_the_whole_batch(host):
    devices = [dict(type="mydevice", frontend="domu2", devid=0), dict(type="mydevice", frontend="domu1", devid=0)]
    with pytest.raises(IdentityError, match="device 0 of domain 1 is served by backend domain 3"):
        run(host, devices=devices)
    assert host.writes() == []


def test_present_force_moves_the_device_with_the_old_handshake_first(host):
    host.peer = closing_backends
    result, manager = run(host, type="mydevice", frontend="domu1", force=True)
    entry = result["devices"][0]
    assert entry["action"] == "moved" and entry["previous_backend_domid"] == 3 and entry["backend_domid"] == 0
    writes = [(op, path) for op, path, tx in host.writes()]
    # the old backend was asked to close before anything was removed
    assert writes[:2] == [("write", BE3 + "/online"), ("write", BE3 + "/state")]
    assert ("rm", FE) in writes and BE3 not in host.nodes
    assert host.nodes[FE + "/backend-id"][0] == "0" and host.nodes[BE0 + "/frontend"][0] == FE
    assert host.nodes[FE][1] == ["n1", "r0"]
    assert any("moves from backend domain 3 (drv) to backend domain 0" in w for w in manager.warnings)
    assert result["changed"]


def test_present_force_in_check_mode_predicts_the_move(host):
    result, manager = run(host, check_mode=True, type="mydevice", frontend="domu1", force=True)
    assert result["devices"][0]["action"] == "moved" and result["changed"]
    assert host.writes() == []
    assert any("moves from backend domain 3" in w for w in manager.warnings)


def test_absent_closes_the_backend_the_frontend_points_at(host):
    host.peer = closing_backends
    result, dummy = run(host, type="mydevice", frontend="domu1", state="absent")
    writes = [(op, path) for op, path, tx in host.writes()]
    assert writes[:2] == [("write", BE3 + "/online"), ("write", BE3 + "/state")]
    assert FE not in host.nodes and BE3 not in host.nodes
    assert result["devices"][0]["backend_domid"] == 3 and result["devices"][0]["action"] == "removed"
    assert not any(path.startswith("/local/domain/0/") for op, path in writes)


@pytest.mark.parametrize("backend", [0, "Domain-0", 2])
def test_absent_with_another_named_backend_fails(host, backend):
    with pytest.raises(IdentityError, match="served by backend domain 3 .drv.*leave the backend out"):
        run(host, type="mydevice", frontend="domu1", state="absent", backend=backend)
    assert host.writes() == []


def test_absent_force_follows_the_frontend_even_against_a_named_backend(host):
    result, dummy = run(host, type="mydevice", frontend="domu1", state="absent", backend=0, force=True)
    assert FE not in host.nodes and BE3 not in host.nodes and result["devices"][0]["backend_domid"] == 3


def test_a_guest_cannot_point_the_module_at_another_guests_backend(fake_xs):
    run(fake_xs, devices=[dict(type="mydevice", frontend=1), dict(type="mydevice", frontend=2)])
    other = "/local/domain/0/backend/mydevice/2/0"
    # domu1 owns its frontend dir: it rewrites its pointers to name domu2's backend
    fake_xs.put(FE + "/backend", other)
    fake_xs.put(FE + "/backend-id", "not-a-domid")
    fake_xs.log.clear()
    result, dummy = run(fake_xs, type="mydevice", frontend=1)
    assert result["devices"][0]["action"] == "repaired"
    assert fake_xs.nodes[FE + "/backend"][0] == BE0
    result, dummy = run(fake_xs, type="mydevice", frontend=1, state="absent", force=True)
    assert other in fake_xs.nodes and BE0 not in fake_xs.nodes


# Teardown after a domain is gone ---------------------------------------------------------

def destroy(fake, domid):
    """What xl destroy does for a custom kind: /local/domain/<domid> goes, backend dirs stay."""
    for path in [p for p in fake.nodes if p == "/local/domain/%d" % domid or p.startswith("/local/domain/%d/" % domid)]:
        del fake.nodes[path]


def test_absent_of_a_destroyed_guest_by_domid_removes_its_backend_dir(fake_xs):
    run(fake_xs, type="mydevice", frontend=1)
    fake_xs.put(BE0 + "/state", "4")
    destroy(fake_xs, 1)
    fake_xs.log.clear()
    result, dummy = run(fake_xs, type="mydevice", frontend=1, state="absent")
    assert result["changed"] and result["devices"][0]["action"] == "removed"
    assert result["devices"][0]["condition"] == "frontend-domain-gone"
    # no handshake: nobody is left to answer it; the device dir, then the parents it empties
    assert [(op, path) for op, path, tx in fake_xs.writes()] == [("rm", BE0), ("rm", "/local/domain/0/backend/mydevice")]
    assert "/local/domain/0/backend/mydevice" not in fake_xs.nodes
    again, dummy = run(fake_xs, type="mydevice", frontend=1, state="absent")
    assert not again["changed"] and again["devices"][0]["action"] == "unchanged"


@pytest.mark.parametrize("prune", [False, True])
def test_absent_of_a_destroyed_guest_by_name(fake_xs, prune):
    run(fake_xs, devices=[dict(type="mydevice", frontend="domu1"), dict(type="mydevice", frontend="domu2")])
    destroy(fake_xs, 1)
    fake_xs.log.clear()
    result, dummy = run(fake_xs, devices=[dict(type="mydevice", frontend="domu1")], state="absent", prune_stale=prune)
    entry = result["devices"][0]
    assert entry["action"] == "unchanged" and entry["condition"] == "frontend-domain-gone"
    assert entry["frontend"] is None and entry["frontend_name"] == "domu1"
    if prune:
        assert result["changed"] and result["pruned"] == ["/local/domain/0/backend/mydevice/1"]
        assert "/local/domain/0/backend/mydevice/1" not in fake_xs.nodes
    else:
        assert not result["changed"] and fake_xs.writes() == []
    # domu2's device is untouched either way
    assert "/local/domain/0/backend/mydevice/2/0/state" in fake_xs.nodes


@pytest.mark.parametrize("kwargs", [dict(), dict(backend=3), dict(force=True), dict(backend=3, force=True)])
def test_absent_after_the_driver_domain_died(host, kwargs):
    destroy(host, 3)
    result, dummy = run(host, type="mydevice", frontend="domu1", state="absent", **kwargs)
    assert result["changed"] and FE not in host.nodes
    assert result["devices"][0]["condition"] == "backend-domain-gone"
    assert [(op, path) for op, path, tx in host.writes()] == [("rm", FE), ("rm", "/local/domain/1/device/mydevice")]


def test_absent_when_both_ends_are_gone_is_a_no_op(host):
    destroy(host, 3)
    destroy(host, 1)
    result, dummy = run(host, type="mydevice", frontend=1, backend=3, state="absent")
    assert not result["changed"] and host.writes() == []


def test_present_for_a_destroyed_guest_still_fails(fake_xs):
    destroy(fake_xs, 1)
    with pytest.raises(device_logic.validate.ValidationError, match="frontend domain 1 does not exist"):
        run(fake_xs, type="mydevice", frontend=1)


# Conditions ------------------------------------------------------------------------------

def test_present_on_a_closed_backend_warns(fake_xs):
    run(fake_xs, type="mydevice", frontend=1)
    fake_xs.put(BE0 + "/state", "6")
    result, manager = run(fake_xs, type="mydevice", frontend=1)
    assert result["devices"][0]["condition"] == "backend-closed" and result["devices"][0]["action"] == "unchanged"
    assert len(manager.warnings) == 1 and "mydevice device 0 of domain 1" in manager.warnings[0]


def test_present_on_a_connected_frontend_without_backend_warns(fake_xs):
    run(fake_xs, type="mydevice", frontend=1)
    fake_xs.put(FE + "/state", "4")
    del fake_xs.nodes[BE0 + "/state"]
    for path in [p for p in fake_xs.nodes if p.startswith("/local/domain/0/backend/mydevice")]:
        del fake_xs.nodes[path]
    result, manager = run(fake_xs, type="mydevice", frontend=1)
    assert result["devices"][0]["action"] == "created"
    assert result["devices"][0]["condition"] == "backend-missing" and len(manager.warnings) == 1


def test_a_fresh_device_has_no_condition(fake_xs):
    result, manager = run(fake_xs, type="mydevice", frontend=1)
    assert result["devices"][0]["condition"] == "ok" and manager.warnings == []


def test_present_moves_a_device_whose_driver_domain_restarted(host):
    destroy(host, 3)
    host.put("/local/domain/8", "", ["n0", "r8"])
    host.put("/local/domain/8/name", "drv")
    host.put("/local/domain/8/backend", "", ["n8"])
    result, manager = run(host, type="mydevice", frontend="domu1", backend="drv")
    entry = result["devices"][0]
    assert entry["action"] == "moved" and entry["previous_backend_domid"] == 3 and entry["backend_domid"] == 8
    assert host.nodes[FE + "/backend-id"][0] == "8" and host.nodes[FE + "/state"][0] == "1"
    assert any("its backend domain 3 is gone" in w for w in manager.warnings)
    # nothing was asked of the dead backend: the frontend went, then the pair was created
    assert [op for op, path, tx in host.writes()][:2] == ["rm", "rm"]
