# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.

from __future__ import annotations


class ModuleDocFragment:

    # Connection options shared by every module that talks to XenStore; the argument spec is
    # plugins/module_utils/_xenstore/common.py connection_argument_spec()
    DOCUMENTATION = r"""
options:
  socket:
    description:
      - Path of the XenStore daemon's Unix socket.
      - When not set, the E(XENSTORED_PATH) environment variable of the module's process is used
        (the variable libxenstore's C(xenstore-*) tools read too; set it with the C(environment)
        keyword), else pyxs's default C(/var/run/xenstored/socket) (under E(XENSTORED_RUNDIR)
        when set).
    type: path
  request_timeout:
    description:
      - Bounds every single XenStore request, in seconds; a finite number more than V(0) and at
        most V(600), checked before anything is read or written.
      - A daemon that does not answer in time makes the module fail with a message naming the
        socket and the request, instead of hanging.
    type: float
    default: 10.0
attributes:
  action_group:
    description: Use C(group/splitdriver.xen.xenstore) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - splitdriver.xen.xenstore
requirements:
  - pyxs >= 0.4.1 on the managed node (Debian package C(python3-pyxs), or C(pip install pyxs))
notes:
  - C(module_defaults) for C(group/splitdriver.xen.xenstore) sets O(socket) and
    O(request_timeout) for every module that talks to XenStore at once.
  - Requests of one batch are sent back to back and their replies collected after
    (XenStore answers a connection's requests in order), so large batches stay fast.
"""
