# SPDX-License-Identifier: GPL-3.0-or-later
"""Record every value that the given XenStore nodes take, until all of them are gone.

Usage: python3 watch_states.py OUTPUT NODE... (in dom0, under `timeout`: pyxs has no timeouts).
Writes "ready" once the watches are registered, then one "<node> <value>" line per change
("<node> gone" when the node disappears), then "done" when every node is gone.
"""

from __future__ import annotations

import sys

from pyxs import Client, PyXSError


def read(client, node):
    try:
        return client.read(node).decode()
    except PyXSError:
        return None


def main():
    output, nodes = sys.argv[1], [arg.encode() for arg in sys.argv[2:]]
    with open(output, "w", buffering=1, encoding="utf-8") as out, Client() as client:
        monitor = client.monitor()
        for index, node in enumerate(nodes):
            monitor.watch(node, b"lab-watch-%d" % index)
        last = {}
        out.write("ready\n")
        for path, _token in monitor.wait():
            if path not in nodes:
                continue
            value = read(client, path)
            if last.get(path, "") != value:
                last[path] = value
                out.write("%s %s\n" % (path.decode(), "gone" if value is None else value))
            if len(last) == len(nodes) and all(v is None for v in last.values()):
                out.write("done\n")
                return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
