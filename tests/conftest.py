# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pytest set-up: make this checkout importable as ansible_collections.splitdriver.xen."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "splitdriver", "xen")

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS)
# The test XenStore daemon is the package tests/xenstored (imported as ``xenstored``).
TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

# pylint: disable=wrong-import-position
from xenstored.daemon import XenstoredProcess  # noqa: E402
from xenstored.peers import PeerProcess  # noqa: E402

XL_GUESTS = {1: "guest1", 2: "guest2"}


@pytest.fixture
def xenstored_factory():
    """Start test XenStore daemons: ``xenstored_factory(guests=(), seed_xl=None,
    seed_dom0=False)``; all are stopped and cleaned up after the test."""
    started = []

    def start(**kwargs):
        daemon = XenstoredProcess(**kwargs)
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.cleanup()


@pytest.fixture
def xenstored(xenstored_factory):  # pylint: disable=redefined-outer-name
    """A test XenStore daemon seeded like an xl host (dom0, domU 1 guest1, domU 2 guest2),
    with an empty request log."""
    return xenstored_factory(seed_xl=XL_GUESTS)


@pytest.fixture
def backend_peer():
    """Start scripted driver peers: ``backend_peer(daemon, role="closer", ...)``
    (see ``xenstored.peers``); stopped after the test."""
    started = []

    def start(daemon, **kwargs):
        peer = PeerProcess(daemon, **kwargs)
        started.append(peer)
        return peer.start()

    yield start
    for peer in started:
        peer.stop()
