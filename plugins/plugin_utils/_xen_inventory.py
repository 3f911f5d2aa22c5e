# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# NOTE: this is private to the splitdriver.xen collection. It may change or be removed at any
# time without notice. Do not use it from other collections or roles.
"""From the domains of each Xen host to inventory hosts, variables and groups.

Pure functions, no I/O: the ``splitdriver.xen.xen`` inventory plugin feeds them the parsed
listings (``_xen_listing``) and applies the result to Ansible's inventory. The variable names
are the fleet playbooks' inventory contract (``_fleet``): a guest's ``splitdriver_xen_host`` is
the inventory name of its dom0, ``splitdriver_xen_domain`` its Xen domain name.
"""

from __future__ import annotations

import fnmatch
import json
import re

HOST_VAR = "splitdriver_xen_host"
DOMAIN_VAR = "splitdriver_xen_domain"
DOMID_VAR = "splitdriver_xen_domid"
UUID_VAR = "splitdriver_xen_uuid"
STATE_VAR = "splitdriver_xen_state"
DEVICE_TYPES_VAR = "splitdriver_xen_device_types"
BACKEND_TYPES_VAR = "splitdriver_xen_backend_types"
HOST_GROUP_PREFIX = "xen_host_"
DEVICE_GROUP_PREFIX = "xen_device_"
# xl renames a domain for the length of a live migration (tools/xl/xl_migrate.c): the copy
# arriving on the target is "<name>--incoming", the one leaving the source "<name>--migratedaway".
MIGRATION_SUFFIXES = ("--incoming", "--migratedaway")
CACHE_VERSION = 1
# What Ansible replaces in group names (constants.INVALID_VARIABLE_NAMES, applied by
# to_safe_group_name); our prefixes never start with a digit.
_UNSAFE_GROUP_CHARS = re.compile(r"[^\w]")


def safe_group_name(name):
    return _UNSAFE_GROUP_CHARS.sub("_", name)


def host_group(xen_host):
    return safe_group_name(HOST_GROUP_PREFIX + xen_host)


def device_group(device_type):
    return safe_group_name(DEVICE_GROUP_PREFIX + device_type)


def skip_reason(domain, exclude=()):
    """Why a domain is not listed as a guest (None: it is)."""
    if domain["domid"] == 0:
        return "domain 0 is the Xen host itself"
    name = domain["name"]
    if not name:
        return "domain %d has no name in XenStore (being built or torn down)" % domain["domid"]
    if name.endswith(MIGRATION_SUFFIXES):
        return "domain %d (%s) is a copy in live migration" % (domain["domid"], name)
    for pattern in exclude:
        if fnmatch.fnmatchcase(name, pattern):
            return "domain %d (%s) matches exclude_domains pattern %r" % (domain["domid"], name, pattern)
    return None


def guest_vars(xen_host, domain):
    """The host variables of one guest."""
    return {
        HOST_VAR: xen_host,
        DOMAIN_VAR: domain["name"],
        DOMID_VAR: domain["domid"],
        UUID_VAR: domain["uuid"],
        STATE_VAR: domain["state"],
        DEVICE_TYPES_VAR: list(domain["device_types"]),
        BACKEND_TYPES_VAR: list(domain["backend_types"]),
    }


def plan_inventory(listings, hostname=None, frontends_group="xen_frontends", backends_group="xen_backends",
                   exclude=()):
    """Hosts and groups from the listings.

    ``listings``: ``[(xen_host_name, domains or None), ...]`` in ``xen_hosts`` order (None: that
    host could not be listed). ``hostname(vars) -> str`` names a guest (default: its domain
    name); a ``ValueError`` from it is passed on. Empty ``frontends_group``/``backends_group``
    disable those groups.

    Returns ``{"hosts": {name: vars}, "groups": {group: [host, ...]}, "skipped": [reason, ...],
    "conflicts": [message, ...]}``. Every Xen host gets its ``xen_host_*`` group (empty when it
    failed) and joins ``backends_group``; a guest whose inventory name is already taken (by a
    Xen host, or by an earlier guest: same domain name on two Xen hosts) is left out and
    reported in ``conflicts``.
    """
    hosts = {}
    groups = {}
    skipped = []
    conflicts = []
    origin = {}

    def add(group, host):
        members = groups.setdefault(group, [])
        if host is not None and host not in members:
            members.append(host)

    xen_names = [xen_host for xen_host, _domains in listings]
    for xen_host in xen_names:
        origin[xen_host] = "Xen host %s" % xen_host
        if backends_group:
            add(backends_group, xen_host)
        add(host_group(xen_host), None)
    if frontends_group:
        add(frontends_group, None)

    for xen_host, domains in listings:
        for domain in domains or ():
            reason = skip_reason(domain, exclude)
            if reason:
                skipped.append("%s: %s" % (xen_host, reason))
                continue
            hvars = guest_vars(xen_host, domain)
            name = hostname(hvars) if hostname else domain["name"]
            if not isinstance(name, str) or not name.strip():
                raise ValueError("hostname gave %r for domain %s on %s: need a non-empty string"
                                 % (name, domain["name"], xen_host))
            where = "domain %s (%d) on %s" % (domain["name"], domain["domid"], xen_host)
            if name in origin:
                conflicts.append("%s: inventory name %r is already taken by %s; %s left out"
                                 % (xen_host, name, origin[name], where))
                continue
            origin[name] = where
            hosts[name] = hvars
            if frontends_group:
                add(frontends_group, name)
            add(host_group(xen_host), name)
            for device_type in domain["device_types"]:
                add(device_group(device_type), name)
    return {"hosts": hosts, "groups": groups, "skipped": skipped, "conflicts": conflicts}


# ------------------------------------------------------------------------------------ cache

def cache_key(host):
    """The cache entry of one Xen host: keyed by everything that says how it is reached, so
    changing its address or transport never serves the old host's listing."""
    return json.dumps(host, sort_keys=True)


def cached_listings(cached, hosts, now, max_age):
    """``{cache_key: domains}`` of the hosts with a fresh enough entry in ``cached`` (what the
    cache plugin returned). Each entry carries its own time, because a cache written after a
    partial listing keeps the older entries of the hosts that were not asked again."""
    if not isinstance(cached, dict) or cached.get("version") != CACHE_VERSION:
        return {}
    entries = cached.get("hosts")
    if not isinstance(entries, dict):
        return {}
    fresh = {}
    for host in hosts:
        key = cache_key(host)
        entry = entries.get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("domains"), list):
            continue
        listed_at = entry.get("listed_at")
        if not isinstance(listed_at, (int, float)) or (max_age and now - listed_at >= max_age) or listed_at > now:
            continue
        fresh[key] = entry["domains"]
    return fresh


def cache_entries(cached, hosts, listed, now):
    """The new cache value: the still-configured hosts' entries of ``cached``, with the hosts
    listed now (``{cache_key: domains}``) stamped ``now``. Failed hosts are never stored."""
    old = {}
    if isinstance(cached, dict) and cached.get("version") == CACHE_VERSION and isinstance(cached.get("hosts"), dict):
        old = cached["hosts"]
    entries = {}
    for host in hosts:
        key = cache_key(host)
        if key in listed:
            entries[key] = {"listed_at": now, "domains": listed[key]}
        elif isinstance(old.get(key), dict):
            entries[key] = old[key]
    return {"version": CACHE_VERSION, "hosts": entries}
