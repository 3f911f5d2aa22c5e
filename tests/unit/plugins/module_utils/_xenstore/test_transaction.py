# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The transaction loop: the whole cycle re-runs on EAGAIN with bounded, jittered backoff; a
lost connection costs an attempt on a new one; a timeout is not retried."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import transaction
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import (
    TransactionConflict, XenStoreConnectionError, XenStoreError, XenStoreTimeout,
)


class TxFake:
    socket = "/fake"

    def __init__(self, eagain):
        self.eagain = eagain
        self.ends = []

    def transaction_start(self):
        return len(self.ends) + 1

    def transaction_end(self, tx_id, commit):
        self.ends.append((tx_id, commit))
        if commit and self.eagain:
            self.eagain -= 1
            return False
        return True

    def abort_quietly(self, tx_id):
        self.ends.append((tx_id, "abort"))


def test_transaction_reruns_the_whole_cycle_on_eagain():
    xs, sleeps, runs = TxFake(eagain=2), [], []

    def body(tx_id):
        runs.append(tx_id)
        return "result-%d" % tx_id, True
    assert transaction.run_transaction(xs, body, retries=10, sleep=sleeps.append, rand=lambda: 0.5) == "result-3"
    assert runs == [1, 2, 3]
    assert xs.ends == [(1, True), (2, True), (3, True)]
    assert sleeps == [0.01, 0.02]


def test_transaction_gives_up_after_retries():
    xs, sleeps = TxFake(eagain=100), []
    with pytest.raises(TransactionConflict, match=r"conflicted with concurrent writers \(EAGAIN\) 4 times; gave up after 4 attempts \(retries=3\)"):
        transaction.run_transaction(xs, lambda tx: (None, True), retries=3, sleep=sleeps.append, rand=lambda: 0.0)
    assert len(xs.ends) == 4 and len(sleeps) == 3


def test_read_only_transaction_is_aborted_not_committed():
    xs = TxFake(eagain=5)
    assert transaction.run_transaction(xs, lambda tx: ("r", False), retries=0) == "r"
    assert xs.ends == [(1, False)]


def test_error_in_body_aborts_and_propagates():
    xs = TxFake(eagain=0)

    def body(tx_id):
        raise XenStoreError("XenStore WRITE /x failed: EACCES", errno="EACCES")
    with pytest.raises(XenStoreError, match="EACCES"):
        transaction.run_transaction(xs, body, retries=3)
    assert xs.ends == [(1, "abort")]


class LossyFake(TxFake):
    """Loses the connection at the given (attempt, step) points; step is "body" or "end"."""

    def __init__(self, losses, eagain=0):
        super().__init__(eagain)
        self.losses = list(losses)
        self.attempt = 0
        self.reconnects = 0
        self.socket = "/run/xs"

    def lose(self, step):
        if (self.attempt, step) in self.losses:
            raise XenStoreConnectionError("connection to XenStore at /run/xs was lost while waiting for %s" % step)

    def transaction_start(self):
        self.attempt += 1
        return super().transaction_start()

    def transaction_end(self, tx_id, commit):
        self.ends.append((tx_id, commit))
        self.lose("end")
        if commit and self.eagain:
            self.eagain -= 1
            return False
        return True

    def reconnect(self):
        self.reconnects += 1


def test_lost_connection_in_the_body_reruns_on_a_new_connection():
    xs, sleeps = LossyFake([(1, "body")]), []

    def body(tx_id):
        xs.lose("body")
        return "result-%d" % tx_id, True
    assert transaction.run_transaction(xs, body, retries=3, sleep=sleeps.append, rand=lambda: 0.5) == "result-1"
    # the first transaction died with its connection: no end was sent for it
    assert xs.ends == [(1, True)] and xs.reconnects == 1 and sleeps == [0.01]


def test_lost_commit_reply_is_reported_in_doubt():
    xs = LossyFake([(1, "end")])
    outcome = transaction.run_transaction(xs, lambda tx: ("r%d" % tx, True), retries=3, sleep=lambda _: None)
    assert isinstance(outcome, transaction.CommitInDoubt)
    assert outcome.result == "r2" and "was lost while waiting for end" in outcome.error.message


def test_lost_abort_reply_is_not_in_doubt():
    xs = LossyFake([(1, "end")])
    assert transaction.run_transaction(xs, lambda tx: ("r", False), retries=3, sleep=lambda _: None) == "r"


def test_lost_connections_give_up_after_retries():
    xs = LossyFake([(1, "end"), (2, "end"), (3, "end")])
    with pytest.raises(XenStoreConnectionError, match=r"was lost while waiting for end; gave up after 3 attempts on new connections \(retries=2\)"):
        transaction.run_transaction(xs, lambda tx: (None, True), retries=2, sleep=lambda _: None)
    assert xs.reconnects == 2


def test_timeouts_are_not_retried():
    xs = LossyFake([])

    def body(tx_id):
        raise XenStoreTimeout("XenStore at /run/xs did not answer READ /x within 1 s (request_timeout)")
    with pytest.raises(XenStoreTimeout):
        transaction.run_transaction(xs, body, retries=5, sleep=lambda _: None)
    assert xs.reconnects == 0 and xs.ends == [(1, "abort")]


@pytest.mark.parametrize("attempt, rand, delay", [
    (0, 0.5, 0.01), (1, 0.5, 0.02), (3, 0.5, 0.08), (3, 0.0, 0.04), (3, 0.999, 0.11992), (20, 0.5, 1.0), (20, 0.0, 0.5),
])
def test_backoff_delay(attempt, rand, delay):
    assert transaction.backoff_delay(attempt, rand=lambda: rand) == pytest.approx(delay)
