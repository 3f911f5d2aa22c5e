# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Permissions of the devices ``splitdriver.xen.xenstore_device`` creates, seen from the guests.

One real ``ansible-playbook`` run activates, on a test daemon seeded like an xl host:
``mydevice`` for guest1 (1) and guest2 (2), served by dom0, and ``mynet`` for guest2, served
by the driver domain ``driverdom`` (4). ``guest3`` (3) has no device. Then Debian's
xenstore-utils clients, connected as those domains (the daemon's ``<socket>.d<N>``), try
what each may and may not do, table by table.

Every refusal is checked twice: the client fails, and the daemon's request log shows what it
answered. The answers follow C xenstored (xen 4.17 ``tools/xenstore/xenstored_core.c``):
``perm_for_conn()`` gives the owner (first entry) everything, else the first ACL entry naming
the caller, else the first entry's letter; ``get_node()`` answers EACCES for an existing node
without the access, and for a missing node ENOENT only when the caller has that access to
the nearest existing ancestor (``errno_from_parents()``), EACCES otherwise, so a guest cannot
even learn whether another guest's node exists. ``do_rm()`` and ``do_write()`` need write
access to the node itself (to the nearest ancestor for a new node), ``do_set_perms()`` write
access and ownership, and an unprivileged owner may not give a node away (EPERM).

Debian 12's dom0 runs oxenstored instead (``tools/ocaml/xenstored/store.ml``): the same
grants and refusals, but a missing node is ENOENT whatever its parent's perms, and an owner
change is EACCES. The real-Xen lab proof (lab/playbooks/proof.yml) shows those answers.
"""

from __future__ import annotations

import re

import pytest
from xenstored.daemon import XenstoredProcess  # pylint: disable=import-error
from test_xenstore_device_playbooks import (  # pylint: disable=import-error
    MODULE, assert_denied, device, run_playbook, xenstore,
)

pytestmark = pytest.mark.slow

DOMAINS = {1: "guest1", 2: "guest2", 3: "guest3", 4: "driverdom"}
DRIVER_DOMAIN = 4
FE1 = "/local/domain/1/device/mydevice/0"
BE1 = "/local/domain/0/backend/mydevice/1/0"
FE2 = "/local/domain/2/device/mydevice/0"
BE2 = "/local/domain/0/backend/mydevice/2/0"
FE2N = "/local/domain/2/device/mynet/0"
BE2N = "/local/domain/4/backend/mynet/2/0"
# (frontend dir, backend dir, frontend domid, backend domid) of each device
DEVICES = ((FE1, BE1, 1, 0), (FE2, BE2, 2, 0), (FE2N, BE2N, 2, DRIVER_DOMAIN))
# do_set_perms() refuses an unprivileged owner change with EPERM. Xen 4.17's xs_wire.h lists
# EPERM in xsd_errors (commit 8d57812839), so C xenstored 4.17 sends EPERM (oxenstored:
# EACCES); so does the test daemon (xenstored/protocol.py).
OWNER_CHANGE_ERRNO = "EPERM"
# `xenstore-ls -f -p` line: full path, value, padding, perms
LS_LINE = re.compile(r'^(/\S*) = "(.*)"[ .]*\(([^()]*)\)$')


def walk(daemon, path="/"):
    """Every node below ``path`` as dom0 sees it: ``{path: perms}`` (``xenstore-ls -f -p``)."""
    nodes = {}
    for line in xenstore(daemon, "xenstore-ls", "-f", "-p", path).stdout.splitlines():
        match = LS_LINE.match(line)
        assert match, line
        nodes[match.group(1)] = match.group(3)
    return nodes


@pytest.fixture(scope="module")
def activation(tmp_path_factory):
    """One playbook run: the daemon, and the nodes the run created (``{path: perms}``)."""
    daemon = XenstoredProcess(seed_xl=DOMAINS).start()
    try:
        before = walk(daemon)
        run_playbook(tmp_path_factory.mktemp("play"), daemon, [
            {"name": "activate", MODULE: {"devices": [
                device("guest1"), device("guest2"),
                device("guest2", type="mynet", backend_domid=DRIVER_DOMAIN)]}},
        ])
        after = walk(daemon)
        assert set(before) <= set(after)
        yield daemon, {path: perms for path, perms in after.items() if path not in before}
    finally:
        daemon.cleanup()


@pytest.fixture
def activated(activation):  # pylint: disable=redefined-outer-name
    """The daemon after the playbook run."""
    return activation[0]


def answer(daemon, argv, domid):
    """Run ``argv`` as ``domid``; the client must fail. The daemon's last answer on argv[1]."""
    failed = xenstore(daemon, *argv, domid=domid, check=False)
    assert failed.returncode != 0, (domid, argv, failed.stdout)
    answers = [e["result"] for e in daemon.requests(domid=domid, path_prefix=argv[1]) if e["path"] == argv[1]]
    assert answers, (domid, argv)
    return answers[-1]


# ------------------------------------------------------------------------------------------
# What each domain may read: its own frontend dir and keys, the backend dir and keys of its
# own devices; a driver domain reads the frontends it serves and lists its own backend dirs.
ALLOWED_READS = [
    (1, ("xenstore-read", FE1 + "/backend"), BE1),
    (1, ("xenstore-read", FE1 + "/backend-id"), "0"),
    (1, ("xenstore-read", FE1 + "/state"), "1"),
    (1, ("xenstore-list", FE1), "backend\nbackend-id\nstate"),
    (1, ("xenstore-exists", FE1), ""),
    (1, ("xenstore-read", BE1 + "/frontend"), FE1),
    (1, ("xenstore-read", BE1 + "/frontend-id"), "1"),
    (1, ("xenstore-read", BE1 + "/online"), "1"),
    (1, ("xenstore-read", BE1 + "/state"), "1"),
    (1, ("xenstore-list", BE1), "frontend\nfrontend-id\nonline\nstate"),
    (2, ("xenstore-read", FE2 + "/state"), "1"),
    (2, ("xenstore-read", BE2 + "/frontend-id"), "2"),
    (2, ("xenstore-list", "/local/domain/2/device/mynet"), "0"),
    (2, ("xenstore-read", FE2N + "/backend"), BE2N),
    (2, ("xenstore-read", FE2N + "/backend-id"), "4"),
    (2, ("xenstore-list", BE2N), "frontend\nfrontend-id\nonline\nstate"),
    (2, ("xenstore-read", BE2N + "/frontend"), FE2N),
    (4, ("xenstore-list", FE2N), "backend\nbackend-id\nstate"),
    (4, ("xenstore-read", FE2N + "/state"), "1"),
    (4, ("xenstore-list", "/local/domain/4/backend/mynet"), "2"),
    (4, ("xenstore-list", "/local/domain/4/backend/mynet/2"), "0"),
    (3, ("xenstore-list", "/local/domain/3/device"), "suspend"),  # its own: nothing of ours
]


@pytest.mark.parametrize("domid, argv, expected", ALLOWED_READS,
                         ids=["d%d %s %s" % (row[0], row[1][0][9:], row[1][1]) for row in ALLOWED_READS])
def test_allowed_reads(activated, domid, argv, expected):
    out = xenstore(activated, *argv, domid=domid)
    assert sorted(out.stdout.split()) == sorted(expected.split())  # lists: in any order


# What each domain must not do, and what xenstored answers. EACCES: the node exists and the
# caller lacks the access, or it is missing and the caller may not read (write, for writes)
# its nearest existing ancestor. ENOENT only where that ancestor grants the access.
DENIED = [
    # guest1 and the backend of its own device (dom0's, perms [n0, r1]): read, never write
    (1, ("xenstore-write", BE1 + "/state", "4"), "EACCES"),
    (1, ("xenstore-write", BE1 + "/online", "0"), "EACCES"),
    (1, ("xenstore-write", BE1 + "/hotplug-status", "connected"), "EACCES"),  # new key: the dir is r1
    (1, ("xenstore-rm", BE1 + "/state"), "EACCES"),
    (1, ("xenstore-rm", BE1), "EACCES"),
    (1, ("xenstore-rm", BE1 + "/no-such-key"), "EACCES"),  # rm needs write on the dir too
    (1, ("xenstore-chmod", BE1 + "/state", "n0", "r1"), "EACCES"),  # even unchanged perms
    (1, ("xenstore-chmod", BE1, "n1"), "EACCES"),
    (1, ("xenstore-read", BE1 + "/no-such-key"), "ENOENT"),  # it may read the dir: told it is missing
    (1, ("xenstore-read", FE1 + "/no-such-key"), "ENOENT"),
    # dom0's backend dirs above the device dir are [n0]: no guest learns of other devices
    (1, ("xenstore-list", "/local/domain/0/backend"), "EACCES"),
    (1, ("xenstore-list", "/local/domain/0/backend/mydevice"), "EACCES"),
    (1, ("xenstore-list", "/local/domain/0/backend/mydevice/1"), "EACCES"),
    (1, ("xenstore-read", "/local/domain/0/backend/mydevice/1"), "EACCES"),
    # guest1 and guest2's devices, both backends
    (1, ("xenstore-read", FE2 + "/state"), "EACCES"),
    (1, ("xenstore-list", FE2), "EACCES"),
    (1, ("xenstore-list", "/local/domain/2/device"), "EACCES"),
    (1, ("xenstore-list", "/local/domain/2/device/mydevice"), "EACCES"),
    (1, ("xenstore-read", "/local/domain/2/device/mydevice/9"), "EACCES"),  # missing, not told so
    (1, ("xenstore-write", FE2 + "/state", "6"), "EACCES"),
    (1, ("xenstore-write", FE2 + "/ring-ref", "8"), "EACCES"),
    (1, ("xenstore-rm", FE2), "EACCES"),
    (1, ("xenstore-chmod", FE2, "n1"), "EACCES"),
    (1, ("xenstore-read", BE2 + "/state"), "EACCES"),
    (1, ("xenstore-list", BE2), "EACCES"),
    (1, ("xenstore-rm", BE2), "EACCES"),
    (1, ("xenstore-list", "/local/domain/0/backend/mydevice/2"), "EACCES"),
    (1, ("xenstore-read", "/local/domain/0/backend/mydevice/2/9"), "EACCES"),
    (1, ("xenstore-read", FE2N + "/backend"), "EACCES"),
    (1, ("xenstore-read", BE2N + "/state"), "EACCES"),
    (1, ("xenstore-list", "/local/domain/4/backend"), "EACCES"),
    (1, ("xenstore-list", "/local/domain/4/backend/mynet"), "EACCES"),
    # guest2 and the driver domain's backend of its device ([n4, r2])
    (2, ("xenstore-write", BE2N + "/state", "4"), "EACCES"),
    (2, ("xenstore-rm", BE2N + "/frontend-id"), "EACCES"),
    (2, ("xenstore-chmod", BE2N + "/state", "n4", "r2"), "EACCES"),
    (2, ("xenstore-list", "/local/domain/4/backend/mynet"), "EACCES"),
    (2, ("xenstore-list", "/local/domain/4/backend/mynet/2"), "EACCES"),
    (2, ("xenstore-list", "/local/domain/0/backend/mydevice"), "EACCES"),
    (2, ("xenstore-read", FE1 + "/state"), "EACCES"),
    (2, ("xenstore-read", BE1 + "/state"), "EACCES"),
    # the driver domain: only the devices it serves, and their frontends read-only
    (4, ("xenstore-write", FE2N + "/state", "6"), "EACCES"),
    (4, ("xenstore-rm", FE2N), "EACCES"),
    (4, ("xenstore-read", FE2 + "/state"), "EACCES"),  # guest2's device served by dom0
    (4, ("xenstore-read", FE1 + "/state"), "EACCES"),
    (4, ("xenstore-read", BE1 + "/state"), "EACCES"),
    (4, ("xenstore-list", "/local/domain/0/backend"), "EACCES"),
    # guest3 has no device: it sees nothing and cannot forge one
    (3, ("xenstore-list", "/local/domain"), "EACCES"),
    (3, ("xenstore-list", "/local/domain/0/backend"), "EACCES"),
    (3, ("xenstore-list", "/local/domain/1/device"), "EACCES"),
    (3, ("xenstore-read", FE1 + "/state"), "EACCES"),
    (3, ("xenstore-read", BE1 + "/state"), "EACCES"),
    (3, ("xenstore-list", "/local/domain/2/device/mynet"), "EACCES"),
    (3, ("xenstore-read", BE2N + "/state"), "EACCES"),
    (3, ("xenstore-list", "/local/domain/4/backend"), "EACCES"),
    (3, ("xenstore-read", "/local/domain/0/backend/mydevice/3/0/state"), "EACCES"),
    (3, ("xenstore-write", "/local/domain/0/backend/mydevice/3/0/state", "1"), "EACCES"),
    (3, ("xenstore-write", "/local/domain/4/backend/mynet/3/0/state", "1"), "EACCES"),
]


@pytest.mark.parametrize("domid, argv, errno", DENIED,
                         ids=["d%d %s %s" % (row[0], row[1][0][9:], row[1][1]) for row in DENIED])
def test_denied(activated, domid, argv, errno):
    if errno == "EACCES":
        assert_denied(activated, argv, domid)
    else:
        assert answer(activated, argv, domid) == errno


def test_guest_writes_its_frontend_keys(activated):
    """The frontend driver's writes: state, and new keys (ring-ref) that inherit the
    frontend dir's perms with the guest as owner, so the backend domain (and only it) reads them."""
    xenstore(activated, "xenstore-write", FE1 + "/state", "3", domid=1)
    assert xenstore(activated, "xenstore-read", FE1 + "/state").stdout.strip() == "3"
    xenstore(activated, "xenstore-write", FE1 + "/state", "1", domid=1)
    for fe, domid, backend in ((FE1, 1, 0), (FE2N, 2, DRIVER_DOMAIN)):
        xenstore(activated, "xenstore-write", fe + "/ring-ref", "8", domid=domid)
        assert walk(activated, fe)[fe + "/ring-ref"] == "n%d,r%d" % (domid, backend)
        if backend:
            assert xenstore(activated, "xenstore-read", fe + "/ring-ref", domid=backend).stdout.strip() == "8"
        other = 3 - domid  # guest2 for guest1's key and guest1 for guest2's
        assert_denied(activated, ("xenstore-read", fe + "/ring-ref"), domid=other)
        xenstore(activated, "xenstore-rm", fe + "/ring-ref", domid=domid)
        assert xenstore(activated, "xenstore-exists", fe + "/ring-ref", check=False).returncode != 0


def test_guest_owns_its_frontend_dir(activated):
    """libxl gives the guest its frontend dir ([n<guest>, r<backend>]) and xenstored gives an
    owner every access: the guest may remove even the keys the toolstack wrote there and set
    their perms, but it may not give a node to another domain and the backend stays out of its
    reach (see DENIED)."""
    original = walk(activated, FE1)
    xenstore(activated, "xenstore-rm", FE1 + "/backend-id", domid=1)
    assert xenstore(activated, "xenstore-exists", FE1 + "/backend-id", check=False).returncode != 0
    xenstore(activated, "xenstore-write", FE1 + "/backend-id", "0")  # inherits [n1, r0] again
    xenstore(activated, "xenstore-chmod", FE1 + "/state", "n1", domid=1)
    assert walk(activated, FE1)[FE1 + "/state"] == "n1"
    assert answer(activated, ("xenstore-chmod", FE1 + "/state", "n0"), domid=1) == OWNER_CHANGE_ERRNO
    assert walk(activated, FE1)[FE1 + "/state"] == "n1"
    xenstore(activated, "xenstore-chmod", FE1 + "/state", "n1", "r0", domid=1)
    assert walk(activated, FE1) == original


def test_no_node_is_world_readable(activation):
    """Every node the run created: first perms entry `n` (no access for other domains), the
    device dirs and their keys name exactly the device's two domains (owner: that end), the
    dirs above them only dom0 and the domain whose tree holds them. Then every guest tries to
    read every node: it succeeds exactly where the perms name it, else EACCES."""
    daemon, created = activation
    # 3 frontend type dirs, 3 device dirs with 3 keys; dom0: type dir, 2 per-guest dirs, 2
    # device dirs with 4 keys; driver domain: backend, type dir, per-guest dir, device dir, 4 keys
    assert len(created) == 3 * 5 + (1 + 2 * 6) + (3 + 5), sorted(created)
    for path, perms in created.items():
        entries = perms.split(",")
        domids = {int(entry[1:]) for entry in entries}
        assert entries[0][0] == "n", (path, perms)
        ends = [(fe_dom, be_dom, path.startswith(fe)) for fe, be, fe_dom, be_dom in DEVICES
                if path == fe or path.startswith(fe + "/") or path == be or path.startswith(be + "/")]
        if ends:
            fe_dom, be_dom, is_frontend = ends[0]
            owner, reader = (fe_dom, be_dom) if is_frontend else (be_dom, fe_dom)
            assert perms == "n%d,r%d" % (owner, reader), (path, perms)
        else:
            tree = int(path.split("/")[3])  # /local/domain/<tree>/...
            assert domids <= {0, tree}, (path, perms)
    for domid in DOMAINS:
        for path, perms in sorted(created.items()):
            named = {int(entry[1:]) for entry in perms.split(",")}
            if domid in named:
                xenstore(daemon, "xenstore-read", path, domid=domid)
            else:
                assert_denied(daemon, ("xenstore-read", path), domid=domid)
