# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The planner: desired devices + snapshot → operations, results, diff. Pure tables."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import plan as planner
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.plan import Device, Node, Snapshot
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.validate import ValidationError

FE = "/local/domain/1/device/mydevice/0"
BE = "/local/domain/0/backend/mydevice/1/0"
DEV = Device(type="mydevice", frontend=1, devid=0, backend=0)

# Exactly what libxl writes for one device (frontend 1, backend 0): path → (value, perms).
LIBXL_TREE = {
    FE: ("", ["n1", "r0"]),
    FE + "/backend": (BE, ["n1", "r0"]),
    FE + "/backend-id": ("0", ["n1", "r0"]),
    FE + "/state": ("1", ["n1", "r0"]),
    BE: ("", ["n0", "r1"]),
    BE + "/frontend": (FE, ["n0", "r1"]),
    BE + "/frontend-id": ("1", ["n0", "r1"]),
    BE + "/online": ("1", ["n0", "r1"]),
    BE + "/state": ("1", ["n0", "r1"]),
}
CREATE_OPS = [
    ("mkdir", FE), ("set_perms", FE, ["n1", "r0"]),
    ("mkdir", BE), ("set_perms", BE, ["n0", "r1"]),
    ("write", FE + "/backend", BE), ("write", FE + "/backend-id", "0"),
    ("write", BE + "/frontend", FE), ("write", BE + "/frontend-id", "1"), ("write", BE + "/online", "1"),
    ("write", FE + "/state", "1"), ("write", BE + "/state", "1"),
]


def snapshot_of(tree, devices, domains=(0, 1, 2), with_type_dirs=True):
    """What the read phase would see of ``tree`` (path → (value, perms)), computed purely."""
    snap = Snapshot(domains=dict((d, None) for d in domains))

    def children(path):
        prefix = path + "/"
        names = sorted(set(p[len(prefix):].split("/")[0] for p in tree if p.startswith(prefix)))
        return names if (names or path in tree) else None

    type_dirs = planner.backend_type_dirs(devices) if with_type_dirs else []
    for path in planner.listing_paths(devices, type_dirs):
        snap.listings[path] = children(path)
    for op, path in planner.node_reads(devices, snap):
        if path in tree:
            node = snap.nodes.setdefault(path, Node())
            if op == "read":
                node.value = tree[path][0]
            else:
                node.perms = list(tree[path][1])
    return snap


def with_changes(**changes):
    tree = dict(LIBXL_TREE)
    for path, entry in changes.items():
        path = path.replace("FE", FE).replace("BE", BE).replace("__", "/")
        if entry is None:
            tree.pop(path)
        else:
            tree[path] = entry
    return tree


def test_device_paths_and_perms():
    assert (DEV.frontend_dir, DEV.backend_dir) == (FE, BE)
    assert DEV.frontend_perms == ["n1", "r0"] and DEV.backend_perms == ["n0", "r1"]
    assert DEV.frontend_error_path == "/local/domain/1/error/device/mydevice/0/error"
    assert DEV.backend_error_path == "/local/domain/0/error/backend/mydevice/1/0/error"
    driver_domain = Device(type="t", frontend=5, devid=2, backend=3)
    assert driver_domain.backend_dir == "/local/domain/3/backend/t/5/2"
    assert driver_domain.frontend_perms == ["n5", "r3"] and driver_domain.backend_perms == ["n3", "r5"]


def test_create_writes_the_libxl_node_set_dirs_first_state_last():
    plan = planner.plan_present([DEV], snapshot_of({}, [DEV]))
    assert plan.ops == CREATE_OPS
    assert len(plan.ops) == 11  # libxl's own minimum
    assert plan.results[0]["action"] == "created"
    assert plan.results[0]["state_before"] == {"frontend": None, "backend": None}
    assert plan.results[0]["state_after"] == {"frontend": 1, "backend": 1}
    assert plan.before == {}
    assert plan.after == dict(
        (path, {"perms": ",".join(perms)} if path in (FE, BE) else {"perms": ",".join(perms), "value": value})
        for path, (value, perms) in LIBXL_TREE.items())
    assert plan.changed


def test_create_with_extra_entries():
    dev = Device(type="mydevice", frontend=1, devid=0, backend=0,
                 frontend_entries=(("ring-order", "2"),), backend_entries=(("mode", "rw"), ("size", "")))
    ops = planner.plan_present([dev], snapshot_of({}, [dev])).ops
    writes = [op[1][len(FE) + 1:] if op[1].startswith(FE) else op[1][len(BE) + 1:] for op in ops if op[0] == "write"]
    assert writes == ["backend", "backend-id", "ring-order", "frontend", "frontend-id", "online", "mode", "size",
                      "state", "state"]


def test_converged_device_reads_16_and_plans_nothing():
    snap = snapshot_of(LIBXL_TREE, [DEV])
    assert len(planner.node_reads([DEV], snap)) == 16
    plan = planner.plan_present([DEV], snap)
    assert plan.ops == [] and not plan.changed
    assert plan.results[0]["action"] == "unchanged"
    assert plan.before == plan.after


def test_absent_device_needs_no_reads():
    assert planner.node_reads([DEV], snapshot_of({}, [DEV])) == []


@pytest.mark.parametrize("changes, expected_ops", [
    # the drivers moved the states on: never rewritten
    (dict(FE__state=("4", ["n1", "r0"]), BE__state=("4", ["n0", "r1"])), []),
    # driver-written keys are not drift
    ({"BE/ring-ref": ("8", ["n0", "r1"]), "FE/event-channel": ("9", ["n1"]),
      "BE/feature-x": ("1", ["n0", "r1"]), "BE/hotplug-status": ("connected", ["n0", "r1"])}, []),
    # a backend-id that names no domain is damage, not another backend: repaired
    (dict(FE__backend__id=("x", ["n1", "r0"])), [("write", FE + "/backend-id", "0")]),
    (dict(FE__backend__id=("03", ["n1", "r0"])), [("write", FE + "/backend-id", "0")]),
    (dict(FE__backend__id=("99999", ["n1", "r0"])), [("write", FE + "/backend-id", "0")]),
    (dict(BE__online=("0", ["n0", "r1"])), [("write", BE + "/online", "1")]),
    (dict(FE=("", ["r0"])), [("set_perms", FE, ["n1", "r0"])]),
    (dict(BE=("", ["n0"])), [("set_perms", BE, ["n0", "r1"])]),
    (dict(BE__frontend__id=("1", ["n0"])), [("set_perms", BE + "/frontend-id", ["n0", "r1"])]),
    (dict(FE__state=("4", ["r0"])), [("set_perms", FE + "/state", ["n1", "r0"])]),
    (dict(BE__frontend=("/elsewhere", ["b0"])), [("write", BE + "/frontend", FE), ("set_perms", BE + "/frontend", ["n0", "r1"])]),
    (dict(FE__backend=None), [("write", FE + "/backend", BE)]),
    # a missing state is written, last
    (dict(BE__state=None, FE__backend__id=None), [("write", FE + "/backend-id", "0"), ("write", BE + "/state", "1")]),
])
def test_drift_repair(changes, expected_ops):
    changes = dict((k.replace("__id", "-id"), v) for k, v in changes.items())
    plan = planner.plan_present([DEV], snapshot_of(with_changes(**changes), [DEV]))
    assert plan.ops == expected_ops
    assert plan.results[0]["action"] == ("repaired" if expected_ops else "unchanged")
    assert plan.changed == bool(expected_ops)


def test_half_device_is_completed_without_touching_the_live_end():
    tree = dict((p, v) for p, v in LIBXL_TREE.items() if p.startswith(FE))
    tree[FE + "/state"] = ("3", ["n1", "r0"])
    plan = planner.plan_present([DEV], snapshot_of(tree, [DEV]))
    assert [op for op in plan.ops if op[1].startswith(FE)] == []
    assert plan.ops == [op for op in CREATE_OPS if op[1].startswith(BE)]
    assert plan.results[0]["action"] == "created"
    assert plan.results[0]["state_after"] == {"frontend": 3, "backend": 1}


def test_batch_orders_all_dirs_then_keys_then_states():
    devices = [Device(type="mydevice", frontend=1, devid=i, backend=0) for i in range(3)]
    ops = planner.plan_present(devices, snapshot_of({}, devices)).ops
    kinds = [op[0] if not op[1].endswith("/state") else "state" for op in ops]
    assert kinds == ["mkdir", "set_perms"] * 6 + ["write"] * 15 + ["state"] * 6
    assert planner.listing_paths(devices) == ["/local/domain/1/device/mydevice",
                                              "/local/domain/0/backend/mydevice/1"]


def test_absent_of_missing_device_is_unchanged():
    plan = planner.plan_absent([DEV], snapshot_of({}, [DEV]))
    assert plan.ops == [] and not plan.changed and plan.results[0]["action"] == "unchanged"


def test_absent_asks_the_backend_to_close_first():
    plan = planner.plan_absent([DEV], snapshot_of(with_changes(BE__state=("4", ["n0", "r1"])), [DEV]))
    assert plan.ops == [("write", BE + "/online", "0"), ("write", BE + "/state", "5")]
    # the removal comes after the handshake; it is predicted already
    assert plan.handshake == [DEV]
    assert plan.removed == ["/local/domain/0/backend/mydevice", "/local/domain/1/device/mydevice"]
    assert plan.results[0]["action"] == "removed" and plan.changed


def test_absent_already_closing_only_waits():
    tree = with_changes(BE__state=("5", ["n0", "r1"]), BE__online=("0", ["n0", "r1"]))
    plan = planner.plan_absent([DEV], snapshot_of(tree, [DEV]))
    assert plan.ops == [] and plan.handshake == [DEV] and plan.changed


@pytest.mark.parametrize("kwargs, tree_changes", [
    (dict(force=True), dict(BE__state=("4", ["n0", "r1"]))),
    (dict(), dict(BE__state=("6", ["n0", "r1"]))),
    (dict(handshake_done=True), dict(BE__state=("5", ["n0", "r1"]))),
])
def test_absent_removes_dirs_and_empty_parents(kwargs, tree_changes):
    plan = planner.plan_absent([DEV], snapshot_of(with_changes(**tree_changes), [DEV]), **kwargs)
    assert plan.handshake == []
    # both type dirs are left empty: removed too; never /local/domain/1/device nor
    # /local/domain/0/backend.
    assert plan.removed == ["/local/domain/0/backend/mydevice", "/local/domain/1/device/mydevice"]
    # Each device dir has its own rm first (frontend, then backend, as libxl does): Linux
    # xenbus drops a device only on a watch event naming its own dir.
    assert plan.ops == [("rm", FE), ("rm", BE)] + [("rm", path) for path in plan.removed]
    assert plan.results[0]["state_after"] == {"frontend": None, "backend": None}
    assert plan.after == {} and FE + "/backend" in plan.before


def test_absent_keeps_parents_that_hold_other_devices():
    other_fe = Device(type="mydevice", frontend=1, devid=1, backend=0)
    other_guest = Device(type="mydevice", frontend=2, devid=0, backend=0)
    tree = dict(LIBXL_TREE)
    for dev in (other_fe, other_guest):
        tree[dev.frontend_dir + "/state"] = ("4", dev.frontend_perms)
        tree[dev.backend_dir + "/state"] = ("4", dev.backend_perms)
    plan = planner.plan_absent([DEV], snapshot_of(tree, [DEV]), force=True)
    assert plan.removed == [BE, FE]
    assert plan.ops == [("rm", BE), ("rm", FE)]  # each device dir once, no parent


def test_absent_removes_the_guest_level_dir_when_only_its_devices_go():
    other_guest = Device(type="mydevice", frontend=2, devid=0, backend=0)
    tree = dict(LIBXL_TREE)
    tree[other_guest.backend_dir + "/state"] = ("4", other_guest.backend_perms)
    plan = planner.plan_absent([DEV], snapshot_of(tree, [DEV]), force=True)
    assert plan.removed == ["/local/domain/0/backend/mydevice/1", "/local/domain/1/device/mydevice"]


def test_absent_of_a_half_device_removes_what_is_there():
    tree = dict((p, v) for p, v in LIBXL_TREE.items() if p.startswith(FE))
    plan = planner.plan_absent([DEV], snapshot_of(tree, [DEV]))
    assert plan.handshake == [] and plan.removed == ["/local/domain/1/device/mydevice"]


def test_prune_stale_only_dead_domains():
    tree = dict(LIBXL_TREE)
    tree["/local/domain/0/backend/mydevice/7/0/state"] = ("4", ["n0", "r7"])
    tree["/local/domain/0/backend/mydevice/2/0/state"] = ("4", ["n0", "r2"])
    tree["/local/domain/0/backend/other/9/0/state"] = ("4", ["n0", "r9"])  # another type: untouched
    plan = planner.plan_present([DEV], snapshot_of(tree, [DEV], domains=(0, 1, 2)), prune_stale=True)
    assert plan.pruned == ["/local/domain/0/backend/mydevice/7"]
    assert plan.ops == [("rm", "/local/domain/0/backend/mydevice/7")]
    assert plan.changed and plan.results[0]["action"] == "unchanged"
    assert "stale" in plan.before["/local/domain/0/backend/mydevice/7"]


def test_prune_with_absent_collapses_into_the_type_dir():
    tree = dict(LIBXL_TREE)
    tree["/local/domain/0/backend/mydevice/7/0/state"] = ("4", ["n0", "r7"])
    plan = planner.plan_absent([DEV], snapshot_of(tree, [DEV], domains=(0, 1)), force=True, prune_stale=True)
    assert plan.pruned == ["/local/domain/0/backend/mydevice/7"]
    assert plan.removed == ["/local/domain/0/backend/mydevice", "/local/domain/1/device/mydevice"]


def test_absent_without_prune_keeps_stale_dirs():
    tree = dict(LIBXL_TREE)
    tree["/local/domain/0/backend/mydevice/7/0/state"] = ("4", ["n0", "r7"])
    plan = planner.plan_absent([DEV], snapshot_of(tree, [DEV], domains=(0, 1)), force=True)
    assert plan.removed == ["/local/domain/0/backend/mydevice/1", "/local/domain/1/device/mydevice"]


DOMAINS = {0: "Domain-0", 1: "domu1", 2: "domu2", 3: "dup", 4: "dup"}


@pytest.mark.parametrize("spec, expected", [
    (dict(type="t", frontend="domu1"), (1, 0, 0, "domu1")),
    (dict(type="t", frontend="2", devid=3), (2, 3, 0, None)),
    (dict(type="t", frontend=2, backend=1), (2, 0, 1, None)),
    (dict(type="t", frontend=1, backend="domu2"), (1, 0, 2, None)),
])
def test_make_device(spec, expected):
    dev = planner.make_device(spec, DOMAINS)
    assert (dev.frontend, dev.devid, dev.backend, dev.frontend_name) == expected


@pytest.mark.parametrize("spec, message", [
    (dict(type="t", frontend="9"), r"frontend domain 9 does not exist \(no /local/domain/9\)"),
    (dict(type="t", frontend="nosuch"), "^frontend: no domain is named 'nosuch'"),
    (dict(type="t", frontend="dup"), "^frontend: domain name 'dup' is ambiguous: domains 3, 4 all have it; give the domid"),
    (dict(type="t", frontend="0"), r"frontend and backend are the same domain \(0\).*frontend and backend must differ"),
    (dict(type="t", frontend="1", backend=1), "same domain"),
    (dict(type="t", frontend="domu1", backend="domu1"), "same domain"),
    (dict(type="t", frontend="1", backend=8), r"^backend domain 8 does not exist \(no /local/domain/8\)"),
    (dict(type="t", frontend="1", backend="nosuch"), "^backend: no domain is named 'nosuch'"),
    (dict(type="t", frontend="1", backend="dup"), "^backend: domain name 'dup' is ambiguous"),
    (dict(type="t", frontend="1", backend="-2"), "backend must be a domain id between 0 and 32751, got -2"),
    (dict(type="t", frontend="1", backend=["0"]), "backend must be a domain id or a domain name"),
    (dict(type="t", frontend="-1"), "frontend must be a domain id between 0 and 32751, got -1"),
    (dict(type="t", frontend=" +9 "), "frontend domain 9 does not exist"),
    (dict(type="t", frontend=""), "frontend must be a domain id or a domain name"),
    (dict(type="t.x", frontend="1"), "characters outside"),
    (dict(type="averyveryverylongtype", frontend="1"), "is 21 characters long, more than the limit of 15"),
    (dict(type="t" * 15, frontend="1", devid=10), r"backend bus id 'ttttttttttttttt-1-10' is 20 characters"),
    (dict(type="t", frontend="1", devid=-1), "out of range"),
    (dict(type="t", frontend="1", frontend_entries={"state": "4"}), "collides"),
    (dict(type="t", frontend="1", backend_entries={"x": "\x07"}), "printable ASCII"),
])
def test_make_device_rejects(spec, message):
    with pytest.raises(ValidationError, match=message):
        planner.make_device(spec, DOMAINS)


@pytest.mark.parametrize("value, ref", [
    (1, 1), ("1", 1), (" 12 ", 12), ("+3", 3), ("domu1", "domu1"), ("-", "-"), ("1a", "1a"), ("1.5", "1.5"),
])
def test_domain_ref(value, ref):
    assert planner.domain_ref(value, "frontend") == ref


@pytest.mark.parametrize("value, message", [
    ("-1", "between 0 and 32751, got -1"), (True, "domain id or a domain name"), ("", "domain id or a domain name"),
    (["1"], "domain id or a domain name"), ("a\nb", "neither a domain id nor a valid domain name"),
])
def test_domain_ref_rejects(value, message):
    with pytest.raises(ValidationError, match="^backend.*" + message):
        planner.domain_ref(value, "backend")


def test_duplicates_after_name_resolution():
    devices = [planner.make_device(dict(type="t", frontend="domu1"), DOMAINS),
               planner.make_device(dict(type="t", frontend="1", backend=2), DOMAINS)]
    with pytest.raises(ValidationError, match=r"devices\[0\] and devices\[1\] are the same device: t device 0 of domain 1"):
        planner.check_duplicates(devices)


@pytest.mark.parametrize("state, text", [(None, "absent"), (4, "4 (Connected)"), (42, "42 (unknown state)")])
def test_state_name(state, text):
    assert planner.state_name(state) == text


@pytest.mark.parametrize("value, state", [(None, None), ("4", 4), ("", None), ("x", None)])
def test_parse_state(value, state):
    assert planner.parse_state(value) == state
