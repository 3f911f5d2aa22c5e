# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults injected into the test XenStore daemon while the real ``ansible-playbook`` runs
``splitdriver.xen.xenstore_device``: commits refused with EAGAIN, connections dropped inside a
transaction or right after a commit, a daemon that stops answering, a backend that never
closes. After each one the store holds either the whole device (libxl's node set and perms)
or nothing of it, and a plain re-run converges.
"""

from __future__ import annotations

import pytest

from test_xenstore_device_playbooks import (  # pylint: disable=import-error
    BE, FE, LIBXL_BACKEND, LIBXL_FRONTEND, MODULE, WRITE_OPS, device, ops, run_playbook,
    xenstore, xenstore_ls,
)

pytestmark = pytest.mark.slow

TWO_DEVICES = {"devices": [device("guest1"), device("guest2")]}


def exists(daemon, path):
    return xenstore(daemon, "xenstore-exists", path, check=False).returncode == 0


def libxl_nodes(domid):
    """What libxl writes for mydevice 0 of guest ``domid`` (backend dom0): the frontend type
    dir and the backend's per-frontend dir, as ``xenstore_ls`` shows them."""
    frontend = LIBXL_FRONTEND.replace("(n1,r0)", "(n%d,r0)" % domid).replace(
        "/backend/mydevice/1/", "/backend/mydevice/%d/" % domid)
    backend = LIBXL_BACKEND.replace("(n0,r1)", "(n0,r%d)" % domid).replace(
        'frontend-id = "1"', 'frontend-id = "%d"' % domid).replace(
        "/local/domain/1/", "/local/domain/%d/" % domid)
    return frontend, backend.replace("\n ", "\n").split("\n", 1)[1]


def assert_complete(daemon):
    """Both devices are there, each exactly as libxl writes it."""
    for domid in (1, 2):
        frontend, backend = libxl_nodes(domid)
        assert xenstore_ls(daemon, "/local/domain/%d/device/mydevice" % domid) == frontend
        assert xenstore_ls(daemon, "/local/domain/0/backend/mydevice/%d" % domid) == backend


def assert_nothing_written(daemon):
    """Not a single node of either device, nor the type dirs above them."""
    for path in ("/local/domain/1/device/mydevice", "/local/domain/2/device/mydevice",
                 "/local/domain/0/backend/mydevice"):
        assert not exists(daemon, path), path


def committed_writes(daemon):
    """Write requests of transactions that committed (per connection and transaction id)."""
    entries = daemon.requests()
    committed = {(e["conn"], e["tx"]) for e in entries
                 if e["op"] == "TRANSACTION_END" and e["path"] == "T" and e["result"] == "OK"}
    return [e for e in ops(entries, WRITE_OPS) if (e["conn"], e["tx"]) in committed]


def converge(tmp_path, daemon):
    """A plain run after the fault: the whole wanted state, then a no-op run."""
    run = run_playbook(tmp_path, daemon, [
        {"name": "converge", MODULE: TWO_DEVICES},
        {"name": "again", MODULE: TWO_DEVICES},
    ])
    assert not run["again"]["changed"]
    assert_complete(daemon)
    return run["converge"]


@pytest.mark.parametrize("conflicts, retries", [(10, None), (3, 3), (0, 0)], ids=["10-of-default-10", "3-of-3", "none-with-0"])
def test_eagain_within_the_retry_bound_gives_the_same_tree(tmp_path, xenstored, conflicts, retries):
    if conflicts:
        xenstored.fault("eagain", count=conflicts)
    args = dict(TWO_DEVICES) if retries is None else dict(TWO_DEVICES, retries=retries)
    run = run_playbook(tmp_path, xenstored, [{"name": "create", MODULE: args}])
    assert run["create"]["changed"]
    assert [d["action"] for d in run["create"]["devices"]] == ["created", "created"]
    assert_complete(xenstored)
    assert xenstored.fault_status()["fired"]["eagain"] == conflicts
    ends = xenstored.requests(op="TRANSACTION_END")
    assert [e["result"] for e in ends] == ["EAGAIN"] * conflicts + ["OK"]
    # every attempt re-read the store and wrote the whole device set again: 11 requests each
    assert len(ops(xenstored.requests(), WRITE_OPS)) == 22 * (conflicts + 1)


@pytest.mark.parametrize("conflicts, retries", [(11, None), (4, 3), (1, 0)], ids=["11-over-default-10", "4-over-3", "1-over-0"])
def test_eagain_beyond_the_retry_bound_fails_and_writes_nothing(tmp_path, xenstored, conflicts, retries):
    xenstored.fault("eagain", count=conflicts)
    args = dict(TWO_DEVICES) if retries is None else dict(TWO_DEVICES, retries=retries)
    run = run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: args, "ignore_errors": True},
    ])
    failed = run["create"]
    bound = 10 if retries is None else retries
    assert failed["failed"] and not failed["changed"]
    assert failed["msg"] == (
        "the XenStore transaction at %s conflicted with concurrent writers (EAGAIN) %d times; "
        "gave up after %d attempts (retries=%d)" % (xenstored.socket, conflicts, conflicts, bound))
    assert xenstored.fault_status()["fired"]["eagain"] == conflicts
    assert committed_writes(xenstored) == []
    assert_nothing_written(xenstored)
    converge(tmp_path, xenstored)


def test_connection_dropped_inside_the_transaction_is_retried_on_a_new_one(tmp_path, xenstored):
    """The daemon drops the connection at the 5th write of the transaction: that transaction is
    gone with it; the module opens a new connection, reads and writes everything again."""
    xenstored.fault("drop", op="WRITE", in_transaction=True, skip=4)
    run = run_playbook(tmp_path, xenstored, [{"name": "create", MODULE: TWO_DEVICES}])
    assert run["create"]["changed"] and "warnings" not in run["create"]
    assert [d["action"] for d in run["create"]["devices"]] == ["created", "created"]
    entries = xenstored.requests()
    assert_complete(xenstored)
    dropped = [e for e in entries if e["result"] == "DROPPED"]
    assert len(dropped) == 1 and dropped[0]["op"] == "WRITE"
    # two connections: the dropped one never reached TRANSACTION_END, the second committed
    assert len({e["conn"] for e in entries}) == 2
    assert [(e["conn"], e["result"]) for e in entries if e["op"] == "TRANSACTION_END"] == [(entries[-1]["conn"], "OK")]
    assert len(committed_writes(xenstored)) == 22


def test_lost_commit_reply_is_reported_as_a_change_with_a_warning(tmp_path, xenstored):
    """The commit is applied, then the connection drops before its reply: the module cannot know
    it was its own commit. It reads again on a new connection, finds the devices complete, writes
    nothing more, and says changed with a warning rather than claiming nothing changed."""
    xenstored.fault("drop_after", op="TRANSACTION_END")
    run = run_playbook(tmp_path, xenstored, [{"name": "create", MODULE: TWO_DEVICES}])
    result = run["create"]
    assert result["changed"]
    assert [d["action"] for d in result["devices"]] == ["unchanged", "unchanged"]
    assert len(result["warnings"]) == 1
    assert result["warnings"][0].startswith(
        "connection to XenStore at %s was lost while waiting for TRANSACTION_END" % xenstored.socket)
    assert "the commit may have taken effect, so the call is reported as changed" in result["warnings"][0]
    assert_complete(xenstored)
    assert len(committed_writes(xenstored)) == 22
    converge(tmp_path, xenstored)


def test_connections_dropped_every_time_fail_clearly_and_write_nothing(tmp_path, xenstored):
    xenstored.fault("drop", op="WRITE", in_transaction=True, count=3)
    run = run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: dict(TWO_DEVICES, retries=2), "ignore_errors": True},
    ])
    failed = run["create"]
    assert failed["failed"] and not failed["changed"]
    # The batch was pipelined: the MKDIR before the dropped WRITE was handled, its reply lost.
    assert failed["msg"].startswith(
        "connection to XenStore at %s was lost while waiting for MKDIR /local/domain/1/device/mydevice/0" % xenstored.socket)
    assert failed["msg"].endswith("; gave up after 3 attempts on new connections (retries=2)")
    assert xenstored.fault_status()["fired"]["drop"] == 3
    assert committed_writes(xenstored) == []
    assert_nothing_written(xenstored)
    converge(tmp_path, xenstored)


@pytest.mark.parametrize("op, in_transaction, waiting_for", [
    (None, False, "TRANSACTION_START"),
    ("WRITE", True, "WRITE /local/domain/1/device/mydevice/0/backend"),
    ("TRANSACTION_END", False, "TRANSACTION_END"),
], ids=["from-the-first-request", "inside-the-transaction", "at-commit"])
def test_daemon_that_stops_answering_fails_within_request_timeout(tmp_path, xenstored, op, in_transaction, waiting_for):
    """The daemon accepts and reads, then never answers: the module gives up after
    request_timeout with the request it waited for, and is not retried (that would only
    multiply the wait). A transaction left open dies with the connection: nothing is written."""
    filters = {"op": op} if op else {}
    xenstored.fault("stall", in_transaction=in_transaction, **filters)
    run = run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: dict(TWO_DEVICES, request_timeout=1), "ignore_errors": True},
    ])
    failed = run["create"]
    assert failed["failed"] and not failed["changed"]
    assert failed["msg"] == "XenStore at %s did not answer %s within 1 s (request_timeout)" % (xenstored.socket, waiting_for)
    assert run.elapsed < 120, "the playbook must not hang on a stalled daemon"
    stalled = xenstored.requests(result="STALLED")
    assert stalled and len({e["conn"] for e in xenstored.requests()}) == 1
    assert committed_writes(xenstored) == []
    assert_nothing_written(xenstored)
    converge(tmp_path, xenstored)


def test_backend_that_never_closes_then_force(tmp_path, xenstored):
    """No backend driver answers Closing: absent waits at most ``timeout``, names the device
    and its last states, removes nothing; force removes it without the handshake."""
    run = run_playbook(tmp_path, xenstored, [
        {"name": "create", MODULE: device("guest1")},
        {"name": "remove", MODULE: dict(device("guest1"), state="absent", timeout=1), "ignore_errors": True},
        {"name": "remove again", MODULE: dict(device("guest1"), state="absent", timeout=1), "ignore_errors": True},
    ])
    for name in ("remove", "remove again"):
        failed = run[name]
        assert failed["failed"]
        assert failed["msg"] == (
            "timed out after 1 s (timeout) waiting for the backend to answer Closing (5) with Closed (6): "
            "mydevice device 0 of domain 1 (frontend %s, backend %s): frontend state 1 (Initialising), "
            "backend state 5 (Closing). Nothing was removed; force=true removes the devices without the handshake"
            % (FE, BE))
    # the first call wrote online=0 and state=5 (a change); the second found them written
    assert run["remove"]["changed"] and not run["remove again"]["changed"]
    assert exists(xenstored, FE) and exists(xenstored, BE)
    assert xenstore(xenstored, "xenstore-read", BE + "/state").stdout.strip() == "5"
    xenstored.clear_log()
    forced = run_playbook(tmp_path, xenstored, [
        {"name": "force", MODULE: dict(device("guest1"), state="absent", force=True)},
        {"name": "force again", MODULE: dict(device("guest1"), state="absent", force=True)},
    ])
    assert forced["force"]["changed"] and forced["force"]["devices"][0]["action"] == "removed"
    assert not forced["force again"]["changed"]
    for path in (FE, BE, "/local/domain/1/device/mydevice", "/local/domain/0/backend/mydevice"):
        assert not exists(xenstored, path), path
    assert [e["op"] for e in ops(xenstored.requests(), WRITE_OPS)] == ["RM"] * 4
