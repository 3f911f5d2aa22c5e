# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input to ``splitdriver.xen.xenstore_device``, one table row per case, proven end to end.

Every row is one task of a single real ``ansible-playbook`` run (``ignore_errors``) against the
test XenStore daemon seeded like an xl host (dom0, domU 1 ``guest1``, domU 2 ``guest2``) plus
domains 3 and 4 that share the name ``twin`` and domain 10 ``tenth``. Each row must fail with
``changed`` false and a message naming the offending option (or, for the sockets, the path).
Over the whole run the daemon's request log shows no write, mkdir, rm or set_perms request and
its tree is the same before and after (the log does not tell a commit from an abort: a
transaction without writes has nothing to commit either way).

``connects`` says where a row is rejected: before the module opens any connection (argument
spec, the checks that need no XenStore data, the socket checks), or in the read phase of its
one transaction (what needs the live domains: names, existing domids, duplicates after name
resolution). Module runs that connect open one connection each, in task order, so the log maps
onto the rows and each of those rows is checked on its own connection.

The numeric options (``timeout``, ``request_timeout``, ``retries``) get every non-finite and
out-of-range value, with ``wait`` none and connected.

The last task, an empty ``devices`` list, is no error: ok, unchanged, and no connection at all.
The accepted side of the 20-character bus id rows (19 characters) is written in a test of its own,
as is the accepted side of the numeric ranges (the maxima and ``retries: 0``).
"""

from __future__ import annotations

import socket

import pytest
from ansible.release import __version__ as ANSIBLE_CORE_VERSION
from test_xenstore_device_playbooks import MODULE, WRITE_OPS, device, ops, per_connection, run_playbook, xenstore
from xenstored import XenstoredProcess

pytestmark = pytest.mark.slow

GOOD = [device("1"), device("2"), device("guest1", devid=1)]
LONG = "x" * 2049


def bad(case_id, args, field, fragment, connects=False):
    """One row: module ``args``, the option the message must name, a fragment of the message."""
    return pytest.param(case_id, args, field, fragment, connects, id=case_id)


# ansible-core before 2.19 names types in its argument-spec errors as "<class 'list'>", and
# refuses every non-integer string for an int option in that same conversion.
CORE_2_19 = tuple(int(part) for part in ANSIBLE_CORE_VERSION.split(".")[:2]) >= (2, 19)


def core_type(name):
    return name if CORE_2_19 else "<class '%s'>" % name


def entries(which, key="k", value="v", **kwargs):
    return device("1", **{which: {key: value}}, **kwargs)


SECONDS = "%s must be a finite number of seconds, more than 0 and at most %s, got %s"
# (option, value as the playbook gives it, what the message shows), for the seconds options;
# strings are converted by the argument spec's float type ("1e999" overflows to inf).
SECONDS_CASES = [(option, value, shown)
                 for option, maximum in (("timeout", 3600), ("request_timeout", 600))
                 for value, shown in (("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("1e999", "inf"),
                                      (0, "0.0"), (-1, "-1.0"), (maximum + 1, "%s.0" % (maximum + 1)))]


def _numeric_rows():
    """Every bad value of every numeric option, without a wait and with one: all are refused
    before the module connects (a NaN timeout used to write the device, then wait forever)."""
    rows = []
    for wait in ("none", "connected"):
        for option, value, shown in SECONDS_CASES:
            maximum = 3600 if option == "timeout" else 600
            rows.append(bad("%s-%s-wait-%s" % (option, value, wait), dict(device(), wait=wait, **{option: value}),
                            option, SECONDS % (option, maximum, shown)))
        not_int = "argument 'retries' is of type %s and we were unable to convert to int" % core_type("str")
        rows += [
            bad("retries-nan-wait-" + wait, dict(device(), wait=wait, retries="nan"), "retries", not_int),
            # ansible-core 2.19's int conversion lets OverflowError out for "inf" (fixed upstream in
            # ansible/ansible#87253): refused before the module runs, but the message cannot name the option
            bad("retries-inf-wait-" + wait, dict(device(), wait=wait, retries="inf"), "retries" if not CORE_2_19 else "",
                "cannot convert Infinity to integer" if CORE_2_19 else not_int),
            bad("retries--inf-wait-" + wait, dict(device(), wait=wait, retries="-inf"), "retries" if not CORE_2_19 else "",
                "cannot convert Infinity to integer" if CORE_2_19 else not_int),
            bad("retries-1e999-wait-" + wait, dict(device(), wait=wait, retries="1e999"), "retries",
                "retries must be an integer from 0 to 100, got an integer of more than 20 digits" if CORE_2_19 else not_int),
            bad("retries-negative-wait-" + wait, dict(device(), wait=wait, retries=-1), "retries",
                "retries must be an integer from 0 to 100, got -1"),
            bad("retries-101-wait-" + wait, dict(device(), wait=wait, retries=101), "retries",
                "retries must be an integer from 0 to 100, got 101"),
        ]
    return rows


NUMERIC_ROWS = _numeric_rows()

CASES = [
    # --- type names: characters and the 19-character Linux bus id -------------------------
    bad("type-space", device(type="my device"), "type", "type 'my device' contains characters outside"),
    bad("type-slash", device(type="my/device"), "type", "type 'my/device' contains characters outside"),
    bad("type-dot", device(type="."), "type", "type '.' contains characters outside"),
    bad("type-dotdot", device(type=".."), "type", "type '..' contains characters outside"),
    bad("type-unicode", device(type="d\u00e9vice"), "type", "contains characters outside A-Z a-z 0-9 _ -"),
    # a trailing newline: "$" in a pattern would let it through to the paths
    bad("type-trailing-newline", device(type="mydevice\n"), "type", "type 'mydevice\\n' contains characters outside"),
    bad("type-empty", device(type=""), "type", "type must be a non-empty string"),
    # the type rule: at most 15 characters, what the shortest bus id (<type>-0-0) leaves
    bad("type-16-characters", device(type="t" * 16), "type",
        "type 'tttttttttttttttt' is 16 characters long, more than the limit of 15"),
    bad("type-16-characters-by-name", device("guest1", type="t" * 16), "type",
        "type 'tttttttttttttttt' is 16 characters long, more than the limit of 15"),
    # and each device's own bus id
    bad("type-busid-20", device(type="t" * 15, devid=10), "type", "the backend bus id 'ttttttttttttttt-1-10' is 20 characters"),
    bad("type-busid-20-by-name", device("guest1", type="t" * 15, devid=10), "type",
        "the backend bus id ttttttttttttttt-<domid of guest1>-10 has at least 20 characters, Linux allows at most 19"),
    bad("type-busid-20-by-devid", device(type="t" * 7, devid=2 ** 31 - 1), "type",
        "the backend bus id 'ttttttt-1-2147483647' is 20 characters"),
    bad("type-busid-20-after-lookup", device("tenth", type="t" * 15), "type",
        "the backend bus id 'ttttttttttttttt-10-0' is 20 characters", connects=True),
    # --- devid ------------------------------------------------------------------------------
    bad("devid-negative", device(devid=-1), "devid", "devid -1 is out of range"),
    bad("devid-2**31", device(devid=2 ** 31), "devid", "devid 2147483648 is out of range"),
    bad("devid-string", device(devid="zero"), "devid", "argument 'devid' is of type"),
    bad("devid-float", device(devid=1.5), "devid", "argument 'devid' is of type"),
    bad("devid-bool", device(devid=True), "devid", "devid must be an integer, got True"),
    bad("devid-in-list", {"devices": [device(devid=-5)]}, "devices[0]", "devices[0]: devid -5 is out of range"),
    # --- frontend and backend domains ---------------------------------------------------------
    bad("frontend-unknown-name", device("guest9"), "frontend",
        "frontend: no domain is named 'guest9' (looked up in /local/domain/*/name)", connects=True),
    bad("frontend-ambiguous-name", device("twin"), "frontend",
        "frontend: domain name 'twin' is ambiguous: domains 3, 4 all have it", connects=True),
    bad("frontend-domid-missing", device(9), "frontend",
        "frontend domain 9 does not exist (no /local/domain/9)", connects=True),
    bad("frontend-domid-string-missing", device("9"), "frontend", "frontend domain 9 does not exist", connects=True),
    bad("frontend-is-backend", device(0), "backend",
        "frontend and backend are the same domain (0): a split driver needs two domains (frontend and backend must differ)",
        connects=True),
    bad("frontend-is-backend-by-name", device("guest1", backend="guest1"), "backend",
        "frontend and backend are the same domain (1)", connects=True),
    bad("frontend-is-backend-by-alias", device("guest1", backend_domid=1), "backend",
        "frontend and backend are the same domain (1)", connects=True),
    bad("frontend-negative", device(-1), "frontend", "frontend must be a domain id between 0 and 32751, got -1"),
    bad("frontend-negative-string", device("-1"), "frontend", "frontend must be a domain id between 0 and 32751, got -1"),
    bad("frontend-too-large", device(32752), "frontend", "frontend must be a domain id between 0 and 32751, got 32752"),
    bad("frontend-name-trailing-newline", device("guest1\n"), "frontend",
        "frontend 'guest1\\n' is neither a domain id nor a valid domain name"),
    bad("frontend-empty", device(""), "frontend", "frontend must be a domain id or a domain name, got ''"),
    bad("frontend-bool", device(True), "frontend", "frontend must be a domain id or a domain name, got True"),
    bad("frontend-list", device([1]), "frontend", "frontend must be a domain id or a domain name, got [1]"),
    bad("backend-missing", device(1, backend_domid=7), "backend",
        "backend domain 7 does not exist (no /local/domain/7)", connects=True),
    bad("backend-missing-string", device(1, backend="7"), "backend",
        "backend domain 7 does not exist (no /local/domain/7)", connects=True),
    bad("backend-negative", device(1, backend_domid=-1), "backend",
        "backend must be a domain id between 0 and 32751, got -1"),
    bad("backend-negative-string", device(1, backend="-1"), "backend",
        "backend must be a domain id between 0 and 32751, got -1"),
    bad("backend-too-large", device(1, backend=0x7FF0), "backend",
        "backend must be a domain id between 0 and 32751, got 32752"),
    bad("backend-unknown-name", device(1, backend="nodrv"), "backend",
        "backend: no domain is named 'nodrv' (looked up in /local/domain/*/name)", connects=True),
    bad("backend-ambiguous-name", device(1, backend="twin"), "backend",
        "backend: domain name 'twin' is ambiguous: domains 3, 4 all have it", connects=True),
    bad("backend-name-trailing-newline", device(1, backend="tenth\n"), "backend",
        "backend 'tenth\\n' is neither a domain id nor a valid domain name"),
    bad("backend-empty", device(1, backend=""), "backend", "backend must be a domain id or a domain name, got ''"),
    bad("backend-bool", device(1, backend=True), "backend", "backend must be a domain id or a domain name, got True"),
    bad("backend-list", device(1, backend=[0]), "backend", "backend must be a domain id or a domain name, got [0]"),
    # --- identity: guest2's device 7 is served by the driver domain tenth (10) -------------------
    bad("identity-present-default-backend", device(2, devid=7), "backend",
        "mydevice device 7 of domain 2 is served by backend domain 10 (tenth) (its frontend's backend-id), "
        "not by backend domain 0 as asked. Nothing was written", connects=True),
    bad("identity-present-dom0-by-name", device("guest2", devid=7, backend="Domain-0"), "backend",
        "not by backend domain 0 (Domain-0) as asked", connects=True),
    bad("identity-present-other-driver-domain", device(2, devid=7, backend=3), "backend",
        "is served by backend domain 10 (tenth) (its frontend's backend-id), not by backend domain 3", connects=True),
    bad("identity-present-in-a-batch", {"devices": [device(1), device("guest2", devid=7)]}, "backend",
        "mydevice device 7 of domain 2 is served by backend domain 10 (tenth)", connects=True),
    bad("identity-absent-named-other-backend", dict(device(2, devid=7, backend=0), state="absent"), "backend",
        "leave the backend out to remove the device from the backend it has", connects=True),
    # --- extra entries: names -----------------------------------------------------------------
    bad("fe-key-slash", entries("frontend_entries", key="a/b"), "frontend_entries", "key 'a/b' is not a plain relative name"),
    bad("fe-key-dotdot", entries("frontend_entries", key=".."), "frontend_entries", "key '..' is not a plain relative name"),
    bad("fe-key-dot", entries("frontend_entries", key="."), "frontend_entries", "key '.' is not a plain relative name"),
    bad("fe-key-empty", entries("frontend_entries", key=""), "frontend_entries", "key '' is not a plain relative name"),
    bad("fe-key-at", entries("frontend_entries", key="@watch"), "frontend_entries", "key '@watch' is not a plain relative name"),
    bad("fe-key-trailing-newline", entries("frontend_entries", key="k\n"), "frontend_entries",
        "key 'k\\n' is not a plain relative name"),
    bad("be-key-slash", entries("backend_entries", key="../../x"), "backend_entries", "key '../../x' is not a plain relative name"),
    bad("be-key-unicode", entries("backend_entries", key="cl\u00e9"), "backend_entries", "is not a plain relative name"),
    # the keys the module writes itself (the libxl protocol): one row per key and end
    *[bad("fe-key-" + key, entries("frontend_entries", key=key), "frontend_entries",
          "frontend_entries key '%s' collides with a key the module manages itself" % key)
      for key in ("state", "backend", "backend-id")],
    *[bad("be-key-" + key, entries("backend_entries", key=key), "backend_entries",
          "backend_entries key '%s' collides with a key the module manages itself" % key)
      for key in ("state", "frontend", "frontend-id", "online")],
    # --- extra entries: values ----------------------------------------------------------------
    bad("value-too-long", entries("frontend_entries", value=LONG), "frontend_entries",
        "frontend_entries value for key 'k' is 2049 bytes long, more than the limit of 2048"),
    bad("value-newline", entries("backend_entries", value="a\nb"), "backend_entries",
        "backend_entries value for key 'k' must be printable ASCII: character '\\n' at offset 1 is not"),
    bad("value-trailing-newline", entries("backend_entries", value="x\n"), "backend_entries",
        "backend_entries value for key 'k' must be printable ASCII: character '\\n' at offset 1 is not"),
    bad("value-newline-only", entries("frontend_entries", value="\n"), "frontend_entries",
        "frontend_entries value for key 'k' must be printable ASCII: character '\\n' at offset 0 is not"),
    bad("value-tab", entries("backend_entries", value="a\tb"), "backend_entries",
        "backend_entries value for key 'k' must be printable ASCII: character '\\t' at offset 1"),
    bad("value-control", entries("frontend_entries", value="\x01"), "frontend_entries",
        "frontend_entries value for key 'k' must be printable ASCII: character '\\x01' at offset 0"),
    bad("value-e-acute", entries("frontend_entries", value="caf\u00e9"), "frontend_entries",
        "frontend_entries value for key 'k' must be printable ASCII: character '\u00e9' at offset 3"),
    # "ok \U0001F600" through a filter: the playbook is JSON, whose escapes of characters beyond
    # the BMP YAML would read as two lone surrogates
    bad("value-emoji", entries("backend_entries", value="{{ 'b2sg8J+YgA==' | b64decode }}"), "backend_entries",
        "character '\U0001f600' at offset 3 is not"),
    bad("value-list", entries("frontend_entries", value=[1, 2]), "frontend_entries",
        "value for key 'k' must be a string or an integer, got [1, 2]"),
    bad("value-dict", entries("backend_entries", value={"a": "b"}), "backend_entries", "must be a string or an integer"),
    bad("value-bool", entries("frontend_entries", value=True), "frontend_entries",
        "must be a string or an integer, got True"),
    bad("entries-not-dict", device(frontend_entries=["k"]), "frontend_entries", "argument 'frontend_entries' is of type %s" % core_type("list")),
    # --- batches ------------------------------------------------------------------------------
    bad("duplicate-domid", {"devices": [device(1), device("1")]}, "devices",
        "devices[0] and devices[1] are the same device: mydevice device 0 of domain 1", connects=True),
    bad("duplicate-id-and-name", {"devices": GOOD[:1] + [device("guest2"), device("guest1")]}, "devices",
        "devices[0] and devices[2] are the same device", connects=True),
    bad("bad-among-good-precheck", {"devices": GOOD + [device(type="..")]}, "devices[3]",
        "devices[3]: type '..' contains characters outside"),
    bad("bad-among-good-lookup", {"devices": GOOD + [device("guest9")]}, "devices[3]",
        "devices[3]: frontend: no domain is named 'guest9'", connects=True),
    bad("bad-among-good-value", {"devices": GOOD + [device("2", devid=5, backend_entries={"k": "a\n"})]}, "devices[3]",
        "devices[3]: backend_entries value for key 'k' must be printable ASCII"),
    bad("device-missing-type", {"devices": [{"frontend": 1}]}, "type", "missing required arguments: type"),
    # --- options --------------------------------------------------------------------------------
    *NUMERIC_ROWS,
    bad("devices-and-type", {"devices": [device()], "type": "mydevice"}, "devices",
        "parameters are mutually exclusive: devices|type"),
    bad("devices-and-frontend", {"devices": [device()], "frontend": 1}, "devices",
        "parameters are mutually exclusive: devices|frontend"),
    bad("type-without-frontend", {"type": "mydevice"}, "frontend", "parameters are required together: type, frontend"),
    bad("nothing-to-do", {"state": "present"}, "devices", "one of the following is required: devices, type"),
    bad("state-unknown", dict(device(), state="gone"), "state", "value of state must be one of: present, absent"),
    # --- sockets --------------------------------------------------------------------------------
    bad("socket-missing", dict(device(), socket="{missing}"), "socket",
        "socket {missing} does not exist: is xenstored running on this host?"),
    bad("socket-regular-file", dict(device(), socket="{file}"), "socket",
        "socket {file} is not a Unix socket (it is a regular file)"),
    bad("socket-directory", dict(device(), socket="{directory}"), "socket",
        "socket {directory} is not a Unix socket (it is a directory)"),
    # a socket file left behind by a stopped daemon
    bad("socket-not-listening", dict(device(), socket="{stale}"), "{stale}",
        "cannot connect to XenStore at {stale}: nothing listens on this socket (connection refused); "
        "is xenstored running on this host?"),
]


def _fill(value, paths):
    """Put this run's temporary paths into a row's ``{placeholders}``."""
    if isinstance(value, dict):
        return dict((key, _fill(item, paths)) for key, item in value.items())
    if isinstance(value, str):
        for name, path in paths.items():
            value = value.replace("{%s}" % name, path)
    return value


class BadInputRun:  # pylint: disable=too-few-public-methods
    """What the single run left: results by task name, the request log split by connection
    (mapped onto the rows expected to connect), the daemon's tree before and after."""

    def __init__(self, run, log, connections, paths, trees):
        self.run = run
        self.log = log
        self.connections = connections
        self.paths = paths
        self.tree_before, self.tree_after = trees
        self.connecting = [param.id for param in CASES if param.values[4]]
        self.by_case = dict(zip(self.connecting, connections)) if len(connections) == len(self.connecting) else {}


@pytest.fixture(scope="module")
def bad_input_run(tmp_path_factory):
    """Every row, then an empty ``devices`` list, as the tasks of one ansible-playbook run."""
    tmp = tmp_path_factory.mktemp("bad-input")
    paths = {"missing": str(tmp / "no-such-socket"), "file": str(tmp / "file"),
             "directory": str(tmp / "dir"), "stale": str(tmp / "stale.sock")}
    (tmp / "file").write_text("not a socket\n")
    (tmp / "dir").mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale, \
            XenstoredProcess(seed_xl={1: "guest1", 2: "guest2"}) as daemon:
        stale.bind(paths["stale"])  # bound, never listening: connect() is refused
        daemon.create_domain(3, "twin")
        daemon.create_domain(4, "twin")
        daemon.create_domain(10, "tenth")
        # guest2's device 7, served by the driver domain tenth (10): the identity rows
        run_playbook(tmp, daemon, [{"name": "identity seed", MODULE: device(2, devid=7, backend="tenth")}])
        tree_before = xenstore(daemon, "xenstore-ls", "-p", "/").stdout
        daemon.clear_log()
        tasks = [{"name": param.id, MODULE: _fill(param.values[1], paths), "ignore_errors": True}
                 for param in CASES]
        tasks.append({"name": "empty devices", MODULE: {"devices": []}})
        run = run_playbook(tmp, daemon, tasks)
        log = daemon.requests()
        connections = per_connection(daemon)
        tree_after = xenstore(daemon, "xenstore-ls", "-p", "/").stdout
    print("\n%d bad inputs in one ansible-playbook run of %.1f s: %d connections, %d requests, %d of them "
          "write/mkdir/rm/set_perms" % (len(CASES), run.elapsed, len({e["conn"] for e in log}), len(log),
                                        len(ops(log, WRITE_OPS))))
    return BadInputRun(run, log, connections, paths, (tree_before, tree_after))


@pytest.mark.parametrize("case_id, args, field, fragment, connects", CASES)
def test_bad_input(bad_input_run, case_id, args, field, fragment, connects):
    """Failed, unchanged, a clear message naming the option; nothing written by this row."""
    del args  # run by the fixture, with the others
    result = bad_input_run.run[case_id]
    msg = result.get("msg", "")
    assert result.get("failed") is True, result
    assert result.get("changed") is False, result
    assert _fill(field, bad_input_run.paths) in msg, msg
    assert _fill(fragment, bad_input_run.paths) in msg, msg
    if connects:
        assert bad_input_run.by_case, "module connections do not map onto the rows: %d connections for %s" % (
            len(bad_input_run.connections), bad_input_run.connecting)
        log = bad_input_run.by_case[case_id]
        # one transaction, aborted: the read phase only, no write of any kind
        assert [e["op"] for e in log if e["op"].startswith("TRANSACTION")] == ["TRANSACTION_START", "TRANSACTION_END"], log
        assert [e["path"] for e in log if e["op"] == "TRANSACTION_END"] == ["F"], log  # aborted, not committed
        assert ops(log, WRITE_OPS) == [], log


def test_rejected_rows_write_nothing_and_connect_only_to_read(bad_input_run):
    """Over the whole run: no write/mkdir/rm/set_perms at all, the tree unchanged, and only the
    rows that need the live domains opened a connection (one each, in task order)."""
    assert ops(bad_input_run.log, WRITE_OPS) == []
    assert bad_input_run.tree_after == bad_input_run.tree_before
    assert len({e["conn"] for e in bad_input_run.log}) == len(bad_input_run.connections)
    assert len(bad_input_run.connections) == len(bad_input_run.connecting), [
        [(e["op"], e["path"]) for e in conn[:4]] for conn in bad_input_run.connections]
    assert len(CASES) >= 40


def test_empty_device_list_is_ok_unchanged_and_never_connects(bad_input_run):
    """A backend host with no guests: ok, unchanged, and not one request (it is the last task,
    so any connection of its own would be one more than the rows account for)."""
    result = bad_input_run.run["empty devices"]
    assert not result.get("failed") and result["changed"] is False
    assert (result["devices"], result["removed"], result["pruned"]) == ([], [], [])
    assert len({e["conn"] for e in bad_input_run.log}) == len(bad_input_run.connecting)


def test_bus_id_of_19_characters_is_accepted(tmp_path, xenstored):
    """The other side of the 20-character rows: a 19-character backend bus id is written."""
    longest = "t" * 15  # ttttttttttttttt-1-0
    run = run_playbook(tmp_path, xenstored, [
        {"name": "19 by domid", MODULE: device("1", type=longest)},
        {"name": "19 by name, devid 2^31-1", MODULE: device("guest2", type="t" * 6, devid=2 ** 31 - 1)},
    ])
    assert run["19 by domid"]["changed"] and run["19 by domid"]["devices"][0]["action"] == "created"
    assert run["19 by name, devid 2^31-1"]["devices"][0]["backend_path"] == \
        "/local/domain/0/backend/tttttt/2/2147483647"
    assert xenstore(xenstored, "xenstore-read", "/local/domain/0/backend/%s/1/0/state" % longest).stdout == "1\n"
    assert xenstore(xenstored, "xenstore-read", "/local/domain/2/device/tttttt/2147483647/state").stdout == "1\n"


def test_numeric_range_ends_are_accepted(tmp_path, xenstored):
    """The other side of the numeric rows: the maxima, and retries 0 (one attempt), are taken."""
    run = run_playbook(tmp_path, xenstored, [
        {"name": "maxima", MODULE: dict(device("1"), timeout=3600, request_timeout=600, retries=100)},
        {"name": "one attempt, small bounds", MODULE: dict(device("2"), timeout="1e-3", request_timeout=0.5, retries=0)},
    ])
    assert run["maxima"]["changed"] and run["maxima"]["devices"][0]["action"] == "created"
    assert run["one attempt, small bounds"]["changed"]
    assert xenstore(xenstored, "xenstore-read", "/local/domain/0/backend/mydevice/2/0/state").stdout == "1\n"
