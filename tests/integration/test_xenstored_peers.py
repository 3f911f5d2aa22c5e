# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scripted driver peers against the test XenStore daemon: the xenbus handshake to
Connected and the Closing -> Closed answer libxl's device removal waits for."""

from __future__ import annotations

import time

import pytest

TYPE = "mydevice"
FRONT = "/local/domain/1/device/%s/0" % TYPE
BACK = "/local/domain/0/backend/%s/1/0" % TYPE


def add_device(client):
    """What libxl__device_generic_add does: one transaction, perms first, state last."""
    def body(xs):
        xs.write(FRONT, "")
        xs.set_perms(FRONT, ["n1", "r0"])
        xs.write(BACK, "")
        xs.set_perms(BACK, ["n0", "r1"])
        xs.write(FRONT + "/backend", BACK)
        xs.write(FRONT + "/backend-id", "0")
        xs.write(BACK + "/frontend", FRONT)
        xs.write(BACK + "/frontend-id", "1")
        xs.write(BACK + "/online", "1")
        xs.write(FRONT + "/state", "1")
        xs.write(BACK + "/state", "1")
    client.run_transaction(body)


def wait_value(client, path, expected, timeout=10.0):
    """Wait (bounded) until ``path`` reads ``expected``, using a watch."""
    token = "wait%d" % time.monotonic_ns()
    client.watch(path, token)
    deadline = time.monotonic() + timeout
    try:
        while client.read(path, b"") != expected:
            try:
                client.wait_event(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                pytest.fail("%s never became %r (is %r)" % (path, expected,
                                                            client.read(path, b"")))
    finally:
        client.unwatch(path, token)


def test_handshake_reaches_connected(xenstored, backend_peer):
    backend_peer(xenstored, role="backend", domid=0, devtype=TYPE,
                 keys={"feature-x": "1", "hotplug-status": "connected"})
    backend_peer(xenstored, role="frontend", domid=1, devtype=TYPE)
    with xenstored.client() as xs:
        add_device(xs)
        wait_value(xs, BACK + "/state", b"4")
        wait_value(xs, FRONT + "/state", b"4")
        assert xs.read(BACK + "/feature-x") == b"1"
        assert xs.read(BACK + "/hotplug-status") == b"connected"
        assert xs.read(FRONT + "/ring-ref") == b"8"
        # The frontend wrote through its guest socket: its keys belong to domain 1.
        assert xs.get_perms(FRONT + "/ring-ref") == ["n1", "r0"]
    assert xenstored.count(op="WRITE", domid=1, path_prefix=FRONT) >= 3


def test_closer_answers_closing_with_closed(xenstored, backend_peer):
    backend_peer(xenstored, role="closer", domid=0, devtype=TYPE)
    with xenstored.client() as xs:
        add_device(xs)
        time.sleep(0.2)
        assert xs.read(BACK + "/state") == b"1"            # the closer only closes
        xs.write(BACK + "/online", "0")
        xs.write(BACK + "/state", "5")
        wait_value(xs, BACK + "/state", b"6")
