"""Sliced runs (issue 19): the fleet's rollout as AWX/AAP runs a sliced job template.

AWX splits a job template's inventory into N slices, host ``i`` of the hosts in name order going to slice ``i % N``,
and runs each slice as its own job (``ansible-runner``) at the same time. Nothing in that split knows about CMS
clusters, so two slices hold nodes of one cluster: only the roles' cluster lock keeps them from taking two of its
nodes down together. What the benchmark checks here is exactly that, from the nodes' own ``service_state`` events.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from bench.harness import DOWN, REPO_ROOT, UP, ansible_env, events_since, marks
from tests.cmssim.testing import SimLab


def slice_hosts(hosts: list[str], count: int) -> list[list[str]]:
    """AWX's slicing: the hosts sorted by name (as its database orders them), host i to slice i % count."""
    ordered = sorted(hosts)
    return [ordered[k::count] for k in range(count)]


def slice_inventory(inventory: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """The lab's inventory with only ``keep`` among its hosts; groups and their variables stay as they are."""

    def prune(group: dict[str, Any]) -> None:
        hosts = group.get("hosts")
        if isinstance(hosts, dict):
            group["hosts"] = {name: value for name, value in hosts.items() if name in keep}
        for child in (group.get("children") or {}).values():
            if isinstance(child, dict):
                prune(child)

    pruned = copy.deepcopy(inventory)
    prune(pruned["all"])
    return pruned


@dataclass
class SlicedRun:
    slices: list[list[str]]
    seconds: float  # from the jobs' start to the last job's end
    job_seconds: list[float]  # each job's own, from the same start
    events: dict[str, list[dict[str, Any]]]


def run_sliced(lab: SimLab, playbook: str, count: int, extra_vars: Any, forks: int, root: Path) -> SlicedRun:
    """Run ``playbooks/<playbook>.yml`` as ``count`` slice jobs at once through ``ansible_runner.run_async``; each
    job has its own private data dir, its slice's inventory (plus ``inventory/lab``) and ``extra_vars(hosts)``."""
    slices = slice_hosts(list(lab.hosts), count)
    since = marks(lab)
    ended: dict[str, float] = {}
    jobs = []
    start = time.monotonic()
    for k, hosts in enumerate(slices):
        pdd = root / f"slice{k + 1}-of-{count}"
        (pdd / "env").mkdir(parents=True, exist_ok=True)
        inventory = pdd / "inventory.yml"
        inventory.write_text(yaml.safe_dump(slice_inventory(lab.inventory, set(hosts)), sort_keys=False))
        inventory.chmod(0o600)  # the lab's login is in it
        jobs.append(
            ansible_runner.run_async(
                private_data_dir=str(pdd),
                project_dir=str(REPO_ROOT),
                playbook=str(REPO_ROOT / "playbooks" / f"{playbook}.yml"),
                inventory=[str(inventory), str(REPO_ROOT / "inventory" / "lab")],
                extravars=extra_vars(hosts),
                envvars=ansible_env(pdd, ANSIBLE_FORKS=str(forks), RESULTS_JSONL_PATH=str(pdd / "results.jsonl")),
                ident=f"slice{k + 1}",
                quiet=True,
                timeout=3600,
                finished_callback=lambda runner: ended.setdefault(runner.config.ident, time.monotonic()),
            )
        )
    for thread, _runner in jobs:
        thread.join()
    for _thread, runner in jobs:
        if runner.status != "successful" or runner.rc != 0:
            out = runner.stdout.read() if runner.stdout else ""
            raise RuntimeError(
                f"slice job {runner.config.ident} ended {runner.status} (rc {runner.rc}):\n{out[-4000:]}"
            )
    took = [ended[f"slice{k + 1}"] - start for k in range(count)]
    time.sleep(0.3)  # the nodes log their last events asynchronously
    return SlicedRun(slices, max(took), took, events_since(lab, since))


def down_intervals(events: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """When a node was not fully serving: from one of its services going down (disabled/restarting/failed) until
    every service that went down is up again (enabled/running)."""
    intervals: list[tuple[float, float]] = []
    down: set[str] = set()
    since = 0.0
    for event in events:
        if event["event"] != "service_state":
            continue
        if event["state"] in DOWN:
            if not down:
                since = float(event["ts"])
            down.add(event["service"])
        elif event["state"] in UP and event["service"] in down:
            down.discard(event["service"])
            if not down:
                intervals.append((since, float(event["ts"])))
    if down:
        raise RuntimeError(f"services still down at the end of the run: {sorted(down)}")
    return intervals


def overlapping_outages(events: dict[str, list[dict[str, Any]]], clusters: list[list[str]]) -> list[dict[str, Any]]:
    """Every time a cluster had more than one node down at once: the cluster's nodes, when, and which were down."""
    found = []
    for cluster in clusters:
        edges = []
        for node in cluster:
            for start, end in down_intervals(events.get(node, [])):
                edges += [(start, 1, node), (end, 0, node)]  # at one instant, an end sorts before a start
        down: set[str] = set()
        for ts, starting, node in sorted(edges):
            if starting:
                down.add(node)
                if len(down) == 2:
                    found.append({"cluster": cluster, "at": ts, "down": sorted(down)})
            else:
                down.discard(node)
    return found


def describe(found: list[dict[str, Any]]) -> str:
    return json.dumps(found[:3])
