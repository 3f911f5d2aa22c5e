# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""The ``xenstore_device`` logic: read → plan → write in one transaction, then wait.

The argument spec lives here too (``argument_spec()``) so the module and its tests share it.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from . import common, validate
from . import plan as planner
from .errors import XenStoreError
from .transaction import CommitInDoubt, run_transaction

WAIT_CONDITIONS = {
    # wait option → (description, predicate on (frontend state, backend state))
    "initwait": ("the backend to reach InitWait (2) or later",
                 lambda fe, be: be in (planner.INITWAIT, planner.INITIALISED, planner.CONNECTED)),
    "connected": ("both ends to be Connected (4)",
                  lambda fe, be: fe == planner.CONNECTED and be == planner.CONNECTED),
}
CLOSED_CONDITION = ("the backend to answer Closing (5) with Closed (6)",
                    lambda fe, be: be is None or be == planner.CLOSED)


def _device_options(top_level):
    options = dict(
        type=dict(type="str"),
        # raw: a domid may come as an int (no string-conversion warning) or a name as a str
        frontend=dict(type="raw"),
        devid=dict(type="int"),
        backend=dict(type="raw", aliases=["backend_domid"]),
        frontend_entries=dict(type="dict"),
        backend_entries=dict(type="dict"),
    )
    if not top_level:
        options["type"]["required"] = True
        options["frontend"]["required"] = True
        options["devid"]["default"] = 0
    return options


def argument_spec():
    """The module's argument spec (also used by the unit tests)."""
    spec = _device_options(top_level=True)
    spec.update(
        devices=dict(type="list", elements="dict", options=_device_options(top_level=False)),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        force=dict(type="bool", default=False),
        wait=dict(type="str", default="none", choices=["none", "initwait", "connected"]),
        timeout=dict(type="float", default=30.0),
        retries=dict(type="int", default=10),
        prune_stale=dict(type="bool", default=False),
    )
    spec.update(common.connection_argument_spec())
    return spec


MODULE_KWARGS = dict(
    mutually_exclusive=[
        ("devices", "type"), ("devices", "frontend"), ("devices", "devid"),
        ("devices", "backend"), ("devices", "frontend_entries"), ("devices", "backend_entries"),
    ],
    required_one_of=[("devices", "type")],
    required_together=[("type", "frontend")],
    supports_check_mode=True,
)


class DeviceError(Exception):
    """The module fails: ``message`` and extra result keys (``devices``, ``changed``...)."""

    def __init__(self, message, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


def device_specs(params) -> list:
    """The device specs of a call: the ``devices`` list or the single top-level device."""
    if params.get("devices") is not None:
        return [dict(spec) for spec in params["devices"]]
    return [dict(
        type=params.get("type"),
        frontend=params.get("frontend"),
        devid=0 if params.get("devid") is None else params["devid"],
        backend=params.get("backend"),
        frontend_entries=params.get("frontend_entries"),
        backend_entries=params.get("backend_entries"),
    )]


def precheck(params, specs) -> None:
    """Everything that can be validated before connecting; raises ``ValidationError``."""
    common.check_connection_options(params)
    validate.check_seconds(params["timeout"], "timeout", validate.TIMEOUT_MAX)
    validate.check_count(params["retries"], "retries", validate.RETRIES_MAX)
    for index, spec in enumerate(specs):
        where = "devices[%d]: " % index if params.get("devices") is not None else ""
        try:
            devid = validate.check_devid(spec["devid"])
            frontend = spec["frontend"] = planner.domain_ref(spec["frontend"], "frontend")
            if spec.get("backend") is not None:
                spec["backend"] = planner.domain_ref(spec["backend"], "backend")
            if isinstance(frontend, str):
                # The longest domid a name can resolve to bounds the bus id length.
                validate.check_type(spec["type"], 0, devid, frontend_name=frontend)
            else:
                validate.check_type(spec["type"], frontend, devid)
            validate.check_entries(spec.get("frontend_entries"), "frontend_entries",
                                   validate.FRONTEND_PROTOCOL_KEYS)
            validate.check_entries(spec.get("backend_entries"), "backend_entries",
                                   validate.BACKEND_PROTOCOL_KEYS)
        except validate.ValidationError as exc:
            raise validate.ValidationError(where + str(exc))


def _gone_result(spec, condition) -> dict:
    """The result of a removal whose frontend, given by name, no running domain has."""
    result = OrderedDict([
        ("type", spec["type"]), ("frontend", None), ("frontend_name", spec["frontend"]),
        ("devid", spec.get("devid", 0)), ("backend_domid", None),
        ("frontend_path", None), ("backend_path", None), ("action", "unchanged"),
        ("state_before", {"frontend": None, "backend": None}),
        ("state_after", {"frontend": None, "backend": None}),
        ("condition", condition),
    ])
    if isinstance(spec.get("backend"), int):
        result["backend_domid"] = spec["backend"]
    return result


class DeviceManager:
    """Runs one ``xenstore_device`` call against a connected ``XenStore``."""

    def __init__(self, xs, params, check_mode=False, sleep=time.sleep, clock=time.monotonic):
        self.xs = xs
        self.params = params
        self.check_mode = check_mode
        self.sleep = sleep
        self.clock = clock
        self.specs = device_specs(params)
        # True once a transaction with writes committed: a later failure still changed things.
        self.committed = False
        # For the module to pass on with module.warn().
        self.warnings = []

    def _where(self, index):
        return "devices[%d]: " % index if self.params.get("devices") is not None else ""

    # Reading ---------------------------------------------------------------------------
    def _read_names(self, snapshot, tx_id):
        domids = sorted(snapshot.domains)
        names = self.xs.batch([("read", "/local/domain/%d/name" % d) for d in domids], tx_id, raise_errors=False)
        for domid, name in zip(domids, names):
            snapshot.domains[domid] = None if isinstance(name, XenStoreError) else name

    def _read_devices(self, devices, snapshot, type_dirs, tx_id):
        """List the dirs of ``devices`` and read their managed nodes into ``snapshot``."""
        snapshot.listings.update(self.xs.directories(planner.listing_paths(devices, type_dirs), tx_id))
        reads = planner.node_reads(devices, snapshot)
        for (op, path), reply in zip(reads, self.xs.batch(reads, tx_id, raise_errors=False)):
            if isinstance(reply, XenStoreError):
                if reply.errno != "ENOENT":
                    raise reply
                continue
            node = snapshot.nodes.setdefault(path, planner.Node())
            if op == planner.READ:
                node.value = reply
            else:
                node.perms = reply

    def read_snapshot(self, tx_id, removal, with_type_dirs):
        """Resolve and validate the devices, then read what they need (pipelined batches).

        Returns ``(devices, snapshot, gone, type_dirs)``; ``gone`` maps the index of each spec of
        a removal whose frontend name no running domain has to its result.
        For a removal, a device given without a backend (or with ``force``) is re-pointed at the
        backend its frontend names, and that pair is read too.
        """
        snapshot = planner.Snapshot()
        domains = self.xs.directory("/local/domain", tx_id) or []
        snapshot.domains = dict((int(d), None) for d in domains if d.isdigit())
        names_read = any(isinstance(planner.domain_ref(spec[key], key), str)
                         for spec in self.specs for key in ("frontend", "backend") if spec.get(key) is not None)
        if names_read:
            self._read_names(snapshot, tx_id)
        devices, gone, type_dirs = [], OrderedDict(), []
        for index, spec in enumerate(self.specs):
            try:
                devices.append(planner.make_device(spec, snapshot.domains, removal=removal))
            except planner.MissingDomain as exc:
                if not removal:
                    raise validate.ValidationError(self._where(index) + str(exc))
                # A guest given by name that is gone (xl destroy): nothing of it can be found but
                # the stale backend dirs that prune_stale removes.
                gone[index] = _gone_result(spec, "frontend-domain-gone")
                backend = spec.get("backend") if isinstance(spec.get("backend"), int) else 0
                type_dirs.append("%s/backend/%s" % (planner.domain_path(backend), spec["type"]))
            except validate.ValidationError as exc:
                raise validate.ValidationError(self._where(index) + str(exc))
        planner.check_duplicates(devices)
        type_dirs = planner.backend_type_dirs(devices) + type_dirs if with_type_dirs else []
        self._read_devices(devices, snapshot, type_dirs, tx_id)
        if not names_read and planner.identity_conflicts(devices, snapshot):
            # Only to name the backends in the message or the warning.
            self._read_names(snapshot, tx_id)
        if removal:
            repointed = dict((device.key, current) for device, current in planner.identity_conflicts(devices, snapshot)
                             if not device.backend_given or self.params["force"])
            if repointed:
                devices = [repointed.get(device.key, device) for device in devices]
                extra = planner.backend_type_dirs(repointed.values()) if with_type_dirs else []
                type_dirs += [path for path in extra if path not in type_dirs]
                self._read_devices(list(repointed.values()), snapshot, type_dirs, tx_id)
        return devices, snapshot, gone, type_dirs

    def read_pairs(self, tx_id, devices):
        """Read given, already resolved pairs (the old pairs of devices that move)."""
        snapshot = planner.Snapshot()
        listing = self.xs.directory("/local/domain", tx_id) or []
        snapshot.domains = dict((int(d), None) for d in listing if d.isdigit())
        type_dirs = planner.backend_type_dirs(devices)
        self._read_devices(devices, snapshot, type_dirs, tx_id)
        return devices, snapshot, OrderedDict(), type_dirs

    # Running ---------------------------------------------------------------------------
    def _transaction(self, read, make_plan):
        """Read (``read(tx_id)``), plan (``make_plan``) and write in one transaction."""
        def body(tx_id):
            devices, snapshot, gone, type_dirs = read(tx_id)
            plan = make_plan(devices, snapshot, type_dirs)
            outcome = (devices, plan, gone)
            if plan.ops and not self.check_mode:
                self.xs.batch(plan.ops, tx_id)
                return outcome, True
            return outcome, False
        outcome = run_transaction(self.xs, body, self.params["retries"], sleep=self.sleep)
        if isinstance(outcome, CommitInDoubt):
            # The store now holds what was wanted; an earlier attempt's commit most likely wrote it.
            self.committed = True
            self.warnings.append(
                "%s, after its commit was sent: the commit may have taken effect, so the call is "
                "reported as changed. The store was read again on a new connection and now holds "
                "the wanted state." % outcome.error.message)
            outcome = outcome.result
        devices, plan, gone = outcome
        if plan.ops and not self.check_mode:
            self.committed = True
        return devices, plan, gone

    def run(self) -> dict:
        if not self.specs:
            return dict(changed=False, devices=[], removed=[], pruned=[], diff=dict(before={}, after={}))
        result = self._present() if self.params["state"] == "present" else self._absent()
        if self.committed:
            result["changed"] = True
        return result

    def _result(self, plan, gone=None):
        results = list(plan.results)
        for index, entry in (gone or {}).items():
            results.insert(index, entry)
        return dict(
            changed=plan.changed,
            devices=results,
            removed=list(plan.removed),
            pruned=list(plan.pruned),
            diff=dict(before=dict(plan.before), after=dict(plan.after)),
        )

    def _warn_conditions(self, found):
        """One warning per device condition that state=present does not repair."""
        for condition in found[:planner.REPORT_MAX]:
            self.warnings.append(condition.message)
        if len(found) > planner.REPORT_MAX:
            self.warnings.append("... and %d more device(s) in a condition state=present does not repair "
                                 "(see each device's condition)" % (len(found) - planner.REPORT_MAX))

    def _present(self):
        prune = self.params["prune_stale"]

        def read(tx_id):
            return self.read_snapshot(tx_id, removal=False, with_type_dirs=prune)

        def make_plan(devs, snap, type_dirs):
            return planner.plan_present(devs, snap, prune_stale=prune, force=self.params["force"],
                                        type_dirs=type_dirs)

        devices, plan, dummy = self._transaction(read, make_plan)
        result = self._result(plan)
        self._warn_conditions(plan.warnings)
        if plan.moves:
            self._move(plan, result, read, make_plan)
        mode = self.params["wait"]
        if mode != "none" and not self.check_mode:
            states = self._wait(devices, WAIT_CONDITIONS[mode], result)
            for device, entry in zip(devices, result["devices"]):
                entry["state_after"] = states[device.key]
        return result

    def _move(self, plan, result, read, make_plan):
        """force: close and remove each moving device's old pair, then create it anew."""
        for wanted, current, alive in plan.moves:
            why = "force=true" if alive else "its backend domain %d is gone" % current.backend
            self.warnings.append(
                "%s moves from backend %s to backend %s (%s): the old pair is closed and removed, "
                "then the device is created anew" % (
                    wanted.label, planner.domain_label(current.backend, current.backend_name),
                    planner.domain_label(wanted.backend, wanted.backend_name), why))
        if self.check_mode:
            return
        old = [current for dummy, current, dummy in plan.moves]
        # The old pairs go the way state=absent takes them: handshake first (force only moves).
        self._remove(lambda tx_id: self.read_pairs(tx_id, old), force=False, prune=False, result=result)
        dummy, created, dummy = self._transaction(read, make_plan)
        moved = dict((wanted.key, current.backend) for wanted, current, dummy in plan.moves)
        for entry in created.results:
            key = (entry["type"], entry["frontend"], entry["devid"])
            if key in moved:
                entry["action"] = "moved"
                entry["previous_backend_domid"] = moved[key]
        result["devices"] = created.results
        for path, node in created.after.items():
            result["diff"]["after"].setdefault(path, node)

    def _absent(self):
        def read(tx_id):
            return self.read_snapshot(tx_id, removal=True, with_type_dirs=True)
        result = {}
        self._remove(read, force=self.params["force"], prune=self.params["prune_stale"], result=result)
        return result

    def _remove(self, read, force, prune, result):
        """Remove devices: close each backend (unless ``force``), wait for Closed, remove.

        ``result`` is filled (when empty) or extended with what was removed.
        """
        def planner_for(handshake_done):
            def make_plan(devs, snap, type_dirs):
                return planner.plan_absent(devs, snap, force=force, prune_stale=prune,
                                           handshake_done=handshake_done, type_dirs=type_dirs)
            return make_plan

        dummy, plan, gone = self._transaction(read, planner_for(False))
        if not result:
            result.update(self._result(plan, gone))
        else:
            self._merge_removal(result, plan)
        if not plan.handshake or self.check_mode:
            return
        # Backends were asked to close: wait for Closed, then remove in a second transaction.
        self._wait(plan.handshake, CLOSED_CONDITION, result, absent=True)
        dummy, removal, dummy = self._transaction(read, planner_for(True))
        self._merge_removal(result, removal)

    @staticmethod
    def _merge_removal(result, plan):
        result["removed"] = list(dict.fromkeys(result.get("removed", []) + plan.removed))
        result["pruned"] = list(dict.fromkeys(result.get("pruned", []) + plan.pruned))
        for path, node in plan.before.items():
            # "before" is the state before the call; only what the first look missed is added
            result["diff"]["before"].setdefault(path, node)

    # Waiting ---------------------------------------------------------------------------
    def _read_states(self, devices):
        paths = planner.state_paths(devices)
        replies = self.xs.batch([("read", p) for p in paths], raise_errors=False)
        states = {}
        for index, device in enumerate(devices):
            fe, be = replies[2 * index], replies[2 * index + 1]
            for reply in (fe, be):
                if isinstance(reply, XenStoreError) and reply.errno != "ENOENT":
                    raise reply
            states[device.key] = {
                "frontend": None if isinstance(fe, XenStoreError) else planner.parse_state(fe),
                "backend": None if isinstance(be, XenStoreError) else planner.parse_state(be),
            }
        return states

    def _wait(self, devices, condition, result, absent=False):
        """Watch the devices' state nodes until ``condition`` holds for all, within ``timeout``."""
        description, predicate = condition
        deadline = self.clock() + self.params["timeout"]
        watch_paths = []
        by_state_path = {}
        for device in devices:
            for path in (device.frontend_type_dir, device.backend_frontend_dir):
                if path not in watch_paths:
                    watch_paths.append(path)
            by_state_path[device.frontend_dir + "/state"] = device
            by_state_path[device.backend_dir + "/state"] = device
        tokens = self.xs.watch(watch_paths)
        try:
            # Registered first, read after: no change can slip between the two.
            states = self._read_states(devices)
            pending = [d for d in devices if not predicate(states[d.key]["frontend"], states[d.key]["backend"])]
            while pending:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                events = self.xs.wait_events(remaining)
                if not events:
                    continue
                touched = set()
                for event in events:
                    if event in by_state_path:
                        touched.add(by_state_path[event].key)
                        continue
                    for device in pending:
                        if (device.frontend_dir + "/").startswith(event + "/") or \
                                (device.backend_dir + "/").startswith(event + "/"):
                            touched.add(device.key)
                recheck = [d for d in pending if d.key in touched]
                if recheck:
                    states.update(self._read_states(recheck))
                pending = [d for d in pending if not predicate(states[d.key]["frontend"], states[d.key]["backend"])]
        finally:
            try:
                self.xs.unwatch(tokens)
            except XenStoreError:
                pass
        if pending:
            raise self._timeout_error(pending, states, description, result, absent)
        return states

    def _timeout_error(self, pending, states, description, result, absent):
        shown = pending[:planner.REPORT_MAX]
        paths = []
        for device in shown:
            paths.extend([device.frontend_error_path, device.backend_error_path])
        errors = self.xs.batch([("read", p) for p in paths], raise_errors=False)
        lines = []
        for index, device in enumerate(shown):
            state = states[device.key]
            text = "%s (frontend %s, backend %s): frontend state %s, backend state %s" % (
                device.label, device.frontend_dir, device.backend_dir,
                planner.state_name(state["frontend"]), planner.state_name(state["backend"]))
            for end, reply in (("frontend", errors[2 * index]), ("backend", errors[2 * index + 1])):
                if not isinstance(reply, XenStoreError):
                    text += "; %s driver error: %s" % (end, reply)
            lines.append(text)
        if len(pending) > len(shown):
            lines.append("... and %d more device(s)" % (len(pending) - len(shown)))
        message = "timed out after %g s (timeout) waiting for %s: %s" % (
            self.params["timeout"], description, "; ".join(lines))
        if absent:
            message += ". Nothing was removed; force=true removes the devices without the handshake"
        pending_keys = set(device.key for device in pending)
        for entry in result["devices"]:
            key = (entry["type"], entry["frontend"], entry["devid"])
            if key in states:
                entry["state_after"] = states[key]
            if absent and key in pending_keys:
                entry["action"] = "closing"
        # Only what this call wrote counts: a second absent finds the handshake writes done.
        return DeviceError(message, changed=self.committed, devices=result["devices"])
