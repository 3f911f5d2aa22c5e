# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""What keeps a device pair from ever connecting, told from both ends' nodes. Pure."""

from __future__ import annotations
from dataclasses import dataclass
@dataclass(frozen=True)
class Condition:
    code: str
    message: str
@dataclass(frozen=True)
class PairState:
    type: str
    frontend: int
    devid: int
    backend: int
    frontend_exists: bool
    backend_exists: bool
    frontend_state: int = None
    backend_state: int = None
    frontend_domain_alive: bool = True
    backend_domain_alive: bool = True
    pointer_problem: str = None
    perms_problem: str = None
    frontend_error: str = None
    backend_error: str = None
REPAIRED_BY_PRESENT = frozenset({"incomplete", "perms"})
def assess(p):
    out = []
    label = "%s device %d of domain %d" % (p.type, p.devid, p.frontend)
    if p.backend_exists and not p.frontend_domain_alive:
        out.append(Condition("frontend-domain-gone", label + ": frontend domain gone"))
    if p.frontend_exists and not p.backend_domain_alive:
        out.append(Condition("backend-domain-gone", label + ": backend domain gone"))
    if p.frontend_exists and not p.backend_exists and p.frontend_state not in (None, 0, 1):
        out.append(Condition("backend-missing", label + ": backend missing"))
    if p.frontend_exists and p.backend_exists and p.backend_state in (5, 6):
        out.append(Condition("backend-closed", label + ": backend closed"))
    return out
