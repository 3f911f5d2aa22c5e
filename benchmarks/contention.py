# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How much do concurrent controllers contend? (``make bench`` runs it after bench.py.)

N processes (default 8) run the ``xenstore_device`` module's own code (``DeviceManager``, the
code ``ansible-playbook`` runs on the managed node) at the same instant against one test
XenStore daemon: each is released by a barrier with its connection already open, so there is
no Ansible start-up spread to keep their transactions apart (the concurrency integration test
shows that 8 real ``ansible-playbook`` processes rarely have more than 3 transactions open at
once on 2 cores). Controller *i* activates devids 4*(i//2) .. 4*(i//2)+D-1 of guests i%4+1 and
(i+1)%4+1: neighbours overlap on half their devices, and all share the type directories.

Counted from the daemon's request log per round: EAGAIN answers to commits, the most attempts
any controller needed, controllers that gave up (retries exhausted), devices created (must be
the size of the union). Not a pass/fail test: it prints a table.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".ansible", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

# pylint: disable=wrong-import-position
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import client as xsclient  # noqa: E402
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import errors as xserrors  # noqa: E402
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import device as xsdevice  # noqa: E402
from xenstored.daemon import XenstoredProcess  # noqa: E402

GUESTS = {1: "guest1", 2: "guest2", 3: "guest3", 4: "guest4"}


def controller_devices(index: int, per_guest: int) -> list:
    first, second = index % 4 + 1, (index + 1) % 4 + 1
    start = 4 * (index // 2)
    return [dict(type="netx", frontend=frontend, devid=devid, backend_domid=0,
                 frontend_entries=None, backend_entries=None)
            for frontend in (first, second) for devid in range(start, start + per_guest)]


def params(devices: list, retries: int) -> dict:
    values = {name: option.get("default") for name, option in xsdevice.argument_spec().items()}
    values.update(devices=devices, retries=retries)
    return values


def controller(sock, index, barrier, results, retries, per_guest):
    devices = controller_devices(index, per_guest)
    xs = xsclient.XenStore(sock).open()
    barrier.wait()
    started = time.monotonic()
    try:
        result = xsdevice.DeviceManager(xs, params(devices, retries)).run()
        created = sum(entry["action"] == "created" for entry in result["devices"])
        results.put((index, "ok", created, time.monotonic() - started))
    except xserrors.TransactionConflict as exc:
        results.put((index, str(exc), 0, time.monotonic() - started))
    finally:
        xs.close()


def one_round(controllers: int, retries: int, per_guest: int) -> dict:
    with XenstoredProcess(seed_xl=GUESTS) as daemon:
        barrier = multiprocessing.Barrier(controllers)
        results = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=controller,
                                         args=(daemon.socket, i, barrier, results, retries, per_guest))
                 for i in range(controllers)]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=300) for dummy in procs]
        for proc in procs:
            proc.join(60)
        log = daemon.requests()
    attempts = collections.Counter(e["conn"] for e in log if e["op"] == "TRANSACTION_START")
    wanted = {(d["frontend"], d["devid"]) for i in range(controllers) for d in controller_devices(i, per_guest)}
    return dict(
        eagain=sum(e["op"] == "TRANSACTION_END" and e["result"] == "EAGAIN" for e in log),
        transactions=sum(attempts.values()),
        most_attempts=max(attempts.values()),
        gave_up=sum(outcome[1] != "ok" for outcome in outcomes),
        created=sum(outcome[2] for outcome in outcomes),
        wanted=len(wanted),
        slowest=max(outcome[3] for outcome in outcomes),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--controllers", type=int, default=8)
    parser.add_argument("--per-guest", type=int, default=12, help="devices per guest per controller")
    parser.add_argument("--retries", default="10,3,1", help="retries values to try, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("%d controllers at once, %d devices each (%d per guest x 2 guests), %d rounds per row; load %s"
          % (args.controllers, 2 * args.per_guest, args.per_guest, args.rounds,
             " ".join("%.1f" % x for x in os.getloadavg())))
    print("| retries | EAGAIN per round | transactions per round | most attempts by one controller "
          "| gave up | created / wanted | slowest controller |")
    print("|---:|---|---|---:|---:|---|---:|")
    for retries in (int(value) for value in args.retries.split(",")):
        rounds = [one_round(args.controllers, retries, args.per_guest) for dummy in range(args.rounds)]
        print("| %d | %s | %s | %d | %d | %s | %.2f s |" % (
            retries,
            " ".join(str(r["eagain"]) for r in rounds),
            " ".join(str(r["transactions"]) for r in rounds),
            max(r["most_attempts"] for r in rounds),
            sum(r["gave_up"] for r in rounds),
            " ".join("%d/%d" % (r["created"], r["wanted"]) for r in rounds),
            max(r["slowest"] for r in rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
