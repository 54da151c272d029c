"""Processes as users meet them: a playbook started in the background, and killed with SIGKILL the way a controller
crash, an OOM kill or an AWX cancel kills it; and waiting for a command to start or end on a simulated node, so that a
test acts at the point the node's event log signals instead of sleeping a guess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from bench.harness import process_tree
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import BIN, REPO_ROOT, ansible_env


def wait_for_command(
    lab: SimLab, node: str, command: str, since: float, timeout: float = 60, event: str = "command"
) -> dict[str, Any]:
    """The node's ``event`` (``command`` when it starts, ``command_done`` when it ends) for ``command``."""
    return lab.wait_event(
        node,
        lambda e: e["event"] == event and e["ts"] >= since and e["command"].startswith(command),
        timeout=timeout,
    )


def wait_for_command_done(lab: SimLab, node: str, command: str, since: float) -> None:
    """The command in flight when the controller died ends on the node (a kill does not stop it): wait for that,
    however loaded the machine, instead of sleeping a guess."""
    wait_for_command(lab, node, command, since, event="command_done")


def launch(lab: SimLab, playbook: str | Path, extra_vars: dict[str, Any] | None = None) -> subprocess.Popen:
    """``ansible-playbook`` on the lab's inventory (and inventory/lab) in the background, in a session of its own,
    its output discarded: what a test kills or races against."""
    cmd = [str(BIN / "ansible-playbook"), str(playbook), "-i", str(lab.dir / "inventory.yml")]
    cmd += ["-i", str(REPO_ROOT / "inventory" / "lab")]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    return subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=ansible_env(lab.dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_playbook(
    lab: SimLab, text: str, tmp_path: Path, extra_vars: dict[str, Any] | None = None
) -> subprocess.Popen:
    """``launch`` of the playbook ``text``, written to a new file under ``tmp_path``."""
    path = tmp_path / f"bg{len(list(tmp_path.glob('bg*.yml')))}.yml"
    path.write_text(text)
    return launch(lab, path, extra_vars)


def kill_9(proc: subprocess.Popen) -> None:
    """What a controller crash, an OOM kill or an AWX cancel does: SIGKILL to ansible-playbook and all its workers."""
    # Ansible's workers call setsid(), so the process group alone misses them: the whole tree, from /proc.
    victims = process_tree(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(10)
