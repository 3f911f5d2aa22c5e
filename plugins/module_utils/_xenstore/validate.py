# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""Input validation for XenStore paths, values, permissions and device specifications.

Pure functions, no I/O. Every function raises ``ValidationError`` with a message naming the
offending input and the rule it breaks.

This is the one home of these rules: the modules' prechecks, the fleet planning code
(``plugin_utils/_fleet.py``) and the roles (through the ``splitdriver.xen.validated`` filter)
all call the functions here, so a rule and its message exist once.
"""

from __future__ import annotations

import math
import re

# XenStore wire limits (xen/include/public/io/xs_wire.h, docs/misc/xenstore.txt).
XENSTORE_PAYLOAD_MAX = 4096
XENSTORE_ABS_PATH_MAX = 3072
XENSTORE_REL_PATH_MAX = 2048
# Guests may store at most this many bytes per node (xenstored's default quota); dom0 writes
# values a guest may want to copy or rewrite, so the module keeps to it.
XENSTORE_VALUE_MAX = 2048
# Linux XEN_BUS_ID_SIZE is 20 including the terminating NUL.
XEN_BUS_ID_MAX = 19
# A device type must leave room for the shortest backend bus id, <type>-<frontend domid>-<devid>
# with domid 0 and devid 0: "-0-0" takes 4 of the 19 characters.
DEVICE_TYPE_MAX = XEN_BUS_ID_MAX - len("-0-0")
DEVID_MAX = 2 ** 31 - 1
# DOMID_FIRST_RESERVED (0x7FF0): higher ids are special (DOMID_SELF, DOMID_IO, ...).
DOMID_MAX = 0x7FEF

# Ranges of the numeric options (seconds are more than 0 and at most the maximum).
# timeout: Linux gives a frontend's devices 30 s (+270 s for drivers not marked not_essential) to
# connect, xenopsd waits at most 300 s for a clean removal: an hour covers any real driver.
TIMEOUT_MAX = 3600.0
# request_timeout: one XenStore request answers in microseconds to milliseconds; a daemon that
# needs more than 10 minutes for one is stuck, and every request may wait this long.
REQUEST_TIMEOUT_MAX = 600.0
# retries: the backoff is capped at 1.5 s per attempt, so 100 re-runs already wait minutes.
RETRIES_MAX = 100

FRONTEND_PROTOCOL_KEYS = ("backend", "backend-id", "state")
BACKEND_PROTOCOL_KEYS = ("frontend", "frontend-id", "online", "state")

# Anchored with \Z, not $: "$" also matches before a trailing newline ("mydevice\n").
_PRINTABLE = re.compile(r"^[ -~]*\Z")
_PATH_CHARS = re.compile(r"^[A-Za-z0-9/_@-]+\Z")
_PERM = re.compile(r"^[nrwb]([0-9]+)\Z")
_TYPE = re.compile(r"^[A-Za-z0-9_-]+\Z")
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_@-]*\Z")
_DOMAIN_NAME = re.compile(r"^[^\x00-\x1f\x7f]+\Z")


class ValidationError(ValueError):
    """Bad input: the message says what and why."""


def check_path(path: str) -> str:
    """Validate an absolute XenStore path."""
    if not isinstance(path, str) or not path:
        raise ValidationError("XenStore path %r must be a non-empty string" % (path,))
    if not path.startswith("/"):
        raise ValidationError("XenStore path %r must be absolute (start with '/')" % path)
    if not _PATH_CHARS.match(path):
        raise ValidationError(
            "XenStore path %r contains characters outside A-Z a-z 0-9 - / _ @" % path)
    if "//" in path:
        raise ValidationError("XenStore path %r contains '//'" % path)
    if len(path) > 1 and path.endswith("/"):
        raise ValidationError("XenStore path %r must not end with '/'" % path)
    if len(path) > XENSTORE_ABS_PATH_MAX:
        raise ValidationError("XenStore path %s... is %d characters long, more than the limit of %d"
                              % (path[:40], len(path), XENSTORE_ABS_PATH_MAX))
    return path


def check_value(path: str, value: str) -> str:
    """Validate a value to be written at ``path``: printable ASCII, fits one request."""
    if not isinstance(value, str):
        raise ValidationError("value for %s must be a string, got %r" % (path, value))
    _check_text(value, "value for %s" % path)
    # WRITE payload: path NUL value.
    if len(path) + 1 + len(value) > XENSTORE_PAYLOAD_MAX:
        raise ValidationError(
            "value for %s is too long for one XenStore request (%d bytes of path and value, limit %d)"
            % (path, len(path) + 1 + len(value), XENSTORE_PAYLOAD_MAX))
    return value


def _check_text(value: str, what: str) -> None:
    """``value`` is printable ASCII and at most XENSTORE_VALUE_MAX bytes; ``what`` names it."""
    for index, char in enumerate(value if not _PRINTABLE.match(value) else ""):
        if not " " <= char <= "~":
            raise ValidationError(
                "%s must be printable ASCII: character %r at offset %d is not" % (what, char, index))
    if len(value) > XENSTORE_VALUE_MAX:
        raise ValidationError("%s is %d bytes long, more than the limit of %d bytes"
                              % (what, len(value), XENSTORE_VALUE_MAX))


def parse_perms(perms) -> list:
    """Validate a permission list (``["n1", "r0"]`` or ``"n1,r0"``); return it as a list."""
    if isinstance(perms, str):
        entries = [entry.strip() for entry in perms.split(",")] if perms.strip() else []
    elif isinstance(perms, (list, tuple)):
        entries = list(perms)
    else:
        raise ValidationError("permissions %r must be a list of entries like n1 or r0" % (perms,))
    if not entries:
        raise ValidationError("permissions must not be empty: the first entry names the owner")
    for entry in entries:
        match = _PERM.match(entry) if isinstance(entry, str) else None
        if not match:
            raise ValidationError(
                "permission entry %r is invalid: expected n, r, w or b followed by a domid" % (entry,))
        check_domid(int(match.group(1)), "permission entry %s" % entry)
    return entries


def check_domid(domid, what: str) -> int:
    """Validate a domain id (an int in 0..DOMID_MAX)."""
    if isinstance(domid, bool) or not isinstance(domid, int):
        raise ValidationError("%s must be a domain id (an integer), got %r" % (what, domid))
    if domid < 0 or domid > DOMID_MAX:
        raise ValidationError("%s must be a domain id between 0 and %d, got %d" % (what, DOMID_MAX, domid))
    return domid


def check_devid(devid) -> int:
    """Validate a device id: an integer in 0..2^31-1."""
    if isinstance(devid, bool) or not isinstance(devid, int):
        raise ValidationError("devid must be an integer, got %r" % (devid,))
    if devid < 0 or devid > DEVID_MAX:
        raise ValidationError("devid %d is out of range: it must be between 0 and %d" % (devid, DEVID_MAX))
    return devid


def check_device_type(devtype, what="type") -> str:
    """The device type rule: 1 to DEVICE_TYPE_MAX (15) of A-Z a-z 0-9 _ -.

    One XenStore path component, the name the drivers register with xenbus, and short enough
    that the Linux backend bus id ``<type>-<frontend domid>-<devid>`` can fit in its 19
    characters (domid 0, devid 0). ``what`` names the option in the message.
    """
    if not isinstance(devtype, str) or not devtype:
        raise ValidationError("%s must be a non-empty string, got %r" % (what, devtype))
    if not _TYPE.match(devtype):
        raise ValidationError(
            "%s %r contains characters outside A-Z a-z 0-9 _ -" % (what, devtype))
    if len(devtype) > DEVICE_TYPE_MAX:
        raise ValidationError(
            "%s %r is %d characters long, more than the limit of %d: the Linux backend bus id "
            "<type>-<frontend domid>-<devid> has at most %d characters (XEN_BUS_ID_SIZE 20 including the NUL)"
            % (what, devtype, len(devtype), DEVICE_TYPE_MAX, XEN_BUS_ID_MAX))
    return devtype


def check_type(devtype, frontend: int, devid: int, frontend_name=None, what="type") -> str:
    """Validate a device type name (``check_device_type``) and the Linux backend bus id it yields.

    With ``frontend_name`` (a frontend given by name, not yet looked up) ``frontend`` is the
    smallest domid it can resolve to, and the message speaks of the shortest possible bus id.
    """
    check_device_type(devtype, what)
    bus_id = "%s-%d-%d" % (devtype, frontend, devid)
    if len(bus_id) > XEN_BUS_ID_MAX:
        if frontend_name is not None:
            raise ValidationError(
                "%s %r is too long: the backend bus id %s-<domid of %s>-%d has at least %d characters, "
                "Linux allows at most %d (XEN_BUS_ID_SIZE 20 including the NUL)"
                % (what, devtype, devtype, frontend_name, devid, len(bus_id), XEN_BUS_ID_MAX))
        raise ValidationError(
            "%s %r is too long for this device: the backend bus id %r is %d characters, "
            "Linux allows at most %d (XEN_BUS_ID_SIZE 20 including the NUL)"
            % (what, devtype, bus_id, len(bus_id), XEN_BUS_ID_MAX))
    return devtype


def check_seconds(value, option, maximum) -> float:
    """A duration option: a finite number of seconds, more than 0 and at most ``maximum``.

    NaN compares false with everything and infinity passes any lower bound, so both are named
    here: a NaN timeout would never expire and an infinite one overflows the socket calls.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= maximum:
        raise ValidationError("%s must be a finite number of seconds, more than 0 and at most %g, got %r"
                              % (option, maximum, value))
    return float(value)


def check_count(value, option, maximum) -> int:
    """A count option: an integer from 0 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        # '1e999' converts to an int of 1000 digits (Python refuses to print ints over 4300)
        shown = "%r" % (value,) if not isinstance(value, int) or abs(value) < 10 ** 20 else \
            "an integer of more than 20 digits"
        raise ValidationError("%s must be an integer from 0 to %d, got %s" % (option, maximum, shown))
    return value


def check_domain_name(name, option: str = "frontend") -> str:
    """Validate a domain name used to look a domain up (``option`` names it in the message)."""
    if not isinstance(name, str) or not name or not _DOMAIN_NAME.match(name):
        raise ValidationError("%s %r is neither a domain id nor a valid domain name" % (option, name))
    return name


def check_entries(entries, which: str, protocol_keys) -> dict:
    """Validate extra device keys: plain relative names, no protocol key, printable ASCII
    values of at most XENSTORE_VALUE_MAX bytes (the message names the option and the key).

    Returns a new dict with every value as a string (integers are accepted and converted).
    """
    if entries is None:
        return {}
    if not isinstance(entries, dict):
        raise ValidationError("%s must be a dictionary of key names to values, got %r" % (which, entries))
    result = {}
    for key, value in entries.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValidationError(
                "%s key %r is not a plain relative name: use one path component of "
                "A-Z a-z 0-9 _ - (no '/', no leading '@')" % (which, key))
        if key in protocol_keys:
            raise ValidationError(
                "%s key %r collides with a key the module manages itself (%s)"
                % (which, key, ", ".join(protocol_keys)))
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError(
                "%s value for key %r must be a string or an integer, got %r" % (which, key, value))
        result[key] = str(value)
        _check_text(result[key], "%s value for key %r" % (which, key))
    return result
