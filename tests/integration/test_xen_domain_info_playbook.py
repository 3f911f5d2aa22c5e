# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``splitdriver.xen.xen_domain_info`` run by the real ``ansible-playbook`` against the test
XenStore daemon seeded like an xl host; it must write nothing, in check mode too."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from test_xenstore_device_playbooks import run_playbook

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
INFO = "splitdriver.xen.xen_domain_info"


def test_list_and_lookup(tmp_path, xenstored):
    with xenstored.client() as client:
        client.write("/local/domain/1/device/mydevice/0/state", "4")
        client.write("/local/domain/0/backend/mydevice/1/0/state", "4")
    xenstored.clear_log()
    out = tmp_path / "results.json"
    tasks = [
        {"name": "all", INFO: {}, "register": "all"},
        {"name": "by name", INFO: {"name": "guest2"}, "register": "by_name", "check_mode": True},
        {"name": "by domid", INFO: {"domid": 1}, "register": "by_domid"},
        {"name": "unknown", INFO: {"name": "nobody"}, "register": "unknown"},
        {"name": "Save", "ansible.builtin.copy": {
            "content": "{{ {'all': all, 'by_name': by_name, 'by_domid': by_domid, 'unknown': unknown} | to_json }}",
            "dest": str(out), "mode": "0600"}},
    ]
    play = [{"name": "info", "hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "/usr/bin/python3"},
             "environment": {"XENSTORED_PATH": xenstored.socket}, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".ansible", "collections"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    assert [(d["domid"], d["name"]) for d in results["all"]["domains"]] == [(0, "Domain-0"), (1, "guest1"), (2, "guest2")]
    dom0, guest1 = results["all"]["domains"][:2]
    assert dom0["backend_types"] == ["mydevice"] and guest1["device_types"] == ["mydevice", "suspend"]
    assert [d["domid"] for d in results["by_name"]["domains"]] == [2]
    assert [d["name"] for d in results["by_domid"]["domains"]] == ["guest1"]
    assert results["unknown"]["domains"] == []
    assert not any(results[name]["changed"] for name in results)
    assert [e for e in xenstored.requests() if e["op"] in ("WRITE", "MKDIR", "SET_PERMS", "RM")] == []


REQUEST_TIMEOUT_CASES = [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("1e999", "inf"),
                         (0, "0.0"), (-1, "-1.0"), (601, "601.0")]


def test_request_timeout_out_of_range_is_refused_before_connecting(tmp_path, xenstored):
    """Every non-finite or out-of-range request_timeout fails naming the option and the value,
    in one ansible-playbook run, before any connection; the good last task proves the log works."""
    tasks = [{"name": "request_timeout %s" % (value,), INFO: {"request_timeout": value}, "ignore_errors": True}
             for value, shown in REQUEST_TIMEOUT_CASES]
    tasks.append({"name": "good", INFO: {"request_timeout": 600}})
    xenstored.clear_log()
    run = run_playbook(tmp_path, xenstored, tasks)
    for value, shown in REQUEST_TIMEOUT_CASES:
        result = run["request_timeout %s" % (value,)]
        assert result["failed"] is True and result["changed"] is False, result
        assert result["msg"] == ("request_timeout must be a finite number of seconds, more than 0 and at most "
                                 "600, got %s" % shown), result
    assert [d["domid"] for d in run["good"]["domains"]] == [0, 1, 2]
    # only the good task connected
    assert len({e["conn"] for e in xenstored.requests()}) == 1
