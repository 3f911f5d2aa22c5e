# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""The ``xenstore_device_info`` logic: read every device's two ends, say what is wrong.

One snapshot: everything is read inside one XenStore transaction that is always aborted
(``TRANSACTION_END F``), in pipelined batches, one per level of the tree (domains → names →
type directories → per-type directories → device directories → keys, permissions and driver
error nodes). Devices are joined from both sides, so a backend directory whose frontend is
gone and half-made pairs show too. ``conditions.assess()`` says what is wrong with each.

The argument spec lives here too (``argument_spec()``) so the module and its tests share it.
"""

from __future__ import annotations

import re

from . import common, conditions
from . import plan as planner
from . import validate
from .errors import XenStoreError
from .transaction import run_transaction

# Errors that mean "not there" or "not readable" for a node: reported, never raised.
_ABSENT = ("ENOENT", "EACCES")
# Re-runs of the read-only transaction after a lost connection.
_RETRIES = 10
_DIGITS = re.compile(r"^[0-9]+\Z")
_BACKEND_PATH = re.compile(r"^/local/domain/([0-9]+)/backend/([^/]+)/([0-9]+)/([0-9]+)\Z")


def argument_spec():
    """The module's argument spec (also used by the unit tests)."""
    spec = dict(
        type=dict(type="list", elements="str"),
        # raw: one domain or a list; a domid may come as an int (no string-conversion warning)
        # or a name as a str, which is never split on commas
        frontend=dict(type="raw"),
        backend=dict(type="raw"),
    )
    spec.update(common.connection_argument_spec())
    return spec


MODULE_KWARGS = dict(supports_check_mode=True)


# Filters ---------------------------------------------------------------------------------
def _domain_filter(values, option):
    """``None`` (every domain) or a list of ``("domid", int)`` and ``("name", str)``."""
    if values is None:
        return None
    selected = []
    for value in values if isinstance(values, list) else [values]:
        ref = planner.domain_ref(value, option)
        selected.append(("domid" if isinstance(ref, int) else "name", ref))
    return selected


def parse_filters(params) -> dict:
    """Validate the options before connecting; raises ``ValidationError``."""
    common.check_connection_options(params)
    types = params.get("type")
    if types is not None:
        checked = []
        for devtype in types:
            validate.check_device_type(devtype)
            if devtype not in checked:
                checked.append(devtype)
        types = checked
    return dict(types=types, frontend=_domain_filter(params.get("frontend"), "frontend"),
                backend=_domain_filter(params.get("backend"), "backend"))


def _resolve(domain_filter, names, option):
    """The domids a filter selects (None: every domain). Each name must name a live domain."""
    if domain_filter is None:
        return None
    selected = set()
    for kind, value in domain_filter:
        if kind == "domid":
            # A domain that is gone may still have leftovers to report: no existence check.
            selected.add(value)
            continue
        matches = {domid for domid, name in names.items() if name == value}
        if not matches:
            raise validate.ValidationError(
                "%s: no domain is named %r (looked up in /local/domain/*/name)" % (option, value))
        selected |= matches
    return selected


# Reading -----------------------------------------------------------------------------------
def _value(reply):
    """A reply, or None when the node is absent or unreadable; other errors are raised."""
    if isinstance(reply, XenStoreError):
        if reply.errno in _ABSENT:
            return None
        raise reply
    return reply


def _directories(xs, paths, tx_id) -> dict:
    """``{path: children or None}`` for ``paths``, in one pipelined batch (then parts, for
    directories bigger than one reply).

    Every directory listing of this module goes through here (None: absent or unreadable).
    """
    listings = xs.directories(paths, tx_id, raise_errors=False)
    return dict((path, _value(reply)) for path, reply in listings.items())


def _requests(xs, requests, tx_id) -> dict:
    """``{(op, path): reply or None}`` for read/get_perms ``requests``, in one batch."""
    requests = list(dict.fromkeys(requests))
    replies = xs.batch(requests, tx_id, raise_errors=False)
    return dict((request, _value(reply)) for request, reply in zip(requests, replies))


def _numbered(children):
    return sorted(int(child) for child in children or () if _DIGITS.match(child))


def _domain_path(domid):
    return "/local/domain/%d" % domid


def _frontend_dir(devtype, frontend, devid):
    return "%s/device/%s/%d" % (_domain_path(frontend), devtype, devid)


def _backend_dir(backend, devtype, frontend, devid):
    return "%s/backend/%s/%d/%d" % (_domain_path(backend), devtype, frontend, devid)


def _frontend_error_path(devtype, frontend, devid):
    # Linux xenbus_dev_error(): "error/<nodename>" under the driver's domain.
    return "%s/error/device/%s/%d/error" % (_domain_path(frontend), devtype, devid)


def _backend_error_path(backend, devtype, frontend, devid):
    return "%s/error/backend/%s/%d/%d/error" % (_domain_path(backend), devtype, frontend, devid)


class _End:
    """One end's directory as read: its keys (name -> value or None) and permissions."""

    def __init__(self, path, children):
        self.path = path
        self.children = list(children or [])
        self.keys = {}
        self.perms = None
        self.key_perms = {}


def read_snapshot(xs, filters, tx_id) -> dict:
    """Everything the report needs, read level by level in pipelined batches."""
    listing = _directories(xs, ["/local/domain"], tx_id)["/local/domain"] or []
    live = _numbered(listing)
    names = {}
    name_paths = [("read", _domain_path(domid) + "/name") for domid in live]
    replies = _requests(xs, name_paths, tx_id)
    for domid, request in zip(live, name_paths):
        names[domid] = replies[request]
    fe_ids = _resolve(filters["frontend"], names, "frontend")
    be_ids = _resolve(filters["backend"], names, "backend")
    fe_domains = [d for d in live if fe_ids is None or d in fe_ids]
    be_domains = [d for d in live if be_ids is None or d in be_ids]

    # Device types: the filter, or what each domain's device/ and backend/ directories hold.
    if filters["types"] is None:
        roots = _directories(xs, ["%s/device" % _domain_path(d) for d in fe_domains]
                             + ["%s/backend" % _domain_path(b) for b in be_domains], tx_id)
        fe_types = dict((d, sorted(roots["%s/device" % _domain_path(d)] or [])) for d in fe_domains)
        be_types = dict((b, sorted(roots["%s/backend" % _domain_path(b)] or [])) for b in be_domains)
    else:
        fe_types = dict((d, filters["types"]) for d in fe_domains)
        be_types = dict((b, filters["types"]) for b in be_domains)

    # Per type: the devids of each frontend domain, the frontend domids of each backend domain.
    fe_type_dirs = [(t, d, "%s/device/%s" % (_domain_path(d), t)) for d in fe_domains for t in fe_types[d]]
    be_type_dirs = [(b, t, "%s/backend/%s" % (_domain_path(b), t)) for b in be_domains for t in be_types[b]]
    level = _directories(xs, [p for _t, _d, p in fe_type_dirs] + [p for _b, _t, p in be_type_dirs], tx_id)
    fe_keys = [(t, d, n) for t, d, path in fe_type_dirs for n in _numbered(level[path])]
    be_frontends = [(b, t, f) for b, t, path in be_type_dirs for f in _numbered(level[path])
                    if fe_ids is None or f in fe_ids]

    # The frontend device directories (their keys) and the backends' per-frontend directories.
    level = _directories(xs, [_frontend_dir(*key) for key in fe_keys]
                         + ["%s/backend/%s/%d" % (_domain_path(b), t, f) for b, t, f in be_frontends], tx_id)
    frontends = dict((key, _End(_frontend_dir(*key), level[_frontend_dir(*key)])) for key in fe_keys)
    be_keys = [(b, t, f, n) for b, t, f in be_frontends
               for n in _numbered(level["%s/backend/%s/%d" % (_domain_path(b), t, f)])]

    # The backend device directories (their keys).
    level = _directories(xs, [_backend_dir(*key) for key in be_keys], tx_id)
    backends = dict((key, _End(_backend_dir(*key), level[_backend_dir(*key)])) for key in be_keys)

    # Every key's value, the permissions of each directory and of the keys libxl writes, and
    # the drivers' error nodes.
    requests = []
    for ends, managed in ((frontends, validate.FRONTEND_PROTOCOL_KEYS), (backends, validate.BACKEND_PROTOCOL_KEYS)):
        for end in ends.values():
            requests.append(("get_perms", end.path))
            for key in end.children:
                requests.append(("read", "%s/%s" % (end.path, key)))
                if key in managed:
                    requests.append(("get_perms", "%s/%s" % (end.path, key)))
    errors = {}
    for t, f, n in fe_keys:
        errors[("frontend", t, f, n)] = _frontend_error_path(t, f, n)
    for b, t, f, n in be_keys:
        errors[("backend", t, f, n, b)] = _backend_error_path(b, t, f, n)
        if f in names:
            errors[("frontend", t, f, n)] = _frontend_error_path(t, f, n)
    requests.extend(("read", path) for path in errors.values())
    replies = _requests(xs, requests, tx_id)
    for ends in (frontends, backends):
        for end in ends.values():
            end.perms = replies[("get_perms", end.path)]
            for key in end.children:
                path = "%s/%s" % (end.path, key)
                end.keys[key] = replies[("read", path)]
                if ("get_perms", path) in replies:
                    end.key_perms[key] = replies[("get_perms", path)]
    return dict(
        names=names,
        frontends=frontends,
        backends=backends,
        errors=dict((key, replies[("read", path)]) for key, path in errors.items()),
        frontend_ids=fe_ids,
        backend_ids=be_ids,
    )


# Joining and judging -------------------------------------------------------------------------
def _backend_of(end, devtype, frontend, devid):
    """The backend domid a frontend names: its backend-id, else its backend path (or None)."""
    backend_id = end.keys.get("backend-id")
    if backend_id is not None and _DIGITS.match(backend_id) and int(backend_id) <= validate.DOMID_MAX:
        return int(backend_id)
    match = _BACKEND_PATH.match(end.keys.get("backend") or "")
    if match and match.group(2) == devtype and int(match.group(3)) == frontend and int(match.group(4)) == devid:
        return int(match.group(1))
    return None


def _pointer_problem(devtype, frontend, devid, backend, fe, be):
    """Text for the pointers (backend/backend-id, frontend/frontend-id) that are not right."""
    problems = []
    if fe is not None:
        if backend is None:
            problems.append("the frontend %s names no backend domain (backend-id %s, backend %s)"
                            % (fe.path, _shown(fe.keys.get("backend-id")), _shown(fe.keys.get("backend"))))
        else:
            expected = _backend_dir(backend, devtype, frontend, devid)
            if fe.keys.get("backend") != expected:
                problems.append("the frontend's backend is %s, not %s" % (_shown(fe.keys.get("backend")), expected))
            if fe.keys.get("backend-id") != str(backend):
                problems.append("the frontend's backend-id is %s, not %d" % (_shown(fe.keys.get("backend-id")), backend))
    if be is not None:
        expected = _frontend_dir(devtype, frontend, devid)
        if be.keys.get("frontend") != expected:
            problems.append("the backend's frontend is %s, not %s" % (_shown(be.keys.get("frontend")), expected))
        if be.keys.get("frontend-id") != str(frontend):
            problems.append("the backend's frontend-id is %s, not %d" % (_shown(be.keys.get("frontend-id")), frontend))
    return "; ".join(problems) or None


def _shown(value):
    return "missing" if value is None else repr(value)


def _perms_text(perms):
    return ",".join(perms) if perms is not None else None


def _perms_problem(end, which, expected, managed):
    problems = []
    if end.perms is not None and end.perms != expected:
        problems.append("%s directory %s has %s" % (which, end.path, _perms_text(end.perms)))
    for key in managed:
        perms = end.key_perms.get(key)
        if perms is not None and perms != expected:
            problems.append("%s key %s has %s" % (which, key, _perms_text(perms)))
    if problems:
        return "%s (libxl: %s)" % (", ".join(problems), _perms_text(expected))
    return None


def _end_report(domid, names, path, end, error):
    state = planner.parse_state(end.keys.get("state")) if end is not None else None
    return dict(
        domid=domid,
        name=names.get(domid) if domid is not None else None,
        path=path,
        exists=end is not None,
        state=state,
        state_name=planner.XENBUS_STATES.get(state) if state is not None else None,
        perms=_perms_text(end.perms) if end is not None else None,
        keys=dict(sorted(end.keys.items())) if end is not None else {},
        error=error,
    )


def _online(value):
    if value is None:
        return None
    return value.strip() == "1"


def build_report(snapshot) -> list:
    """One dict per device, joined from both sides and assessed."""
    names, frontends, backends = snapshot["names"], snapshot["frontends"], snapshot["backends"]
    be_ids = snapshot["backend_ids"]
    pairs = {}
    for (t, f, n), fe in frontends.items():
        b = _backend_of(fe, t, f, n)
        if be_ids is not None and b not in be_ids:
            continue
        pairs[(t, f, n, b)] = (fe, backends.get((b, t, f, n)) if b is not None else None)
    for (b, t, f, n), be in backends.items():
        if (t, f, n, b) not in pairs:
            # No frontend points at this backend: its frontend is gone, missing or points elsewhere.
            pairs[(t, f, n, b)] = (frontends.get((t, f, n)), be)
    devices = []
    for key in sorted(pairs, key=lambda k: (k[0], k[1], k[2], -1 if k[3] is None else k[3])):
        t, f, n, b = key
        fe, be = pairs[key]
        fe_path = _frontend_dir(t, f, n)
        be_path = _backend_dir(b, t, f, n) if b is not None else None
        fe_alive, be_alive = f in names, b is None or b in names
        perms = []
        # (a frontend that points at another backend is judged with that pair, not this one)
        if fe is not None and b is not None and _backend_of(fe, t, f, n) == b:
            perms.append(_perms_problem(fe, "frontend", ["n%d" % f, "r%d" % b], validate.FRONTEND_PROTOCOL_KEYS))
        if be is not None and fe_alive:
            perms.append(_perms_problem(be, "backend", ["n%d" % b, "r%d" % f], validate.BACKEND_PROTOCOL_KEYS))
        fe_error = snapshot["errors"].get(("frontend", t, f, n))
        be_error = snapshot["errors"].get(("backend", t, f, n, b))
        frontend = _end_report(f, names, fe_path, fe, fe_error)
        backend = _end_report(b, names, be_path, be, be_error)
        backend["online"] = _online(be.keys.get("online")) if be is not None else None
        pair = conditions.PairState(
            type=t, frontend=f, devid=n, backend=b,
            frontend_exists=fe is not None, backend_exists=be is not None,
            frontend_state=frontend["state"], backend_state=backend["state"],
            frontend_domain_alive=fe_alive, backend_domain_alive=be_alive,
            pointer_problem=_pointer_problem(t, f, n, b, fe, be),
            perms_problem="; ".join(p for p in perms if p) or None,
            frontend_error=fe_error, backend_error=be_error,
        )
        found = conditions.assess(pair)
        devices.append(dict(
            type=t,
            devid=n,
            frontend=frontend,
            backend=backend,
            conditions=[dict(code=c.code, message=c.message) for c in found],
            condition=conditions.summary_code(found),
        ))
    return devices


def summarize(devices) -> dict:
    """Devices per ``condition`` (their most severe one, or ok): the counts add up to all."""
    counts = {}
    for device in devices:
        counts[device["condition"]] = counts.get(device["condition"], 0) + 1
    return counts


def device_info(xs, filters, retries=_RETRIES) -> dict:
    """The module's result (``devices``, ``summary``), read in one aborted transaction."""
    def body(tx_id):
        return read_snapshot(xs, filters, tx_id), False

    devices = build_report(run_transaction(xs, body, retries))
    return dict(devices=devices, summary=summarize(devices))
