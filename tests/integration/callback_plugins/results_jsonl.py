# Test and benchmark notification callback: every task result as one JSON line, appended to the file named by the
# RESULTS_JSONL_PATH environment variable, while the stdout callback stays whatever the run uses. The benchmark
# (bench/) counts module calls and reads returned figures from it; the reliability tests search it for secrets.
from __future__ import annotations

import json
import os
from typing import Any

from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: results_jsonl
type: notification
short_description: every task result as a JSON line (tests and benchmark only)
description: Appends each task result to the file named by the RESULTS_JSONL_PATH environment variable.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "results_jsonl"
    CALLBACK_NEEDS_ENABLED = True

    def _dump(self, result: Any, status: str) -> None:
        record = {
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "action": result._task.action,
            "status": status,
            "result": result._result,
        }
        with open(os.environ["RESULTS_JSONL_PATH"], "a") as fh:
            fh.write(json.dumps(record, cls=AnsibleJSONEncoder) + "\n")

    def v2_runner_on_ok(self, result: Any) -> None:
        self._dump(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._dump(result, "failed")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._dump(result, "unreachable")
