# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cross-checks of the test XenStore daemon with real clients: Debian's xenstore-utils
(libxenstore 4.17, through ``XENSTORED_PATH``), pyxs 0.4.1 from PyPI (this venv) and Debian's
python3-pyxs (``/usr/bin/python3``), including pyxs's pipelining through its router."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.client import XenStore
from xenstored import XsError

SYSTEM_PYTHON = "/usr/bin/python3"


def xs(daemon, *argv, domid=None, check=True):
    """Run a xenstore-utils command against the daemon (as dom0 or guest ``domid``)."""
    result = subprocess.run(list(argv), env=daemon.env(domid), capture_output=True,
                            text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (argv, result.returncode, result.stderr))
    return result


def test_write_read_list_exists_rm(xenstored):
    xs(xenstored, "xenstore-write", "/cc/a", "1", "/cc/b/c", "2")
    assert xs(xenstored, "xenstore-read", "/cc/a", "/cc/b/c").stdout == "1\n2\n"
    assert xs(xenstored, "xenstore-list", "/cc").stdout.split() == ["a", "b"]
    assert xs(xenstored, "xenstore-exists", "/cc/b/c").returncode == 0
    assert xs(xenstored, "xenstore-exists", "/cc/zz", check=False).returncode == 1
    xs(xenstored, "xenstore-rm", "/cc/b")
    assert xs(xenstored, "xenstore-exists", "/cc/b/c", check=False).returncode == 1
    assert xs(xenstored, "xenstore-list", "/cc").stdout.split() == ["a"]
    # The multi-argument read and write ran in transactions, like libxenstore does it.
    assert xenstored.count(op="TRANSACTION_START") >= 2
    assert xenstored.count(op="TRANSACTION_END", result="OK") >= 2


def test_ls_p_output_and_inheritance(xenstored):
    xs(xenstored, "xenstore-write", "/local/domain/0/backend/mydevice/1/0/frontend-id", "1")
    xs(xenstored, "xenstore-chmod", "/local/domain/0/backend/mydevice/1/0", "n0", "r1")
    xs(xenstored, "xenstore-write", "/local/domain/0/backend/mydevice/1/0/state", "1")
    out = xs(xenstored, "xenstore-ls", "-p", "/local/domain/0/backend/mydevice").stdout
    lines = [line.split() for line in out.splitlines()]
    # "name = "value" . . .  (perms)": the chmod'ed node only; the child written before
    # keeps its inherited [n0], the child written after inherits [n0, r1].
    assert lines[0][0] == "1" and lines[0][-1] == "(n0)"
    assert lines[1][0] == "0" and lines[1][-1] == "(n0,r1)"
    assert lines[2][:3] == ["frontend-id", "=", '"1"'] and lines[2][-1] == "(n0)"
    assert lines[3][:3] == ["state", "=", '"1"'] and lines[3][-1] == "(n0,r1)"
    # The guest can read state but not frontend-id (the seed script's defect).
    assert xs(xenstored, "xenstore-read", "/local/domain/0/backend/mydevice/1/0/state",
              domid=1).stdout == "1\n"
    denied = xs(xenstored, "xenstore-ls", "/local/domain/0/backend/mydevice/1/0/frontend-id",
                domid=1, check=False)
    assert denied.returncode == 1 and "Permission denied" in denied.stderr


def test_chmod_recursive(xenstored):
    xs(xenstored, "xenstore-write", "/local/domain/1/device/mydevice/0/state", "1",
       "/local/domain/1/device/mydevice/0/backend-id", "0")
    xs(xenstored, "xenstore-chmod", "-r", "/local/domain/1/device/mydevice/0", "n1", "r0")
    out = xs(xenstored, "xenstore-ls", "-p", "/local/domain/1/device/mydevice").stdout
    assert [line.split()[-1] for line in out.splitlines()] == ["(n1,r0)"] * 3
    # Now owned by guest 1, which may write there and change perms.
    xs(xenstored, "xenstore-write", "/local/domain/1/device/mydevice/0/state", "4", domid=1)
    xs(xenstored, "xenstore-chmod", "/local/domain/1/device/mydevice/0/state", "n1", domid=1)


def test_guest_socket_gets_eacces(xenstored):
    denied = xs(xenstored, "xenstore-ls", "/local/domain/0", domid=2, check=False)
    assert denied.returncode == 1 and "Permission denied" in denied.stderr
    missing = xs(xenstored, "xenstore-ls", "/local/domain/2/nothing", domid=2, check=False)
    assert missing.returncode == 1 and "No such file or directory" in missing.stderr
    hidden = xs(xenstored, "xenstore-ls", "/local/domain/0/nothing", domid=2, check=False)
    assert hidden.returncode == 1 and "Permission denied" in hidden.stderr
    assert xs(xenstored, "xenstore-write", "/local/domain/2/x", "1", domid=2,
              check=False).returncode == 1
    assert xenstored.count(domid=2, op="WRITE", result="EACCES") == 1
    # Relative paths resolve against the guest's domain path.
    assert xs(xenstored, "xenstore-read", "name", domid=2).stdout == "guest2\n"


def test_watch_initial_event(xenstored):
    xs(xenstored, "xenstore-write", "/wt/k", "1")
    proc = subprocess.Popen(["xenstore-watch", "-n", "2", "/wt"], env=xenstored.env(),
                            stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(20, proc.kill)          # bound the blocking readline()s
    watchdog.start()
    try:
        assert proc.stdout.readline() == "/wt\n"         # the initial event
        xs(xenstored, "xenstore-write", "/wt/k", "2")
        assert proc.stdout.readline() == "/wt/k\n"
        assert proc.wait(timeout=10) == 0
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_large_directory_uses_directory_part(xenstored):
    """libxenstore falls back to DIRECTORY_PART when DIRECTORY's reply exceeds 4096."""
    with xenstored.client() as client:
        names = ["child-with-a-long-name-%04d" % i for i in range(300)]
        rids = [client.send("WRITE", ("/big/%s\0" % name).encode()) for name in names]
        for rid in rids:
            client.reply(rid)
        with pytest.raises(XsError, match="E2BIG"):
            client.directory("/big")
    xenstored.clear_log()
    assert xs(xenstored, "xenstore-list", "/big").stdout.split() == names
    assert xenstored.count(op="DIRECTORY_PART", result="OK") >= 3


def _write_children(daemon, path, names):
    with daemon.client() as client:
        rids = [client.send("WRITE", ("%s/%s\0" % (path, name)).encode()) for name in names]
        for rid in rids:
            client.reply(rid)


def test_ten_thousand_children_libxenstore_and_our_client_read_the_same(xenstored):
    """xenstore-list (libxenstore's xs_directory_part()) and the collection's client read a
    10,000-child directory (~100 KB of names) identically, with the same DIRECTORY_PART requests."""
    names = ["dev-%05d" % i for i in range(10000)]
    _write_children(xenstored, "/huge", names)
    xenstored.clear_log()
    assert xs(xenstored, "xenstore-list", "/huge").stdout.split() == names
    with XenStore(xenstored.socket) as ours:
        listings = ours.directories(["/huge", "/local/domain", "/huge/dev-00000/nothing"])
    assert listings == {"/huge": names, "/local/domain": ["0", "1", "2"], "/huge/dev-00000/nothing": None}
    parts = {}
    for entry in xenstored.requests(op="DIRECTORY_PART"):
        assert (entry["path"], entry["result"]) == ("/huge", "OK")
        parts[entry["conn"]] = parts.get(entry["conn"], 0) + 1
    assert list(parts.values()) == [25, 25]  # 100,000 bytes of names, < 4,096 per part


def test_directory_part_generation(xenstored):
    """send_directory_part(): every part starts with the node's generation, which changes with
    its child list; an offset behind the list gives an empty name. In a transaction the node
    stays as first seen (access_node() copies it): one generation, then EAGAIN at commit."""
    _write_children(xenstored, "/gen", ["child-with-a-long-name-%04d" % i for i in range(300)])
    with xenstored.client() as client, xenstored.client() as other:
        first = client.request("DIRECTORY_PART", "/gen", 0)
        generation, names = first.split(b"\0", 1)
        assert names.startswith(b"child-with-a-long-name-0000\0") and not names.endswith(b"\0\0")
        assert len(first) <= 4096
        assert client.request("DIRECTORY_PART", "/gen", 0).split(b"\0", 1)[0] == generation
        other.write("/gen/new", "")
        changed = client.request("DIRECTORY_PART", "/gen", 0).split(b"\0", 1)[0]
        assert int(changed) > int(generation)
        assert client.request("DIRECTORY_PART", "/gen", 100000) == changed + b"\0\0"
        with pytest.raises(XsError, match="EINVAL"):
            client.request("DIRECTORY_PART", "/gen")
        with pytest.raises(XsError, match="ENOENT"):
            client.request("DIRECTORY_PART", "/nothing", 0)

        client.transaction_start()
        seen = client.request("DIRECTORY_PART", "/gen", 0)
        other.write("/gen/newer", "")
        assert client.request("DIRECTORY_PART", "/gen", 0) == seen
        tail = client.request("DIRECTORY_PART", "/gen", 7000)
        assert tail.split(b"\0", 1)[0] == changed and tail.endswith(b"new\0\0")
        client.write("/gen-written", "1")
        assert client.transaction_end() is False  # EAGAIN: /gen changed meanwhile


PYXS_SCRIPT = textwrap.dedent("""
    import json, sys
    import pyxs
    from pyxs import Client, PyXSError
    from pyxs._internal import Op, Packet, next_rq_id
    out = {"version": getattr(pyxs, "__version__", "?")}
    with Client(unix_socket_path=sys.argv[1]) as c:
        c.write(b"/pyxs/a", b"1")
        out["read"] = c.read(b"/pyxs/a").decode()
        out["list"] = [x.decode() for x in c.list(b"/pyxs")]
        c.set_perms(b"/pyxs/a", [b"n0", b"r1"])
        out["perms"] = [x.decode() for x in c.get_perms(b"/pyxs/a")]
        try:
            c.read(b"/pyxs/missing")
        except PyXSError as exc:
            out["error"] = exc.args[0]
        c.transaction()
        c.write(b"/pyxs/t", b"x")
        out["commit"] = c.commit()
        # Pipelining: send a batch through the router, then collect the replies.
        rvars = [c.router.send(Packet(Op.WRITE, b"/pyxs/p/%d\\x00%d" % (i, i), next_rq_id()))
                 for i in range(50)]
        out["pipelined"] = [rv.get().payload.decode() for rv in rvars].count("OK\\x00")
        with c.monitor() as m:
            m.watch(b"/pyxs/w", b"tok")
            ev = next(m.wait())
            out["initial_event"] = [ev.path.decode(), ev.token.decode()]
    print(json.dumps(out))
""")


@pytest.mark.parametrize("python", [sys.executable, SYSTEM_PYTHON],
                         ids=["pypi-pyxs-0.4.1", "debian-python3-pyxs"])
def test_pyxs(xenstored, python, tmp_path):
    script = tmp_path / "pyxs_check.py"
    script.write_text(PYXS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XENSTORED_PATH")}
    result = subprocess.run([python, str(script), xenstored.socket], capture_output=True,
                            text=True, timeout=60, env=env, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["read"] == "1"
    assert out["list"] == ["a"]
    assert out["perms"] == ["n0", "r1"]
    assert out["error"] == 2                           # ENOENT as an errno number
    assert out["commit"] is True
    assert out["pipelined"] == 50
    assert out["initial_event"] == ["/pyxs/w", "tok"]
    assert xenstored.count(op="WRITE", path_prefix="/pyxs/p") == 50
