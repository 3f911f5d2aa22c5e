# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``xenstore_device_info`` main() through the real argument spec, XenStore boundary faked.

The host holds a device in every condition; the module must name each, filter by type,
frontend and backend (domid or name), report driver keys and error nodes, treat EACCES and
ENOENT as absent, and never write.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.splitdriver.xen.tests.unit.plugins.modules.utils import patch_module_args

from ansible_collections.splitdriver.xen.plugins.modules import xenstore_device_info
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import XenStoreError
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.conditions import CODES


def counting(fake):
    """Make ``fake`` (the conftest's FakeXenStore) count its batches (one per level) and answer
    EACCES for the paths in ``fake.denied``."""
    fake.batches = []
    fake.denied = set()
    batch, apply = fake.batch, fake._apply

    def counted_batch(requests, tx_id=0, raise_errors=True):
        fake.batches.append(list(requests))
        return batch(requests, tx_id, raise_errors)

    def guarded_apply(request):
        if request[1] in fake.denied:
            raise XenStoreError("EACCES", errno="EACCES", op=request[0], path=request[1])
        return apply(request)
    fake.batch, fake._apply = counted_batch, guarded_apply
    return fake


def fe_dir(f, n, t="mydevice"):
    return "/local/domain/%d/device/%s/%d" % (f, t, n)


def be_dir(f, n, t="mydevice", b=0):
    return "/local/domain/%d/backend/%s/%d/%d" % (b, t, f, n)


def add(fake, f, n, t="mydevice", b=0, fs="4", bs="4", frontend=True, backend=True):
    """One device as libxl lays it out (perms included), in the given states."""
    fe, be = fe_dir(f, n, t), be_dir(f, n, t, b)
    if frontend:
        fake.put(fe, "", ["n%d" % f, "r%d" % b])
        for key, value in (("backend", be), ("backend-id", str(b)), ("state", fs)):
            fake.put(fe + "/" + key, value)
    if backend:
        fake.put(be, "", ["n%d" % b, "r%d" % f])
        for key, value in (("frontend", fe), ("frontend-id", str(f)), ("online", "1"), ("state", bs)):
            fake.put(be + "/" + key, value)


# (type, frontend domid, devid, backend domid) -> expected condition
EXPECTED = {
    ("mydevice", 1, 0, 0): "ok",
    ("mydevice", 1, 1, 0): "backend-closed",
    ("mydevice", 1, 2, 0): "frontend-closed",
    ("mydevice", 1, 3, 0): "backend-missing",
    ("mydevice", 1, 4, 0): "incomplete",
    ("mydevice", 2, 0, 0): "frontend-missing",
    ("mydevice", 2, 1, 0): "incomplete",
    ("mydevice", 2, 2, 0): "perms",
    ("mydevice", 2, 3, 0): "pointer-mismatch",
    ("mydevice", 2, 4, 0): "driver-error",
    ("mydevice", 9, 0, 0): "frontend-domain-gone",
    ("other", 1, 0, 7): "backend-domain-gone",
    ("other", 2, 0, 3): "ok",
    ("vif", 1, 0, 0): "ok",
}


@pytest.fixture
def host(fake_xs):
    """dom0, domu1 (1), domu2 (2), the driver domain netdrv (3); a device in every condition."""
    fake = counting(fake_xs.seed_xl({3: "netdrv"}))
    add(fake, 1, 0)
    for key, value in (("ring-ref", "8"), ("event-channel", "12"), ("feature-x", "1")):
        fake.put(fe_dir(1, 0) + "/" + key, value)
    fake.put(be_dir(1, 0) + "/hotplug-status", "connected")
    add(fake, 1, 1, bs="6")
    add(fake, 1, 2, fs="6")
    add(fake, 1, 3, fs="5", backend=False)
    fake.put("/local/domain/1/error/device/mydevice/3/error",
             "-2 unable to read other end from device/mydevice/3.  missing or inaccessible.")
    add(fake, 1, 4, fs="1", backend=False)
    add(fake, 2, 0, bs="2", frontend=False)
    add(fake, 2, 1, bs="1", frontend=False)
    add(fake, 2, 2)
    fake.nodes[fe_dir(2, 2)][1] = ["n2"]
    fake.nodes[be_dir(2, 2) + "/state"][1] = ["n0"]
    add(fake, 2, 3)
    fake.put(be_dir(2, 3) + "/frontend-id", "1")
    add(fake, 2, 4)
    fake.put("/local/domain/0/error/backend/mydevice/2/4/error", "-12 allocating ring")
    add(fake, 9, 0, bs="6", frontend=False)  # xl destroy of domain 9 left this behind
    add(fake, 1, 0, t="other", b=7, backend=False)  # driver domain 7 died
    add(fake, 2, 0, t="other", b=3)
    add(fake, 1, 0, t="vif")
    fake.log.clear()
    return fake


def run_module(monkeypatch, capsys, fake, args, check_mode=False):
    opened = []

    def factory(socket, request_timeout):
        opened.append((socket, request_timeout))
        return fake
    monkeypatch.setattr(xenstore_device_info, "XenStore", factory)
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        with pytest.raises(SystemExit) as info:
            xenstore_device_info.main()
    result = json.loads(capsys.readouterr().out)
    assert (info.value.code != 0) == bool(result.get("failed"))
    result["_opened"] = opened
    return result


def key_of(device):
    return (device["type"], device["frontend"]["domid"], device["devid"], device["backend"]["domid"])


def assert_read_only(fake):
    assert fake.writes() == []
    ends = [entry for entry in fake.log if entry[0] == "transaction_end"]
    assert ends == [("transaction_end", "F", 1)]
    assert sum(entry[0] == "transaction_start" for entry in fake.log) == 1
    # every read is inside the transaction
    assert all(entry[2] == 1 for entry in fake.log if not entry[0].startswith("transaction"))


@pytest.mark.parametrize("check_mode", [False, True])
def test_every_condition_is_named(monkeypatch, capsys, host, check_mode):
    result = run_module(monkeypatch, capsys, host, {}, check_mode=check_mode)
    assert result["changed"] is False and not result.get("failed")
    found = dict((key_of(d), d["condition"]) for d in result["devices"])
    assert found == EXPECTED
    assert [key_of(d) for d in result["devices"]] == sorted(EXPECTED)
    assert set(found.values()) == set(CODES) | {"ok"}
    counts = {}
    for condition in EXPECTED.values():
        counts[condition] = counts.get(condition, 0) + 1
    assert result["summary"] == counts
    for device in result["devices"]:
        assert [c["code"] for c in device["conditions"]][:1] == ([] if device["condition"] == "ok" else [device["condition"]])
        for condition in device["conditions"]:
            assert condition["message"].startswith("%s device %d of domain %d: " % (
                device["type"], device["devid"], device["frontend"]["domid"]))
    assert_read_only(host)
    # one batch per level: /local/domain, names, type dirs, per-type dirs, device dirs and the
    # backends' per-frontend dirs, backend device dirs, then every key/perms/error node
    assert len(host.batches) == 7


def test_a_healthy_device_reports_both_ends_and_every_key(monkeypatch, capsys, host):
    result = run_module(monkeypatch, capsys, host, dict(type="mydevice", frontend=1))
    device = result["devices"][0]
    assert device["frontend"] == {
        "domid": 1, "name": "domu1", "path": fe_dir(1, 0), "exists": True, "state": 4, "state_name": "Connected",
        "perms": "n1,r0", "error": None,
        "keys": {"backend": be_dir(1, 0), "backend-id": "0", "event-channel": "12", "feature-x": "1",
                 "ring-ref": "8", "state": "4"}}
    assert device["backend"] == {
        "domid": 0, "name": "Domain-0", "path": be_dir(1, 0), "exists": True, "state": 4, "state_name": "Connected",
        "perms": "n0,r1", "error": None, "online": True,
        "keys": {"frontend": fe_dir(1, 0), "frontend-id": "1", "hotplug-status": "connected", "online": "1",
                 "state": "4"}}
    assert device["conditions"] == [] and device["condition"] == "ok"


@pytest.mark.parametrize("key, words", [
    (("mydevice", 1, 3, 0), ["backend-missing", "driver-error", "unable to read other end"]),
    (("mydevice", 2, 2, 0), ["perms", "frontend directory " + fe_dir(2, 2) + " has n2 (libxl: n2,r0)",
                             "backend key state has n0 (libxl: n0,r2)"]),
    (("mydevice", 2, 3, 0), ["pointer-mismatch", "the backend's frontend-id is '1', not 2"]),
    (("mydevice", 2, 4, 0), ["driver-error", "'-12 allocating ring'"]),
    (("mydevice", 9, 0, 0), ["frontend-domain-gone", be_dir(9, 0)]),
    (("other", 1, 0, 7), ["backend-domain-gone", "backend domain 7 no longer exists"]),
])
def test_details_reach_the_messages(monkeypatch, capsys, host, key, words):
    result = run_module(monkeypatch, capsys, host, {})
    device = next(d for d in result["devices"] if key_of(d) == key)
    text = " ".join([c["code"] for c in device["conditions"]] + [c["message"] for c in device["conditions"]])
    for word in words:
        assert word in text, (word, text)


def test_missing_and_gone_ends(monkeypatch, capsys, host):
    result = run_module(monkeypatch, capsys, host, {})
    by_key = dict((key_of(d), d) for d in result["devices"])
    leftover = by_key[("mydevice", 9, 0, 0)]
    assert leftover["frontend"]["exists"] is False and leftover["frontend"]["name"] is None
    assert leftover["frontend"]["keys"] == {} and leftover["frontend"]["state"] is None
    assert leftover["backend"]["state_name"] == "Closed"
    dead_backend = by_key[("other", 1, 0, 7)]
    assert dead_backend["backend"]["exists"] is False and dead_backend["backend"]["name"] is None
    assert dead_backend["backend"]["path"] == "/local/domain/7/backend/other/1/0"
    assert dead_backend["backend"]["online"] is None
    assert by_key[("mydevice", 1, 3, 0)]["frontend"]["error"].startswith("-2 unable to read other end")


@pytest.mark.parametrize("args, expected", [
    (dict(type="vif"), [("vif", 1, 0, 0)]),
    (dict(type=["vif", "other"]), [("other", 1, 0, 7), ("other", 2, 0, 3), ("vif", 1, 0, 0)]),
    (dict(type="vif,other"), [("other", 1, 0, 7), ("other", 2, 0, 3), ("vif", 1, 0, 0)]),
    (dict(type=[]), []),
    (dict(type="nosuchtype"), []),
    (dict(frontend="domu2", type="other"), [("other", 2, 0, 3)]),
    (dict(frontend=2, type="other"), [("other", 2, 0, 3)]),
    (dict(frontend="2", backend="netdrv"), [("other", 2, 0, 3)]),
    (dict(backend=3), [("other", 2, 0, 3)]),
    (dict(backend="Domain-0", type="other"), []),
    (dict(backend=7), [("other", 1, 0, 7)]),  # the dead driver domain's devices, by domid
    (dict(frontend=9), [("mydevice", 9, 0, 0)]),  # a gone guest's leftovers, by domid
    (dict(frontend=1, backend=0, type="mydevice"), [("mydevice", 1, n, 0) for n in range(5)]),
    (dict(frontend=["domu2", 9], type="mydevice", backend=[0, "netdrv"]),
     [("mydevice", 2, n, 0) for n in range(5)] + [("mydevice", 9, 0, 0)]),
    (dict(frontend=["domu2", "1"], type="other"), [("other", 1, 0, 7), ("other", 2, 0, 3)]),
    (dict(frontend=[]), []),
    (dict(backend=[]), []),
])
def test_filters(monkeypatch, capsys, host, args, expected):
    result = run_module(monkeypatch, capsys, host, args)
    assert [key_of(d) for d in result["devices"]] == expected
    assert sum(result["summary"].values()) == len(expected)
    assert_read_only(host)


def test_a_filter_reads_only_what_it_selects(monkeypatch, capsys, host):
    run_module(monkeypatch, capsys, host, dict(type="mydevice", frontend="domu1"))
    paths = [entry[1] for entry in host.log]
    assert not [p for p in paths if p.startswith("/local/domain/2/device/")]
    assert not [p for p in paths if p.startswith("/local/domain/0/backend/mydevice/2")]
    assert not [p for p in paths if "/other" in p or "/vif" in p]
    # a type filter needs no listing of the device/ and backend/ directories
    assert "/local/domain/1/device" not in paths and "/local/domain/0/backend" not in paths
    assert len(host.batches) == 6


def test_eacces_and_enoent_mean_absent(monkeypatch, capsys, host):
    host.denied.update({fe_dir(1, 0) + "/ring-ref", be_dir(1, 0), "/local/domain/2/name",
                        "/local/domain/1/device/mydevice/4"})
    result = run_module(monkeypatch, capsys, host, dict(type="mydevice"))
    assert not result.get("failed")
    by_key = dict((key_of(d), d) for d in result["devices"])
    healthy = by_key[("mydevice", 1, 0, 0)]
    assert healthy["frontend"]["keys"]["ring-ref"] is None
    # a directory that cannot be listed exists (its parent says so) but shows no keys nor perms
    assert healthy["backend"]["exists"] and healthy["backend"]["keys"] == {} and healthy["backend"]["perms"] is None
    unlisted = by_key[("mydevice", 1, 4, None)]
    assert unlisted["frontend"]["exists"] and unlisted["frontend"]["keys"] == {}
    assert unlisted["backend"]["path"] is None and unlisted["condition"] == "pointer-mismatch"
    assert by_key[("mydevice", 2, 0, 0)]["frontend"]["name"] is None


def test_other_errors_fail_clearly(monkeypatch, capsys, host):
    apply = host._apply

    def broken(request):
        if request[1] == "/local/domain/0/backend/mydevice":
            raise XenStoreError("XenStore DIRECTORY /local/domain/0/backend/mydevice failed: E2BIG",
                                errno="E2BIG", op="directory", path=request[1])
        return apply(request)
    monkeypatch.setattr(host, "_apply", broken)
    result = run_module(monkeypatch, capsys, host, dict(type="mydevice"))
    assert result["failed"] and "E2BIG" in result["msg"] and "/local/domain/0/backend/mydevice" in result["msg"]
    assert host.writes() == []
    assert [e for e in host.log if e[0] == "transaction_end"] == [("transaction_end", "F", 1)]


@pytest.mark.parametrize("option", ["frontend", "backend"])
def test_unknown_name_fails_and_reads_nothing_else(monkeypatch, capsys, host, option):
    result = run_module(monkeypatch, capsys, host, {option: ["domu1", "nobody"]})
    assert result["failed"]
    assert result["msg"] == "%s: no domain is named 'nobody' (looked up in /local/domain/*/name)" % option
    assert [(e[0], e[1]) for e in host.log if not e[0].startswith("transaction")] == [
        ("directory", "/local/domain")] + [("read", "/local/domain/%d/name" % d) for d in (0, 1, 2, 3)]
    assert [e for e in host.log if e[0] == "transaction_end"] == [("transaction_end", "F", 1)]


def test_a_name_is_never_split_on_commas(monkeypatch, capsys, host):
    host.put("/local/domain/2/name", "web,2")
    result = run_module(monkeypatch, capsys, host, dict(type="other", frontend="web,2"))
    assert [key_of(d) for d in result["devices"]] == [("other", 2, 0, 3)]


def test_a_shared_name_selects_every_domain(monkeypatch, capsys, host):
    host.put("/local/domain/2/name", "domu1")
    result = run_module(monkeypatch, capsys, host, dict(type="other", frontend="domu1"))
    assert [key_of(d) for d in result["devices"]] == [("other", 1, 0, 7), ("other", 2, 0, 3)]


@pytest.mark.parametrize("args, message", [
    (dict(type="my/device"), "type 'my/device' contains characters outside A-Z a-z 0-9 _ -"),
    (dict(type=["ok", ""]), "type must be a non-empty string"),
    (dict(type="mydevice\n"), "type 'mydevice\\n' contains characters outside"),
    (dict(type="a" * 16), "type 'aaaaaaaaaaaaaaaa' is 16 characters long, more than the limit of 15"),
    (dict(frontend=True), "frontend must be a domain id or a domain name, got True"),
    (dict(frontend=" "), "frontend must be a domain id or a domain name, got ' '"),
    (dict(frontend=[1.5]), "frontend must be a domain id or a domain name, got 1.5"),
    (dict(frontend=[1, None]), "frontend must be a domain id or a domain name, got None"),
    (dict(frontend=1.5), "frontend must be a domain id or a domain name, got 1.5"),
    (dict(frontend={"a": 1}), "frontend must be a domain id or a domain name, got {'a': 1}"),
    (dict(frontend=-1), "frontend must be a domain id between 0 and 32751, got -1"),
    (dict(backend="-3"), "backend must be a domain id between 0 and 32751, got -3"),
    (dict(backend=40000), "backend must be a domain id between 0 and 32751, got 40000"),
    (dict(backend="bad\nname"), "backend 'bad\\nname' is neither a domain id nor a valid domain name"),
    (dict(request_timeout=0), "request_timeout must be a finite number of seconds, more than 0"),
    (dict(request_timeout=float("nan")), "request_timeout must be a finite number of seconds"),
    (dict(nosuch=1), "Unsupported parameters"),
])
def test_bad_input_fails_before_connecting(monkeypatch, capsys, host, args, message):
    result = run_module(monkeypatch, capsys, host, args)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert result["_opened"] == [] and host.log == []


def test_no_device_at_all(monkeypatch, capsys, fake_xs):
    fake = counting(fake_xs)
    result = run_module(monkeypatch, capsys, fake, {})
    assert result["devices"] == [] and result["summary"] == {}
    assert_read_only(fake)
