"""Running the collection's playbooks against simulated labs and reading what happened from the nodes' event logs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cmssim.testing import SimLab

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The notification callback the tests use too: every task result as a JSON line.
CALLBACKS = REPO_ROOT / "tests" / "integration" / "callback_plugins"
# The collection's modules that open no SSH session to a node: every other cisco_cms.mmp module does (cms_lock and
# cms_trust included, and any module added later).
NO_SESSION_MODULES = (
    "cisco_cms.mmp.cms_lab_ca",  # the controller-side lab CA
    "cisco_cms.mmp.cms_api_info",  # the node's REST API over HTTPS
    "cisco_cms.mmp.cms_cert_report",  # a report from what other modules returned
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
    # Peak resident memory (bytes) while it ran: the ansible-playbook process tree summed, and the simulator.
    controller_rss: int = 0
    simulator_rss: int = 0

    def changed(self) -> int:
        """Changes reported: each changed task result, or each changed service of a call that handles several
        (``cms_service_certs`` with ``services``)."""
        count = 0
        for record in self.results:
            result = record["result"]
            services = result.get("services")
            if isinstance(services, list):
                count += sum(1 for s in services if isinstance(s, dict) and s.get("changed"))
            elif result.get("changed"):
                count += 1
        return count

    def module_calls(self, node: str) -> int:
        """Calls of session-opening modules on ``node`` (each item of a loop is a call)."""
        calls = 0
        for record in self.results:
            action = record["action"]
            if record["host"] != node or not action.startswith("cisco_cms.mmp.") or action in NO_SESSION_MODULES:
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


def rss(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces and parentheses: the fields after the last ")" are fixed.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


class MemorySampler:
    """Samples, every ``interval`` seconds while a run lasts, the summed RSS of a process tree (the controller: the
    ansible-playbook process and its forks) and of the simulator's process; keeps the peaks."""

    def __init__(self, roots: list[int], simulator: int | None, interval: float = 0.25) -> None:
        self.roots, self.simulator, self.interval = roots, simulator, interval
        self.controller_peak = self.simulator_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            tree = {pid for root in self.roots for pid in process_tree(root)}
            self.controller_peak = max(self.controller_peak, sum(rss(pid) for pid in tree))
            if self.simulator:
                self.simulator_peak = max(self.simulator_peak, rss(self.simulator))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def simulator_pid(lab: SimLab) -> int | None:
    """The pid of the simulator serving ``lab`` (its run file), or None."""
    try:
        return int(json.loads((lab.dir / "run.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def playbook(
    lab: SimLab,
    name: str,
    extra_vars: dict[str, Any] | None = None,
    forks: int = 5,
    label: str | None = None,
    memory: bool = False,
) -> PlaybookRun:
    """Run ``playbooks/<name>.yml`` with the lab's inventory and ``inventory/lab``; fail loudly if it fails.

    ``memory``: sample the peak RSS of the controller (the ansible-playbook process tree) and of the simulator.
    """
    results_path = lab.dir / f".bench-results-{time.monotonic_ns()}.jsonl"
    cmd = [str(BIN / "ansible-playbook"), str(REPO_ROOT / "playbooks" / f"{name}.yml")]
    cmd += ["-i", str(lab.dir / "inventory.yml"), "-i", str(REPO_ROOT / "inventory" / "lab")]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = ansible_env(lab.dir, ANSIBLE_FORKS=str(forks), RESULTS_JSONL_PATH=str(results_path))
    since = marks(lab)
    start = time.monotonic()
    sampler = None
    with subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        if memory:
            sampler = MemorySampler([proc.pid], simulator_pid(lab))
        with sampler or contextlib.nullcontext():
            stdout, stderr = proc.communicate()
    seconds = time.monotonic() - start
    time.sleep(0.3)  # connection_closed and finished transitions are logged asynchronously
    results = []
    if results_path.exists():
        results = [json.loads(line) for line in results_path.read_text().splitlines()]
        results_path.unlink()
    run = PlaybookRun(label or name, proc.returncode, seconds, stdout, results, events_since(lab, since))
    if sampler:
        run.controller_rss, run.simulator_rss = sampler.controller_peak, sampler.simulator_peak
    if proc.returncode != 0:
        raise RuntimeError(f"{run.name} failed (rc {proc.returncode}):\n{stdout[-4000:]}\n{stderr[-2000:]}")
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
