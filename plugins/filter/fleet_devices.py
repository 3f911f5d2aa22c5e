# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_devices
short_description: Group the split-driver devices of frontend hosts by Xen host
version_added: 0.1.0
author: splitdriver.xen developers (@splitdriver)
description:
  - Reads the inventory variables of the given frontend hosts (guests) and returns one entry per
    Xen host (the dom0 inventory host that runs the activation), carrying every device of every
    given guest on that Xen host, ready for the O(splitdriver.xen.xenstore_device#module:devices)
    option of M(splitdriver.xen.xenstore_device).
  - Each guest names its Xen host with C(splitdriver_xen_host), its Xen domain name with
    C(splitdriver_xen_domain) (default its inventory name) and its devices with
    C(splitdriver_xen_devices), a list of dictionaries with the keys C(type), C(devid) (default 0) or
    C(devids), C(backend) (Xen domain name of a driver domain, default dom0),
    C(frontend_entries) and C(backend_entries).
  - Guests are named by Xen domain name, never by domid, so the plan survives guest restarts.
  - Only the given hosts are planned, so a play limited to one guest touches only that guest's devices.
  - Bad inventory (missing or unknown Xen host, duplicate domain names or devices, invalid devids,
    unknown keys) fails with a message naming the host and the variable.
options:
  _input:
    description: Ansible's C(hostvars).
    type: dict
    required: true
  hosts:
    description:
      - Inventory names of the frontend hosts to plan, usually C(ansible_play_batch).
    type: list
    elements: str
    required: true
seealso:
  - module: splitdriver.xen.xenstore_device
"""

EXAMPLES = r"""
- name: One device list per Xen host, for the guests of this batch
  ansible.builtin.set_fact:
    fleet: "{{ hostvars | splitdriver.xen.fleet_devices(ansible_play_batch) }}"
  run_once: true
# fleet ==
#   xen1:
#     guests: [web1, web2]
#     domains: [web1, web2]
#     backend_domains: []
#     devices:
#       - {type: mydevice, frontend: web1, devid: 0, backend_domid: 0}
#       - {type: mydevice, frontend: web2, devid: 0, backend_domid: 0}
"""

RETURN = r"""
_value:
  description:
    - Dictionary keyed by Xen host inventory name.
    - C(guests) lists the guests' inventory names in the given order (the first one runs the
      Xen host's activation task), C(domains) their Xen domain names, C(devices) the module
      device dictionaries (a device served by a driver domain names it in C(backend), which the
      module resolves on the Xen host) and C(backend_domains) the driver domains named.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.splitdriver.xen.plugins.plugin_utils._fleet import FleetError, fleet_plan


def fleet_devices(hostvars, hosts):
    try:
        return fleet_plan(hostvars, hosts)
    except FleetError as exc:
        raise AnsibleFilterError("fleet_devices: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"fleet_devices": fleet_devices}
