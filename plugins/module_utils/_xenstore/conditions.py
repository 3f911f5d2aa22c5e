# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""What is wrong with a split-driver device, and what to do about it: pure, no I/O.

``assess()`` takes what was read of one frontend/backend pair (``PairState``) and returns one
``Condition`` per problem, most severe first, each with a message for a Xen admin that names
the device, says what is wrong and what to do. ``xenstore_device_info`` reports them;
``xenstore_device`` can use the same rules.

The rules follow Linux 6.1 xenbus (drivers/xen/xenbus/xenbus_probe.c) and libxl:

* ``xenbus_probe_node()`` only registers a device whose ``state`` is Initialising (1): "Device
  is not new, so ignore it". A node left in any other state is never probed again, whatever is
  written next to it; only removing it and adding it again brings a driver back.
* ``xenbus_read_otherend_details()`` fails the probe when the other end's directory is missing
  (``xenbus_dev_fatal()``: the end goes Closing (5) and an ``error/<nodename>/error`` node says
  "unable to read other end"). So an end still Initialising has not been probed yet.
* ``xenbus_dev_remove()`` (driver unloaded or unbound) writes Closed (6); a removed backend
  driver does the same to its devices unless it allows rebinding.
* ``xl destroy`` removes only the device kinds libxl knows: a custom type's backend directory
  stays behind after its guest is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

# XenbusState (xen/include/public/io/xenbus.h): the one table of their names; plan.py imports
# this module and uses it.
XENBUS_STATES = {
    0: "Unknown",
    1: "Initialising",
    2: "InitWait",
    3: "Initialised",
    4: "Connected",
    5: "Closing",
    6: "Closed",
    7: "Reconfiguring",
    8: "Reconfigured",
}
INITIALISING, CLOSING, CLOSED = 1, 5, 6

# Every code, most severe first: assess() returns conditions in this order.
CODES = (
    "frontend-domain-gone",
    "backend-domain-gone",
    "pointer-mismatch",
    "backend-missing",
    "frontend-missing",
    "incomplete",
    "backend-closed",
    "frontend-closed",
    "driver-error",
    "perms",
)

# Conditions that xenstore_device state=present fixes by itself: it creates a missing end
# (when the other one was never probed) and resets the permissions of the nodes it manages.
REPAIRED_BY_PRESENT = frozenset({"incomplete", "perms"})

OK = "ok"
_CLOSED_STATES = (CLOSING, CLOSED)


@dataclass(frozen=True)
class Condition:
    """One problem of a device: a ``code`` from ``CODES`` and a message naming the device."""

    code: str
    message: str


@dataclass(frozen=True)
class PairState:
    """What was read of one device (one frontend directory and the backend it goes with)."""

    type: str
    frontend: int
    devid: int
    backend: int | None
    frontend_exists: bool
    backend_exists: bool
    frontend_state: int | None = None
    backend_state: int | None = None
    frontend_domain_alive: bool = True
    backend_domain_alive: bool = True
    pointer_problem: str | None = None
    perms_problem: str | None = None
    frontend_error: str | None = None
    backend_error: str | None = None


def label(pair: PairState) -> str:
    """``mydevice device 0 of domain 5``, as xenstore_device names a device."""
    return "%s device %d of domain %d" % (pair.type, pair.devid, pair.frontend)


def frontend_path(pair: PairState) -> str:
    return "/local/domain/%d/device/%s/%d" % (pair.frontend, pair.type, pair.devid)


def backend_path(pair: PairState):
    if pair.backend is None:
        return None
    return "/local/domain/%d/backend/%s/%d/%d" % (pair.backend, pair.type, pair.frontend, pair.devid)


def state_text(state) -> str:
    """``5`` -> ``5 (Closing)``; None -> ``missing``."""
    if state is None:
        return "missing"
    return "%d (%s)" % (state, XENBUS_STATES.get(state, "unknown state"))


def _backend_name(pair: PairState) -> str:
    return "domain %d" % pair.backend if pair.backend is not None else "an unknown domain"


_READD = "remove it with state=absent and add it again with state=present"


def _frontend_domain_gone(pair):
    return Condition("frontend-domain-gone", (
        "%s: leftover backend directory %s: its frontend domain %d no longer exists (xl destroy "
        "leaves the backend directories of device types libxl does not know). Remove it with "
        "state=absent (frontend %d, backend_domid %d), or with prune_stale=true on a call for "
        "this type and backend domain (splitdriver.xen.site prunes by default)."
        % (label(pair), backend_path(pair), pair.frontend, pair.frontend, pair.backend)))


def _backend_domain_gone(pair):
    return Condition("backend-domain-gone", (
        "%s: its backend domain %d no longer exists (the driver domain died or was restarted), so "
        "the frontend %s cannot connect. Remove the device with state=absent (there is no backend "
        "left to close) and add it again for a running backend domain."
        % (label(pair), pair.backend, frontend_path(pair))))


def _pointer_mismatch(pair):
    return Condition("pointer-mismatch", (
        "%s: the two ends do not point at each other: %s. The drivers read these pointers only "
        "when they probe the device: %s, naming the backend domain it should have."
        % (label(pair), pair.pointer_problem, _READD)))


def _backend_missing(pair):
    return Condition("backend-missing", (
        "%s: the frontend %s is in state %s but its backend directory %s does not exist. A new "
        "backend directory will not make it connect (Linux xenbus probes only a frontend that is "
        "still Initialising): %s."
        % (label(pair), frontend_path(pair), state_text(pair.frontend_state),
           backend_path(pair) or "(named by no backend-id)", _READD)))


def _frontend_missing(pair):
    return Condition("frontend-missing", (
        "%s: the backend %s in %s is in state %s but the frontend directory %s does not exist. A "
        "new frontend directory will not make it connect (Linux xenbus probes only a backend that "
        "is still Initialising): %s."
        % (label(pair), backend_path(pair), _backend_name(pair), state_text(pair.backend_state),
           frontend_path(pair), _READD)))


def _incomplete(pair):
    if pair.frontend_exists:
        have, missing = "frontend %s" % frontend_path(pair), "backend %s" % (
            backend_path(pair) or "directory (named by no backend-id)")
        state = pair.frontend_state
    else:
        have, missing = "backend %s" % backend_path(pair), "frontend %s" % frontend_path(pair)
        state = pair.backend_state
    return Condition("incomplete", (
        "%s: only half of the device exists: the %s (state %s, not probed yet) has no %s. "
        "state=present completes it."
        % (label(pair), have, state_text(state), missing)))


def _backend_closed(pair):
    return Condition("backend-closed", (
        "%s: the backend in %s is in state %s, the frontend in state %s: the pair will not "
        "connect again (a removal that did not finish, or the backend driver was unloaded). "
        "Remove it with state=absent "
        "(force=true if the backend driver is gone) and add it again with state=present."
        % (label(pair), _backend_name(pair), state_text(pair.backend_state),
           state_text(pair.frontend_state))))


def _frontend_closed(pair):
    return Condition("frontend-closed", (
        "%s: the frontend is in state %s while the backend is in state %s: the pair will not "
        "connect again (the "
        "frontend driver was unloaded or gave up: Linux writes Closed when a driver lets go of "
        "its device). Remove it with state=absent (force=true if the backend driver is gone) and "
        "add it again with state=present."
        % (label(pair), state_text(pair.frontend_state), state_text(pair.backend_state))))


def _driver_error(pair, end, text):
    return Condition("driver-error", (
        "%s: the %s driver reported an error: %r (the driver's error/<device path>/error node); "
        "fix its cause (the driver's kernel log says more), then remove the device with "
        "state=absent and add it again." % (label(pair), end, text)))


def _perms(pair):
    return Condition("perms", (
        "%s: permissions differ from libxl's layout (frontend n<guest>,r<backend>; backend "
        "n<backend>,r<guest>): %s. state=present resets them."
        % (label(pair), pair.perms_problem)))


def _errors(pair):
    found = []
    if pair.frontend_error is not None:
        found.append(_driver_error(pair, "frontend", pair.frontend_error))
    if pair.backend_error is not None:
        found.append(_driver_error(pair, "backend", pair.backend_error))
    return found


def _initialising_or_none(state) -> bool:
    return state is None or state == INITIALISING


def assess(pair: PairState) -> list:
    """The conditions of one device, most severe first (``[]`` when nothing is wrong)."""
    if pair.backend_exists and not pair.frontend_domain_alive:
        # A leftover: nothing else about it matters but what its driver said.
        return [_frontend_domain_gone(pair)] + _errors(pair)
    if pair.frontend_exists and pair.backend is not None and not pair.backend_domain_alive:
        return [_backend_domain_gone(pair)] + _errors(pair)
    found = []
    if pair.pointer_problem:
        found.append(_pointer_mismatch(pair))
    if pair.frontend_exists and not pair.backend_exists:
        if _initialising_or_none(pair.frontend_state):
            found.append(_incomplete(pair))
        else:
            found.append(_backend_missing(pair))
    elif pair.backend_exists and not pair.frontend_exists:
        if _initialising_or_none(pair.backend_state):
            found.append(_incomplete(pair))
        else:
            found.append(_frontend_missing(pair))
    elif pair.frontend_exists and pair.backend_exists:
        if pair.backend_state in _CLOSED_STATES:
            found.append(_backend_closed(pair))
        elif pair.frontend_state in _CLOSED_STATES:
            found.append(_frontend_closed(pair))
    found.extend(_errors(pair))
    if pair.perms_problem:
        found.append(_perms(pair))
    found.sort(key=lambda condition: CODES.index(condition.code))
    return found


def summary_code(conditions) -> str:
    """The code a report shows for a device: its most severe condition, or ``ok``."""
    return conditions[0].code if conditions else OK
