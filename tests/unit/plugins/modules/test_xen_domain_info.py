# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``xen_domain_info`` main() through the real argument spec, XenStore boundary faked."""

from __future__ import annotations

import json

import pytest

from ansible_collections.splitdriver.xen.tests.unit.plugins.modules.utils import patch_module_args

from ansible_collections.splitdriver.xen.plugins.modules import xen_domain_info


def run_module(monkeypatch, capsys, fake, args, check_mode=False):
    monkeypatch.setattr(xen_domain_info, "XenStore", lambda socket, request_timeout: fake)
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        with pytest.raises(SystemExit):
            xen_domain_info.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def host(fake_xs):
    fake_xs.put("/local/domain/1/device/mydevice/0/state", "4")
    fake_xs.put("/local/domain/1/device/vif/0/state", "4")
    fake_xs.put("/local/domain/0/backend/mydevice/1/0/state", "4")
    fake_xs.put("/local/domain/3/name", "twin")
    fake_xs.put("/local/domain/4/name", "twin")
    fake_xs.put("/local/domain/5/domid", "5")  # no name yet (being built)
    return fake_xs


@pytest.mark.parametrize("check_mode", [False, True])
def test_lists_every_domain(monkeypatch, capsys, host, check_mode):
    result = run_module(monkeypatch, capsys, host, {}, check_mode=check_mode)
    assert result["changed"] is False
    assert [(d["domid"], d["name"]) for d in result["domains"]] == [
        (0, "Domain-0"), (1, "domu1"), (2, "domu2"), (3, "twin"), (4, "twin"), (5, None)]
    dom0, domu1 = result["domains"][0], result["domains"][1]
    assert dom0["backend_types"] == ["mydevice"] and dom0["device_types"] == []
    assert domu1["device_types"] == ["mydevice", "vif"] and domu1["path"] == "/local/domain/1"
    assert host.writes() == []
    assert host.log[-1] == ("transaction_end", "F", 1)


@pytest.mark.parametrize("args, expected", [
    (dict(name="domu2"), [2]),
    (dict(name="twin"), [3, 4]),
    (dict(name="nosuch"), []),
    (dict(domid=1), [1]),
    (dict(domid=77), []),
])
def test_lookup(monkeypatch, capsys, host, args, expected):
    result = run_module(monkeypatch, capsys, host, args)
    assert [d["domid"] for d in result["domains"]] == expected


@pytest.mark.parametrize("args, message", [
    (dict(name="a", domid=1), "parameters are mutually exclusive: name|domid"),
    (dict(domid=-3), "domid must be a domain id between 0 and 32751"),
    (dict(request_timeout=0), "request_timeout must be a finite number of seconds, more than 0 and at most 600, got 0.0"),
    (dict(request_timeout="nan"), "request_timeout must be a finite number of seconds, more than 0 and at most 600, got nan"),
    (dict(request_timeout="-inf"), "request_timeout must be a finite number of seconds, more than 0 and at most 600, got -inf"),
    (dict(request_timeout=600.5), "request_timeout must be a finite number of seconds, more than 0 and at most 600, got 600.5"),
])
def test_bad_input(monkeypatch, capsys, host, args, message):
    result = run_module(monkeypatch, capsys, host, args)
    assert result["failed"] and message in result["msg"]
    assert host.writes() == []
