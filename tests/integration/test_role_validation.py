# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles check their inputs through ``splitdriver.xen.validated``, i.e. with the module_utils
rules and messages, before anything else: one real ``ansible-playbook`` run that includes each
role with a bad input and records which task failed and why.

Every case points the sources at a directory that does not exist, so a role that let a bad input
through would stop at the kernel_module role's source check, never build: that is also how the
good inputs show they passed every check (the first task to fail is the source check).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._kernel_module import info
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import validate

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
NO_SRC = "/nonexistent/splitdriver-sources"
SOURCE_CHECK = "Check that the sources exist on the controller"


def _message(check, value, option):
    with pytest.raises((validate.ValidationError, info.KernelModuleInfoError)) as exc:
        check(value, option)
    return str(exc.value)


def case(case_id, role, role_vars, task, check=None, option=None, value=None):
    return pytest.param(case_id, role, role_vars, task,
                        _message(check, value, option) if check else None, id=case_id)


def km(**kwargs):
    return dict(dict(kernel_module_name="sdtestok", kernel_module_src=NO_SRC), **kwargs)


CASES = [
    case("backend-type-space", "backend", dict(backend_device_type="my device", backend_src=NO_SRC),
         "Check the backend inputs", validate.check_device_type, "backend_device_type", "my device"),
    case("backend-type-16", "backend", dict(backend_device_type="t" * 16, backend_src=NO_SRC),
         "Check the backend inputs", validate.check_device_type, "backend_device_type", "t" * 16),
    case("backend-type-at", "backend", dict(backend_device_type="@t", backend_src=NO_SRC),
         "Check the backend inputs", validate.check_device_type, "backend_device_type", "@t"),
    case("frontend-type-slash", "frontend", dict(frontend_device_type="my/device", frontend_src=NO_SRC),
         "Check the frontend inputs", validate.check_device_type, "frontend_device_type", "my/device"),
    case("frontend-type-newline", "frontend", dict(frontend_device_type="mydevice\n", frontend_src=NO_SRC),
         "Check the frontend inputs", validate.check_device_type, "frontend_device_type", "mydevice\n"),
    case("frontend-type-empty", "frontend", dict(frontend_device_type="", frontend_src=NO_SRC),
         "Check the frontend inputs", validate.check_device_type, "frontend_device_type", ""),
    case("module-name", "kernel_module", km(kernel_module_name="bad name/../x"),
         "Check the module name", info.validate_name, "kernel_module_name", "bad name/../x"),
    case("module-name-56", "kernel_module", km(kernel_module_name="x" * 56),
         "Check the module name", info.validate_name, "kernel_module_name", "x" * 56),
    case("module-version", "kernel_module", km(kernel_module_version="1/2"),
         "Check the module version", info.validate_version, "kernel_module_version", "1/2"),
    case("module-release", "kernel_module", km(kernel_module_release="../../etc"),
         "Check the kernel release", info.validate_release, "kernel_module_release", "../../etc"),
    case("module-release-newline", "kernel_module", km(kernel_module_release="6.1.0-28-amd64\n"),
         "Check the kernel release", info.validate_release, "kernel_module_release", "6.1.0-28-amd64\n"),
    # a backend module name made too long by its type: the kernel_module role's check
    case("backend-module-name", "backend", dict(backend_module_name="x" * 56, backend_src=NO_SRC),
         "Check the module name", info.validate_name, "kernel_module_name", "x" * 56),
    # good inputs pass every check and stop at the sources
    case("backend-type-15", "backend", dict(backend_device_type="t" * 15, backend_src=NO_SRC), SOURCE_CHECK),
    case("frontend-type-default", "frontend", dict(frontend_src=NO_SRC), SOURCE_CHECK),
    case("module-good", "kernel_module", km(kernel_module_release="6.1.0-28-amd64", kernel_module_version="2.0~rc1"),
         SOURCE_CHECK),
    # an unquoted YAML 1.0 is a float; it names /usr/src/<name>-1.0 as before
    case("module-version-float", "kernel_module", km(kernel_module_version=1.0), SOURCE_CHECK),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Each case as a block that includes the role and records the failed task and message."""
    tmp = tmp_path_factory.mktemp("roles")
    out = tmp / "outcomes.json"
    tasks = [{"name": "Start the record", "ansible.builtin.set_fact": {"outcomes": {}}}]
    for param in CASES:
        case_id, role, role_vars = param.values[:3]
        record = "{{ outcomes | combine({%r: %s}) }}"
        tasks.append({
            "name": case_id,
            "block": [
                {"name": "Run %s" % role, "ansible.builtin.include_role": {
                    "name": "splitdriver.xen." + role, "apply": {"vars": role_vars}}},
                {"name": "Record that the role passed", "ansible.builtin.set_fact": {
                    "outcomes": record % (case_id, "{'task': None, 'msg': 'accepted'}")}},
            ],
            "rescue": [{"name": "Record the failure", "ansible.builtin.set_fact": {
                "outcomes": record % (case_id, "{'task': ansible_failed_task.name, 'msg': ansible_failed_result.msg}")}}],
        })
    save = {"content": "{{ outcomes | to_json }}", "dest": str(out), "mode": "0600"}
    tasks.append({"name": "Save", "ansible.builtin.copy": save})
    play = [{"name": "role validation", "hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]
    (tmp / "play.yml").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".ansible", "collections"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp / "play.yml")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("case_id, role, role_vars, task, message", CASES)
def test_role_checks_with_the_module_utils_rule(outcomes, case_id, role, role_vars, task, message):
    del role, role_vars  # run by the fixture
    outcome = outcomes[case_id]
    assert outcome["task"] == task, outcome
    if message is not None:
        # the filter's error carries the module_utils message unchanged (ansible-core < 2.19
        # words the failed conditional "... failed. The error was: <message>")
        assert outcome["msg"].endswith(("failed: " + message, "The error was: " + message)), outcome
    else:
        assert outcome["msg"].startswith('kernel_module_src "%s" must be a directory' % NO_SRC), outcome
