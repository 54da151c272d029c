"""Running the collection's playbooks against simulated labs and reading what happened from the nodes' event logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cmssim.testing import SimLab

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The notification callback the tests use too: every task result as a JSON line.
CALLBACKS = REPO_ROOT / "tests" / "integration" / "callback_plugins"
# Modules that open an SSH session to a node (cms_lab_ca works on the controller only).
SESSION_MODULES = (
    "cisco_cms.mmp.cms_pki_csr",
    "cisco_cms.mmp.cms_pki_sign",
    "cisco_cms.mmp.cms_pki_info",
    "cisco_cms.mmp.cms_service_certs",
    "cisco_cms.mmp.cms_db_cluster",
    "cisco_cms.mmp.cms_db_cluster_info",
    "cisco_cms.mmp.cms_backup",
)
DOWN, UP = ("disabled", "restarting", "failed"), ("enabled", "running")


@dataclass
class PlaybookRun:
    """One ansible-playbook run: exit code, wall time, its task results, and each node's events during it."""

    name: str
    rc: int
    seconds: float
    stdout: str
    results: list[dict[str, Any]]
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def changed(self) -> int:
        return sum(1 for r in self.results if r["result"].get("changed"))

    def module_calls(self, node: str) -> int:
        """Calls of session-opening modules on ``node`` (each item of a loop is a call)."""
        calls = 0
        for record in self.results:
            if record["host"] != node or record["action"] not in SESSION_MODULES:
                continue
            items = record["result"].get("results")
            calls += len([i for i in items if not i.get("skipped")]) if isinstance(items, list) else 1
        return calls

    def connections(self, node: str) -> int:
        return len([e for e in self.events.get(node, []) if e["event"] == "connection_opened"])


def ansible_env(lab_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT),
        ANSIBLE_HOME=str(lab_dir / ".ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(lab_dir / ".ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_CALLBACKS_ENABLED="results_jsonl",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def marks(lab: SimLab) -> dict[str, int]:
    return {node: len(lab.events(node)) for node in lab.hosts}


def events_since(lab: SimLab, since: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    return {node: lab.events(node)[since[node] :] for node in lab.hosts}


def playbook(
    lab: SimLab, name: str, extra_vars: dict[str, Any] | None = None, forks: int = 5, label: str | None = None
) -> PlaybookRun:
    """Run ``playbooks/<name>.yml`` with the lab's inventory and ``inventory/lab``; fail loudly if it fails."""
    results_path = lab.dir / f".bench-results-{time.monotonic_ns()}.jsonl"
    cmd = [str(BIN / "ansible-playbook"), str(REPO_ROOT / "playbooks" / f"{name}.yml")]
    cmd += ["-i", str(lab.dir / "inventory.yml"), "-i", str(REPO_ROOT / "inventory" / "lab")]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = ansible_env(lab.dir, ANSIBLE_FORKS=str(forks), RESULTS_JSONL_PATH=str(results_path))
    since = marks(lab)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    time.sleep(0.3)  # connection_closed and finished transitions are logged asynchronously
    results = []
    if results_path.exists():
        results = [json.loads(line) for line in results_path.read_text().splitlines()]
        results_path.unlink()
    run = PlaybookRun(label or name, proc.returncode, seconds, proc.stdout, results, events_since(lab, since))
    if proc.returncode != 0:
        raise RuntimeError(f"{run.name} failed (rc {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return run


def outage_windows(events: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per service, the seconds between each stop (disabled/restarting/failed) and the next start."""
    windows: dict[str, list[float]] = {}
    down_at: dict[str, float] = {}
    for event in events:
        if event["event"] != "service_state":
            continue
        service = event["service"]
        if event["state"] in DOWN and service not in down_at:
            down_at[service] = event["ts"]
        elif event["state"] in UP and service in down_at:
            windows.setdefault(service, []).append(event["ts"] - down_at.pop(service))
    if down_at:
        raise RuntimeError(f"services still down at the end of the run: {sorted(down_at)}")
    return windows


def controller_gaps(events: list[dict[str, Any]], service: str) -> list[float]:
    """Per outage window of ``service``: the seconds in it during which the node was waiting for the controller.

    That is the time from each command's end (``command_done``, the prompt is back) to the next command inside the
    window; the rest of the window is the node itself working (command latency, transitions, checks).
    """
    gaps: list[float] = []
    down = False
    done_at: float | None = None
    waited = 0.0
    for event in events:
        kind = event["event"]
        if kind == "service_state" and event["service"] == service:
            if event["state"] in DOWN and not down:
                down, done_at, waited = True, None, 0.0
            elif event["state"] in UP and down:
                down = False
                gaps.append(waited)
        elif down and kind == "command_done":
            done_at = event["ts"]
        elif down and kind == "command" and done_at is not None:
            waited += event["ts"] - done_at
            done_at = None
    return gaps


def transitions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "cluster_transition" and e.get("phase") == "started"]
