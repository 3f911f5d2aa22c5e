# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test XenStore daemon over the raw protocol: core operations, permissions, quotas,
the request log, seeding and the domain lifecycle (checked against xenstored 4.17 rules)."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys

import pytest

from xenstored import OP, XsError
from xenstored.protocol import HEADER


def test_read_write_mkdir_directory_rm(xenstored):
    with xenstored.client() as xs:
        xs.write("/test/a/b", "v")
        assert xs.read("/test/a/b") == b"v"
        assert xs.read("/test/a") == b""          # intermediate nodes are created empty
        xs.write("/test/a/c", b"")
        assert xs.directory("/test/a") == ["b", "c"]  # creation order
        xs.mkdir("/test/a/b")                      # existing: fine, value kept
        assert xs.read("/test/a/b") == b"v"
        xs.rm("/test/a")
        assert not xs.exists("/test/a/b")
        assert xs.directory("/test") == []
        xs.rm("/test/missing")                     # parent exists: fine
        with pytest.raises(XsError, match="ENOENT"):
            xs.rm("/test/missing/deeper")
        with pytest.raises(XsError, match="EINVAL"):
            xs.rm("/")


@pytest.mark.parametrize("path", ["/a//b", "/a/", "a b", "/a/b$", "", "/" + "x" * 3100])
def test_invalid_paths(xenstored, path):
    with xenstored.client() as xs:
        with pytest.raises(XsError, match="EINVAL"):
            xs.write(path, "v")


def test_long_paths_below_local_domain(xenstored):
    with xenstored.client() as xs:
        xs.write("/local/domain/1/data/" + "x" * 2043, "v")   # 2048 below the domain path
        with pytest.raises(XsError, match="EINVAL"):
            xs.write("/local/domain/1/data/" + "x" * 2044, "v")


def test_relative_paths_use_the_domain_path(xenstored):
    with xenstored.client() as xs:
        assert xs.get_domain_path(7) == "/local/domain/7"
        xs.write("reltest", "dom0")
        assert xs.read("/local/domain/0/reltest") == b"dom0"
    with xenstored.client(1) as guest:
        guest.write("data/rel", "guest")
        assert guest.read("/local/domain/1/data/rel") == b"guest"


def test_xl_seed_perms(xenstored):
    with xenstored.client() as xs:
        assert xs.read("/local/domain/0/name") == b"Domain-0"
        assert xs.read("/local/domain/1/name") == b"guest1"
        assert xs.read("/local/domain/2/name") == b"guest2"
        assert xs.get_perms("/local/domain/1") == ["n0", "r1"]
        assert xs.get_perms("/local/domain/1/device") == ["n0", "r1"]
        assert xs.get_perms("/local/domain/1/data") == ["n1"]
        assert xs.get_perms("/local/domain/1/error") == ["n1"]
        assert xs.get_perms("/local/domain/1/control/shutdown") == ["n1"]
        assert xs.get_perms("/local/domain/0/backend") == ["n0"]
        vm = xs.read("/local/domain/1/vm").decode()
        assert xs.read(vm + "/name") == b"guest1"
        assert xs.get_perms(vm) == ["n0", "r1"]


def test_guest_permissions_and_hidden_existence(xenstored):
    with xenstored.client(1) as guest:
        assert guest.read("/local/domain/1/name") == b"guest1"
        # dom0's tree: existing node -> EACCES, missing node under an unreadable parent ->
        # EACCES too (existence is not revealed), missing node under a readable one -> ENOENT.
        with pytest.raises(XsError, match="EACCES"):
            guest.read("/local/domain/0/name")
        with pytest.raises(XsError, match="EACCES"):
            guest.read("/local/domain/0/nonexistent")
        with pytest.raises(XsError, match="ENOENT"):
            guest.read("/local/domain/1/nonexistent")
        with pytest.raises(XsError, match="EACCES"):
            guest.read("/local/domain/2/name")
        # The domain directory is dom0's: the guest may read it but not write below it.
        with pytest.raises(XsError, match="EACCES"):
            guest.write("/local/domain/1/newkey", "x")
        with pytest.raises(XsError, match="EACCES"):
            guest.write("/local/domain/1/name", "x")
        # data/ is the guest's own: new nodes there are owned by it.
        guest.write("/local/domain/1/data/a/b", "x")
        assert guest.get_perms("/local/domain/1/data/a") == ["n1"]
        assert guest.get_perms("/local/domain/1/data/a/b") == ["n1"]


def test_inheritance_and_creator_becomes_owner(xenstored):
    with xenstored.client() as xs:
        xs.mkdir("/local/domain/1/device/vif")
        xs.set_perms("/local/domain/1/device/vif", ["n0", "b1"])
        xs.write("/local/domain/1/device/vif/0/state", "1")        # dom0 creates: inherits
        assert xs.get_perms("/local/domain/1/device/vif/0/state") == ["n0", "b1"]
    with xenstored.client(1) as guest:
        guest.write("/local/domain/1/device/vif/1/state", "1")     # guest creates: owner 1
        assert guest.get_perms("/local/domain/1/device/vif/1") == ["n1", "b1"]
        assert guest.get_perms("/local/domain/1/device/vif/1/state") == ["n1", "b1"]
        # ACL write on the existing node, but SET_PERMS needs ownership.
        guest.write("/local/domain/1/device/vif/0/state", "4")
        with pytest.raises(XsError, match="EACCES"):
            guest.set_perms("/local/domain/1/device/vif/0", ["n1"])
        # An owner may change the perms but not give the node away (EPERM, in xsd_errors since 4.17).
        guest.set_perms("/local/domain/1/device/vif/1", ["n1", "r0"])
        with pytest.raises(XsError, match="EPERM"):
            guest.set_perms("/local/domain/1/device/vif/1", ["n2"])


def test_acl_first_match_and_other_domains(xenstored):
    with xenstored.client() as xs:
        xs.write("/acl/node", "v")
        xs.set_perms("/acl/node", ["r0", "n1", "w2"])
        xs.set_perms("/acl", ["r0"])
    with xenstored.client(1) as one, xenstored.client(2) as two:
        with pytest.raises(XsError, match="EACCES"):
            one.read("/acl/node")                  # ACL n1 overrides everyone's r
        with pytest.raises(XsError, match="EACCES"):
            two.read("/acl/node")                  # ACL w2: write only
        two.write("/acl/node", "by2")
        assert one.directory("/acl") == ["node"]


def test_set_perms_rules(xenstored):
    with xenstored.client() as xs:
        xs.write("/p", "")
        with pytest.raises(XsError, match="ENOENT"):
            xs.set_perms("/p", ["n77"])            # owner must be an existing domain
        with pytest.raises(XsError, match="EINVAL"):
            xs.set_perms("/p", ["x1"])
        with pytest.raises(XsError, match="EINVAL"):
            xs.request("SET_PERMS", "/p")
        xs.set_perms("/p", ["n1", "r77"])          # ACL entries of unknown domains are kept
        assert xs.get_perms("/p") == ["n1", "r77"]
    with xenstored.client(1) as guest:
        with pytest.raises(XsError, match="ENOSPC"):
            guest.set_perms("/p", ["n1", "r0", "r2", "r3", "r4", "r5"])   # at most 5


def test_quotas_for_guests(xenstored):
    with xenstored.client(1) as guest:
        with pytest.raises(XsError, match="ENOSPC"):
            guest.write("/local/domain/1/data/big", b"x" * 2048)
        guest.write("/local/domain/1/data/ok", b"x" * 1900)
        # The parent's record holds the child names: a guest's directory is size-limited too.
        names = [guest.send("WRITE", b"/local/domain/1/data/n%d\0" % i) for i in range(600)]
        flat = []
        for rid in names:
            try:
                guest.reply(rid)
                flat.append("OK")
            except XsError as exc:
                flat.append(exc.errno)
        assert flat.index("ENOSPC") == flat.count("OK") and 200 < flat.count("OK") < 500
        guest.rm("/local/domain/1/data")
    with xenstored.client() as xs:
        xs.write("/local/domain/1/data", "")
        xs.set_perms("/local/domain/1/data", ["n1"])
    with xenstored.client(1) as guest:
        batch = [guest.send("WRITE", b"/local/domain/1/data/d%d/n%d\0" % (i // 50, i))
                 for i in range(1100)]
        results = []
        for rid in batch:
            try:
                guest.reply(rid)
                results.append("OK")
            except XsError as exc:
                results.append(exc.errno)
        # 1000 nodes per domain: domain 1 owns 11 of xl's nodes (data included) and the
        # writes create 20 directories d0..d19 on the way.
        assert results.index("ENOSPC") == results.count("OK") == 1000 - 11 - 20
    with xenstored.client() as xs:
        xs.write("/local/domain/1/data/dom0big", b"x" * 4000)  # no quota for dom0


def test_privileged_ops_from_guest_are_refused(xenstored):
    with xenstored.client(1) as guest:
        for op, args in (("INTRODUCE", (5, 1, 1)), ("RELEASE", (2,)),
                         ("IS_DOMAIN_INTRODUCED", (1,))):
            with pytest.raises(XsError, match="EACCES"):
                guest.request(op, *args)
        with pytest.raises(XsError, match="ENOSYS"):
            guest.request(99, "x")


def test_raw_wire_format(xenstored):
    """Header layout, req_id/tx_id echo and ERROR payloads, without any client library."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(xenstored.socket)
    requests = b"".join([
        HEADER.pack(OP["WRITE"], 0xDEAD, 0, 9) + b"/raw\0abcd",
        HEADER.pack(OP["READ"], 0xBEEF, 0, 5) + b"/raw\0",
        HEADER.pack(OP["READ"], 7, 0, 9) + b"/missing\0",
        HEADER.pack(OP["READ"], 8, 4242, 5) + b"/raw\0",
    ])
    sock.sendall(requests)                              # pipelined, one write
    data = b""
    while data.count(b"\0") < 4 or len(data) < 4 * 16 + 3 + 4 + 7 + 7:
        data += sock.recv(4096)
    replies = []
    while data:
        typ, rid, tid, length = struct.unpack("=IIII", data[:16])
        replies.append((typ, rid, tid, data[16:16 + length]))
        data = data[16 + length:]
    sock.close()
    assert replies == [
        (OP["WRITE"], 0xDEAD, 0, b"OK\0"),
        (OP["READ"], 0xBEEF, 0, b"abcd"),
        (OP["ERROR"], 7, 0, b"ENOENT\0"),
        (OP["ERROR"], 8, 4242, b"ENOENT\0"),            # unknown transaction
    ]


def test_oversized_header_drops_connection(xenstored):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(xenstored.socket)
    sock.sendall(HEADER.pack(OP["READ"], 1, 0, 4097))
    assert sock.recv(16) == b""
    sock.close()
    with xenstored.client() as xs:
        assert xs.read("/local/domain/0/name") == b"Domain-0"


def test_request_log_counts(xenstored):
    with xenstored.client() as xs:
        xs.write("/local/domain/0/backend/x/1/0/state", "1")
        xs.read("/local/domain/0/backend/x/1/0/state")
        with pytest.raises(XsError):
            xs.read("/local/domain/0/backend/x/1/0/none")
    assert xenstored.count(op="WRITE") == 1
    assert xenstored.count(path_prefix="/local/domain/0/backend/x") == 3
    assert xenstored.count(path_prefix="/local/domain/0/backend/x/1/0/state") == 2
    assert xenstored.count(result="ENOENT") == 1
    entry = xenstored.requests(op="WRITE")[0]
    assert entry["domid"] == 0 and entry["tx"] == 0 and entry["result"] == "OK"
    xenstored.clear_log()
    assert xenstored.requests() == []


def test_domain_lifecycle(xenstored):
    guest_sock = xenstored.guest_socket(3)
    assert not os.path.exists(guest_sock)
    with xenstored.client() as xs:
        xs.watch("@releaseDomain", "rel")
        xs.watch("@introduceDomain", "intro")
        assert xs.wait_event(5) == ("@releaseDomain", "rel")
        assert xs.wait_event(5) == ("@introduceDomain", "intro")
        assert xs.request("IS_DOMAIN_INTRODUCED", 3) == b"F\0"
        xenstored.create_domain(3, "guest3")
        assert xs.wait_event(5) == ("@introduceDomain", "intro")
        assert xs.request("IS_DOMAIN_INTRODUCED", 3) == b"T\0"
        assert os.path.exists(guest_sock)
        assert xs.read("/local/domain/3/name") == b"guest3"
        xs.write("/local/domain/0/backend/mydevice/3/0/state", "4")
        xenstored.destroy_domain(3)
        assert xs.wait_event(5) == ("@releaseDomain", "rel")
        assert not os.path.exists(guest_sock)
        assert not xs.exists("/local/domain/3")
        # libxl does not know our device kind: its backend directory stays behind.
        assert xs.read("/local/domain/0/backend/mydevice/3/0/state") == b"4"
        xenstored.restart_domain(1, 4)
        assert xs.read("/local/domain/4/name") == b"guest1"
        assert not xs.exists("/local/domain/1")
    with xenstored.client(4) as guest:
        assert guest.read("name") == b"guest1"


def test_sigterm_removes_sockets_and_pidfile(xenstored_factory):
    daemon = xenstored_factory(guests=[5])
    with open(daemon.pid_path, encoding="ascii") as handle:
        assert int(handle.read()) == daemon.proc.pid
    assert os.path.exists(daemon.guest_socket(5))
    assert daemon.stop() == 0
    for path in (daemon.socket, daemon.guest_socket(5), daemon.pid_path):
        assert not os.path.exists(path)


def test_cli_guest_sockets_and_xl_lifecycle(xenstored_factory):
    daemon = xenstored_factory(guests=[7], seed_dom0=True)
    with daemon.client(7) as guest:
        assert guest.get_domain_path(7) == "/local/domain/7"
        with pytest.raises(XsError, match="EACCES"):
            guest.read("/local/domain/0/name")
    env = dict(daemon.env(), PYTHONPATH=os.path.dirname(os.path.dirname(__file__)))
    xl = [sys.executable, "-m", "xenstored.xl", "--socket", daemon.socket]
    subprocess.run(xl + ["create", "3=guest3"], env=env, check=True, timeout=30)
    with daemon.client() as xs:
        assert xs.read("/local/domain/3/name") == b"guest3"
    subprocess.run(xl + ["restart", "3=8"], env=env, check=True, timeout=30)
    with daemon.client() as xs:
        assert not xs.exists("/local/domain/3")
        assert xs.read("/local/domain/8/name") == b"guest3"
        assert xs.get_perms("/local/domain/8") == ["n0", "r8"]
    assert not os.path.exists(daemon.guest_socket(3))
    failed = subprocess.run(xl + ["destroy", "3"], env=env, capture_output=True, text=True,
                            timeout=30, check=False)
    assert failed.returncode == 0       # like xl, removing what is gone is not an error


def test_acl_entries_of_a_dead_domain_do_not_pass_to_its_successor(xenstored):
    with xenstored.client() as xs:
        xenstored.create_domain(3, "guest3")
        xs.write("/shared", "x")
        xs.set_perms("/shared", ["n0", "r3"])
        with xenstored.client(3) as guest:
            assert guest.read("/shared") == b"x"
        xenstored.destroy_domain(3)
        xenstored.create_domain(3, "other")            # same domid, another domain
        assert xs.get_perms("/shared") == ["n0", "r3"]
        with xenstored.client(3) as guest:
            with pytest.raises(XsError, match="EACCES"):
                guest.read("/shared")
