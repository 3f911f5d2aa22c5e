#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xen_domain_info
short_description: List Xen domains and the device types they hold, from XenStore
version_added: 0.1.0
description:
  - Lists the domains under C(/local/domain) with their id, name and the device types present
    in their C(device) (frontends) and C(backend) directories.
  - Looks one domain up by O(name) or O(domid).
  - Reads one consistent snapshot (a XenStore transaction that is never committed); writes nothing.
author:
  - splitdriver.xen developers (@splitdriver)
extends_documentation_fragment:
  - splitdriver.xen._attributes
  - splitdriver.xen._attributes.INFO_MODULE
  - splitdriver.xen._attributes.XEN_DOM0
  - splitdriver.xen._xenstore
options:
  name:
    description:
      - Only the domains with this name (normally one; several if the name is shared).
      - Mutually exclusive with O(domid).
    type: str
  domid:
    description:
      - Only the domain with this id.
    type: int
seealso:
  - module: splitdriver.xen.xenstore_device
"""

EXAMPLES = r"""
- name: List the domains of this Xen host
  splitdriver.xen.xen_domain_info:
  register: xen

- name: Find a guest's domain id
  splitdriver.xen.xen_domain_info:
    name: domu1
  register: domu1

- name: Show it
  ansible.builtin.debug:
    msg: "domu1 is domain {{ domu1.domains[0].domid }}"
  when: domu1.domains | length == 1
"""

RETURN = r"""
domains:
  description: The domains found (an empty list when the lookup matches nothing), by domid.
  returned: always
  type: list
  elements: dict
  contains:
    domid:
      description: Domain id.
      type: int
      sample: 1
    name:
      description: Domain name (C(/local/domain/<domid>/name)), V(null) when it has none.
      type: str
      sample: domu1
    path:
      description: The domain's XenStore directory.
      type: str
      sample: /local/domain/1
    device_types:
      description: Device types with frontends in this domain (children of C(device/)).
      type: list
      elements: str
      sample: [mydevice, vbd, vif]
    backend_types:
      description: Device types this domain serves as a backend (children of C(backend/)).
      type: list
      elements: str
      sample: [mydevice]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.client import XenStore
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.common import check_connection_options
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.domains import (
    MODULE_KWARGS,
    argument_spec,
    list_domains,
)
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import XenStoreError
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.transport import HAS_PYXS, PYXS_IMPORT_ERROR
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.validate import ValidationError


def main():
    module = AnsibleModule(argument_spec=argument_spec(), **MODULE_KWARGS)
    params = module.params
    try:
        check_connection_options(params)
    except ValidationError as exc:
        module.fail_json(msg=str(exc))
    if not HAS_PYXS:
        module.fail_json(msg=missing_required_lib("pyxs"), exception=PYXS_IMPORT_ERROR)
    try:
        with XenStore(params["socket"], params["request_timeout"]) as xs:
            domains = list_domains(xs, name=params["name"], domid=params["domid"])
    except (ValidationError, XenStoreError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, domains=domains)


if __name__ == "__main__":
    main()
