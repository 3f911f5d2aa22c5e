# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Concurrent controllers: 8 ``ansible-playbook`` processes run ``splitdriver.xen.xenstore_device``
against ONE test XenStore daemon at the same moment.

The daemon is seeded like an xl host with four guests; ``guest4`` also serves the ``conx``
devices as a driver domain. Each controller is its own ``ansible-playbook`` process (half of
them with Debian's pyxs on ``/usr/bin/python3``, half with PyPI's in the venv), all started
together. Afterwards the whole ``/local/domain`` tree is read with Debian's ``xenstore-ls -f -p``
and must equal the expected tree exactly (values and permissions of every node, nothing more,
nothing less), and the work is counted from the daemon's request log: transactions started,
commits, conflicts (EAGAIN answered to TRANSACTION_END; the module re-runs the transaction)
and requests per module run (one connection each).
"""

from __future__ import annotations

import collections
import fcntl
import re
import threading
import time

import pytest

# The playbook tests' helpers (pytest puts this directory on sys.path).
from test_xenstore_device_playbooks import (
    LIBXL_BACKEND, LIBXL_FRONTEND, MANAGED_PYTHON, MODULE, VENV_PYTHON, WRITE_OPS, ops,
    per_connection, run_playbook, xenstore,
)

pytestmark = pytest.mark.slow

CONTROLLERS = 8
GUESTS = {1: "guest1", 2: "guest2", 3: "guest3", 4: "guest4"}
DRIVER_DOMAIN = 4
# Bound for one whole batch of concurrent playbooks (each run_playbook() is bounded too).
BATCH_TIMEOUT = 420

Dev = collections.namedtuple("Dev", "type frontend devid backend")


# ------------------------------------------------------------------------- expected trees
def entries(dev):
    """Extra keys of a device (the same for every controller): ``blkx`` devices carry some."""
    if dev.type != "blkx":
        return {}, {}
    return {"virtual-device": str(51712 + 16 * dev.devid)}, {"mode": "w"}


def spec(dev, by_name=False):
    """The module's ``devices`` entry for ``dev`` (frontend by domain name or by domid)."""
    fe_entries, be_entries = entries(dev)
    item = dict(type=dev.type, frontend=GUESTS[dev.frontend] if by_name else dev.frontend,
                devid=dev.devid, backend_domid=dev.backend)
    if fe_entries:
        item.update(frontend_entries=fe_entries, backend_entries=be_entries)
    return item


def device_nodes(dev):
    """libxl's nodes of one device, ``{path: (value, perms)}`` in creation order."""
    fe_dir = "/local/domain/%d/device/%s/%d" % (dev.frontend, dev.type, dev.devid)
    be_dir = "/local/domain/%d/backend/%s/%d/%d" % (dev.backend, dev.type, dev.frontend, dev.devid)
    fe_perms = "n%d,r%d" % (dev.frontend, dev.backend)
    be_perms = "n%d,r%d" % (dev.backend, dev.frontend)
    fe_entries, be_entries = entries(dev)
    nodes = {fe_dir: ("", fe_perms), fe_dir + "/backend": (be_dir, fe_perms),
             fe_dir + "/backend-id": (str(dev.backend), fe_perms)}
    nodes.update((fe_dir + "/" + key, (value, fe_perms)) for key, value in fe_entries.items())
    nodes[fe_dir + "/state"] = ("1", fe_perms)
    nodes[be_dir] = ("", be_perms)
    nodes.update({be_dir + "/frontend": (fe_dir, be_perms),
                  be_dir + "/frontend-id": (str(dev.frontend), be_perms),
                  be_dir + "/online": ("1", be_perms)})
    nodes.update((be_dir + "/" + key, (value, be_perms)) for key, value in be_entries.items())
    nodes[be_dir + "/state"] = ("1", be_perms)
    return nodes


def is_device_dir(path):
    """A device's own directory (it ends in the devid) rather than one of its keys."""
    return re.search(r"/[0-9]+$", path) is not None


def expected_tree(baseline, devices):
    """``baseline`` plus every node of ``devices`` and the directories above them, which
    XenStore creates with the permissions of their nearest existing ancestor."""
    tree = dict(baseline)
    for dev in sorted(devices):
        nodes = device_nodes(dev)
        for directory in filter(is_device_dir, nodes):
            missing = []
            parent = directory.rsplit("/", 1)[0]
            while parent not in tree:
                missing.append(parent)
                parent = parent.rsplit("/", 1)[0]
            for path in reversed(missing):
                tree[path] = ("", tree[parent][1])
        tree.update(nodes)
    return tree


def render(tree, base):
    """``xenstore-ls -p <base>`` text of a tree (as ``xenstore_ls()`` squeezes it)."""
    return "".join('%s%s = "%s"  (%s)\n' % (" " * (path[len(base) + 1:].count("/")),
                                            path.rsplit("/", 1)[1], value, perms)
                   for path, (value, perms) in tree.items() if path.startswith(base + "/"))


def read_tree(daemon, path="/local/domain"):
    """Every node below ``path`` as ``{path: (value, perms)}``, read with ``xenstore-ls -f -p``
    (full paths, values never shortened); a path listed twice fails."""
    tree = {}
    for line in xenstore(daemon, "xenstore-ls", "-f", "-p", path).stdout.splitlines():
        match = re.match(r'^(/\S*) = "(.*)"\s+\((\S+)\)$', line)
        assert match, line
        assert match.group(1) not in tree, "listed twice: " + line
        tree[match.group(1)] = (match.group(2), match.group(3))
    return tree


def assert_no_half_device(tree):
    """Every frontend dir holds its protocol keys and names a backend dir that exists and names
    it back, and the other way round: no device is half-written."""
    frontends = [p for p in tree if re.match(r"^/local/domain/\d+/device/[^/]+/\d+$", p)]
    backends = [p for p in tree if re.match(r"^/local/domain/\d+/backend/[^/]+/\d+/\d+$", p)]
    for fe_dir in frontends:
        for key in ("backend", "backend-id", "state"):
            assert fe_dir + "/" + key in tree, "%s lacks %s" % (fe_dir, key)
        be_dir = tree[fe_dir + "/backend"][0]
        assert be_dir in backends, "%s names %s, which does not exist" % (fe_dir, be_dir)
    for be_dir in backends:
        for key in ("frontend", "frontend-id", "online", "state"):
            assert be_dir + "/" + key in tree, "%s lacks %s" % (be_dir, key)
        fe_dir = tree[be_dir + "/frontend"][0]
        assert fe_dir in frontends, "%s names %s, which does not exist" % (be_dir, fe_dir)
        assert tree[fe_dir + "/backend"][0] == be_dir
    return len(frontends)


def test_expected_nodes_are_libxls():
    """The expectations built here agree with the playbook tests' libxl layout."""
    baseline = {"/local/domain/1/device": ("", "n0,r1"), "/local/domain/0/backend": ("", "n0")}
    tree = expected_tree(baseline, [Dev("mydevice", 1, 0, 0)])
    assert render(tree, "/local/domain/1/device/mydevice") == LIBXL_FRONTEND
    assert render(tree, "/local/domain/0/backend/mydevice") == LIBXL_BACKEND


def test_daemon_conflicts_like_c_xenstored(xenstored):
    """The conflicts counted below are those C xenstored 4.17 would answer: a commit fails
    when a node the transaction read (missing nodes and, through errno_from_parents(), their
    ancestors up to an existing one included) changed meanwhile, and only then."""
    with xenstored.client() as tx, xenstored.client() as other:
        other.write("/t/dir/a", "0")
        tx.transaction_start()
        assert not tx.exists("/t/dir/missing")         # reads /t/dir too
        tx.write("/t/elsewhere", "1")
        other.write("/t/dir/b", "0")                    # /t/dir's child list changes
        assert tx.transaction_end() is False            # EAGAIN
        tx.transaction_start()
        assert not tx.exists("/t/dir/missing")
        tx.write("/t/elsewhere", "1")
        other.write("/t/dir/a", "1")                    # a sibling's value: not read, no conflict
        assert tx.transaction_end() is True


# -------------------------------------------------------------------- concurrent controllers
def run_concurrently(tmp_path, daemon, plays, together=True, dump=True):
    """Start one ``ansible-playbook`` per task list at the same moment (a thread each waits
    for its process, bounded by run_playbook()) and wait for all; returns (runs, wall time).

    ``together``: each play first says it is ready and blocks on a lock this function holds,
    released once all are ready, so that their module runs start together (ansible-playbook
    start-up alone spreads them over seconds on a busy machine).
    """
    barrier = threading.Barrier(len(plays))
    outcomes = [None] * len(plays)
    workdirs = [tmp_path / ("controller%d" % index) for index in range(len(plays))]
    # Held (exclusive) until every controller waits for it (shared); closed by "with gate".
    gate = open(tmp_path / "gate.lock", "wb")  # pylint: disable=consider-using-with
    fcntl.flock(gate, fcntl.LOCK_EX)

    def controller(index, tasks):
        workdir = workdirs[index]
        workdir.mkdir(exist_ok=True)
        (workdir / "ready").unlink(missing_ok=True)
        if together:
            wait = "touch %s && exec flock --shared %s true" % (workdir / "ready", gate.name)
            tasks = [{"name": "wait for the others", "ansible.builtin.command": {"argv": ["sh", "-c", wait]},
                      "changed_when": False}] + tasks
        python = MANAGED_PYTHON if index % 2 == 0 else VENV_PYTHON
        try:
            barrier.wait(60)
            outcomes[index] = run_playbook(workdir, daemon, tasks, python=python, dump=dump)
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            outcomes[index] = exc  # reported by the main thread

    threads = [threading.Thread(target=controller, args=(index, tasks), daemon=True)
               for index, tasks in enumerate(plays)]
    started = time.monotonic()
    deadline = started + BATCH_TIMEOUT
    with gate:
        for thread in threads:
            thread.start()
        while together and not all((workdir / "ready").exists() for workdir in workdirs):
            if time.monotonic() > deadline or not all(thread.is_alive() for thread in threads):
                break
            time.sleep(0.05)
        time.sleep(0.2)  # the last one reaches its flock
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    wall = time.monotonic() - started
    for index, outcome in enumerate(outcomes):
        if outcome is None:
            pytest.fail("controller %d did not finish within %d s" % (index, BATCH_TIMEOUT))
        if isinstance(outcome, BaseException):
            pytest.fail("controller %d: %s" % (index, outcome))
        assert outcome.recap["failed"] == 0, outcome.stdout
        for name, result in outcome.results.items():
            assert not result.get("failed"), (index, name, result)
    return outcomes, wall


def tally(daemon, wall):
    """What the daemon's log says about a batch of module runs (one connection each).

    The log is in the order the daemon served the requests. A transaction whose
    TRANSACTION_END was answered OK committed if it wrote, else it was an abort (the module
    aborts a transaction with nothing to write); EAGAIN is a conflict, re-run by the module.
    ``overlapping`` counts transactions that were open while another connection's was, and
    ``most_open`` is the most transactions open at one moment.
    """
    log = daemon.requests()
    runs = per_connection(daemon)
    modules = {run[0]["conn"] for run in runs}
    opened, spans, written = {}, [], set()
    commits = aborts = eagain = 0
    committed_writes = []
    pending = collections.defaultdict(list)
    for index, entry in enumerate(log):
        conn, tx = entry["conn"], entry["tx"]
        if conn not in modules:
            continue
        if entry["op"] == "TRANSACTION_START":
            opened[conn] = index
        elif entry["op"] in WRITE_OPS:
            written.add((conn, tx))
            pending[(conn, tx)].append(entry)
        elif entry["op"] == "TRANSACTION_END":
            spans.append((opened.pop(conn), index, conn))
            if entry["result"] == "EAGAIN":
                eagain += 1
            elif entry["result"] == "OK" and (conn, tx) in written:
                commits += 1
                committed_writes += pending[(conn, tx)]
            elif entry["result"] == "OK":
                aborts += 1
    overlapping = sum(any(o_start < end and start < o_end and o_conn != conn for o_start, o_end, o_conn in spans)
                      for start, end, conn in spans)
    most_open = max((sum(o_start <= start < o_end for o_start, o_end, _c in spans) for start, _e, _c in spans),
                    default=0)
    requests = sorted(len(run) for run in runs)
    return dict(
        runs=len(runs),
        started=sum(e["op"] == "TRANSACTION_START" for run in runs for e in run),
        commits=commits, aborts=aborts, eagain=eagain,
        overlapping=overlapping, most_open=most_open,
        writes=sum(len(ops(run, WRITE_OPS)) for run in runs),
        writes_outside=sum(e["tx"] == 0 for run in runs for e in ops(run, WRITE_OPS)),
        committed_writes=committed_writes,
        requests="%d..%d (total %d)" % (requests[0], requests[-1], sum(requests)),
        wall="%.1f s" % wall,
    )


def report(capsys, label, figures):
    """Print a batch's figures on the terminal, even when pytest captures output."""
    with capsys.disabled():
        print("\n%s: %s" % (label, ", ".join(
            "%s=%s" % (key, value) for key, value in figures.items() if key != "committed_writes")))


def actions(runs):
    """How many devices each run reported per action, over all runs and tasks."""
    counts = collections.Counter()
    for run in runs:
        for result in run.results.values():
            counts.update(device["action"] for device in result["devices"])
    return counts


def device_specs(tasks):
    """The ``devices`` entries of a play's tasks."""
    return [item for task in tasks for item in task[MODULE]["devices"]]


# --------------------------------------------------------------------------------- tests
def overlapping_plays():
    """Controller i: ``netx`` devids 4*(i//2) .. 4*(i//2)+11 for two neighbouring guests (by name), then
    ``blkx`` (extra keys) and ``conx`` (backend in the driver domain) devices by domid; every
    device is wanted by several controllers, every type dir is shared."""
    plays, union = [], set()
    for i in range(CONTROLLERS):
        first, second = i % 4 + 1, (i + 1) % 4 + 1
        net = [Dev("netx", fe, devid, 0) for fe in (first, second) for devid in range(4 * (i // 2), 4 * (i // 2) + 12)]
        other = [Dev("blkx", first, devid, 0) for devid in range(2 * (i % 3), 2 * (i % 3) + 8)]
        other += [Dev("conx", i % 3 + 1, devid, DRIVER_DOMAIN) for devid in range(i % 2, i % 2 + 4)]
        plays.append([
            {"name": "net", MODULE: {"devices": [spec(dev, by_name=True) for dev in net]}},
            {"name": "blk and con", MODULE: {"devices": [spec(dev) for dev in other]}},
        ])
        union.update(net + other)
    return plays, union


@pytest.fixture
def xl_host(xenstored_factory):
    """A test daemon seeded like an xl host with four guests."""
    return xenstored_factory(seed_xl=GUESTS)


def test_overlapping_activation(tmp_path, xl_host, capsys):
    """8 controllers activate overlapping device sets at once: all succeed, each device is
    created by exactly one committed transaction with exactly libxl's nodes, values and perms,
    nobody sees a half-written device; a second concurrent round changes and writes nothing."""
    daemon = xl_host
    baseline = read_tree(daemon)
    daemon.clear_log()
    plays, union = overlapping_plays()

    runs, wall = run_concurrently(tmp_path, daemon, plays)
    figures = tally(daemon, wall)
    report(capsys, "overlapping activation, %d controllers, %d devices" % (CONTROLLERS, len(union)), figures)

    # Every device reported created by exactly one run, unchanged by the others; no run ever
    # found one half-written (it would have repaired it).
    counts = actions(runs)
    assert counts == {"created": len(union), "unchanged": sum(map(len, map(device_specs, plays))) - len(union)}
    # Each module run ends with one successful TRANSACTION_END; each EAGAIN was re-run.
    assert figures["runs"] == 2 * CONTROLLERS
    assert figures["started"] == figures["runs"] + figures["eagain"]
    assert figures["commits"] + figures["aborts"] == figures["runs"]
    assert figures["writes_outside"] == 0
    # Exactly libxl's writes for each device, once, in the transactions that committed.
    committed = collections.Counter((e["op"], e["path"]) for e in figures["committed_writes"])
    wanted = collections.Counter()
    for dev in union:
        for path in device_nodes(dev):
            wanted[("MKDIR" if is_device_dir(path) else "WRITE", path)] += 1
            if is_device_dir(path):
                wanted[("SET_PERMS", path)] += 1
    assert committed == wanted

    tree = read_tree(daemon)
    assert assert_no_half_device(tree) == len(union)
    assert tree == expected_tree(baseline, union)

    daemon.clear_log()
    runs, wall = run_concurrently(tmp_path, daemon, plays, together=False, dump=False)
    again = tally(daemon, wall)
    report(capsys, "re-run, %d controllers" % CONTROLLERS, again)
    assert [run.recap["changed"] for run in runs] == [0] * CONTROLLERS
    assert again["writes"] == 0 and again["eagain"] == 0
    assert again["started"] == again["aborts"] == 2 * CONTROLLERS
    assert read_tree(daemon) == tree


def test_concurrent_removal_and_creation(tmp_path, xl_host, backend_peer, capsys):
    """4 controllers remove existing devices (two with the Closing/Closed handshake answered by
    scripted backend drivers, two with force; their sets overlap) while 4 others create
    different devices in the same type directories: the final tree is exactly the kept plus
    the created devices, with no half-written device and no emptied directory left behind."""
    daemon = xl_host
    baseline = read_tree(daemon)
    keep = [Dev("netx", 3, 0, 0), Dev("netx", 3, 1, 0), Dev("blkx", 4, 0, 0)]
    gone = {
        "r0": [Dev("netx", 1, d, 0) for d in range(12)] + [Dev("netx", 2, d, 0) for d in range(4)],
        "r1": [Dev("netx", 2, d, 0) for d in range(12)] + [Dev("netx", 4, d, 0) for d in range(4)],
        "r2": [Dev("blkx", fe, d, 0) for fe in (1, 2) for d in range(6)],
        "r3": [Dev("conx", 1, d, DRIVER_DOMAIN) for d in range(6)],
        "r3 blk": [Dev("blkx", 2, d, 0) for d in range(4)],
    }
    new = {
        "c4": [Dev("netx", 1, d, 0) for d in range(20, 32)],
        "c5": [Dev("netx", 1, d, 0) for d in range(26, 38)] + [Dev("netx", 2, d, 0) for d in range(20, 26)],
        "c6": [Dev("blkx", fe, d, 0) for fe in (1, 2) for d in (20, 21)]
        + [Dev("conx", 1, d, DRIVER_DOMAIN) for d in range(20, 24)],
        "c7": [Dev("conx", 2, d, DRIVER_DOMAIN) for d in range(20, 26)] + [Dev("netx", 3, d, 0) for d in (20, 21)],
    }
    removed = {dev for devs in gone.values() for dev in devs}
    created = {dev for devs in new.values() for dev in devs}
    run_playbook(tmp_path, daemon, [{"name": "seed", MODULE: {
        "devices": [spec(dev) for dev in sorted(set(keep) | removed)]}}], python=VENV_PYTHON)
    backend_peer(daemon, role="closer", devtype="netx")
    backend_peer(daemon, role="closer", domid=DRIVER_DOMAIN, devtype="conx")
    daemon.clear_log()

    def absent(name, devs, **options):
        return {"name": name, MODULE: dict({"devices": [spec(dev) for dev in devs], "state": "absent"},
                                           **options)}

    plays = [
        [absent("r0", gone["r0"], timeout=120)],
        [absent("r1", gone["r1"], force=True)],
        [absent("r2", gone["r2"], force=True)],
        [absent("r3", gone["r3"], timeout=120), absent("r3 blk", gone["r3 blk"], force=True)],
    ] + [[{"name": name, MODULE: {"devices": [spec(dev, by_name=name in ("c4", "c7")) for dev in devs]}}]
         for name, devs in new.items()]
    runs, wall = run_concurrently(tmp_path, daemon, plays)
    figures = tally(daemon, wall)
    report(capsys, "concurrent removal and creation, %d controllers, %d removed, %d created"
           % (CONTROLLERS, len(removed), len(created)), figures)

    counts = actions(runs)
    assert counts["created"] == len(created) and "repaired" not in counts
    # every removed device was reported removed by at least one of the controllers removing it
    removals = {(d["type"], d["frontend"], d["devid"]) for run in runs[:4] for result in run.results.values()
                for d in result["devices"] if d["action"] == "removed"}
    assert removals == {(dev.type, dev.frontend, dev.devid) for dev in removed}
    assert figures["started"] == figures["commits"] + figures["aborts"] + figures["eagain"]
    assert figures["writes_outside"] == 0
    committed_mkdirs = collections.Counter(e["path"] for e in figures["committed_writes"] if e["op"] == "MKDIR")
    assert committed_mkdirs == collections.Counter(
        path for dev in created for path in device_nodes(dev) if is_device_dir(path))
    kept_dirs = [path for dev in keep for path in device_nodes(dev) if is_device_dir(path)]
    assert not [e for e in figures["committed_writes"]
                if any(e["path"] == d or e["path"].startswith(d + "/") for d in kept_dirs)]

    tree = read_tree(daemon)
    assert assert_no_half_device(tree) == len(keep) + len(created)
    assert tree == expected_tree(baseline, set(keep) | created)
    assert "/local/domain/4/device/netx" not in tree and "/local/domain/0/backend/netx/4" not in tree
