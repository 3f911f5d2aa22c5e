#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xenstore_device_info
short_description: Report the state of Xen split-driver devices in XenStore and what is wrong with them
version_added: 0.1.0
description:
  - Reads both ends of every split-driver device of a Xen host from XenStore, the way
    M(splitdriver.xen.xenstore_device) and C(libxl) lay them out (frontend directory
    C(/local/domain/F/device/T/N), backend directory C(/local/domain/B/backend/T/F/N)), and says
    for each device what is wrong with it and what to do (RV(devices[].conditions)).
  - Devices are found from both sides, so half-made pairs and leftovers show too - a frontend
    directory, the backend directory it points at, and any backend directory no frontend points
    at (for example the one C(xl destroy) leaves behind when the guest is gone).
  - Reports every key of both directories, those the drivers write (C(ring-ref),
    C(event-channel), C(feature-*), C(hotplug-status), ...) as well as those
    M(splitdriver.xen.xenstore_device) manages, and the drivers' error nodes.
  - Reads one consistent snapshot (a XenStore transaction that is never committed, read in
    pipelined batches, one per level of the tree); writes nothing.
author:
  - splitdriver.xen developers (@splitdriver)
extends_documentation_fragment:
  - splitdriver.xen._attributes
  - splitdriver.xen._attributes.INFO_MODULE
  - splitdriver.xen._attributes.XEN_DOM0
  - splitdriver.xen._xenstore
options:
  type:
    description:
      - Only devices of these types (a type, or a list of types). An empty list matches no device.
      - When not set, every type found in the domains' C(device) and C(backend) directories.
    type: list
    elements: str
  frontend:
    description:
      - Only the devices of these guests (a guest, or a list of them), each as a domain id (an
        integer, or a string of digits) or a domain name (looked up in C(/local/domain/*/name) of
        the same snapshot; several domains sharing a name are all selected). An empty list
        matches no device.
      - A domain id need not exist, so that the leftovers of a guest that is gone can be listed;
        an unknown name is an error.
    type: raw
  backend:
    description:
      - Only the devices served by these backend domains (dom0 or driver domains), as domain
        ids or domain names, like O(frontend).
      - A frontend that names no backend domain is left out.
    type: raw
notes:
  - A device is one frontend slot (type, guest, device id) with the backend its C(backend-id)
    names. A backend directory that no frontend points at is reported as a device of its own.
  - A node the module may not read (C(EACCES)) is reported as absent, never as an error.
  - Directories whose name is not a number (such as C(device/suspend/event-channel), which C(xl)
    writes) are not devices and are skipped.
seealso:
  - module: splitdriver.xen.xenstore_device
  - module: splitdriver.xen.xen_domain_info
  - name: XenStore paths (Xen documentation)
    description: Where libxl and the drivers keep device nodes.
    link: https://xenbits.xen.org/docs/unstable/misc/xenstore-paths.html
"""

EXAMPLES = r"""
- name: Report every mydevice device of this Xen host
  splitdriver.xen.xenstore_device_info:
    type: mydevice
  register: devices

- name: Show one line per device
  ansible.builtin.debug:
    msg: >-
      {{ item.type }} {{ item.devid }} of {{ item.frontend.name or item.frontend.domid }}:
      frontend {{ item.frontend.state_name }}, backend {{ item.backend.state_name }},
      {{ item.condition }}
  loop: "{{ devices.devices }}"
  loop_control:
    label: "{{ item.type }}/{{ item.frontend.domid }}/{{ item.devid }}"

- name: Fail when a device has a problem, saying what to do
  ansible.builtin.assert:
    that: devices.devices | rejectattr('condition', 'equalto', 'ok') | list | length == 0
    fail_msg: "{{ devices.devices | map(attribute='conditions') | flatten | map(attribute='message') | list }}"

- name: Wait until the devices of guest web1 served by the driver domain netdrv are Connected
  splitdriver.xen.xenstore_device_info:
    type: [mydevice, otherdevice]
    frontend: web1
    backend: netdrv
  register: web1
  until: >-
    web1.devices | length > 0
    and web1.devices | rejectattr('frontend.state', 'equalto', 4) | list | length == 0
    and web1.devices | rejectattr('backend.state', 'equalto', 4) | list | length == 0
  retries: 15
  delay: 2
"""

RETURN = r"""
devices:
  description:
    - One entry per device found, sorted by type, frontend domain id, device id and backend
      domain id.
  returned: always
  type: list
  elements: dict
  contains:
    type:
      description: Device type.
      type: str
      sample: mydevice
    devid:
      description: Device id.
      type: int
      sample: 0
    frontend:
      description: The frontend end, in the guest.
      type: dict
      contains:
        domid:
          description: The guest's domain id.
          type: int
          sample: 5
        name:
          description: The guest's domain name, V(null) when the domain is gone or has none.
          type: str
          sample: web1
        path:
          description: The frontend directory.
          type: str
          sample: /local/domain/5/device/mydevice/0
        exists:
          description: Whether the frontend directory exists.
          type: bool
          sample: true
        state:
          description: Its XenBus state, V(null) when missing or not a number.
          type: int
          sample: 4
        state_name:
          description: The name of that state (V(Initialising), V(InitWait), V(Connected), V(Closed), ...).
          type: str
          sample: Connected
        perms:
          description: Permissions of the directory, comma-separated (libxl writes C(n<guest>,r<backend>)).
          type: str
          sample: n5,r0
        keys:
          description:
            - Every key of the directory and its value, managed and driver-written alike
              (V(null) for a key that could not be read).
          type: dict
          sample: {backend: /local/domain/0/backend/mydevice/5/0, backend-id: "0", state: "4", ring-ref: "8", event-channel: "12"}
        error:
          description:
            - The text the frontend driver left in C(/local/domain/<guest>/error/device/<type>/<devid>/error),
              V(null) when there is none.
          type: str
          sample: null
    backend:
      description:
        - The backend end, in dom0 or a driver domain, with the same keys as RV(devices[].frontend)
          plus RV(devices[].backend.online).
        - RV(devices[].backend.domid) and RV(devices[].backend.path) are V(null) when the
          frontend names no backend domain.
      type: dict
      contains:
        domid:
          description: The backend domain id.
          type: int
          sample: 0
        name:
          description: The backend domain's name.
          type: str
          sample: Domain-0
        path:
          description: The backend directory.
          type: str
          sample: /local/domain/0/backend/mydevice/5/0
        exists:
          description: Whether the backend directory exists.
          type: bool
          sample: true
        state:
          description: Its XenBus state, V(null) when missing or not a number.
          type: int
          sample: 4
        state_name:
          description: The name of that state.
          type: str
          sample: Connected
        perms:
          description: Permissions of the directory (libxl writes C(n<backend>,r<guest>)).
          type: str
          sample: n0,r5
        keys:
          description: Every key of the directory and its value.
          type: dict
          sample: {frontend: /local/domain/5/device/mydevice/0, frontend-id: "5", online: "1", state: "4", hotplug-status: connected}
        error:
          description:
            - The text the backend driver left in
              C(/local/domain/<backend>/error/backend/<type>/<guest>/<devid>/error), V(null) when
              there is none (not read when the backend directory does not exist).
          type: str
          sample: null
        online:
          description: The backend's C(online) key (V(false) once a removal started), V(null) when missing.
          type: bool
          sample: true
    conditions:
      description:
        - What is wrong with the device, most severe first, empty when nothing is.
        - "Codes: V(frontend-domain-gone) (a leftover backend directory of a guest that is gone),
          V(backend-domain-gone) (the backend domain the frontend names is gone),
          V(pointer-mismatch) (the ends' C(backend)/C(backend-id) and C(frontend)/C(frontend-id)
          do not name each other), V(backend-missing) and V(frontend-missing) (one end is missing
          while the other is past Initialising, so it will not connect again),
          V(incomplete) (one end is missing, the other was not probed yet),
          V(backend-closed) and V(frontend-closed) (an end is Closing or Closed),
          V(driver-error) (a driver wrote an error node), V(perms) (permissions differ from libxl's)."
        - V(incomplete) and V(perms) are fixed by M(splitdriver.xen.xenstore_device) with
          O(splitdriver.xen.xenstore_device#module:state=present); the others need the device
          removed and added again, as each message says.
      type: list
      elements: dict
      contains:
        code:
          description: The condition's code.
          type: str
          sample: backend-closed
        message:
          description: What is wrong and what to do, naming the device.
          type: str
          sample: >-
            mydevice device 0 of domain 5: the backend in domain 0 is 6 (Closed) (frontend 4 (Connected));
            the pair will not connect again (...). Remove it with state=absent (force=true if the
            backend driver is gone) and add it again with state=present.
    condition:
      description: The code of the most severe condition, V(ok) when there is none.
      type: str
      sample: ok
summary:
  description: How many devices have each RV(devices[].condition) (the counts add up to the number of devices).
  returned: always
  type: dict
  sample: {ok: 3, backend-closed: 1}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.client import XenStore
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import XenStoreError
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.info import (
    MODULE_KWARGS,
    argument_spec,
    device_info,
    parse_filters,
)
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.transport import HAS_PYXS, PYXS_IMPORT_ERROR
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.validate import ValidationError


def main():
    module = AnsibleModule(argument_spec=argument_spec(), **MODULE_KWARGS)
    try:
        filters = parse_filters(module.params)
    except ValidationError as exc:
        module.fail_json(msg=str(exc))
    if not HAS_PYXS:
        module.fail_json(msg=missing_required_lib("pyxs"), exception=PYXS_IMPORT_ERROR)
    try:
        with XenStore(module.params["socket"], module.params["request_timeout"]) as xs:
            result = device_info(xs, filters)
    except (ValidationError, XenStoreError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
