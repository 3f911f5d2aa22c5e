# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""Pure planning for XenStore split-driver devices: no I/O here.

``Device`` describes one frontend/backend pair the way libxl lays it out
(``libxl__device_generic_add``). The planner turns desired devices plus a ``Snapshot`` of what
XenStore holds into an ordered list of operations, per-device results and a before/after diff.
The same plan drives check mode and a real run, so both report the same ``changed`` and diff.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from . import conditions, validate

# XenbusState names: one table, in conditions.py (which cannot import this module back).
XENBUS_STATES = conditions.XENBUS_STATES
INITIALISING, INITWAIT, INITIALISED, CONNECTED, CLOSING, CLOSED = 1, 2, 3, 4, 5, 6
# At most this many devices are described in one message.
REPORT_MAX = 5
# A device's condition when nothing is wrong with it (see conditions.assess).
NO_CONDITION = "ok"

# Operation names, as the XenStore wire protocol calls them (lower case).
MKDIR, SET_PERMS, WRITE, RM, READ, GET_PERMS, DIRECTORY = (
    "mkdir", "set_perms", "write", "rm", "read", "get_perms", "directory")
_CANONICAL_BACKEND = re.compile(r"^/local/domain/([0-9]{1,5})/backend/")


def domain_path(domid: int) -> str:
    return "/local/domain/%d" % domid


def state_name(state) -> str:
    """``4`` → ``4 (Connected)``; ``None`` → ``absent``."""
    if state is None:
        return "absent"
    return "%s (%s)" % (state, XENBUS_STATES.get(state, "unknown state"))


def parse_state(value):
    """A state node's value as an int, or None when missing or not a number."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Device:
    """One split-driver device: frontend in domain ``frontend``, backend in ``backend``.

    ``backend_given`` is false when the call did not name a backend: ``backend`` is then dom0
    for a device to create, and a removal follows the backend the frontend points at.
    """

    type: str
    frontend: int
    devid: int
    backend: int = 0
    frontend_entries: tuple = ()
    backend_entries: tuple = ()
    frontend_name: str = None
    backend_name: str = None
    backend_given: bool = True

    @property
    def key(self):
        """Identity of a device: a frontend slot can only have one backend."""
        return (self.type, self.frontend, self.devid)

    @property
    def label(self) -> str:
        return "%s device %d of domain %d" % (self.type, self.devid, self.frontend)

    @property
    def frontend_type_dir(self) -> str:
        return "%s/device/%s" % (domain_path(self.frontend), self.type)

    @property
    def frontend_dir(self) -> str:
        return "%s/%d" % (self.frontend_type_dir, self.devid)

    @property
    def backend_type_dir(self) -> str:
        return "%s/backend/%s" % (domain_path(self.backend), self.type)

    @property
    def backend_frontend_dir(self) -> str:
        return "%s/%d" % (self.backend_type_dir, self.frontend)

    @property
    def backend_dir(self) -> str:
        return "%s/%d" % (self.backend_frontend_dir, self.devid)

    @property
    def frontend_perms(self) -> list:
        # libxl: frontend owned by the guest, readable by the backend domain.
        return ["n%d" % self.frontend, "r%d" % self.backend]

    @property
    def backend_perms(self) -> list:
        # libxl: backend owned by the backend domain, readable by the guest.
        return ["n%d" % self.backend, "r%d" % self.frontend]

    @property
    def frontend_error_path(self) -> str:
        # Linux xenbus_dev_error(): "error/<nodename>" relative to the driver's domain.
        return "%s/error/device/%s/%d/error" % (domain_path(self.frontend), self.type, self.devid)

    @property
    def backend_error_path(self) -> str:
        return "%s/error/backend/%s/%d/%d/error" % (
            domain_path(self.backend), self.type, self.frontend, self.devid)

    def frontend_keys(self) -> "OrderedDict[str, str]":
        """Frontend keys and values the module manages, ``state`` last."""
        keys = OrderedDict([("backend", self.backend_dir), ("backend-id", str(self.backend))])
        keys.update(self.frontend_entries)
        keys["state"] = str(INITIALISING)
        return keys

    def backend_keys(self) -> "OrderedDict[str, str]":
        """Backend keys and values the module manages, ``state`` last."""
        keys = OrderedDict([("frontend", self.frontend_dir), ("frontend-id", str(self.frontend)),
                            ("online", "1")])
        keys.update(self.backend_entries)
        keys["state"] = str(INITIALISING)
        return keys

    def ends(self):
        """``(name, dir, perms, keys)`` for the frontend then the backend."""
        return (("frontend", self.frontend_dir, self.frontend_perms, self.frontend_keys()),
                ("backend", self.backend_dir, self.backend_perms, self.backend_keys()))


class MissingDomain(validate.ValidationError):
    """A domain named by the call (``option``) is not running: no ``/local/domain/<id>``, or no
    domain has that name. A removal goes on without it; everything else fails."""

    def __init__(self, message, option, ref):
        super().__init__(message)
        self.option = option
        self.ref = ref


class IdentityError(validate.ValidationError):
    """Devices that exist with another backend than the call asks for (nothing is written)."""


def domain_ref(value, option: str):
    """Validate a domain given as a domid (an int, or a string of digits) or as a domain name.

    Returns the domid (``int``) or the name (``str``). A signed integer string (``"-1"``) is a
    domid too, so that it is rejected as out of range rather than looked up as a name.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)) or str(value).strip() == "":
        raise validate.ValidationError("%s must be a domain id or a domain name, got %r" % (option, value))
    if isinstance(value, int):
        return validate.check_domid(value, option)
    digits = value.strip()
    if digits[:1] in ("+", "-"):
        digits = digits[1:]
    if digits.isdigit():
        return validate.check_domid(int(value.strip()), option)
    return validate.check_domain_name(value, option)


def resolve_domain(value, domains: dict, option: str):
    """``(domid, name or None)`` for a domain given as a domid or a name (see ``domain_ref``).

    Raises ``MissingDomain`` when the domain is not running.
    """
    ref = domain_ref(value, option)
    if isinstance(ref, int):
        if ref not in domains:
            raise MissingDomain("%s domain %d does not exist (no %s)" % (option, ref, domain_path(ref)), option, ref)
        return ref, None
    matches = sorted(domid for domid, dom_name in domains.items() if dom_name == ref)
    if not matches:
        raise MissingDomain("%s: no domain is named %r (looked up in /local/domain/*/name)" % (option, ref),
                            option, ref)
    if len(matches) > 1:
        raise validate.ValidationError(
            "%s: domain name %r is ambiguous: domains %s all have it; give the domid instead"
            % (option, ref, ", ".join(str(m) for m in matches)))
    return matches[0], ref


def make_device(spec: dict, domains: dict, removal: bool = False) -> Device:
    """Validate one device spec against the live domains and build its ``Device``.

    ``spec`` has ``type``, ``frontend`` and ``backend`` (a domid or a domain name; ``backend``
    None means dom0, and for a removal the backend the frontend points at), ``devid``,
    ``frontend_entries``, ``backend_entries``. ``domains`` maps every live domid to its name
    (or None when names were not read). For a removal (``removal``) a domid that is not
    running is kept (what it left behind is removed); a name no domain has raises
    ``MissingDomain`` for the frontend and counts as not given for the backend.
    """
    try:
        frontend, frontend_name = resolve_domain(spec.get("frontend"), domains, "frontend")
    except MissingDomain as exc:
        if not (removal and isinstance(exc.ref, int)):
            raise
        frontend, frontend_name = exc.ref, None
    backend, backend_name, backend_given = 0, None, spec.get("backend") is not None
    if backend_given:
        try:
            backend, backend_name = resolve_domain(spec["backend"], domains, "backend")
        except MissingDomain as exc:
            if not removal:
                raise
            if isinstance(exc.ref, int):
                backend = exc.ref
            else:
                backend_given = False
    if frontend == backend:
        raise validate.ValidationError(
            "frontend and backend are the same domain (%d): a split driver needs two domains "
            "(frontend and backend must differ)" % frontend)
    devid = validate.check_devid(spec.get("devid", 0))
    devtype = validate.check_type(spec.get("type"), frontend, devid)
    fe_entries = validate.check_entries(spec.get("frontend_entries"), "frontend_entries",
                                        validate.FRONTEND_PROTOCOL_KEYS)
    be_entries = validate.check_entries(spec.get("backend_entries"), "backend_entries",
                                        validate.BACKEND_PROTOCOL_KEYS)
    device = Device(type=devtype, frontend=frontend, devid=devid, backend=backend,
                    frontend_entries=tuple(fe_entries.items()),
                    backend_entries=tuple(be_entries.items()),
                    frontend_name=frontend_name, backend_name=backend_name, backend_given=backend_given)
    for dummy, directory, dummy_perms, keys in device.ends():
        validate.check_path(directory)
        for key, value in keys.items():
            validate.check_value("%s/%s" % (directory, key), value)
    return device


def check_duplicates(devices) -> None:
    """Reject two entries for the same frontend slot (type, frontend domain, devid)."""
    seen = {}
    for index, device in enumerate(devices):
        if device.key in seen:
            raise validate.ValidationError(
                "devices[%d] and devices[%d] are the same device: %s"
                % (seen[device.key], index, device.label))
        seen[device.key] = index


def pointed_backend(device: Device, snapshot) -> int:
    """The backend domain an existing frontend dir points at, or None (no frontend, or a pointer
    that names no domain).

    ``backend-id`` says it; when that is not a domid, a ``backend`` key of the canonical shape
    ``/local/domain/<id>/backend/<type>/<frontend>/<devid>`` does. Either way the pointer can
    only lead to a backend dir of this very frontend slot: what a guest writes in its own
    frontend dir cannot make the module touch another guest's device.
    """
    if not snapshot.frontend_exists(device):
        return None
    node = snapshot.nodes.get(device.frontend_dir + "/backend-id")
    value = node.value if node is not None else None
    if value is not None and value.isdigit() and int(value) <= validate.DOMID_MAX and str(int(value)) == value:
        return int(value)
    node = snapshot.nodes.get(device.frontend_dir + "/backend")
    match = _CANONICAL_BACKEND.match(node.value) if node is not None and node.value else None
    if match and replace(device, backend=int(match.group(1))).backend_dir == node.value:
        domid = int(match.group(1))
        return domid if domid <= validate.DOMID_MAX else None
    return None


def domain_label(domid: int, name=None) -> str:
    return "domain %d (%s)" % (domid, name) if name else "domain %d" % domid


@dataclass
class Node:
    """What XenStore holds at a path: ``value`` (None for a directory not read) and perms."""

    value: str = None
    perms: list = None


@dataclass
class Snapshot:
    """What the read phase saw, inside the transaction.

    ``domains``: live domid → name (None when names were not read).
    ``listings``: directory path → child names, or None when the directory is missing.
    ``nodes``: path → Node for every node read; a path missing from it does not exist.
    """

    domains: dict = field(default_factory=dict)
    listings: dict = field(default_factory=dict)
    nodes: dict = field(default_factory=dict)
    # listing path → set of its children, built on first use (a type dir may hold 10,000).
    _members: dict = field(default_factory=dict, repr=False, compare=False)

    def children(self, path: str) -> list:
        return self.listings.get(path) or []

    def has_child(self, path: str, name: str) -> bool:
        members = self._members.get(path)
        if members is None or len(members) != len(self.children(path)):
            members = self._members[path] = frozenset(self.children(path))
        return name in members

    def frontend_exists(self, device: Device) -> bool:
        return self.has_child(device.frontend_type_dir, str(device.devid))

    def backend_exists(self, device: Device) -> bool:
        return self.has_child(device.backend_frontend_dir, str(device.devid))

    def state(self, path: str):
        node = self.nodes.get(path)
        return parse_state(node.value) if node is not None else None

    def states(self, device: Device) -> dict:
        return {"frontend": self.state(device.frontend_dir + "/state") if self.frontend_exists(device) else None,
                "backend": self.state(device.backend_dir + "/state") if self.backend_exists(device) else None}


def backend_type_dirs(devices) -> list:
    """The backend type dirs of ``devices`` (where stale backends of dead guests are found)."""
    return list(OrderedDict((device.backend_type_dir, True) for device in devices))


def listing_paths(devices, type_dirs=()) -> list:
    """Directories to list so that each device's existence is known (batched per group).

    ``type_dirs`` (backend type dirs) are listed as well: needed to remove empty parents and to
    find stale backends of dead domains.
    """
    paths = OrderedDict()
    for device in devices:
        paths[device.frontend_type_dir] = True
        paths[device.backend_frontend_dir] = True
    for path in type_dirs:
        paths[path] = True
    return list(paths)


def node_reads(devices, snapshot: Snapshot) -> list:
    """The reads of the managed nodes of the devices that exist: ``[(op, path)]``.

    One ``get_perms`` per managed node (directory and keys) and one ``read`` per managed key:
    16 requests for a device without extra entries, none for a device that does not exist.
    """
    reads = []
    for device in devices:
        for end, directory, dummy, keys in device.ends():
            exists = snapshot.frontend_exists(device) if end == "frontend" else snapshot.backend_exists(device)
            if not exists:
                continue
            reads.append((GET_PERMS, directory))
            for key in keys:
                reads.append((READ, "%s/%s" % (directory, key)))
                reads.append((GET_PERMS, "%s/%s" % (directory, key)))
    return reads


def state_paths(devices) -> list:
    paths = []
    for device in devices:
        paths.append(device.frontend_dir + "/state")
        paths.append(device.backend_dir + "/state")
    return paths


def _perms_text(perms) -> str:
    return ",".join(perms) if perms is not None else None


def _diff_node(node: Node, is_dir: bool) -> dict:
    entry = {"perms": _perms_text(node.perms)}
    if not is_dir:
        entry["value"] = node.value
    return entry


def _current_tree(device: Device, snapshot: Snapshot) -> "OrderedDict[str, dict]":
    """The managed nodes of ``device`` as they are now (for the diff's ``before``)."""
    tree = OrderedDict()
    for dummy, directory, dummy_perms, keys in device.ends():
        node = snapshot.nodes.get(directory)
        if node is None:
            continue
        tree[directory] = _diff_node(node, True)
        for key in keys:
            path = "%s/%s" % (directory, key)
            if path in snapshot.nodes:
                tree[path] = _diff_node(snapshot.nodes[path], False)
    return tree


def pair_state(device: Device, snapshot: Snapshot) -> conditions.PairState:
    """Both ends of ``device`` as ``conditions.assess`` reads them."""
    states = snapshot.states(device)
    return conditions.PairState(
        type=device.type, frontend=device.frontend, devid=device.devid, backend=device.backend,
        frontend_exists=snapshot.frontend_exists(device), backend_exists=snapshot.backend_exists(device),
        frontend_state=states["frontend"], backend_state=states["backend"],
        frontend_domain_alive=device.frontend in snapshot.domains,
        backend_domain_alive=device.backend in snapshot.domains)


@dataclass
class Plan:
    """Ordered operations plus what to report. ``ops`` are ``(op, path[, value or perms])``."""

    ops: list = field(default_factory=list)
    results: list = field(default_factory=list)
    before: dict = field(default_factory=OrderedDict)
    after: dict = field(default_factory=OrderedDict)
    removed: list = field(default_factory=list)
    pruned: list = field(default_factory=list)
    # Devices whose backend was asked to close (absent): wait for Closed, then plan removal.
    handshake: list = field(default_factory=list)
    # present: (device as wanted, device as it is, with its current backend, whether that backend
    # domain is alive) of each device that moves to another backend; the old pair goes first.
    moves: list = field(default_factory=list)
    # Conditions found (``conditions.Condition``) that state=present does not repair.
    warnings: list = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.ops) or any(result["action"] != "unchanged" for result in self.results)


def _result(device: Device, action: str, before: dict, after: dict, condition: str = NO_CONDITION) -> dict:
    result = OrderedDict([
        ("type", device.type),
        ("frontend", device.frontend),
        ("frontend_name", device.frontend_name),
        ("devid", device.devid),
        ("backend_domid", device.backend),
        ("backend_name", device.backend_name),
        ("frontend_path", device.frontend_dir),
        ("backend_path", device.backend_dir),
        ("action", action),
        ("state_before", before),
        ("state_after", after),
        ("condition", condition),
    ])
    for key in ("frontend_name", "backend_name"):
        if result[key] is None:
            del result[key]
    return result


def identity_conflicts(devices, snapshot: Snapshot) -> list:
    """``(device, current)`` for each device whose existing frontend points at another backend
    than ``device.backend``; ``current`` is the device re-pointed at that backend."""
    conflicts = []
    for device in devices:
        pointed = pointed_backend(device, snapshot)
        if pointed is not None and pointed != device.backend:
            conflicts.append((device, replace(device, backend=pointed, backend_name=snapshot.domains.get(pointed),
                                              backend_given=True)))
    return conflicts


def identity_error(conflicts, snapshot: Snapshot, remedy: str) -> IdentityError:
    """The message for devices that already have another backend than the call says."""
    lines = []
    for device, current in conflicts[:REPORT_MAX]:
        alive = "" if current.backend in snapshot.domains else ", which no longer exists"
        lines.append("%s is served by backend %s%s (its frontend's backend-id), not by backend %s as asked"
                     % (device.label, domain_label(current.backend, current.backend_name), alive,
                        domain_label(device.backend, device.backend_name)))
    if len(conflicts) > REPORT_MAX:
        lines.append("... and %d more device(s)" % (len(conflicts) - REPORT_MAX))
    return IdentityError("%s. Nothing was written; %s" % ("; ".join(lines), remedy))


def plan_present(devices, snapshot: Snapshot, prune_stale: bool = False, force: bool = False,
                 type_dirs=()) -> Plan:
    """Create missing devices, repair drift in managed keys and perms; never rewrite ``state``.

    Order (the way libxl does it, for every device of the batch): make the directories and set
    their perms first (new keys inherit them), then the keys, then ``state`` last.

    A device whose frontend points at another live backend is not touched: without ``force``
    the call fails (``IdentityError``); with it the device is listed in ``moves`` (the caller
    removes the old pair, then plans again). One whose backend domain is gone (a driver domain
    that died or restarted with a new domid) always moves: no live backend loses its device,
    and its frontend, left without a backend, would not connect to a new one otherwise.
    """
    conflicts = identity_conflicts(devices, snapshot)
    live = [(device, current) for device, current in conflicts if current.backend in snapshot.domains]
    if live and not force:
        raise identity_error(live, snapshot, "give the backend the device has, or force=true to move "
                             "it (the old pair is closed and removed first)")
    moving = dict((device.key, current) for device, current in conflicts)
    plan = Plan()
    dir_ops, key_ops, state_ops = [], [], []
    for device in devices:
        if device.key in moving:
            current = moving[device.key]
            plan.moves.append((device, current, current.backend in snapshot.domains))
            plan.before.update(_current_tree(current, snapshot))
            result = _result(device, "moved", snapshot.states(current),
                             {"frontend": INITIALISING, "backend": INITIALISING})
            result["previous_backend_domid"] = current.backend
            plan.results.append(result)
            continue
        before_states = snapshot.states(device)
        after_states = dict(before_states)
        created = repaired = False
        plan.before.update(_current_tree(device, snapshot))
        found = conditions.assess(pair_state(device, snapshot))
        plan.warnings.extend(c for c in found if c.code not in conditions.REPAIRED_BY_PRESENT)
        for end, directory, perms, keys in device.ends():
            exists = snapshot.frontend_exists(device) if end == "frontend" else snapshot.backend_exists(device)
            plan.after[directory] = {"perms": _perms_text(perms)}
            if not exists:
                created = True
                dir_ops.append((MKDIR, directory))
                dir_ops.append((SET_PERMS, directory, perms))
                for key, value in keys.items():
                    target = state_ops if key == "state" else key_ops
                    target.append((WRITE, "%s/%s" % (directory, key), value))
                    plan.after["%s/%s" % (directory, key)] = {"perms": _perms_text(perms), "value": value}
                after_states[end] = INITIALISING
                continue
            current_dir = snapshot.nodes.get(directory)
            if current_dir is None or current_dir.perms != perms:
                repaired = True
                dir_ops.append((SET_PERMS, directory, perms))
            for key, value in keys.items():
                path = "%s/%s" % (directory, key)
                node = snapshot.nodes.get(path)
                if node is None:
                    # Missing key: a new node inherits the (repaired) directory perms.
                    repaired = True
                    (state_ops if key == "state" else key_ops).append((WRITE, path, value))
                    plan.after[path] = {"perms": _perms_text(perms), "value": value}
                    if key == "state":
                        after_states[end] = INITIALISING
                    continue
                new_value = node.value
                if key != "state" and node.value != value:
                    # Never rewrite state of an existing device: the drivers own it.
                    repaired = True
                    key_ops.append((WRITE, path, value))
                    new_value = value
                if node.perms != perms:
                    repaired = True
                    key_ops.append((SET_PERMS, path, perms))
                plan.after[path] = {"perms": _perms_text(perms), "value": new_value}
        action = "created" if created else ("repaired" if repaired else "unchanged")
        plan.results.append(_result(device, action, before_states, after_states,
                                    found[0].code if found else NO_CONDITION))
    plan.ops = dir_ops + key_ops + state_ops
    if prune_stale:
        # The type directories keep the live devices just planned: one rm per stale dir.
        _plan_prune(plan, type_dirs or backend_type_dirs(devices), snapshot)
        plan.removed = list(plan.pruned)
        plan.ops.extend((RM, path) for path in plan.pruned)
    return plan


def plan_absent(devices, snapshot: Snapshot, force: bool = False, prune_stale: bool = False,
                handshake_done: bool = False, type_dirs=()) -> Plan:
    """Remove devices: close the backend first unless ``force`` (or already Closed).

    When some backend must first be asked to close, the plan holds only those handshake writes
    (backend ``online``=0, ``state``=5) and lists the devices in ``handshake``: the caller waits
    for Closed, takes a new snapshot and plans again with ``handshake_done=True``.

    Each device must be the pair its frontend points at (the caller re-points devices given
    without a backend); one whose frontend names another backend fails (``IdentityError``).
    Nothing is asked of an end whose domain is gone: a guest destroyed by ``xl destroy`` leaves
    its backend dir, a dead driver domain leaves the guest's frontend dir, and both are removed
    at once.
    """
    conflicts = identity_conflicts(devices, snapshot)
    if conflicts:
        raise identity_error(conflicts, snapshot, "give the backend the device has, or leave the backend out "
                             "to remove the device from the backend it has")
    plan = Plan()
    present = []
    for device in devices:
        fe_exists, be_exists = snapshot.frontend_exists(device), snapshot.backend_exists(device)
        before_states = snapshot.states(device)
        found = conditions.assess(pair_state(device, snapshot))
        condition = found[0].code if found else NO_CONDITION
        if not fe_exists and not be_exists:
            plan.results.append(_result(device, "unchanged", before_states, before_states, condition))
            continue
        present.append(device)
        plan.before.update(_current_tree(device, snapshot))
        plan.results.append(_result(device, "removed", before_states, {"frontend": None, "backend": None},
                                    condition))
        both_alive = device.frontend in snapshot.domains and device.backend in snapshot.domains
        backend_state = before_states["backend"]
        if be_exists and both_alive and not force and not handshake_done and backend_state != CLOSED:
            plan.handshake.append(device)
            online = snapshot.nodes.get(device.backend_dir + "/online")
            if online is None or online.value != "0":
                plan.ops.append((WRITE, device.backend_dir + "/online", "0"))
            if backend_state != CLOSING:
                plan.ops.append((WRITE, device.backend_dir + "/state", str(CLOSING)))
    device_dirs = []
    for device in present:
        if snapshot.frontend_exists(device):
            device_dirs.append(device.frontend_dir)
        if snapshot.backend_exists(device):
            device_dirs.append(device.backend_dir)
    type_dirs = list(type_dirs) or backend_type_dirs(devices)
    if prune_stale:
        _plan_prune(plan, type_dirs, snapshot)
    # What will be removed once every backend is Closed (check mode reports it as well).
    plan.removed = _collapse_removals(set(device_dirs) | set(plan.pruned), devices, type_dirs, snapshot)
    if not plan.handshake:
        # Each device dir gets its own rm before the parents it leaves empty, as libxl does:
        # Linux xenbus unregisters a device only on a watch event naming that device's own
        # dir, and an rm of the type dir above it fires an event for the type dir alone.
        plan.ops.extend((RM, path) for path in device_dirs if path not in plan.removed)
        plan.ops.extend((RM, path) for path in plan.removed)
    return plan


def _plan_prune(plan: Plan, type_dirs, snapshot: Snapshot) -> None:
    """Backend dirs in ``type_dirs`` whose frontend domain is gone (xl leaks them)."""
    for type_dir in OrderedDict((path, True) for path in type_dirs):
        for child in snapshot.children(type_dir):
            if child.isdigit() and int(child) not in snapshot.domains:
                path = "%s/%s" % (type_dir, child)
                if path not in plan.pruned:
                    plan.pruned.append(path)
                    plan.before[path] = {"stale": "backend of dead domain %s, removed with its subtree" % child}


def _collapse_removals(removed: set, devices, type_dirs, snapshot: Snapshot) -> list:
    """Removed dirs plus the parents they leave empty, as the fewest ``rm`` (topmost) paths.

    Stops at ``/local/domain/<id>/device`` and ``/local/domain/<id>/backend``: never removed.
    """
    gone = set(removed)
    parents = []
    for device in devices:
        parents.append(device.frontend_type_dir)
        parents.append(device.backend_frontend_dir)
    parents.extend(type_dirs)
    # Devices of one guest share their type dir: each parent is looked at once per round.
    parents = list(dict.fromkeys(parents))
    changed = True
    while changed:
        changed = False
        for parent in parents:
            if parent in gone or snapshot.listings.get(parent) is None:
                continue
            children = ["%s/%s" % (parent, child) for child in snapshot.listings[parent]]
            if children and all(child in gone for child in children):
                gone.add(parent)
                changed = True
    # Keep only the topmost paths: rm removes a whole subtree. A path goes when one of its
    # ancestors goes (a walk up its components: linear in the number of paths).
    return [path for path in sorted(gone) if not any(ancestor in gone for ancestor in _ancestors(path))]


def _ancestors(path: str):
    """``/a/b/c`` → ``/a/b``, ``/a``."""
    while True:
        path = path.rsplit("/", 1)[0]
        if not path:
            return
        yield path
