"""Run the collection through ansible-playbook and ad-hoc ansible against simulated labs, as users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cmssim.testing import SimLab

REPO_ROOT = Path(__file__).resolve().parents[2]
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


def _parse_json_callback(stdout: str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, int]]]:
    start = stdout.find("{")
    data = json.loads(stdout[start:])
    results: dict[str, list[dict[str, Any]]] = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                results.setdefault(host, []).append({"_task": task["task"]["name"], **res})
    return results, data.get("stats", {})


@pytest.fixture
def playbook(tmp_path: Path) -> Callable[..., Run]:
    """``playbook(lab, yaml_text_or_path, extra_vars=None, check=False, diff=False, limit=None, verbosity=0,
    inventories=(...))``: run ansible-playbook with the lab's inventory (plus inventory/lab) and the json callback."""

    def run(
        lab: SimLab,
        play: str | Path,
        extra_vars: dict[str, Any] | None = None,
        check: bool = False,
        diff: bool = False,
        limit: str | None = None,
        verbosity: int = 0,
        inventories: tuple[str, ...] | None = None,
        json_output: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> Run:
        if isinstance(play, str) and "\n" in play:
            path = tmp_path / f"play{len(list(tmp_path.glob('play*.yml')))}.yml"
            path.write_text(textwrap.dedent(play))
        else:
            path = Path(play)
            if not path.is_absolute():
                path = REPO_ROOT / path
        invs = (
            inventories
            if inventories is not None
            else (str(lab.dir / "inventory.yml"), str(REPO_ROOT / "inventory" / "lab"))
        )
        cmd = [str(BIN / "ansible-playbook"), str(path)]
        for inv in invs:
            cmd += ["-i", inv]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if limit:
            cmd += ["--limit", limit]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        extra = (
            {
                "ANSIBLE_STDOUT_CALLBACK": "results_json",
                "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
            }
            if json_output
            else {}
        )
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=ansible_env(lab.dir, **extra, **(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        results, stats = _parse_json_callback(proc.stdout) if json_output and "{" in proc.stdout else ({}, {})
        return Run(proc.returncode, proc.stdout, proc.stderr, results, stats)

    return run


@pytest.fixture
def adhoc() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``adhoc(lab, host, module, args="", extra=())``: ``ansible HOST -m MODULE -a ARGS`` with the lab inventory."""

    def run(
        lab: SimLab, host: str, module: str, args: str = "", extra: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(BIN / "ansible"), host, "-i", str(lab.dir / "inventory.yml"), "-m", module, *extra]
        if args:
            cmd += ["-a", args]
        return subprocess.run(
            cmd, cwd=REPO_ROOT, env=ansible_env(lab.dir), capture_output=True, text=True, timeout=300, check=False
        )

    return run


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
