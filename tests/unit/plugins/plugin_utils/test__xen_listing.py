# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Xen host listing: configuration, the command, and parsing what it prints."""

from __future__ import annotations

import shlex

import pytest

from ansible_collections.splitdriver.xen.plugins.plugin_utils._xen_listing import (
    ListingError,
    XenHostsError,
    command_error,
    describe_host,
    domains_from_tree,
    listing_command,
    listing_script,
    normalize_xen_hosts,
    parse_listing,
    parse_xenstore_ls,
    parse_xl_list,
    state_from_flags,
)

# What Debian's xenstore-ls -f /local/domain printed for the test daemon seeded like an xl host
# (dom0, web1 = domain 1 with one mydevice device served by dom0, web2 = domain 2), trimmed.
XS_LS = r'''/local/domain/0 = ""
/local/domain/0/domid = "0"
/local/domain/0/name = "Domain-0"
/local/domain/0/backend = ""
/local/domain/0/backend/mydevice = ""
/local/domain/0/backend/mydevice/1 = ""
/local/domain/0/backend/mydevice/1/0 = ""
/local/domain/0/backend/mydevice/1/0/state = "1"
/local/domain/1 = ""
/local/domain/1/vm = "/vm/28b20151-8d06-516c-8534-ab24c3c73ca9"
/local/domain/1/name = "web1"
/local/domain/1/device = ""
/local/domain/1/device/suspend = ""
/local/domain/1/device/suspend/event-channel = ""
/local/domain/1/device/mydevice = ""
/local/domain/1/device/mydevice/0 = ""
/local/domain/1/device/mydevice/0/state = "1"
/local/domain/1/device/vbd = ""
/local/domain/1/device/vbd/51712 = ""
/local/domain/1/device/vbd/51712/state = "4"
/local/domain/1/domid = "1"
/local/domain/2 = ""
/local/domain/2/vm = "/vm/a168f4c0-7514-516d-b0e8-d083827a7e68"
/local/domain/2/name = "web2"
/local/domain/2/device = ""
/local/domain/2/device/suspend = ""
/local/domain/2/device/suspend/event-channel = ""
/local/domain/2/domid = "2"
'''

WEB1 = {"domid": 1, "name": "web1", "uuid": "28b20151-8d06-516c-8534-ab24c3c73ca9", "state": None,
        "device_types": ["mydevice", "vbd"], "backend_types": []}
WEB2 = {"domid": 2, "name": "web2", "uuid": "a168f4c0-7514-516d-b0e8-d083827a7e68", "state": None,
        "device_types": [], "backend_types": []}
DOM0 = {"domid": 0, "name": "Domain-0", "uuid": None, "state": None, "device_types": [],
        "backend_types": ["mydevice"]}


def xl_row(name, domid, flags, mem=384, vcpus=1, cpu=12.3):
    """A row as xl_info.c's list_domains() prints it."""
    return "%-40s %5d %5lu %5d     %s  %8.1f" % (name, domid, mem, vcpus, flags, cpu)


XL_HEADER = "Name                                        ID   Mem VCPUs\tState\tTime(s)"
XL_LIST = "\n".join([XL_HEADER, xl_row("Domain-0", 0, "r-----", mem=1024, vcpus=2),
                     xl_row("web1", 1, "-b----"), xl_row("web2", 2, "--p---")]) + "\n"


# ------------------------------------------------------------------------------ xen_hosts

def host(name, **kwargs):
    out = {"name": name, "address": name, "user": None, "port": None, "transport": "ssh", "ssh_args": [],
           "environment": {}, "become": False}
    out.update(kwargs)
    return out


@pytest.mark.parametrize("value, kwargs, expected", [
    (["xen1"], {}, [host("xen1")]),
    (["xen1", {"name": "xen2", "address": "192.0.2.7", "user": "admin", "port": 2222, "ssh_args": ["-4"],
               "environment": {"XENSTORED_PATH": "/run/xs", "N": 3}, "become": True}],
     {}, [host("xen1"), host("xen2", address="192.0.2.7", user="admin", port=2222, ssh_args=["-4"],
                             environment={"N": "3", "XENSTORED_PATH": "/run/xs"}, become=True)]),
    ([{"name": "xen1", "port": "22"}], {}, [host("xen1", port=22)]),
    ([{"name": "xen1", "address": None, "user": None, "port": None}], {}, [host("xen1")]),
    (["xen1", {"name": "xen2", "transport": "ssh", "become": False}], {"transport": "local", "become": True},
     [host("xen1", transport="local", become=True), host("xen2")]),
], ids=["name", "all-keys", "port-string", "nulls", "plugin-defaults"])
def test_normalize_xen_hosts(value, kwargs, expected):
    assert normalize_xen_hosts(value, **kwargs) == expected


@pytest.mark.parametrize("value, kwargs, message", [
    ([], {}, "xen_hosts must be a non-empty list of Xen hosts"),
    (None, {}, "xen_hosts must be a non-empty list of Xen hosts (dom0 inventory names), got None"),
    ("xen1", {}, "xen_hosts must be a non-empty list"),
    ([3], {}, "xen_hosts[0] must be a host name or a dictionary, got 3"),
    (["xen1", ""], {}, "xen_hosts[1].name must be a non-empty string without surrounding spaces, got ''"),
    ([" xen1"], {}, "xen_hosts[0].name must be a non-empty string"),
    ([{"address": "x"}], {}, "xen_hosts[0]: name is required"),
    ([{"name": "x", "hostname": "y"}], {}, "xen_hosts[0]: unknown key(s) hostname; known: address, become,"),
    (["xen1", {"name": "xen1", "port": 22}], {}, "xen_hosts[1]: Xen host 'xen1' is listed twice"),
    ([{"name": "x", "port": 0}], {}, "xen_hosts[0].port must be an integer from 1 to 65535, got 0"),
    ([{"name": "x", "port": 65536}], {}, "xen_hosts[0].port must be an integer from 1 to 65535, got 65536"),
    ([{"name": "x", "port": "ssh"}], {}, "xen_hosts[0].port must be an integer from 1 to 65535, got 'ssh'"),
    ([{"name": "x", "port": True}], {}, "xen_hosts[0].port must be an integer from 1 to 65535, got True"),
    (["-oProxyCommand=sh"], {}, "xen_hosts[0].address must not start with '-', got '-oProxyCommand=sh'"),
    ([{"name": "x", "user": "-F/x"}], {}, "xen_hosts[0].user must not start with '-'"),
    ([{"name": "x", "transport": "rsh"}], {}, "xen_hosts[0].transport must be one of ssh, local, got 'rsh'"),
    ([{"name": "x", "become": "yes"}], {}, "xen_hosts[0].become must be a boolean, got 'yes'"),
    ([{"name": "x", "ssh_args": "-4"}], {}, "xen_hosts[0].ssh_args must be a list of strings, got '-4'"),
    ([{"name": "x", "ssh_args": ["-p", 22]}], {}, "xen_hosts[0].ssh_args must be a list of strings"),
    ([{"name": "x", "environment": ["A=1"]}], {}, "xen_hosts[0].environment must be a dictionary"),
    ([{"name": "x", "environment": {"A B": "1"}}], {}, "xen_hosts[0].environment: 'A B' is not an environment"),
    ([{"name": "x", "environment": {"A": {"b": 1}}}], {}, "xen_hosts[0].environment.A must be a string"),
    (["x"], {"transport": "telnet"}, "transport must be one of ssh, local, got 'telnet'"),
    (["x"], {"become": "no"}, "become must be a boolean, got 'no'"),
])
def test_normalize_xen_hosts_rejects(value, kwargs, message):
    with pytest.raises(XenHostsError) as err:
        normalize_xen_hosts(value, **kwargs)
    assert message in str(err.value)


# -------------------------------------------------------------------------------- command

def test_script_lists_xenstore_then_xl_states():
    assert listing_script(read_state=False) == "xenstore-ls -f /local/domain || exit"
    assert listing_script() == ("xenstore-ls -f /local/domain || exit\n"
                                "command -v xl >/dev/null 2>&1 || exit 0\n"
                                "echo '--- xl list'\n"
                                "xl list || :")


def test_local_command_runs_the_script_here_with_the_host_environment():
    argv = listing_command(host("xen1", transport="local", environment={"XENSTORED_PATH": "/s", "A": "b"}),
                           read_state=False)
    assert argv == ["env", "LC_ALL=C", "A=b", "XENSTORED_PATH=/s", "sh", "-c", "xenstore-ls -f /local/domain || exit"]
    argv = listing_command(host("xen1", transport="local", become=True), read_state=False, become_exe="doas")
    assert argv[:4] == ["doas", "-n", "env", "LC_ALL=C"]


def test_ssh_command_puts_the_users_arguments_first_and_quotes_the_remote_command():
    h = host("xen2", address="192.0.2.7", user="admin", port=2222, ssh_args=["-i", "/k"], become=True,
             environment={"XENSTORED_PATH": "/run/my socket"})
    argv = listing_command(h, ssh_executable="/usr/bin/ssh", ssh_args=["-F", "/cfg"])
    assert argv[:-1] == ["/usr/bin/ssh", "-F", "/cfg", "-i", "/k", "-o", "BatchMode=yes", "-T", "-p", "2222",
                         "-l", "admin", "--", "192.0.2.7"]
    # the remote shell splits the last argument back into exactly the local argv
    assert shlex.split(argv[-1]) == ["sudo", "-n", "env", "LC_ALL=C", "XENSTORED_PATH=/run/my socket", "sh", "-c",
                                     listing_script()]
    assert listing_command(host("xen1"), read_state=False) == [
        "ssh", "-o", "BatchMode=yes", "-T", "--", "xen1", "env LC_ALL=C sh -c 'xenstore-ls -f /local/domain || exit'"]


@pytest.mark.parametrize("h, expected", [
    (host("xen1"), "xen1 (ssh xen1)"),
    (host("xen1", address="192.0.2.7", user="root", port=2222), "xen1 (ssh root@192.0.2.7:2222)"),
    (host("xen1", transport="local"), "xen1 (local)"),
])
def test_describe_host(h, expected):
    assert describe_host(h) == expected


@pytest.mark.parametrize("h, rc, stderr, timed_out, expected", [
    (host("x"), 255, "ssh: connect to host x port 22: Connection refused\n", None,
     "ssh exited with 255: ssh: connect to host x port 22: Connection refused"),
    (host("x", transport="local"), 1, "xenstore-ls: xs_open: No such file or directory\n", None,
     "the listing command exited with 1: xenstore-ls: xs_open: No such file or directory"),
    (host("x"), 127, "sh: 1: xenstore-ls: not found\n", None,
     "ssh exited with 127: sh: 1: xenstore-ls: not found (command not found: are xenstore-utils installed"),
    (host("x"), None, "", 60, "ssh timed out after 60 s"),
    (host("x"), None, "[Errno 2] No such file or directory: 'ssh'", None,
     "ssh could not be started: [Errno 2] No such file or directory: 'ssh'"),
    (host("x"), 1, "a\n\nb\nc\nd\n", None, "ssh exited with 1: b | c | d"),
])
def test_command_error(h, rc, stderr, timed_out, expected):
    assert command_error(h, rc, stderr, timed_out).startswith(expected)


def test_command_error_keeps_the_end_of_a_long_stderr():
    message = command_error(host("x"), 1, "x" * 1000 + "END")
    assert message.endswith("END") and len(message) < 450


# --------------------------------------------------------------------------------- output

def test_parse_xenstore_ls_reads_every_node():
    tree = parse_xenstore_ls(XS_LS)
    assert len(tree) == XS_LS.count("\n")
    assert tree["/local/domain/1/name"] == "web1"
    assert tree["/local/domain/1/device"] == ""


@pytest.mark.parametrize("printed, value", [
    (r"plain text", "plain text"),
    (r'he said "hi"', 'he said "hi"'),  # xenstore-ls does not escape quotes
    (r"a\tb\nc\rd", "a\tb\nc\rd"),
    (r"back\\slash", "back\\slash"),
    (r"\000\001\007", "\x00\x01\x07"),
    (r"\x1b\x7f", "\x1b\x7f"),
    (r"caf\xc3\xa9", "caf\u00e9"),  # bytes, decoded as UTF-8
    (r"\xff", "\ufffd"),
    ("", ""),
])
def test_parse_xenstore_ls_unescapes_like_xenstore_client(printed, value):
    assert parse_xenstore_ls('/a = "%s"\n' % printed) == {"/a": value}


def test_parse_xenstore_ls_marks_unreadable_nodes():
    assert parse_xenstore_ls("/a:\n/a/b = \"1\"\n") == {"/a": None, "/a/b": "1"}


@pytest.mark.parametrize("text, message", [
    ("garbage\n", "line 1 is not xenstore-ls -f output: 'garbage'"),
    ('/a = "1"\nname = "x"\n', "line 2 is not xenstore-ls -f output"),  # without -f: no whole paths
    ("/a = 1\n", "line 1 is not xenstore-ls -f output"),
    ('/a = "1\n', "line 1 is not xenstore-ls -f output"),
    ('/a//b = ""\n', "line 1 is not xenstore-ls -f output"),
    ('/a/ = ""\n', "line 1 is not xenstore-ls -f output"),
    ('/a b = ""\n', "line 1 is not xenstore-ls -f output"),
    ('/a = "xxxxxxxx\\..."\n', "line 1: value truncated or badly escaped at '\\\\.'"),
    ('/a = "bad \\q"\n', "line 1: value truncated or badly escaped at '\\\\q'"),
    ('/a = "\\x4"\n', "line 1: value truncated or badly escaped"),
    ('/a = "\\01"\n', "line 1: value truncated or badly escaped"),
    ('/a = "end\\"\n', "line 1: value truncated or badly escaped at '\\\\'"),
    ("xenstore-ls: xs_directory (/local/domain): Permission denied\n", "line 1 is not xenstore-ls -f output"),
])
def test_parse_xenstore_ls_rejects_malformed_listings(text, message):
    with pytest.raises(ListingError) as err:
        parse_xenstore_ls(text)
    assert message in str(err.value)


def test_domains_from_tree():
    assert domains_from_tree(parse_xenstore_ls(XS_LS)) == [DOM0, WEB1, WEB2]


@pytest.mark.parametrize("extra, domid, key, value", [
    ('/local/domain/5 = ""\n', 5, "name", None),  # being built: no name yet
    ('/local/domain/5 = ""\n/local/domain/5/name:\n', 5, "name", None),  # unreadable
    ('/local/domain/5 = ""\n/local/domain/5/name = ""\n', 5, "name", None),
    ('/local/domain/5/vm = "/vm/not-a-uuid"\n', 5, "uuid", None),
    ('/local/domain/5/vm = "/vm/28B20151-8D06-516C-8534-AB24C3C73CA9"\n', 5, "uuid",
     "28b20151-8d06-516c-8534-ab24c3c73ca9"),
    ('/local/domain/5/vm = "28b20151-8d06-516c-8534-ab24c3c73ca9"\n', 5, "uuid", None),
    ('/local/domain/5/device/mydevice = ""\n', 5, "device_types", []),  # an empty type dir: no device
    ('/local/domain/5/device/mydevice/x = ""\n', 5, "device_types", []),
    ('/local/domain/5/device/my-dev_2/7/state = "4"\n', 5, "device_types", ["my-dev_2"]),
    ('/local/domain/5/backend/vif/1/0/state = "4"\n', 5, "backend_types", ["vif"]),
])
def test_domains_from_tree_cases(extra, domid, key, value):
    domains = {d["domid"]: d for d in domains_from_tree(parse_xenstore_ls(XS_LS + extra))}
    assert domains[domid][key] == value


def test_domains_from_tree_ignores_what_is_no_domid():
    extra = '/local/domain/pool = ""\n/local/domain/01 = ""\n/local/domain/01/name = "x"\n/other/5/name = "y"\n'
    assert [d["domid"] for d in domains_from_tree(parse_xenstore_ls(XS_LS + extra))] == [0, 1, 2]
    assert domains_from_tree({}) == []


@pytest.mark.parametrize("flags, state", [
    ("r-----", "running"),
    ("-b----", "running"),
    ("------", "running"),
    ("--p---", "paused"),
    ("-bp---", "paused"),
    ("---s--", "shutdown"),
    ("---sr-", "shutdown"),
    ("---sS-", "shutdown"),
    ("---ss-", "suspended"),
    ("---sc-", "crashed"),
    ("---sw-", "crashed"),
    ("--psc-", "crashed"),
    ("---s-d", "dying"),
    ("-----d", "dying"),
])
def test_state_from_flags(flags, state):
    assert state_from_flags(flags) == state


def test_parse_xl_list():
    assert parse_xl_list(XL_LIST) == {0: "running", 1: "running", 2: "paused"}
    # names with spaces, long names that push the columns right, (null) for a vanished name
    text = "\n".join([XL_HEADER, xl_row("my guest", 4, "---sc-"), xl_row("n" * 60, 12345, "--p---"),
                      xl_row("(null)", 7, "-----d")])
    assert parse_xl_list(text) == {4: "crashed", 12345: "paused", 7: "dying"}
    assert parse_xl_list(XL_HEADER + "\n") == {}


@pytest.mark.parametrize("text", [
    "",
    "xencall: error: Could not obtain handle on privileged command interface: No such file or directory\n"
    "libxl: error: libxl.c:102:libxl_ctx_alloc: cannot open libxc handle: No such file or directory\n",
    "Usage xl [-vfNtT] <subcommand> [args]\n",
])
def test_parse_xl_list_without_a_table(text):
    assert parse_xl_list(text) is None


def test_parse_listing_merges_the_states():
    domains, known = parse_listing(XS_LS + "--- xl list\n" + XL_LIST)
    assert known
    assert [(d["name"], d["state"]) for d in domains] == [("Domain-0", "running"), ("web1", "running"),
                                                          ("web2", "paused")]
    # a domain that xl does not know (created between the two commands): state unknown
    domains, known = parse_listing(XS_LS + '/local/domain/9/name = "new"\n--- xl list\n' + XL_LIST)
    assert domains[-1]["name"] == "new" and domains[-1]["state"] is None


@pytest.mark.parametrize("text", [
    XS_LS,  # read_state off, or xl not installed
    XS_LS + "--- xl list\n",  # xl failed (its message went to stderr)
])
def test_parse_listing_without_states(text):
    domains, known = parse_listing(text)
    assert not known and domains == [DOM0, WEB1, WEB2]


def test_parse_listing_of_an_empty_xenstore():
    assert parse_listing("--- xl list\n" + XL_HEADER + "\n") == ([], True)
    assert parse_listing("") == ([], False)


def test_parse_listing_rejects_garbage_before_the_marker():
    with pytest.raises(ListingError):
        parse_listing("Welcome to xen1!\n" + XS_LS)
