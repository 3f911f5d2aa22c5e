# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client's bounds: a stalled or vanished daemon gives a clear error, never a hang;
transactions re-run on EAGAIN with bounded, jittered backoff."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import client as xsclient
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.client import (
    TransactionConflict, XenStore, XenStoreConnectionError, XenStoreError, XenStoreTimeout,
)

HEADER = struct.Struct("IIII")


class ScriptedSocket:
    """A Unix socket server; ``behaviour`` is ``silent`` (reads, never answers), ``close``
    (closes on the first request) or ``echo_ok`` (answers every request with OK)."""

    def __init__(self, path, behaviour):
        self.path = path
        self.behaviour = behaviour
        self.received = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, dummy = self.listener.accept()
        except OSError:
            return
        self.conns.append(conn)
        while True:
            try:
                header = conn.recv(HEADER.size, socket.MSG_WAITALL)
            except OSError:
                return
            if len(header) < HEADER.size:
                return
            op, rid, tx, size = HEADER.unpack(header)
            payload = conn.recv(size, socket.MSG_WAITALL) if size else b""
            self.received.append((op, payload))
            if self.behaviour == "close":
                conn.close()
                return
            if self.behaviour == "echo_ok":
                conn.sendall(HEADER.pack(op, rid, tx, 3) + b"OK\x00")

    def stop(self):
        self.listener.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass


@pytest.fixture
def scripted(tmp_path):
    servers = []

    def make(behaviour):
        server = ScriptedSocket(str(tmp_path / "xs.sock"), behaviour)
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.stop()


def test_stalled_daemon_times_out_naming_socket_and_request(scripted):
    server = scripted("silent")
    started = time.monotonic()
    with XenStore(server.path, request_timeout=0.5) as xs:
        with pytest.raises(XenStoreTimeout) as info:
            xs.batch([("read", "/local/domain/0/name")])
    elapsed = time.monotonic() - started
    assert "XenStore at %s did not answer READ /local/domain/0/name within 0.5 s" % server.path in str(info.value)
    assert 0.5 <= elapsed < 5
    assert server.received == [(2, b"/local/domain/0/name\x00")]


@pytest.mark.parametrize("batched_send", [True, False], ids=["batched", "router-send"])
def test_stalled_daemon_bounds_every_request_of_a_batch(scripted, monkeypatch, batched_send):
    server = scripted("silent")
    monkeypatch.setattr(XenStore, "batched_send", batched_send)
    with XenStore(server.path, request_timeout=0.3) as xs:
        started = time.monotonic()
        with pytest.raises(XenStoreTimeout, match="did not answer TRANSACTION_START"):
            xs.transaction_start()
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("batched_send", [True, False], ids=["batched", "router-send"])
def test_daemon_closing_the_connection_is_reported(scripted, monkeypatch, batched_send):
    server = scripted("close")
    monkeypatch.setattr(XenStore, "batched_send", batched_send)
    with XenStore(server.path, request_timeout=5) as xs:
        started = time.monotonic()
        with pytest.raises(XenStoreConnectionError, match="connection to XenStore at .* was lost while waiting for WRITE /a"):
            xs.batch([("write", "/a", "1")])
        assert time.monotonic() - started < 4


def test_missing_socket(tmp_path):
    path = str(tmp_path / "nothing-here")
    with pytest.raises(XenStoreConnectionError, match="socket %s does not exist: is xenstored running" % path):
        XenStore(path).open()


def test_socket_that_is_not_a_socket(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(XenStoreConnectionError, match="socket .*/file is not a Unix socket .it is a regular file."):
        XenStore(str(tmp_path / "file")).open()
    with pytest.raises(XenStoreConnectionError, match="is not a Unix socket .it is a directory."):
        XenStore(str(tmp_path)).open()


def test_socket_nobody_listens_on(tmp_path):
    path = str(tmp_path / "stale")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()  # the socket file stays, nobody listens: a stale socket of a stopped daemon
    with pytest.raises(XenStoreConnectionError, match="cannot connect to XenStore at %s: nothing listens on this socket "
                       r"\(connection refused\); is xenstored running on this host\?" % path):
        XenStore(path).open()


@pytest.mark.parametrize("batched_send", [True, False], ids=["batched", "router-send"])
def test_wire_encoding_of_a_pipelined_batch(scripted, monkeypatch, batched_send):
    server = scripted("echo_ok")
    monkeypatch.setattr(XenStore, "batched_send", batched_send)
    with XenStore(server.path, request_timeout=5) as xs:
        replies = xs.batch([("write", "/a/b", ""), ("mkdir", "/a"), ("set_perms", "/a", ["n1", "r0"]),
                            ("rm", "/a"), ("watch", "/a", "tok"), ("transaction_end", "", False)], tx_id=7)
    assert replies == [None] * 6
    assert server.received == [
        (11, b"/a/b\x00"),
        (12, b"/a\x00"),
        (14, b"/a\x00n1\x00r0\x00"),
        (13, b"/a\x00"),
        (4, b"/a\x00tok\x00"),
        (7, b"F\x00"),
    ]


@pytest.mark.parametrize("option, env, expected", [
    ("/opt/sock", {"XENSTORED_PATH": "/env/sock"}, "/opt/sock"),
    (None, {"XENSTORED_PATH": "/env/sock"}, "/env/sock"),
    (None, {"XENSTORED_RUNDIR": "/run/x"}, "/run/x/socket"),
    (None, {}, "/var/run/xenstored/socket"),
])
def test_socket_path(monkeypatch, option, env, expected):
    for name in ("XENSTORED_PATH", "XENSTORED_RUNDIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert xsclient.socket_path(option) == expected


class TxFake:
    socket = "/fake"

    def __init__(self, eagain):
        self.eagain = eagain
        self.ends = []

    def transaction_start(self):
        return len(self.ends) + 1

    def transaction_end(self, tx_id, commit):
        self.ends.append((tx_id, commit))
        if commit and self.eagain:
            self.eagain -= 1
            return False
        return True

    def abort_quietly(self, tx_id):
        self.ends.append((tx_id, "abort"))


def test_transaction_reruns_the_whole_cycle_on_eagain():
    xs, sleeps, runs = TxFake(eagain=2), [], []

    def body(tx_id):
        runs.append(tx_id)
        return "result-%d" % tx_id, True
    assert xsclient.run_transaction(xs, body, retries=10, sleep=sleeps.append, rand=lambda: 0.5) == "result-3"
    assert runs == [1, 2, 3]
    assert xs.ends == [(1, True), (2, True), (3, True)]
    assert sleeps == [0.01, 0.02]


def test_transaction_gives_up_after_retries():
    xs, sleeps = TxFake(eagain=100), []
    with pytest.raises(TransactionConflict, match=r"conflicted with concurrent writers \(EAGAIN\) 4 times; gave up after 4 attempts \(retries=3\)"):
        xsclient.run_transaction(xs, lambda tx: (None, True), retries=3, sleep=sleeps.append, rand=lambda: 0.0)
    assert len(xs.ends) == 4 and len(sleeps) == 3


def test_read_only_transaction_is_aborted_not_committed():
    xs = TxFake(eagain=5)
    assert xsclient.run_transaction(xs, lambda tx: ("r", False), retries=0) == "r"
    assert xs.ends == [(1, False)]


def test_error_in_body_aborts_and_propagates():
    xs = TxFake(eagain=0)

    def body(tx_id):
        raise XenStoreError("XenStore WRITE /x failed: EACCES", errno="EACCES")
    with pytest.raises(XenStoreError, match="EACCES"):
        xsclient.run_transaction(xs, body, retries=3)
    assert xs.ends == [(1, "abort")]


class LossyFake(TxFake):
    """Loses the connection at the given (attempt, step) points; step is "body" or "end"."""

    def __init__(self, losses, eagain=0):
        super().__init__(eagain)
        self.losses = list(losses)
        self.attempt = 0
        self.reconnects = 0
        self.socket = "/run/xs"

    def lose(self, step):
        if (self.attempt, step) in self.losses:
            raise XenStoreConnectionError("connection to XenStore at /run/xs was lost while waiting for %s" % step)

    def transaction_start(self):
        self.attempt += 1
        return super().transaction_start()

    def transaction_end(self, tx_id, commit):
        self.ends.append((tx_id, commit))
        self.lose("end")
        if commit and self.eagain:
            self.eagain -= 1
            return False
        return True

    def reconnect(self):
        self.reconnects += 1


def test_lost_connection_in_the_body_reruns_on_a_new_connection():
    xs, sleeps = LossyFake([(1, "body")]), []

    def body(tx_id):
        xs.lose("body")
        return "result-%d" % tx_id, True
    assert xsclient.run_transaction(xs, body, retries=3, sleep=sleeps.append, rand=lambda: 0.5) == "result-1"
    # the first transaction died with its connection: no end was sent for it
    assert xs.ends == [(1, True)] and xs.reconnects == 1 and sleeps == [0.01]


def test_lost_commit_reply_is_reported_in_doubt():
    xs = LossyFake([(1, "end")])
    outcome = xsclient.run_transaction(xs, lambda tx: ("r%d" % tx, True), retries=3, sleep=lambda _: None)
    assert isinstance(outcome, xsclient.CommitInDoubt)
    assert outcome.result == "r2" and "was lost while waiting for end" in outcome.error.message


def test_lost_abort_reply_is_not_in_doubt():
    xs = LossyFake([(1, "end")])
    assert xsclient.run_transaction(xs, lambda tx: ("r", False), retries=3, sleep=lambda _: None) == "r"


def test_lost_connections_give_up_after_retries():
    xs = LossyFake([(1, "end"), (2, "end"), (3, "end")])
    with pytest.raises(XenStoreConnectionError, match=r"was lost while waiting for end; gave up after 3 attempts on new connections \(retries=2\)"):
        xsclient.run_transaction(xs, lambda tx: (None, True), retries=2, sleep=lambda _: None)
    assert xs.reconnects == 2


def test_timeouts_are_not_retried():
    xs = LossyFake([])

    def body(tx_id):
        raise XenStoreTimeout("XenStore at /run/xs did not answer READ /x within 1 s (request_timeout)")
    with pytest.raises(XenStoreTimeout):
        xsclient.run_transaction(xs, body, retries=5, sleep=lambda _: None)
    assert xs.reconnects == 0 and xs.ends == [(1, "abort")]


@pytest.mark.parametrize("attempt, rand, delay", [
    (0, 0.5, 0.01), (1, 0.5, 0.02), (3, 0.5, 0.08), (3, 0.0, 0.04), (3, 0.999, 0.11992), (20, 0.5, 1.0), (20, 0.0, 0.5),
])
def test_backoff_delay(attempt, rand, delay):
    assert xsclient.backoff_delay(attempt, rand=lambda: rand) == pytest.approx(delay)


def test_has_pyxs_in_the_test_environment():
    assert xsclient.HAS_PYXS, xsclient.PYXS_IMPORT_ERROR
    assert os.path.basename(xsclient.__file__) == "client.py"
