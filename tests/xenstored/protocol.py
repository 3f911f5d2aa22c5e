# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The xs_wire protocol: operation numbers, header layout, errors, paths and permissions.

Everything here matches Xen 4.17 (``xen/include/public/io/xs_wire.h``,
``tools/xenstore/xenstored_core.c`` and ``xs_lib.c``):

* header ``{u32 type, u32 req_id, u32 tx_id, u32 len}`` in host byte order, payload at most
  4096 bytes (``XENSTORE_PAYLOAD_MAX``);
* errors travel as an ``ERROR`` reply whose payload is the errno name and a NUL; an errno
  that is not in ``xsd_errors`` goes out as ``EINVAL``, like ``send_error()`` does (EPERM,
  which SET_PERMS answers a guest that gives a node away, is in the table since 4.17: Debian's
  libxenstore 4.17 has it);
* a valid node name starts with ``/``, has no ``//``, no trailing ``/`` (except ``/``),
  only ``A-Za-z0-9-/_@`` and at most 2048 characters below ``/local/domain/<id>/``
  (``is_valid_nodename()``);
* permissions are strings ``<n|r|w|b><domid>``: the first one names the owner and what every
  other domain may do, the others form an ACL (``xs_strings_to_perms()``).
"""

from __future__ import annotations

import re
import struct

HEADER = struct.Struct("=IIII")
HEADER_SIZE = HEADER.size
PAYLOAD_MAX = 4096
ABS_PATH_MAX = 3072
REL_PATH_MAX = 2048
DOMID_SELF = 0x7FF0

# enum xsd_sockmsg_type (xs_wire.h), in order.
OPS = (
    "CONTROL", "DIRECTORY", "READ", "GET_PERMS", "WATCH", "UNWATCH",
    "TRANSACTION_START", "TRANSACTION_END", "INTRODUCE", "RELEASE",
    "GET_DOMAIN_PATH", "WRITE", "MKDIR", "RM", "SET_PERMS", "WATCH_EVENT",
    "ERROR", "IS_DOMAIN_INTRODUCED", "RESUME", "SET_TARGET", "RESTRICT",
    "RESET_WATCHES", "DIRECTORY_PART",
)
OP = {name: number for number, name in enumerate(OPS)}
OP["DEBUG"] = OP["CONTROL"]

# struct xsd_errors, in order: the first entry (EINVAL) is the fallback.
ERRORS = (
    "EINVAL", "EACCES", "EEXIST", "EISDIR", "ENOENT", "ENOMEM", "ENOSPC", "EIO",
    "ENOTEMPTY", "ENOSYS", "EROFS", "EBUSY", "EAGAIN", "EISCONN", "E2BIG", "EPERM",
)

PERM_NONE = 0
PERM_READ = 1
PERM_WRITE = 2
PERM_OWNER = 4
PERM_ALL = PERM_READ | PERM_WRITE | PERM_OWNER
LETTER_TO_MASK = {"n": PERM_NONE, "r": PERM_READ, "w": PERM_WRITE, "b": PERM_READ | PERM_WRITE}
MASK_TO_LETTER = {mask: letter for letter, mask in LETTER_TO_MASK.items()}

_VALID_CHARS = re.compile(r"[A-Za-z0-9\-/_@]*\Z")
_LOCAL_DOMAIN = re.compile(r"/local/domain/(\d{1,5})/")
_STRTOL = re.compile(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")


class XsError(Exception):
    """An operation failed with the XenStore errno named ``args[0]`` (``"EACCES"`` ...)."""

    @property
    def errno(self) -> str:
        """The errno name as it travels on the wire."""
        return self.args[0]


def wire_error(name: str) -> str:
    """Map an errno name to what xenstored puts on the wire (unknown ones become EINVAL)."""
    return name if name in ERRORS else "EINVAL"


def is_valid_nodename(path: str) -> bool:
    """``is_valid_nodename()`` of xenstored_core.c."""
    if not path.startswith("/"):
        return False
    if path.endswith("/") and path != "/":
        return False
    if "//" in path:
        return False
    match = _LOCAL_DOMAIN.match(path)
    local_off = match.end() if match else 0
    if len(path) > local_off + REL_PATH_MAX:
        return False
    return _VALID_CHARS.match(path) is not None


def parent_of(path: str) -> str:
    """``get_parent()``: the parent of an absolute node name (``/`` for top-level nodes)."""
    slash = path.rfind("/")
    return path[:slash] if slash > 0 else "/"


def child_path(parent: str, name: str) -> str:
    """Join a child name to its parent's path."""
    return "/" + name if parent == "/" else parent + "/" + name


def strtol0(text: str) -> int | None:
    """``strtol(text, &end, 0)`` that must consume everything; None when it would not."""
    match = _STRTOL.match(text)
    if match is None:
        return None
    sign, digits = match.groups()
    if digits.lower().startswith("0x"):
        value = int(digits, 16)
    elif digits.startswith("0") and len(digits) > 1:
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def atoi(text: str) -> int:
    """C ``atoi``: the leading decimal number, 0 when there is none."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def parse_perms(strings: list[str]) -> tuple[tuple[int, int], ...]:
    """``xs_strings_to_perms()``: ``["n0", "r5"]`` -> ``((0, 0), (5, 1))``; XsError EINVAL."""
    perms = []
    for item in strings:
        mask = LETTER_TO_MASK.get(item[:1])
        domid = strtol0(item[1:]) if item[1:] else None
        if mask is None or domid is None:
            raise XsError("EINVAL")
        perms.append((domid & 0xFFFF, mask))
    return tuple(perms)


def format_perms(perms) -> list[str]:
    """``xs_perm_to_string()`` for each entry: ``((0, 0), (5, 1))`` -> ``["n0", "r5"]``."""
    return [MASK_TO_LETTER[mask & 3] + str(domid) for domid, mask in perms]
