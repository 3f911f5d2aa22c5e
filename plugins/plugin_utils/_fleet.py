# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""Build, from inventory, one device list per Xen host (the fleet plan).

Pure functions, no I/O: the ``fleet_devices`` filter is a thin wrapper around
:func:`fleet_plan`.

Inventory contract (host variables of every frontend host, i.e. every guest):

``splitdriver_xen_host``
    inventory name of the Xen host's toolstack domain (dom0) that runs the activation.
``splitdriver_xen_domain``
    the guest's Xen domain name (``xl list``); defaults to the inventory name. Guests are
    always named by domain name, never by domid: domids change when a guest restarts.
``splitdriver_xen_devices``
    list of ``{type, devid | devids, backend, frontend_entries, backend_entries}``; ``backend``
    is the Xen domain name of a driver domain, default dom0 (``Domain-0``).
"""

from __future__ import annotations

import re

from ansible_collections.splitdriver.xen.plugins.module_utils._xenstore import validate

DOM0_NAME = "Domain-0"
HOST_VAR = "splitdriver_xen_host"
DOMAIN_VAR = "splitdriver_xen_domain"
DEVICES_VAR = "splitdriver_xen_devices"
DEVICE_KEYS = frozenset(("type", "devid", "devids", "backend", "frontend_entries", "backend_entries"))
DEVID_MAX = 2**31 - 1
# Xen domain names as xl accepts them are free-form, but the ones we pass on must at least be
# printable ASCII without spaces at the ends; the module does the XenStore-level validation.
_NAME_RE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?\Z")


class FleetError(ValueError):
    """Bad inventory: the message names the host and the variable."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _devid(guest, index, value):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not _is_int(value) or value < 0 or value > DEVID_MAX:
        raise FleetError(
            "%s: %s[%d]: devid must be an integer from 0 to %d, got %r" % (guest, DEVICES_VAR, index, DEVID_MAX, value)
        )
    return value


def _entries(guest, index, key, value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FleetError("%s: %s[%d].%s must be a dictionary, got %s" % (guest, DEVICES_VAR, index, key, type(value).__name__))
    return dict(value)


def guest_devices(guest, domain, devices):
    """Normalise one guest's ``splitdriver_xen_devices`` into module device dicts.

    Devices whose backend is a driver domain carry ``backend``, its Xen domain name, which
    ``xenstore_device`` resolves on the Xen host in the same transaction as its writes. Devices
    served by dom0 carry no backend: dom0 is the module's default for a device to create, and a
    removal follows the backend the guest's frontend points at.
    """
    if devices is None:
        return []
    if not isinstance(devices, (list, tuple)):
        raise FleetError("%s: %s must be a list of devices, got %s" % (guest, DEVICES_VAR, type(devices).__name__))
    result = []
    seen = {}
    for index, spec in enumerate(devices):
        if not isinstance(spec, dict):
            raise FleetError("%s: %s[%d] must be a dictionary, got %s" % (guest, DEVICES_VAR, index, type(spec).__name__))
        unknown = sorted(set(spec) - DEVICE_KEYS)
        if unknown:
            raise FleetError(
                "%s: %s[%d]: unknown keys %s (allowed: %s)"
                % (guest, DEVICES_VAR, index, ", ".join(unknown), ", ".join(sorted(DEVICE_KEYS)))
            )
        dtype = spec.get("type")
        type_option = "%s[%d].type" % (DEVICES_VAR, index)
        try:
            validate.check_device_type(dtype, type_option)
        except validate.ValidationError as exc:
            raise FleetError("%s: %s" % (guest, exc)) from None
        if "devid" in spec and "devids" in spec:
            raise FleetError("%s: %s[%d]: give devid or devids, not both" % (guest, DEVICES_VAR, index))
        if "devids" in spec:
            devids = spec["devids"]
            if not isinstance(devids, (list, tuple)) or not devids:
                raise FleetError("%s: %s[%d].devids must be a non-empty list" % (guest, DEVICES_VAR, index))
            devids = [_devid(guest, index, d) for d in devids]
        else:
            devids = [_devid(guest, index, spec.get("devid", 0))]
        for devid in devids:
            try:
                # the module's own check for a frontend given by name (its domid is not known yet)
                validate.check_type(dtype, 0, devid, frontend_name=domain, what=type_option)
            except validate.ValidationError as exc:
                raise FleetError("%s: %s" % (guest, exc)) from None
        backend = spec.get("backend")
        if backend is None or backend == DOM0_NAME:
            backend = None
        elif not isinstance(backend, str) or not _NAME_RE.match(backend):
            raise FleetError(
                "%s: %s[%d].backend must be the Xen domain name of the backend domain, got %r"
                % (guest, DEVICES_VAR, index, backend)
            )
        fe_entries = _entries(guest, index, "frontend_entries", spec.get("frontend_entries"))
        be_entries = _entries(guest, index, "backend_entries", spec.get("backend_entries"))
        for devid in devids:
            key = (dtype, devid)
            if key in seen:
                raise FleetError(
                    "%s: %s[%d] repeats device %s/%d (already in %s[%d])"
                    % (guest, DEVICES_VAR, index, dtype, devid, DEVICES_VAR, seen[key])
                )
            seen[key] = index
            device = {"type": dtype, "frontend": domain, "devid": devid}
            if backend is not None:
                if backend == domain:
                    raise FleetError("%s: %s[%d]: backend %r is the guest itself" % (guest, DEVICES_VAR, index, backend))
                device["backend"] = backend
            if fe_entries:
                device["frontend_entries"] = fe_entries
            if be_entries:
                device["backend_entries"] = be_entries
            result.append(device)
    return result


def fleet_plan(hostvars, hosts):
    """Group the devices of ``hosts`` (frontend inventory hosts) by Xen host.

    ``hostvars`` maps inventory names to their variables (Ansible's ``hostvars``).
    Returns ``{xen_host: {"guests": [...], "domains": [...], "devices": [...],
    "backend_domains": [...]}}``, keeping the order of ``hosts``; ``guests[0]`` is the host that
    runs the Xen host's single activation task (delegated to the Xen host).
    """
    plan = {}
    owners = {}
    for guest in hosts:
        try:
            hvars = hostvars[guest]
        except KeyError:
            raise FleetError("%s: not an inventory host" % guest) from None
        xen_host = hvars.get(HOST_VAR)
        if not isinstance(xen_host, str) or not xen_host:
            raise FleetError(
                "%s: %s is not set: name the inventory host of this guest's Xen host (its dom0)" % (guest, HOST_VAR)
            )
        if xen_host == guest:
            raise FleetError("%s: %s names the guest itself, not its Xen host" % (guest, HOST_VAR))
        if xen_host not in hostvars:
            raise FleetError("%s: %s=%r is not an inventory host" % (guest, HOST_VAR, xen_host))
        domain = hvars.get(DOMAIN_VAR)
        if domain is None:
            domain = guest
        if not isinstance(domain, str) or not _NAME_RE.match(domain) or domain == DOM0_NAME:
            raise FleetError("%s: %s must be the guest's Xen domain name, got %r" % (guest, DOMAIN_VAR, domain))
        other = owners.get((xen_host, domain))
        if other is not None:
            raise FleetError(
                "%s and %s both claim Xen domain %r on Xen host %s (%s)" % (other, guest, domain, xen_host, DOMAIN_VAR)
            )
        owners[(xen_host, domain)] = guest
        entry = plan.setdefault(xen_host, {"guests": [], "domains": [], "devices": [], "backend_domains": []})
        entry["guests"].append(guest)
        entry["domains"].append(domain)
        for device in guest_devices(guest, domain, hvars.get(DEVICES_VAR)):
            entry["devices"].append(device)
            backend = device.get("backend")
            if backend is not None and backend not in entry["backend_domains"]:
                entry["backend_domains"].append(backend)
    return plan
