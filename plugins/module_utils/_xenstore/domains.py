# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""Read-only domain listing for ``xen_domain_info``: one consistent snapshot, three batches
(the domain list, the names, the device and backend directories) when no listing exceeds one reply."""

from __future__ import annotations

from . import common, validate
from .errors import XenStoreError
from .transaction import run_transaction


def argument_spec():
    spec = dict(
        name=dict(type="str"),
        domid=dict(type="int"),
    )
    spec.update(common.connection_argument_spec())
    return spec


MODULE_KWARGS = dict(mutually_exclusive=[("name", "domid")], supports_check_mode=True)


def _ok(reply, default):
    if isinstance(reply, XenStoreError):
        if reply.errno not in ("ENOENT", "EACCES"):
            raise reply
        return default
    return reply


def list_domains(xs, name=None, domid=None, retries=10):
    """Domains as dicts (``domid``, ``name``, ``path``, ``device_types``, ``backend_types``).

    ``name`` or ``domid`` keeps only the matching domains (several when a name is shared).
    """
    if domid is not None:
        validate.check_domid(domid, "domid")
    if name is not None and name == "":
        raise validate.ValidationError("name must not be empty")

    def body(tx_id):
        listing = _ok(xs.directories(["/local/domain"], tx_id, raise_errors=False)["/local/domain"], []) or []
        domids = sorted(int(d) for d in listing if d.isdigit())
        if domid is not None:
            domids = [d for d in domids if d == domid]
        names = xs.batch([("read", "/local/domain/%d/name" % d) for d in domids], tx_id, raise_errors=False)
        listings = xs.directories(["/local/domain/%d/%s" % (d, sub) for d in domids for sub in ("device", "backend")],
                                  tx_id, raise_errors=False)
        domains = []
        for d, dom_name in zip(domids, names):
            base = "/local/domain/%d" % d
            domains.append(dict(
                domid=d,
                name=_ok(dom_name, None),
                path=base,
                device_types=sorted(_ok(listings[base + "/device"], []) or []),
                backend_types=sorted(_ok(listings[base + "/backend"], []) or []),
            ))
        if name is not None:
            domains = [dom for dom in domains if dom["name"] == name]
        return domains, False

    return run_transaction(xs, body, retries)
