# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``splitdriver.xen.xenstore_device_info`` run by the real ``ansible-playbook`` against the test
XenStore daemon seeded like an xl host.

Devices are made by ``xenstore_device`` and connected by scripted driver peers, then broken the
way real hosts break them, with Debian's xenstore-utils (``xenstore-write``, ``-rm``,
``-chmod``, as dom0 or from a guest's socket) and xl-like domain destruction. The module must
name each condition, and the daemon's request log must show it never wrote and ended every
transaction with ``F`` (abort), in check mode too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
MANAGED_PYTHON = "/usr/bin/python3"  # Debian's python3-pyxs 0.4.2 snapshot, as on managed nodes
INFO = "splitdriver.xen.xenstore_device_info"
DEVICE = "splitdriver.xen.xenstore_device"
WRITE_OPS = {"WRITE", "MKDIR", "SET_PERMS", "RM"}


def fe_dir(f, n=0, t="mydevice"):
    return "/local/domain/%d/device/%s/%d" % (f, t, n)


def be_dir(f, n=0, t="mydevice", b=0):
    return "/local/domain/%d/backend/%s/%d/%d" % (b, t, f, n)


def xenstore(daemon, *argv, domid=None):
    """A Debian xenstore-utils client against the daemon, as dom0 or as guest ``domid``."""
    return subprocess.run(list(argv), env=daemon.env(domid), capture_output=True, text=True, check=True,
                          timeout=30)


def play(tmp_path, daemon, tasks):
    """Run ``tasks`` on localhost; each task registers its name; returns {name: result}."""
    names = [task["name"] for task in tasks]
    out = tmp_path / "results.json"
    tasks = [dict(task, register="r_%d" % index) for index, task in enumerate(tasks)]
    content = "{{ {%s} | to_json }}" % ", ".join("%r: r_%d" % (name, i) for i, name in enumerate(names))
    tasks.append({"name": "Save", "ansible.builtin.copy": {"content": content, "dest": str(out), "mode": "0600"},
                  "check_mode": False})
    playbook = [{"name": "info", "hosts": "localhost", "gather_facts": False,
                 "vars": {"ansible_python_interpreter": MANAGED_PYTHON},
                 "module_defaults": {INFO: {"socket": daemon.socket}, DEVICE: {"socket": daemon.socket}},
                 "tasks": tasks}]
    (tmp_path / "play.yml").write_text(json.dumps(playbook))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".ansible", "collections"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def module_runs(daemon):
    """The request log per module run (the connections that start a transaction), in order."""
    conns = {}
    for entry in daemon.requests():
        conns.setdefault(entry["conn"], []).append(entry)
    return [conns[c] for c in sorted(conns) if any(e["op"] == "TRANSACTION_START" for e in conns[c])]


def assert_read_only(log):
    """One transaction, aborted; no write of any kind; every request inside the transaction."""
    assert [e for e in log if e["op"] in WRITE_OPS] == []
    assert [e["op"] for e in log if e["op"].startswith("TRANSACTION")] == ["TRANSACTION_START", "TRANSACTION_END"]
    assert [e["path"] for e in log if e["op"] == "TRANSACTION_END"] == ["F"]
    tx = {e["tx"] for e in log if not e["op"].startswith("TRANSACTION")}
    assert len(tx) == 1 and tx != {0}


def by_key(result):
    return dict(((d["type"], d["frontend"]["domid"], d["devid"], d["backend"]["domid"]), d) for d in result["devices"])


def test_connected_devices_are_ok_with_driver_keys_and_nothing_is_written(tmp_path, xenstored, backend_peer):
    backend_peer(xenstored, role="backend", devtype="mydevice", keys={"feature-x": "1", "hotplug-status": "connected"})
    backend_peer(xenstored, role="frontend", domid=1, devtype="mydevice")
    backend_peer(xenstored, role="frontend", domid=2, devtype="mydevice")
    devices = [{"type": "mydevice", "frontend": "guest1"}, {"type": "mydevice", "frontend": "guest2"},
               {"type": "mydevice", "frontend": "guest2", "devid": 1}]
    xenstored.clear_log()
    results = play(tmp_path, xenstored, [
        {"name": "create", DEVICE: {"devices": devices, "wait": "connected", "timeout": 20}},
        {"name": "all", INFO: {}},
        {"name": "all in check mode", INFO: {}, "check_mode": True},
        {"name": "guest2 by name", INFO: {"type": "mydevice", "frontend": "guest2"}},
        {"name": "served by dom0, by name", INFO: {"type": ["mydevice"], "backend": "Domain-0"}},
    ])
    assert results["create"]["changed"]
    everything = results["all"]
    assert not everything["changed"]
    assert sorted(by_key(everything)) == [("mydevice", 1, 0, 0), ("mydevice", 2, 0, 0), ("mydevice", 2, 1, 0)]
    assert everything["summary"] == {"ok": 3}
    for device in everything["devices"]:
        fe, be = device["frontend"], device["backend"]
        assert device["condition"] == "ok" and device["conditions"] == []
        assert (fe["state"], fe["state_name"], be["state"], be["state_name"]) == (4, "Connected", 4, "Connected")
        assert fe["perms"] == "n%d,r0" % fe["domid"] and be["perms"] == "n0,r%d" % fe["domid"]
        assert fe["name"] == "guest%d" % fe["domid"] and be["name"] == "Domain-0" and be["online"] is True
        # managed and driver-written keys alike
        assert fe["keys"] == {"backend": be["path"], "backend-id": "0", "state": "4",
                              "ring-ref": "8", "event-channel": "12"}
        assert be["keys"] == {"frontend": fe["path"], "frontend-id": str(fe["domid"]), "online": "1", "state": "4",
                              "feature-x": "1", "hotplug-status": "connected"}
        assert fe["error"] is None and be["error"] is None
    for name in ("all in check mode", "served by dom0, by name"):
        assert results[name]["devices"] == everything["devices"] and results[name]["summary"] == everything["summary"]
    assert sorted(by_key(results["guest2 by name"])) == [("mydevice", 2, 0, 0), ("mydevice", 2, 1, 0)]

    runs = module_runs(xenstored)
    assert len(runs) == 5
    for log in runs[1:]:
        assert_read_only(log)


def test_request_cost_is_constant_per_device(tmp_path, xenstored):
    """20 requests per device with libxl's keys (frontend: listing, 4 perms, 3 reads, error
    node; backend: listing, 5 perms, 4 reads, error node), whatever the number of devices."""
    results = play(tmp_path, xenstored, [
        {"name": "create", DEVICE: {"devices": [{"type": "one", "frontend": 1}] + [
            {"type": "ten", "frontend": 1, "devid": n} for n in range(10)]}},
        {"name": "one", INFO: {"type": "one"}},
        {"name": "ten", INFO: {"type": "ten"}},
    ])
    assert results["one"]["summary"] == {"ok": 1} and results["ten"]["summary"] == {"ok": 10}
    dummy, one, ten = module_runs(xenstored)
    assert len(ten) - len(one) == 9 * 20
    for log in (one, ten):
        assert_read_only(log)


def test_each_condition_from_real_writes_and_the_remedies(tmp_path, xenstored_factory):
    daemon = xenstored_factory(seed_xl={1: "guest1", 2: "guest2", 3: "drv", 4: "doomed"})
    play(tmp_path, daemon, [{"name": "create", DEVICE: {"devices": [
        {"type": "mydevice", "frontend": "guest1", "devid": n} for n in range(9)] + [
        {"type": "mydevice", "frontend": "doomed"},
        {"type": "mydevice", "frontend": "guest2", "backend_domid": 3}]}}])
    # 1: a removal that timed out, or the backend driver unloaded
    xenstore(daemon, "xenstore-write", be_dir(1, 1) + "/state", "6")
    # 2: the frontend driver let go of its device (from the guest's own socket)
    xenstore(daemon, "xenstore-write", fe_dir(1, 2) + "/state", "6", domid=1)
    # 3: the backend dir removed under a frontend that had connected
    xenstore(daemon, "xenstore-write", fe_dir(1, 3) + "/state", "4", domid=1)
    xenstore(daemon, "xenstore-rm", be_dir(1, 3))
    # 4: the frontend dir removed under a backend waiting in InitWait
    xenstore(daemon, "xenstore-write", be_dir(1, 4) + "/state", "2")
    xenstore(daemon, "xenstore-rm", fe_dir(1, 4))
    # 5: only the frontend is left, never probed
    xenstore(daemon, "xenstore-rm", be_dir(1, 5))
    # 6: the backend names another guest
    xenstore(daemon, "xenstore-write", be_dir(1, 6) + "/frontend-id", "2")
    # 7: the seed script's chmod: the frontend dir loses the backend's read access
    xenstore(daemon, "xenstore-chmod", fe_dir(1, 7), "n1")
    # 8: the frontend driver reported an error (xenbus_dev_error, as guest 1)
    xenstore(daemon, "xenstore-write", "--", "/local/domain/1/error/device/mydevice/8/error", "-12 allocating ring",
             domid=1)
    # xl destroy of the guest (its backend dir stays) and of the driver domain
    daemon.destroy_domain(4)
    daemon.destroy_domain(3)
    daemon.clear_log()

    results = play(tmp_path, daemon, [
        {"name": "report", INFO: {"type": "mydevice"}},
        {"name": "report in check mode", INFO: {"type": "mydevice"}, "check_mode": True},
        {"name": "leftovers of domain 4", INFO: {"frontend": 4}},
    ])
    report = results["report"]
    found = dict((key, d["condition"]) for key, d in by_key(report).items())
    assert found == {
        ("mydevice", 1, 0, 0): "ok",
        ("mydevice", 1, 1, 0): "backend-closed",
        ("mydevice", 1, 2, 0): "frontend-closed",
        ("mydevice", 1, 3, 0): "backend-missing",
        ("mydevice", 1, 4, 0): "frontend-missing",
        ("mydevice", 1, 5, 0): "incomplete",
        ("mydevice", 1, 6, 0): "pointer-mismatch",
        ("mydevice", 1, 7, 0): "perms",
        ("mydevice", 1, 8, 0): "driver-error",
        ("mydevice", 2, 0, 3): "backend-domain-gone",
        ("mydevice", 4, 0, 0): "frontend-domain-gone",
    }
    assert report["summary"] == dict((code, 1) for code in found.values())
    messages = dict((key, " ".join(c["message"] for c in d["conditions"])) for key, d in by_key(report).items())
    assert "the backend's frontend-id is '2', not 1" in messages[("mydevice", 1, 6, 0)]
    assert "frontend directory %s has n1 (libxl: n1,r0)" % fe_dir(1, 7) in messages[("mydevice", 1, 7, 0)]
    assert "'-12 allocating ring'" in messages[("mydevice", 1, 8, 0)]
    assert "leftover backend directory %s" % be_dir(4) in messages[("mydevice", 4, 0, 0)]
    assert results["report in check mode"]["devices"] == report["devices"]
    assert [d["condition"] for d in results["leftovers of domain 4"]["devices"]] == ["frontend-domain-gone"]
    for log in module_runs(daemon):
        assert_read_only(log)

    # What the messages say to do: state=present repairs incomplete and perms, not a closed
    # backend; that one needs state=absent and state=present.
    def guest1(devid, **options):
        return dict({"type": "mydevice", "frontend": "guest1", "devid": devid}, **options)
    results = play(tmp_path, daemon, [
        {"name": "present", DEVICE: {"devices": [guest1(1), guest1(5), guest1(7)]}},
        {"name": "after present", INFO: {"type": "mydevice", "frontend": 1}},
        {"name": "absent", DEVICE: {"devices": [guest1(1)], "state": "absent", "force": True}},
        {"name": "present again", DEVICE: {"devices": [guest1(1)]}},
        {"name": "after absent and present", INFO: {"type": "mydevice", "frontend": "guest1"}},
    ])
    after = dict((key[2], d["condition"]) for key, d in by_key(results["after present"]).items())
    assert (after[1], after[5], after[7]) == ("backend-closed", "ok", "ok")
    after = dict((key[2], d["condition"]) for key, d in by_key(results["after absent and present"]).items())
    assert after[1] == "ok"
