# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""The connection to xenstored: the only code in this collection that imports pyxs.

Bytes in, bytes out: ``Transport.exchange()`` takes xs_wire packets (operation number,
transaction id, payload) and returns the replies' (operation number, payload), in order.
What the packets mean is ``client.py``'s business.

pyxs opens the Unix socket and runs a router thread that reads replies and hands each to
whoever registered its request id; nothing of pyxs above that is used, the same way in pyxs
0.4.1 (PyPI) and Debian's 0.4.2 snapshot:

* a batch registers one reply slot per request in the router (``Router.rvars`` under
  ``Router.send_lock``, slot before request, as ``Router.send()`` does), then goes out back to
  back in a few large ``sendall`` calls: XenStore answers a connection's requests in order and
  echoes each request id, so the replies are collected after;
* every reply is awaited with a deadline: pyxs itself waits forever on a stalled daemon;
* replies are read by ``_Connection.recv()``, which takes any operation number: pyxs's own
  ``recv()`` builds a ``pyxs._internal.Packet``, whose ``Op`` table stops at SET_TARGET (19),
  so a DIRECTORY_PART (22) reply would kill the router thread.
"""

from __future__ import annotations

import errno as _errno
import itertools
import os
import queue
import socket as _socket
import stat
import struct
import threading
import time
import traceback
import weakref
from collections import namedtuple

from .errors import XenStoreConnectionError, XenStoreTimeout

try:
    from pyxs.client import Router as _Router
    from pyxs.connection import UnixSocketConnection as _UnixSocketConnection
    from pyxs.exceptions import ConnectionError as _PyxsConnectionError, PyXSError as _PyXSError
except ImportError:
    HAS_PYXS = False
    PYXS_IMPORT_ERROR = traceback.format_exc()
    _UnixSocketConnection = object
else:
    HAS_PYXS = True
    PYXS_IMPORT_ERROR = None

# struct xsd_sockmsg (xen/include/public/io/xs_wire.h): type, req_id, tx_id, len; host order.
HEADER = struct.Struct("=IIII")
# How often a wait for replies checks that pyxs's router thread is still alive.
_POLL_INTERVAL = 0.2
# A batch is written in pieces of about this many bytes.
_SEND_CHUNK = 256 * 1024

# A reply as pyxs's router sees it: it reads ``op`` (WATCH_EVENT or not), ``rq_id`` and ``payload``.
Reply = namedtuple("Reply", "op rq_id tx_id payload")


def socket_path(option=None) -> str:
    """The socket to use: the module option, else ``XENSTORED_PATH``, else pyxs's default."""
    if option:
        return option
    if os.environ.get("XENSTORED_PATH"):
        return os.environ["XENSTORED_PATH"]
    return os.path.join(os.environ.get("XENSTORED_RUNDIR", "/var/run/xenstored"), "socket")


def check_socket(path):
    """Raise ``XenStoreConnectionError`` unless ``path`` names an existing Unix socket."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise XenStoreConnectionError(
            "socket %s does not exist: is xenstored running on this host? (set the socket option or "
            "XENSTORED_PATH to use another one)" % path)
    except OSError as exc:
        raise XenStoreConnectionError("socket %s cannot be used: %s" % (path, exc.strerror or exc))
    if not stat.S_ISSOCK(mode):
        raise XenStoreConnectionError(
            "socket %s is not a Unix socket (it is a %s): give the path of xenstored's socket"
            % (path, "directory" if stat.S_ISDIR(mode) else "regular file" if stat.S_ISREG(mode) else "special file"))


def describe(op, path):
    """A request as error messages name it: ``READ /local/domain/0/name``."""
    return "%s %s" % (op.upper(), path) if path else op.upper()


# pyxs's router thread dies with an exception when the daemon closes the connection; keep that
# exception for our error message instead of letting threading print a traceback on stderr.
_ROUTER_OWNERS = weakref.WeakKeyDictionary()
_HOOK_LOCK = threading.Lock()
_HOOK_INSTALLED = []


def _router_excepthook(args, previous=None):
    owner = _ROUTER_OWNERS.get(args.thread) if args.thread is not None else None
    if owner is not None:
        owner.router_error = args.exc_value
        return
    (previous or threading.__excepthook__)(args)


def _install_router_excepthook():
    with _HOOK_LOCK:
        if _HOOK_INSTALLED:
            return
        previous = threading.excepthook
        threading.excepthook = lambda args: _router_excepthook(args, previous)
        _HOOK_INSTALLED.append(True)


def _reason(exc):
    """Why a read failed, in words (pyxs raises ``socket.error(ECONNRESET)`` at end of stream)."""
    code = exc.errno
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
    if code == _errno.ECONNRESET:
        return "the daemon closed the connection"
    if isinstance(exc, _socket.timeout):
        return "a reply stopped half-way (no more bytes within the request timeout)"
    return os.strerror(code) if code is not None else str(exc) or type(exc).__name__


class _Connection(_UnixSocketConnection):
    """pyxs's Unix socket connection, with a ``recv()`` that takes any operation number."""

    def recv(self):
        if self.transport is None:
            raise _PyxsConnectionError("not connected")
        try:
            op, rq_id, tx_id, size = HEADER.unpack(self.transport.recv(HEADER.size))
            payload = self.transport.recv(size) if size else b""
        except OSError as exc:
            raise _PyxsConnectionError("error while reading from %s: %s" % (self.path, _reason(exc)))
        return Reply(op, rq_id, tx_id, payload)


class _Batch:
    """Replies of one batch, filled by pyxs's router thread through ``_Slot.set()``."""

    __slots__ = ("condition", "replies", "count")

    def __init__(self, size):
        self.condition = threading.Condition()
        self.replies = [None] * size
        self.count = 0


class _Slot:
    """Stands where pyxs's router expects an ``RVar``: it only calls ``set(packet)``."""

    __slots__ = ("batch", "index")

    def __init__(self, batch, index):
        self.batch = batch
        self.index = index

    def set(self, packet):
        batch = self.batch
        with batch.condition:
            batch.replies[self.index] = packet
            batch.count += 1
            if batch.count == len(batch.replies):
                batch.condition.notify_all()


class _EventSink:
    """Receives watch events from pyxs's router (it calls ``events.put``)."""

    def __init__(self):
        self.events = queue.Queue()


class Transport:
    """One connection to xenstored over its Unix socket.

    ``exchange()`` sends a batch back to back, then collects the replies; each reply is
    awaited for at most ``request_timeout`` seconds after the previous one arrived. Once a
    reply is late or the connection is lost, ``broken`` is set: the connection is of no
    further use (the daemon may still answer the old request).
    """

    def __init__(self, socket, request_timeout):
        self.socket = socket
        self.request_timeout = float(request_timeout)
        self.broken = False
        # Why pyxs's router thread stopped, when it did.
        self.router_error = None
        self._router = None
        self._sink = _EventSink()
        self._rq_ids = itertools.count(1)

    @property
    def connected(self):
        return self._router is not None

    def open(self):
        if not HAS_PYXS:
            raise XenStoreConnectionError("the pyxs Python library is not installed")
        check_socket(self.socket)
        router = _Router(_Connection(self.socket))
        _install_router_excepthook()
        _ROUTER_OWNERS[router.thread] = self
        try:
            router.start()
        except (_PyXSError, OSError) as exc:
            if "Connection refused" in str(exc):
                # A socket file left by a daemon that stopped: say so rather than pyxs's tuple.
                raise XenStoreConnectionError(
                    "cannot connect to XenStore at %s: nothing listens on this socket (connection refused); "
                    "is xenstored running on this host?" % self.socket)
            raise XenStoreConnectionError(
                "cannot connect to XenStore at %s: %s" % (self.socket, exc))
        # Bounds sends to a daemon that stopped reading, and partial replies.
        router.connection.transport.sock.settimeout(self.request_timeout)
        self.broken = False
        self.router_error = None
        self._router = router

    def close(self):
        router, self._router = self._router, None
        if router is not None:
            try:
                router.terminate()
            except (_PyXSError, OSError):
                pass

    # Watch events ----------------------------------------------------------------------
    def subscribe(self, token):
        """Route watch events with ``token`` (bytes) to ``events()``."""
        self._router.subscribe(token, self._sink)

    def unsubscribe(self, token):
        try:
            self._router.unsubscribe(token, self._sink)
        except ValueError:
            pass

    def next_event(self, timeout):
        """The next watch event's path (bytes), waiting at most ``timeout`` s (0: only a queued
        one); None when none came."""
        try:
            if timeout > 0:
                event = self._sink.events.get(timeout=timeout)
            else:
                event = self._sink.events.get_nowait()
        except queue.Empty:
            return None
        return event[0]

    # Requests --------------------------------------------------------------------------
    def exchange(self, packets, labels):
        """Send ``packets`` (``(op, tx_id, payload)``) back to back; return their replies.

        ``labels`` names each packet as ``(op name, path)`` in error messages. Replies are
        ``Reply`` tuples in the order of the packets; an ERROR reply is returned like any other.
        """
        if self._router is None:
            raise XenStoreConnectionError("not connected to XenStore at %s" % self.socket)
        if not packets:
            return []
        try:
            batch = self._send(packets)
        except (_PyXSError, OSError) as exc:
            self.broken = True
            op, path = labels[0]
            raise XenStoreConnectionError(
                "cannot send %s to XenStore at %s: %s" % (describe(op, path), self.socket, exc), op=op, path=path)
        return self._await(batch, labels)

    def _send(self, packets):
        """Register a reply slot per packet, then write the packets in a few ``sendall`` calls."""
        router = self._router
        rvars_by_id = router.rvars
        transport = router.connection.transport
        batch = _Batch(len(packets))
        with router.send_lock:
            chunk, size = [], 0
            for index, (op, tx_id, payload) in enumerate(packets):
                rq_id = next(self._rq_ids)
                rvars_by_id[rq_id] = _Slot(batch, index)
                chunk.append(HEADER.pack(op, rq_id, tx_id, len(payload)))
                chunk.append(payload)
                size += HEADER.size + len(payload)
                if size >= _SEND_CHUNK:
                    transport.send(b"".join(chunk))
                    chunk, size = [], 0
            if chunk:
                transport.send(b"".join(chunk))
        return batch

    def _await(self, batch, labels):
        """Wait for all replies of a batch; at most ``request_timeout`` without any progress."""
        thread = self._router.thread
        total = len(labels)
        with batch.condition:
            seen, progress = batch.count, time.monotonic()
            while batch.count < total:
                now = time.monotonic()
                if batch.count != seen:
                    seen, progress = batch.count, now
                remaining = progress + self.request_timeout - now
                if remaining <= 0 or not thread.is_alive():
                    self.broken = True
                    op, path = labels[batch.replies.index(None)]
                    if remaining <= 0:
                        raise XenStoreTimeout(
                            "XenStore at %s did not answer %s within %g s (request_timeout)"
                            % (self.socket, describe(op, path), self.request_timeout), op=op, path=path)
                    cause = ": %s" % self.router_error if self.router_error is not None else ""
                    raise XenStoreConnectionError(
                        "connection to XenStore at %s was lost while waiting for %s%s"
                        % (self.socket, describe(op, path), cause), op=op, path=path)
                batch.condition.wait(min(remaining, _POLL_INTERVAL))
        return batch.replies
