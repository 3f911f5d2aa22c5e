# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scripted driver peers: small real-protocol programs playing a driver's side of xenbus.

They talk xs_wire to the test daemon like a Linux xenbus driver would (``xenbus_switch_state``
writes ``<device>/state``; drivers watch the other end's ``state``). Roles:

``closer``    backend side of a device removal only: watches
              ``/local/domain/<b>/backend/<type>`` and answers ``state`` 5 (Closing) with
              6 (Closed), as libxl's device removal expects from a backend driver.
``backend``   the handshake's backend side: on a device whose ``state`` is 1 and that has
              ``frontend`` and ``frontend-id`` (what makes Linux probe a backend) it writes
              its driver keys (``--key name=value``, e.g. ``feature-x=1``,
              ``hotplug-status=connected``), then ``state`` 2 (InitWait); once the frontend
              is 3 (Initialised) or 4 (Connected) it writes 4; Closing 5 -> Closed 6.
``frontend``  through the guest socket of domain ``--domid``: watches its
              ``device/<type>``; when a device has ``state`` 1 and a ``backend`` path, it
              watches the backend's ``state`` and after seeing 2 (InitWait) or 4 writes
              ``ring-ref``/``event-channel`` (or ``--key`` values) then ``state`` 4
              (Connected); backend Closing 5 -> frontend Closed 6.

Command line: ``PYTHONPATH=tests python -m xenstored.peers --socket S --role backend
--domid 0 --type mydevice``; prints ``ready`` once its watch is registered; stops on
SIGTERM. From pytest: the ``backend_peer`` fixture or ``PeerProcess(daemon, ...)``;
``FleetPeer`` plays both drivers of a whole Xen host in a thread (fleet tests, benchmarks).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading

from .client import XsClient
from .daemon import terminate
from .protocol import XsError

INITIALISING, INITWAIT, INITIALISED, CONNECTED, CLOSING, CLOSED = 1, 2, 3, 4, 5, 6
ROLES = ("closer", "backend", "frontend")


class Peer:
    """One driver peer on one connection (main socket for dom0, else a guest socket)."""

    def __init__(self, client: XsClient, role: str, domid: int, devtype: str,
                 keys: dict | None = None):
        if role not in ROLES:
            raise ValueError("role must be one of %s" % ", ".join(ROLES))
        self.client = client
        self.role = role
        self.domid = domid
        self.devtype = devtype
        if role == "frontend":
            self.base = "/local/domain/%d/device/%s" % (domid, devtype)
            default_keys = {"ring-ref": "8", "event-channel": "12"}
        else:
            self.base = "/local/domain/%d/backend/%s" % (domid, devtype)
            default_keys = {}
        self.keys = default_keys if keys is None else keys
        self.other_watches: set = set()
        self.running = True

    def _state(self, path: str) -> int | None:
        try:
            value = self.client.read(path)
        except XsError:
            return None
        try:
            return int(value)
        except ValueError:
            return None

    def _read(self, path: str) -> str | None:
        try:
            return self.client.read(path).decode()
        except XsError:
            return None

    def device_of(self, path: str) -> str | None:
        """The device directory an event path belongs to (None if outside our base)."""
        if not path.startswith(self.base + "/"):
            return None
        depth = 2 if self.role != "frontend" else 1  # backend: <fe domid>/<devid>
        parts = path[len(self.base) + 1:].split("/")
        if len(parts) < depth:
            return None
        return self.base + "/" + "/".join(parts[:depth])

    def start(self) -> None:
        """Register the watch on our base directory."""
        self.client.watch(self.base, "dev")

    def handle_event(self, path: str, token: str) -> None:
        """React to one watch event."""
        if token == "dev":
            device = self.device_of(path)
            if device is not None:
                self.reconcile(device)
            elif path == self.base:
                for device in self._devices():
                    self.reconcile(device)
        elif token.startswith("other:"):
            self.reconcile(token[len("other:"):])

    def _devices(self):
        try:
            first = self.client.directory(self.base)
        except XsError:
            return []
        if self.role == "frontend":
            return [self.base + "/" + name for name in first]
        devices = []
        for fe in first:
            try:
                devices += ["%s/%s/%s" % (self.base, fe, d)
                            for d in self.client.directory(self.base + "/" + fe)]
            except XsError:
                pass
        return devices

    def _switch(self, device: str, state: int) -> None:
        try:
            self.client.write(device + "/state", str(state))
        except XsError:
            pass  # the device went away meanwhile

    def _write_keys(self, device: str) -> None:
        for name, value in self.keys.items():
            try:
                self.client.write("%s/%s" % (device, name), value)
            except XsError:
                pass

    def _watch_other(self, device: str, other_state_path: str) -> None:
        if device not in self.other_watches:
            self.other_watches.add(device)
            try:
                self.client.watch(other_state_path, "other:" + device)
            except XsError:
                self.other_watches.discard(device)

    def reconcile(self, device: str) -> None:
        """Bring one device one step further, like the driver's state machine."""
        state = self._state(device + "/state")
        if state is None:
            return
        if state == CLOSING:
            self._switch(device, CLOSED)
            return
        if self.role == "closer":
            return
        if self.role == "backend":
            frontend = self._read(device + "/frontend")
            if frontend is None or self._read(device + "/frontend-id") is None:
                return
            if state == INITIALISING:
                self._write_keys(device)
                self._switch(device, INITWAIT)
                state = INITWAIT
            self._watch_other(device, frontend + "/state")
            if state == INITWAIT and self._state(frontend + "/state") in (INITIALISED,
                                                                          CONNECTED):
                self._switch(device, CONNECTED)
            return
        backend = self._read(device + "/backend")
        if backend is None:
            return
        self._watch_other(device, backend + "/state")
        other = self._state(backend + "/state")
        if other == CLOSING and state != CLOSED:
            self._switch(device, CLOSED)
        elif other in (INITWAIT, CONNECTED) and state in (INITIALISING, INITWAIT,
                                                          INITIALISED):
            self._write_keys(device)
            self._switch(device, CONNECTED)

    def run(self) -> None:
        """Serve events until stopped."""
        while self.running:
            try:
                path, token = self.client.wait_event(timeout=0.5)
            except TimeoutError:
                continue
            self.handle_event(path, token)


class FleetPeer(threading.Thread):
    """Both drivers of every device of one Xen host, on one privileged connection, in a thread.

    Cheaper than a ``PeerProcess`` per domain and type when a test or benchmark runs many
    hosts: a backend ``state`` 1 (a new device) gets Connected (4) on both ends, as the sample
    drivers reach it, and backend Closing (5) gets Closed (6). Its first request is an EXISTS of
    ``MARK``, so ``conn_id()`` can tell its requests apart in the daemon's log.
    """

    MARK = "/splitdriver-test-peer"
    BACKEND_STATE = re.compile(r"^/local/domain/[0-9]+/backend/[^/]+/[0-9]+/[0-9]+/state$")

    def __init__(self, socket_path: str):
        super().__init__(daemon=True)
        self.cli = XsClient(socket_path, timeout=5)
        self.cli.exists(self.MARK)
        self.cli.watch("/local/domain", "fleet-peer")  # dom0's and driver domains' backends
        self.running = True
        self._conn = None
        self.start()

    def conn_id(self, requests) -> int:
        """The peer's connection id, from the daemon's request log entries ``requests``."""
        if self._conn is None:
            self._conn = next(r["conn"] for r in requests if r["path"] == self.MARK)
        return self._conn

    def run(self) -> None:
        while self.running:
            try:
                path, _token = self.cli.wait_event(0.2)
            except TimeoutError:
                continue
            except (OSError, ConnectionError):
                return
            if not self.BACKEND_STATE.match(path):
                continue
            try:
                state = self.cli.read(path)
                if state == b"%d" % INITIALISING:
                    frontend = self.cli.read(path[: -len("/state")] + "/frontend").decode()
                    self.cli.write(frontend + "/state", str(CONNECTED))
                    self.cli.write(path, str(CONNECTED))
                elif state == b"%d" % CLOSING:
                    self.cli.write(path, str(CLOSED))
            except XsError:
                continue  # removed meanwhile
            except (OSError, ConnectionError):
                return

    def stop(self) -> None:
        self.running = False
        self.join(5)
        self.cli.close()


class PeerProcess:
    """A peer running as a subprocess against a ``XenstoredProcess``."""

    def __init__(self, daemon, role: str = "closer", domid: int = 0,
                 devtype: str = "mydevice", keys: dict | None = None):
        self.daemon = daemon
        self.role = role
        self.domid = domid
        self.devtype = devtype
        self.keys = keys
        self.proc: subprocess.Popen | None = None

    def command(self) -> list:
        """The peer's argv."""
        use_guest = self.role == "frontend" or self.domid != 0
        sock = self.daemon.guest_socket(self.domid) if use_guest else self.daemon.socket
        argv = [sys.executable, "-m", "xenstored.peers", "--socket", sock,
                "--role", self.role, "--domid", str(self.domid), "--type", self.devtype]
        for name, value in (self.keys or {}).items():
            argv += ["--key", "%s=%s" % (name, value)]
        if self.keys is not None and not self.keys:
            argv.append("--no-keys")
        return argv

    def start(self, timeout: float = 10.0) -> "PeerProcess":
        """Start and wait (bounded) for its ``ready`` line."""
        env = dict(os.environ)
        tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = tests_dir + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            self.command(), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            text=True)
        import select  # pylint: disable=import-outside-toplevel
        ready, _w, _x = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError("peer %s did not start: %r" % (self.role, line))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait."""
        if self.proc is None or self.proc.poll() is not None:
            return
        terminate(self.proc, timeout)
        if self.proc.stdout:
            self.proc.stdout.close()


def main(argv=None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m xenstored.peers",
                                     description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--socket", required=True, help="daemon socket (guest socket for a "
                        "frontend or a backend in a driver domain)")
    parser.add_argument("--role", choices=ROLES, default="closer")
    parser.add_argument("--domid", type=int, default=0,
                        help="backend domain (closer/backend) or frontend domain (frontend)")
    parser.add_argument("--type", default="mydevice", help="device type")
    parser.add_argument("--key", action="append", default=[], metavar="NAME=VALUE",
                        help="driver key written before switching state (repeatable)")
    parser.add_argument("--no-keys", action="store_true", help="write no driver keys")
    args = parser.parse_args(argv)
    keys = dict(item.split("=", 1) for item in args.key) if args.key else None
    if args.no_keys:
        keys = {}
    peer = Peer(XsClient(args.socket), args.role, args.domid, args.type, keys)

    def stop(_signum, _frame):
        peer.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    peer.start()
    print("ready", flush=True)
    peer.run()
    peer.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
