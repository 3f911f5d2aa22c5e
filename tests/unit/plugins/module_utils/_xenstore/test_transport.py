# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The transport's bounds: a stalled or vanished daemon gives a clear error, never a hang;
any reply operation reaches the caller (pyxs's own Op table stops at 19)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import transport
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import (
    XenStoreConnectionError, XenStoreTimeout,
)
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.transport import Transport


def test_stalled_daemon_times_out_naming_socket_and_request(scripted):
    server = scripted("silent")
    conn = Transport(server.path, 0.5)
    conn.open()
    started = time.monotonic()
    try:
        with pytest.raises(XenStoreTimeout) as info:
            conn.exchange([(2, 0, b"/local/domain/0/name\0")], [("read", "/local/domain/0/name")])
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    assert str(info.value) == "XenStore at %s did not answer READ /local/domain/0/name within 0.5 s (request_timeout)" \
        % server.path
    assert (info.value.op, info.value.path) == ("read", "/local/domain/0/name")
    assert 0.5 <= elapsed < 5
    assert server.received == [(2, b"/local/domain/0/name\x00")]
    assert conn.broken


def test_stall_in_the_middle_of_a_batch_names_the_first_unanswered_request(scripted):
    server = scripted(lambda op, payload: (op, b"OK\0") if payload != b"/b\0" else None)
    conn = Transport(server.path, 0.3)
    conn.open()
    try:
        with pytest.raises(XenStoreTimeout, match="did not answer RM /b within 0.3 s"):
            conn.exchange([(13, 0, b"/a\0"), (13, 0, b"/b\0"), (13, 0, b"/c\0")],
                          [("rm", "/a"), ("rm", "/b"), ("rm", "/c")])
    finally:
        conn.close()
    # the whole batch went out before any reply was awaited
    assert [payload for dummy, payload in server.received] == [b"/a\0", b"/b\0", b"/c\0"]


def test_daemon_closing_the_connection_is_reported(scripted):
    server = scripted("close")
    conn = Transport(server.path, 5)
    conn.open()
    started = time.monotonic()
    try:
        with pytest.raises(XenStoreConnectionError) as info:
            conn.exchange([(11, 0, b"/a\x001")], [("write", "/a")])
    finally:
        conn.close()
    assert str(info.value) == ("connection to XenStore at %s was lost while waiting for WRITE /a: error while reading "
                               "from %s: the daemon closed the connection" % (server.path, server.path))
    assert time.monotonic() - started < 4
    assert conn.broken


def test_exchange_before_open_is_an_error():
    with pytest.raises(XenStoreConnectionError, match="not connected to XenStore at /nowhere"):
        Transport("/nowhere", 1).exchange([(2, 0, b"/a\0")], [("read", "/a")])


@pytest.mark.parametrize("op", [22, 99], ids=["directory-part", "unknown"])
def test_replies_beyond_pyxs_op_table_reach_the_caller(scripted, op):
    server = scripted(lambda dummy, payload: (op, b"7\0" + payload))
    conn = Transport(server.path, 5)
    conn.open()
    try:
        replies = conn.exchange([(op, 3, b"/big\x000\0"), (2, 3, b"/x\0")], [("x", "/big"), ("read", "/x")])
    finally:
        conn.close()
    assert [(reply.op, reply.tx_id, reply.payload) for reply in replies] == [
        (op, 3, b"7\0/big\x000\0"), (op, 3, b"7\0/x\0")]
    assert not conn.broken


def test_a_large_batch_goes_out_in_pieces_and_every_reply_comes_back(scripted):
    server = scripted("echo_ok")
    conn = Transport(server.path, 5)
    conn.open()
    value = b"v" * 3000
    try:
        replies = conn.exchange([(11, 0, b"/k%d\0" % i + value) for i in range(200)],
                                [("write", "/k%d" % i) for i in range(200)])
    finally:
        conn.close()
    assert len(replies) == 200 and all(reply.payload == b"OK\0" for reply in replies)
    assert [payload[:payload.index(b"\0")] for dummy, payload in server.received] == \
        [b"/k%d" % i for i in range(200)]


def test_missing_socket(tmp_path):
    path = str(tmp_path / "nothing-here")
    with pytest.raises(XenStoreConnectionError, match="socket %s does not exist: is xenstored running" % path):
        Transport(path, 1).open()


def test_socket_that_is_not_a_socket(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(XenStoreConnectionError, match="socket .*/file is not a Unix socket .it is a regular file."):
        Transport(str(tmp_path / "file"), 1).open()
    with pytest.raises(XenStoreConnectionError, match="is not a Unix socket .it is a directory."):
        Transport(str(tmp_path), 1).open()


def test_socket_nobody_listens_on(tmp_path):
    path = str(tmp_path / "stale")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()  # the socket file stays, nobody listens: a stale socket of a stopped daemon
    with pytest.raises(XenStoreConnectionError, match="cannot connect to XenStore at %s: nothing listens on this socket "
                       r"\(connection refused\); is xenstored running on this host\?" % path):
        Transport(path, 1).open()


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
    assert transport.socket_path(option) == expected


def test_has_pyxs_in_the_test_environment():
    assert transport.HAS_PYXS, transport.PYXS_IMPORT_ERROR
    assert os.path.basename(transport.__file__) == "transport.py"
