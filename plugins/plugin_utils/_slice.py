# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# NOTE: this is private to the splitdriver.xen collection. It may change or be removed at any
# time without notice. Do not use it from other collections or roles.
"""Which slice of a sliced fleet run a Xen host belongs to (the ``xen_slice`` filter).

A slice must hold whole Xen hosts: a Xen host's devices are activated by ONE task that carries
all of its guests, so a Xen host whose guests sat in two slices would be activated by both.
The slice is a pure function of the Xen host's inventory name and the number of slices, so each
host (a guest through ``splitdriver_xen_host``, a dom0 through its own name) computes the same
number on its own, in a constructed inventory as in a play, whatever else is in the inventory.
Adding or removing a Xen host moves no other Xen host to another slice.
"""

from __future__ import annotations

import hashlib

COUNT_MAX = 1000


class SliceError(ValueError):
    """Bad input: the message names the argument."""


def _count(count):
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count.strip())
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= COUNT_MAX:
        raise SliceError("count must be an integer from 1 to %d, got %r" % (COUNT_MAX, count))
    return count


def xen_slice(xen_host, count):
    """Slice number, from 1 to ``count``, of the Xen host named ``xen_host``.

    The first 8 bytes of the SHA-256 of the UTF-8 name, as a big-endian integer, modulo ``count``,
    plus one (slices are numbered from 1, like AWX numbers its slice jobs). Stable across
    Python processes and versions, unlike ``hash()``.
    """
    count = _count(count)
    if not isinstance(xen_host, str) or not xen_host:
        raise SliceError("the Xen host must be a non-empty inventory name, got %r" % (xen_host,))
    digest = hashlib.sha256(xen_host.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1
