# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small synchronous xs_wire client (no pyxs): used by fixtures, seeding, peers and tests.

Every call is bounded by a socket timeout. Watch events that arrive while waiting for a
reply are kept in order and handed out by ``wait_event()``. ``send()``/``reply()`` pipeline
requests: send a batch, then collect the replies in order.
"""

from __future__ import annotations

import socket
import time
from collections import deque

from .protocol import HEADER, HEADER_SIZE, OP, XsError, format_perms

_ERROR = OP["ERROR"]
_EVENT = OP["WATCH_EVENT"]


class XsClient:
    """One connection to a XenStore socket (the daemon's main or guest socket)."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = bytearray()
        self.events: deque = deque()
        self.replies: dict = {}
        self.next_rid = 1
        self.tx = 0

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # ------------------------------------------------------------------------------- wire
    def send(self, op: str | int, payload: bytes, tx: int | None = None) -> int:
        """Send one request; returns its req_id (collect the answer with ``reply()``)."""
        rid = self.next_rid
        self.next_rid += 1
        opnum = OP[op] if isinstance(op, str) else op
        self.sock.sendall(HEADER.pack(opnum, rid, self.tx if tx is None else tx,
                                      len(payload)) + payload)
        return rid

    def _read_packet(self, deadline: float):
        while True:
            if len(self.buf) >= HEADER_SIZE:
                typ, rid, tid, length = HEADER.unpack_from(self.buf)
                if len(self.buf) >= HEADER_SIZE + length:
                    body = bytes(self.buf[HEADER_SIZE:HEADER_SIZE + length])
                    del self.buf[:HEADER_SIZE + length]
                    return typ, rid, tid, body
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from %s" % self.path)
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("XenStore connection %s closed" % self.path)
            self.buf += data

    def reply(self, rid: int, timeout: float | None = None) -> bytes:
        """The payload answering request ``rid``; XsError for an ERROR reply."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while rid not in self.replies:
            typ, got_rid, _tid, body = self._read_packet(deadline)
            if typ == _EVENT:
                parts = body.split(b"\0")
                self.events.append((parts[0].decode(), parts[1].decode()))
            else:
                self.replies[got_rid] = (typ, body)
        typ, body = self.replies.pop(rid)
        if typ == _ERROR:
            raise XsError(body.rstrip(b"\0").decode())
        return body

    def request(self, op: str | int, *args, tx: int | None = None) -> bytes:
        """Send a request made of NUL-terminated string arguments and wait for the reply.

        A ``bytes`` last argument of WRITE is sent raw (the value is not NUL-terminated).
        """
        parts = []
        for arg in args:
            parts.append(arg if isinstance(arg, bytes) else str(arg).encode() + b"\0")
        return self.reply(self.send(op, b"".join(parts), tx))

    def wait_event(self, timeout: float | None = None):
        """The next watch event ``(path, token)``; TimeoutError if none arrives in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.events:
            typ, rid, _tid, body = self._read_packet(deadline)
            if typ == _EVENT:
                parts = body.split(b"\0")
                self.events.append((parts[0].decode(), parts[1].decode()))
            else:
                self.replies[rid] = (typ, body)
        return self.events.popleft()

    # ------------------------------------------------------------------------- operations
    def read(self, path: str, default: bytes | None = None) -> bytes | None:
        """XS_READ; ``default`` when the node does not exist (if given)."""
        try:
            return self.request("READ", path)
        except XsError as exc:
            if default is not None and exc.errno == "ENOENT":
                return default
            raise

    def exists(self, path: str) -> bool:
        """True if the node exists (ENOENT -> False; EACCES raises)."""
        try:
            self.request("READ", path)
        except XsError as exc:
            if exc.errno == "ENOENT":
                return False
            raise
        return True

    def write(self, path: str, value: bytes | str) -> None:
        """XS_WRITE."""
        value = value.encode() if isinstance(value, str) else value
        self.request("WRITE", path, value)

    def mkdir(self, path: str) -> None:
        """XS_MKDIR."""
        self.request("MKDIR", path)

    def rm(self, path: str) -> None:
        """XS_RM."""
        self.request("RM", path)

    def directory(self, path: str) -> list:
        """XS_DIRECTORY -> child names."""
        return [name.decode() for name in self.request("DIRECTORY", path).split(b"\0")[:-1]]

    def get_perms(self, path: str) -> list:
        """XS_GET_PERMS -> ``["n0", "r5"]``."""
        return [item.decode() for item in self.request("GET_PERMS", path).split(b"\0")[:-1]]

    def set_perms(self, path: str, perms) -> None:
        """XS_SET_PERMS with perm strings (``["n5", "r0"]``) or (domid, mask) tuples."""
        items = [p if isinstance(p, str) else format_perms([p])[0] for p in perms]
        self.request("SET_PERMS", path, *items)

    def watch(self, path: str, token: str) -> None:
        """XS_WATCH (the initial event is queued for ``wait_event()``)."""
        self.request("WATCH", path, token, tx=0)

    def unwatch(self, path: str, token: str) -> None:
        """XS_UNWATCH."""
        self.request("UNWATCH", path, token, tx=0)

    def get_domain_path(self, domid: int) -> str:
        """XS_GET_DOMAIN_PATH."""
        return self.request("GET_DOMAIN_PATH", domid).rstrip(b"\0").decode()

    def introduce(self, domid: int, gfn: int = 1, port: int = 1) -> None:
        """XS_INTRODUCE (privileged)."""
        self.request("INTRODUCE", domid, gfn, port, tx=0)

    def release(self, domid: int) -> None:
        """XS_RELEASE (privileged)."""
        self.request("RELEASE", domid, tx=0)

    def transaction_start(self) -> int:
        """XS_TRANSACTION_START; later requests of this client use the transaction."""
        self.tx = int(self.request("TRANSACTION_START", "", tx=0).rstrip(b"\0"))
        return self.tx

    def transaction_end(self, commit: bool = True) -> bool:
        """XS_TRANSACTION_END; False when the commit failed with EAGAIN."""
        tx, self.tx = self.tx, 0
        try:
            self.request("TRANSACTION_END", "T" if commit else "F", tx=tx)
        except XsError as exc:
            if exc.errno == "EAGAIN":
                return False
            raise
        return True

    def run_transaction(self, body, attempts: int = 20):
        """Run ``body(client)`` in a transaction, retrying on EAGAIN like libxl does."""
        for _attempt in range(attempts):
            self.transaction_start()
            try:
                result = body(self)
            except BaseException:
                self.transaction_end(commit=False)
                raise
            if self.transaction_end():
                return result
        raise XsError("EAGAIN")
