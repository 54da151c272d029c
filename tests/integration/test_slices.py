"""Slice safety: the rollout run as AWX job slices in parallel never takes two nodes of one cluster down at once.

AWX job slicing runs N ansible-playbook jobs at the same time, slice k on an inventory that holds hosts[k::N] of the
inventory's hosts in name order, with their group variables (docs/awx.md#sliced-job-template-large-fleets). Here a
6-node lab in 2 clusters of 3 is cut so that each slice holds part of each cluster, and both slices roll out with
every host in one batch: only the cluster lock keeps a cluster's nodes taking turns.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import CLUSTER_LOCK_FILE
from tests.cmssim import x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import REPO_ROOT, Run
from tests.integration.helpers.processes import kill_9, start_playbook, wait_for_command_done
from tests.integration.helpers.service_certs import DOWN, UP, TestCA, config, events_since, seeded_names, served

CLUSTERS = {"a": ("cms1", "cms2", "cms3"), "b": ("cms4", "cms5", "cms6")}
NODES = tuple(sorted(node for members in CLUSTERS.values() for node in members))
SERVICE_CERTS = "playbooks/service_certs.yml"
LAB_FILE = {
    "nodes": len(NODES),
    "clusters": [{"name": name, "nodes": list(members)} for name, members in CLUSTERS.items()],
}


def slice_inventory(lab: SimLab, k: int, n: int) -> Path:
    """The inventory AWX gives slice ``k`` of ``n``: hosts[k::n] of the hosts in name order, with only their own
    host variables; every group and its variables stay."""
    inventory = yaml.safe_load((lab.dir / "inventory.yml").read_text())
    cms = inventory["all"]["children"]["cms"]
    kept = sorted(cms["hosts"])[k::n]
    cms["hosts"] = {name: cms["hosts"][name] for name in kept}
    for group in cms.get("children", {}).values():
        group["hosts"] = {name: None for name in group["hosts"] if name in kept}
    path = lab.dir / f"slice{k + 1}of{n}.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def outages(lab: SimLab, node: str, since: float) -> list[tuple[float, float, str]]:
    """Each service's (down, up) window on ``node`` since ``since``, from its service_state events."""
    windows, down_at = [], {}
    for event in events_since(lab, node, since, "service_state"):
        service = event["service"]
        if event["state"] in DOWN and service not in down_at:
            down_at[service] = event["ts"]
        elif event["state"] in UP and service in down_at:
            windows.append((down_at.pop(service), event["ts"], service))
    assert not down_at, f"{node}: {sorted(down_at)} still down according to its event log"
    return windows


def overlaps(lab: SimLab, since: float, clusters: Mapping[str, tuple[str, ...]] = CLUSTERS) -> list[str]:
    """Every time two nodes of one cluster were down at once."""
    found = []
    for cluster, members in clusters.items():
        windows = {node: outages(lab, node, since) for node in members}
        for i, first in enumerate(members):
            for second in members[i + 1 :]:
                for a_down, a_up, a_service in windows[first]:
                    for b_down, b_up, b_service in windows[second]:
                        if a_down < b_up and b_down < a_up:
                            found.append(f"cluster {cluster}: {first} {a_service} and {second} {b_service}")
    return found


def run_slices(
    playbook: Callable[..., Run], lab: SimLab, extra_vars: dict[str, Any], slices: int
) -> tuple[list[Run], list[dict[str, Any]]]:
    """playbooks/service_certs.yml as ``slices`` AWX job slices, all at the same time, each its own run: the runs,
    and every task result of every slice (a JSON line each: under host_pinned, tasks of several hosts interleave,
    which the per-task results of the stdout callback cannot tell apart)."""
    runs: list[Run] = [Run(-1, "", "")] * slices
    dumps = [lab.dir / f"slice{k + 1}of{slices}.jsonl" for k in range(slices)]

    def one(k: int) -> None:
        env = {"ANSIBLE_CALLBACKS_ENABLED": "results_jsonl", "RESULTS_JSONL_PATH": str(dumps[k])}
        inventories = (str(slice_inventory(lab, k, slices)),)
        runs[k] = playbook(lab, SERVICE_CERTS, extra_vars=extra_vars, inventories=inventories, env=env)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(slices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    results = [json.loads(line) for dump in dumps if dump.exists() for line in dump.read_text().splitlines()]
    return runs, results


def rollout_vars(ca: TestCA, suffix: str, **extra: Any) -> dict[str, Any]:
    """Every node in one batch, Web Admin to the certificate ``<node>-<suffix>`` the test CA made for it."""
    for node in NODES:
        ca.leaf(f"{node}-{suffix}", seeded_names(node))
    stem = f"{ca.dir}/{{{{ inventory_hostname }}}}-{suffix}"
    return {
        "service_certs_defaults": {"key_src": stem + ".key", "cert_src": stem + ".cer", "bundle_src": str(ca.bundle)},
        "service_certs_services": [{"service": "webadmin"}],
        "service_certs_serial": "100%",
        "service_certs_summary": False,
        "cms_output_dir": str(ca.dir.parent / "out"),
        "service_certs_trust_ca_src": "",  # Web Admin only: no trust store changes (the lab inventory's CA change)
        **extra,
    }


def test_two_slices_rolling_out_every_node_at_once_never_take_two_nodes_of_a_cluster_down_together(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run], tmp_path: Path
) -> None:
    lab = make_lab(lab_file=LAB_FILE)
    ca = TestCA(tmp_path / "ca")
    # Without the cluster lock (its host unset), the nodes of a batch go down together: the overlap this test looks
    # for is there to be seen, so the check below can fail.
    since = time.time()
    unlocked = playbook(
        lab, SERVICE_CERTS, extra_vars=rollout_vars(ca, "r1", service_certs_hosts="a", cms_cluster_lock_host="")
    )
    assert unlocked.rc == 0, unlocked.stdout[-3000:]
    assert overlaps(lab, since), "the run without cluster locks shows no overlap: the check below would prove nothing"

    since = time.time()
    runs, results = run_slices(playbook, lab, rollout_vars(ca, "r2", service_certs_strategy="host_pinned"), 2)
    for run in runs:
        assert run.rc == 0, run.stdout[-4000:]
    assert overlaps(lab, since) == []
    for node in NODES:
        assert config(lab, node, "webadmin")["cert"] == f"{node}-r2.cer"
        assert served(lab, node, "webadmin") == x509.fingerprint(
            x509.load_certs((ca.dir / f"{node}-r2.cer").read_bytes())[0]
        )
        assert len(outages(lab, node, since)) == 1, node
    # Each cluster's lock was contended (a node waited for another), and none is left behind.
    waited = {
        record["host"]: record["result"]["waited"]
        for record in results
        if "Cluster lock | take the cluster lock for this node" in record["task"]
    }
    assert sorted(waited) == list(NODES)
    for cluster, members in CLUSTERS.items():
        assert max(waited[node] for node in members) > 0, (cluster, waited)
    assert not (lab.files_dir("cms1") / CLUSTER_LOCK_FILE).exists()
    assert not (lab.files_dir("cms4") / CLUSTER_LOCK_FILE).exists()


# ---- a run killed while a node holds its cluster's lock ------------------------------------------------------------
ONE_CLUSTER: dict[str, tuple[str, ...]] = {"a": ("cms1", "cms2", "cms3")}


def next_webadmin_swap(lab: SimLab, since: float, done: set[str], timeout: float = 240) -> str:
    """The next node (not in ``done``) whose ``webadmin certs`` starts: under host_pinned, whichever took the lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in ONE_CLUSTER["a"]:
            if node not in done and [
                e for e in events_since(lab, node, since, "command") if e["command"].startswith("webadmin certs")
            ]:
                return node
        time.sleep(0.05)
    raise AssertionError("no further node started its webadmin swap")


@pytest.mark.parametrize("kill_at", ["mid-swap", "after-swap"])
def test_a_rollout_killed_while_a_node_holds_its_cluster_lock_is_relaunched_and_the_nodes_still_take_turns(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run], tmp_path: Path, kill_at: str
) -> None:
    # The relaunch must not take a second node of the cluster down while the node the killed run was changing is
    # still down (mid-swap: Web Admin disabled), and must not wait for a lock nobody will free (after-swap: the node
    # is in place and is not rolled out again).
    lab = make_lab(lab_file={"nodes": 3, "clusters": [{"name": "a", "nodes": list(ONE_CLUSTER["a"])}]})
    ca = TestCA(tmp_path / "ca")
    extra = rollout_vars(ca, "k", service_certs_strategy="host_pinned")
    start = time.time()
    proc = start_playbook(lab, (REPO_ROOT / SERVICE_CERTS).read_text(), tmp_path, extra)
    first = next_webadmin_swap(lab, start, set())
    lab.ctl(timings={"command": 1.0})  # the second node's swap slow enough to be caught in the middle
    second = next_webadmin_swap(lab, start, {first})
    if kill_at == "mid-swap":
        time.sleep(0.3)
    else:
        wait_for_command_done(lab, second, "webadmin enable", start)
    kill_9(proc)
    wait_for_command_done(lab, second, "webadmin certs" if kill_at == "mid-swap" else "webadmin enable", start)
    lab.ctl(timings={"command": 0.0})
    held = json.loads((lab.files_dir("cms1") / CLUSTER_LOCK_FILE).read_bytes())
    assert held["node"] == second, held  # the killed run held the cluster for the node it was changing
    if kill_at == "mid-swap":
        assert config(lab, second, "webadmin").get("enabled", True) is False

    relaunch = playbook(lab, SERVICE_CERTS, extra_vars=extra)
    assert relaunch.rc == 0, relaunch.stdout[-4000:]
    text = " ".join(relaunch.stdout.split())
    if kill_at == "mid-swap":
        assert "took over the lock of run" in text and f"for its node {second}" in text
    else:
        assert f"freed the lock a dead run left for {second}" in text
    for node in ONE_CLUSTER["a"]:
        assert config(lab, node, "webadmin")["cert"] == f"{node}-k.cer"
        assert served(lab, node, "webadmin") == x509.fingerprint(
            x509.load_certs((ca.dir / f"{node}-k.cer").read_bytes())[0]
        )
    # Over both runs, from the first swap to the last: never two nodes of the cluster down at once.
    assert overlaps(lab, start, ONE_CLUSTER) == []
    assert not (lab.files_dir("cms1") / CLUSTER_LOCK_FILE).exists()
