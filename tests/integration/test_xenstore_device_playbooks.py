# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``splitdriver.xen.xenstore_device`` run by the real ``ansible-playbook`` against the test
XenStore daemon seeded like an xl host (dom0, domU 1 ``guest1``, domU 2 ``guest2``).

State is verified out of band with Debian's ``xenstore-ls -p`` / ``xenstore-read`` /
``xenstore-write`` and work is counted from the daemon's request log: every module run is one
connection, so the log splits per task by connection id.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
MANAGED_PYTHON = "/usr/bin/python3"  # Debian's python3-pyxs 0.4.2 snapshot, as on managed nodes
VENV_PYTHON = sys.executable  # PyPI pyxs 0.4.1
MODULE = "splitdriver.xen.xenstore_device"
WRITE_OPS = {"WRITE", "MKDIR", "SET_PERMS", "RM"}
READ_OPS = {"READ", "GET_PERMS", "DIRECTORY", "DIRECTORY_PART"}
FE = "/local/domain/1/device/mydevice/0"
BE = "/local/domain/0/backend/mydevice/1/0"

# What libxl writes for one device (frontend guest1, backend dom0), as `xenstore-ls -p` shows it.
LIBXL_FRONTEND = """\
0 = ""  (n1,r0)
 backend = "/local/domain/0/backend/mydevice/1/0"  (n1,r0)
 backend-id = "0"  (n1,r0)
 state = "1"  (n1,r0)
"""
LIBXL_BACKEND = """\
1 = ""  (n0)
 0 = ""  (n0,r1)
  frontend = "/local/domain/1/device/mydevice/0"  (n0,r1)
  frontend-id = "1"  (n0,r1)
  online = "1"  (n0,r1)
  state = "1"  (n0,r1)
"""


def xenstore(daemon, *argv, domid=None, check=True):
    """Run a Debian xenstore-utils client against the daemon (as dom0 or as guest ``domid``)."""
    return subprocess.run(list(argv), env=daemon.env(domid), capture_output=True, text=True, check=check,
                          timeout=30)


def xenstore_ls(daemon, path):
    """``xenstore-ls -p`` with the dot padding squeezed: ``key = "value"  (perms)``."""
    out = xenstore(daemon, "xenstore-ls", "-p", path).stdout
    return "".join(re.sub(r'(\S)\s[ .]*\s*\((\S+)\)$', r'\1  (\2)', line.rstrip()) + "\n"
                   for line in out.splitlines())


def assert_denied(daemon, argv, domid):
    """The client fails, and the daemon answered its request on ``argv[1]`` with EACCES."""
    failed = xenstore(daemon, *argv, domid=domid, check=False)
    assert failed.returncode != 0, argv
    answers = [e["result"] for e in daemon.requests(domid=domid, path_prefix=argv[1]) if e["path"] == argv[1]]
    assert answers and answers[-1] == "EACCES", (argv, answers)


class Run:
    """One ansible-playbook run: its results (registered per task name), recap and stdout."""

    def __init__(self, proc, results, elapsed):
        self.rc = proc.returncode
        self.stdout = proc.stdout + proc.stderr
        self.results = results
        self.elapsed = elapsed
        match = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", proc.stdout)
        self.recap = dict(zip(("ok", "changed", "failed"), map(int, match.groups()))) if match else None

    def __getitem__(self, name):
        return self.results[name]


def run_playbook(tmp_path, daemon, tasks, python=MANAGED_PYTHON, dump=True, environment=None):
    """Run ``tasks`` (dicts with a ``register``-able ``name``) on localhost via a local
    connection; every module task registers ``r_<index>`` and is returned by its ``name``."""
    names = []
    play_tasks = []
    for index, task in enumerate(tasks):
        task = dict(task)
        if "register" not in task and any(key.startswith("splitdriver.") for key in task):
            task["register"] = "r_%d" % index
        if "register" in task:
            names.append((task["name"], task["register"]))
        play_tasks.append(task)
    out = tmp_path / ("results-%d.json" % time.monotonic_ns())
    if dump and names:
        content = "{{ {%s} | to_json }}" % ", ".join("%r: %s" % (name, var) for name, var in names)
        save = {"content": content, "dest": str(out), "mode": "0600"}
        play_tasks.append({"name": "Save the results", "ansible.builtin.copy": save,
                           "check_mode": False, "diff": False})
    play = [{
        "name": "xenstore_device against the test daemon",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": python},
        "module_defaults": {MODULE: {"socket": daemon.socket},
                            "splitdriver.xen.xen_domain_info": {"socket": daemon.socket}},
        "tasks": play_tasks,
    }]
    if environment:
        play[0]["environment"] = environment
        del play[0]["module_defaults"]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".ansible", "collections"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_FORCE_COLOR="0")
    started = time.monotonic()
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(path)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path), check=False)
    elapsed = time.monotonic() - started
    results = json.loads(out.read_text()) if out.exists() else {}
    run = Run(proc, results, elapsed)
    assert proc.returncode == 0, run.stdout
    return run


def per_connection(daemon):
    """The request log split by connection, in connection order: one list per module run
    (connections that start a transaction: peers do not; call it before xenstore-utils
    clients, which do)."""
    conns = {}
    for entry in daemon.requests():
        conns.setdefault(entry["conn"], []).append(entry)
    return [conns[conn] for conn in sorted(conns)
            if any(entry["op"] == "TRANSACTION_START" for entry in conns[conn])]


def ops(entries, kinds):
    return [e for e in entries if e["op"] in kinds]


def device(frontend="1", **kwargs):
    return dict(type=kwargs.pop("type", "mydevice"), frontend=frontend, **kwargs)


# ------------------------------------------------------------------------------------------
def test_present_check_mode_rerun_and_request_budget(tmp_path, xenstored):
    """Check mode predicts and writes nothing; present creates exactly libxl's nodes and perms
    within the budget; a re-run is changed=0 with no write at all (Debian's pyxs)."""
    first = run_playbook(tmp_path, xenstored, [
        {"name": "predict", MODULE: device("guest1"), "check_mode": True, "diff": True},
        {"name": "create", MODULE: device("guest1"), "diff": True},
        {"name": "again in check mode", MODULE: device("guest1"), "check_mode": True},
    ])
    predict, create, again = first["predict"], first["create"], first["again in check mode"]
    assert predict["changed"] and create["changed"] and not again["changed"]
    for key in ("devices", "diff", "removed", "pruned"):
        assert predict[key] == create[key], key
    result = create["devices"][0]
    assert (result["action"], result["frontend"], result["frontend_name"]) == ("created", 1, "guest1")
    assert (result["frontend_path"], result["backend_path"]) == (FE, BE)
    assert result["state_before"] == {"frontend": None, "backend": None}
    assert result["state_after"] == {"frontend": 1, "backend": 1}
    assert create["diff"]["before"] == {}
    assert create["diff"]["after"][FE + "/state"] == {"perms": "n1,r0", "value": "1"}

    # exactly what libxl writes, read back with the real client
    assert xenstore_ls(xenstored, "/local/domain/1/device/mydevice") == LIBXL_FRONTEND
    assert xenstore_ls(xenstored, "/local/domain/0/backend/mydevice") == LIBXL_BACKEND

    check_log, create_log, again_log = per_connection(xenstored)[:3]
    assert ops(check_log, WRITE_OPS) == [] and ops(again_log, WRITE_OPS) == []
    writes = ops(create_log, WRITE_OPS)
    assert [(e["op"], e["path"]) for e in writes[:4]] == [
        ("MKDIR", FE), ("SET_PERMS", FE), ("MKDIR", BE), ("SET_PERMS", BE)]
    assert [(e["op"], e["path"]) for e in writes[-2:]] == [("WRITE", FE + "/state"), ("WRITE", BE + "/state")]
    assert len(writes) == 11
    # one transaction: every write carries its id, committed once
    assert len({e["tx"] for e in writes}) == 1 and writes[0]["tx"] != 0
    assert [e["path"] for e in create_log if e["op"] == "TRANSACTION_END"] == ["T"] or \
        sum(e["op"] == "TRANSACTION_END" for e in create_log) == 1
    # budget: ≤ 12 per device plus a constant per call (start, domain listing, names of the
    # 3 domains to resolve "guest1", 2 device-dir listings, end)
    assert len(create_log) <= 12 + 8, create_log

    xenstored.clear_log()
    rerun = run_playbook(tmp_path, xenstored, [
        {"name": "re-run", MODULE: device("1"), "register": "rerun"},
        {"name": "re-run reports unchanged", "ansible.builtin.assert": {"that": [
            "rerun is not changed", "rerun.devices[0].action == 'unchanged'",
            "rerun.devices[0].state_after == {'frontend': 1, 'backend': 1}"]}},
    ], dump=False)
    assert rerun.recap["changed"] == 0, rerun.stdout
    log = per_connection(xenstored)[0]
    assert ops(log, WRITE_OPS) == []
    assert len(ops(log, {"READ", "GET_PERMS"})) <= 16
    assert len(ops(log, {"DIRECTORY"})) == 3  # /local/domain + one per end's parent dir


def test_batch_is_one_transaction_and_cost_per_device_is_constant(tmp_path, xenstored):
    """1, 10 and 100 devices: one transaction each, 11 writes per device, a per-call constant
    that does not grow with N, 16 reads per device on the re-run (PyPI pyxs in the venv)."""
    sizes = {"one": 1, "ten": 10, "hundred": 100}
    tasks = []
    for label, size in sizes.items():
        tasks.append({"name": "create " + label, MODULE: {
            "devices": [dict(type="b" + label, frontend="2", devid=i) for i in range(size)]}})
    for label, size in sizes.items():
        tasks.append({"name": "rerun " + label, MODULE: {
            "devices": [dict(type="b" + label, frontend="2", devid=i) for i in range(size)]}})
    run = run_playbook(tmp_path, xenstored, tasks, python=VENV_PYTHON)
    logs = per_connection(xenstored)
    constants, rerun_constants = set(), set()
    for index, (label, size) in enumerate(sizes.items()):
        create_log, rerun_log = logs[index], logs[index + len(sizes)]
        assert run["create " + label]["changed"] and not run["rerun " + label]["changed"]
        assert [d["action"] for d in run["create " + label]["devices"]] == ["created"] * size
        writes = ops(create_log, WRITE_OPS)
        assert len(writes) == 11 * size
        assert sum(e["op"] == "TRANSACTION_START" for e in create_log) == 1
        assert len({e["tx"] for e in writes}) == 1
        constants.add(len(create_log) - 11 * size)
        assert ops(rerun_log, WRITE_OPS) == []
        assert len(ops(rerun_log, {"READ", "GET_PERMS"})) == 16 * size
        rerun_constants.add(len(rerun_log) - 16 * size)
        assert len(ops(rerun_log, {"DIRECTORY"})) == 3
    assert constants == {5} and rerun_constants == {5}
    listing = xenstore(xenstored, "xenstore-list", "/local/domain/2/device/bhundred").stdout.split()
    assert sorted(map(int, listing)) == list(range(100))


def test_absent_handshake_timeout_and_force(tmp_path, xenstored, backend_peer):
    """Nobody answers Closing: a clear failure within timeout, nothing removed. With the
    scripted backend driver answering Closed: both dirs and empty parents removed, never
    /local/domain/N/device nor /local/domain/0/backend. force removes without the handshake."""
    first = run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: {"devices": [device("1"), device("2", type="other")]}},
        {"name": "remove, nobody answers", MODULE: dict(device("1"), state="absent", timeout=2),
         "ignore_errors": True},
    ])
    failed = first["remove, nobody answers"]
    assert failed["failed"]
    assert failed["msg"].startswith(
        "timed out after 2 s (timeout) waiting for the backend to answer Closing (5) with Closed (6): "
        "mydevice device 0 of domain 1")
    assert "frontend state 1 (Initialising), backend state 5 (Closing)" in failed["msg"]
    assert "force=true removes the devices without the handshake" in failed["msg"]
    assert failed["devices"][0]["action"] == "closing" and failed["changed"]
    assert first.elapsed < 2 + 30
    assert xenstore(xenstored, "xenstore-read", FE + "/backend").stdout.strip() == BE
    assert xenstore(xenstored, "xenstore-read", BE + "/online").stdout.strip() == "0"

    backend_peer(xenstored, role="closer", devtype="mydevice")
    xenstored.clear_log()
    second = run_playbook(tmp_path, xenstored, [
        {"name": "remove", MODULE: dict(device("1"), state="absent", timeout=10)},
        {"name": "remove again", MODULE: dict(device("1"), state="absent")},
        {"name": "force", MODULE: dict(device("2", type="other"), state="absent", force=True)},
    ])
    force_log = per_connection(xenstored)[2]
    removed = second["remove"]
    assert removed["changed"] and removed["devices"][0]["action"] == "removed"
    assert removed["removed"] == ["/local/domain/0/backend/mydevice", "/local/domain/1/device/mydevice"]
    assert not second["remove again"]["changed"]
    assert second["remove again"]["devices"][0]["action"] == "unchanged"
    assert second["force"]["changed"]
    assert second["force"]["removed"] == ["/local/domain/0/backend/other", "/local/domain/2/device/other"]
    for path in (FE, BE, "/local/domain/2/device/other", "/local/domain/0/backend/other"):
        assert xenstore(xenstored, "xenstore-exists", path, check=False).returncode != 0, path
    assert xenstore(xenstored, "xenstore-list", "/local/domain/0/backend").stdout.split() == []
    for domid in (1, 2):
        assert xenstore(xenstored, "xenstore-exists", "/local/domain/%d/device" % domid).returncode == 0
    # Each device dir is removed by its own rm before the parents it leaves empty: Linux
    # xenbus drops a device only on a watch event naming that device's dir.
    remove_log = per_connection(xenstored)[0]
    assert [(e["op"], e["path"]) for e in ops(remove_log, {"RM"})] == [
        ("RM", FE), ("RM", BE),
        ("RM", "/local/domain/0/backend/mydevice"), ("RM", "/local/domain/1/device/mydevice")]
    # force: no handshake writes, the removal only
    assert [(e["op"], e["path"]) for e in ops(force_log, WRITE_OPS)] == [
        ("RM", "/local/domain/2/device/other/0"), ("RM", "/local/domain/0/backend/other/2/0"),
        ("RM", "/local/domain/0/backend/other"), ("RM", "/local/domain/2/device/other")]


def test_driver_domain_backend(tmp_path, xenstored):
    """backend_domid 2 (a driver domain of the seed) serving guest1: nodes under
    /local/domain/2/backend/, owned by the driver domain, which may drive its state."""
    run = run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: device("guest1", backend_domid=2)},
    ])
    result = run["create"]["devices"][0]
    assert result["backend_path"] == "/local/domain/2/backend/mydevice/1/0"
    ls = xenstore_ls(xenstored, "/local/domain/2/backend/mydevice/1")
    assert ls == LIBXL_BACKEND.replace("1 = \"\"  (n0)\n", "").replace("(n0,r1)", "(n2,r1)").replace(
        "/local/domain/1/device/mydevice/0", FE).replace("\n ", "\n").lstrip(" ")
    assert xenstore(xenstored, "xenstore-read", FE + "/backend").stdout.strip() == "/local/domain/2/backend/mydevice/1/0"
    assert xenstore(xenstored, "xenstore-read", FE + "/backend-id").stdout.strip() == "2"
    assert xenstore_ls(xenstored, FE).splitlines()[0] == 'backend = "/local/domain/2/backend/mydevice/1/0"  (n1,r2)'
    # the driver domain drives its backend; the guest reads it but cannot write it
    xenstore(xenstored, "xenstore-write", "/local/domain/2/backend/mydevice/1/0/state", "2", domid=2)
    assert xenstore(xenstored, "xenstore-read", "/local/domain/2/backend/mydevice/1/0/state", domid=1).stdout.strip() == "2"
    assert_denied(xenstored, ("xenstore-write", "/local/domain/2/backend/mydevice/1/0/state", "4"), domid=1)


def test_guest_connection_permissions(tmp_path, xenstored):
    """From guest connections: a domU reads its frontend and the backend dir, may write its
    frontend state, cannot write the backend nor read another domU's devices."""
    run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: {"devices": [device("guest1"), device("guest2")]}},
    ])
    for key in ("backend", "backend-id", "state"):
        assert xenstore(xenstored, "xenstore-read", FE + "/" + key, domid=1).returncode == 0
    for key in ("frontend", "frontend-id", "online", "state"):
        assert xenstore(xenstored, "xenstore-read", BE + "/" + key, domid=1).returncode == 0
    xenstore(xenstored, "xenstore-write", FE + "/state", "3", domid=1)
    assert xenstore(xenstored, "xenstore-read", FE + "/state").stdout.strip() == "3"
    for argv in (("xenstore-write", BE + "/state", "4"), ("xenstore-write", BE + "/online", "0"),
                 ("xenstore-read", "/local/domain/2/device/mydevice/0/state"),
                 ("xenstore-read", "/local/domain/0/backend/mydevice/2/0/state"),
                 ("xenstore-write", "/local/domain/2/device/mydevice/0/state", "6")):
        assert_denied(xenstored, argv, domid=1)
    # the frontend's own state write is the driver's business: a re-run leaves it alone
    xenstored.clear_log()
    rerun = run_playbook(tmp_path, xenstored, [
        {"name": "rerun", MODULE: {"devices": [device("guest1"), device("guest2")]}},
    ])
    assert not rerun["rerun"]["changed"]
    assert rerun["rerun"]["devices"][0]["state_after"] == {"frontend": 3, "backend": 1}
    assert ops(per_connection(xenstored)[0], WRITE_OPS) == []


def test_prune_stale_removes_only_dead_domains_dirs(tmp_path, xenstored):
    run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: {"devices": [device("1"), device("2"), device("2", type="keep")]}},
    ])
    xenstored.destroy_domain(2)  # xl destroy: our custom backend dirs leak
    assert xenstore(xenstored, "xenstore-exists", "/local/domain/0/backend/mydevice/2").returncode == 0
    xenstored.clear_log()
    run = run_playbook(tmp_path, xenstored, [
        {"name": "check", MODULE: dict(device("1"), prune_stale=True), "check_mode": True},
        {"name": "prune", MODULE: dict(device("1"), prune_stale=True)},
        {"name": "again", MODULE: dict(device("1"), prune_stale=True)},
    ])
    assert run["check"]["changed"] and run["check"]["pruned"] == ["/local/domain/0/backend/mydevice/2"]
    assert run["prune"]["changed"] and run["prune"]["pruned"] == ["/local/domain/0/backend/mydevice/2"]
    assert run["prune"]["devices"][0]["action"] == "unchanged"
    assert not run["again"]["changed"] and run["again"]["pruned"] == []
    check_log, prune_log = per_connection(xenstored)[:2]
    assert ops(check_log, WRITE_OPS) == []
    assert [(e["op"], e["path"]) for e in ops(prune_log, WRITE_OPS)] == [("RM", "/local/domain/0/backend/mydevice/2")]
    assert xenstore(xenstored, "xenstore-exists", BE).returncode == 0
    # another type's leftovers are not this call's business
    assert xenstore(xenstored, "xenstore-exists", "/local/domain/0/backend/keep/2/0").returncode == 0


def test_wait_connected_with_handshake_peers_and_initwait_timeout(tmp_path, xenstored, backend_peer):
    backend_peer(xenstored, role="backend", devtype="mydevice", keys={"feature-x": "1", "hotplug-status": "connected"})
    backend_peer(xenstored, role="frontend", domid=1, devtype="mydevice")
    run = run_playbook(tmp_path, xenstored, [
        {"name": "connect", MODULE: dict(device("guest1"), wait="connected", timeout=20)},
        {"name": "again", MODULE: dict(device("guest1"), wait="connected", timeout=20)},
        {"name": "nobody serves", MODULE: dict(device("2", type="orphan"), wait="initwait", timeout=1),
         "ignore_errors": True},
    ], environment={"XENSTORED_PATH": xenstored.socket})
    connect = run["connect"]["devices"][0]
    assert run["connect"]["changed"] and connect["action"] == "created"
    assert connect["state_after"] == {"frontend": 4, "backend": 4}
    assert not run["again"]["changed"]  # driver keys (ring-ref, feature-x, ...) are not drift
    assert run["again"]["devices"][0]["state_before"] == {"frontend": 4, "backend": 4}
    assert xenstore(xenstored, "xenstore-read", FE + "/ring-ref").returncode == 0
    assert xenstore(xenstored, "xenstore-read", BE + "/hotplug-status").stdout.strip() == "connected"
    orphan = run["nobody serves"]
    assert orphan["failed"] and orphan["changed"]
    assert orphan["msg"].startswith("timed out after 1 s (timeout) waiting for the backend to reach InitWait (2)")
    assert "frontend state 1 (Initialising), backend state 1 (Initialising)" in orphan["msg"]
