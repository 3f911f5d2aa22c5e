# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m xenstored.xl``: xl-like domain lifecycle on a running test daemon.

``--socket S create 3=guest3`` (introduce + xl's nodes), ``destroy 3`` (remove the nodes,
release: ``@releaseDomain``), ``restart 3=5`` (destroy 3, create the same guest as 5),
``dom0`` (dom0's nodes). See ``seed.py`` for what is written.
"""

from __future__ import annotations

import argparse
import sys

from .client import XsClient
from .protocol import XsError
from .seed import DOM0_OPS, apply_ops, create_domain, destroy_domain, restart_domain


def main(argv=None) -> int:
    """Parse the command line and act on the daemon."""
    parser = argparse.ArgumentParser(prog="python -m xenstored.xl",
                                     description="xl-like domain lifecycle on a test daemon")
    parser.add_argument("--socket", required=True, help="the daemon's main socket")
    parser.add_argument("action", choices=("create", "destroy", "restart", "dom0"))
    parser.add_argument("domains", nargs="*",
                        help="create: N=NAME; destroy: N; restart: OLD=NEW")
    args = parser.parse_args(argv)
    try:
        with XsClient(args.socket) as client:
            if args.action == "dom0":
                apply_ops(client, DOM0_OPS)
            for item in args.domains:
                left, _sep, right = item.partition("=")
                if args.action == "create":
                    create_domain(client, int(left), right)
                elif args.action == "destroy":
                    destroy_domain(client, int(left))
                else:
                    restart_domain(client, int(left), int(right))
    except (OSError, XsError, ValueError) as exc:
        print("xenstored.xl: %s: %s" % (args.action, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
