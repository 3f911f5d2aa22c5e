# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line of the test XenStore daemon: ``PYTHONPATH=tests python -m xenstored``.

Runs in the foreground until SIGTERM/SIGINT, then removes its sockets and pid file.
"""

from __future__ import annotations

import argparse
import sys

from .seed import DOM0_OPS, apply_ops_to_store, domu_ops, parse_seed_xl
from .server import XenstoredServer


def build_parser() -> argparse.ArgumentParser:
    """The daemon's options."""
    parser = argparse.ArgumentParser(
        prog="python -m xenstored",
        description="Test XenStore daemon speaking xs_wire on a Unix socket. The main socket "
                    "is privileged (dom0); guest domain N is served on <socket>.d<N>.")
    parser.add_argument("--socket", required=True,
                        help="main (privileged) socket path, shorter than 108 bytes")
    parser.add_argument("--log", help="append one JSON line per request to this file")
    parser.add_argument("--pidfile", help="write the daemon's pid here (removed on exit)")
    parser.add_argument("--guest", type=int, action="append", default=[], metavar="N",
                        help="introduce domain N (guest socket <socket>.dN); repeatable")
    parser.add_argument("--seed-xl", metavar="N=NAME,...",
                        help="seed dom0 and these domUs like an xl host, e.g. 1=guest1,2=guest2")
    parser.add_argument("--seed-dom0", action="store_true",
                        help="seed dom0's nodes (implied by --seed-xl)")
    return parser


def main(argv=None) -> int:
    """Parse options, seed, serve."""
    args = build_parser().parse_args(argv)
    try:
        guests = parse_seed_xl(args.seed_xl) if args.seed_xl else {}
    except ValueError as exc:
        print("xenstored: --seed-xl: %s" % exc, file=sys.stderr)
        return 2
    try:
        server = XenstoredServer(args.socket, args.log, args.pidfile)
    except (OSError, ValueError) as exc:
        print("xenstored: %s" % exc, file=sys.stderr)
        return 1
    try:
        if args.seed_xl or args.seed_dom0:
            apply_ops_to_store(server.store, DOM0_OPS)
        for domid in args.guest:
            server.add_guest(domid, fire=False)
        for domid, name in guests.items():
            server.add_guest(domid, fire=False)
            apply_ops_to_store(server.store, domu_ops(domid, name))
    except BaseException:
        server.shutdown()
        raise
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
