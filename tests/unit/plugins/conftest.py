# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit-test boundary for the XenStore modules: an in-memory stand-in for ``XenStore``.

It replaces the one class that talks to xenstored (``_xenstore.client.XenStore``) so the
planner, the device logic and the modules' ``main()`` can be driven without a daemon. The
integration tests run the real thing against the test daemon.
"""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import XenStoreError

WRITE_OPS = ("write", "mkdir", "rm", "set_perms")


def _parent(path):
    return path.rsplit("/", 1)[0] or "/"


class FakeXenStore:
    """Nodes in a dict; every request recorded in ``log`` as ``(op, path, tx_id)``."""

    def __init__(self, socket="/fake/xenstored/socket"):
        self.socket = socket
        self.nodes = {"/": ["", ["n0"]]}
        self.log = []
        self.opened = False
        self.eagain_commits = 0
        self.events = []
        self.on_write = None
        # Called by wait_events(): plays a driver's side of a handshake; returns event paths.
        self.peer = None

    # Seeding ----------------------------------------------------------------------------
    def put(self, path, value="", perms=None):
        if path not in self.nodes:
            parent = _parent(path)
            if parent not in self.nodes:
                self.put(parent)
            self.nodes[path] = ["", list(self.nodes[parent][1])]
        self.nodes[path][0] = value
        if perms is not None:
            self.nodes[path][1] = list(perms)

    def seed_xl(self, guests):
        """dom0 plus guests ``{domid: name}`` laid out like xl does (perms included)."""
        self.put("/local/domain/0/name", "Domain-0")
        self.put("/local/domain/0/domid", "0")
        self.put("/local/domain/0/backend")
        for domid, name in guests.items():
            base = "/local/domain/%d" % domid
            self.put(base, "", ["n0", "r%d" % domid])
            self.put(base + "/name", name)
            self.put(base + "/domid", str(domid))
            self.put(base + "/device", "", ["n0", "r%d" % domid])
        return self

    def children(self, path):
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix):])

    def writes(self):
        return [entry for entry in self.log if entry[0] in WRITE_OPS]

    # The XenStore interface -----------------------------------------------------------------
    def __enter__(self):
        self.opened = True
        return self

    def __exit__(self, *exc_info):
        self.opened = False

    def open(self):
        return self.__enter__()

    def close(self):
        self.opened = False

    def _apply(self, request):
        op, path = request[0], request[1]
        if op == "read":
            if path not in self.nodes:
                raise XenStoreError("ENOENT", errno="ENOENT", op=op, path=path)
            return self.nodes[path][0]
        if op == "directory":
            if path not in self.nodes:
                raise XenStoreError("ENOENT", errno="ENOENT", op=op, path=path)
            return self.children(path)
        if op == "get_perms":
            if path not in self.nodes:
                raise XenStoreError("ENOENT", errno="ENOENT", op=op, path=path)
            return list(self.nodes[path][1])
        if self.on_write is not None:
            self.on_write(request)
        if op == "write":
            self.put(path, request[2])
        elif op == "mkdir":
            if path not in self.nodes:
                self.put(path)
        elif op == "set_perms":
            if path not in self.nodes:
                raise XenStoreError("ENOENT", errno="ENOENT", op=op, path=path)
            self.nodes[path][1] = list(request[2])
        elif op == "rm":
            for other in [p for p in self.nodes if p == path or p.startswith(path + "/")]:
                del self.nodes[other]
        return None

    def batch(self, requests, tx_id=0, raise_errors=True):
        replies = []
        for request in requests:
            self.log.append((request[0], request[1], tx_id))
            try:
                replies.append(self._apply(request))
            except XenStoreError as exc:
                if raise_errors:
                    raise
                replies.append(exc)
        return replies

    def read(self, path, tx_id=0):
        return self.nodes[path][0] if path in self.nodes else None

    def directories(self, paths, tx_id=0, raise_errors=True):
        paths = list(dict.fromkeys(paths))
        listings = {}
        for path, reply in zip(paths, self.batch([("directory", p) for p in paths], tx_id, raise_errors=False)):
            if isinstance(reply, XenStoreError):
                if reply.errno != "ENOENT" and raise_errors:
                    raise reply
                reply = None if reply.errno == "ENOENT" else reply
            listings[path] = reply
        return listings

    def directory(self, path, tx_id=0):
        return self.directories([path], tx_id)[path]

    def transaction_start(self):
        self.log.append(("transaction_start", "", 0))
        # Writes apply at once; a failed (EAGAIN) commit or an abort puts the old nodes back.
        self._saved = dict((path, [node[0], list(node[1])]) for path, node in self.nodes.items())
        return 1

    def transaction_end(self, tx_id, commit):
        self.log.append(("transaction_end", "T" if commit else "F", tx_id))
        if commit and self.eagain_commits:
            self.eagain_commits -= 1
            self.nodes = self._saved
            return False
        if not commit:
            self.nodes = self._saved
        return True

    def abort_quietly(self, tx_id):
        self.transaction_end(tx_id, False)

    def watch(self, paths):
        tokens = {}
        for index, path in enumerate(paths):
            self.log.append(("watch", path, 0))
            tokens["t%d" % index] = path
        return tokens

    def unwatch(self, tokens):
        for path in tokens.values():
            self.log.append(("unwatch", path, 0))

    def wait_events(self, timeout):
        if self.peer is not None:
            self.events.extend(self.peer(self) or [])
        if self.events:
            events, self.events = self.events, []
            return events
        return []


@pytest.fixture
def fake_xs():
    """A fake XenStore seeded like an xl host with guests 1 (domu1) and 2 (domu2)."""
    return FakeXenStore().seed_xl({1: "domu1", 2: "domu2"})
