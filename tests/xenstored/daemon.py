# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the test XenStore daemon as a subprocess and query its request log from Python."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from .client import XsClient
from . import seed

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def terminate(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM ``proc`` if it still runs, wait (bounded, then SIGKILL); returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


class XenstoredProcess:  # pylint: disable=too-many-instance-attributes
    """A running daemon: sockets, request log, seeding and domain lifecycle helpers.

    ``workdir`` defaults to a fresh short directory under /tmp (AF_UNIX paths must stay
    below 108 bytes). ``guests`` are introduced at start-up (guest sockets), ``seed_xl``
    (``{domid: name}``) seeds dom0 and those domUs like an xl host.
    """

    def __init__(self, workdir: str | None = None, guests=(), seed_xl: dict | None = None,
                 seed_dom0: bool = False, python: str = sys.executable):
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="xs", dir="/tmp")
        self.socket = os.path.join(self.workdir, "sock")
        self.log_path = os.path.join(self.workdir, "requests.jsonl")
        self.pid_path = os.path.join(self.workdir, "pid")
        self.guests = list(guests)
        self.seed_xl = dict(seed_xl or {})
        self.seed_dom0 = seed_dom0
        self.python = python
        self.proc: subprocess.Popen | None = None

    # ---------------------------------------------------------------------------- lifecycle
    def command(self) -> list:
        """The argv that starts the daemon."""
        argv = [self.python, "-m", "xenstored", "--socket", self.socket,
                "--log", self.log_path, "--pidfile", self.pid_path]
        for domid in self.guests:
            argv += ["--guest", str(domid)]
        if self.seed_xl:
            argv += ["--seed-xl", ",".join("%d=%s" % item for item in self.seed_xl.items())]
        elif self.seed_dom0:
            argv.append("--seed-dom0")
        return argv

    def start(self, timeout: float = 10.0) -> "XenstoredProcess":
        """Start the daemon and wait (bounded) until its socket answers a request."""
        env = dict(os.environ)
        env["PYTHONPATH"] = TESTS_DIR + os.pathsep + env.get("PYTHONPATH", "")
        errlog = open(os.path.join(self.workdir, "stderr"), "wb")  # pylint: disable=consider-using-with
        with errlog:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                self.command(), env=env, stdin=subprocess.DEVNULL,
                stdout=errlog, stderr=errlog)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("xenstored exited with %s: %s"
                                   % (self.proc.returncode, self.stderr()))
            try:
                with XsClient(self.socket, timeout=1.0) as client:
                    client.get_domain_path(0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError("xenstored did not answer on %s" % self.socket) from None
                time.sleep(0.02)
        self.clear_log()
        return self

    def stderr(self) -> str:
        """What the daemon printed."""
        try:
            with open(os.path.join(self.workdir, "stderr"), encoding="utf-8",
                      errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait (bounded, then SIGKILL); returns the exit code."""
        if self.proc is None:
            return None
        return terminate(self.proc, timeout)

    def cleanup(self) -> None:
        """Stop the daemon and remove its working directory (if we made it)."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.cleanup()

    # ------------------------------------------------------------------------------ sockets
    def guest_socket(self, domid: int) -> str:
        """The socket through which a client acts as guest ``domid``."""
        return "%s.d%d" % (self.socket, domid)

    def env(self, domid: int | None = None) -> dict:
        """Environment for libxenstore/pyxs clients (``XENSTORED_PATH``), as dom0 or a guest."""
        env = dict(os.environ)
        env["XENSTORED_PATH"] = self.socket if domid is None else self.guest_socket(domid)
        return env

    def client(self, domid: int | None = None, timeout: float = 10.0) -> XsClient:
        """A raw protocol client, privileged or acting as guest ``domid``."""
        return XsClient(self.socket if domid is None else self.guest_socket(domid), timeout)

    # ---------------------------------------------------------------------------- faults
    def _control(self, request: dict) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(self.socket + ".ctl")
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data)
        if "error" in reply:
            raise ValueError(reply["error"])
        return reply

    def fault(self, kind: str, **filters) -> dict:
        """Arm a fault (see ``faults.py``): ``fault("eagain", count=3)``,
        ``fault("drop", op="WRITE", in_transaction=True)``, ``fault("stall")``..."""
        return self._control({"arm": dict(filters, kind=kind)})

    def clear_faults(self) -> dict:
        """Disarm every fault; returns the status (``fired`` counts per kind)."""
        return self._control({"clear": True})

    def fault_status(self) -> dict:
        """``{"armed": [...], "fired": {kind: count}}``."""
        return self._control({"status": True})

    # ---------------------------------------------------------------------------- the log
    def clear_log(self) -> None:
        """Forget the requests logged so far."""
        with open(self.log_path, "w", encoding="ascii"):
            pass

    def requests(self, op: str | None = None, path_prefix: str | None = None,
                 domid: int | None = None, result: str | None = None,
                 conn: int | None = None) -> list:
        """Logged requests (dicts) matching every given filter.

        ``path_prefix`` matches the path itself or anything below it (``/a`` matches
        ``/a`` and ``/a/b`` but not ``/ab``).
        """
        entries = []
        with open(self.log_path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    entries.append(json.loads(line))
        if op is not None:
            entries = [e for e in entries if e["op"] == op]
        if path_prefix is not None:
            base = path_prefix.rstrip("/")
            entries = [e for e in entries if e["path"] is not None and (
                e["path"] == path_prefix or e["path"].startswith(base + "/"))]
        if domid is not None:
            entries = [e for e in entries if e["domid"] == domid]
        if result is not None:
            entries = [e for e in entries if e["result"] == result]
        if conn is not None:
            entries = [e for e in entries if e["conn"] == conn]
        return entries

    def count(self, **filters) -> int:
        """How many logged requests match (same filters as ``requests()``)."""
        return len(self.requests(**filters))

    # --------------------------------------------------------------------------- seeding
    def seed_dom0(self) -> None:
        """Write dom0's nodes as xen-init-dom0 does."""
        with self.client() as client:
            seed.apply_ops(client, seed.DOM0_OPS)

    def create_domain(self, domid: int, name: str, uuid: str | None = None) -> None:
        """``xl create``: introduce ``domid`` (guest socket appears) and write its nodes."""
        with self.client() as client:
            seed.create_domain(client, domid, name, uuid)

    def destroy_domain(self, domid: int) -> None:
        """``xl destroy``: remove the domain's nodes (not our custom backends), release it
        (its guest socket goes away, ``@releaseDomain`` fires)."""
        with self.client() as client:
            seed.destroy_domain(client, domid)

    def restart_domain(self, old_domid: int, new_domid: int) -> None:
        """A guest reboot under xl: destroyed, then created again with a new domid."""
        with self.client() as client:
            seed.restart_domain(client, old_domid, new_domid)
