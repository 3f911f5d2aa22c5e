# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""The transaction loop: read → plan → write in one XenStore transaction, run again on EAGAIN.

xenstored fails a commit with EAGAIN when anything the transaction read or wrote changed
meanwhile; libxl then runs the whole cycle again, and so does ``run_transaction``.
"""

from __future__ import annotations

import random
import time

from .errors import TransactionConflict, XenStoreConnectionError


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
