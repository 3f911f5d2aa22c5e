# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test XenStore daemon: xs_wire over Unix sockets, one process, one selector loop.

What matches Xen 4.17's C xenstored (``tools/xenstore/xenstored_*.c``):

* the wire format, operation numbers, errno strings, req_id/tx_id echoed in every reply,
  requests of one connection answered in order (every complete request in the read buffer
  is processed, so pipelined clients work), watch events sent with req_id 0;
* operations READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART (what libxenstore falls
  back to on E2BIG), GET_PERMS, SET_PERMS (also on ``@releaseDomain``/``@introduceDomain``),
  WATCH, UNWATCH, RESET_WATCHES, TRANSACTION_START/END, GET_DOMAIN_PATH, INTRODUCE, RELEASE,
  RESUME, SET_TARGET, IS_DOMAIN_INTRODUCED; privileged-only operations give EACCES to
  guests; unknown ones ENOSYS; a header announcing more than 4096 bytes drops the connection;
* node semantics, permissions, quotas and transactions: see ``store.py``;
* watches (``xenstored_watch.c``): an initial event right after the WATCH reply; events for
  a change at or below the watched path; removing a subtree fires every removed node's exact
  watches and the removed root's watches and its ancestors'; relative watch paths get
  relative event paths; guests only get events for nodes whose permissions (new, or old
  ones for a permission change) or whose parent's permissions let them read; a write's events are
  queued before its reply; a transaction's events fire at commit; at most 128 watches per
  guest domain (E2BIG), duplicates give EEXIST;
* at most 10 (+1, as xenstored counts) open transactions per guest connection (ENOSPC).

What is simulated, because there is no hypervisor:

* The main socket is a privileged (dom0, "tools") connection. A guest domain N is reached
  through the socket ``<main socket>.d<N>``: every connection accepted there acts as domain
  N, unprivileged, with implicit path ``/local/domain/N``. Such a socket exists for every
  domain given with ``--guest N`` or ``--seed-xl``, and for every domain introduced with
  INTRODUCE (the gfn and event channel are checked like xenstored does, then ignored);
  RELEASE of the domain closes the socket and its connections and fires ``@releaseDomain``.
* "Existing domains" (whose domids are valid owners in SET_PERMS and whose ACL entries
  apply) are dom0 and the introduced ones.
* CONTROL (``xenstore-control``) is not implemented (ENOSYS); identical pending watch
  events are not merged (xenstored drops an identical event still queued for a client).
* Faults can be injected from tests (``faults.py``): EAGAIN on commit, a connection dropped
  before or after a request, a connection that stops answering. They are armed over the
  control socket ``<main socket>.ctl`` (privileged by file permissions alone, like the rest).
* Every request is appended to a JSON-lines request log (``--log``): ``{"conn", "domid",
  "op", "path", "tx", "rid", "result"}`` (``path`` is the canonical path, or the first
  argument for operations that take no path, e.g. ``T`` (commit) or ``F`` (abort) for
  TRANSACTION_END; ``result`` is ``OK`` or the errno). Log lines
  of a batch of requests are written before the replies are sent, so a client that has a
  reply always finds its request in the log.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket

from .protocol import (
    DOMID_SELF, HEADER, HEADER_SIZE, OP, OPS, PAYLOAD_MAX, PERM_OWNER, PERM_READ,
    PERM_WRITE, XsError, atoi, format_perms, is_valid_nodename, parent_of,
    parse_perms, wire_error,
)
from .faults import Faults
from .store import Caller, Node, Store, Transaction

QUOTA_WATCHES = 128
QUOTA_TRANSACTIONS = 10
SPECIAL = ("@releaseDomain", "@introduceDomain")
_PACK = HEADER.pack
_UNPACK = HEADER.unpack_from
_OP_ERROR = OP["ERROR"]
_OP_WATCH_EVENT = OP["WATCH_EVENT"]
_PRIV_OPS = frozenset(OP[name] for name in (
    "CONTROL", "INTRODUCE", "RELEASE", "IS_DOMAIN_INTRODUCED", "RESUME", "SET_TARGET"))
_NOTID_OPS = frozenset((OP["WATCH"], OP["UNWATCH"]))


class Connection:
    """One client connection (privileged on the main socket, domain N on ``.d<N>``)."""

    __slots__ = ("cid", "sock", "caller", "prefix", "inbuf", "out", "transactions",
                 "next_tid", "started", "watches", "writing", "domid", "stalled")

    def __init__(self, cid: int, sock, caller: Caller):
        self.cid = cid
        self.sock = sock
        self.caller = caller
        self.domid = caller.domid
        self.prefix = "/local/domain/%d" % caller.domid
        self.inbuf = bytearray()
        self.out = bytearray()
        self.transactions: dict = {}
        self.next_tid = 1
        self.started = 0
        self.watches: list = []      # [path, token, relative prefix or None]
        self.writing = False
        self.stalled = False


class Domain:
    """An introduced guest domain and its listening socket."""

    __slots__ = ("domid", "listener", "target")

    def __init__(self, domid: int, listener):
        self.domid = domid
        self.listener = listener
        self.target = None


def _onearg(payload: bytes) -> str:
    if not payload or payload.find(b"\0") != len(payload) - 1:
        raise XsError("EINVAL")
    return payload[:-1].decode("latin-1")


def _op_name(typ: int) -> str:
    """The request's operation name, as the request log and fault filters spell it."""
    return OPS[typ] if typ < len(OPS) else "UNKNOWN_%d" % typ


def _strings(payload: bytes) -> list:
    """The NUL-terminated strings of a payload (a trailing unterminated part is dropped)."""
    return [part.decode("latin-1") for part in payload.split(b"\0")[:-1]]


class XenstoredServer:
    """The daemon: owns the store, the listening sockets, the connections and the log."""

    def __init__(self, socket_path: str, log_path: str | None = None,
                 pid_path: str | None = None):
        self.socket_path = socket_path
        self.pid_path = pid_path
        self.store = Store()
        self.selector = selectors.DefaultSelector()
        self.conns: dict = {}
        self.domains: dict = {}
        self.special_perms = {name: ((0, 0),) for name in SPECIAL}
        self.next_cid = 1
        self.dirty: set = set()
        self.running = True
        self.log_fd = (os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                       if log_path else None)
        self.log_lines: list = []
        self.watch_count = 0
        self.current_path = None
        self.faults = Faults()
        self.handlers = {
            OP["READ"]: self.op_read, OP["WRITE"]: self.op_write, OP["MKDIR"]: self.op_mkdir,
            OP["RM"]: self.op_rm, OP["DIRECTORY"]: self.op_directory,
            OP["DIRECTORY_PART"]: self.op_directory_part, OP["GET_PERMS"]: self.op_get_perms,
            OP["SET_PERMS"]: self.op_set_perms, OP["WATCH"]: self.op_watch,
            OP["UNWATCH"]: self.op_unwatch, OP["RESET_WATCHES"]: self.op_reset_watches,
            OP["TRANSACTION_START"]: self.op_transaction_start,
            OP["TRANSACTION_END"]: self.op_transaction_end,
            OP["GET_DOMAIN_PATH"]: self.op_get_domain_path,
            OP["INTRODUCE"]: self.op_introduce, OP["RELEASE"]: self.op_release,
            OP["RESUME"]: self.op_resume, OP["SET_TARGET"]: self.op_set_target,
            OP["IS_DOMAIN_INTRODUCED"]: self.op_is_domain_introduced,
        }
        self.main_listener = self._listen(socket_path, None)
        self.control_listener = self._listen(socket_path + ".ctl", None, kind="control")
        self.wakeup_r, self.wakeup_w = socket.socketpair()
        self.wakeup_r.setblocking(False)
        self.wakeup_w.setblocking(False)
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, ("wakeup", None))

    # ------------------------------------------------------------------------------ sockets
    def _listen(self, path: str, domid: int | None, kind: str = "listen"):
        if len(path.encode()) >= 108:
            raise ValueError("socket path too long for AF_UNIX (%d bytes): %s"
                             % (len(path.encode()), path))
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(64)
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, (kind, domid))
        return listener

    def guest_socket_path(self, domid: int) -> str:
        """Where connections acting as domain ``domid`` are accepted."""
        return "%s.d%d" % (self.socket_path, domid)

    def add_guest(self, domid: int, fire: bool = True) -> bool:
        """Introduce a domain: it exists from now on and gets its guest socket."""
        if domid in self.domains or domid == 0:
            return False
        self.store.add_domain(domid)
        listener = self._listen(self.guest_socket_path(domid), domid)
        self.domains[domid] = Domain(domid, listener)
        if fire:
            self.fire_special("@introduceDomain")
        return True

    def release_guest(self, domid: int) -> None:
        """Forget a domain: close its socket and connections, fire @releaseDomain."""
        domain = self.domains.pop(domid)
        self.selector.unregister(domain.listener)
        domain.listener.close()
        try:
            os.unlink(self.guest_socket_path(domid))
        except FileNotFoundError:
            pass
        for conn in [c for c in self.conns.values() if c.domid == domid and not c.caller.priv]:
            self.close(conn)
        self.store.remove_domain(domid)
        self.fire_special("@releaseDomain")

    def _accept(self, listener, domid: int | None) -> None:
        while True:
            try:
                sock, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            if domid is None:
                caller = Caller(0, True)
            else:
                caller = Caller(domid, False, self.domains[domid].target)
            conn = Connection(self.next_cid, sock, caller)
            self.next_cid += 1
            self.conns[sock.fileno()] = conn
            self.selector.register(sock, selectors.EVENT_READ, ("conn", conn))

    def close(self, conn: Connection) -> None:
        """Drop a connection with its watches and transactions."""
        if self.conns.pop(conn.sock.fileno(), None) is None:
            return
        self.watch_count -= len(conn.watches)
        self.selector.unregister(conn.sock)
        conn.sock.close()
        self.dirty.discard(conn)

    # ----------------------------------------------------------------------------- the loop
    def serve(self) -> None:
        """Run until SIGTERM/SIGINT; then remove the sockets and the pid file."""
        old_wakeup = signal.set_wakeup_fd(self.wakeup_w.fileno())
        old_handlers = {sig: signal.signal(sig, self._on_signal)
                        for sig in (signal.SIGTERM, signal.SIGINT)}
        if self.pid_path:
            with open(self.pid_path, "w", encoding="ascii") as pidfile:
                pidfile.write("%d\n" % os.getpid())
        try:
            while self.running:
                for key, mask in self.selector.select():
                    kind, data = key.data
                    if kind == "conn":
                        if mask & selectors.EVENT_READ:
                            self._on_readable(data)
                        if mask & selectors.EVENT_WRITE and data.sock.fileno() in self.conns:
                            self.dirty.add(data)
                    elif kind == "listen":
                        self._accept(key.fileobj, data)
                    elif kind == "control":
                        self._control(key.fileobj)
                    else:
                        try:
                            self.wakeup_r.recv(64)
                        except BlockingIOError:
                            pass
                self.flush_log()
                if self.dirty:
                    self._flush_output()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            self.shutdown()

    def _on_signal(self, _signum, _frame) -> None:
        self.running = False

    def shutdown(self) -> None:
        """Close everything and remove the sockets and the pid file."""
        self.flush_log()
        for conn in list(self.conns.values()):
            self.close(conn)
        paths = [self.socket_path, self.socket_path + ".ctl"]
        paths += [self.guest_socket_path(d) for d in self.domains]
        for domain in self.domains.values():
            domain.listener.close()
        self.main_listener.close()
        self.control_listener.close()
        if self.pid_path:
            paths.append(self.pid_path)
        for path in paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if self.log_fd is not None:
            os.close(self.log_fd)
            self.log_fd = None

    def _control(self, listener) -> None:
        """Answer one fault-injection command (one JSON line in, one out; see faults.py)."""
        try:
            sock, _addr = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        with sock:
            sock.settimeout(5)
            data = b""
            try:
                while not data.endswith(b"\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                try:
                    reply = self.faults.command(json.loads(data))
                except (ValueError, TypeError) as exc:
                    reply = {"error": str(exc)}
                sock.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass

    def flush_log(self) -> None:
        """Write the buffered request log lines (one write call)."""
        if self.log_lines:
            if self.log_fd is not None:
                os.write(self.log_fd, "".join(self.log_lines).encode())
            self.log_lines.clear()

    def _flush_output(self) -> None:
        for conn in list(self.dirty):
            if conn.out:
                try:
                    sent = conn.sock.send(conn.out)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError:
                    self.close(conn)
                    continue
                del conn.out[:sent]
            want_write = bool(conn.out)
            if want_write != conn.writing:
                conn.writing = want_write
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
                self.selector.modify(conn.sock, events, ("conn", conn))
        self.dirty.clear()

    def _on_readable(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close(conn)
            return
        buf = conn.inbuf
        buf += data
        pos = 0
        end = len(buf)
        handle = self.handle
        while end - pos >= HEADER_SIZE:
            typ, rid, tid, length = _UNPACK(buf, pos)
            if length > PAYLOAD_MAX:
                self.close(conn)
                return
            stop = pos + HEADER_SIZE + length
            if stop > end:
                break
            handle(conn, typ, rid, tid, bytes(buf[pos + HEADER_SIZE:stop]))
            if conn.sock.fileno() not in self.conns:
                return
            pos = stop
        del buf[:pos]
        self.dirty.add(conn)

    # ----------------------------------------------------------------------------- requests
    def handle(self, conn: Connection, typ: int, rid: int, tid: int, payload: bytes) -> None:
        """Process one request and queue its reply (and any watch events)."""
        self.current_path = None
        fault = None
        if conn.stalled or self.faults.armed:
            fault = self._fault(conn, typ, rid, tid, payload)
            if fault in ("stall", "drop"):
                return
        try:
            handler = self.handlers.get(typ)
            if handler is None:
                raise XsError("ENOSYS")
            if typ in _PRIV_OPS and not conn.caller.priv:
                raise XsError("EACCES")
            tx = None
            if tid and typ not in _NOTID_OPS:
                tx = conn.transactions.get(tid)
                if tx is None:
                    raise XsError("ENOENT")
            reply = handler(conn, tx, payload)
            result = "OK"
            if self.store.events:
                self.fire_events()
            conn.out += _PACK(typ, rid, tid, len(reply))
            conn.out += reply
        except XsError as exc:
            result = wire_error(exc.errno)
            if self.store.events:
                self.fire_events()
            err = result.encode() + b"\0"
            conn.out += _PACK(_OP_ERROR, rid, tid, len(err))
            conn.out += err
        if typ == OP["WATCH"] and result == "OK":
            self._initial_event(conn)
        if self.log_fd is not None:
            self._log(conn, typ, self.current_path, tid, rid, result)
        if fault == "drop_after":
            self.close(conn)

    def _log(self, conn: Connection, typ: int, path: str | None, tid: int, rid: int, result: str) -> None:
        """Buffer one request log line (written by ``flush_log()``)."""
        self.log_lines.append(
            '{"conn":%d,"domid":%d,"op":"%s","path":%s,"tx":%d,"rid":%d,"result":"%s"}\n'
            % (conn.cid, conn.domid, _op_name(typ), json.dumps(path), tid, rid, result))

    def _fault(self, conn: Connection, typ: int, rid: int, tid: int, payload: bytes) -> str | None:
        """Apply an armed stall/drop fault to this request; returns its kind, if any."""
        fault = "stall" if conn.stalled else self.faults.take(
            conn.domid, _op_name(typ), tid, kinds=("drop", "drop_after", "stall"))
        if fault in ("stall", "drop"):
            if self.log_fd is not None:
                path = payload.split(b"\0", 1)[0].decode("latin-1") if payload else None
                self._log(conn, typ, path, tid, rid, "DROPPED" if fault == "drop" else "STALLED")
            if fault == "stall":
                conn.stalled = True
            else:
                self.close(conn)
        return fault

    def _path(self, conn: Connection, path: str) -> str:
        """``canonicalize()`` then ``is_valid_nodename()`` (EINVAL)."""
        if path and path[0] != "/" and path[0] != "@":
            path = conn.prefix + "/" + path
        self.current_path = path
        if not is_valid_nodename(path):
            raise XsError("EINVAL")
        return path

    def op_read(self, conn, tx, payload):
        """XS_READ path -> value."""
        return self.store.read(conn.caller, tx, self._path(conn, _onearg(payload)))

    def op_write(self, conn, tx, payload):
        """XS_WRITE path NUL value."""
        nul = payload.find(b"\0")
        if nul < 0:
            raise XsError("EINVAL")
        path = self._path(conn, payload[:nul].decode("latin-1"))
        self.store.write(conn.caller, tx, path, payload[nul + 1:])
        return b"OK\0"

    def op_mkdir(self, conn, tx, payload):
        """XS_MKDIR path."""
        self.store.mkdir(conn.caller, tx, self._path(conn, _onearg(payload)))
        return b"OK\0"

    def op_rm(self, conn, tx, payload):
        """XS_RM path (the whole subtree)."""
        self.store.rm(conn.caller, tx, self._path(conn, _onearg(payload)))
        return b"OK\0"

    def op_directory(self, conn, tx, payload):
        """XS_DIRECTORY path -> child names, each NUL-terminated."""
        names = self.store.directory(conn.caller, tx, self._path(conn, _onearg(payload)))
        reply = "".join(name + "\0" for name in names).encode("latin-1")
        if len(reply) > PAYLOAD_MAX:
            raise XsError("E2BIG")
        return reply

    def op_directory_part(self, conn, tx, payload):
        """XS_DIRECTORY_PART path offset -> generation, then a slice of the child list."""
        args = _strings(payload)
        if payload.count(b"\0") != 2:
            raise XsError("EINVAL")
        path = self._path(conn, args[0])
        node = self.store.get_node(conn.caller, tx, path, PERM_READ)
        children = "".join(name + "\0" for name in node.children).encode("latin-1")
        off = atoi(args[1])
        gen = b"%d\0" % node.gen
        if off >= len(children):
            return gen + b"\0"
        maxlen = PAYLOAD_MAX - len(gen) - 1
        length = 0
        pos = off
        while True:
            name_len = children.index(b"\0", pos) - pos
            if length + name_len >= maxlen:
                break
            length += name_len + 1
            pos += name_len + 1
            if off + length == len(children):
                break
        data = gen + children[off:off + length]
        if off + length == len(children):
            data += b"\0"
        return data

    def op_get_perms(self, conn, tx, payload):
        """XS_GET_PERMS path -> perm strings, each NUL-terminated."""
        perms = self.store.get_perms(conn.caller, tx, self._path(conn, _onearg(payload)))
        return "".join(item + "\0" for item in format_perms(perms)).encode()

    def op_set_perms(self, conn, tx, payload):
        """XS_SET_PERMS path perm... (also on the special @ nodes)."""
        args = _strings(payload)
        if len(args) < 2:
            raise XsError("EINVAL")
        perms = parse_perms(args[1:])
        if args[0].startswith("@"):
            self.current_path = args[0]
            if args[0] not in self.special_perms:
                raise XsError("EINVAL")
            current = Node(b"", self.special_perms[args[0]], {}, 0, self.store.gen)
            if perms[0][0] not in self.store.domains:
                raise XsError("ENOENT")
            if not conn.caller.priv and not (
                    self.store.perm_for(conn.caller, current) & (PERM_WRITE | PERM_OWNER)):
                raise XsError("EACCES")
            self.special_perms[args[0]] = perms
            return b"OK\0"
        path = self._path(conn, args[0])
        self.store.set_perms(conn.caller, tx, path, perms)
        return b"OK\0"

    # ------------------------------------------------------------------------------ watches
    def op_watch(self, conn, _tx, payload):
        """XS_WATCH path token; the initial event follows the reply."""
        args = _strings(payload)
        if len(args) < 2:
            raise XsError("EINVAL")
        path, token = args[0], args[1]
        relative = None
        if path.startswith("@"):
            self.current_path = path
            if len(path) > 2048:
                raise XsError("EINVAL")
        else:
            if not path.startswith("/"):
                relative = conn.prefix
            path = self._path(conn, path)
        for watch in conn.watches:
            if watch[0] == path and watch[1] == token:
                raise XsError("EEXIST")
        if not conn.caller.priv and self._domain_watches(conn.domid) > QUOTA_WATCHES:
            raise XsError("E2BIG")
        conn.watches.append([path, token, relative])
        self.watch_count += 1
        return b"OK\0"

    def _domain_watches(self, domid: int) -> int:
        return sum(len(c.watches) for c in self.conns.values()
                   if c.domid == domid and not c.caller.priv)

    def _initial_event(self, conn: Connection) -> None:
        path, token, relative = conn.watches[-1]
        self._send_event(conn, self._watch_path(path, relative), token)

    @staticmethod
    def _watch_path(name: str, relative: str | None) -> str:
        if relative is None:
            return name
        name = name[len(relative):]
        return name[1:] if name.startswith("/") else name

    @staticmethod
    def _send_event(conn: Connection, path: str, token: str) -> None:
        body = (path + "\0" + token + "\0").encode("latin-1")
        if len(body) > PAYLOAD_MAX:
            return
        conn.out += _PACK(_OP_WATCH_EVENT, 0, 0, len(body))
        conn.out += body

    def op_unwatch(self, conn, _tx, payload):
        """XS_UNWATCH path token."""
        args = _strings(payload)
        if len(args) < 2:
            raise XsError("EINVAL")
        path = args[0]
        if path and path[0] not in "/@":
            path = conn.prefix + "/" + path
        self.current_path = path
        for index, watch in enumerate(conn.watches):
            if watch[0] == path and watch[1] == args[1]:
                del conn.watches[index]
                self.watch_count -= 1
                return b"OK\0"
        raise XsError("ENOENT")

    def op_reset_watches(self, conn, _tx, _payload):
        """XS_RESET_WATCHES: drop the connection's watches and transactions."""
        self.watch_count -= len(conn.watches)
        conn.watches.clear()
        conn.transactions.clear()
        conn.started = 0
        return b"OK\0"

    def fire_events(self) -> None:
        """Deliver the store's pending change events to matching watches."""
        events = self.store.events
        if self.watch_count:
            for path, exact, node, old_perms, parent in events:
                self._fire(path, exact, node, old_perms, parent)
        events.clear()

    def _fire(self, name: str, exact: bool, node: Node, old_perms, parent) -> None:
        for conn in self.conns.values():
            if not conn.watches:
                continue
            if not conn.caller.priv and not self._watch_permitted(conn, name, node, old_perms,
                                                                  parent):
                continue
            for path, token, relative in conn.watches:
                if exact:
                    if name != path:
                        continue
                elif not (path == "/" or name == path or name.startswith(path + "/")):
                    continue
                self._send_event(conn, self._watch_path(name, relative), token)
                self.dirty.add(conn)

    def _watch_permitted(self, conn, name, node, old_perms, parent) -> bool:
        """``watch_permitted()``: the watcher may read the node, its old perms or parent."""
        store = self.store
        if old_perms is not None and store.perm_for(
                conn.caller, Node(b"", old_perms, {}, 0, node.pgen)) & PERM_READ:
            return True
        if store.perm_for(conn.caller, node) & PERM_READ:
            return True
        if parent is None:
            parent = store.nodes.get(parent_of(name))
        return parent is not None and bool(store.perm_for(conn.caller, parent) & PERM_READ)

    def fire_special(self, name: str) -> None:
        """Fire @introduceDomain / @releaseDomain watches (readers of its perms only)."""
        perms_node = Node(b"", self.special_perms[name], {}, 0, self.store.gen)
        for conn in self.conns.values():
            if not conn.watches:
                continue
            if not conn.caller.priv and not (
                    self.store.perm_for(conn.caller, perms_node) & PERM_READ):
                continue
            for path, token, _relative in conn.watches:
                if path == name:
                    self._send_event(conn, name, token)
                    self.dirty.add(conn)

    # ------------------------------------------------------------------------- transactions
    def op_transaction_start(self, conn, tx, _payload):
        """XS_TRANSACTION_START -> the new transaction id."""
        if tx is not None:
            raise XsError("EBUSY")
        if not conn.caller.priv and conn.started > QUOTA_TRANSACTIONS:
            raise XsError("ENOSPC")
        tid = conn.next_tid
        while tid in conn.transactions or tid == 0:
            tid = (tid + 1) & 0xFFFFFFFF
        conn.next_tid = (tid + 1) & 0xFFFFFFFF
        conn.transactions[tid] = Transaction(tid)
        conn.started += 1
        return b"%d\0" % tid

    def op_transaction_end(self, conn, tx, payload):
        """XS_TRANSACTION_END "T" (commit, EAGAIN on conflict) or "F" (abort)."""
        arg = _onearg(payload) if payload else None
        self.current_path = arg
        if arg not in ("T", "F"):
            raise XsError("EINVAL")
        if tx is None:
            raise XsError("ENOENT")
        del conn.transactions[tx.tid]
        conn.started -= 1
        if arg == "T" and self.faults.armed and self.faults.take(
                conn.domid, "TRANSACTION_END", tx.tid, kinds=("eagain",)):
            raise XsError("EAGAIN")
        if arg == "T":
            self.store.commit(conn.caller, tx)
        return b"OK\0"

    # ------------------------------------------------------------------------------ domains
    def op_get_domain_path(self, conn, _tx, payload):
        """XS_GET_DOMAIN_PATH domid -> /local/domain/<domid>."""
        arg = _onearg(payload)
        self.current_path = arg
        return b"/local/domain/%d\0" % atoi(arg)

    def op_introduce(self, conn, _tx, payload):
        """XS_INTRODUCE domid gfn evtchn: the domain gets its guest socket."""
        args = _strings(payload)
        if len(args) < 3:
            raise XsError("EINVAL")
        self.current_path = args[0]
        if atoi(args[2]) <= 0:
            raise XsError("EINVAL")
        domid = atoi(args[0]) & 0xFFFF
        self.add_guest(domid)
        return b"OK\0"

    def _onearg_domain(self, payload) -> int:
        arg = _onearg(payload)
        self.current_path = arg
        domid = atoi(arg)
        if not domid:
            raise XsError("EINVAL")
        if domid not in self.domains:
            raise XsError("ENOENT")
        return domid

    def op_release(self, conn, _tx, payload):
        """XS_RELEASE domid: the domain is gone (fires @releaseDomain)."""
        self.release_guest(self._onearg_domain(payload))
        return b"OK\0"

    def op_resume(self, conn, _tx, payload):
        """XS_RESUME domid."""
        self._onearg_domain(payload)
        return b"OK\0"

    def op_set_target(self, conn, _tx, payload):
        """XS_SET_TARGET domid target: domid may act on target's nodes like its owner."""
        args = _strings(payload)
        if len(args) < 2:
            raise XsError("EINVAL")
        self.current_path = args[0]
        domid, target = atoi(args[0]), atoi(args[1])
        for checked in (domid, target):
            if checked not in self.domains:
                raise XsError("ENOENT")
        self.domains[domid].target = target
        for other in self.conns.values():
            if other.domid == domid and not other.caller.priv:
                other.caller.target = target
        return b"OK\0"

    def op_is_domain_introduced(self, conn, _tx, payload):
        """XS_IS_DOMAIN_INTRODUCED domid -> "T" or "F"."""
        arg = _onearg(payload)
        self.current_path = arg
        domid = atoi(arg)
        known = domid in (0, DOMID_SELF) or domid in self.domains
        return b"T\0" if known else b"F\0"
