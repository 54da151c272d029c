"""Running ansible-playbook and ansible as users do, and reading their results back (the conftest fixtures use it)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
# The stdout callback that writes every task result as JSON (what Run is parsed from).
CALLBACK_PLUGINS = Path(__file__).resolve().parents[1] / "callback_plugins"
BIN = Path(sys.executable).parent


@dataclass
class Run:
    """One ansible-playbook or ansible run: exit code, raw output and, per host, the results of every task."""

    rc: int
    stdout: str
    stderr: str
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # host -> task results in order
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    def task(self, host: str, name: str) -> dict[str, Any]:
        """The result of the task called ``name`` on ``host`` (the last one, if it ran more than once)."""
        found = [r for r in self.results.get(host, []) if r["_task"] == name]
        if not found:
            raise KeyError(f"no task {name!r} ran on {host}; ran: {[r['_task'] for r in self.results.get(host, [])]}")
        return found[-1]

    def changed(self, host: str) -> int:
        return self.stats[host]["changed"]


def ansible_env(lab_dir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT),
        ANSIBLE_HOME=str((lab_dir or REPO_ROOT) / ".ansible-home"),
        ANSIBLE_LOCAL_TEMP=str((lab_dir or REPO_ROOT) / ".ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def parse_json_callback(stdout: str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, int]]]:
    """Per host, the results of every task (each with its task name as ``_task``), and the play recap's stats, from
    what the results_json stdout callback printed (whatever came before its JSON is skipped)."""
    start = stdout.find("{")
    data = json.loads(stdout[start:])
    results: dict[str, list[dict[str, Any]]] = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                results.setdefault(host, []).append({"_task": task["task"]["name"], **res})
    return results, data.get("stats", {})
