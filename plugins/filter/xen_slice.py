# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: xen_slice
short_description: The slice of a sliced fleet run that a Xen host belongs to
version_added: 0.2.0
author: splitdriver.xen developers (@splitdriver)
description:
  - Returns a number from 1 to O(count) computed from a Xen host's inventory name alone, so that
    every guest (through its C(splitdriver_xen_host)), the dom0 and the driver domains of one Xen
    host get the same slice. Run the fleet playbooks once per slice, each with
    C(--limit splitdriver_xen_slice_<n>), and no Xen host is split across two runs.
  - Use it where AWX or Ansible Automation Platform would slice a job (job slicing splits the
    inventory host by host, which puts one Xen host's guests in several slices); see
    C(docs/awx.md) in the collection.
  - The same name always gets the same slice for a given O(count), on every controller.
    Adding or removing a Xen host moves no other Xen host. Slices are balanced only on average,
    so with few Xen hosts check them (C(ansible-inventory --graph)) and set
    C(splitdriver_xen_slice) yourself where needed.
options:
  _input:
    description: Inventory name of the Xen host (its dom0).
    type: str
    required: true
  count:
    description: Number of slices, from 1 to 1000.
    type: int
    required: true
seealso:
  - plugin: splitdriver.xen.fleet_devices
    plugin_type: filter
"""

EXAMPLES = r"""
# A constructed inventory source (ansible.builtin.constructed) that puts each Xen host with its
# guests and driver domains in a group splitdriver_xen_slice_1 .. splitdriver_xen_slice_4:
#
#   plugin: ansible.builtin.constructed
#   strict: true
#   compose:
#     splitdriver_xen_slice: >-
#       splitdriver_xen_slice | default((splitdriver_xen_host | default(inventory_hostname))
#       | splitdriver.xen.xen_slice(4))
#   keyed_groups:
#     - key: splitdriver_xen_slice | string
#       prefix: splitdriver_xen_slice
#
# then one run per slice: ansible-playbook -i inventory/ splitdriver.xen.site --limit splitdriver_xen_slice_1

- name: Show the slice of this host's Xen host
  ansible.builtin.debug:
    msg: "{{ (splitdriver_xen_host | default(inventory_hostname)) | splitdriver.xen.xen_slice(4) }}"
"""

RETURN = r"""
_value:
  description: The slice number, from 1 to O(count).
  type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.splitdriver.xen.plugins.plugin_utils._slice import SliceError, xen_slice as _xen_slice


def xen_slice(xen_host, count):
    try:
        return _xen_slice(xen_host, count)
    except SliceError as exc:
        raise AnsibleFilterError("xen_slice: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"xen_slice": xen_slice}
