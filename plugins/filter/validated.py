# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: validated
short_description: Check a value against one of the collection's input rules
version_added: 0.1.0
author: splitdriver.xen developers (@splitdriver)
description:
  - Returns the input when it satisfies the rule, and fails with the rule's message (naming
    O(option) and the value) when it does not.
  - The rules are the ones the modules apply, run by the same code, so a role rejects exactly
    what the modules reject, with the same words.
  - A number is checked, and returned, in its string form (V(1.0) as C("1.0")), as an option of
    type C(str) converts it.
  - V(device_type) is 1 to 15 letters, digits, V(_) or V(-) (the Linux backend bus id
    C(<type>-<frontend domid>-<devid>) has at most 19 characters; M(splitdriver.xen.xenstore_device)
    also checks each device's own bus id).
  - V(kernel_module_name) is 1 to 55 letters, digits, V(_) or V(-) (the C(.ko) file name without
    its suffix), V(kernel_release) a directory name under C(/lib/modules) such as
    V(6.1.0-28-amd64), V(kernel_module_version) 1 to 64 letters, digits, V(.), V(_), V(+), V(~)
    or V(-).
options:
  _input:
    description: The value to check.
    type: raw
    required: true
  rule:
    description: The rule to check against.
    type: str
    required: true
    choices: [device_type, kernel_module_name, kernel_module_version, kernel_release]
  option:
    description: The name the message gives the value, usually the variable it comes from.
    type: str
    default: the rule's name
seealso:
  - module: splitdriver.xen.xenstore_device
  - module: splitdriver.xen.kernel_module_info
"""

EXAMPLES = r"""
- name: Check the role's inputs before anything is built
  ansible.builtin.assert:
    that: backend_device_type | splitdriver.xen.validated('device_type', 'backend_device_type') is string
    quiet: true
# fails with: backend_device_type 'my device' contains characters outside A-Z a-z 0-9 _ -
"""

RETURN = r"""
_value:
  description: The input, a string.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.splitdriver.xen.plugins.module_utils._kernel_module import info as kernel_module
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import validate as xenstore

RULES = {
    "device_type": (xenstore.check_device_type, xenstore.ValidationError),
    "kernel_module_name": (kernel_module.validate_name, kernel_module.KernelModuleInfoError),
    "kernel_module_version": (kernel_module.validate_version, kernel_module.KernelModuleInfoError),
    "kernel_release": (kernel_module.validate_release, kernel_module.KernelModuleInfoError),
}


def validated(value, rule, option=None):
    if rule not in RULES:
        raise AnsibleFilterError("validated: unknown rule %r (known: %s)" % (rule, ", ".join(sorted(RULES))))
    check, error = RULES[rule]
    text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        check(text, option or rule)
    except error as exc:
        raise AnsibleFilterError(str(exc)) from None
    return text


class FilterModule:
    def filters(self):
        return {"validated": validated}
