# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the splitdriver.xen collection: not a public API, may change without notice.
"""The connection options every XenStore module shares, declared and checked once.

They are documented once too, in ``plugins/doc_fragments/_xenstore.py``: every module that
extends that fragment builds its argument spec from ``connection_argument_spec()`` and calls
``check_connection_options()`` before it connects, and the ``xenstore`` action group in
``meta/runtime.yml`` lets ``module_defaults`` set them for all of those modules at once.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from . import validate

# libxenstore's clients (xenstore-ls, xenstore-write, ...) and pyxs read this variable too.
SOCKET_ENV = "XENSTORED_PATH"
REQUEST_TIMEOUT_DEFAULT = 10.0


def connection_argument_spec():
    """``socket`` (falls back to ``$XENSTORED_PATH``) and ``request_timeout``."""
    return dict(
        socket=dict(type="path", fallback=(env_fallback, [SOCKET_ENV])),
        request_timeout=dict(type="float", default=REQUEST_TIMEOUT_DEFAULT),
    )


def check_connection_options(params) -> None:
    """Raise ``ValidationError`` unless ``request_timeout`` is in range (before any request)."""
    validate.check_seconds(params["request_timeout"], "request_timeout", validate.REQUEST_TIMEOUT_MAX)
