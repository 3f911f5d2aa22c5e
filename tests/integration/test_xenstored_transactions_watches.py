# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Transactions and watches of the test XenStore daemon, over the raw protocol, checked
against xenstored 4.17 (``xenstored_transaction.c``, ``xenstored_watch.c``)."""

from __future__ import annotations

import pytest

from xenstored import XsError


def test_transaction_isolation_and_commit(xenstored):
    with xenstored.client() as tx, xenstored.client() as other:
        other.write("/t/a", "0")
        tx.transaction_start()
        tx.write("/t/a", "1")
        tx.write("/t/new/deep", "x")
        assert tx.read("/t/a") == b"1"                 # sees its own writes
        assert other.read("/t/a") == b"0"              # others do not, yet
        assert not other.exists("/t/new")
        assert tx.transaction_end() is True
        assert other.read("/t/a") == b"1"
        assert other.read("/t/new/deep") == b"x"


def test_abort_discards(xenstored):
    with xenstored.client() as xs:
        xs.transaction_start()
        xs.write("/t/aborted", "1")
        xs.rm("/local/domain/2")
        assert xs.transaction_end(commit=False) is True
        assert not xs.exists("/t/aborted")
        assert xs.read("/local/domain/2/name") == b"guest2"


def test_conflict_on_a_node_read(xenstored):
    with xenstored.client() as tx, xenstored.client() as other:
        other.write("/t/a", "0")
        tx.transaction_start()
        assert tx.read("/t/a") == b"0"
        tx.write("/t/b", "1")
        other.write("/t/a", "changed")
        assert tx.transaction_end() is False           # EAGAIN
        assert not other.exists("/t/b")


def test_conflict_on_a_child_list(xenstored):
    with xenstored.client() as tx, xenstored.client() as other:
        other.mkdir("/t/dir")
        tx.transaction_start()
        assert tx.directory("/t/dir") == []
        tx.write("/t/other", "1")
        other.write("/t/dir/child", "x")               # changes /t/dir's child list
        assert tx.transaction_end() is False


def test_conflict_when_a_node_read_as_missing_appears(xenstored):
    with xenstored.client() as tx, xenstored.client() as other:
        other.mkdir("/t")
        tx.transaction_start()
        assert not tx.exists("/t/flag")
        other.write("/t/flag", "1")
        tx.write("/t/x", "1")
        assert tx.transaction_end() is False


def test_no_conflict_for_unrelated_writes(xenstored):
    with xenstored.client() as tx, xenstored.client() as other:
        other.write("/t/a/key", "0")
        other.write("/t/b/key", "0")
        tx.transaction_start()
        tx.read("/t/a/key")
        tx.write("/t/a/key", "1")
        other.write("/t/b/key", "1")                   # elsewhere: no conflict
        other.write("/local/domain/1/data/x", "1")
        assert tx.transaction_end() is True
        assert other.read("/t/a/key") == b"1"


def test_two_interfering_transactions(xenstored):
    """Example 4 of xenstored_transaction.c: the second to commit gets EAGAIN."""
    with xenstored.client() as one, xenstored.client() as two:
        one.write("/t/A", "a")
        one.write("/t/B", "b")
        one.transaction_start()
        two.transaction_start()
        one.read("/t/A")
        two.read("/t/B")
        one.write("/t/B", "1")
        two.write("/t/A", "2")
        assert one.transaction_end() is True
        assert two.transaction_end() is False


def test_transaction_errors_and_quota(xenstored):
    with xenstored.client() as xs:
        with pytest.raises(XsError, match="ENOENT"):
            xs.request("TRANSACTION_END", "T", tx=0)
        with pytest.raises(XsError, match="EINVAL"):
            xs.request("TRANSACTION_END", "X", tx=0)
        tid = xs.transaction_start()
        with pytest.raises(XsError, match="EBUSY"):
            xs.request("TRANSACTION_START", "", tx=tid)
        xs.transaction_end(commit=False)
        with pytest.raises(XsError, match="ENOENT"):
            xs.request("TRANSACTION_END", "T", tx=tid)   # gone after the end
    with xenstored.client(1) as guest:
        tids = []
        with pytest.raises(XsError, match="ENOSPC"):
            for _attempt in range(20):
                tids.append(int(guest.request("TRANSACTION_START", "", tx=0).rstrip(b"\0")))
        assert len(tids) == 11                           # "> 10" like xenstored
        guest.request("TRANSACTION_END", "F", tx=tids[0])
        guest.request("TRANSACTION_START", "", tx=0)


def test_transaction_ids_are_per_connection_and_logged(xenstored):
    with xenstored.client() as xs:
        tid = xs.transaction_start()
        xs.write("/t/logged", "1")
        xs.transaction_end()
    assert [e["tx"] for e in xenstored.requests(op="WRITE")] == [tid]
    assert xenstored.count(op="TRANSACTION_END", result="OK") == 1


def test_watch_initial_event_and_subtree_events(xenstored):
    with xenstored.client() as watcher, xenstored.client() as xs:
        watcher.watch("/w", "tok")
        assert watcher.wait_event(5) == ("/w", "tok")  # fired at registration
        xs.write("/w/a/b", "1")
        assert watcher.wait_event(5) == ("/w/a/b", "tok")
        xs.write("/wx", "1")                             # not below /w
        xs.write("/w", "top")
        assert watcher.wait_event(5) == ("/w", "tok")
        with pytest.raises(TimeoutError):
            watcher.wait_event(0.3)


def test_rm_fires_for_every_removed_node_with_a_watch(xenstored):
    with xenstored.client() as watcher, xenstored.client() as xs:
        xs.write("/r/a/b/c", "1")
        for path, token in (("/r/a/b/c", "leaf"), ("/r/a", "root"), ("/r", "parent"),
                            ("/r/a/b/c/none", "deeper")):
            watcher.watch(path, token)
            assert watcher.wait_event(5) == (path, token)
        xs.rm("/r/a")
        events = {watcher.wait_event(5) for _event in range(3)}
        assert events == {("/r/a/b/c", "leaf"), ("/r/a", "root"), ("/r/a", "parent")}
        with pytest.raises(TimeoutError):
            watcher.wait_event(0.3)


def test_transaction_writes_fire_at_commit(xenstored):
    with xenstored.client() as watcher, xenstored.client() as xs:
        watcher.watch("/c", "t")
        watcher.wait_event(5)
        xs.transaction_start()
        xs.write("/c/one", "1")
        xs.write("/c/one", "2")
        with pytest.raises(TimeoutError):
            watcher.wait_event(0.3)
        xs.transaction_end()
        assert watcher.wait_event(5) == ("/c/one", "t")


def test_relative_watch_in_a_guest(xenstored):
    with xenstored.client(1) as guest, xenstored.client() as xs:
        guest.watch("data", "rel")
        assert guest.wait_event(5) == ("data", "rel")
        xs.write("/local/domain/1/data/k", "v")
        assert guest.wait_event(5) == ("data/k", "rel")


def test_guest_watch_events_respect_permissions(xenstored):
    with xenstored.client(1) as guest, xenstored.client() as xs:
        guest.watch("/local/domain/0", "dom0")
        assert guest.wait_event(5) == ("/local/domain/0", "dom0")
        xs.write("/local/domain/0/secret", "x")         # guest 1 cannot read it
        xs.write("/local/domain/0/shared", "x")
        xs.set_perms("/local/domain/0/shared", ["n0", "r1"])
        assert guest.wait_event(5) == ("/local/domain/0/shared", "dom0")
        with pytest.raises(TimeoutError):
            guest.wait_event(0.3)


def test_watch_errors_and_unwatch(xenstored):
    with xenstored.client() as xs:
        xs.watch("/u", "t")
        xs.wait_event(5)
        with pytest.raises(XsError, match="EEXIST"):
            xs.watch("/u", "t")
        with pytest.raises(XsError, match="EINVAL"):
            xs.watch("/u//v", "t")
        xs.unwatch("/u", "t")
        with pytest.raises(XsError, match="ENOENT"):
            xs.unwatch("/u", "t")
        xs.write("/u/x", "1")
        with pytest.raises(TimeoutError):
            xs.wait_event(0.3)
        xs.watch("/u", "again")
        xs.wait_event(5)
        xs.request("RESET_WATCHES", "")
        xs.write("/u/y", "1")
        with pytest.raises(TimeoutError):
            xs.wait_event(0.3)


def test_guest_sees_removal_of_nodes_under_a_readable_parent(xenstored):
    with xenstored.client(1) as guest, xenstored.client() as xs:
        xs.write("/local/domain/0/backend/mydevice/1/0/state", "4")
        xs.set_perms("/local/domain/0/backend/mydevice/1/0", ["n0", "r1"])
        xs.write("/local/domain/0/backend/mydevice/1/0/state", "4")   # inherits [n0, r1]
        xs.write("/local/domain/0/backend/mydevice/1/0/hidden/leaf", "x")
        xs.set_perms("/local/domain/0/backend/mydevice/1/0/hidden/leaf", ["n0"])
        state = "/local/domain/0/backend/mydevice/1/0/state"
        guest.watch(state, "s")
        guest.watch("/local/domain/0/backend/mydevice/1/0/hidden/leaf", "h")
        assert {guest.wait_event(5), guest.wait_event(5)} == {
            (state, "s"), ("/local/domain/0/backend/mydevice/1/0/hidden/leaf", "h")}
        xs.rm("/local/domain/0/backend/mydevice/1")
        # state: readable; hidden/leaf: not readable, but its parent "hidden" was ([n0, r1]).
        assert {guest.wait_event(5), guest.wait_event(5)} == {
            (state, "s"), ("/local/domain/0/backend/mydevice/1/0/hidden/leaf", "h")}
