# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""Read-only domain listing for ``xen_domain_info``: one consistent snapshot, two batches."""

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
        listing = _ok(xs.batch([("directory", "/local/domain")], tx_id, raise_errors=False)[0], [])
        domids = sorted(int(d) for d in listing if d.isdigit())
        if domid is not None:
            domids = [d for d in domids if d == domid]
        requests = []
        for d in domids:
            base = "/local/domain/%d" % d
            requests += [("read", base + "/name"), ("directory", base + "/device"),
                         ("directory", base + "/backend")]
        replies = xs.batch(requests, tx_id, raise_errors=False)
        domains = []
        for index, d in enumerate(domids):
            dom_name, device, backend = replies[3 * index:3 * index + 3]
            domains.append(dict(
                domid=d,
                name=_ok(dom_name, None),
                path="/local/domain/%d" % d,
                device_types=sorted(_ok(device, [])),
                backend_types=sorted(_ok(backend, [])),
            ))
        if name is not None:
            domains = [dom for dom in domains if dom["name"] == name]
        return domains, False

    return run_transaction(xs, body, retries)
