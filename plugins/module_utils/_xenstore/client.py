# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""The XenStore request API: what each request is on the wire and what its reply means.

Text in, text out: paths, values and permissions are ``str`` here and bytes on the wire.
Requests travel in pipelined batches over a ``transport.Transport``; transactions are retried
by ``transaction.run_transaction``.
"""

from __future__ import annotations

import os

from .errors import XenStoreConnectionError, XenStoreError
from .transport import Transport, describe, socket_path

# Operation numbers of the XenStore wire protocol (enum xsd_sockmsg_type in Xen 4.17's
# xen/include/public/io/xs_wire.h).
_OPCODES = {
    "directory": 1,
    "read": 2,
    "get_perms": 3,
    "watch": 4,
    "unwatch": 5,
    "transaction_start": 6,
    "transaction_end": 7,
    "write": 11,
    "mkdir": 12,
    "rm": 13,
    "set_perms": 14,
    "directory_part": 22,
}
_OP_ERROR = 16
_NUL = b"\0"


def _payload(request):
    op, path = request[0], request[1]
    if op in ("read", "directory", "get_perms", "mkdir", "rm"):
        return path.encode("ascii") + _NUL
    if op == "write":
        return path.encode("ascii") + _NUL + request[2].encode("ascii")
    if op == "set_perms":
        return path.encode("ascii") + _NUL + b"".join(p.encode("ascii") + _NUL for p in request[2])
    if op in ("watch", "unwatch"):
        return path.encode("ascii") + _NUL + request[2].encode("ascii") + _NUL
    if op == "directory_part":
        return path.encode("ascii") + _NUL + b"%d" % request[2] + _NUL
    if op == "transaction_start":
        return _NUL
    if op == "transaction_end":
        return (b"T" if request[2] else b"F") + _NUL
    raise ValueError("unknown XenStore operation %r" % (op,))


def _names(data):
    """Child names from NUL-terminated strings."""
    return [item.decode("ascii", "backslashreplace") for item in data.split(_NUL) if item]


class _PartialListing:
    """One directory being read with DIRECTORY_PART, as libxenstore's ``xs_directory_part()``.

    ``data`` holds the NUL-terminated names read so far; the daemon's ``offset`` is its
    length. Each part starts with the directory node's generation: a part whose generation
    differs from the first one's means the directory changed in between, and the reading
    starts over. The list ends with an empty name (a part ending in ``\\0\\0``, or just
    ``\\0`` for an empty directory).
    """

    __slots__ = ("path", "generation", "data")

    def __init__(self, path):
        self.path = path
        self.generation = None
        self.data = b""

    def add(self, payload):
        """Take one reply; True once the listing is complete."""
        generation, dummy, part = payload.partition(_NUL)
        if self.data and generation != self.generation:
            self.generation, self.data = None, b""
            return False
        if not self.data:
            self.generation = generation
        self.data += part
        return len(self.data) <= 1 or self.data.endswith(_NUL + _NUL)

    def names(self):
        return _names(self.data)


class XenStore:
    """A connection to xenstored and the requests it carries.

    ``batch()`` sends requests back to back, then collects the replies; each reply is awaited
    for at most ``request_timeout`` seconds after the previous one arrived.
    """

    def __init__(self, socket=None, request_timeout=10.0):
        self._transport = Transport(socket_path(socket), request_timeout)
        self._watch_counter = 0
        self.requests_sent = 0
        # Connections opened again after one was lost (run_transaction).
        self.reconnects = 0

    @property
    def socket(self):
        return self._transport.socket

    @property
    def request_timeout(self):
        return self._transport.request_timeout

    # Connection ------------------------------------------------------------------------
    def open(self):
        self._transport.open()
        return self

    def reconnect(self):
        """Drop this connection (and whatever transaction the daemon held for it) and open a new one."""
        self.close()
        self.reconnects += 1
        return self.open()

    def close(self):
        self._transport.close()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info):
        self.close()

    # Requests --------------------------------------------------------------------------
    def _exchange(self, requests, tx_id):
        replies = self._transport.exchange([(_OPCODES[request[0]], tx_id, _payload(request)) for request in requests],
                                           [(request[0], request[1]) for request in requests])
        self.requests_sent += len(requests)
        return replies

    def _error(self, request, reply):
        """The ``XenStoreError`` of an ERROR reply, else None; a reply of another operation than
        the request's means the replies are out of step: the connection is of no further use."""
        op, path = request[0], request[1]
        if reply.op == _OP_ERROR:
            name = reply.payload.rstrip(_NUL).decode("ascii", "replace")
            return XenStoreError("XenStore %s failed: %s" % (describe(op, path), name), errno=name, op=op, path=path)
        if reply.op != _OPCODES[op]:
            self._transport.broken = True
            raise XenStoreConnectionError(
                "XenStore at %s answered %s with an unexpected packet (op %d)"
                % (self.socket, describe(op, path), reply.op), op=op, path=path)
        return None

    def batch(self, requests, tx_id=0, raise_errors=True):
        """Send ``requests`` back to back, then return their decoded replies in order.

        A request is ``(op, path)``, ``("write", path, value)``, ``("set_perms", path, perms)``.
        Replies: ``read`` → str, ``directory``/``get_perms`` → list of str, others → None.
        With ``raise_errors=False`` a failed request's reply is its ``XenStoreError`` instead.
        A ``directory`` reply holds at most 4096 bytes of names (E2BIG beyond): ``directories()``
        reads any size.
        """
        replies = []
        for request, reply in zip(requests, self._exchange(requests, tx_id)):
            error = self._error(request, reply)
            if error is not None:
                if raise_errors:
                    raise error
                replies.append(error)
            elif request[0] == "read":
                replies.append(reply.payload.decode("ascii", "backslashreplace"))
            elif request[0] in ("directory", "get_perms"):
                replies.append(_names(reply.payload))
            elif request[0] == "transaction_start":
                replies.append(int(reply.payload.rstrip(_NUL)))
            else:
                replies.append(None)
        return replies

    # Single requests -------------------------------------------------------------------
    def read(self, path, tx_id=0):
        """The value at ``path``, or None when it does not exist."""
        reply = self.batch([("read", path)], tx_id, raise_errors=False)[0]
        if isinstance(reply, XenStoreError):
            if reply.errno == "ENOENT":
                return None
            raise reply
        return reply

    def directory(self, path, tx_id=0):
        """The children of ``path`` (any number of them), or None when it does not exist."""
        return self.directories([path], tx_id)[path]

    def directories(self, paths, tx_id=0, raise_errors=True):
        """``{path: children}`` for every path; children are None when the path does not exist.

        All DIRECTORY requests go out in one batch. A directory whose names exceed one reply
        (4096 bytes: E2BIG) is then read in parts, as libxenstore's ``xs_directory()`` does
        (XS_DIRECTORY_PART, Xen >= 4.9): each round is one batch with the next part of every
        such directory. With ``raise_errors=False`` a path that failed otherwise maps to its
        ``XenStoreError``.
        """
        paths = list(dict.fromkeys(paths))
        listings = {}
        partial = []
        for path, reply in zip(paths, self.batch([("directory", p) for p in paths], tx_id, raise_errors=False)):
            if isinstance(reply, XenStoreError) and reply.errno == "E2BIG":
                partial.append(_PartialListing(path))
            else:
                listings[path] = reply
        while partial:
            requests = [("directory_part", listing.path, len(listing.data)) for listing in partial]
            pending = []
            for request, listing, reply in zip(requests, partial, self._exchange(requests, tx_id)):
                error = self._error(request, reply)
                if error is not None and error.errno == "ENOSYS":
                    # a daemon older than Xen 4.9: what libxenstore reports then
                    error = XenStoreError(
                        "XenStore DIRECTORY %s failed: E2BIG (more children than one 4096-byte reply holds, and "
                        "this xenstored has no DIRECTORY_PART)" % listing.path, errno="E2BIG", op="directory",
                        path=listing.path)
                if error is not None:
                    listings[listing.path] = error
                elif listing.add(reply.payload):
                    listings[listing.path] = listing.names()
                else:
                    pending.append(listing)
            partial = pending
        for path in paths:
            reply = listings[path]
            if isinstance(reply, XenStoreError):
                if reply.errno == "ENOENT":
                    listings[path] = None
                elif raise_errors:
                    raise reply
        return dict((path, listings[path]) for path in paths)

    # Transactions ----------------------------------------------------------------------
    def transaction_start(self):
        return self.batch([("transaction_start", "")])[0]

    def transaction_end(self, tx_id, commit):
        """End a transaction. Returns False when the commit failed with EAGAIN."""
        reply = self.batch([("transaction_end", "", commit)], tx_id, raise_errors=False)[0]
        if isinstance(reply, XenStoreError):
            if reply.errno == "EAGAIN" and commit:
                return False
            raise reply
        return True

    def abort_quietly(self, tx_id):
        """Abort after an error; skipped when the connection is unusable (closing ends it)."""
        if self._transport.broken or not self._transport.connected:
            return
        try:
            self.transaction_end(tx_id, False)
        except XenStoreError:
            pass

    # Watches ---------------------------------------------------------------------------
    def watch(self, paths):
        """Watch ``paths``; returns ``{token: path}``. Each fires once at once (initial event)."""
        tokens = {}
        requests = []
        for path in paths:
            self._watch_counter += 1
            token = "splitdriver-%d-%d" % (os.getpid(), self._watch_counter)
            self._transport.subscribe(token.encode("ascii"))
            tokens[token] = path
            requests.append(("watch", path, token))
        self.batch(requests)
        return tokens

    def unwatch(self, tokens):
        if not self._transport.connected or self._transport.broken:
            return
        self.batch([("unwatch", path, token) for token, path in tokens.items()], raise_errors=False)
        for token in tokens:
            self._transport.unsubscribe(token.encode("ascii"))

    def wait_events(self, timeout):
        """Paths of the watch events that arrive within ``timeout`` s (all queued ones at once)."""
        paths = []
        event = self._transport.next_event(max(timeout, 0))
        while event is not None:
            paths.append(event.decode("ascii", "backslashreplace"))
            event = self._transport.next_event(0)
        return paths
