# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure helpers and file-system readers of ``_kernel_module.info``, on temporary trees."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible_collections.splitdriver.xen.plugins.module_utils._kernel_module import info

MODINFO = (
    'filename:       /lib/modules/6.1.0-28-amd64/updates/mydeviceback.ko\n'
    'alias:          xen-backend:mydevice\n'
    'version:        1.0\n'
    'license:        GPL\n'
    'description:    Sample Xen split-driver backend for mydevice devices\n'
    'srcversion:     910C4D27E618DEFD07F130E\n'
    'depends:        \n'
    'retpoline:      Y\n'
    'name:           mydeviceback\n'
    'vermagic:       6.1.0-28-amd64 SMP preempt mod_unload modversions \n'
    'parm:           debug:Enable debug output (int)\n'
)


@pytest.mark.parametrize("name", ["mydeviceback", "xen-blkback", "a", "x" * 55, "A_1-b"])
def test_valid_names(name):
    assert info.validate_name(name) == name


@pytest.mark.parametrize("name, shown", [
    ("", "''"),
    ("x" * 56, repr("x" * 56)),
    ("bad name", "'bad name'"),
    ("../etc", "'../etc'"),
    ("a/b", "'a/b'"),
    ("a.ko", "'a.ko'"),
    ("mymod\n", "'mymod\\n'"),  # "$" would match before the newline
    (None, "None"),
    (7, "7"),
])
def test_invalid_names(name, shown):
    with pytest.raises(info.KernelModuleInfoError) as exc:
        info.validate_name(name, "kernel_module_name")
    assert str(exc.value) == (
        "kernel_module_name %s is not a valid kernel module name: use 1 to 55 letters, digits, '_' or '-' "
        "(the name of the .ko file without its suffix)" % shown)


@pytest.mark.parametrize("release", ["6.1.0-28-amd64", "6.18.44-fc-v595", "5.10.0+", "6.1~rc1", "x" * 128])
def test_valid_releases(release):
    assert info.validate_release(release) == release


@pytest.mark.parametrize("release", [
    "", ".", "..", "../x", "a/b", "6.1..0", "6.1 0", ".hidden", "6.1.0\n", "x" * 129, None])
def test_invalid_releases(release):
    with pytest.raises(info.KernelModuleInfoError) as exc:
        info.validate_release(release)
    assert str(exc.value) == (
        "release %r is not a valid kernel release: expected a release such as 6.1.0-28-amd64 "
        "(the name of a directory under /lib/modules)" % (release,))


@pytest.mark.parametrize("version", ["1.0", "1", "2.3.4-rc1+git~x_y", "..", "v" * 64])
def test_valid_versions(version):
    assert info.validate_version(version) == version


@pytest.mark.parametrize("version", ["", "1/2", "../1", "1 0", "1.0\n", "v" * 65, None, 1.0])
def test_invalid_versions(version):
    with pytest.raises(info.KernelModuleInfoError) as exc:
        info.validate_version(version, "kernel_module_version")
    assert str(exc.value) == (
        "kernel_module_version %r is not a valid module version: use 1 to 64 letters, digits, "
        "'.', '_', '+', '~' or '-'" % (version,))


def test_sysfs_name_turns_dashes_into_underscores():
    assert info.sysfs_name("xen-blkback") == "xen_blkback"


def test_parse_modinfo():
    fields = info.parse_modinfo(MODINFO)
    assert fields["alias"] == ["xen-backend:mydevice"]
    assert fields["srcversion"] == "910C4D27E618DEFD07F130E"
    assert fields["depends"] == []
    assert fields["parm"] == ["debug:Enable debug output (int)"]
    assert info.vermagic_release(fields["vermagic"]) == "6.1.0-28-amd64"


@pytest.mark.parametrize("vermagic, release", [("", None), (None, None), ("6.1.0-1-amd64 SMP", "6.1.0-1-amd64")])
def test_vermagic_release(vermagic, release):
    assert info.vermagic_release(vermagic) == release


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


@pytest.fixture
def sources(tmp_path):
    root = tmp_path / "src"
    write(str(root / "Kbuild"), "obj-m += m.o\n")
    write(str(root / "m.c"), "int x;\n")
    write(str(root / "include" / "m.h"), "#define M 1\n")
    return str(root)


def digest(root):
    return info.source_facts(root)["digest"]


def test_source_facts(sources):
    facts = info.source_facts(sources)
    assert facts["exists"] is True
    assert facts["files"] == ["Kbuild", "include/m.h", "m.c"]
    assert facts["kbuild_file"] == "Kbuild"
    assert facts["digest"] == digest(sources)  # stable


@pytest.mark.parametrize("change", ["edit", "add", "remove", "rename", "chmod"])
def test_every_source_change_changes_the_digest(sources, change):
    before = digest(sources)
    if change == "edit":
        write(os.path.join(sources, "m.c"), "int y;\n")
    elif change == "add":
        write(os.path.join(sources, "n.c"), "")
    elif change == "remove":
        os.remove(os.path.join(sources, "include", "m.h"))
    elif change == "rename":
        os.rename(os.path.join(sources, "m.c"), os.path.join(sources, "n.c"))
    else:
        os.chmod(os.path.join(sources, "m.c"), 0o755)
    assert digest(sources) != before


def test_missing_source_dir(tmp_path):
    facts = info.source_facts(str(tmp_path / "nope"))
    assert facts == {"path": str(tmp_path / "nope"), "exists": False, "files": [], "digest": None,
                     "kbuild_file": None}


@pytest.fixture
def ko(tmp_path):
    """A built module file (its content only matters for the digest)."""
    path = tmp_path / "mydeviceback.ko"
    path.write_bytes(b"\x7fELF")
    return path


def recorded_modinfo(output):
    """A run_modinfo that answers ``output`` and records the paths it was asked about."""
    calls = []

    def run_modinfo(path):
        calls.append(path)
        return output
    return calls, run_modinfo


def test_installed_facts(ko):
    calls, run_modinfo = recorded_modinfo(MODINFO)
    facts = info.installed_facts(str(ko), run_modinfo)
    assert calls == [str(ko)]
    assert facts["exists"] and facts["vermagic_release"] == "6.1.0-28-amd64"
    assert facts["aliases"] == ["xen-backend:mydevice"]
    assert facts["sha256"] == hashlib.sha256(b"\x7fELF").hexdigest()


def test_installed_facts_missing_file_runs_no_modinfo(tmp_path):
    def run_modinfo(path):
        raise AssertionError("modinfo must not run for a missing file")

    assert info.installed_facts(str(tmp_path / "x.ko"), run_modinfo) == {
        "path": str(tmp_path / "x.ko"), "exists": False}


@pytest.fixture
def sys_module(tmp_path):
    """A /sys/module tree: mydeviceback loaded with one bound device, ext4 built in."""
    base = tmp_path / "sys" / "module"
    mod = base / "mydeviceback"
    write(str(mod / "initstate"), "live\n")
    write(str(mod / "refcnt"), "0\n")
    write(str(mod / "srcversion"), "910C4D27E618DEFD07F130E\n")
    write(str(mod / "version"), "1.0\n")
    os.makedirs(str(mod / "holders"))
    driver = tmp_path / "sys" / "bus" / "xen-backend" / "drivers" / "mydevice"
    os.makedirs(str(driver))
    device = tmp_path / "sys" / "devices" / "xen-backend" / "mydevice-1-0"
    os.makedirs(str(device))
    os.symlink(str(device), str(driver / "mydevice-1-0"))
    os.symlink(str(mod), str(driver / "module"))
    write(str(driver / "uevent"), "")
    os.makedirs(str(mod / "drivers"))
    os.symlink(str(driver), str(mod / "drivers" / "xen-backend:mydevice"))
    os.makedirs(str(base / "ext4" / "parameters"))
    return str(base)


def test_loaded_module_with_a_bound_device(sys_module):
    facts = info.loaded_facts("mydeviceback", sys_module)
    assert facts["loaded"] is True and facts["builtin"] is False
    assert facts["srcversion"] == "910C4D27E618DEFD07F130E"
    assert facts["refcnt"] == 0 and facts["holders"] == []
    assert facts["drivers"] == ["xen-backend:mydevice"]
    assert facts["bound_devices"] == ["xen-backend/mydevice-1-0"]


def test_builtin_and_absent_modules(sys_module):
    assert info.loaded_facts("ext4", sys_module)["builtin"] is True
    assert info.loaded_facts("ext4", sys_module)["loaded"] is False
    assert info.loaded_facts("nosuch", sys_module)["loaded"] is False


def test_build_record(tmp_path):
    path = tmp_path / "r.json"
    assert info.read_build_record(str(path)) is None
    path.write_text(json.dumps({"release": "6.1.0-28-amd64"}))
    assert info.read_build_record(str(path)) == {"release": "6.1.0-28-amd64"}
    path.write_text("{not json")
    with pytest.raises(info.KernelModuleInfoError, match="not valid JSON"):
        info.read_build_record(str(path))
    path.write_text("[1]")
    with pytest.raises(info.KernelModuleInfoError, match="JSON object"):
        info.read_build_record(str(path))


def test_gather(tmp_path, sources, sys_module):
    modules = tmp_path / "lib" / "modules"
    write(str(modules / "6.1.0-28-amd64" / "build" / "Makefile"), "")
    facts = info.gather("mydeviceback", "6.1.0-28-amd64", sources, None, None, "6.18.1",
                        modules_root=str(modules), sys_module=sys_module)
    assert facts["headers"]["present"] is True
    assert facts["is_running_release"] is False
    assert facts["source"]["kbuild_file"] == "Kbuild"
    assert "installed" not in facts and "build_record" not in facts
    facts = info.gather("mydeviceback", "6.1.0-99-amd64", None, None, None, "6.1.0-99-amd64",
                        modules_root=str(modules), sys_module=sys_module)
    assert facts["headers"]["present"] is False and facts["is_running_release"] is True


def test_gather_validates_first(tmp_path):
    with pytest.raises(info.KernelModuleInfoError, match="release '../../etc' is not a valid kernel release"):
        info.gather("m", "../../etc", None, None, None, "6.1", modules_root=str(tmp_path))


@pytest.mark.parametrize("vermagic, flags", [
    ("6.1.0-28-amd64 SMP preempt mod_unload modversions ", "SMP preempt mod_unload modversions"),
    ("6.18.44-fc-v595 SMP  preempt_dynamic\tmod_unload", "SMP preempt_dynamic mod_unload"),
    ("6.1.0-28-amd64", ""),
    ("", None),
    (None, None),
])
def test_vermagic_flags(vermagic, flags):
    assert info.vermagic_flags(vermagic) == flags


@pytest.mark.parametrize("content, release", [
    ('#define UTS_RELEASE "6.1.0-28-amd64"\n', "6.1.0-28-amd64"),
    ('/* generated */\n#define UTS_RELEASE "6.18.44-fc-v595"\n', "6.18.44-fc-v595"),
    ("#define UTS_VERSION 1\n", None),
    (None, None),
])
def test_headers_release(tmp_path, content, release):
    if content is not None:
        write(str(tmp_path / "include" / "generated" / "utsrelease.h"), content)
    assert info.headers_release(str(tmp_path)) == release


@pytest.fixture
def running_tree(tmp_path):
    """/lib/modules/<running> shipping two modules, build/ pointing to the headers of another release."""
    modules = tmp_path / "lib" / "modules"
    kernel = modules / "6.18.1" / "kernel"
    write(str(kernel / "fs" / "ext4" / "ext4.ko.zst"), "zst")
    write(str(kernel / "drivers" / "xen" / "xen-evtchn.ko"), "ko")
    write(str(kernel / "drivers" / "README"), "not a module")
    headers = tmp_path / "usr" / "src" / "linux-headers-6.1.0-28-amd64"
    write(str(headers / "Makefile"), "")
    write(str(headers / "include" / "generated" / "utsrelease.h"), '#define UTS_RELEASE "6.1.0-28-amd64"\n')
    os.symlink(str(headers), str(modules / "6.18.1" / "build"))
    return str(modules)


def test_shipped_module_is_the_first_in_sorted_order(running_tree, tmp_path):
    assert info.shipped_module("6.18.1", running_tree) == os.path.join(
        running_tree, "6.18.1", "kernel", "drivers", "xen", "xen-evtchn.ko")
    assert info.shipped_module("6.1.0-28-amd64", running_tree) is None


def test_reference_facts(running_tree):
    calls, run_modinfo = recorded_modinfo(
        "name:           xen_evtchn\nvermagic:       6.18.1 SMP preempt_dynamic mod_unload \n")

    facts = info.reference_facts("6.18.1", run_modinfo, running_tree)
    assert facts == {"path": calls[0], "vermagic": "6.18.1 SMP preempt_dynamic mod_unload",
                     "vermagic_flags": "SMP preempt_dynamic mod_unload"}
    assert calls == [os.path.join(running_tree, "6.18.1", "kernel", "drivers", "xen", "xen-evtchn.ko")]
    assert info.reference_facts("6.9.9", run_modinfo, running_tree) is None
    assert len(calls) == 1


def test_gather_for_the_running_kernel_built_against_other_headers(running_tree, ko, sys_module):
    """The mistake the role must catch: build/ of the running release holds another release's headers."""
    def run_modinfo(path):
        if path == str(ko):
            return MODINFO
        return "vermagic:       6.18.1 SMP preempt_dynamic mod_unload \n"

    facts = info.gather("mydeviceback", "6.18.1", None, str(ko), run_modinfo, "6.18.1",
                        modules_root=running_tree, sys_module=sys_module)
    assert facts["headers"] == {"path": os.path.join(running_tree, "6.18.1", "build"), "present": True,
                                "release": "6.1.0-28-amd64"}
    assert facts["installed"]["vermagic_release"] == "6.1.0-28-amd64"
    assert facts["installed"]["vermagic_flags"] == "SMP preempt mod_unload modversions"
    assert facts["running_reference"]["vermagic_flags"] == "SMP preempt_dynamic mod_unload"


def test_gather_reads_no_reference_for_another_release(running_tree, ko, sys_module):
    calls, run_modinfo = recorded_modinfo(MODINFO)
    facts = info.gather("mydeviceback", "6.18.1", None, str(ko), run_modinfo, "6.19.0",
                        modules_root=running_tree, sys_module=sys_module)
    assert "running_reference" not in facts
    assert calls == [str(ko)]
