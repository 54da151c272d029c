"""Run the collection through ansible-playbook and ad-hoc ansible against simulated labs, as users do."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import (
    BIN,
    CALLBACK_PLUGINS,
    REPO_ROOT,
    Run,
    ansible_env,
    parse_json_callback,
)


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
                "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_PLUGINS),
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
        results, stats = parse_json_callback(proc.stdout) if json_output and "{" in proc.stdout else ({}, {})
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
