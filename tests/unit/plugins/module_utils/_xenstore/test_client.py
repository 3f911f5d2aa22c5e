# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The request API over a scripted daemon: wire encoding of a pipelined batch, reply decoding,
errors, and directories of any size (DIRECTORY, then DIRECTORY_PART rounds on E2BIG)."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.client import XenStore
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import (
    XenStoreConnectionError, XenStoreError,
)

DIRECTORY, READ, GET_PERMS, TX_START, WRITE, PART, ERROR = 1, 2, 3, 6, 11, 22, 16


def err(name):
    return (ERROR, name.encode() + b"\0")


def part(generation, *names, last=False):
    """A DIRECTORY_PART reply: generation, names, and the empty name ending the list if ``last``."""
    return (PART, b"%d\0" % generation + b"".join(name.encode() + b"\0" for name in names) + (b"\0" if last else b""))


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


def d(path):
    return (DIRECTORY, path.encode() + b"\0")


def p(path, offset):
    return (PART, b"%s\0%d\0" % (path.encode(), offset))


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
        d("/dir"): listing("a", "b"),
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


def test_directories_in_one_batch_when_they_fit(connect):
    xs = connect({d("/a"): listing("x", "y"), d("/none"): err("ENOENT"), d("/empty"): listing()})
    assert xs.directories(["/a", "/none", "/empty", "/a"], tx_id=3) == {"/a": ["x", "y"], "/none": None, "/empty": []}
    assert xs.rounds == [[("directory", "/a"), ("directory", "/none"), ("directory", "/empty")]]
    assert xs.directory("/a") == ["x", "y"]


def test_a_big_directory_among_others_is_read_in_parts(connect):
    xs = connect({
        d("/small"): listing("a"),
        d("/big"): err("E2BIG"),
        d("/none"): err("ENOENT"),
        p("/big", 0): part(5, "dev-1", "dev-2"),
        p("/big", 12): part(5, "dev-3"),
        p("/big", 18): part(5, last=True),  # offset behind the list: an empty name
    })
    assert xs.directories(["/small", "/big", "/none"], tx_id=9) == {
        "/small": ["a"], "/big": ["dev-1", "dev-2", "dev-3"], "/none": None}
    assert xs.rounds == [[("directory", "/small"), ("directory", "/big"), ("directory", "/none")]] + \
        [[("directory_part", "/big")]] * 3
    assert [payload for op, payload in xs.server.received if op == PART] == [
        b"/big\x000\x00", b"/big\x0012\x00", b"/big\x0018\x00"]
    assert xs.requests_sent == 6


def test_big_directories_advance_together_one_batch_per_round(connect):
    xs = connect({
        d("/a"): err("E2BIG"),
        d("/b"): err("E2BIG"),
        p("/a", 0): part(1, "a1"),
        p("/a", 3): part(1, "a2"),
        p("/a", 6): part(1, "a3", last=True),
        p("/b", 0): part(8, "b1"),
        p("/b", 3): part(8, "b2", last=True),
    })
    assert xs.directories(["/a", "/b"]) == {"/a": ["a1", "a2", "a3"], "/b": ["b1", "b2"]}
    assert xs.rounds == [
        [("directory", "/a"), ("directory", "/b")],
        [("directory_part", "/a"), ("directory_part", "/b")],
        [("directory_part", "/a"), ("directory_part", "/b")],
        [("directory_part", "/a")],
    ]


def test_a_generation_change_between_parts_starts_the_directory_over(connect):
    xs = connect({
        d("/big"): err("E2BIG"),
        p("/big", 0): [part(5, "x1", "x2"), part(6, "x1", "x3")],
        p("/big", 6): [part(6, "x4"), part(6, "x5", last=True)],
    })
    assert xs.directory("/big") == ["x1", "x3", "x5"]
    assert [payload.split(b"\0")[1] for op, payload in xs.server.received if op == PART] == [b"0", b"6", b"0", b"6"]


@pytest.mark.parametrize("later, expected", [
    (part(3, last=True), []),          # emptied between DIRECTORY and the first part
    (err("ENOENT"), None),             # removed meanwhile
])
def test_a_directory_emptied_or_removed_while_read_in_parts(connect, later, expected):
    xs = connect({d("/big"): err("E2BIG"), p("/big", 0): later})
    assert xs.directories(["/big"]) == {"/big": expected}


def test_a_daemon_without_directory_part_reports_e2big(connect):
    xs = connect({d("/big"): err("E2BIG"), p("/big", 0): err("ENOSYS"), d("/ok"): listing("z")})
    with pytest.raises(XenStoreError) as info:
        xs.directories(["/big", "/ok"])
    assert info.value.errno == "E2BIG" and str(info.value) == (
        "XenStore DIRECTORY /big failed: E2BIG (more children than one 4096-byte reply holds, and this xenstored "
        "has no DIRECTORY_PART)")
    replies = xs.directories(["/big", "/ok"], raise_errors=False)
    assert isinstance(replies["/big"], XenStoreError) and replies["/ok"] == ["z"]


def test_other_directory_errors_raise_or_are_returned(connect):
    xs = connect({d("/secret"): err("EACCES"), d("/big"): err("E2BIG"), p("/big", 0): err("EACCES"),
                  d("/ok"): listing()})
    with pytest.raises(XenStoreError, match="XenStore DIRECTORY /secret failed: EACCES"):
        xs.directories(["/ok", "/secret"])
    with pytest.raises(XenStoreError, match="XenStore DIRECTORY_PART /big failed: EACCES"):
        xs.directory("/big")
    replies = xs.directories(["/secret", "/big", "/ok"], raise_errors=False)
    assert [replies[path].errno for path in ("/secret", "/big")] == ["EACCES", "EACCES"] and replies["/ok"] == []
