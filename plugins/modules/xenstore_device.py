#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xenstore_device
short_description: Activate and deactivate Xen split-driver devices in XenStore
version_added: 0.1.0
description:
  - Creates the XenStore nodes that connect a split driver's frontend (in a guest) to its
    backend (in dom0 or a driver domain), exactly as C(libxl) lays them out for its own devices,
    and removes them again with the Closing/Closed handshake.
  - All devices of one call are written in one XenStore transaction, re-run on conflicts (EAGAIN).
  - Idempotent. A device that exists is never re-initialised (its C(state) is never rewritten);
    drift in the keys the module manages (values, and permissions of every node it created) is
    repaired. Keys the drivers write themselves (C(ring-ref), C(event-channel), C(feature-*),
    C(hotplug-status), ...) are never removed nor reported as drift.
  - 'Present writes, for frontend domain F, backend domain B, type T and device id N: the
    frontend directory C(/local/domain/F/device/T/N) with permissions C(n<F>,r<B>) holding
    C(backend), C(backend-id) and C(state=1); the backend directory
    C(/local/domain/B/backend/T/F/N) with permissions C(n<B>,r<F>) holding C(frontend),
    C(frontend-id), C(online=1) and C(state=1). Permissions are set on the directories first
    (the keys inherit them) and C(state) is written last.'
author:
  - splitdriver.xen developers (@splitdriver)
extends_documentation_fragment:
  - splitdriver.xen._attributes
  - splitdriver.xen._attributes.XEN_DOM0
  - splitdriver.xen._xenstore
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the same snapshot and computes the same plan as a real run, then
        writes nothing and does not wait.
  diff_mode:
    support: full
    details:
      - The diff shows the managed nodes before and after, with their values and permissions.
  idempotent:
    support: full
options:
  type:
    description:
      - Device type, the name the drivers register with xenbus (for example C(mydevice)).
      - 1 to 15 letters, digits, C(_) or C(-). Linux names the backend device
        C(<type>-<frontend domid>-<devid>) and allows at most 19 characters, which a 15-character
        type fills with domid 0 and devid 0; each device's own bus id must fit too, so longer
        domids and devids need shorter types.
      - Required with O(frontend) for a single device; mutually exclusive with O(devices).
    type: str
  frontend:
    description:
      - The guest domain of the frontend, as a domain id (an integer, or a string of digits) or
        a domain name (looked up in C(/local/domain/*/name); a name must match exactly one domain).
    type: raw
  devid:
    description:
      - Device id of the single device (0 to 2^31-1). When not set, the single device gets V(0).
    type: int
  backend:
    description:
      - The backend domain (dom0 or a driver domain), as a domain id or a domain name (looked up
        like O(frontend), in the same snapshot as everything else the call reads).
      - The backend is part of a device's identity. With O(state=present) a device is created
        for dom0 when this is not set; a device that exists with another backend (its frontend's
        C(backend-id)) makes the call fail, naming both backends, and nothing is written
        (O(force=true) moves it).
      - With O(state=absent) the device is removed from the backend its frontend points at when
        this is not set; when set, it must be that backend (else the call fails) unless O(force=true).
    type: raw
    aliases: [backend_domid]
  frontend_entries:
    description:
      - Extra keys written in the frontend directory, as plain relative names (one path component)
        mapped to printable ASCII values. They must not be C(backend), C(backend-id) or C(state).
    type: dict
  backend_entries:
    description:
      - Extra keys written in the backend directory, as plain relative names mapped to printable
        ASCII values. They must not be C(frontend), C(frontend-id), C(online) or C(state).
    type: dict
  devices:
    description:
      - Several devices, all handled in one transaction. An empty list changes nothing.
      - Mutually exclusive with the single-device options.
    type: list
    elements: dict
    suboptions:
      type:
        description: Device type, see O(type).
        type: str
        required: true
      frontend:
        description: Frontend domain id or name, see O(frontend).
        type: raw
        required: true
      devid:
        description: Device id.
        type: int
        default: 0
      backend:
        description: Backend domain id or name, see O(backend).
        type: raw
        aliases: [backend_domid]
      frontend_entries:
        description: Extra frontend keys, see O(frontend_entries).
        type: dict
      backend_entries:
        description: Extra backend keys, see O(backend_entries).
        type: dict
  state:
    description:
      - V(present) creates the devices (or repairs them); V(absent) removes them.
      - Removal first asks the backend to close (C(online=0), C(state=5)) unless its state already
        is C(6), waits for C(state=6) within O(timeout), then removes both directories and their
        parents left empty (never C(/local/domain/<id>/device) nor C(/local/domain/<id>/backend)).
      - Removal succeeds on whatever is left when one end's domain is gone, with no handshake
        (nobody could answer it) - a guest that C(xl destroy) removed leaves its backend
        directories (removed, V(changed)); a guest given by a name no running domain has is
        reported V(unchanged) with the condition V(frontend-domain-gone) (O(prune_stale=true)
        removes what it left); a dead driver domain leaves the guest's frontend directory
        (removed).
    type: str
    default: present
    choices: [present, absent]
  force:
    description:
      - With O(state=absent), remove at once without the Closing/Closed handshake, from the
        backend the frontend points at whatever O(backend) says.
      - With O(state=present), move a device that exists with another backend - its old pair is
        closed with the handshake and removed, then the device is created for O(backend); the
        result says V(moved) and a warning names both backends.
    type: bool
    default: false
  wait:
    description:
      - After O(state=present), watch the state nodes until the backend reached InitWait (V(initwait))
        or until both ends are Connected (V(connected)), within O(timeout).
      - On timeout the module fails and reports both ends' states and the drivers'
        C(error/<nodename>/error) text when present.
      - Not done in check mode.
    type: str
    default: none
    choices: [none, initwait, connected]
  timeout:
    description:
      - Seconds to wait for O(wait), and for the backend to answer the removal handshake.
      - A finite number more than V(0) and at most V(3600), checked before anything is read or
        written.
    type: float
    default: 30.0
  retries:
    description:
      - How many times a transaction that conflicted with another writer (EAGAIN) is re-run
        (read, plan and write again), with jittered exponential backoff.
      - A connection that the daemon drops during a transaction also costs one attempt; the
        daemon discards that transaction, the module opens a new connection and runs it again.
        When the drop came after a commit was sent, the commit may have taken effect; the call
        is then reported as changed, with a warning.
      - A daemon that does not answer within O(request_timeout) is not retried.
      - From V(0) (one attempt) to V(100).
    type: int
    default: 10
  prune_stale:
    description:
      - Also remove the backend directories of the listed device types (under the listed backend
        domains) whose frontend domain no longer exists (no C(/local/domain/<domid>)).
      - C(xl destroy) leaves them behind for custom device types and they count against the
        backend domain's XenStore node quota. Devices of live domains are never touched.
    type: bool
    default: false
notes:
  - A device whose backend is Closing or Closed (for example after a removal that timed out) is
    not re-initialised by O(state=present), since C(state) is never rewritten; nor does a frontend
    that is past Initialising reconnect to a backend directory created anew. Such devices get a
    C(condition) in the result and a warning saying what to do (usually O(state=absent), then
    O(state=present)). M(splitdriver.xen.xenstore_device_info) reports every condition.
  - Frontend nodes are owned by the guest, as libxl makes them, so they count against the
    guest's XenStore node quota (1000 by default, C(xenstored --entry-nb)); each device adds 4
    (more with O(frontend_entries)). Writes from dom0 are not limited by it, but a guest over it
    can no longer create nodes itself, so its frontend driver's new keys (such as C(ring-ref))
    fail with ENOSPC.
seealso:
  - module: splitdriver.xen.xen_domain_info
  - name: XenStore paths (Xen documentation)
    description: Where libxl and the drivers keep device nodes.
    link: https://xenbits.xen.org/docs/unstable/misc/xenstore-paths.html
"""

EXAMPLES = r"""
- name: Activate a mydevice split-driver device for guest domu1 (backend in dom0)
  splitdriver.xen.xenstore_device:
    type: mydevice
    frontend: domu1

- name: Activate devices for two guests in one transaction and wait until both ends connect
  splitdriver.xen.xenstore_device:
    devices:
      - type: mydevice
        frontend: domu1
      - type: mydevice
        frontend: domu2
        devid: 1
        backend_entries:
          mode: rw
    wait: connected
    timeout: 60

- name: Serve the device from a driver domain (by name) instead of dom0
  splitdriver.xen.xenstore_device:
    type: mydevice
    frontend: domu1
    backend: netdrv

- name: Move a device that dom0 serves to the driver domain (old pair closed and removed first)
  splitdriver.xen.xenstore_device:
    type: mydevice
    frontend: domu1
    backend: netdrv
    force: true

- name: Deactivate the device (the backend driver closes it first) and prune dead guests' leftovers
  splitdriver.xen.xenstore_device:
    type: mydevice
    frontend: domu1
    state: absent
    prune_stale: true
"""

RETURN = r"""
devices:
  description: One entry per device of the call, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    type:
      description: Device type.
      type: str
      sample: mydevice
    frontend:
      description:
        - Frontend domain id (resolved when a name was given).
        - V(null) for a removal whose frontend was given by a name that no running domain has.
      type: int
      sample: 1
    frontend_name:
      description: The domain name the frontend was given as, when it was given by name.
      type: str
      returned: when O(frontend) was a name
      sample: domu1
    devid:
      description: Device id.
      type: int
      sample: 0
    backend_domid:
      description:
        - Backend domain id. For a removal, the backend the frontend pointed at.
      type: int
      sample: 0
    backend_name:
      description: The domain name the backend was given as, when it was given by name.
      type: str
      returned: when O(backend) was a name
      sample: netdrv
    previous_backend_domid:
      description: The backend a V(moved) device had before.
      type: int
      returned: when RV(devices[].action=moved)
      sample: 3
    frontend_path:
      description: The frontend directory.
      type: str
      sample: /local/domain/1/device/mydevice/0
    backend_path:
      description: The backend directory.
      type: str
      sample: /local/domain/0/backend/mydevice/1/0
    action:
      description:
        - V(created), V(repaired) (drift in managed keys or permissions fixed), V(removed),
          V(moved) (O(force=true) gave it another backend) or V(unchanged). In check mode, what a
          real run would do.
        - V(closing) only in a failed removal, for a device whose backend was asked to close
          and did not answer with Closed within O(timeout).
      type: str
      sample: created
    state_before:
      description: XenBus states of both ends before the call (V(null) when the node is absent).
      type: dict
      sample: {frontend: null, backend: null}
    state_after:
      description:
        - XenBus states after the call; after O(wait), the states read at the end of the wait.
      type: dict
      sample: {frontend: 1, backend: 1}
    condition:
      description:
        - V(ok), or what keeps the pair from ever connecting as it was found before the call
          (the most severe one), as M(splitdriver.xen.xenstore_device_info) names it -
          V(backend-closed), V(frontend-closed), V(backend-missing), V(frontend-missing),
          V(backend-domain-gone), V(frontend-domain-gone), V(incomplete) (one end missing, which
          O(state=present) completes).
        - Each condition that O(state=present) does not repair also comes as a warning that says
          what to do.
      type: str
      sample: ok
removed:
  description: Paths removed (each with its subtree), parents left empty included.
  returned: always
  type: list
  elements: str
  sample: [/local/domain/0/backend/mydevice, /local/domain/1/device/mydevice]
pruned:
  description: Stale backend directories of dead frontend domains that were removed.
  returned: always
  type: list
  elements: str
  sample: [/local/domain/0/backend/mydevice/7]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.client import XenStore
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.device import (
    MODULE_KWARGS,
    DeviceError,
    DeviceManager,
    argument_spec,
    device_specs,
    precheck,
)
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.errors import XenStoreError
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.transport import HAS_PYXS, PYXS_IMPORT_ERROR
from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore.validate import ValidationError


def main():
    module = AnsibleModule(argument_spec=argument_spec(), **MODULE_KWARGS)
    params = module.params
    try:
        precheck(params, device_specs(params))
    except ValidationError as exc:
        module.fail_json(msg=str(exc), changed=False)
    if params["devices"] == []:
        module.exit_json(changed=False, devices=[], removed=[], pruned=[])
    if not HAS_PYXS:
        module.fail_json(msg=missing_required_lib("pyxs"), exception=PYXS_IMPORT_ERROR)
    xs = XenStore(params["socket"], params["request_timeout"])
    manager = DeviceManager(xs, params, check_mode=module.check_mode)
    try:
        with xs:
            result = manager.run()
    except ValidationError as exc:
        module.fail_json(msg=str(exc), changed=manager.committed)
    except DeviceError as exc:
        module.fail_json(msg=exc.message, **exc.extra)
    except XenStoreError as exc:
        module.fail_json(msg=exc.message, changed=manager.committed)
    for warning in manager.warnings:
        module.warn(warning)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
