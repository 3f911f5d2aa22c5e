# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A XenStore daemon for tests: the real xs_wire protocol on Unix sockets, no hypervisor.

Modules: ``protocol`` (wire constants, paths, perms), ``store`` (tree, permissions, quotas,
transactions: what matches C xenstored is listed there), ``server`` (the selector loop,
watches, domains, request log; what is simulated is listed there), ``seed`` (an xl host's
nodes; ``xl`` is its command line), ``faults`` (fault injection), ``client`` (a small raw client), ``daemon`` (subprocess handle), ``peers`` (scripted
driver peers).

Sockets
    ``<socket>``        privileged connection (dom0 / toolstack), implicit path
                        ``/local/domain/0``.
    ``<socket>.d<N>``   every connection acts as guest domain N (unprivileged, permission
                        checks, implicit path ``/local/domain/N``). Exists for each
                        ``--guest N``, each ``--seed-xl`` domain and each domain introduced
                        with XS_INTRODUCE; removed by XS_RELEASE.
    Point libxenstore clients (xenstore-utils) and pyxs at one with ``XENSTORED_PATH``.

Command line (``PYTHONPATH=tests python -m xenstored``)
    ``--socket PATH`` (required, < 108 bytes) ``--log FILE`` (JSON lines) ``--pidfile FILE``
    ``--guest N`` (repeatable) ``--seed-xl 1=guest1,2=guest2`` (dom0 + domUs like xl)
    ``--seed-dom0``. Runs until SIGTERM/SIGINT, then removes its sockets and pid file.
    Peers: ``PYTHONPATH=tests python -m xenstored.peers --help``.
    Domains of a running daemon: ``python -m xenstored.xl --socket S create 3=guest3``,
    ``destroy 3``, ``restart 3=5`` (a guest reboot gets a new domid), ``dom0``.

Request log: one JSON object per request, written before the reply is sent:
    ``{"conn": 3, "domid": 0, "op": "WRITE", "path": "/local/domain/0/backend/x",
    "tx": 0, "rid": 7, "result": "OK"}`` (``result``: ``OK`` or the errno name).

pytest fixtures (tests/conftest.py)
    ``xenstored``          a started daemon seeded like an xl host: dom0, domU 1 ``guest1``,
                           domU 2 ``guest2``; request log empty at test start.
    ``xenstored_factory``  ``xenstored_factory(guests=(), seed_xl=None, seed_dom0=False)``
                           starts more daemons (stopped at teardown).
    ``backend_peer``       ``backend_peer(daemon, backend_domid=0, devtype=..., ...)`` starts
                           a scripted peer process (see ``peers``), stopped at teardown.

``XenstoredProcess`` (``daemon.py``) API
    ``.socket`` ``.guest_socket(N)`` ``.env(domid=None)`` (environment with XENSTORED_PATH)
    ``.client(domid=None)`` -> ``XsClient`` (read/write/mkdir/rm/directory/get_perms/
    set_perms/watch/wait_event/transaction_start/transaction_end/run_transaction/send/reply)
    ``.requests(op=, path_prefix=, domid=, result=, conn=)`` -> list of log dicts
    ``.count(...)`` same filters -> int; ``.clear_log()``
    ``.create_domain(domid, name)`` (introduce + xl nodes), ``.destroy_domain(domid)``
    (remove nodes, release: ``@releaseDomain``), ``.restart_domain(old, new)``,
    ``.seed_dom0()``, ``.start()`` / ``.stop()`` / ``.cleanup()``, context manager;
    fault injection (``faults.py``): ``.fault(kind, op=, in_transaction=, domid=, skip=,
    count=)`` with kind ``eagain``/``drop``/``drop_after``/``stall``, ``.clear_faults()``,
    ``.fault_status()``.
"""

from __future__ import annotations

from .client import XsClient
from .daemon import XenstoredProcess
from .protocol import OP, XsError

__all__ = ["OP", "XenstoredProcess", "XsClient", "XsError"]
