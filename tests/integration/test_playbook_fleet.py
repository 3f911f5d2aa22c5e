# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet playbooks (splitdriver.xen.site / verify / deactivate) run for real.

Real ``ansible-playbook`` against the test XenStore daemon: one daemon per Xen host, seeded
like an xl host, every inventory host on a local connection with Debian's python3-pyxs
(``/usr/bin/python3``). A small scripted peer per daemon plays both drivers' side of the
XenBus handshake (state 1 -> Connected on both ends, backend Closing -> Closed), so the verify
play sees what it would see on a real host. Requests are counted from the daemons' logs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(ROOT, "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from xenstored.client import XsClient  # noqa: E402  (the test daemon lives under tests/)
from xenstored.daemon import XenstoredProcess  # noqa: E402
from xenstored.peers import FleetPeer  # noqa: E402
from xenstored.protocol import XsError  # noqa: E402

pytestmark = pytest.mark.slow

COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
MANAGED_PYTHON = "/usr/bin/python3"  # Debian's python3-pyxs, as on managed nodes
WRITE_OPS = {"WRITE", "MKDIR", "SET_PERMS", "RM"}
READ_OPS = {"READ", "GET_PERMS", "DIRECTORY", "DIRECTORY_PART"}
TYPE = "mydevice"


class Daemon:
    """One test XenStore daemon (tests/xenstored): the XenStore of one Xen host, with a peer."""

    def __init__(self, workdir: str, name: str, guests: dict):
        self.name = name
        os.mkdir(os.path.join(workdir, name))
        self.proc = XenstoredProcess(os.path.join(workdir, name), seed_xl=guests, seed_dom0=not guests).start()
        self.socket = self.proc.socket
        self.log = self.proc.log_path
        self.peer = FleetPeer(self.socket)

    def client(self) -> XsClient:
        return self.proc.client(timeout=5)

    def mark(self) -> int:
        """Current end of the request log (requests are logged before they are answered)."""
        return os.path.getsize(self.log)

    def requests(self, since: int = 0) -> list:
        with open(self.log, "rb") as log:
            log.seek(since)
            return [json.loads(line) for line in log.read().splitlines()]

    def module_requests(self, since: int = 0) -> list:
        """Requests of everybody but the scripted peer (that is: of the playbook's modules)."""
        return [r for r in self.requests(since) if r["conn"] != self.peer.conn_id(self.requests())]

    def tree(self, path: str) -> dict:
        """``{path: (value, perms)}`` of a subtree, like ``xenstore-ls -p``."""
        out = {}
        with self.client() as cli:
            def walk(p):
                out[p] = (cli.read(p).decode(), cli.get_perms(p))
                for child in cli.directory(p):
                    walk(p + "/" + child)
            try:
                walk(path)
            except XsError as exc:
                if exc.errno != "ENOENT":
                    raise
        return out

    def exists(self, path: str) -> bool:
        with self.client() as cli:
            return cli.exists(path)

    def destroy(self, domid: int) -> None:
        """``xl destroy``: the domain's nodes go, custom backend dirs stay behind."""
        self.proc.destroy_domain(domid)

    def create(self, domid: int, name: str) -> None:
        """``xl create`` of guest ``name`` as domain ``domid``."""
        self.proc.create_domain(domid, name)

    def stop(self) -> None:
        self.peer.stop()
        self.proc.stop()


class Fleet:
    """Xen hosts (daemons) and guests, an inventory, and ansible-playbook runs."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.daemons: dict = {}
        self.guests: dict = {}
        self.vars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": MANAGED_PYTHON,
            "splitdriver_xen_manage_modules": False,
            "splitdriver_xen_check_sysfs": False,
            "splitdriver_xen_wait": "none",
            "splitdriver_xen_timeout": 10,
            "splitdriver_xen_verify_retries": 20,
            "splitdriver_xen_verify_delay": 0.2,
        }
        self.xen_vars: dict = {}

    def xen_host(self, name: str, guests: dict) -> Daemon:
        daemon = Daemon(self.workdir, name, guests)
        self.daemons[name] = daemon
        return daemon

    def guest(self, name: str, xen_host: str, devids=(0,), domain=None, **hvars) -> None:
        hvars.setdefault("splitdriver_xen_devices", [{"type": TYPE, "devids": list(devids)}])
        hvars["splitdriver_xen_host"] = xen_host
        if domain is not None:
            hvars["splitdriver_xen_domain"] = domain
        self.guests[name] = hvars

    def inventory(self) -> str:
        backends = {}
        for name, daemon in self.daemons.items():
            backends[name] = dict(self.xen_vars.get(name, {}), splitdriver_xen_xenstore_socket=daemon.socket)
        inv = {"all": {"vars": self.vars, "children": {
            "xen_backends": {"hosts": backends},
            "xen_frontends": {"hosts": self.guests},
        }}}
        path = os.path.join(self.workdir, "inventory.json")
        with open(path, "w") as out:
            json.dump(inv, out, indent=1)
        return path

    def play(self, playbook: str, *args: str, expect_rc: int = 0, inventory: str | None = None):
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                   ANSIBLE_LOCAL_TEMP=os.path.join(self.workdir, "tmp"),
                   ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")
        cmd = [ANSIBLE_PLAYBOOK, "-i", inventory or self.inventory(), "splitdriver.xen." + playbook, *args]
        proc = subprocess.run(cmd, env=env, cwd=self.workdir, capture_output=True, text=True, timeout=300, check=False)
        run = Run(proc.returncode, proc.stdout + proc.stderr)
        assert proc.returncode == expect_rc, "%s exited %d:\n%s" % (" ".join(cmd), proc.returncode, run.output)
        return run

    def stop(self) -> None:
        for daemon in self.daemons.values():
            daemon.stop()


class Run:
    RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

    def __init__(self, rc: int, output: str):
        self.rc = rc
        self.output = output
        self.recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
                      for m in self.RECAP.finditer(output)}

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]


@pytest.fixture
def fleet():
    # AF_UNIX paths must stay below 108 bytes: keep the directory short.
    workdir = tempfile.mkdtemp(prefix="sdx-", dir="/tmp")
    fleet = Fleet(workdir)
    try:
        yield fleet
    finally:
        fleet.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def fe_dir(domid, devid=0):
    return "/local/domain/%d/device/%s/%d" % (domid, TYPE, devid)


def be_dir(domid, devid=0):
    return "/local/domain/0/backend/%s/%d/%d" % (TYPE, domid, devid)


def libxl_nodes(domid, devid=0, state="4"):
    """The node set libxl writes for one device (after the peer connected it)."""
    fe, be = fe_dir(domid, devid), be_dir(domid, devid)
    fe_perms = ["n%d" % domid, "r0"]
    be_perms = ["n0", "r%d" % domid]
    return {
        fe: ("", fe_perms),
        fe + "/backend": (be, fe_perms),
        fe + "/backend-id": ("0", fe_perms),
        fe + "/state": (state, fe_perms),
        be: ("", be_perms),
        be + "/frontend": (fe, be_perms),
        be + "/frontend-id": (str(domid), be_perms),
        be + "/online": ("1", be_perms),
        be + "/state": (state, be_perms),
    }


def writes(requests):
    return [r for r in requests if r["op"] in WRITE_OPS]


def touches(requests, prefix):
    return [r for r in requests if (r["path"] or "").startswith(prefix)]


# ----------------------------------------------------------------------------------- tests

def test_site_activates_every_guest_on_its_xen_host_then_converges(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2"})
    xen2 = fleet.xen_host("xen2", {3: "db1"})
    fleet.guest("web1", "xen1", devids=(0, 1))
    fleet.guest("web2", "xen1")
    fleet.guest("db1.example.org", "xen2", domain="db1")
    marks = {name: d.mark() for name, d in fleet.daemons.items()}

    run = fleet.play("site")

    # Exactly libxl's node set and perms, Connected (the peer answered), on the right host.
    for domid, devids in ((1, (0, 1)), (2, (0,))):
        for devid in devids:
            got = xen1.tree(fe_dir(domid, devid))
            got.update(xen1.tree(be_dir(domid, devid)))
            assert got == libxl_nodes(domid, devid)
    got = xen2.tree(fe_dir(3))
    got.update(xen2.tree(be_dir(3)))
    assert got == libxl_nodes(3)
    assert not xen2.exists("/local/domain/0/backend/%s/1" % TYPE)
    # ONE activation task per Xen host: one connection made every write, in one transaction.
    for name, daemon in fleet.daemons.items():
        reqs = daemon.module_requests(marks[name])
        assert len({r["conn"] for r in writes(reqs)}) == 1
        assert {r["tx"] for r in writes(reqs)} != {0}
        assert len({r["tx"] for r in writes(reqs)}) == 1
    # the first guest of each Xen host ran its task; everybody was verified
    assert run.changed("web1") == 1 and run.changed("db1.example.org") == 1 and run.changed("web2") == 0
    assert "mydevice/1 of web1 (domid 1): frontend 4 (Connected), driver not checked; " \
           "backend in domain 0: 4 (Connected), driver not checked" in run.output
    assert "mydevice/0 of db1 (domid 3)" in run.output

    # Re-run: changed=0 everywhere and no write request at all.
    marks = {name: d.mark() for name, d in fleet.daemons.items()}
    run = fleet.play("site")
    assert all(r["changed"] == 0 for r in run.recap.values()), run.output
    for name, daemon in fleet.daemons.items():
        assert writes(daemon.requests(marks[name])) == []


def test_driver_domain_backend_is_resolved_by_name(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2", 5: "netdrv"})
    fleet.guest("web1", "xen1", splitdriver_xen_devices=[{"type": TYPE, "backend": "netdrv"}])
    fleet.guest("web2", "xen1")
    run = fleet.play("site")
    backend = "/local/domain/5/backend/%s/1/0" % TYPE
    assert xen1.tree(fe_dir(1))[fe_dir(1) + "/backend"] == (backend, ["n1", "r5"])
    assert xen1.tree(fe_dir(1))[fe_dir(1) + "/backend-id"] == ("5", ["n1", "r5"])
    assert xen1.tree(backend)[backend + "/frontend-id"] == ("1", ["n5", "r1"])
    assert not xen1.exists("/local/domain/0/backend/%s/1" % TYPE) and xen1.exists(be_dir(2))
    assert "mydevice/0 of web1 (domid 1): frontend 4 (Connected), driver not checked; backend in domain 5: " \
           "4 (Connected), driver not checked" in run.output

    # the driver domain restarts with a new domid: the next run follows it by name
    xen1.destroy(5)
    xen1.create(8, "netdrv")
    fleet.play("site")
    assert xen1.tree(fe_dir(1))[fe_dir(1) + "/backend-id"] == ("8", ["n1", "r8"])

    fleet.guests["web1"]["splitdriver_xen_devices"] = [{"type": TYPE, "backend": "nodrv"}]
    run = fleet.play("site", expect_rc=2)
    assert "devices[0]: backend: no domain is named 'nodrv' (looked up in /local/domain/*/name)" in run.output


def test_check_mode_predicts_and_writes_nothing(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2"})
    fleet.guest("web1", "xen1")
    fleet.guest("web2", "xen1")
    mark = xen1.mark()
    run = fleet.play("site", "--check", "--diff")
    assert run.changed("web1") == 1
    assert writes(xen1.requests(mark)) == []
    assert not xen1.exists(fe_dir(1)) and not xen1.exists(be_dir(2))
    assert "/local/domain/0/backend/mydevice/2/0" in run.output  # the diff names the new dirs

    fleet.play("site")
    mark = xen1.mark()
    run = fleet.play("site", "--check")
    assert all(r["changed"] == 0 for r in run.recap.values())
    assert writes(xen1.requests(mark)) == []


def test_limit_to_one_guest_touches_no_other_guest(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2"})
    fleet.guest("web1", "xen1")
    fleet.guest("web2", "xen1")
    # web2 has a live device already: it must be neither read nor rewritten.
    fleet.play("site", "--limit", "web2")
    assert xen1.exists(be_dir(2)) and not xen1.exists(be_dir(1))
    mark = xen1.mark()

    run = fleet.play("site", "--limit", "web1")

    assert set(run.recap) == {"web1"}  # xen1 is not in the play, yet activation ran there
    assert xen1.tree(fe_dir(1)) | xen1.tree(be_dir(1)) == libxl_nodes(1)
    reqs = xen1.module_requests(mark)
    assert writes(reqs) and all(r["path"].startswith((fe_dir(1), be_dir(1), "/local/domain/0/backend/mydevice/1"))
                                for r in writes(reqs))
    # (listing the domains, xen_domain_info reads which device types web2 has: that is all)
    assert touches(reqs, "/local/domain/2/device/") == []
    assert touches(reqs, "/local/domain/0/backend/%s/2" % TYPE) == []


def test_guest_restart_moves_devices_to_the_new_domid_and_prunes_the_old(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2"})
    fleet.guest("web1", "xen1", devids=(0, 1))
    fleet.guest("web2", "xen1")
    fleet.play("site")
    web2_before = xen1.tree(be_dir(2)) | xen1.tree(fe_dir(2))

    xen1.destroy(1)
    xen1.create(7, "web1")  # restarted: same name, new domid
    assert xen1.exists(be_dir(1))  # xl leaves custom backend dirs behind

    run = fleet.play("site")

    for devid in (0, 1):
        assert xen1.tree(fe_dir(7, devid)) | xen1.tree(be_dir(7, devid)) == libxl_nodes(7, devid)
    assert not xen1.exists("/local/domain/0/backend/%s/1" % TYPE)
    assert xen1.tree(be_dir(2)) | xen1.tree(fe_dir(2)) == web2_before
    assert "mydevice/1 of web1 (domid 7): frontend 4 (Connected)" in run.output


def test_prune_stale_collects_dead_domains_only_and_can_be_disabled(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2", 3: "other"})
    fleet.guest("web1", "xen1")
    with xen1.client() as cli:
        # leftovers of two dead domains, and a device of a live domain not in the inventory
        for domid in (9, 12):
            cli.write(be_dir(domid) + "/state", "6")
        cli.write(be_dir(3) + "/state", "4")
        cli.write(fe_dir(3) + "/state", "4")
    fleet.xen_vars["xen1"] = {"splitdriver_xen_prune_stale": False}
    fleet.play("site")
    assert xen1.exists(be_dir(9)) and xen1.exists(be_dir(12))

    fleet.xen_vars["xen1"] = {}
    mark = xen1.mark()
    run = fleet.play("site")
    assert run.changed("web1") == 1
    assert not xen1.exists("/local/domain/0/backend/%s/9" % TYPE)
    assert not xen1.exists("/local/domain/0/backend/%s/12" % TYPE)
    assert xen1.exists(be_dir(3)) and xen1.exists(fe_dir(3)) and xen1.exists(be_dir(1))
    assert touches(writes(xen1.module_requests(mark)), "/local/domain/0/backend/%s/3" % TYPE) == []


def test_verify_reports_each_broken_device_and_is_read_only(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2"})
    fleet.guest("web1", "xen1")
    fleet.guest("web2", "xen1", devids=(0, 1))
    fleet.play("site")
    with xen1.client() as cli:  # web2's device 1: the frontend driver gave up
        cli.write(fe_dir(2, 1) + "/state", "6")
    fleet.vars["splitdriver_xen_verify_retries"] = 2
    mark = xen1.mark()

    run = fleet.play("verify", "--check", expect_rc=2)

    assert run.recap["web1"]["failed"] == 0 and run.recap["web2"]["failed"] == 1
    assert re.search(r'"msg": \[\s+"1 device\(s\) of web2 not working:",', run.output), run.output
    assert "mydevice/1 of web2 (domid 2): frontend 6 (Closed), driver not checked; " \
           "backend in domain 0: 4 (Connected), driver not checked; condition: frontend-closed — " \
           "mydevice device 1 of domain 2: the frontend is in state 6 (Closed)" in run.output
    assert "state=absent (force=true if the backend driver is gone) and add it again with state=present. " \
           "-- NOT WORKING" in run.output
    assert "mydevice/0 of web2 (domid 2): frontend 4 (Connected)" in run.output
    assert writes(xen1.requests(mark)) == []
    # without --check too: verify never writes
    mark = xen1.mark()
    fleet.play("verify", expect_rc=2)
    assert writes(xen1.requests(mark)) == []


def test_verify_names_each_condition_and_fails_only_that_guest(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2", 3: "web3"})
    for name in ("web1", "web2", "web3"):
        fleet.guest(name, "xen1")
    fleet.play("site")
    with xen1.client() as cli:
        cli.write(be_dir(2) + "/state", "6")  # web2's backend driver was unloaded
        cli.write(be_dir(9) + "/state", "6")  # a dead guest's leftover: nobody's device
    fleet.vars["splitdriver_xen_verify_retries"] = 50
    mark = xen1.mark()

    run = fleet.play("verify", expect_rc=2)

    assert {host: r["failed"] for host, r in run.recap.items()} == {"web1": 0, "web2": 1, "web3": 0}, run.output
    assert "mydevice/0 of web2 (domid 2): frontend 4 (Connected), driver not checked; backend in domain 0: " \
           "6 (Closed), driver not checked; condition: backend-closed — mydevice device 0 of domain 2: the backend " \
           "in domain 0 is in state 6 (Closed), the frontend in state 4 (Connected)" in run.output
    for guest, domid in (("web1", 1), ("web3", 3)):
        assert "mydevice/0 of %s (domid %d): frontend 4 (Connected), driver not checked; backend in domain 0: " \
               "4 (Connected), driver not checked; condition: ok\"" % (guest, domid) in run.output
    assert "/9/" not in run.output.split("PLAY RECAP")[0].split("Check that the frontend driver")[1]
    reqs = xen1.requests(mark)
    assert writes(reqs) == []
    assert [r["path"] for r in reqs if r["op"] == "TRANSACTION_END"] == ["F", "F"]
    # waiting cannot cure a Closed backend: one read, not 50 (xen_domain_info, then the info module)
    assert sum(r["op"] == "TRANSACTION_START" for r in reqs) == 2

    # what the message says to do brings it back (the peer connects the new device)
    fleet.play("deactivate", "--limit", "web2", "-e", "splitdriver_xen_force=true")
    run = fleet.play("site", "--limit", "web2")
    assert "mydevice/0 of web2 (domid 2): frontend 4 (Connected), driver not checked; backend in domain 0: " \
           "4 (Connected), driver not checked; condition: ok" in run.output


def test_verify_checks_driver_binding_in_sysfs(fleet):
    # This machine's real sysfs has no xen bus: Connected in XenStore is not enough.
    fleet.xen_host("xen1", {1: "web1"})
    fleet.guest("web1", "xen1")
    fleet.vars["splitdriver_xen_check_sysfs"] = True
    run = fleet.play("site", expect_rc=2)
    assert "mydevice/0 of web1 (domid 1): frontend 4 (Connected), no driver bound; " \
           "backend in domain 0: 4 (Connected), no driver bound; condition: ok -- NOT WORKING" in run.output
    # the guest's frontend bus id (<type>-<devid>) and, on its dom0, the backend's (<type>-<domid>-<devid>)
    assert "ok: [web1] => (item=mydevice-0)" in run.output
    assert "ok: [web1 -> xen1] => (item=mydevice-1-0)" in run.output


def test_a_guest_that_is_not_running_fails_alone(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1"})
    fleet.guest("ghost", "xen1")  # first in the batch: it runs xen1's task for both
    fleet.guest("web1", "xen1")
    message = 'Xen domain "ghost" is not running on Xen host xen1'
    for playbook in ("site", "verify"):
        run = fleet.play(playbook, expect_rc=2)
        assert run.recap["ghost"]["failed"] == 1 and run.recap["web1"]["failed"] == 0, run.output
        # (ansible-core < 2.19 prints the failure as JSON, with the quotes escaped)
        assert message in run.output.replace('\\"', '"')
        assert xen1.tree(fe_dir(1)) | xen1.tree(be_dir(1)) == libxl_nodes(1)
        assert "mydevice/0 of web1 (domid 1): frontend 4 (Connected)" in run.output
    run = fleet.play("deactivate")  # nothing of ghost's is left to remove: not an error
    assert not xen1.exists("/local/domain/0/backend/%s" % TYPE)


def test_serial_rolls_out_batch_by_batch_and_stops_on_failure(fleet):
    xen1 = fleet.xen_host("xen1", {1: "g1", 2: "g2", 4: "g4"})
    for name in ("g1", "g2", "ghost", "g4"):
        fleet.guest(name, "xen1")
    mark = xen1.mark()
    run = fleet.play("site", "-e", "splitdriver_xen_serial=1", "-e", "splitdriver_xen_max_fail_percentage=0",
                     expect_rc=2)
    # one transaction per batch, each carrying only its guest's devices; the rollout stopped
    # at the guest whose domain does not exist, before g4
    reqs = xen1.module_requests(mark)
    assert len({r["conn"] for r in writes(reqs)}) == 2
    assert xen1.exists(be_dir(1)) and xen1.exists(be_dir(2))
    assert not xen1.exists("/local/domain/0/backend/%s/4" % TYPE)
    assert run.recap["ghost"]["failed"] == 1
    assert "g4" not in run.recap or run.recap["g4"]["ok"] == 0

    # without a failure budget the others go on
    fleet.guests.pop("ghost")
    fleet.play("site", "-e", "splitdriver_xen_serial=2")
    assert xen1.exists(be_dir(4))


def test_deactivate_removes_devices_with_the_handshake(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2"})
    fleet.guest("web1", "xen1")
    fleet.guest("web2", "xen1")
    fleet.play("site")
    web2 = xen1.tree(be_dir(2)) | xen1.tree(fe_dir(2))

    run = fleet.play("deactivate", "--limit", "web1")
    assert run.changed("web1") == 1
    assert not xen1.exists("/local/domain/1/device/%s" % TYPE)
    assert not xen1.exists("/local/domain/0/backend/%s/1" % TYPE)
    assert xen1.tree(be_dir(2)) | xen1.tree(fe_dir(2)) == web2

    fleet.play("deactivate")
    assert not xen1.exists("/local/domain/0/backend/%s" % TYPE)
    assert xen1.exists("/local/domain/0/backend") and xen1.exists("/local/domain/2/device")
    run = fleet.play("deactivate")
    assert all(r["changed"] == 0 for r in run.recap.values())


def test_bad_inventory_fails_clearly_and_writes_nothing(fleet):
    xen1 = fleet.xen_host("xen1", {1: "web1"})
    fleet.guest("web1", "xen1", splitdriver_xen_devices=[{"type": TYPE, "devid": -1}])
    mark = xen1.mark()
    run = fleet.play("site", expect_rc=2)
    assert "fleet_devices: web1: splitdriver_xen_devices[0]: devid must be an integer from 0 to 2147483647, got -1" \
        in run.output
    assert writes(xen1.requests(mark)) == []


def test_example_inventory_is_valid_for_every_playbook():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS)
    example = os.path.join(ROOT, "playbooks", "inventory", "example.yml")
    # the plan real Ansible makes of it: one device list per Xen host
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible"), "-i", example, "web1.example.org", "-c", "local",
         "-e", "ansible_python_interpreter=" + MANAGED_PYTHON, "-m", "ansible.builtin.debug",
         "-a", "msg={{ hostvars | splitdriver.xen.fleet_devices(groups.xen_frontends) | to_json }}"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = json.loads(json.loads(proc.stdout.split("=>", 1)[1])["msg"])
    assert plan["xen1.example.org"]["guests"] == ["web1.example.org", "web2.example.org"]
    assert [(d["frontend"], d["devid"]) for d in plan["xen1.example.org"]["devices"]] == [
        ("web1", 0), ("web2", 0), ("web2", 1)]
    assert plan["xen2.example.org"]["backend_domains"] == ["netdrv"]
    for playbook in ("site", "verify", "deactivate"):
        proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", example, "--syntax-check", "splitdriver.xen." + playbook],
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_site_rolls_out_to_the_guests_the_inventory_plugin_lists(fleet):
    """No hand-written guest list: the splitdriver.xen.xen plugin lists the guests of both Xen
    hosts (running its listing against each daemon), a static file holds only the dom0s, and
    the devices come from group_vars of the plugin's xen_host_* groups."""
    xen1 = fleet.xen_host("xen1", {1: "web1", 2: "web2"})
    xen2 = fleet.xen_host("xen2", {3: "db1"})
    invdir = os.path.join(fleet.workdir, "inventory")
    os.makedirs(os.path.join(invdir, "group_vars"))

    def write(name, data):
        with open(os.path.join(invdir, name), "w") as out:
            json.dump(data, out, indent=1)  # JSON is YAML

    write("dom0s.yml", {"all": {"vars": fleet.vars, "children": {"xen_backends": {"hosts": {
        name: {"splitdriver_xen_xenstore_socket": daemon.socket} for name, daemon in fleet.daemons.items()}}}}})
    write("guests.xen.yml", {"plugin": "splitdriver.xen.xen", "transport": "local", "read_state": False,
                             "xen_hosts": [{"name": name, "environment": {"XENSTORED_PATH": daemon.socket}}
                                           for name, daemon in fleet.daemons.items()]})
    write("group_vars/xen_host_xen1.yml", {"splitdriver_xen_devices": [{"type": TYPE, "devids": [0, 1]}]})
    write("group_vars/xen_host_xen2.yml", {"splitdriver_xen_devices": [{"type": TYPE}]})

    run = fleet.play("site", inventory=invdir)

    for domid, devids in ((1, (0, 1)), (2, (0, 1))):
        for devid in devids:
            assert xen1.tree(fe_dir(domid, devid)) | xen1.tree(be_dir(domid, devid)) == libxl_nodes(domid, devid)
    assert xen2.tree(fe_dir(3)) | xen2.tree(be_dir(3)) == libxl_nodes(3)
    assert not xen2.exists(fe_dir(3, 1))
    assert set(run.recap) == {"xen1", "xen2", "web1", "web2", "db1"}
    assert "mydevice/1 of web2 (domid 2): frontend 4 (Connected)" in run.output

    # the next listing sees the devices: every guest is in xen_device_mydevice
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", invdir,
                           "--graph", "xen_device_%s" % TYPE],
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(re.findall(r"--(\w+)$", proc.stdout, re.M)) == ["db1", "web1", "web2"], proc.stdout

    # converged: changed=0 everywhere and no write request at all
    marks = {name: d.mark() for name, d in fleet.daemons.items()}
    run = fleet.play("site", inventory=invdir)
    assert all(r["changed"] == 0 for r in run.recap.values()), run.output
    for name, daemon in fleet.daemons.items():
        assert writes(daemon.requests(marks[name])) == []
