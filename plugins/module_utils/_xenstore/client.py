# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""The XenStore client: the only code in this collection that uses pyxs.

Text in, text out: paths, values and permissions are ``str`` here and bytes on the wire.

Requests go through pyxs's router as raw packets (``Packet``/``Op`` from ``pyxs._internal``,
``client.router.send()``), the same way in pyxs 0.4.1 (PyPI) and Debian's 0.4.2 snapshot. That
lets a batch of requests be sent back to back and its replies collected after (XenStore answers a
connection's requests in order and echoes the request id), and it lets every reply be awaited
with a deadline: pyxs itself waits forever on a stalled daemon.
"""

from __future__ import annotations

import os
import queue
import stat
import random
import threading
import time
import traceback
import weakref

try:
    from pyxs import Client as _PyxsClient
    from pyxs.exceptions import PyXSError as _PyXSError
    from pyxs._internal import NUL as _NUL, Packet as _Packet, next_rq_id as _next_rq_id
except ImportError:
    HAS_PYXS = False
    PYXS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PYXS = True
    PYXS_IMPORT_ERROR = None

DEFAULT_SOCKET = "/var/run/xenstored/socket"

# Operation numbers of the XenStore wire protocol (xen/include/public/io/xs_wire.h).
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
}
_OP_ERROR = 16
# How often a wait for a reply checks that pyxs's router thread is still alive.
_POLL_INTERVAL = 0.2
# A batch is written in pieces of about this many bytes.
_SEND_CHUNK = 256 * 1024


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


class XenStoreError(Exception):
    """A XenStore request failed. ``errno`` holds the daemon's error name (``ENOENT``, ...)."""

    def __init__(self, message, errno=None, op=None, path=None):
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.op = op
        self.path = path


class XenStoreTimeout(XenStoreError):
    """The daemon did not answer within the request timeout."""


class XenStoreConnectionError(XenStoreError):
    """The connection to the daemon could not be opened or was lost."""


class TransactionConflict(XenStoreError):
    """A transaction kept failing with EAGAIN after all the allowed attempts."""


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


def _describe(op, path):
    return "%s %s" % (op.upper(), path) if path else op.upper()


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


class XenStore:
    """A connection to xenstored over its Unix socket.

    ``batch()`` sends requests back to back, then collects the replies; each reply is awaited
    for at most ``request_timeout`` seconds after the previous one arrived.
    """

    # False: one pyxs Router.send() per request (the path taken when pyxs's internals differ).
    batched_send = True

    def __init__(self, socket=None, request_timeout=10.0):
        self.socket = socket_path(socket)
        self.request_timeout = float(request_timeout)
        self._client = None
        self._broken = False
        self._sink = _EventSink()
        self._watch_counter = 0
        self.requests_sent = 0
        # Why pyxs's router thread stopped, when it did.
        self.router_error = None
        # Connections opened again after one was lost (run_transaction).
        self.reconnects = 0

    # Connection ------------------------------------------------------------------------
    def open(self):
        if not HAS_PYXS:
            raise XenStoreConnectionError("the pyxs Python library is not installed")
        check_socket(self.socket)
        client = _PyxsClient(unix_socket_path=self.socket)
        _install_router_excepthook()
        _ROUTER_OWNERS[client.router.thread] = self
        try:
            client.connect()
        except (_PyXSError, OSError) as exc:
            if "Connection refused" in str(exc):
                # A socket file left by a daemon that stopped: say so rather than pyxs's tuple.
                raise XenStoreConnectionError(
                    "cannot connect to XenStore at %s: nothing listens on this socket (connection refused); "
                    "is xenstored running on this host?" % self.socket)
            raise XenStoreConnectionError(
                "cannot connect to XenStore at %s: %s" % (self.socket, exc))
        transport = getattr(client.router.connection, "transport", None)
        sock = getattr(transport, "sock", None)
        if sock is not None:
            # Bounds sends to a daemon that stopped reading, and partial replies.
            sock.settimeout(self.request_timeout)
        self._client = client
        return self

    def reconnect(self):
        """Drop this connection (and whatever transaction the daemon held for it) and open a new one."""
        self.close()
        self._broken = False
        self.router_error = None
        self.reconnects += 1
        return self.open()

    def close(self):
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except (_PyXSError, OSError):
                pass

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info):
        self.close()

    # Requests --------------------------------------------------------------------------
    @staticmethod
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
        if op == "transaction_start":
            return _NUL
        if op == "transaction_end":
            return (b"T" if request[2] else b"F") + _NUL
        raise ValueError("unknown XenStore operation %r" % (op,))

    def _await(self, rvar, op, path, started):
        """Wait for one reply, at most ``request_timeout`` after ``started``."""
        router = self._client.router
        deadline = started + self.request_timeout
        with rvar.condition:
            while rvar.target is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._broken = True
                    raise XenStoreTimeout(
                        "XenStore at %s did not answer %s within %g s (request_timeout)"
                        % (self.socket, _describe(op, path), self.request_timeout), op=op, path=path)
                if not router.thread.is_alive():
                    self._broken = True
                    cause = ": %s" % self.router_error if self.router_error is not None else ""
                    raise XenStoreConnectionError(
                        "connection to XenStore at %s was lost while waiting for %s%s"
                        % (self.socket, _describe(op, path), cause), op=op, path=path)
                rvar.condition.wait(min(remaining, _POLL_INTERVAL))
        return rvar.target

    def batch(self, requests, tx_id=0, raise_errors=True):
        """Send ``requests`` back to back, then return their decoded replies in order.

        A request is ``(op, path)``, ``("write", path, value)``, ``("set_perms", path, perms)``.
        Replies: ``read`` → str, ``directory``/``get_perms`` → list of str, others → None.
        With ``raise_errors=False`` a failed request's reply is its ``XenStoreError`` instead.
        """
        if self._client is None:
            raise XenStoreConnectionError("not connected to XenStore at %s" % self.socket)
        # (op, rq_id, tx_id, payload): pyxs's Packet is only built on the Router.send() path
        packets = [(_OPCODES[request[0]], _next_rq_id(), tx_id, self._payload(request)) for request in requests]
        if not packets:
            return []
        try:
            pending = self._send(packets)
        except (_PyXSError, OSError) as exc:
            self._broken = True
            raise XenStoreConnectionError(
                "cannot send %s to XenStore at %s: %s" % (_describe(requests[0][0], requests[0][1]), self.socket, exc),
                op=requests[0][0], path=requests[0][1])
        self.requests_sent += len(packets)
        if isinstance(pending, _Batch):
            packets = self._await_batch(pending, requests)
        else:
            packets = []
            started = time.monotonic()
            for request, rvar in zip(requests, pending):
                packets.append(self._await(rvar, request[0], request[1], started))
                started = time.monotonic()
        replies = [self._decode(request, packet) for request, packet in zip(requests, packets)]
        if raise_errors:
            for reply in replies:
                if isinstance(reply, XenStoreError):
                    raise reply
        return replies

    def _await_batch(self, batch, requests):
        """Wait for all replies of a batch; at most ``request_timeout`` without any progress."""
        router = self._client.router
        total = len(requests)
        with batch.condition:
            seen, progress = batch.count, time.monotonic()
            while batch.count < total:
                now = time.monotonic()
                if batch.count != seen:
                    seen, progress = batch.count, now
                remaining = progress + self.request_timeout - now
                missing = requests[batch.replies.index(None)] if remaining <= 0 or not router.thread.is_alive() else None
                if remaining <= 0:
                    self._broken = True
                    raise XenStoreTimeout(
                        "XenStore at %s did not answer %s within %g s (request_timeout)"
                        % (self.socket, _describe(missing[0], missing[1]), self.request_timeout),
                        op=missing[0], path=missing[1])
                if missing is not None:
                    self._broken = True
                    cause = ": %s" % self.router_error if self.router_error is not None else ""
                    raise XenStoreConnectionError(
                        "connection to XenStore at %s was lost while waiting for %s%s"
                        % (self.socket, _describe(missing[0], missing[1]), cause), op=missing[0], path=missing[1])
                batch.condition.wait(min(remaining, _POLL_INTERVAL))
        return batch.replies

    def _send(self, packets):
        """Send packets back to back; return what their replies will be collected from.

        pyxs's ``Router.send()`` costs two ``sendall`` calls and a ``threading.Condition`` per
        packet. When the router has what both pyxs builds have (0.4.1 and Debian's 0.4.2: a
        ``rvars`` dict whose values it calls ``.set(packet)`` on, ``send_lock``, a transport with
        ``send``), the batch registers one light slot per request, then is written with a few
        large ``sendall`` calls, in the order ``Router.send()`` follows (reply slot registered
        before the request leaves): returns a ``_Batch``. Otherwise ``Router.send()`` per
        packet: returns pyxs's ``RVar`` list.
        """
        router = self._client.router
        transport = getattr(router.connection, "transport", None)
        rvars_by_id = getattr(router, "rvars", None)
        if not self.batched_send or not isinstance(rvars_by_id, dict) or not hasattr(transport, "send") \
                or not hasattr(router, "send_lock"):
            return [router.send(_Packet(op, payload, rq_id, tx_id)) for op, rq_id, tx_id, payload in packets]
        header = _Packet._struct
        batch = _Batch(len(packets))
        with router.send_lock:
            chunk, size = [], 0
            for index, (op, rq_id, tx_id, payload) in enumerate(packets):
                rvars_by_id[rq_id] = _Slot(batch, index)
                chunk.append(header.pack(op, rq_id, tx_id, len(payload)))
                chunk.append(payload)
                size += header.size + len(payload)
                if size >= _SEND_CHUNK:
                    transport.send(b"".join(chunk))
                    chunk, size = [], 0
            if chunk:
                transport.send(b"".join(chunk))
        return batch

    def _decode(self, request, packet):
        """A reply as text (see ``batch()``), or the ``XenStoreError`` the daemon answered."""
        op, path = request[0], request[1]
        if packet.op == _OP_ERROR:
            name = packet.payload.rstrip(_NUL).decode("ascii", "replace")
            cause = name
            if name == "E2BIG" and op == "directory":
                # The answer would exceed 4096 bytes; xenstored then offers DIRECTORY_PART, whose
                # replies pyxs's router cannot receive (its Op table stops at SET_TARGET).
                cause = "E2BIG (more children than one 4096-byte reply holds)"
            return XenStoreError("XenStore %s failed: %s" % (_describe(op, path), cause),
                                 errno=name, op=op, path=path)
        if packet.op != _OPCODES[op]:
            self._broken = True
            raise XenStoreConnectionError(
                "XenStore at %s answered %s with an unexpected packet (op %d)"
                % (self.socket, _describe(op, path), packet.op), op=op, path=path)
        payload = packet.payload
        if op == "read":
            return payload.decode("ascii", "backslashreplace")
        if op in ("directory", "get_perms"):
            return [item.decode("ascii", "backslashreplace") for item in payload.split(_NUL) if item]
        if op == "transaction_start":
            return int(payload.rstrip(_NUL))
        return None

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
        """The children of ``path``, or None when it does not exist."""
        reply = self.batch([("directory", path)], tx_id, raise_errors=False)[0]
        if isinstance(reply, XenStoreError):
            if reply.errno == "ENOENT":
                return None
            raise reply
        return reply

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
        if self._broken or self._client is None:
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
            self._client.router.subscribe(token.encode("ascii"), self._sink)
            tokens[token] = path
            requests.append(("watch", path, token))
        self.batch(requests)
        return tokens

    def unwatch(self, tokens):
        if self._client is None or self._broken:
            return
        self.batch([("unwatch", path, token) for token, path in tokens.items()], raise_errors=False)
        for token in tokens:
            try:
                self._client.router.unsubscribe(token.encode("ascii"), self._sink)
            except ValueError:
                pass

    def wait_events(self, timeout):
        """Paths of the watch events that arrive within ``timeout`` s (all queued ones at once)."""
        paths = []
        try:
            event = self._sink.events.get(timeout=max(timeout, 0))
        except queue.Empty:
            return paths
        paths.append(event[0].decode("ascii", "backslashreplace"))
        while True:
            try:
                event = self._sink.events.get_nowait()
            except queue.Empty:
                return paths
            paths.append(event[0].decode("ascii", "backslashreplace"))


def backoff_delay(attempt, base=0.01, cap=1.0, rand=random.random):
    """Jittered exponential backoff: ``base * 2**attempt`` capped at ``cap``, times 0.5–1.5."""
    return min(cap, base * (2 ** attempt)) * (0.5 + rand())


class CommitInDoubt:
    """Wraps a transaction's result when a commit may have taken effect unseen.

    The connection was lost after a committing TRANSACTION_END left, before its reply came:
    xenstored may have applied it. The retry then re-read the store, so ``result`` is right about
    what is there now, but it cannot tell whether this call wrote it.
    """

    def __init__(self, result, error):
        self.result = result
        self.error = error


def run_transaction(xs, body, retries, sleep=time.sleep, rand=random.random):
    """Run ``body(tx_id) -> (result, commit)`` in a transaction, re-running it on EAGAIN.

    The whole read → plan → write cycle lives in ``body`` so a re-run sees fresh data. With
    ``commit`` false (nothing to write, or check mode) the transaction is aborted instead.
    ``retries`` bounds the re-runs after the first attempt. A connection lost during an attempt
    (the daemon discards the transaction it held for it) also costs one: the connection is opened
    again and the body re-run. A daemon that does not answer in time is not retried (that would
    only multiply the wait): ``XenStoreTimeout`` propagates, as do the body's own errors.
    Returns the body's result, or a ``CommitInDoubt`` wrapping it when a lost connection left an
    earlier commit's outcome unknown.
    """
    attempt = conflicts = 0
    in_doubt = None
    while True:
        committing = False
        try:
            tx_id = xs.transaction_start()
            try:
                result, commit = body(tx_id)
            except XenStoreConnectionError:
                raise
            except BaseException:
                xs.abort_quietly(tx_id)
                raise
            committing = commit
            if xs.transaction_end(tx_id, commit) or not commit:
                return CommitInDoubt(result, in_doubt) if in_doubt is not None else result
            lost = None
            conflicts += 1
        except XenStoreConnectionError as exc:  # not XenStoreTimeout: that one propagates
            lost = exc
            if committing:
                in_doubt = exc
        attempt += 1
        if attempt > retries:
            if lost is not None:
                raise XenStoreConnectionError(
                    "%s; gave up after %d attempts on new connections (retries=%d)"
                    % (lost.message, attempt, retries), op=lost.op, path=lost.path)
            raise TransactionConflict(
                "the XenStore transaction at %s conflicted with concurrent writers (EAGAIN) %d times; "
                "gave up after %d attempts (retries=%d)" % (xs.socket, conflicts, attempt, retries),
                errno="EAGAIN")
        sleep(backoff_delay(attempt - 1, rand=rand))
        if lost is not None:
            xs.reconnect()


__all__ = ["HAS_PYXS", "PYXS_IMPORT_ERROR", "DEFAULT_SOCKET", "XenStore", "XenStoreError",
           "XenStoreTimeout", "XenStoreConnectionError", "TransactionConflict", "run_transaction", "CommitInDoubt",
           "socket_path", "backoff_delay", "check_socket"]
