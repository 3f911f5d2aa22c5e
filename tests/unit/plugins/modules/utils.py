# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module-args patching that works on every ansible-core the collection supports.

ansible-core 2.19 has ``ansible.module_utils.testing.patch_module_args`` (it encodes the args the
way the controller does, with a serialization profile). 2.17 and 2.18 have no such helper:
there ``AnsibleModule`` reads the JSON in ``ansible.module_utils.basic._ANSIBLE_ARGS``.
"""

from __future__ import annotations

import contextlib
import json
from unittest import mock

from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose ``args`` to the ``AnsibleModule`` instances created within this context."""
        if not isinstance(args, (dict, type(None))):
            raise TypeError("The `args` arg must be a dict or None.")
        encoded = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", encoded):
            yield


__all__ = ["patch_module_args"]
