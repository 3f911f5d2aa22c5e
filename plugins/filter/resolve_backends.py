# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: resolve_backends
short_description: Give devices served by a driver domain that domain's current domid
version_added: 0.1.0
author: splitdriver.xen developers (@splitdriver)
description:
  - Takes device dictionaries from P(splitdriver.xen.fleet_devices#filter) and replaces each
    C(backend_domain) (the Xen domain name of a driver domain) by C(backend_domid), looked up in
    the domains a Xen host reports (M(splitdriver.xen.xen_domain_info)).
  - Devices served by dom0 pass unchanged.
  - Fails with a clear message when a driver domain is not running or its name matches several domains.
options:
  _input:
    description: Device dictionaries.
    type: list
    elements: dict
    required: true
  domains:
    description:
      - The Xen host's domains, either a list of dictionaries with C(name) and C(domid)
        (as returned by M(splitdriver.xen.xen_domain_info)) or a dictionary mapping names to domids.
    type: raw
    required: true
seealso:
  - plugin: splitdriver.xen.fleet_devices
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Activate devices, some served by a driver domain
  splitdriver.xen.xenstore_device:
    devices: "{{ fleet[xen_host].devices | splitdriver.xen.resolve_backends(domain_info.domains) }}"
"""

RETURN = r"""
_value:
  description: The devices, each with an integer C(backend_domid) and no C(backend_domain).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.splitdriver.xen.plugins.plugin_utils._fleet import FleetError
from ansible_collections.splitdriver.xen.plugins.plugin_utils._fleet import resolve_backends as _resolve


def resolve_backends(devices, domains):
    try:
        return _resolve(devices, domains)
    except FleetError as exc:
        raise AnsibleFilterError("resolve_backends: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"resolve_backends": resolve_backends}
