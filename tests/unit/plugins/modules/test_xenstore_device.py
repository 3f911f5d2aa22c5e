# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``xenstore_device`` main() through the real argument spec, with the XenStore boundary faked.

Every bad input must fail with a message naming the cause and write nothing.
"""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.splitdriver.xen.tests.unit.plugins.modules.utils import patch_module_args

from ansible_collections.splitdriver.xen.plugins.modules import xenstore_device
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import device as device_logic

FE = "/local/domain/1/device/mydevice/0"
BE = "/local/domain/0/backend/mydevice/1/0"


def run_module(monkeypatch, capsys, fake, args, check_mode=False, diff=False):
    """Run main() with ``args``; return (result dict, failed)."""
    opened = []

    def factory(socket, request_timeout):
        opened.append((socket, request_timeout))
        return fake
    monkeypatch.setattr(xenstore_device, "XenStore", factory)
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            xenstore_device.main()
    result = json.loads(capsys.readouterr().out)
    result["_opened"] = opened
    assert (info.value.code != 0) == bool(result.get("failed"))
    return result


def test_create_then_rerun(monkeypatch, capsys, fake_xs):
    result = run_module(monkeypatch, capsys, fake_xs, dict(type="mydevice", frontend="domu1"))
    assert result["changed"] and not result.get("failed")
    assert result["devices"][0]["action"] == "created"
    assert result["devices"][0]["frontend_name"] == "domu1"
    writes = [(op, path) for op, path, tx in fake_xs.writes()]
    assert writes[:4] == [("mkdir", FE), ("set_perms", FE), ("mkdir", BE), ("set_perms", BE)]
    assert writes[-2:] == [("write", FE + "/state"), ("write", BE + "/state")]
    assert len(writes) == 11
    assert all(tx == 1 for op, path, tx in fake_xs.writes())
    assert [e for e in fake_xs.log if e[0].startswith("transaction")] == [
        ("transaction_start", "", 0), ("transaction_end", "T", 1)]
    assert fake_xs.nodes[FE] == ["", ["n1", "r0"]] and fake_xs.nodes[BE + "/online"] == ["1", ["n0", "r1"]]
    assert "diff" not in result

    fake_xs.log.clear()
    again = run_module(monkeypatch, capsys, fake_xs, dict(type="mydevice", frontend="domu1"))
    assert not again["changed"] and again["devices"][0]["action"] == "unchanged"
    assert fake_xs.writes() == []
    # a read-only transaction is aborted, not committed
    assert fake_xs.log[-1] == ("transaction_end", "F", 1)


def test_check_mode_predicts_exactly_and_writes_nothing(monkeypatch, capsys, fake_xs):
    args = dict(devices=[dict(type="mydevice", frontend="1"), dict(type="mydevice", frontend="domu2", devid=3)])
    predicted = run_module(monkeypatch, capsys, fake_xs, args, check_mode=True, diff=True)
    assert fake_xs.writes() == []
    real = run_module(monkeypatch, capsys, fake_xs, args, diff=True)
    for key in ("changed", "devices", "diff", "removed", "pruned"):
        assert predicted[key] == real[key], key
    assert real["diff"]["before"] == {}
    assert real["diff"]["after"][BE] == {"perms": "n0,r1"}
    assert real["diff"]["after"][FE + "/backend"] == {"perms": "n1,r0", "value": BE}


def test_drift_is_repaired_and_reported(monkeypatch, capsys, fake_xs):
    run_module(monkeypatch, capsys, fake_xs, dict(type="mydevice", frontend="1"))
    fake_xs.put(BE + "/state", "4")
    fake_xs.put(BE + "/frontend-id", "7")
    fake_xs.nodes[FE][1] = ["n1"]
    fake_xs.put(BE + "/ring-ref", "12")  # a driver's key: not drift
    fake_xs.log.clear()
    result = run_module(monkeypatch, capsys, fake_xs, dict(type="mydevice", frontend="1"), diff=True)
    assert result["changed"] and result["devices"][0]["action"] == "repaired"
    assert [(op, path) for op, path, tx in fake_xs.writes()] == [("set_perms", FE), ("write", BE + "/frontend-id")]
    assert fake_xs.nodes[BE + "/state"][0] == "4" and BE + "/ring-ref" in fake_xs.nodes
    assert result["diff"]["before"][FE] == {"perms": "n1"}
    assert result["diff"]["after"][FE] == {"perms": "n1,r0"}


BAD_INPUTS = [
    # (args, message, connects): connects=False when the input is rejected before connecting
    (dict(type="mydevice", frontend="9"), r"frontend domain 9 does not exist \(no /local/domain/9\)", True),
    (dict(type="mydevice", frontend="nosuch"), "no domain is named 'nosuch'", True),
    (dict(type="mydevice", frontend="twin"), "domain name 'twin' is ambiguous: domains 3, 4", True),
    (dict(type="mydevice", frontend="0"), "frontend and backend are the same domain", True),
    (dict(type="mydevice", frontend="2", backend_domid=2), "same domain", True),
    (dict(type="mydevice", frontend="1", backend_domid=8), "backend domain 8 does not exist", True),
    (dict(type="my.device", frontend="1"), "type 'my.device' contains characters outside", False),
    (dict(type="averyveryverylongtype", frontend="1"), "type 'averyveryverylongtype' is 21 characters long, more than the limit of 15", False),
    (dict(type="abcdefghijklmno", frontend="123"), "backend bus id 'abcdefghijklmno-123-0' is 21 characters", False),
    (dict(type="abcdefghijklmno", frontend="domu1", devid=10), "abcdefghijklmno-<domid of domu1>-10 has at least 20 characters", False),
    (dict(type="mydevice", frontend="1", devid=-1), "devid -1 is out of range", False),
    (dict(type="mydevice", frontend="1", devid=2 ** 31), "devid 2147483648 is out of range", False),
    (dict(type="mydevice", frontend="40000"), "frontend must be a domain id between 0 and 32751", False),
    (dict(type="mydevice", frontend=40000), "frontend must be a domain id between 0 and 32751", False),
    (dict(type="mydevice", frontend=True), "frontend must be a domain id or a domain name", False),
    (dict(type="mydevice", frontend=["guest1"]), "frontend must be a domain id or a domain name", False),
    (dict(type="mydevice", frontend=1.5), "frontend must be a domain id or a domain name", False),
    (dict(type="mydevice", frontend="1", frontend_entries={"a/b": "1"}), "frontend_entries key 'a/b' is not a plain relative name", False),
    (dict(type="mydevice", frontend="1", backend_entries={"online": "0"}), "backend_entries key 'online' collides", False),
    (dict(type="mydevice", frontend="1", frontend_entries={"backend-id": "3"}), "collides", False),
    (dict(type="mydevice", frontend="1", backend_entries={"mode": "r\nw"}), "must be printable ASCII", True),
    (dict(type="mydevice", frontend="1", backend_entries={"big": "x" * 2049}), "more than the limit of 2048 bytes", True),
    (dict(devices=[dict(type="mydevice", frontend="1"), dict(type="mydevice", frontend="domu1")]),
     r"devices\[0\] and devices\[1\] are the same device: mydevice device 0 of domain 1", True),
    (dict(devices=[dict(type="ok", frontend="1"), dict(type="b@d", frontend="1")]), r"devices\[1\]: type 'b@d'", False),
    (dict(type="mydevice", frontend="1", timeout=0), "timeout must be a finite number of seconds, more than 0 and at most 3600, got 0.0",
     False),
    (dict(type="mydevice", frontend="1", timeout="nan"), "timeout must be a finite number of seconds, more than 0 and at most 3600, got nan",
     False),
    (dict(type="mydevice", frontend="1", wait="connected", timeout="inf"),
     "timeout must be a finite number of seconds, more than 0 and at most 3600, got inf", False),
    (dict(type="mydevice", frontend="1", request_timeout=-1),
     "request_timeout must be a finite number of seconds, more than 0 and at most 600, got -1.0", False),
    (dict(type="mydevice", frontend="1", request_timeout="1e999"),
     "request_timeout must be a finite number of seconds, more than 0 and at most 600, got inf", False),
    (dict(type="mydevice", frontend="1", retries=-1), "retries must be an integer from 0 to 100, got -1", False),
    (dict(type="mydevice", frontend="1", retries=101), "retries must be an integer from 0 to 100, got 101", False),
    (dict(type="mydevice"), "parameters are required together: type, frontend", False),
    (dict(), "one of the following is required: devices, type", False),
    (dict(devices=[], type="x", frontend="1"), "mutually exclusive: devices|type", False),
    (dict(type="mydevice", frontend="1", wait="forever"), "value of wait must be one of", False),
]


@pytest.mark.parametrize("args, message, connects", BAD_INPUTS)
@pytest.mark.parametrize("check_mode", [False, True])
def test_bad_input_fails_clearly_and_writes_nothing(monkeypatch, capsys, fake_xs, args, message, connects, check_mode):
    fake_xs.put("/local/domain/3/name", "twin")
    fake_xs.put("/local/domain/4/name", "twin")
    result = run_module(monkeypatch, capsys, fake_xs, args, check_mode=check_mode)
    assert result["failed"] and not result.get("changed")
    assert re.search(message, result["msg"]), result["msg"]
    assert fake_xs.writes() == []
    if not connects:
        assert fake_xs.log == [] and result["_opened"] == []


def test_empty_device_list_is_a_no_op(monkeypatch, capsys, fake_xs):
    result = run_module(monkeypatch, capsys, fake_xs, dict(devices=[], state="absent", prune_stale=True))
    assert not result["changed"] and result["devices"] == [] and not result.get("failed")
    assert fake_xs.log == [] and result["_opened"] == []


def test_missing_pyxs(monkeypatch, capsys, fake_xs):
    monkeypatch.setattr(xenstore_device, "HAS_PYXS", False)
    monkeypatch.setattr(xenstore_device, "PYXS_IMPORT_ERROR", "Traceback: No module named 'pyxs'")
    result = run_module(monkeypatch, capsys, fake_xs, dict(type="mydevice", frontend="1"))
    assert result["failed"] and "Failed to import the required Python library (pyxs)" in result["msg"]
    assert fake_xs.log == []


def test_frontend_as_an_integer_needs_no_conversion(monkeypatch, capsys, fake_xs):
    result = run_module(monkeypatch, capsys, fake_xs, dict(devices=[dict(type="mydevice", frontend=2)]))
    assert result["devices"][0]["frontend"] == 2 and "warnings" not in result


def test_socket_and_request_timeout_reach_the_client(monkeypatch, capsys, fake_xs):
    result = run_module(monkeypatch, capsys, fake_xs,
                        dict(type="mydevice", frontend="1", socket="/run/x/sock", request_timeout=2.5))
    assert result["_opened"] == [("/run/x/sock", 2.5)]


def test_eagain_reruns_read_plan_write(monkeypatch, capsys, fake_xs):
    fake_xs.eagain_commits = 2
    result = run_module(monkeypatch, capsys, fake_xs, dict(type="mydevice", frontend="1"))
    assert result["changed"]
    ends = [e for e in fake_xs.log if e[0] == "transaction_end"]
    assert len(ends) == 3
    # each attempt re-read, re-planned and re-wrote everything (the failed commits wrote nothing)
    assert len(fake_xs.writes()) == 3 * 11
    assert result["devices"][0]["action"] == "created"


def test_eagain_exhausted(monkeypatch, capsys, fake_xs):
    fake_xs.eagain_commits = 100
    result = run_module(monkeypatch, capsys, fake_xs, dict(type="mydevice", frontend="1", retries=2))
    assert result["failed"]
    assert "gave up after 3 attempts (retries=2)" in result["msg"]
    assert FE not in fake_xs.nodes


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        self.now += 0.5
        return self.now


def params(**kwargs):
    base = dict((name, spec.get("default")) for name, spec in device_logic.argument_spec().items())
    base.update(kwargs)
    return base


def test_wait_connected_with_a_peer(fake_xs):
    def peer(fake):
        fake.put(BE + "/state", "4")
        fake.put(FE + "/state", "4")
        return [BE + "/state", FE + "/state"]
    fake_xs.peer = peer
    manager = device_logic.DeviceManager(fake_xs, params(type="mydevice", frontend="1", wait="connected"), clock=Clock())
    result = manager.run()
    assert result["devices"][0]["state_after"] == {"frontend": 4, "backend": 4}
    assert ("watch", "/local/domain/1/device/mydevice", 0) in fake_xs.log
    assert ("unwatch", "/local/domain/0/backend/mydevice/1", 0) in fake_xs.log


def test_wait_timeout_reports_both_states_and_driver_errors(fake_xs):
    fake_xs.put("/local/domain/0/error/backend/mydevice/1/0/error", "mapping ring failed")
    manager = device_logic.DeviceManager(
        fake_xs, params(type="mydevice", frontend="1", wait="initwait", timeout=3), clock=Clock())
    with pytest.raises(device_logic.DeviceError) as info:
        manager.run()
    message = info.value.message
    assert message.startswith("timed out after 3 s (timeout) waiting for the backend to reach InitWait (2) or later")
    assert "frontend state 1 (Initialising), backend state 1 (Initialising)" in message
    assert "backend driver error: mapping ring failed" in message
    assert info.value.extra["changed"] is True
    assert manager.committed


def closing_backend(fake):
    """The backend driver's side of a removal: answers Closing (5) with Closed (6)."""
    if fake.read(BE + "/state") == "5":
        fake.put(BE + "/state", "6")
        return [BE + "/state"]
    return []


def test_absent_handshake_then_removal(fake_xs):
    manager = device_logic.DeviceManager(fake_xs, params(type="mydevice", frontend="1"))
    manager.run()
    fake_xs.put(BE + "/state", "4")
    fake_xs.log.clear()
    fake_xs.peer = closing_backend
    result = device_logic.DeviceManager(fake_xs, params(type="mydevice", frontend="1", state="absent"),
                                        clock=Clock()).run()
    assert result["changed"] and result["devices"][0]["action"] == "removed"
    assert result["devices"][0]["state_before"] == {"frontend": 1, "backend": 4}
    writes = [(op, path) for op, path, tx in fake_xs.writes()]
    assert writes == [("write", BE + "/online"), ("write", BE + "/state"), ("rm", FE), ("rm", BE),
                      ("rm", "/local/domain/0/backend/mydevice"), ("rm", "/local/domain/1/device/mydevice")]
    assert "/local/domain/0/backend" in fake_xs.nodes and "/local/domain/1/device" in fake_xs.nodes
    assert result["removed"] == ["/local/domain/0/backend/mydevice", "/local/domain/1/device/mydevice"]


def test_absent_timeout_when_nobody_answers(fake_xs):
    device_logic.DeviceManager(fake_xs, params(type="mydevice", frontend="1")).run()
    manager = device_logic.DeviceManager(fake_xs, params(type="mydevice", frontend="1", state="absent", timeout=2),
                                         clock=Clock())
    with pytest.raises(device_logic.DeviceError) as info:
        manager.run()
    assert "waiting for the backend to answer Closing (5) with Closed (6)" in info.value.message
    assert "backend state 5 (Closing)" in info.value.message
    assert "force=true removes the devices without the handshake" in info.value.message
    assert info.value.extra["devices"][0]["action"] == "closing"
    assert FE in fake_xs.nodes and BE in fake_xs.nodes


def test_absent_force_removes_at_once(fake_xs):
    device_logic.DeviceManager(fake_xs, params(type="mydevice", frontend="1")).run()
    fake_xs.log.clear()
    result = device_logic.DeviceManager(fake_xs, params(type="mydevice", frontend="1", state="absent", force=True)).run()
    assert [(op, path) for op, path, tx in fake_xs.writes()] == [
        ("rm", FE), ("rm", BE), ("rm", "/local/domain/0/backend/mydevice"), ("rm", "/local/domain/1/device/mydevice")]
    assert result["changed"] and FE not in fake_xs.nodes and BE not in fake_xs.nodes


def test_check_mode_predicts_the_removal_after_the_handshake(monkeypatch, capsys, fake_xs):
    device_logic.DeviceManager(fake_xs, params(type="mydevice", frontend="1")).run()
    fake_xs.put(BE + "/state", "4")
    fake_xs.log.clear()
    args = dict(type="mydevice", frontend="1", state="absent")
    predicted = run_module(monkeypatch, capsys, fake_xs, args, check_mode=True, diff=True)
    assert fake_xs.writes() == []
    fake_xs.peer = closing_backend
    real = run_module(monkeypatch, capsys, fake_xs, args, diff=True)
    for key in ("changed", "devices", "diff", "removed", "pruned"):
        assert predicted[key] == real[key], key
    assert real["removed"] == ["/local/domain/0/backend/mydevice", "/local/domain/1/device/mydevice"]
