# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The XenStore client over both pyxs builds (PyPI 0.4.1 in the venv, Debian's 0.4.2 snapshot
under /usr/bin/python3) against the test daemon: pipelined batches in a transaction, a
directory read in DIRECTORY_PART rounds, EAGAIN re-runs, watches with the initial event, a
stalled daemon; and ``ansible-doc`` renders."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")

SCRIPT = r"""
import json, socket, sys, threading, time
sys.path.insert(0, %(collections)r)
import pyxs
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import client as c, errors, transaction

out = {"pyxs": getattr(pyxs, "__version__", None) or __import__("pyxs.client").client.__file__}
sock = sys.argv[1]
with c.XenStore(sock, request_timeout=5) as xs:
    # a pipelined batch inside a transaction, empty values included (0.4.1 rejects them in
    # its own API), then the replies decoded in order
    tx = xs.transaction_start()
    xs.batch([("mkdir", "/pipe")] + [("write", "/pipe/k%%d" %% i, str(i) if i else "") for i in range(50)]
             + [("set_perms", "/pipe/k1", ["n0", "r1"])], tx)
    assert xs.transaction_end(tx, True)
    replies = xs.batch([("read", "/pipe/k0"), ("read", "/pipe/k49"), ("get_perms", "/pipe/k1"),
                        ("directory", "/pipe"), ("read", "/pipe/none")], raise_errors=False)
    out["replies"] = [r if not isinstance(r, errors.XenStoreError) else "error:" + r.errno for r in replies]
    out["sent"] = xs.requests_sent

    # more children than one 4096-byte reply holds (E2BIG): read in DIRECTORY_PART rounds,
    # whose replies (op 22) pyxs's own Op table does not know, next to a small and a missing
    # directory in the same call, in a transaction; the connection stays usable after
    xs.batch([("write", "/big/entry-%%05d" %% i, "") for i in range(400)])
    tx = xs.transaction_start()
    big = xs.directories(["/big", "/pipe", "/none"], tx)
    assert xs.transaction_end(tx, False)
    out["big"] = [big["/big"] == ["entry-%%05d" %% i for i in range(400)], len(big["/pipe"]), big["/none"],
                  xs.read("/pipe/k49")]

    # a conflicting writer between read and commit: EAGAIN, the body runs again
    runs = []
    def body(tx_id):
        value = xs.batch([("read", "/pipe/k2")], tx_id)[0]
        runs.append(value)
        if len(runs) == 1:
            with c.XenStore(sock) as other:
                other.batch([("write", "/pipe/k2", "changed")])
        xs.batch([("write", "/pipe/k3", value + "-seen")], tx_id)
        return value, True
    out["tx"] = transaction.run_transaction(xs, body, retries=3, sleep=lambda s: None)
    out["runs"] = runs

    # watches: the initial event, then a change below the watched path
    tokens = xs.watch(["/pipe"])
    events = xs.wait_events(2)
    xs.batch([("write", "/pipe/k4", "x")])
    deadline = time.monotonic() + 5
    while "/pipe/k4" not in events and time.monotonic() < deadline:
        events += xs.wait_events(0.5)
    xs.unwatch(tokens)
    out["events"] = sorted(set(events))

# a daemon that accepts and never answers
path = sock + ".silent"
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path)
listener.listen(1)
started = time.monotonic()
try:
    with c.XenStore(path, request_timeout=0.5) as xs:
        xs.batch([("read", "/x")])
except errors.XenStoreTimeout as exc:
    out["stalled"] = str(exc)
out["stalled_s"] = time.monotonic() - started
print(json.dumps(out))
""" % {"collections": COLLECTIONS}


@pytest.mark.parametrize("python", ["/usr/bin/python3", sys.executable], ids=["debian-pyxs-0.4.2", "pypi-pyxs-0.4.1"])
def test_client_over_both_pyxs_builds(tmp_path, xenstored_factory, python):
    daemon = xenstored_factory(seed_dom0=True)
    proc = subprocess.run([python, "-c", SCRIPT, daemon.socket], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = json.loads(proc.stdout)
    empty, last, perms, listing, missing = out["replies"]
    assert (empty, last, perms, missing) == ("", "49", ["n0", "r1"], "error:ENOENT")
    assert sorted(listing) == sorted("k%d" % i for i in range(50))
    assert out["tx"] == "changed" and out["runs"] == ["2", "changed"]
    assert out["big"] == [True, 50, None, "49"]
    assert daemon.count(op="DIRECTORY", path_prefix="/big", result="E2BIG") == 1
    assert daemon.count(op="DIRECTORY_PART", path_prefix="/big", result="OK") == 2
    assert daemon.count(op="TRANSACTION_END", result="EAGAIN") == 1
    with daemon.client() as client:
        assert client.read("/pipe/k3") == b"changed-seen"
    assert "/pipe" in out["events"] and "/pipe/k4" in out["events"]
    assert out["stalled"] == "XenStore at %s.silent did not answer READ /x within 0.5 s (request_timeout)" % daemon.socket
    assert 0.5 <= out["stalled_s"] < 5
    # one batch: the 52 requests went out back to back
    starts = [e["rid"] for e in daemon.requests(op="WRITE", path_prefix="/pipe")][:50]
    assert starts == sorted(starts)


@pytest.mark.parametrize("module", ["xenstore_device", "xen_domain_info"])
def test_ansible_doc_renders(module):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1")
    ansible_doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    proc = subprocess.run([ansible_doc, "splitdriver.xen." + module], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "splitdriver.xen developers (@splitdriver)" in proc.stdout
    assert "request_timeout" in proc.stdout and "pyxs" in proc.stdout
    assert "WARNING" not in proc.stderr, proc.stderr
