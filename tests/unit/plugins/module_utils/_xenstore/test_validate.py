# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation tables: every rule, with the message that names the input and the cause."""

from __future__ import annotations

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import validate
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.validate import ValidationError


@pytest.mark.parametrize("path", [
    "/", "/local/domain/0", "/local/domain/1/device/my_dev-ice/0", "/a@b", "/" + "a" * 3071,
])
def test_check_path_accepts(path):
    assert validate.check_path(path) == path


@pytest.mark.parametrize("path, message", [
    ("", "must be a non-empty string"),
    (None, "must be a non-empty string"),
    ("local/domain", "must be absolute"),
    ("/local/dom ain", "characters outside"),
    ("/local/domain.0", "characters outside"),
    ("/local//domain", "contains '//'"),
    ("/local/domain/", "must not end with '/'"),
    ("/local/domain\n", "characters outside"),  # "$" would match before the newline
    ("/" + "a" * 3072, "more than the limit of 3072"),
])
def test_check_path_rejects(path, message):
    with pytest.raises(ValidationError, match=message):
        validate.check_path(path)


@pytest.mark.parametrize("value", ["", "1", "/local/domain/0/backend/x/1/0", " ~", "x" * 2048])
def test_check_value_accepts(value):
    assert validate.check_value("/a/b", value) == value


@pytest.mark.parametrize("path, value, message", [
    ("/a/b", "tab\there", r"printable ASCII: character '\\t' at offset 3"),
    ("/a/b", "caf\u00e9", r"printable ASCII: character '\u00e9' at offset 3"),
    ("/a/b", "nul\x00", "printable ASCII"),
    ("/a/b", "trailing\n", r"printable ASCII: character '\\n' at offset 8"),
    ("/a/b", "\n", r"character '\\n' at offset 0"),
    ("/a/b", "x" * 2049, "2049 bytes long, more than the limit of 2048"),
    ("/" + "p" * 2100, "x" * 2000, "too long for one XenStore request"),
    ("/a/b", 5, "must be a string"),
])
def test_check_value_rejects(path, value, message):
    with pytest.raises(ValidationError, match=message):
        validate.check_value(path, value)


@pytest.mark.parametrize("perms, expected", [
    ("n0", ["n0"]),
    ("n1,r0", ["n1", "r0"]),
    ("n1, r0 ,b3", ["n1", "r0", "b3"]),
    (["w5", "r0"], ["w5", "r0"]),
])
def test_parse_perms_accepts(perms, expected):
    assert validate.parse_perms(perms) == expected


@pytest.mark.parametrize("perms, message", [
    ("", "must not be empty"),
    ([], "must not be empty"),
    ("x1", "permission entry 'x1' is invalid"),
    ("n", "permission entry 'n' is invalid"),
    ("r-1", "is invalid"),
    ("n1,", "permission entry '' is invalid"),
    ("n99999", "between 0 and 32751"),
    (["n1", "r0\n"], r"permission entry 'r0\\n' is invalid"),
    ("r\u0663", "is invalid"),  # a non-ASCII digit
    (5, "must be a list"),
])
def test_parse_perms_rejects(perms, message):
    with pytest.raises(ValidationError, match=message):
        validate.parse_perms(perms)


@pytest.mark.parametrize("devid, ok", [
    (0, True), (1, True), (2 ** 31 - 1, True), (-1, False), (2 ** 31, False), (True, False), ("1", False),
])
def test_check_devid(devid, ok):
    if ok:
        assert validate.check_devid(devid) == devid
    else:
        with pytest.raises(ValidationError, match="devid"):
            validate.check_devid(devid)


@pytest.mark.parametrize("domid, ok", [(0, True), (32751, True), (32752, False), (-1, False), (None, False)])
def test_check_domid(domid, ok):
    if ok:
        assert validate.check_domid(domid, "frontend") == domid
    else:
        with pytest.raises(ValidationError, match="frontend must be a domain id"):
            validate.check_domid(domid, "frontend")


LIMIT_15 = ("is %d characters long, more than the limit of 15: the Linux backend bus id "
            "<type>-<frontend domid>-<devid> has at most 19 characters (XEN_BUS_ID_SIZE 20 including the NUL)")


@pytest.mark.parametrize("devtype, message", [
    ("mydevice", None),
    ("my_dev-1", None),
    ("A", None),
    ("t" * 15, None),                          # "-0-0" fills the other 4 of the 19 characters
    ("t" * 16, "type 'tttttttttttttttt' " + LIMIT_15 % 16),
    ("my.device", "type 'my.device' contains characters outside A-Z a-z 0-9 _ -"),
    ("my/device", "type 'my/device' contains characters outside A-Z a-z 0-9 _ -"),
    ("my device", "type 'my device' contains characters outside A-Z a-z 0-9 _ -"),
    ("@t", "type '@t' contains characters outside A-Z a-z 0-9 _ -"),
    ("d\u00e9v", "type 'd\u00e9v' contains characters outside A-Z a-z 0-9 _ -"),
    ("mydevice\n", "type 'mydevice\\n' contains characters outside A-Z a-z 0-9 _ -"),  # "$" would let it by
    ("", "type must be a non-empty string, got ''"),
    (None, "type must be a non-empty string, got None"),
    (7, "type must be a non-empty string, got 7"),
])
def test_check_device_type(devtype, message):
    """The one device type rule: the modules, the fleet filter and the roles all call it."""
    if message is None:
        assert validate.check_device_type(devtype) == devtype
    else:
        with pytest.raises(ValidationError) as exc:
            validate.check_device_type(devtype)
        assert str(exc.value) == message


def test_check_device_type_names_the_option():
    with pytest.raises(ValidationError, match=r"^backend_device_type 'a b' contains characters outside"):
        validate.check_device_type("a b", "backend_device_type")


def test_device_type_limit_is_the_shortest_bus_id():
    assert validate.DEVICE_TYPE_MAX + len("-0-0") == validate.XEN_BUS_ID_MAX == 19


@pytest.mark.parametrize("devtype, frontend, devid, message", [
    ("mydevice", 1, 0, None),
    ("my_dev-1", 12, 34, None),
    # mydevice-32751-9 is 16 chars; the limit is 19.
    ("abcdefghijklmno", 1, 1, None),           # 15 + "-1-1" = 19: the longest allowed
    ("abcdefghijklmno", 0, 0, None),
    ("abcdefghijklmno", 10, 0, "backend bus id 'abcdefghijklmno-10-0' is 20 characters, Linux allows at most 19"),
    ("abcdefghijklmno", 1, 10, "backend bus id 'abcdefghijklmno-1-10' is 20 characters"),
    ("abcdefghijklmnop", 1, 1, "is 16 characters long, more than the limit of 15"),  # the type rule first
    ("mydevice", 1, 2 ** 31 - 1, "backend bus id 'mydevice-1-2147483647' is 21 characters"),
    ("my.device", 1, 0, "characters outside"),
    ("my/device", 1, 0, "characters outside"),
    ("mydevice\n", 1, 0, "characters outside"),
    ("", 1, 0, "non-empty string"),
    (None, 1, 0, "non-empty string"),
])
def test_check_type(devtype, frontend, devid, message):
    if message is None:
        assert validate.check_type(devtype, frontend, devid) == devtype
    else:
        with pytest.raises(ValidationError, match=message):
            validate.check_type(devtype, frontend, devid)


def test_check_type_of_a_frontend_given_by_name_speaks_of_the_shortest_bus_id():
    assert validate.check_type("t" * 15, 0, 0, frontend_name="web1") == "t" * 15
    with pytest.raises(ValidationError, match=r"^type 'ttttttttttttttt' is too long: the backend bus id "
                       r"ttttttttttttttt-<domid of web1>-10 has at least 20 characters, Linux allows at most 19"):
        validate.check_type("t" * 15, 0, 10, frontend_name="web1")


SECONDS = "%s must be a finite number of seconds, more than 0 and at most %s, got %s"


@pytest.mark.parametrize("value, maximum, shown", [
    (float("nan"), 3600, "nan"),
    (float("inf"), 3600, "inf"),
    (float("-inf"), 3600, "-inf"),
    (float("1e999"), 600, "inf"),
    (0, 3600, "0"),
    (0.0, 3600, "0.0"),
    (-0.0, 3600, "-0.0"),
    (-1, 600, "-1"),
    (-1e-9, 600, "-1e-09"),
    (3600.001, 3600, "3600.001"),
    (601, 600, "601"),
    (True, 3600, "True"),
    ("5", 3600, "'5'"),
    (None, 3600, "None"),
])
def test_check_seconds_rejects(value, maximum, shown):
    with pytest.raises(ValidationError) as exc:
        validate.check_seconds(value, "timeout", maximum)
    assert str(exc.value) == SECONDS % ("timeout", maximum, shown)


@pytest.mark.parametrize("value, maximum", [(1e-9, 600), (0.5, 600), (10, 600), (600, 600), (3600.0, 3600)])
def test_check_seconds_accepts(value, maximum):
    assert validate.check_seconds(value, "request_timeout", maximum) == float(value)


@pytest.mark.parametrize("value, shown", [
    (-1, "-1"), (101, "101"), (10 ** 999, "an integer of more than 20 digits"),
    (-(10 ** 30), "an integer of more than 20 digits"), (True, "True"), (1.0, "1.0"), (None, "None"),
])
def test_check_count_rejects(value, shown):
    with pytest.raises(ValidationError) as exc:
        validate.check_count(value, "retries", 100)
    assert str(exc.value) == "retries must be an integer from 0 to 100, got %s" % shown


@pytest.mark.parametrize("value", [0, 1, 10, 100])
def test_check_count_accepts(value):
    assert validate.check_count(value, "retries", 100) == value


@pytest.mark.parametrize("entries, expected", [
    (None, {}),
    ({}, {}),
    ({"mode": "rw", "queues": 4, "feature-x": ""}, {"mode": "rw", "queues": "4", "feature-x": ""}),
])
def test_check_entries_accepts(entries, expected):
    assert validate.check_entries(entries, "backend_entries", validate.BACKEND_PROTOCOL_KEYS) == expected


@pytest.mark.parametrize("entries, message", [
    ({"a/b": "x"}, "key 'a/b' is not a plain relative name"),
    ({"/abs": "x"}, "is not a plain relative name"),
    ({"@special": "x"}, "is not a plain relative name"),
    ({"": "x"}, "is not a plain relative name"),
    ({"a.b": "x"}, "is not a plain relative name"),
    ({"k\n": "x"}, "is not a plain relative name"),
    ({"k": "x\n"}, r"value for key 'k' must be printable ASCII: character '\\n' at offset 1"),
    ({"state": "4"}, "key 'state' collides with a key the module manages"),
    ({"online": "1"}, "key 'online' collides"),
    ({"frontend-id": "1"}, "collides"),
    ({"flag": True}, "must be a string or an integer"),
    ({"list": [1]}, "must be a string or an integer"),
    ({"mode": "r\nw"}, r"^backend_entries value for key 'mode' must be printable ASCII: character '\\n' at offset 1"),
    ({"mode": "\x01"}, r"value for key 'mode' must be printable ASCII: character '\\x01' at offset 0"),
    ({"name": "caf\u00e9"}, r"backend_entries value for key 'name' must be printable ASCII: character '\u00e9'"),
    ({"big": "x" * 2049}, "^backend_entries value for key 'big' is 2049 bytes long, more than the limit of 2048"),
    (["mode"], "must be a dictionary"),
])
def test_check_entries_rejects(entries, message):
    with pytest.raises(ValidationError, match=message):
        validate.check_entries(entries, "backend_entries", validate.BACKEND_PROTOCOL_KEYS)


def test_frontend_protocol_keys_collide():
    for key in ("backend", "backend-id", "state"):
        with pytest.raises(ValidationError, match="frontend_entries key '%s' collides" % key):
            validate.check_entries({key: "x"}, "frontend_entries", validate.FRONTEND_PROTOCOL_KEYS)


@pytest.mark.parametrize("name, ok", [("guest1", True), ("my guest", True), ("guest1\n", False), ("", False), (1, False)])
def test_check_domain_name(name, ok):
    if ok:
        assert validate.check_domain_name(name) == name
    else:
        with pytest.raises(ValidationError, match="is neither a domain id nor a valid domain name"):
            validate.check_domain_name(name)
