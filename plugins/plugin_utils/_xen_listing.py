# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# NOTE: this is private to the splitdriver.xen collection. It may change or be removed at any
# time without notice. Do not use it from other collections or roles.
"""The domain listing of a Xen host: which command runs where, and what its output means.

Pure functions, no I/O: the ``splitdriver.xen.xen`` inventory plugin runs the argv built here
and hands the output back to :func:`parse_listing`.

The listing runs on the Xen host's toolstack domain (dom0), as root:

``xenstore-ls -f /local/domain``
    (Debian's xenstore-utils, present wherever xl is) one line per node, ``<path> = "<value>"``,
    the value escaped by ``sanitise_value()`` of Xen's tools/xs-clients/xenstore_client.c. It
    gives, per domain ``N``: ``/local/domain/N/name``, ``/local/domain/N/vm`` (``/vm/<uuid>``
    under libxl) and the device directories ``/local/domain/N/device/<type>/<devid>`` (and, for
    driver domains, ``/local/domain/N/backend/<type>/<frontend domid>``). ``-f`` prints whole
    paths and lifts the width limit, which xenstore-ls still applies when its standard output is
    a terminal (hence ``ssh -T``). It reads, never writes, and a node that vanishes mid-walk is
    skipped by xenstore-ls itself.
``xl list``
    (only if ``xl`` is installed) the domains' run states, which XenStore does not hold. Its
    table is ``list_domains()`` of Xen's tools/xl/xl_info.c: name, id, memory, vcpus, six state
    letters ``rbps?d`` and the CPU time.
"""

from __future__ import annotations

import re
import shlex

LISTING_ROOT = "/local/domain"
XL_MARKER = "--- xl list"
TRANSPORTS = ("ssh", "local")
HOST_KEYS = frozenset(("name", "address", "user", "port", "transport", "ssh_args", "environment", "become"))
STATES = ("running", "paused", "shutdown", "suspended", "crashed", "dying")

# One xenstore-ls -f line: a XenStore path (its valid characters, see xenstored's
# is_valid_nodename()), then ` = "value"`, or `:` when the node could not be read.
_LINE_RE = re.compile(r'^(?P<path>/[A-Za-z0-9_@/-]*)(?: = "(?P<value>.*)"|(?P<unreadable>:))$')
_ESCAPE_RE = re.compile(r"\\(?:([tnr\\])|([0-7]{3})|x([0-9a-fA-F]{2})|(.?))")
_ESCAPES = {"t": 9, "n": 10, "r": 13, "\\": 92}
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
# xl_info.c: "%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f" (name, domid, MiB, vcpus, state letters
# running/blocked/paused/shutdown/<shutdown reason: -rscwS or ?>/dying, CPU seconds).
_XL_ROW_RE = re.compile(
    r"^(?P<name>.*?)\s+(?P<domid>\d+)\s+\d+\s+\d+\s+(?P<flags>[r-][b-][p-][s-][-rscwS?][d-])\s+\d+(?:\.\d+)?\b"
)
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


class ListingError(ValueError):
    """The output is not what the listing command prints; the message says where."""


class XenHostsError(ValueError):
    """Bad ``xen_hosts`` (or transport) configuration; the message names the option."""


# ---------------------------------------------------------------------------------- options

def _port(where, value):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise XenHostsError("%s.port must be an integer from 1 to 65535, got %r" % (where, value))
    return value


def _text(where, key, value, allow_dash=True):
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise XenHostsError("%s.%s must be a non-empty string without surrounding spaces, got %r" % (where, key, value))
    if not allow_dash and value.startswith("-"):
        raise XenHostsError("%s.%s must not start with '-', got %r" % (where, key, value))
    return value


def _str_list(where, value):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise XenHostsError("%s must be a list of strings, got %r" % (where, value))
    return list(value)


def _environment(where, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise XenHostsError("%s.environment must be a dictionary, got %r" % (where, value))
    env = {}
    for key in sorted(value):
        if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
            raise XenHostsError("%s.environment: %r is not an environment variable name" % (where, key))
        item = value[key]
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise XenHostsError("%s.environment.%s must be a string, got %r" % (where, key, item))
        env[key] = str(item)
    return env


def normalize_xen_hosts(value, transport="ssh", become=False):
    """``xen_hosts`` -> list of complete host dicts (``HOST_KEYS``), in the given order.

    An entry is an inventory name (also the SSH destination) or a dict with ``name`` and the
    optional ``address``, ``user``, ``port``, ``transport``, ``ssh_args``, ``environment``,
    ``become``; ``transport`` and ``become`` default to the plugin-wide options.
    """
    if transport not in TRANSPORTS:
        raise XenHostsError("transport must be one of %s, got %r" % (", ".join(TRANSPORTS), transport))
    if not isinstance(become, bool):
        raise XenHostsError("become must be a boolean, got %r" % (become,))
    if not isinstance(value, (list, tuple)) or not value:
        raise XenHostsError("xen_hosts must be a non-empty list of Xen hosts (dom0 inventory names), got %r" % (value,))
    hosts = []
    seen = set()
    for index, entry in enumerate(value):
        where = "xen_hosts[%d]" % index
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise XenHostsError("%s must be a host name or a dictionary, got %r" % (where, entry))
        unknown = sorted(set(entry) - HOST_KEYS)
        if unknown:
            raise XenHostsError("%s: unknown key(s) %s; known: %s"
                                % (where, ", ".join(map(str, unknown)), ", ".join(sorted(HOST_KEYS))))
        if "name" not in entry:
            raise XenHostsError("%s: name is required (the inventory name of the Xen host's dom0)" % where)
        name = _text(where, "name", entry["name"])
        if name in seen:
            raise XenHostsError("%s: Xen host %r is listed twice" % (where, name))
        seen.add(name)
        host = {
            "name": name,
            "address": _text(where, "address", entry.get("address") or name, allow_dash=False),
            "user": None,
            "port": None,
            "transport": entry.get("transport") or transport,
            "ssh_args": _str_list(where + ".ssh_args", entry.get("ssh_args")),
            "environment": _environment(where, entry.get("environment")),
            "become": entry.get("become", become),
        }
        if entry.get("user") is not None:
            host["user"] = _text(where, "user", entry["user"], allow_dash=False)
        if entry.get("port") is not None:
            host["port"] = _port(where, entry["port"])
        if host["transport"] not in TRANSPORTS:
            raise XenHostsError("%s.transport must be one of %s, got %r"
                                % (where, ", ".join(TRANSPORTS), host["transport"]))
        if not isinstance(host["become"], bool):
            raise XenHostsError("%s.become must be a boolean, got %r" % (where, host["become"]))
        hosts.append(host)
    return hosts


# ---------------------------------------------------------------------------------- command

def listing_script(read_state=True):
    """The POSIX shell script that prints the listing (see the module docstring)."""
    lines = ["xenstore-ls -f %s || exit" % LISTING_ROOT]
    if read_state:
        lines += ["command -v xl >/dev/null 2>&1 || exit 0", "echo '%s'" % XL_MARKER, "xl list || :"]
    return "\n".join(lines)


def listing_command(host, read_state=True, ssh_executable="ssh", ssh_args=(), become_exe="sudo"):
    """The argv that lists ``host``'s domains (``host`` from :func:`normalize_xen_hosts`).

    On the Xen host (or here, for ``transport: local``):
    ``[<become_exe> -n] env LC_ALL=C [VAR=value...] sh -c <script>``; over SSH that whole line
    is the remote command of ``ssh [ssh_args] -o BatchMode=yes -T [-p port] [-l user] -- address``.
    The user's SSH arguments come first because ssh keeps the first value it sees of an option.
    """
    inner = []
    if host["become"]:
        inner += [become_exe, "-n"]
    inner += ["env", "LC_ALL=C"]
    inner += ["%s=%s" % item for item in sorted(host["environment"].items())]
    inner += ["sh", "-c", listing_script(read_state)]
    if host["transport"] == "local":
        return inner
    argv = [ssh_executable] + list(ssh_args) + list(host["ssh_args"]) + ["-o", "BatchMode=yes", "-T"]
    if host["port"] is not None:
        argv += ["-p", str(host["port"])]
    if host["user"] is not None:
        argv += ["-l", host["user"]]
    return argv + ["--", host["address"], " ".join(shlex.quote(arg) for arg in inner)]


def describe_host(host):
    """``xen1 (ssh root@192.0.2.7:2222)`` / ``xen1 (local)``: for messages."""
    if host["transport"] == "local":
        return "%s (local)" % host["name"]
    target = host["address"]
    if host["user"]:
        target = "%s@%s" % (host["user"], target)
    if host["port"]:
        target = "%s:%d" % (target, host["port"])
    return "%s (ssh %s)" % (host["name"], target)


def command_error(host, rc, stderr, timed_out=None):
    """One line saying why ``host``'s listing command failed, with the end of its stderr."""
    what = "ssh" if host["transport"] == "ssh" else "the listing command"
    if timed_out is not None:
        what += " timed out after %s s" % timed_out
    elif rc is None:
        what += " could not be started"
    else:
        what += " exited with %d" % rc
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    detail = " | ".join(lines[-3:])
    if len(detail) > 400:
        detail = "..." + detail[-397:]
    if rc == 127:
        detail += " (command not found: are xenstore-utils installed on the Xen host?)"
    return "%s%s" % (what, ": " + detail.strip() if detail.strip() else "")


# ---------------------------------------------------------------------------------- output

def _unescape(value, lineno):
    """Reverse xenstore_client.c's sanitise_value(): \\t \\n \\r \\\\, \\NNN (octal), \\xHH."""
    out = bytearray()
    pos = 0
    for match in _ESCAPE_RE.finditer(value):
        out += value[pos:match.start()].encode("ascii", "replace")
        simple, octal, hexa, other = match.groups()
        if simple:
            out.append(_ESCAPES[simple])
        elif octal:
            out.append(int(octal, 8) & 0xFF)
        elif hexa:
            out.append(int(hexa, 16))
        else:
            # "\..." is how xenstore-ls marks a value cut at the terminal width.
            raise ListingError("line %d: value truncated or badly escaped at %r (was the output a terminal?)"
                               % (lineno, "\\" + (other or "")))
        pos = match.end()
    out += value[pos:].encode("ascii", "replace")
    return out.decode("utf-8", "replace")


def parse_xenstore_ls(text):
    """``xenstore-ls -f`` output -> ``{path: value}`` (value None: the node was unreadable)."""
    tree = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE_RE.match(line)
        if not match or "//" in match.group("path") or match.group("path").endswith("/"):
            raise ListingError("line %d is not xenstore-ls -f output: %r" % (lineno, line[:200]))
        value = match.group("value")
        tree[match.group("path")] = None if match.group("unreadable") else _unescape(value, lineno)
    return tree


def _children(tree):
    """``{path: {child names}}``, intermediate directories included even where the listing
    lacks their own line."""
    children = {}
    for path in tree:
        while path.count("/") > 1:
            parent, child = path.rsplit("/", 1)
            known = children.setdefault(parent, set())
            if child in known:
                break
            known.add(child)
            path = parent
    return children


def _types_with_numbered_children(children, path):
    """Subdirectories of ``path`` holding at least one numeric entry (a devid, a frontend domid):
    ``device/suspend/event-channel`` is no device."""
    return sorted(t for t in children.get(path, ()) if any(c.isdigit() for c in children.get(path + "/" + t, ())))


def domains_from_tree(tree):
    """The domains under ``/local/domain`` of a parsed listing, sorted by domid: dicts with
    ``domid``, ``name`` (None if unreadable or missing), ``uuid`` (from ``vm`` = ``/vm/<uuid>``, or
    None), ``device_types`` (types with a device: frontends in this domain) and ``backend_types``
    (types this domain serves as a backend)."""
    children = _children(tree)
    domains = []
    for entry in children.get(LISTING_ROOT, ()):
        if not entry.isdigit() or (len(entry) > 1 and entry.startswith("0")):
            continue
        base = "%s/%s" % (LISTING_ROOT, entry)
        vm = tree.get(base + "/vm") or ""
        uuid = vm.rpartition("/")[2].lower() if vm.startswith("/vm/") else ""
        domains.append({
            "domid": int(entry),
            "name": tree.get(base + "/name") or None,
            "uuid": uuid if _UUID_RE.match(uuid) else None,
            "state": None,
            "device_types": _types_with_numbered_children(children, base + "/device"),
            "backend_types": _types_with_numbered_children(children, base + "/backend"),
        })
    return sorted(domains, key=lambda dom: dom["domid"])


def state_from_flags(flags):
    """``xl list``'s six state letters -> one word. ``r`` (on a CPU) and ``b`` (blocked: idle,
    waiting for an event) both mean the domain is up: ``running``."""
    if flags[5] == "d":
        return "dying"
    if flags[3] == "s":
        if flags[4] in "cw":  # shutdown reason crash or watchdog
            return "crashed"
        if flags[4] == "s":
            return "suspended"
        return "shutdown"
    if flags[2] == "p":
        return "paused"
    return "running"


def parse_xl_list(text):
    """``xl list`` output -> ``{domid: state}``; None if it is no ``xl list`` table (xl failed)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Name") or "State" not in lines[0]:
        return None
    states = {}
    for line in lines[1:]:
        match = _XL_ROW_RE.match(line)
        if match:
            states[int(match.group("domid"))] = state_from_flags(match.group("flags"))
    return states


def parse_listing(text):
    """The whole output of :func:`listing_script` -> ``(domains, states_known)``."""
    xs_text, marker, xl_text = text.partition("\n" + XL_MARKER + "\n")
    if not marker and text.startswith(XL_MARKER + "\n"):
        xs_text, xl_text, marker = "", text[len(XL_MARKER) + 1:], XL_MARKER
    domains = domains_from_tree(parse_xenstore_ls(xs_text))
    states = parse_xl_list(xl_text) if marker else None
    if states is not None:
        for dom in domains:
            dom["state"] = states.get(dom["domid"])
    return domains, states is not None
