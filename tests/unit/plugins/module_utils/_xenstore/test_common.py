# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection options: declared once, documented once, in every XenStore module and its group."""

from __future__ import annotations

import importlib
import os

import pytest
import yaml

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.splitdriver.xen.tests.unit.plugins.modules.utils import patch_module_args

from ansible_collections.splitdriver.xen.plugins.doc_fragments._xenstore import ModuleDocFragment
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import common, domains, validate

ROOT = os.path.dirname(os.path.abspath(__file__)).rsplit(os.sep + "tests" + os.sep, 1)[0]
FRAGMENT = "splitdriver.xen._xenstore"


def _xenstore_modules():
    """Module names whose docs extend the XenStore fragment."""
    found = []
    for filename in sorted(os.listdir(os.path.join(ROOT, "plugins", "modules"))):
        if filename.endswith(".py"):
            module = importlib.import_module("ansible_collections.splitdriver.xen.plugins.modules." + filename[:-3])
            doc = yaml.safe_load(module.DOCUMENTATION)
            if FRAGMENT in doc.get("extends_documentation_fragment", []):
                found.append(filename[:-3])
    return found


def test_spec_matches_the_doc_fragment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = common.connection_argument_spec()
    assert sorted(spec) == sorted(documented)
    for name, option in spec.items():
        assert option["type"] == documented[name]["type"], name
        assert option.get("default") == documented[name].get("default"), name
    assert spec["socket"]["fallback"] == (env_fallback, ["XENSTORED_PATH"])
    assert "E(XENSTORED_PATH)" in " ".join(documented["socket"]["description"])
    assert "V(600)" in " ".join(documented["request_timeout"]["description"])
    assert validate.REQUEST_TIMEOUT_MAX == 600


def test_every_xenstore_module_declares_them_through_the_one_function_and_is_in_the_group():
    modules = _xenstore_modules()
    assert {"xenstore_device", "xen_domain_info"} <= set(modules)
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as f:
        group = yaml.safe_load(f)["action_groups"]["xenstore"]
    assert sorted(group) == modules
    for name in modules:
        module = importlib.import_module("ansible_collections.splitdriver.xen.plugins.modules." + name)
        spec = module.argument_spec()
        for option, declared in common.connection_argument_spec().items():
            assert spec[option] == declared, (name, option)


@pytest.mark.parametrize("args, env, expected", [
    ({}, {}, None),
    ({}, {"XENSTORED_PATH": "/env/sock"}, "/env/sock"),
    ({"socket": "/opt/sock"}, {"XENSTORED_PATH": "/env/sock"}, "/opt/sock"),
])
def test_socket_falls_back_to_xenstored_path(monkeypatch, args, env, expected):
    monkeypatch.delenv("XENSTORED_PATH", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with patch_module_args(args):
        module = AnsibleModule(argument_spec=domains.argument_spec(), **domains.MODULE_KWARGS)
    assert module.params["socket"] == expected
    assert module.params["request_timeout"] == 10.0


@pytest.mark.parametrize("value, error", [
    (10.0, None), (600.0, None), (0.001, None),
    (0.0, "got 0.0"), (float("nan"), "got nan"), (float("inf"), "got inf"), (-5.0, "got -5.0"), (600.1, "got 600.1"),
])
def test_check_connection_options(value, error):
    if error is None:
        common.check_connection_options({"request_timeout": value, "socket": None})
    else:
        with pytest.raises(validate.ValidationError,
                           match="^request_timeout must be a finite number of seconds, more than 0 and at most 600, " + error):
            common.check_connection_options({"request_timeout": value, "socket": None})
