# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""splitdriver.xen.site through ansible-runner, the way AWX / AAP runs a job.

A private data dir laid out as AWX writes it for a job (project/ with the job template's
playbook, inventory/, env/envvars and env/extravars), ``ansible_runner.run()`` on it, and the
job's record read back from the artifacts ansible-runner writes (artifacts/<ident>/job_events,
stdout, rc, status), against the test XenStore daemons of test_playbook_fleet.py (one per Xen
host, with a scripted driver peer).
"""

from __future__ import annotations

import glob
import json
import os
import sys

import ansible_runner
import pytest
import yaml

import test_playbook_fleet
from test_playbook_fleet import COLLECTIONS, writes

pytestmark = pytest.mark.slow

fleet = test_playbook_fleet.fleet  # its fixture: test XenStore daemons, one per Xen host

ACTIVATE = "Activate the devices of each Xen host in one transaction"
# Run-wide settings go in the job template's extra variables, host data in the inventory.
RUN_WIDE = ("splitdriver_xen_manage_modules", "splitdriver_xen_check_sysfs", "splitdriver_xen_wait",
            "splitdriver_xen_timeout", "splitdriver_xen_verify_retries", "splitdriver_xen_verify_delay")


def private_data_dir(fleet, path):
    for sub in ("project", "inventory", "env"):
        os.makedirs(os.path.join(path, sub))
    # An AWX project holds a playbook file; this one runs the collection's playbook.
    with open(os.path.join(path, "project", "site.yml"), "w") as out:
        out.write("---\n- name: Roll out the split drivers\n  ansible.builtin.import_playbook: splitdriver.xen.site\n")
    with open(fleet.inventory()) as handle:
        inventory = json.load(handle)
    extravars = {name: inventory["all"]["vars"].pop(name) for name in RUN_WIDE}
    with open(os.path.join(path, "inventory", "hosts.json"), "w") as out:
        json.dump(inventory, out)
    with open(os.path.join(path, "env", "extravars"), "w") as out:
        yaml.safe_dump(extravars, out)
    with open(os.path.join(path, "env", "envvars"), "w") as out:
        # (an execution environment has the collection installed; here it is this checkout)
        yaml.safe_dump({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_NOCOLOR": "1",
                        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}, out)
    return path


def job_events(pdd, ident):
    """The job's events as ansible-runner wrote them to disk, in order."""
    events = []
    for path in glob.glob(os.path.join(pdd, "artifacts", ident, "job_events", "*.json")):
        with open(path) as handle:
            events.append(json.load(handle))
    return sorted(events, key=lambda event: event["counter"])


def activations(events):
    """{Xen host: result} of the activation task's runner_on_ok events."""
    found = {}
    for event in events:
        data = event["event_data"]
        if event["event"] == "runner_on_ok" and data["task"] == ACTIVATE:
            assert data["resolved_action"] == "splitdriver.xen.xenstore_device"
            xen_host = data["res"]["_ansible_delegated_vars"]["ansible_host"]
            assert xen_host not in found, "two activations on %s" % xen_host
            found[xen_host] = data["res"]
    return found


def test_site_runs_as_an_awx_job(fleet, tmp_path):
    fleet.xen_host("xen1", {1: "web1", 2: "web2"})
    fleet.xen_host("xen2", {3: "db1"})
    fleet.xen_host("xen3", {4: "app1", 5: "app2"})
    for guest, xen_host in (("web1", "xen1"), ("web2", "xen1"), ("db1", "xen2"), ("app1", "xen3"), ("app2", "xen3")):
        fleet.guest(guest, xen_host, devids=(0, 1) if guest == "app2" else (0,))
    pdd = private_data_dir(fleet, str(tmp_path / "job"))
    marks = {name: d.mark() for name, d in fleet.daemons.items()}

    first = ansible_runner.run(private_data_dir=pdd, playbook="site.yml", ident="first", quiet=True)

    artifacts = os.path.join(pdd, "artifacts", "first")
    assert (first.status, first.rc) == ("successful", 0), open(os.path.join(artifacts, "stdout")).read()
    with open(os.path.join(artifacts, "rc")) as rc, open(os.path.join(artifacts, "status")) as status:
        assert (rc.read(), status.read()) == ("0", "successful")
    with open(os.path.join(artifacts, "stdout")) as stdout:
        assert "PLAY RECAP" in stdout.read()
    events = job_events(pdd, "first")
    assert [e["event"] for e in events][0] == "playbook_on_start" and events[-1]["event"] == "playbook_on_stats"
    # one activation per Xen host, each creating exactly that host's devices
    results = activations(events)
    assert sorted(results) == ["xen1", "xen2", "xen3"]
    created = {xen: sorted((d["frontend_name"], d["devid"]) for d in res["devices"] if d["action"] == "created")
               for xen, res in results.items()}
    assert created == {"xen1": [("web1", 0), ("web2", 0)], "xen2": [("db1", 0)],
                       "xen3": [("app1", 0), ("app2", 0), ("app2", 1)]}
    assert all(res["changed"] for res in results.values())
    # the recap: the guest that runs its Xen host's activation changed, the others did not
    assert first.stats["changed"] == {"web1": 1, "db1": 1, "app1": 1}
    assert events[-1]["event_data"]["changed"] == first.stats["changed"]
    assert not first.stats["failures"] and not first.stats["dark"]
    for name, daemon in fleet.daemons.items():
        assert writes(daemon.module_requests(marks[name]))

    # The same job again: successful, nothing changed, nothing written.
    marks = {name: d.mark() for name, d in fleet.daemons.items()}
    second = ansible_runner.run(private_data_dir=pdd, playbook="site.yml", ident="second", quiet=True)
    assert (second.status, second.rc) == ("successful", 0)
    results = activations(job_events(pdd, "second"))
    assert sorted(results) == ["xen1", "xen2", "xen3"]
    assert not any(res["changed"] for res in results.values())
    assert not any(second.stats["changed"].values())
    assert sorted(second.stats["processed"]) == sorted(fleet.guests) + ["xen1", "xen2", "xen3"]
    for name, daemon in fleet.daemons.items():
        assert writes(daemon.requests(marks[name])) == []
