# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The request API over a scripted daemon: wire encoding of a pipelined batch, reply decoding,
errors."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.client import XenStore
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import (
    XenStoreConnectionError, XenStoreError,
)

DIRECTORY, READ, GET_PERMS, TX_START, WRITE, ERROR = 1, 2, 3, 6, 11, 16


def err(name):
    return (ERROR, name.encode() + b"\0")


def listing(*names):
    return (DIRECTORY, b"".join(name.encode() + b"\0" for name in names))


class Canned:
    """Answers each ``(op, payload)`` with its replies in turn (the last one repeats); EINVAL to
    anything else."""

    def __init__(self, replies):
        self.replies = dict((key, list(value) if isinstance(value, list) else [value]) for key, value in replies.items())

    def __call__(self, op, payload):
        queue = self.replies.get((op, payload))
        if not queue:
            return err("EINVAL")
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def connect(scripted, monkeypatch):
    """``connect(replies)``: a XenStore on a ``Canned`` daemon; ``xs.rounds`` lists each batch's
    requests as ``(op, path)``."""
    opened = []

    def make(replies):
        server = scripted(Canned(replies))
        xs = XenStore(server.path, request_timeout=5).open()
        opened.append(xs)
        xs.server = server
        xs.rounds = []
        transport = xs._transport  # pylint: disable=protected-access
        real = transport.exchange

        def spy(packets, labels):
            xs.rounds.append(list(labels))
            return real(packets, labels)
        monkeypatch.setattr(transport, "exchange", spy)
        return xs
    yield make
    for xs in opened:
        xs.close()


def test_wire_encoding_of_a_pipelined_batch(scripted):
    server = scripted("echo_ok")
    with XenStore(server.path, request_timeout=5) as xs:
        replies = xs.batch([("write", "/a/b", ""), ("mkdir", "/a"), ("set_perms", "/a", ["n1", "r0"]),
                            ("rm", "/a"), ("watch", "/a", "tok"), ("transaction_end", "", False)], tx_id=7)
        assert xs.requests_sent == 6
    assert replies == [None] * 6
    assert server.received == [
        (11, b"/a/b\x00"),
        (12, b"/a\x00"),
        (14, b"/a\x00n1\x00r0\x00"),
        (13, b"/a\x00"),
        (4, b"/a\x00tok\x00"),
        (7, b"F\x00"),
    ]


def test_replies_are_decoded_in_order(connect):
    xs = connect({
        (READ, b"/v\0"): (READ, b"value"),
        (READ, b"/empty\0"): (READ, b""),
        (DIRECTORY, b"/dir\0"): listing("a", "b"),
        (GET_PERMS, b"/v\0"): (GET_PERMS, b"n1\0r0\0"),
        (TX_START, b"\0"): (TX_START, b"42\0"),
    })
    assert xs.batch([("read", "/v"), ("read", "/empty"), ("directory", "/dir"), ("get_perms", "/v"),
                     ("transaction_start", "")]) == ["value", "", ["a", "b"], ["n1", "r0"], 42]
    assert len(xs.rounds) == 1


def test_error_replies(connect):
    xs = connect({(READ, b"/x\0"): err("ENOENT"), (WRITE, b"/y\0v"): err("EACCES")})
    with pytest.raises(XenStoreError) as info:
        xs.batch([("read", "/x")])
    assert (str(info.value), info.value.errno, info.value.op, info.value.path) == (
        "XenStore READ /x failed: ENOENT", "ENOENT", "read", "/x")
    replies = xs.batch([("write", "/y", "v"), ("read", "/x")], raise_errors=False)
    assert [r.errno for r in replies] == ["EACCES", "ENOENT"]
    assert xs.read("/x") is None


def test_reply_of_another_operation_breaks_the_connection(connect):
    xs = connect({(READ, b"/x\0"): (WRITE, b"OK\0")})
    with pytest.raises(XenStoreConnectionError, match=r"answered READ /x with an unexpected packet \(op 11\)"):
        xs.read("/x")
    xs.abort_quietly(5)  # nothing more is sent on a connection out of step
    assert len(xs.rounds) == 1
