# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: xen
short_description: The guests of Xen hosts, read from each host's XenStore
version_added: 0.1.0
author: splitdriver.xen developers (@splitdriver)
description:
  - Lists the guest domains (domUs) of the given Xen hosts as inventory hosts, with the variables
    and groups the fleet playbooks (C(splitdriver.xen.site), C(splitdriver.xen.verify),
    C(splitdriver.xen.deactivate)) expect, so the guest list is never written by hand.
  - Each Xen host is asked over SSH (the user's own SSH configuration, keys and agent) or, with
    O(transport=local), on this machine. The command is read-only; it runs
    C(xenstore-ls -f /local/domain) (package C(xenstore-utils)) for domain ids, names, UUIDs and the
    device directories, then, if C(xl) is installed, C(xl list) for the run states, which XenStore
    does not hold. Both need root on the Xen host (see O(become)).
  - Every guest gets C(splitdriver_xen_host) (the Xen host's name as given in O(xen_hosts)),
    C(splitdriver_xen_domain) (its Xen domain name), C(splitdriver_xen_domid),
    C(splitdriver_xen_uuid) (V(null) if XenStore has none), C(splitdriver_xen_state) (V(running),
    V(paused), V(shutdown), V(suspended), V(crashed) or V(dying); V(null) when C(xl list) could not
    tell), C(splitdriver_xen_device_types) (the device types with a frontend device in the guest,
    from C(/local/domain/<domid>/device/<type>/<devid>)) and C(splitdriver_xen_backend_types) (the
    types it serves as a driver domain).
  - "Groups: O(frontends_group) (all guests); C(xen_host_<Xen host>) (the guests of one Xen host);
    C(xen_device_<type>) (the guests with a device of that type); O(backends_group) (the Xen hosts
    themselves). Characters other than letters, digits and C(_) in group names become C(_)."
  - Domain 0, domains without a name (being built or torn down), the temporary copies of a live
    migration (C(<name>--incoming), C(<name>--migratedaway)) and domains matching
    O(exclude_domains) are not listed.
  - A guest whose inventory name is already taken (the same domain name on two Xen hosts, or a
    Xen host's name) is left out with a warning; give O(hostname) to tell them apart.
  - A Xen host that cannot be listed (unreachable, C(xenstore-ls) failing, output not understood)
    gets a warning naming it and the command's error, and its guests are missing from this
    inventory; the other hosts are listed. With O(strict=true) it is an error instead, and so is
    a guest left out for its name, and the whole inventory source fails (Ansible then warns that it
    could not parse the source and goes on without it, or stops if
    C(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true)).
  - The inventory source is a YAML file whose name ends in C(.xen.yml) or C(.xen.yaml) (or is
    C(xen.yml)/C(xen.yaml)).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    type: str
    required: true
    choices: [splitdriver.xen.xen]
  xen_hosts:
    description:
      - The Xen hosts to list, each named as its dom0 is named in the inventory (that name is
        what the guests' C(splitdriver_xen_host) holds and where the fleet playbooks activate
        their devices).
      - An entry is that name (also the SSH destination, so an C(~/.ssh/config) alias works) or a
        dictionary with the keys C(name) (required), C(address) (SSH destination, default
        C(name)), C(user), C(port), C(transport) (default O(transport)), C(ssh_args) (added after
        O(ssh_args)), C(environment) (variables set for the listing command on that host, for
        example C(XENSTORED_PATH) to read a XenStore daemon listening on another socket) and
        C(become) (default O(become)).
      - Invalid entries fail with a message naming the entry and the key.
    type: list
    elements: raw
    required: true
  transport:
    description:
      - How the listing command reaches a Xen host.
      - V(ssh) runs it there with C(ssh -o BatchMode=yes -T [-p port] [-l user] -- <address> <command>).
      - V(local) runs it on this machine, for an inventory read on the Xen host itself.
    type: str
    choices: [ssh, local]
    default: ssh
  ssh_executable:
    description: The SSH client, a command name looked up in E(PATH) or a path.
    type: str
    default: ssh
  ssh_args:
    description:
      - Arguments given to the SSH client before the plugin's own (ssh keeps the first value it
        sees of an option, so these win), for example V([-F, /path/to/ssh_config]).
    type: list
    elements: str
    default: []
  become:
    description:
      - Run the listing command through O(become_exe) C(-n) (non-interactive), for SSH users other
        than root. C(xenstore-ls) and C(xl) need root.
    type: bool
    default: false
  become_exe:
    description: The privilege escalation command used with O(become).
    type: str
    default: sudo
  timeout:
    description:
      - Seconds each Xen host's listing may take (SSH connection included) before it counts as
        failed. The hosts are asked in parallel.
    type: int
    default: 60
  read_state:
    description:
      - Also run C(xl list) (if installed) for each guest's run state. Without it
        C(splitdriver_xen_state) is V(null).
    type: bool
    default: true
  hostname:
    description:
      - A Jinja2 expression giving each guest's inventory name, evaluated like O(compose) with the
        guest's C(splitdriver_xen_*) variables. Without it a guest is named by its Xen domain name.
      - For example V(splitdriver_xen_domain ~ '.example.org') or
        V(splitdriver_xen_domain ~ '.' ~ splitdriver_xen_host).
      - An expression that fails or gives no non-empty string is an error.
    type: str
  exclude_domains:
    description:
      - Domain names (shell-style patterns, case-sensitive) that are not listed, for example the
        device-model stub domains V(*-dm) or driver domains kept in a static inventory.
    type: list
    elements: str
    default: []
  frontends_group:
    description:
      - The group of all listed guests, which the fleet playbooks treat as frontend hosts.
        An empty string adds no such group.
    type: str
    default: xen_frontends
  backends_group:
    description:
      - The group the Xen hosts of O(xen_hosts) are added to (the fleet playbooks build and load
        the backend driver there). An empty string adds no such group. The plugin sets no
        variables on Xen hosts; their connection settings belong in another inventory source.
    type: str
    default: xen_backends
notes:
  - With O(cache=true) each Xen host's listing is cached on its own, with its own time, and
    expires after O(cache_timeout). A host that failed is not cached, so the next run asks it
    again while the others are served from the cache. C(--flush-cache) asks every host again.
  - Runs one command per Xen host, read-only; it never writes to XenStore.
  - Strings read from the Xen hosts are marked unsafe, so they are never templated.
seealso:
  - plugin: ansible.builtin.constructed
    plugin_type: inventory
  - module: splitdriver.xen.xen_domain_info
"""

EXAMPLES = r"""
---
# xen.yml: the guests of two Xen hosts reached with the user's SSH configuration.
plugin: splitdriver.xen.xen
xen_hosts:
  - xen1.example.org
  - xen2.example.org

---
# fleet.xen.yml: another SSH config file, a non-root user with sudo, one host on another port,
# guests named <domain>.guests.example.org, grouped by run state.
plugin: splitdriver.xen.xen
xen_hosts:
  - xen1.example.org
  - name: xen2.example.org
    address: 192.0.2.12
    port: 2222
ssh_args: [-F, /etc/ansible/xen_ssh_config]
become: true
hostname: splitdriver_xen_domain ~ '.guests.example.org'
exclude_domains: ['*-dm']
keyed_groups:
  - key: splitdriver_xen_state
    prefix: xen_state
compose:
  ansible_host: splitdriver_xen_domain ~ '.guests.example.org'
groups:
  driver_domains: splitdriver_xen_backend_types | length > 0

---
# local.xen.yml: run on the Xen host itself (its inventory name: xen1.example.org), cached for
# 10 minutes.
plugin: splitdriver.xen.xen
transport: local
xen_hosts:
  - xen1.example.org
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: /var/cache/ansible/inventory
cache_timeout: 600
"""

import concurrent.futures
import os
import shlex
import signal
import subprocess
import time

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.splitdriver.xen.plugins.plugin_utils._xen_inventory import (
    cache_entries,
    cache_key,
    cached_listings,
    plan_inventory,
)
from ansible_collections.splitdriver.xen.plugins.plugin_utils._xen_listing import (
    ListingError,
    XenHostsError,
    command_error,
    describe_host,
    listing_command,
    normalize_xen_hosts,
    parse_listing,
)

CONFIG_SUFFIXES = (".xen.yml", ".xen.yaml")
CONFIG_NAMES = ("xen.yml", "xen.yaml")
MAX_PARALLEL = 16


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """The guests of Xen hosts, read from each host's XenStore."""

    NAME = "splitdriver.xen.xen"

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        base = path.replace("\\", "/").rsplit("/", 1)[-1]
        if base in CONFIG_NAMES or base.endswith(CONFIG_SUFFIXES):
            return True
        self.display.vvv("Skipping %s: an inventory source of %s must end in .xen.yml or .xen.yaml" % (path, self.NAME))
        return False

    # ------------------------------------------------------------------------- listing
    def _list_one(self, host):
        """``(domains, None)`` or ``(None, error message)`` for one Xen host."""
        argv = listing_command(
            host,
            read_state=self.get_option("read_state"),
            ssh_executable=self.get_option("ssh_executable"),
            ssh_args=self.get_option("ssh_args") or [],
            become_exe=self.get_option("become_exe"),
        )
        timeout = self.get_option("timeout")
        self.display.vvv("%s: listing Xen host %s: %s" % (self.NAME, describe_host(host), shlex.join(argv)))
        try:
            # A session of its own: on timeout the whole process group goes (sh and the
            # xenstore-ls or ssh it started), not only its leader.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return None, command_error(host, None, str(exc))
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _stdout, stderr = proc.communicate()
            return None, command_error(host, None, stderr.decode("utf-8", "replace"), timed_out=timeout)
        stderr = stderr.decode("utf-8", "replace")
        if proc.returncode != 0:
            return None, command_error(host, proc.returncode, stderr)
        try:
            domains, states_known = parse_listing(stdout.decode("ascii", "replace"))
        except ListingError as exc:
            return None, "listing output not understood: %s" % exc
        if self.get_option("read_state") and not states_known:
            self.display.vvv("%s: Xen host %s: no run states (xl list missing or failed)%s"
                             % (self.NAME, host["name"], ": " + stderr.strip() if stderr.strip() else ""))
        return domains, None

    def _list_hosts(self, hosts):
        """``{cache_key: (domains, error)}``, the hosts asked in parallel."""
        if not hosts:
            return {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(hosts))) as pool:
            futures = {cache_key(host): pool.submit(self._list_one, host) for host in hosts}
            return {key: future.result() for key, future in futures.items()}

    # --------------------------------------------------------------------------- parse
    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        try:
            hosts = normalize_xen_hosts(self.get_option("xen_hosts"), transport=self.get_option("transport"),
                                        become=self.get_option("become"))
        except XenHostsError as exc:
            raise AnsibleParserError("%s: %s" % (path, exc)) from None
        strict = self.get_option("strict")

        use_cache = self.get_option("cache")
        cache_name = self.get_cache_key(path)
        cached = None
        if use_cache:
            try:
                cached = self._cache[cache_name]
            except KeyError:
                cached = None
        now = time.time()
        from_cache = cached_listings(cached, hosts, now, self.get_option("cache_timeout")) if use_cache and cache else {}
        results = self._list_hosts([host for host in hosts if cache_key(host) not in from_cache])
        listed = {key: domains for key, (domains, error) in results.items() if error is None}
        if use_cache and listed:
            self._cache[cache_name] = cache_entries(cached, hosts, listed, now)

        failures = []
        listings = []
        for host in hosts:
            key = cache_key(host)
            if key in from_cache:
                self.display.vvv("%s: Xen host %s served from the cache" % (self.NAME, host["name"]))
                listings.append((host["name"], from_cache[key]))
                continue
            domains, error = results[key]
            if error is not None:
                failures.append("Xen host %s could not be listed, its guests are missing: %s"
                                % (describe_host(host), error))
            listings.append((host["name"], domains))
        if failures and strict:
            raise AnsibleParserError("%s: %s" % (path, "; ".join(failures)))
        for failure in failures:
            self.display.warning("%s: %s" % (self.NAME, failure))

        self._populate(listings, strict)

    def _hostname(self, expression):
        if not expression:
            return None

        def name_of(hvars):
            try:
                return self._compose(expression, hvars)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                raise ValueError("hostname: could not evaluate %r for domain %s on %s: %s"
                                 % (expression, hvars["splitdriver_xen_domain"], hvars["splitdriver_xen_host"], exc)) from exc
        return name_of

    def _populate(self, listings, strict):
        try:
            plan = plan_inventory(
                listings,
                hostname=self._hostname(self.get_option("hostname")),
                frontends_group=self.get_option("frontends_group"),
                backends_group=self.get_option("backends_group"),
                exclude=self.get_option("exclude_domains") or [],
            )
        except ValueError as exc:
            raise AnsibleParserError("%s: %s" % (self.NAME, exc)) from None
        for reason in plan["skipped"]:
            self.display.vvv("%s: not listed: %s" % (self.NAME, reason))
        if plan["conflicts"] and strict:
            raise AnsibleParserError("%s: %s" % (self.NAME, "; ".join(plan["conflicts"])))
        for conflict in plan["conflicts"]:
            self.display.warning("%s: %s" % (self.NAME, conflict))

        for xen_host, _domains in listings:
            self.inventory.add_host(xen_host)
        for name, hvars in plan["hosts"].items():
            self.inventory.add_host(name)
            for var, value in hvars.items():
                self.inventory.set_variable(name, var, wrap_var(value))
        for group, members in plan["groups"].items():
            self.inventory.add_group(group)
            for member in members:
                self.inventory.add_child(group, member)

        compose = self.get_option("compose")
        groups = self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        for name in plan["hosts"]:
            hvars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(compose, hvars, name, strict=strict)
            self._add_host_to_composed_groups(groups, hvars, name, strict=strict)
            self._add_host_to_keyed_groups(keyed_groups, hvars, name, strict=strict)
