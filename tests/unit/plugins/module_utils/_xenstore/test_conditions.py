# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What is wrong with a device: PairState -> conditions, as pure tables."""

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import conditions
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.conditions import (
    CODES,
    REPAIRED_BY_PRESENT,
    Condition,
    PairState,
    assess,
)

LABEL = "mydevice device 0 of domain 5: "
FE = "/local/domain/5/device/mydevice/0"
BE = "/local/domain/0/backend/mydevice/5/0"
# A device as libxl made it and both drivers connected it.
HEALTHY = PairState(type="mydevice", frontend=5, devid=0, backend=0, frontend_exists=True,
                    backend_exists=True, frontend_state=4, backend_state=4)


def pair(**changes):
    return dataclasses.replace(HEALTHY, **changes)


def codes(state):
    return [c.code for c in assess(state)]


# (what happened, the pair as read, the codes expected, most severe first)
CASES = [
    ("connected", pair(), []),
    ("both just created, drivers not loaded", pair(frontend_state=1, backend_state=1), []),
    ("backend waiting for the frontend", pair(frontend_state=1, backend_state=2), []),
    ("reconfiguring", pair(frontend_state=7, backend_state=8), []),
    # leftovers and dead peers
    ("xl destroy left the backend dir", pair(frontend_exists=False, frontend_domain_alive=False, backend_state=6),
     ["frontend-domain-gone"]),
    ("leftover whose driver complained", pair(frontend_exists=False, frontend_domain_alive=False, backend_state=5,
                                              backend_error="-2 unable to read other end", perms_problem="x",
                                              pointer_problem="y"),
     ["frontend-domain-gone", "driver-error"]),
    ("driver domain died", pair(backend_exists=False, backend_domain_alive=False, backend=7),
     ["backend-domain-gone"]),
    ("driver domain died, frontend closed after an error", pair(
        backend_exists=False, backend_domain_alive=False, backend=7, frontend_state=5, frontend_error="-2 gone"),
     ["backend-domain-gone", "driver-error"]),
    # one end missing
    ("backend removed under a connected frontend", pair(backend_exists=False, backend_state=None),
     ["backend-missing"]),
    ("backend missing at probe: the frontend went Closing", pair(
        backend_exists=False, backend_state=None, frontend_state=5,
        frontend_error="-2 unable to read other end from device/mydevice/0.  missing or inaccessible."),
     ["backend-missing", "driver-error"]),
    ("frontend state 0 is not probed either", pair(backend_exists=False, backend_state=None, frontend_state=0),
     ["backend-missing"]),
    ("frontend removed under a connected backend", pair(frontend_exists=False, frontend_state=None),
     ["frontend-missing"]),
    ("backend alone at InitWait", pair(frontend_exists=False, frontend_state=None, backend_state=2),
     ["frontend-missing"]),
    ("frontend alone, not probed yet", pair(backend_exists=False, backend_state=None, frontend_state=1),
     ["incomplete"]),
    ("frontend alone, no state key", pair(backend_exists=False, backend_state=None, frontend_state=None),
     ["incomplete"]),
    ("backend alone, not probed yet", pair(frontend_exists=False, frontend_state=None, backend_state=1),
     ["incomplete"]),
    ("frontend names no backend", pair(backend=None, backend_exists=False, backend_state=None, frontend_state=1,
                                       pointer_problem="the frontend names no backend domain"),
     ["pointer-mismatch", "incomplete"]),
    # closed ends
    ("removal timed out: backend Closing", pair(backend_state=5), ["backend-closed"]),
    ("backend driver unloaded", pair(backend_state=6, frontend_state=6), ["backend-closed"]),
    ("frontend driver unloaded", pair(frontend_state=6), ["frontend-closed"]),
    ("frontend Closing", pair(frontend_state=5, backend_state=2), ["frontend-closed"]),
    # the rest
    ("pointers crossed", pair(pointer_problem="the backend's frontend-id is '6', not 5"), ["pointer-mismatch"]),
    ("perms drift", pair(perms_problem="frontend directory has n5 (libxl: n5,r0)"), ["perms"]),
    ("both drivers complained", pair(frontend_error="-12 allocating ring", backend_error="-22 mapping ring"),
     ["driver-error", "driver-error"]),
    ("everything at once", pair(backend_state=6, frontend_error="-5 io", perms_problem="p", pointer_problem="q"),
     ["pointer-mismatch", "backend-closed", "driver-error", "perms"]),
]


@pytest.mark.parametrize("state, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_assess(state, expected):
    found = assess(state)
    assert [c.code for c in found] == expected
    for condition in found:
        assert isinstance(condition, Condition) and condition.code in CODES
        assert condition.message.startswith(LABEL)
    assert conditions.summary_code(found) == (expected[0] if expected else "ok")


# (code, pair, words the message must hold: what is wrong and what to do)
MESSAGES = [
    ("frontend-domain-gone", pair(frontend_exists=False, frontend_domain_alive=False),
     [BE, "frontend domain 5 no longer exists", "state=absent (frontend 5, backend_domid 0)", "prune_stale=true"]),
    ("backend-domain-gone", pair(backend=7, backend_exists=False, backend_domain_alive=False),
     ["backend domain 7 no longer exists", "state=absent", "add it again"]),
    ("pointer-mismatch", pair(pointer_problem="the frontend's backend-id is '3', not 0"),
     ["the frontend's backend-id is '3', not 0", "state=absent", "state=present"]),
    ("backend-missing", pair(backend_exists=False, backend_state=None),
     [FE, "4 (Connected)", BE + " does not exist", "Initialising", "state=absent", "state=present"]),
    ("frontend-missing", pair(frontend_exists=False, frontend_state=None, backend_state=2),
     [BE, "2 (InitWait)", FE + " does not exist", "state=absent", "state=present"]),
    ("incomplete", pair(backend_exists=False, backend_state=None, frontend_state=1),
     ["frontend " + FE, "1 (Initialising)", "no backend " + BE, "state=present completes it"]),
    ("incomplete", pair(frontend_exists=False, frontend_state=None, backend_state=None),
     ["backend " + BE, "state missing", "no frontend " + FE]),
    ("backend-closed", pair(backend_state=6),
     ["backend in domain 0 is in state 6 (Closed)", "frontend in state 4 (Connected)", "state=absent",
      "force=true if the backend driver is gone", "state=present"]),
    ("frontend-closed", pair(frontend_state=6),
     ["frontend is in state 6 (Closed)", "backend is in state 4 (Connected)", "unloaded", "state=absent"]),
    ("driver-error", pair(backend_error="-19 no such device"),
     ["backend driver reported an error: '-19 no such device'", "state=absent"]),
    ("perms", pair(perms_problem="backend key state has n0 (libxl: n0,r5)"),
     ["backend key state has n0 (libxl: n0,r5)", "state=present resets them"]),
]


@pytest.mark.parametrize("code, state, words", MESSAGES, ids=["%s-%d" % (m[0], i) for i, m in enumerate(MESSAGES)])
def test_messages_say_what_and_what_to_do(code, state, words):
    found = [c for c in assess(state) if c.code == code]
    assert len(found) == 1
    for word in words:
        assert word in found[0].message, (word, found[0].message)


def test_every_code_is_reachable_and_ordered():
    seen = set()
    for dummy, state, expected in CASES:
        seen.update(expected)
    assert seen == set(CODES)
    assert REPAIRED_BY_PRESENT == {"incomplete", "perms"} and REPAIRED_BY_PRESENT <= set(CODES)


def test_pair_state_is_frozen_and_defaults_to_alive():
    state = PairState(type="t", frontend=1, devid=2, backend=None, frontend_exists=True, backend_exists=False)
    assert state.frontend_domain_alive and state.backend_domain_alive and state.frontend_state is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.devid = 3  # type: ignore[misc]


def test_unknown_backend_is_not_a_dead_one():
    state = pair(backend=None, backend_exists=False, backend_state=None, backend_domain_alive=False,
                 frontend_state=1)
    assert codes(state) == ["incomplete"]
    assert "directory (named by no backend-id)" in assess(state)[0].message
