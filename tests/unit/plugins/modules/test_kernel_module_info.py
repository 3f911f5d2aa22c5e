# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``kernel_module_info`` main() through the real argument spec, ``modinfo`` faked."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.splitdriver.xen.tests.unit.plugins.modules.utils import patch_module_args

from ansible_collections.splitdriver.xen.plugins.modules import kernel_module_info

MODINFO = "name:           m\nalias:          xen:mydevice\nvermagic:       6.1.0-28-amd64 SMP preempt\n"


def run_module(monkeypatch, capsys, args, modinfo=(0, MODINFO, ""), check_mode=False):
    calls = []

    def run_command(self, argv, **kwargs):
        calls.append((argv, kwargs))
        return modinfo

    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, **kw: "/usr/sbin/" + name)
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        with pytest.raises(SystemExit):
            kernel_module_info.main()
    return json.loads(capsys.readouterr().out), calls


@pytest.mark.parametrize("check_mode", [False, True])
def test_reads_a_built_module(monkeypatch, capsys, tmp_path, check_mode):
    ko = tmp_path / "m.ko"
    ko.write_bytes(b"ko")
    src = tmp_path / "src"
    src.mkdir()
    (src / "Makefile").write_text("obj-m += m.o\n")
    result, calls = run_module(monkeypatch, capsys, {
        "name": "m", "release": "6.1.0-28-amd64", "module_path": str(ko), "source_dir": str(src),
        "build_record": str(tmp_path / "none.json")}, check_mode=check_mode)
    assert result["changed"] is False
    assert result["installed"]["aliases"] == ["xen:mydevice"]
    assert result["installed"]["vermagic_release"] == "6.1.0-28-amd64"
    assert result["source"]["kbuild_file"] == "Makefile"
    assert result["build_record"] is None
    assert "running_reference" not in result  # not the running kernel
    assert calls == [(["/usr/sbin/modinfo", str(ko)], {"environ_update": {"LC_ALL": "C"}})]


def test_release_defaults_to_the_running_kernel(monkeypatch, capsys):
    result, calls = run_module(monkeypatch, capsys, {"name": "m"})
    assert result["release"] == result["running_release"] == os.uname()[2]
    assert result["is_running_release"] is True
    assert calls == []


def test_running_kernel_without_shipped_modules_has_no_reference(monkeypatch, capsys, tmp_path):
    """A running release with no /lib/modules/<release>/kernel (as on a kernel without modules)."""
    running = os.uname()
    monkeypatch.setattr(kernel_module_info.os, "uname",
                        lambda: running[:2] + ("0.0.0-splitdriver-test",) + running[3:])
    ko = tmp_path / "m.ko"
    ko.write_bytes(b"ko")
    result, calls = run_module(monkeypatch, capsys, {"name": "m", "module_path": str(ko)})
    assert result["is_running_release"] is True
    assert result["running_reference"] is None
    assert result["headers"] == {"path": "/lib/modules/0.0.0-splitdriver-test/build", "present": False,
                                 "release": None}
    assert result["installed"]["vermagic_flags"] == "SMP preempt"
    assert len(calls) == 1


@pytest.mark.parametrize("args, message", [
    ({"name": "bad name"}, "name 'bad name' is not a valid kernel module name"),
    ({"name": "m", "release": "../etc"}, "release '../etc' is not a valid kernel release"),
])
def test_bad_input_fails_clearly(monkeypatch, capsys, args, message):
    result, calls = run_module(monkeypatch, capsys, args)
    assert result["failed"] is True
    assert message in result["msg"]
    assert calls == []


def test_modinfo_failure_is_reported(monkeypatch, capsys, tmp_path):
    ko = tmp_path / "m.ko"
    ko.write_bytes(b"not a module")
    result, calls = run_module(monkeypatch, capsys, {"name": "m", "module_path": str(ko)},
                               modinfo=(1, "", "modinfo: ERROR: could not get modinfo"))
    assert result["failed"] is True
    assert "modinfo %s failed (rc=1): modinfo: ERROR" % ko in result["msg"]
    assert len(calls) == 1
