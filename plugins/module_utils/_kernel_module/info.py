# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can
# occur any time.
"""Read-only facts about an out-of-tree kernel module: its sources, its build, its loaded state.

Pure helpers (validation, parsing, digests) take plain values so they can be tested without a
host; ``gather`` reads the file system and runs ``modinfo`` through a caller-supplied runner.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

# The one home of the module name, release and version rules: kernel_module_info and the
# kernel_module role (through the splitdriver.xen.validated filter) both call the functions below.
# Anchored with \Z, not $: "$" also matches before a trailing newline ("mymod\n").
# MODULE_NAME_LEN is 64 - sizeof(unsigned long) = 56 bytes including the NUL.
MODULE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,55}\Z")
# A kernel release names a directory under /lib/modules: no slashes, no leading dot.
RELEASE_RE = re.compile(r"^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,127}\Z")
# A source version names /usr/src/<name>-<version> and the dkms package version: no slashes.
VERSION_RE = re.compile(r"^[A-Za-z0-9_+~.-]{1,64}\Z")
# Files kbuild reads from M=<dir>.
KBUILD_FILES = ("Kbuild", "Makefile")
# Suffixes of module files a kernel ships (kmod reads compressed ones too).
MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")
# The release prepared kernel headers are for: kbuild puts it in every module's vermagic.
UTS_RELEASE_RE = re.compile(r'^#define UTS_RELEASE "([^"]+)"$', re.M)

MODULES_ROOT = "/lib/modules"
SYS_MODULE = "/sys/module"


class KernelModuleInfoError(Exception):
    """Bad input or an unreadable host; the message is meant for the user."""


def validate_name(name, option="name"):
    """The module name rule; ``option`` names the option in the message."""
    if not isinstance(name, str) or not MODULE_NAME_RE.match(name):
        raise KernelModuleInfoError(
            "%s %r is not a valid kernel module name: use 1 to 55 letters, digits, '_' or '-' "
            "(the name of the .ko file without its suffix)" % (option, name)
        )
    return name


def validate_release(release, option="release"):
    """The kernel release rule (a directory name under /lib/modules)."""
    if not isinstance(release, str) or not RELEASE_RE.match(release) or ".." in release:
        raise KernelModuleInfoError(
            "%s %r is not a valid kernel release: expected a release such as 6.1.0-28-amd64 "
            "(the name of a directory under %s)" % (option, release, MODULES_ROOT)
        )
    return release


def validate_version(version, option="version"):
    """The source version rule (names /usr/src/<name>-<version> and the dkms version)."""
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise KernelModuleInfoError(
            "%s %r is not a valid module version: use 1 to 64 letters, digits, '.', '_', '+', "
            "'~' or '-'" % (option, version)
        )
    return version


def sysfs_name(name):
    """The kernel turns '-' into '_' in module names (/sys/module/<name>)."""
    return name.replace("-", "_")


def parse_modinfo(text):
    """Parse ``modinfo <file>`` output into a dict; repeated keys (alias, parm) become lists."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key or " " in key:
            continue
        value = value.strip()
        if key in ("alias", "parm", "depends", "softdep"):
            if key == "depends":
                fields[key] = [d for d in value.split(",") if d]
            else:
                fields.setdefault(key, []).append(value)
        else:
            fields[key] = value
    return fields


def vermagic_release(vermagic):
    """The release is the first word of vermagic ('6.1.0-28-amd64 SMP preempt ...')."""
    return vermagic.split()[0] if vermagic and vermagic.split() else None


def vermagic_flags(vermagic):
    """What follows the release in vermagic ('SMP preempt mod_unload modversions').

    With modversions the kernel compares exactly this part of a module's vermagic with its own
    (and the whole string without modversions), so two modules with different flags cannot both
    load into one kernel.
    """
    words = vermagic.split() if vermagic else []
    return " ".join(words[1:]) if words else None


def headers_release(build_dir):
    """The release the headers in build_dir were prepared for (UTS_RELEASE), None if unknown."""
    text = _read(os.path.join(build_dir, "include", "generated", "utsrelease.h"))
    match = UTS_RELEASE_RE.search(text) if text else None
    return match.group(1) if match else None


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_files(root):
    """Relative paths of the regular files under root, sorted, symlinks not followed."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            if os.path.isfile(path) and not os.path.islink(path):
                found.append(os.path.relpath(path, root))
    return sorted(found)


def source_digest(root, files):
    """sha256 over every (path, content, executable bit): any edit, add, rename or removal changes it."""
    digest = hashlib.sha256()
    for rel in files:
        path = os.path.join(root, rel)
        executable = os.access(path, os.X_OK)
        digest.update(rel.encode("utf-8", "surrogateescape"))
        digest.update(b"\0x\0" if executable else b"\0-\0")
        digest.update(file_sha256(path).encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except (IOError, OSError):
        return []


def source_facts(source_dir):
    facts = {"path": source_dir, "exists": os.path.isdir(source_dir)}
    if not facts["exists"]:
        facts.update(files=[], digest=None, kbuild_file=None)
        return facts
    files = source_files(source_dir)
    facts["files"] = files
    facts["digest"] = source_digest(source_dir, files)
    facts["kbuild_file"] = next((f for f in KBUILD_FILES if f in files), None)
    return facts


def installed_facts(module_path, run_modinfo):
    facts = {"path": module_path, "exists": os.path.isfile(module_path)}
    if not facts["exists"]:
        return facts
    fields = parse_modinfo(run_modinfo(module_path))
    facts.update(
        sha256=file_sha256(module_path),
        name=fields.get("name"),
        version=fields.get("version"),
        srcversion=fields.get("srcversion"),
        vermagic=fields.get("vermagic"),
        vermagic_release=vermagic_release(fields.get("vermagic")),
        vermagic_flags=vermagic_flags(fields.get("vermagic")),
        aliases=fields.get("alias", []),
        depends=fields.get("depends", []),
    )
    return facts


def loaded_facts(name, sys_module=SYS_MODULE):
    """State of the module in the running kernel, from /sys/module/<name>."""
    base = os.path.join(sys_module, sysfs_name(name))
    facts = {
        "loaded": False,
        "builtin": False,
        "srcversion": None,
        "version": None,
        "refcnt": 0,
        "holders": [],
        "drivers": [],
        "bound_devices": [],
    }
    if not os.path.isdir(base):
        return facts
    initstate = _read(os.path.join(base, "initstate"))
    if initstate is None:
        # Built-in modules have a /sys/module entry (for parameters) but no initstate.
        facts["builtin"] = True
        return facts
    refcnt = _read(os.path.join(base, "refcnt"))
    facts.update(
        loaded=True,
        initstate=initstate,
        srcversion=_read(os.path.join(base, "srcversion")),
        version=_read(os.path.join(base, "version")),
        refcnt=int(refcnt) if refcnt and refcnt.isdigit() else 0,
        holders=_listdir(os.path.join(base, "holders")),
    )
    # /sys/module/<m>/drivers/<bus>:<driver> -> the driver; its symlinks (but "module") are
    # the devices bound to it, e.g. xen-backend:mydevice/mydevice-1-0.
    for entry in _listdir(os.path.join(base, "drivers")):
        facts["drivers"].append(entry)
        driver_dir = os.path.join(base, "drivers", entry)
        for dev in _listdir(driver_dir):
            if dev != "module" and os.path.islink(os.path.join(driver_dir, dev)):
                facts["bound_devices"].append("%s/%s" % (entry.partition(":")[0], dev))
    return facts


def shipped_module(release, modules_root=MODULES_ROOT):
    """One module shipped with the kernel release (the first under kernel/, sorted), or None."""
    for dirpath, dirnames, filenames in os.walk(os.path.join(modules_root, release, "kernel")):
        dirnames.sort()
        for filename in sorted(filenames):
            if filename.endswith(MODULE_SUFFIXES):
                return os.path.join(dirpath, filename)
    return None


def reference_facts(release, run_modinfo, modules_root=MODULES_ROOT):
    """vermagic of a module shipped with the kernel release: what a module must match to load."""
    path = shipped_module(release, modules_root)
    if path is None:
        return None
    vermagic = parse_modinfo(run_modinfo(path)).get("vermagic")
    return {"path": path, "vermagic": vermagic, "vermagic_flags": vermagic_flags(vermagic)}


def read_build_record(path):
    """The JSON record the role writes after a successful build and install (None if absent)."""
    try:
        with open(path) as f:
            record = json.load(f)
    except (IOError, OSError):
        return None
    except ValueError as exc:
        raise KernelModuleInfoError("build record %s is not valid JSON: %s" % (path, exc))
    if not isinstance(record, dict):
        raise KernelModuleInfoError("build record %s does not hold a JSON object" % path)
    return record


def gather(name, release, source_dir, module_path, run_modinfo, running_release,
           build_record=None, modules_root=MODULES_ROOT, sys_module=SYS_MODULE):
    """Everything the kernel_module role decides from, in one read-only pass."""
    validate_name(name)
    validate_release(release)
    build_dir = os.path.join(modules_root, release, "build")
    facts = {
        "name": name,
        "release": release,
        "running_release": running_release,
        "is_running_release": release == running_release,
        "headers": {
            "path": build_dir,
            "present": os.path.isfile(os.path.join(build_dir, "Makefile")),
            "release": headers_release(build_dir),
        },
        "loaded": loaded_facts(name, sys_module),
    }
    if source_dir is not None:
        facts["source"] = source_facts(source_dir)
    if module_path is not None:
        facts["installed"] = installed_facts(module_path, run_modinfo)
        if facts["is_running_release"]:
            facts["running_reference"] = reference_facts(release, run_modinfo, modules_root)
    if build_record is not None:
        facts["build_record"] = read_build_record(build_record)
    return facts
