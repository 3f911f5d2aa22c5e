# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A scripted xs_wire peer on a real Unix socket: the client runs with the real pyxs router,
the daemon's side is a script (the integration tests run the real test daemon)."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

HEADER = struct.Struct("IIII")
OP_ERROR = 16


class ScriptedSocket:
    """A Unix socket server answering one connection.

    ``behaviour``: ``silent`` (reads, never answers), ``close`` (closes on the first request),
    ``echo_ok`` (answers every request with OK) or a function ``(op, payload) -> (op, payload)``
    giving each reply (None: no reply). ``received`` lists the requests as ``(op, payload)``.
    """

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
            elif callable(self.behaviour):
                reply = self.behaviour(op, payload)
                if reply is not None:
                    conn.sendall(HEADER.pack(reply[0], rid, tx, len(reply[1])) + reply[1])

    def stop(self):
        self.listener.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass


@pytest.fixture
def scripted(tmp_path):
    """``scripted(behaviour)`` starts a ``ScriptedSocket`` at a fresh path."""
    servers = []

    def make(behaviour):
        server = ScriptedSocket(str(tmp_path / ("xs%d.sock" % len(servers))), behaviour)
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.stop()
