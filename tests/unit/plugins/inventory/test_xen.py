# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The splitdriver.xen.xen inventory plugin class: file names, configuration errors, and the
wiring from its commands to the inventory, with the process boundary (``subprocess.Popen``)
replaced by a recorder. The integration tests run the real commands against test daemons."""

from __future__ import annotations

import shlex
import subprocess

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader

from ansible_collections.splitdriver.xen.plugins.inventory import xen as xen_inventory

# The documented defaults, and those of the two doc fragments' options the plugin reads.
DEFAULTS = {name: spec.get("default") for name, spec in yaml.safe_load(xen_inventory.DOCUMENTATION)["options"].items()}
DEFAULTS.update(strict=False, compose={}, groups={}, keyed_groups=[], leading_separator=True, use_extra_vars=False,
                cache=False, cache_plugin="memory", cache_timeout=3600)

LISTING = {
    "xen1": '/local/domain/0/name = "Domain-0"\n/local/domain/1/name = "web1"\n'
            '/local/domain/1/vm = "/vm/28b20151-8d06-516c-8534-ab24c3c73ca9"\n'
            '/local/domain/1/device/mydevice/0/state = "1"\n',
    "xen2": '/local/domain/0/name = "Domain-0"\n/local/domain/3/name = "db1"\n',
}


class FakePopen:
    """Records every argv; answers with the listing of the host named in it."""

    calls = []

    def __init__(self, argv, **kwargs):
        FakePopen.calls.append((argv, kwargs))
        host = argv[argv.index("--") + 1] if "--" in argv else "xen1"
        self.returncode = 0 if host in LISTING else 255
        self.pid = None
        self._out = LISTING.get(host, "").encode()
        self._err = b"" if host in LISTING else ("ssh: Could not resolve hostname %s" % host).encode()

    def communicate(self, timeout=None):
        assert timeout == 60
        return self._out, self._err


@pytest.fixture
def plugin(monkeypatch):
    """The plugin with its options set as ``_read_config_data`` would from a configuration
    (the way community.general's inventory plugin tests drive theirs)."""
    FakePopen.calls = []
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    module = xen_inventory.InventoryModule()
    monkeypatch.setattr(module, "_read_config_data", lambda path: None)
    return module


def parse(plugin, tmp_path, config):
    path = tmp_path / "test.xen.yml"
    path.write_text(yaml.safe_dump(dict({"plugin": "splitdriver.xen.xen"}, **config)))
    plugin._options = dict(DEFAULTS, **config)  # pylint: disable=protected-access
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=False)
    return inventory


@pytest.mark.parametrize("name, valid", [
    ("fleet.xen.yml", True),
    ("fleet.xen.yaml", True),
    ("xen.yml", True),
    ("xen.yaml", True),
    ("fleet.yml", False),
    ("myxen.yml", False),
    ("fleet.xen.yml.bak", False),
    ("fleet.xen_orchestra.yml", False),
])
def test_verify_file(plugin, tmp_path, name, valid):
    path = tmp_path / name
    path.write_text("plugin: splitdriver.xen.xen\n")
    assert plugin.verify_file(str(path)) is valid


def test_ssh_command_and_the_resulting_inventory(plugin, tmp_path):
    inventory = parse(plugin, tmp_path, {
        "xen_hosts": ["xen1", {"name": "xen2", "user": "admin", "port": 2222, "become": True}],
        "ssh_args": ["-F", "/etc/xen_ssh_config"], "read_state": False})

    calls = {argv[-2]: (argv, kwargs) for argv, kwargs in FakePopen.calls}  # the hosts are asked in parallel
    argv, kwargs = calls["xen1"]
    assert argv == ["ssh", "-F", "/etc/xen_ssh_config", "-o", "BatchMode=yes", "-T", "--", "xen1",
                    "env LC_ALL=C sh -c 'xenstore-ls -f /local/domain || exit'"]
    assert kwargs["start_new_session"] and kwargs["stdin"] == subprocess.DEVNULL
    argv, _kwargs = calls["xen2"]
    assert argv[-7:-1] == ["-p", "2222", "-l", "admin", "--", "xen2"]
    assert shlex.split(argv[-1])[:3] == ["sudo", "-n", "env"]

    assert sorted(inventory.hosts) == ["db1", "web1", "xen1", "xen2"]
    web1 = inventory.get_host("web1").get_vars()
    assert web1["splitdriver_xen_host"] == "xen1" and web1["splitdriver_xen_domid"] == 1
    assert web1["splitdriver_xen_uuid"] == "28b20151-8d06-516c-8534-ab24c3c73ca9"
    assert web1["splitdriver_xen_device_types"] == ["mydevice"]
    assert sorted(h.name for h in inventory.groups["xen_frontends"].get_hosts()) == ["db1", "web1"]
    assert sorted(h.name for h in inventory.groups["xen_backends"].get_hosts()) == ["xen1", "xen2"]
    assert [h.name for h in inventory.groups["xen_device_mydevice"].get_hosts()] == ["web1"]


def test_a_failed_host_is_a_warning_unless_strict(plugin, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(plugin.display, "warning", warnings.append)
    inventory = parse(plugin, tmp_path, {"xen_hosts": ["xen1", "nowhere"]})
    assert "web1" in inventory.hosts and "nowhere" in inventory.hosts
    assert warnings == ["splitdriver.xen.xen: Xen host nowhere (ssh nowhere) could not be listed, its guests are "
                        "missing: ssh exited with 255: ssh: Could not resolve hostname nowhere"]
    with pytest.raises(AnsibleParserError, match="Xen host nowhere .ssh nowhere. could not be listed"):
        parse(plugin, tmp_path, {"xen_hosts": ["xen1", "nowhere"], "strict": True})


@pytest.mark.parametrize("config, message", [
    ({"xen_hosts": []}, "test.xen.yml: xen_hosts must be a non-empty list"),
    ({"xen_hosts": [{"name": "xen1", "adress": "x"}]}, "test.xen.yml: xen_hosts[0]: unknown key(s) adress"),
    ({"xen_hosts": ["xen1"], "transport": "telnet"}, "test.xen.yml: transport must be one of ssh, local"),
])
def test_bad_configuration_is_a_parser_error_and_runs_nothing(plugin, tmp_path, config, message):
    with pytest.raises(AnsibleParserError) as err:
        parse(plugin, tmp_path, config)
    assert message in str(err.value)
    assert FakePopen.calls == []
