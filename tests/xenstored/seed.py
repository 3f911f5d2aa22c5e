# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seed the daemon like a host running the ``xl`` toolstack (Xen 4.17 libxl).

The nodes and permissions come from the libxl sources, not from memory:

* dom0 (``tools/helpers/xen-init-dom0.c``): ``/local/domain/0/domid`` = ``0`` and
  ``/local/domain/0/name`` = ``Domain-0``, all inheriting the root's ``[n0]``; we add the
  empty backend directory ``/local/domain/0/backend`` that libxl creates with the first device.
* a domU N (``libxl__domain_make()`` in ``tools/libs/light/libxl_create.c``, then
  ``libxl__domain_rename()`` and ``libxl__build_post()``): ``/local/domain/N`` and
  ``/vm/<uuid>`` are ``[n0, rN]`` (owned by dom0, readable by N: note that N does *not* own
  its domain directory); ``cpu``, ``memory``, ``device`` and ``control`` are ``[n0, rN]``;
  ``device/suspend/event-channel``, ``control/shutdown``, ``control/feature-poweroff``,
  ``-reboot``, ``-suspend``, ``control/sysrq``, ``data``, ``drivers``, ``feature``, ``attr``
  and ``error`` are ``[nN]`` (owned by N); ``/libxl/N`` and ``/libxl/N/device`` are ``[n0]``;
  ``vm``, ``name``, ``domid``, ``memory/*``, ``store/*``, ``cpu/0/availability`` and the
  ``control/platform-feature-*`` keys inherit. libxl writes all this in one transaction
  before it introduces the domain; we introduce first (a domid must exist before it can own
  nodes here), so ``@introduceDomain`` fires before the nodes appear.
* destroying a domain (``libxl__destroy_domid()``) removes ``/local/domain/N``,
  ``/libxl/N`` and ``/vm/<uuid>``; backend directories of device kinds libxl does not know
  (ours) stay behind, as on a real host. Then the domain is released (``@releaseDomain``).

Seeding is a list of operations, applied by the daemon itself at start-up (``--seed-xl``)
or over the wire by ``apply_ops()`` (one transaction, retried on EAGAIN). ``create_domain()``,
``destroy_domain()`` and ``restart_domain()`` do the whole ``xl`` step over a privileged
``XsClient``; the same from a shell: ``PYTHONPATH=tests python -m xenstored.xl --socket S
create 3=guest3 | destroy 3 | restart 3=5 | dom0``.
"""

from __future__ import annotations

import uuid as _uuid

from .protocol import XsError, parse_perms
from .store import PRIVILEGED

DOM0_OPS = (
    ("write", "/local/domain/0/domid", b"0"),
    ("write", "/local/domain/0/name", b"Domain-0"),
    ("mkdir", "/local/domain/0/backend"),
)

_RO = ("n0", "r{d}")
_RW = ("n{d}",)


def domain_uuid(name: str) -> str:
    """A stable UUID per guest name, so a restarted guest keeps its ``/vm/<uuid>``."""
    return str(_uuid.uuid5(_uuid.NAMESPACE_URL, "splitdriver-xen-test:" + name))


def domu_ops(domid: int, name: str, uuid: str | None = None, memory_kb: int = 393216):
    """The XenStore operations of ``xl create`` for a PV guest ``name`` as domain ``domid``."""
    uuid = uuid or domain_uuid(name)
    dom = "/local/domain/%d" % domid
    vm = "/vm/%s" % uuid
    lib = "/libxl/%d" % domid

    def mknod(path, perms):
        return [("write", path, b""), ("perms", path, [p.format(d=domid) for p in perms])]

    ops = [("rm", dom)]
    ops += mknod(dom, _RO)
    ops += [("rm", vm)]
    ops += mknod(vm, _RO)
    ops += [("rm", lib)]
    ops += mknod(lib, ("n0",)) + mknod(lib + "/device", ("n0",))
    ops += [("write", dom + "/vm", vm.encode()), ("write", dom + "/name", name.encode()),
            ("write", vm + "/name", name.encode())]
    for sub in ("cpu", "memory", "device"):
        ops += mknod("%s/%s" % (dom, sub), _RO)
    ops += mknod(dom + "/device/suspend/event-channel", _RW)
    ops += mknod(dom + "/control", _RO)
    for sub in ("shutdown", "feature-poweroff", "feature-reboot", "feature-suspend", "sysrq"):
        ops += mknod("%s/control/%s" % (dom, sub), _RW)
    for sub in ("data", "drivers", "feature", "attr", "error"):
        ops += mknod("%s/%s" % (dom, sub), _RW)
    ops += [
        ("write", vm + "/uuid", uuid.encode()),
        ("write", dom + "/control/platform-feature-multiprocessor-suspend", b"1"),
        ("write", dom + "/control/platform-feature-xs_reset_watches", b"1"),
        ("write", lib + "/type", b"pv"),
        # libxl__build_post()
        ("write", dom + "/memory/static-max", str(memory_kb).encode()),
        ("write", dom + "/memory/target", str(memory_kb).encode()),
        ("write", dom + "/memory/videoram", b"-1"),
        ("write", dom + "/domid", str(domid).encode()),
        ("write", dom + "/store/port", b"1"),
        ("write", dom + "/store/ring-ref", str(0xFEFFF - domid).encode()),
        ("write", dom + "/cpu/0/availability", b"online"),
    ]
    return ops


def destroy_ops(domid: int, uuid: str):
    """What ``xl destroy`` removes from XenStore (before the domain is released)."""
    return [("rm", "/local/domain/%d" % domid), ("rm", "/libxl/%d" % domid),
            ("rm", "/vm/%s" % uuid)]


def parse_seed_xl(text: str) -> dict:
    """``"1=guest1,2=guest2"`` -> ``{1: "guest1", 2: "guest2"}`` (ValueError if malformed)."""
    guests = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        domid, sep, name = item.partition("=")
        if not sep or not domid.strip().isdigit() or not name.strip():
            raise ValueError("expected DOMID=NAME, got %r" % item)
        if int(domid) == 0:
            raise ValueError("domain 0 is always there; guests need a domid > 0")
        guests[int(domid)] = name.strip()
    return guests


def apply_ops(client, ops) -> None:
    """Apply seed operations over the wire with an ``XsClient`` in one transaction."""
    def body(cli):
        for op in ops:
            if op[0] == "write":
                cli.write(op[1], op[2])
            elif op[0] == "mkdir":
                cli.mkdir(op[1])
            elif op[0] == "rm":
                try:
                    cli.rm(op[1])
                except XsError as exc:  # libxl ignores xs_rm() failures
                    if exc.errno != "ENOENT":
                        raise
            else:
                cli.set_perms(op[1], op[2])
    client.run_transaction(body)


def apply_ops_to_store(store, ops) -> None:
    """Apply seed operations directly to a ``Store`` as dom0 (daemon start-up)."""

    for op in ops:
        if op[0] == "write":
            store.write(PRIVILEGED, None, op[1], op[2])
        elif op[0] == "mkdir":
            store.mkdir(PRIVILEGED, None, op[1])
        elif op[0] == "rm":
            try:
                store.rm(PRIVILEGED, None, op[1])
            except XsError as exc:
                if exc.errno != "ENOENT":
                    raise
        else:
            store.set_perms(PRIVILEGED, None, op[1], parse_perms(op[2]))
    store.events.clear()


def create_domain(client, domid: int, name: str, uuid: str | None = None) -> None:
    """``xl create`` over a privileged client: introduce, then write the domain's nodes."""
    client.introduce(domid)
    apply_ops(client, domu_ops(domid, name, uuid))


def destroy_domain(client, domid: int) -> str:
    """``xl destroy`` over a privileged client: remove the nodes, release the domain
    (``@releaseDomain``). Returns the guest's name."""
    dom = "/local/domain/%d" % domid
    name = client.read(dom + "/name", b"").decode()
    uuid = client.read(dom + "/vm", b"").decode().rpartition("/")[2]
    apply_ops(client, destroy_ops(domid, uuid) if uuid else destroy_ops(domid, "-")[:2])
    try:
        client.release(domid)
    except XsError as exc:
        if exc.errno != "ENOENT":
            raise
    return name


def restart_domain(client, old_domid: int, new_domid: int) -> None:
    """A guest reboot under xl: destroyed, then created again (same name) as a new domid."""
    name = destroy_domain(client, old_domid)
    create_domain(client, new_domid, name)
