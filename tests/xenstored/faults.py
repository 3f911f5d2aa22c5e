# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault injection for the test daemon: armed from tests, consumed as requests match.

A fault is armed over the daemon's control socket ``<socket>.ctl`` (one JSON line per
connection, answered with one JSON line; ``XenstoredProcess.fault()`` does it):

``{"arm": {"kind": K, "op": "WRITE", "in_transaction": true, "domid": 0, "skip": 0, "count": 1}}``
    Every key but ``kind`` is an optional filter or counter: ``op`` (a request name, e.g.
    ``TRANSACTION_END``), ``in_transaction`` (only requests carrying a transaction id),
    ``domid`` (only connections acting as that domain; 0 is the privileged socket), ``skip``
    (let that many matching requests through first), ``count`` (how many times it fires).
``{"clear": true}``
    Disarm everything; connections already stalled stay stalled.
``{"status": true}``
    The armed faults and how many of each kind fired so far.

Kinds:

``eagain``      a committing TRANSACTION_END is refused with EAGAIN and its transaction
                discarded, as C xenstored does on a conflict (other requests never match).
``drop``        the connection is closed instead of handling the request: a transaction
                open on it is discarded, nothing of the request happens, no reply.
``drop_after``  the request is handled (a commit commits), then the connection is closed
                before its reply leaves: the client cannot know whether it took effect.
``stall``       the request and every later one of that connection are read and logged but
                never answered (a daemon that accepts and then hangs).

Swallowed requests are logged with ``result`` ``DROPPED`` or ``STALLED``, a dropped-after one
with its real result.
"""

from __future__ import annotations

from .protocol import OPS

KINDS = ("eagain", "drop", "drop_after", "stall")


class Fault:
    """One armed fault."""

    __slots__ = ("kind", "op", "in_transaction", "domid", "skip", "count")

    def __init__(self, kind: str, op: str | None = None, in_transaction: bool = False,
                 domid: int | None = None, skip: int = 0, count: int = 1):
        if kind not in KINDS:
            raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(KINDS)))
        if op is not None and op not in OPS:
            raise ValueError("unknown operation %r" % (op,))
        if kind == "eagain" and op not in (None, "TRANSACTION_END"):
            raise ValueError("eagain faults only apply to TRANSACTION_END")
        if skip < 0 or count < 1:
            raise ValueError("skip must be 0 or more and count 1 or more")
        self.kind = kind
        self.op = "TRANSACTION_END" if kind == "eagain" else op
        self.in_transaction = bool(in_transaction)
        self.domid = domid
        self.skip = int(skip)
        self.count = int(count)

    def matches(self, domid: int, op: str, tid: int) -> bool:
        """Whether a request of this connection is one this fault watches for."""
        return ((self.op is None or self.op == op)
                and (not self.in_transaction or tid != 0)
                and (self.domid is None or self.domid == domid))

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


class Faults:
    """The armed faults of a daemon and the count of those that fired."""

    def __init__(self):
        self.armed: list = []
        self.fired = {kind: 0 for kind in KINDS}

    def command(self, request: dict) -> dict:
        """Run one control command (see the module docstring); returns the reply."""
        if "arm" in request:
            self.armed.append(Fault(**request["arm"]))
        elif request.get("clear"):
            self.armed.clear()
        elif not request.get("status"):
            raise ValueError("expected one of arm, clear, status")
        return {"armed": [fault.as_dict() for fault in self.armed], "fired": dict(self.fired)}

    def take(self, domid: int, op: str, tid: int, kinds=KINDS) -> str | None:
        """The kind of the first armed fault (of ``kinds``) this request triggers, if any."""
        for fault in self.armed:
            if fault.kind not in kinds or not fault.matches(domid, op, tid):
                continue
            if fault.skip:
                fault.skip -= 1
                continue
            fault.count -= 1
            if not fault.count:
                self.armed.remove(fault)
            self.fired[fault.kind] += 1
            return fault.kind
        return None
