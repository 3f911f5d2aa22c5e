# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection options every XenStore module shares, set the ways users set them, in one real
``ansible-playbook`` run against the test daemon: ``module_defaults`` for the action group
``group/splitdriver.xen.xenstore``, and ``XENSTORED_PATH`` through the ``environment`` keyword.

The play's own environment points ``XENSTORED_RUNDIR`` at an empty directory, so a task that
gets its socket from neither route fails on that directory's socket: the control that shows the
group and the variable are what made the other tasks reach the daemon.
"""

from __future__ import annotations

import pytest
from test_xenstore_device_playbooks import BE, MODULE, WRITE_OPS, device, ops, per_connection, run_playbook, xenstore

pytestmark = pytest.mark.slow

INFO = "splitdriver.xen.xen_domain_info"
GROUP = "group/splitdriver.xen.xenstore"


def test_group_module_defaults_and_environment_reach_every_xenstore_module(tmp_path, xenstored):
    rundir = tmp_path / "rundir"
    rundir.mkdir()
    group = {GROUP: {"socket": xenstored.socket}}
    by_env = {"XENSTORED_PATH": xenstored.socket}
    run = run_playbook(tmp_path, xenstored, [
        {"name": "no socket anywhere", INFO: {}, "ignore_errors": True},
        {"name": "info, group defaults", INFO: {}, "module_defaults": group},
        {"name": "device, group defaults", MODULE: device("guest1"), "module_defaults": group},
        {"name": "info, XENSTORED_PATH", INFO: {}, "environment": by_env},
        {"name": "device, XENSTORED_PATH", MODULE: device("guest1"), "environment": by_env},
        # the group sets request_timeout too: an out-of-range one is refused by both modules
        {"name": "info, group request_timeout", INFO: {},
         "module_defaults": {GROUP: {"socket": xenstored.socket, "request_timeout": "nan"}}, "ignore_errors": True},
        {"name": "device, group request_timeout", MODULE: device("guest1"),
         "module_defaults": {GROUP: {"socket": xenstored.socket, "request_timeout": 0}}, "ignore_errors": True},
    ], environment={"XENSTORED_RUNDIR": str(rundir)})

    control = run["no socket anywhere"]
    assert control["failed"] and control["msg"].startswith("socket %s/socket does not exist" % rundir), control

    for name in ("info, group defaults", "info, XENSTORED_PATH"):
        assert [d["name"] for d in run[name]["domains"]] == ["Domain-0", "guest1", "guest2"], name
    assert run["device, group defaults"]["changed"]
    assert run["device, group defaults"]["devices"][0]["action"] == "created"
    assert not run["device, XENSTORED_PATH"]["changed"]  # the same daemon: already there
    assert xenstore(xenstored, "xenstore-read", BE + "/state").stdout == "1\n"

    assert run["info, group request_timeout"]["msg"] == \
        "request_timeout must be a finite number of seconds, more than 0 and at most 600, got nan"
    assert run["device, group request_timeout"]["msg"] == \
        "request_timeout must be a finite number of seconds, more than 0 and at most 600, got 0.0"

    # four connections, one per task that reached the daemon; only the group-default device task wrote
    connections = per_connection(xenstored)
    assert len(connections) == 4
    assert [bool(ops(conn, WRITE_OPS)) for conn in connections] == [False, True, False, False]
