# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""The errors of the XenStore client: one base class the modules catch, three causes."""

from __future__ import annotations


class XenStoreError(Exception):
    """A XenStore request failed. ``errno`` holds the daemon's error name (``ENOENT``, ...)."""

    def __init__(self, message, errno=None, op=None, path=None):
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.op = op
        self.path = path


class XenStoreTimeout(XenStoreError):
    """The daemon did not answer within the request timeout."""


class XenStoreConnectionError(XenStoreError):
    """The connection to the daemon could not be opened or was lost."""


class TransactionConflict(XenStoreError):
    """A transaction kept failing with EAGAIN after all the allowed attempts."""
