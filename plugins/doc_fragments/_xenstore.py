# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.

from __future__ import annotations


class ModuleDocFragment:

    # Connection options shared by every module that talks to XenStore
    DOCUMENTATION = r"""
options:
  socket:
    description:
      - Path of the XenStore daemon's Unix socket.
      - When not set, the E(XENSTORED_PATH) environment variable of the module's process is used,
        else pyxs's default C(/var/run/xenstored/socket) (under E(XENSTORED_RUNDIR) when set).
    type: path
  request_timeout:
    description:
      - Bounds every single XenStore request, in seconds.
      - A daemon that does not answer in time makes the module fail with a message naming the
        socket and the request, instead of hanging.
    type: float
    default: 10.0
requirements:
  - pyxs >= 0.4.1 on the managed node (Debian package C(python3-pyxs), or C(pip install pyxs))
notes:
  - Requests of one batch are sent back to back and their replies collected after
    (XenStore answers a connection's requests in order), so large batches stay fast.
"""
