# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark helper: append each task's wall time (start to last host result) as a JSON line
to the file named by $TASK_TIMER_FILE. Enabled by benchmarks/bench.py only."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_timer
type: aggregate
short_description: Record task wall times for the benchmarks
description:
  - Appends one JSON line per task, C({"task", "seconds"}), to the file named by E(TASK_TIMER_FILE).
author: splitdriver.xen developers (@splitdriver)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("TASK_TIMER_FILE")
        self._task = None
        self._start = 0.0
        self._end = 0.0

    def _flush(self):
        if self._task is not None and self._path:
            with open(self._path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"task": self._task, "seconds": self._end - self._start}) + "\n")
        self._task = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._flush()
        self._task = task.get_name()
        self._start = self._end = time.perf_counter()

    def _done(self, *_args, **_kwargs):
        self._end = time.perf_counter()

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_skipped = _done

    def v2_playbook_on_stats(self, stats):
        self._flush()
