#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: kernel_module_info
short_description: Read what an out-of-tree kernel module's sources, build and loaded state are
version_added: 0.1.0
description:
  - Reads, without changing anything, the facts the P(splitdriver.xen.kernel_module#role) role
    decides from; a digest of a source directory, C(modinfo) of a built C(.ko) file (vermagic,
    srcversion, aliases), the vermagic of a module shipped with the running kernel to compare it
    with, and the module's state in the running kernel from C(/sys/module)
    (loaded, srcversion, reference count, holders and the devices bound to its drivers).
  - Also tells whether kernel headers (C(/lib/modules/<release>/build)) are present for a release,
    and which release they were prepared for.
author:
  - splitdriver.xen developers (@splitdriver)
extends_documentation_fragment:
  - splitdriver.xen._attributes
  - splitdriver.xen._attributes.INFO_MODULE
attributes:
  platform:
    platforms: posix
    details:
      - Linux hosts with C(/sys/module) and C(/lib/modules); C(modinfo) from kmod.
options:
  name:
    description:
      - Name of the kernel module, the C(.ko) file name without its suffix.
      - 1 to 55 letters, digits, V(_) or V(-).
    type: str
    required: true
  release:
    description:
      - Kernel release to inspect headers for, for example V(6.1.0-28-amd64).
      - When not set, the running kernel's release.
    type: str
  source_dir:
    description:
      - Directory of the module's sources on the managed node. When given, RV(source) reports its
        files and a digest of their paths and contents.
    type: path
  module_path:
    description:
      - A built C(.ko) file on the managed node. When given, RV(installed) reports its C(modinfo).
    type: path
  build_record:
    description:
      - A JSON file recording what was last built and installed (the role writes it after each
        successful install). When given, RV(build_record) holds its content.
    type: path
requirements:
  - C(modinfo) from kmod, when O(module_path) names an existing file (and for the running
    kernel's reference module).
seealso:
  - name: modinfo(8)
    description: The tool this module reads C(.ko) metadata with.
    link: https://man7.org/linux/man-pages/man8/modinfo.8.html
"""

EXAMPLES = r"""
- name: Read the state of the mydeviceback module
  splitdriver.xen.kernel_module_info:
    name: mydeviceback
    release: 6.1.0-28-amd64
    source_dir: /usr/src/mydeviceback-1.0
    module_path: /lib/modules/6.1.0-28-amd64/updates/mydeviceback.ko
  register: mydeviceback

- name: Fail when the built module does not target the release
  ansible.builtin.assert:
    that: mydeviceback.installed.vermagic_release == '6.1.0-28-amd64'
"""

RETURN = r"""
name:
  description: The module name.
  returned: always
  type: str
  sample: mydeviceback
release:
  description: The kernel release inspected.
  returned: always
  type: str
  sample: 6.1.0-28-amd64
running_release:
  description: The release of the running kernel.
  returned: always
  type: str
  sample: 6.1.0-28-amd64
is_running_release:
  description: Whether RV(release) is the running kernel's release.
  returned: always
  type: bool
headers:
  description: Kernel headers of RV(release).
  returned: always
  type: dict
  contains:
    path:
      description: The kbuild directory, C(/lib/modules/<release>/build).
      type: str
      returned: always
    present:
      description: Whether that directory holds a kbuild C(Makefile).
      type: bool
      returned: always
    release:
      description:
        - The release those headers were prepared for (C(UTS_RELEASE) of
          C(include/generated/utsrelease.h)), which modules built with them carry in their
          vermagic; V(null) when unknown.
        - It differs from RV(release) when C(/lib/modules/<release>/build) points to the headers
          of another kernel.
      type: str
      returned: always
      sample: 6.1.0-28-amd64
source:
  description: The source directory.
  returned: when O(source_dir) is given
  type: dict
  contains:
    path:
      description: O(source_dir).
      type: str
      returned: always
    exists:
      description: Whether it is a directory.
      type: bool
      returned: always
    files:
      description: Regular files under it, relative paths, sorted.
      type: list
      elements: str
      returned: always
    digest:
      description: SHA-256 over every file's path, executable bit and content; V(null) when absent.
      type: str
      returned: always
    kbuild_file:
      description: V(Kbuild) or V(Makefile), whichever kbuild will read; V(null) if neither.
      type: str
      returned: always
installed:
  description: C(modinfo) of O(module_path).
  returned: when O(module_path) is given
  type: dict
  contains:
    path:
      description: O(module_path).
      type: str
      returned: always
    exists:
      description: Whether the file exists. The other keys are returned only when it does.
      type: bool
      returned: always
    sha256:
      description: SHA-256 of the file.
      type: str
      returned: success
    name:
      description: Module name recorded in the file.
      type: str
      returned: success
    version:
      description: C(MODULE_VERSION), if any.
      type: str
      returned: success
    srcversion:
      description: Checksum of the module's sources computed by modpost, if recorded.
      type: str
      returned: success
    vermagic:
      description: The full vermagic string.
      type: str
      returned: success
    vermagic_release:
      description: The kernel release the module was built for (first word of vermagic).
      type: str
      returned: success
    vermagic_flags:
      description: The rest of vermagic, the kernel configuration the module was built for.
      type: str
      returned: success
      sample: SMP preempt mod_unload modversions
    aliases:
      description: C(MODULE_ALIAS) and device-table aliases.
      type: list
      elements: str
      returned: success
    depends:
      description: Modules this one depends on.
      type: list
      elements: str
      returned: success
running_reference:
  description:
    - A module shipped with the running kernel (the first C(.ko) file under
      C(/lib/modules/<release>/kernel/) in sorted order, compressed ones included) and its
      vermagic, which a module must match to be loaded; V(null) when the running kernel ships
      no module there.
  returned: when O(module_path) is given and RV(is_running_release) is true
  type: dict
  contains:
    path:
      description: The shipped module file.
      type: str
      returned: success
      sample: /lib/modules/6.1.0-28-amd64/kernel/arch/x86/crypto/aesni-intel.ko
    vermagic:
      description: Its full vermagic string.
      type: str
      returned: success
    vermagic_flags:
      description: Its vermagic after the release.
      type: str
      returned: success
      sample: SMP preempt mod_unload modversions
build_record:
  description: Content of O(build_record); V(null) when the file does not exist.
  returned: when O(build_record) is given
  type: dict
  sample: {"release": "6.1.0-28-amd64", "method": "kbuild", "source_digest": "9f2c..."}
loaded:
  description: The module in the running kernel, from C(/sys/module/<name>).
  returned: always
  type: dict
  contains:
    loaded:
      description: Whether it is loaded as a module.
      type: bool
      returned: always
    builtin:
      description: Whether it is built into the running kernel.
      type: bool
      returned: always
    srcversion:
      description: srcversion of the loaded module, if it has one.
      type: str
      returned: always
    version:
      description: C(MODULE_VERSION) of the loaded module, if it has one.
      type: str
      returned: always
    refcnt:
      description: Reference count; the module cannot be unloaded while it is not 0.
      type: int
      returned: always
    holders:
      description: Modules that use this one.
      type: list
      elements: str
      returned: always
    drivers:
      description: Drivers it registered, as C(<bus>:<driver>).
      type: list
      elements: str
      returned: always
    bound_devices:
      description: Devices bound to those drivers, as C(<bus>/<device>).
      type: list
      elements: str
      returned: always
      sample: [xen-backend/mydevice-1-0]
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.splitdriver.xen.plugins.module_utils._kernel_module.info import (
    KernelModuleInfoError,
    gather,
)


def argument_spec():
    return dict(
        name=dict(type="str", required=True),
        release=dict(type="str"),
        source_dir=dict(type="path"),
        module_path=dict(type="path"),
        build_record=dict(type="path"),
    )


def build_module():
    return AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)


def main():
    module = build_module()
    params = module.params

    def run_modinfo(path):
        modinfo = module.get_bin_path("modinfo", required=True, opt_dirs=["/usr/sbin", "/sbin"])
        rc, out, err = module.run_command([modinfo, path], environ_update={"LC_ALL": "C"})
        if rc != 0:
            raise KernelModuleInfoError("modinfo %s failed (rc=%d): %s" % (path, rc, err.strip()))
        return out

    running = os.uname()[2]
    try:
        facts = gather(
            name=params["name"],
            release=params["release"] or running,
            source_dir=params["source_dir"],
            module_path=params["module_path"],
            run_modinfo=run_modinfo,
            running_release=running,
            build_record=params["build_record"],
        )
    except KernelModuleInfoError as exc:
        module.fail_json(msg=str(exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read kernel module state: %s" % exc, exception=traceback.format_exc())
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
