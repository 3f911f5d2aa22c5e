# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The splitdriver.xen.xen inventory plugin, run for real.

Real ``ansible-inventory --list`` against several test XenStore daemons, each standing for
one Xen host seeded like an xl host. The plugin runs its real listing command
(``xenstore-ls -f /local/domain`` and, if installed, ``xl list``) with ``transport: local`` and
each host's ``XENSTORED_PATH``: Debian's xenstore-utils read the daemon over its socket. Work
is counted from the daemons' request logs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest
import yaml
from ansible.release import __version__ as ANSIBLE_CORE_VERSION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(ROOT, "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from xenstored.daemon import XenstoredProcess  # noqa: E402  (the test daemon lives under tests/)
from xenstored.seed import domain_uuid  # noqa: E402

pytestmark = pytest.mark.slow

COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")
ANSIBLE_INVENTORY = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
READ_OPS = {"READ", "DIRECTORY", "DIRECTORY_PART"}
TYPE = "mydevice"


def unwrap(value):
    """ansible-inventory marks strings from inventory plugins as ``{"__ansible_unsafe": s}``."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


class Inventory:
    """What ``ansible-inventory --list`` printed, and what it warned."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        self.data = unwrap(json.loads(proc.stdout)) if proc.returncode == 0 else {}
        self.hostvars = self.data.get("_meta", {}).get("hostvars", {})

    def group(self, name):
        return self.data.get(name, {}).get("hosts", [])

    def warnings(self):
        return " ".join(self.stderr.split())  # Ansible wraps long warnings


class Lab:
    """Test daemons standing for Xen hosts, plugin configurations and ansible-inventory runs."""

    def __init__(self, factory, workdir):
        self.factory = factory
        self.workdir = workdir
        self.daemons = {}
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
                        ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"),
                        # an inventory source that fails is an error, not an empty inventory
                        ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")

    def xen_host(self, name, guests):
        daemon = self.factory(seed_xl=guests)
        self.daemons[name] = daemon
        return daemon

    def host_entry(self, name, socket=None):
        return {"name": name, "environment": {"XENSTORED_PATH": socket or self.daemons[name].socket}}

    def config(self, text="", hosts=None, name="fleet.xen.yml", **options):
        """Write a plugin configuration: every daemon (or ``hosts``) as a local Xen host, then
        ``options``, then ``text`` (YAML)."""
        data = {"plugin": "splitdriver.xen.xen", "transport": "local",
                "xen_hosts": hosts if hosts is not None else [self.host_entry(n) for n in self.daemons]}
        data.update(options)
        data.update(yaml.safe_load(textwrap.dedent(text)) or {})
        path = os.path.join(self.workdir, name)
        with open(path, "w", encoding="utf-8") as out:
            yaml.safe_dump(data, out)
        return path

    def inventory(self, source, *args, env=None, expect_rc=0):
        proc = subprocess.run([ANSIBLE_INVENTORY, "--list", "-i", source, *args], env=dict(self.env, **(env or {})),
                              cwd=self.workdir, capture_output=True, text=True, timeout=180, check=False)
        assert proc.returncode == expect_rc, "ansible-inventory exited %d:\n%s\n%s" % (
            proc.returncode, proc.stdout, proc.stderr)
        return Inventory(proc)

    def clear_logs(self):
        for daemon in self.daemons.values():
            daemon.clear_log()

    def requests(self):
        return {name: daemon.requests() for name, daemon in self.daemons.items()}


@pytest.fixture
def lab(xenstored_factory, tmp_path):
    return Lab(xenstored_factory, str(tmp_path))


def add_device(daemon, domid, devtype=TYPE, devid=0, backend_domid=0):
    """The frontend and backend directories of one device, as an activation leaves them."""
    with daemon.client() as cli:
        cli.write("/local/domain/%d/device/%s/%d/state" % (domid, devtype, devid), "1")
        cli.write("/local/domain/%d/backend/%s/%d/%d/state" % (backend_domid, devtype, domid, devid), "1")


def guest_vars(xen_host, domid, name, device_types=(), backend_types=(), state=None):
    return {
        "splitdriver_xen_host": xen_host,
        "splitdriver_xen_domain": name,
        "splitdriver_xen_domid": domid,
        "splitdriver_xen_uuid": domain_uuid(name),
        "splitdriver_xen_state": state,
        "splitdriver_xen_device_types": list(device_types),
        "splitdriver_xen_backend_types": list(backend_types),
    }


# ----------------------------------------------------------------------------------- tests

def test_lists_the_guests_of_several_xen_hosts(lab):
    xen1 = lab.xen_host("xen1", {1: "web1", 2: "web2", 5: "netdrv"})
    xen2 = lab.xen_host("xen2.example.org", {3: "db1"})
    xen3 = lab.xen_host("xen3", {4: "app1"})
    add_device(xen1, 1, devid=0)
    add_device(xen1, 1, devid=1)
    add_device(xen1, 2, devtype="vfoo", backend_domid=5)  # served by the driver domain netdrv
    add_device(xen2, 3)
    lab.clear_logs()

    inv = lab.inventory(lab.config(read_state=False))

    assert inv.hostvars == {
        "web1": guest_vars("xen1", 1, "web1", [TYPE]),
        "web2": guest_vars("xen1", 2, "web2", ["vfoo"]),
        "netdrv": guest_vars("xen1", 5, "netdrv", backend_types=["vfoo"]),
        "db1": guest_vars("xen2.example.org", 3, "db1", [TYPE]),
        "app1": guest_vars("xen3", 4, "app1"),
    }
    assert inv.group("xen_frontends") == ["web1", "web2", "netdrv", "db1", "app1"]
    assert inv.group("xen_backends") == ["xen1", "xen2.example.org", "xen3"]
    assert inv.group("xen_host_xen1") == ["web1", "web2", "netdrv"]
    assert inv.group("xen_host_xen2_example_org") == ["db1"]
    assert inv.group("xen_host_xen3") == ["app1"]
    assert inv.group("xen_device_mydevice") == ["web1", "db1"]
    assert inv.group("xen_device_vfoo") == ["web2"]
    assert "Domain-0" not in inv.hostvars and "WARNING" not in inv.stderr
    # one xenstore-ls walk per Xen host, reading only
    for name, reqs in lab.requests().items():
        assert reqs, name
        assert {r["op"] for r in reqs} <= READ_OPS, name
        assert len({r["conn"] for r in reqs}) == 1, name


def test_constructed_options_and_naming(lab):
    xen1 = lab.xen_host("xen1", {1: "web1", 2: "web2", 6: "web1-dm"})
    lab.xen_host("xen2", {3: "db1", 4: "web1"})  # the same domain name on another Xen host
    add_device(xen1, 1)
    config = lab.config(
        """
        hostname: splitdriver_xen_domain ~ '.' ~ splitdriver_xen_host
        exclude_domains: ['*-dm']
        frontends_group: guests
        backends_group: ''
        compose:
          ansible_host: splitdriver_xen_domain ~ '.example.org'
          xen_guest_domid: splitdriver_xen_domid + 1000
        groups:
          with_devices: splitdriver_xen_device_types | length > 0
        keyed_groups:
          - key: splitdriver_xen_device_types
            prefix: has
          - key: splitdriver_xen_host
            prefix: guest_of
        """,
        read_state=False)

    inv = lab.inventory(config)

    assert sorted(inv.hostvars) == ["db1.xen2", "web1.xen1", "web1.xen2", "web2.xen1"]
    web1 = inv.hostvars["web1.xen1"]
    assert web1["splitdriver_xen_domain"] == "web1" and web1["ansible_host"] == "web1.example.org"
    # (ansible-core < 2.19 templates compose expressions to strings)
    assert int(web1["xen_guest_domid"]) == 1001 and int(inv.hostvars["web1.xen2"]["xen_guest_domid"]) == 1004
    assert inv.group("guests") == ["web1.xen1", "web2.xen1", "db1.xen2", "web1.xen2"]
    assert inv.group("xen_frontends") == [] and inv.group("xen_backends") == []
    assert inv.group("with_devices") == ["web1.xen1"] and inv.group("has_mydevice") == ["web1.xen1"]
    assert inv.group("guest_of_xen2") == ["db1.xen2", "web1.xen2"]
    assert inv.group("xen_host_xen1") == ["web1.xen1", "web2.xen1"]

    # named by domain name only, the second web1 is left out with a warning naming both
    inv = lab.inventory(lab.config(read_state=False))
    assert inv.hostvars["web1"]["splitdriver_xen_host"] == "xen1"
    assert "web1-dm" in inv.hostvars
    assert "inventory name 'web1' is already taken by domain web1 (1) on xen1; domain web1 (4) on xen2 left out" \
        in inv.warnings()
    # ...which strict makes an error
    inv = lab.inventory(lab.config("strict: true\n", read_state=False), expect_rc=1)
    assert "already taken by domain web1 (1) on xen1" in inv.warnings()


def test_bad_configuration_fails_naming_the_option(lab):
    lab.xen_host("xen1", {1: "web1"})
    inv = lab.inventory(lab.config(hosts=[{"name": "xen1", "port": 70000}]), expect_rc=1)
    assert "xen_hosts[0].port must be an integer from 1 to 65535, got 70000" in inv.warnings()
    inv = lab.inventory(lab.config("hostname: no_such_variable ~ 'x'\n"), expect_rc=1)
    assert "hostname: could not evaluate" in inv.warnings() and "no_such_variable" in inv.warnings()
    inv = lab.inventory(lab.config("hostname: splitdriver_xen_domid\n"), expect_rc=1)
    assert "hostname gave 1 for domain web1 on xen1: need a non-empty string" in inv.warnings()
    assert lab.daemons["xen1"].count() > 0  # listed, then the name could not be made: no inventory at all


def test_a_failed_xen_host_is_a_warning_and_the_others_are_listed(lab):
    lab.xen_host("xen1", {1: "web1"})
    stalled = lab.xen_host("stalled", {2: "web2"})
    stalled.fault("stall", op="DIRECTORY")
    gone = os.path.join(lab.workdir, "no-such-socket")
    hosts = [lab.host_entry("xen1"), lab.host_entry("down", gone), lab.host_entry("stalled"),
             {"name": "sshdown", "transport": "ssh", "address": "127.0.0.1", "port": 1, "ssh_args": ["-F", "/dev/null"]}]

    inv = lab.inventory(lab.config(hosts=hosts, timeout=3))

    assert list(inv.hostvars) == ["web1"]
    assert inv.group("xen_backends") == ["xen1", "down", "stalled", "sshdown"]
    warnings = inv.warnings()
    assert ("Xen host down (local) could not be listed, its guests are missing: the listing command exited with 1: "
            "xenstore-ls: xs_open: No such file or directory") in warnings
    assert ("Xen host stalled (local) could not be listed, its guests are missing: the listing command timed out "
            "after 3 s") in warnings
    assert ("Xen host sshdown (ssh 127.0.0.1:1) could not be listed, its guests are missing: ssh exited with 255: "
            "ssh: connect to host 127.0.0.1 port 1: Connection refused") in warnings
    # the timed-out listing left no process behind
    assert processes_with_env("XENSTORED_PATH=" + stalled.socket) == []

    inv = lab.inventory(lab.config("strict: true\n", hosts=hosts[:2]), expect_rc=1)
    assert "Xen host down (local) could not be listed" in inv.warnings()


def processes_with_env(entry):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/environ" % pid, "rb") as handle:
                if entry.encode() in handle.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_cache_serves_the_second_run_and_asks_only_failed_hosts_again(lab):
    xen1 = lab.xen_host("xen1", {1: "web1"})
    xen2 = lab.xen_host("xen2", {2: "web2"})
    late_dir = tempfile.mkdtemp(prefix="xs", dir="/tmp")  # xen3 is down at first
    late = XenstoredProcess(late_dir, seed_xl={3: "web3"})
    hosts = [lab.host_entry("xen1"), lab.host_entry("xen2"), lab.host_entry("xen3", late.socket)]
    cache_dir = os.path.join(lab.workdir, "cache")
    config = lab.config(hosts=hosts, read_state=False, cache=True, cache_plugin="ansible.builtin.jsonfile",
                        cache_connection=cache_dir, cache_timeout=3600)
    try:
        lab.clear_logs()
        inv = lab.inventory(config)
        assert sorted(inv.hostvars) == ["web1", "web2"] and "Xen host xen3 (local) could not be listed" in inv.warnings()
        first = {name: len(reqs) for name, reqs in lab.requests().items()}
        assert all(first.values()), first
        assert os.listdir(cache_dir)

        # second run: nothing asked of xen1 and xen2, even though xen1 changed meanwhile
        xen1.create_domain(7, "web7")
        lab.clear_logs()
        inv = lab.inventory(config)
        assert sorted(inv.hostvars) == ["web1", "web2"] and "xen3" in inv.warnings()
        assert lab.requests() == {"xen1": [], "xen2": []}

        # xen3 comes up: only it is asked; the others still come from the cache
        late.start()
        inv = lab.inventory(config)
        assert sorted(inv.hostvars) == ["web1", "web2", "web3"] and "WARNING" not in inv.stderr
        assert lab.requests() == {"xen1": [], "xen2": []} and late.count() > 0
        assert inv.hostvars["web3"]["splitdriver_xen_host"] == "xen3"

        # --flush-cache asks everybody again and sees web7 (ansible-inventory has the option since
        # ansible-core 2.19; before, removing the cache is the way)
        late.clear_log()
        if tuple(int(part) for part in ANSIBLE_CORE_VERSION.split(".")[:2]) >= (2, 19):
            inv = lab.inventory(config, "--flush-cache")
        else:
            shutil.rmtree(cache_dir)
            inv = lab.inventory(config)
        assert sorted(inv.hostvars) == ["web1", "web2", "web3", "web7"]
        assert {name: len(reqs) for name, reqs in lab.requests().items()} == first | {"xen1": xen1.count()}
        assert xen1.count() > first["xen1"] and late.count() > 0
    finally:
        late.cleanup()
        shutil.rmtree(late_dir, ignore_errors=True)


def test_run_states_come_from_xl_list(lab):
    lab.xen_host("xen1", {1: "web1", 2: "web2", 3: "web3"})
    # This machine runs no hypervisor: an `xl` on PATH prints what xl_info.c prints for
    # these domains, and leaves a mark that it ran.
    bindir = os.path.join(lab.workdir, "bin")
    os.mkdir(bindir)
    mark = os.path.join(lab.workdir, "xl-ran")
    rows = [("Domain-0", 0, "r-----"), ("web1", 1, "-b----"), ("web2", 2, "--p---"), ("web3", 3, "---sc-")]
    table = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n" + "".join(
        "%-40s %5d %5lu %5d     %s  %8.1f\n" % (name, domid, 384, 1, flags, 1.5) for name, domid, flags in rows)
    with open(os.path.join(bindir, "xl"), "w", encoding="utf-8") as out:
        out.write("#!/bin/sh\n[ \"$1\" = list ] || exit 2\ntouch %s\ncat <<'EOF'\n%sEOF\n" % (mark, table))
    os.chmod(os.path.join(bindir, "xl"), 0o755)
    env = {"PATH": bindir + os.pathsep + os.environ["PATH"]}

    inv = lab.inventory(lab.config("keyed_groups: [{key: splitdriver_xen_state, prefix: state}]\n"), env=env)

    assert {h: v["splitdriver_xen_state"] for h, v in inv.hostvars.items()} == {
        "web1": "running", "web2": "paused", "web3": "crashed"}
    assert inv.group("state_running") == ["web1"] and inv.group("state_crashed") == ["web3"]
    assert os.path.exists(mark)

    os.unlink(mark)
    inv = lab.inventory(lab.config(read_state=False), env=env)
    assert {v["splitdriver_xen_state"] for v in inv.hostvars.values()} == {None}
    assert not os.path.exists(mark)
