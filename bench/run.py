"""The collection's benchmark: outage, rollout speed against a hand-written script, scale, no-op re-runs, SSH
connections and the database cluster rebuild, on simulated labs with realistic timings (see bench/README.md).

    .venv/bin/python -m bench             # the real figures: writes bench/results.json
    .venv/bin/python -m bench --quick     # a smoke test: short timings, a 6-node fleet; writes into the work dir
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import baseline_paramiko
from bench.harness import REPO_ROOT, PlaybookRun, controller_gaps, outage_windows, playbook, transitions
from bench.slices import describe, overlapping_outages, run_sliced
from tests.cmssim.testing import SimLab

# Seconds. Realistic orders of magnitude for a CMS node on a LAN: an MMP command answers in tens of milliseconds, a
# service takes a couple of seconds to stop or start, database cluster transitions take several seconds. They make the
# fixed costs of Ansible (process start, task dispatch, an SSH handshake per module call) weigh what they weigh in
# real life instead of dominating a simulator that answers instantly.
REALISTIC = {
    "command": 0.05,
    "service_transition": 2.0,
    "cluster_remove": 5.0,
    "cluster_initialize": 10.0,
    "cluster_join": 10.0,
    "cluster_connect": 5.0,
}
QUICK = {
    "command": 0.01,
    "service_transition": 0.3,
    "cluster_remove": 1.0,
    "cluster_initialize": 1.0,
    "cluster_join": 1.0,
    "cluster_connect": 1.0,
}
SERVICES = ("webadmin", "callbridge", "webbridge3", "turn")
# Goals of issues 8 and 19.
OUTAGE_GOAL = 1.1  # x the simulator's intrinsic step time
ROLLOUT3_GOAL = 1.2  # x the serial baseline script on 3 nodes
FLEET_GOAL = 1.25  # x the parallel baseline script (one thread per cluster) on the fleet
NOOP3_GOAL = 0.4  # seconds per node-service of a no-op re-run on 3 nodes
NOOP_FLEET_GOAL = 0.15  # the same on the fleet
LOGINS_GOAL = 2  # SSH logins per node per service_certs run (4 services)
REBUILD_GOAL = 1.2  # x the sum of the cluster's intrinsic transition times
REBUILD_CRITICAL_GOAL = 1.15  # wall time x the critical path of the transitions
CLUSTER_OUTAGE_GOAL = 1.05  # the cluster's own outage x that critical path
POLL_GOAL = 1.0  # seconds a transition's wait may exceed the transition


@dataclass
class Row:
    name: str
    value: float
    unit: str
    goal: str
    met: bool | None  # None: a figure reported for information, with no goal of its own


def intrinsic_outage(service: str, timings: dict[str, float]) -> float:
    """What the simulator itself spends between a service going down and serving again.

    disable (the service stops, then ``service_transition``), ``certs`` and ``enable`` (``command`` latency each, then
    ``service_transition`` to start); the Call Bridge is configured while it runs and is down only for its restart.
    """
    if service == "callbridge":
        return timings["service_transition"]
    return 2 * timings["service_transition"] + 2 * timings["command"]


def service_vars(suffix: str, serial: int) -> dict[str, Any]:
    return {
        "service_certs_serial": serial,
        # A renewal from the CA every trust store already holds (the seed CA, see csr_vars): no trust step, as the
        # baseline script has none. The lab inventory would run one whenever the bundle is the lab CA directory's.
        "service_certs_trust_ca_src": "",
        # The lab inventory's services without webbridge3's C2W side and the C2W trust stores: the baseline script
        # types the same commands as the playbook, one certificate per service.
        "service_certs_services": [
            {"service": "webadmin"},
            {"service": "callbridge"},
            {"service": "webbridge3", "names": ["join.{{ cms_domain }}"]},
            {"service": "turn"},
        ],
        "service_certs_defaults": {
            "key": "{{ inventory_hostname }}-%s.key" % suffix,
            "cert_src": "{{ cms_pki_dir }}/{{ inventory_hostname }}/{{ inventory_hostname }}-%s.cer" % suffix,
            "bundle_src": "{{ cms_pki_dir }}/lab-ca/ca-bundle.cer",
        },
    }


def csr_vars(lab: SimLab, suffix: str) -> dict[str, Any]:
    """generate_csrs variables that sign with the lab's seed CA, the corporate CA of the certificates in use.

    The benchmark measures a renewal from the same CA, the common rotation. With the lab CA instead, the rollout would
    be a CA change: the preflight refuses it until every Call Bridge trusts the new CA (issue 18), and the trust step
    that fixes it restarts services the baseline script never touches. The seed CA's key stays in the lab directory
    (cms_lab_ca reads it in place); pki/lab-ca/ca-bundle.cer then holds the seed chain, which both sides upload.
    """
    seed = lab.dir / "seed-ca"
    chain = seed / "chain.cer"
    if not chain.exists():
        chain.write_bytes((seed / "intermediate.crt").read_bytes() + (seed / "root.crt").read_bytes())
    return {"cms_csr_suffix": suffix, "cms_ca_key_file": str(seed / "intermediate.key"), "cms_lab_ca_chain": str(chain)}


def connection_rows(run: PlaybookRun, label: str, logins_goal: bool = False) -> list[Row]:
    """SSH connections per module call (goal <= 1) and per node per run (goal LOGINS_GOAL for a service_certs run)."""
    per_call = [run.connections(n) / run.module_calls(n) for n in run.events if run.module_calls(n)]
    per_node = [run.connections(n) for n in run.events]
    logins = Row(f"SSH connections per node per run, worst node ({label})", max(per_node), "", "-", None)
    if logins_goal:
        logins.goal, logins.met = f"<= {LOGINS_GOAL}", max(per_node) <= LOGINS_GOAL
    return [
        Row(
            f"SSH connections per module call, worst node ({label})",
            round(max(per_call), 2),
            "",
            "<= 1",
            max(per_call) <= 1,
        ),
        logins,
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class RolloutRun:
    """One rollout scenario: the baseline script's seconds, the collection's rollout and its no-op re-run."""

    nodes: int
    shape: str  # "3-node cluster", "30-node fleet (10 clusters: 10 of 3)"
    serial: int
    forks: int
    baseline: float
    run: PlaybookRun
    noop: PlaybookRun


def fleet_shape(nodes: int, clusters: list[list[str]]) -> str:
    if nodes == 3:
        return "3-node cluster"
    sizes = sorted({len(c) for c in clusters}, reverse=True)
    shape = " + ".join(f"{sum(1 for c in clusters if len(c) == n)} of {n}" for n in sizes)
    return f"{nodes}-node fleet ({len(clusters)} clusters: {shape})"


def rollout(
    work: Path,
    timings: dict[str, float],
    nodes: int,
    forks: int | None,
    say: Callable[[str], None],
    memory: bool = False,
) -> RolloutRun:
    """generate_csrs twice (untimed), the baseline script on the first set, the collection on the second, a no-op.

    A fleet is ceil(nodes / 3) clusters, cluster k = hosts k, k+C, k+2C (``baseline_paramiko.stride_clusters``; the
    inventory's ``cms_cluster`` when it has one): a serial batch of C consecutive hosts takes one node of each
    cluster, so every cluster keeps its other nodes serving. The 3-node cluster runs ``serial: 1`` against the serial
    script; a fleet runs ``serial: C`` against the script's parallel mode (one thread per cluster). ``forks`` None:
    one per cluster.
    """
    label = f"{nodes} nodes"
    lab = SimLab.start(work / f"rollout{nodes}", lab_file={"nodes": nodes, "timings": timings})
    try:
        clusters = baseline_paramiko.inventory_clusters(lab.dir)
        serial = 1 if nodes == 3 else len(clusters)
        forks = forks or len(clusters)  # None: one fork per cluster, a whole batch at once
        say(f"{label}: generating and signing the CSRs for the baseline and for the collection (untimed)")
        playbook(lab, "generate_csrs", csr_vars(lab, "base"), forks)
        playbook(lab, "generate_csrs", csr_vars(lab, "bench"), forks)

        start = time.monotonic()
        if nodes == 3:
            say(f"{label}: baseline paramiko script, one node after the other")
            baseline_paramiko.rollout(lab.dir, "base")
        else:
            say(f"{label}: baseline paramiko script, one thread per cluster ({len(clusters)} clusters)")
            baseline_paramiko.rollout_parallel(lab.dir, "base", clusters)
        baseline = time.monotonic() - start

        say(f"{label}: playbooks/service_certs.yml (serial {serial}, forks {forks})")
        run = playbook(lab, "service_certs", service_vars("bench", serial), forks, f"rollout {label}", memory)
        if run.changed() < nodes * len(SERVICES):
            raise RuntimeError(f"the rollout changed {run.changed()} services, expected {nodes * len(SERVICES)}")
        say(f"{label}: the same again (nothing to do)")
        noop = playbook(lab, "service_certs", service_vars("bench", serial), forks, f"no-op {label}", memory)
    finally:
        lab.stop()
    return RolloutRun(nodes, fleet_shape(nodes, clusters), serial, forks, baseline, run, noop)


def outage_rows(r: RolloutRun, timings: dict[str, float], goals: bool = True) -> list[Row]:
    """Outage windows from the nodes' service_state events: each on 3 nodes, the worst per service on a fleet; and
    what the controller adds to a window (the node waiting for the next command; the rest is the node's own work)."""
    rows: list[Row] = []
    worst: dict[str, tuple[float, str]] = {}
    waiting = overrun = 0.0
    for node, events in r.run.events.items():
        windows = outage_windows(events)
        for service in SERVICES:
            if len(windows.get(service, [])) != 1:
                raise RuntimeError(f"{node} {service}: expected one outage, the event log shows {windows.get(service)}")
            (gap,) = controller_gaps(events, service)
            intrinsic = intrinsic_outage(service, timings)
            waiting = max(waiting, gap)
            overrun = max(overrun, windows[service][0] - gap - intrinsic)
            ratio = windows[service][0] / intrinsic
            if r.nodes == 3:
                name = f"outage {service} on {node} ({windows[service][0]:.2f} s; intrinsic {intrinsic:.2f} s)"
                rows.append(Row(name, round(ratio, 3), "x intrinsic", f"<= {OUTAGE_GOAL}", ratio <= OUTAGE_GOAL))
            if ratio > worst.get(service, (0.0, ""))[0]:
                worst[service] = (ratio, node)
    if r.nodes != 3:
        for service in SERVICES:
            ratio, node = worst[service]
            name = f"outage {service}, worst of {r.nodes} nodes ({node})"
            goal, met = (f"<= {OUTAGE_GOAL}", ratio <= OUTAGE_GOAL) if goals else ("-", None)
            rows.append(Row(name, round(ratio, 3), "x intrinsic", goal, met))
    label = f"{r.nodes} nodes"
    rows.append(
        Row(
            f"outage: time a node waited for the controller inside a window, worst ({label})",
            round(waiting, 3),
            "s",
            "-",
            None,
        )
    )
    # The rest of a window beyond the intrinsic steps is the simulator's own (CPU-starved) work, not the collection's.
    rows.append(
        Row(
            f"outage: time the simulator spent inside a window beyond its intrinsic steps, worst ({label})",
            round(overrun, 3),
            "s",
            "-",
            None,
        )
    )
    return rows


def rollout_rows(r: RolloutRun, timings: dict[str, float], goals: bool = True) -> list[Row]:
    """The figures of one rollout scenario; ``goals`` False reports them for information (the large fleet)."""
    label = f"{r.nodes} nodes"
    kind = "serial" if r.nodes == 3 else "one thread per cluster"
    goal = ROLLOUT3_GOAL if r.nodes == 3 else FLEET_GOAL
    ratio = r.run.seconds / r.baseline
    rows = [
        Row(f"baseline script ({kind}), full rollout, {r.shape}", round(r.baseline, 1), "s", "-", None),
        Row(
            f"full rollout, {r.shape}, 4 services, new certs (serial {r.serial}, forks {r.forks})",
            round(r.run.seconds, 1),
            "s",
            f"<= {goal} x baseline = {goal * r.baseline:.1f} s" if goals else "-",
            r.run.seconds <= goal * r.baseline if goals else None,
        ),
        Row(f"full rollout / baseline script ({kind}), {label}", round(ratio, 2), "x", "-", None),
        *outage_rows(r, timings, goals),
    ]
    per = r.noop.seconds / (r.nodes * len(SERVICES))
    noop_goal = NOOP3_GOAL if r.nodes == 3 else NOOP_FLEET_GOAL
    rows += [
        Row(
            f"no-op re-run, {label}: wall time per node-service",
            round(per, 3),
            "s",
            f"<= {noop_goal}" if goals else "-",
            per <= noop_goal if goals else None,
        ),
        Row(f"no-op re-run, {label}: wall time", round(r.noop.seconds, 1), "s", "-", None),
        Row(f"no-op re-run, {label}: changes reported", r.noop.changed(), "", "0", r.noop.changed() == 0),
        *connection_rows(r.run, f"rollout, {label}", logins_goal=True),
        *connection_rows(r.noop, f"no-op, {label}", logins_goal=True),
    ]
    if r.run.controller_rss:
        for run in (r.run, r.noop):
            rows.append(
                Row(
                    f"controller peak memory, {run.name} (ansible-playbook and its forks, RSS summed)",
                    mb(run.controller_rss),
                    "MB",
                    "-",
                    None,
                )
            )
            rows.append(
                Row(
                    f"simulator peak memory, {run.name} (every node in one process)",
                    mb(run.simulator_rss),
                    "MB",
                    "-",
                    None,
                )
            )
    return rows


def mb(size: int) -> float:
    return round(size / 2**20, 1)


def growth_rows(small: RolloutRun, large: RolloutRun) -> list[Row]:
    """How each cost of the large fleet grows over the smaller one's, beside the growth in nodes."""
    label = f"growth {small.nodes} -> {large.nodes} nodes ({large.nodes / small.nodes:.2f} x nodes)"
    pairs = [
        ("rollout wall time", small.run.seconds, large.run.seconds),
        ("baseline script wall time (one thread per cluster)", small.baseline, large.baseline),
        ("no-op wall time", small.noop.seconds, large.noop.seconds),
        ("controller peak memory, rollout", small.run.controller_rss, large.run.controller_rss),
        ("simulator peak memory, rollout", small.run.simulator_rss, large.run.simulator_rss),
    ]
    return [Row(f"{label}: {what}", round(b / a, 2), "x", "-", None) for what, a, b in pairs if a]


def sliced(
    work: Path,
    timings: dict[str, float],
    nodes: int,
    forks: int,
    counts: tuple[int, ...],
    say: Callable[[str], None],
    single: float | None = None,
) -> list[Row]:
    """The fleet's rollout as a sliced AWX job: 2, then 3 slices (bench/slices.py), each slice's jobs at once.

    Each slice rolls all of its hosts in one batch (``service_certs_serial`` = its host count): what keeps two slices
    off one cluster is the roles' cluster lock (inventory ``cms_cluster``, ``cms_cluster_lock_host``/``_port``), not
    the batching. Figures: wall time (over ``single``, the one-job fleet rollout's, when given), and every time a
    cluster had more than one node down at once (goal: never).
    """
    # Per-cluster inventory groups (cms_cluster, cms_cluster_lock_host/_port; cluster k = nodes k, k+C, k+2C) as a
    # site would keep them: they survive AWX's slicing as group variables.
    lab_file = {"nodes": nodes, "timings": timings, "clusters": -(-nodes // 3)}
    lab = SimLab.start(work / "slices", lab_file=lab_file)
    rows: list[Row] = []
    try:
        clusters = baseline_paramiko.inventory_clusters(lab.dir)
        hosts = baseline_paramiko.inventory_hosts(lab.dir)
        lock = "on" if any(h.get("cms_cluster_lock_host") for h in hosts.values()) else "off: no cms_cluster_lock_host"
        for count in counts:
            suffix = f"slice{count}"
            say(f"slices: generating and signing the CSRs for {count} slices (untimed)")
            playbook(lab, "generate_csrs", csr_vars(lab, suffix), forks)
            say(f"slices: playbooks/service_certs.yml as {count} ansible-runner jobs at once, forks {forks} each")
            run = run_sliced(
                lab,
                "service_certs",
                count,
                lambda h, s=suffix: {**service_vars(s, len(h)), "service_certs_strategy": "host_pinned"},
                forks,
                work / "slice-jobs",
            )
            for node, events in run.events.items():
                windows = outage_windows(events)
                if any(len(windows.get(service, [])) != 1 for service in SERVICES):
                    raise RuntimeError(f"{node}: expected one outage per service, the event log shows {windows}")
            found = overlapping_outages(run.events, clusters)
            label = f"{nodes}-node fleet, {count} slices in parallel"
            sizes = "/".join(str(len(s)) for s in run.slices)
            rows += [
                Row(f"sliced rollout, {label} ({sizes} hosts), wall time", round(run.seconds, 1), "s", "-", None),
                Row(
                    f"sliced rollout, {label}: slowest / fastest job",
                    round(max(run.job_seconds) / min(run.job_seconds), 2),
                    "x",
                    "-",
                    None,
                ),
                Row(
                    f"sliced rollout, {label}: times a cluster had 2+ nodes down at once (cluster lock {lock})",
                    len(found),
                    "",
                    "0",
                    not found,
                ),
            ]
            if single:
                rows.append(
                    Row(f"sliced rollout, {label}: wall time / one job", round(run.seconds / single, 2), "x", "-", None)
                )
            if found:
                say(f"slices: {len(found)} overlapping outages, the first: {describe(found)}")
    finally:
        lab.stop()
    return rows


def rebuild(work: Path, timings: dict[str, float], nodes: int, forks: int, say: Callable[[str], None]) -> list[Row]:
    spec = [{"name": f"cms{i}", "database": i <= 3} for i in range(1, nodes + 1)]
    lab = SimLab.start(work / f"rebuild{nodes}", lab_file={"nodes": spec, "timings": timings})
    try:
        say(f"{nodes}-node database cluster rebuild: playbooks/db_cluster_certs.yml")
        run = playbook(lab, "db_cluster_certs", {}, forks, label=f"rebuild {nodes} nodes")
    finally:
        lab.stop()
    started = [t for events in run.events.values() for t in transitions(events)]
    total = sum(t["deadline"] - t["started"] for t in started)
    # The cluster's own outage: from the first node leaving (its remove starts) to the last node back (its join or
    # connect finished). Backups, the new CA and the health checks around it do not take the cluster down.
    finished = [
        e["ts"]
        for events in run.events.values()
        for e in events
        if e["event"] == "cluster_transition" and e.get("phase") == "finished" and e["kind"] in ("join", "connect")
    ]
    outage = max(finished) - min(t["started"] for t in started if t["kind"] == "remove")
    kinds = sorted(t["kind"] for t in started)
    expected = sorted(["remove"] * nodes + ["initialize"] + ["join"] * 2 + ["connect"] * (nodes - 3))
    if kinds != expected:
        raise RuntimeError(f"rebuild of {nodes} nodes ran {kinds}, expected {expected}")
    last = max(timings["cluster_join"], timings["cluster_connect"] if nodes > 3 else 0)
    critical = 2 * timings["cluster_remove"] + timings["cluster_initialize"] + last
    # How long each module waited past its own transitions, per transition: the cost of polling. The primary's call
    # runs two (remove, then initialize).
    overheads = []
    for r in run.results:
        if r["action"] != "cisco_cms.mmp.cms_db_cluster" or not r["result"].get("waited"):
            continue
        verbs = [c.split()[2] for c in r["result"].get("commands") or [] if f"cluster_{c.split()[2]}" in timings]
        if verbs:
            overheads.append((r["result"]["waited"] - sum(timings[f"cluster_{v}"] for v in verbs)) / len(verbs))
    return [
        Row(
            f"database cluster rebuild, {nodes} nodes (transitions sum {total:.0f} s)",
            round(run.seconds, 1),
            "s",
            f"<= {REBUILD_GOAL} x sum = {REBUILD_GOAL * total:.1f} s",
            run.seconds <= REBUILD_GOAL * total,
        ),
        Row(
            f"database cluster rebuild, {nodes} nodes: wall / critical path of transitions ({critical:.0f} s)",
            round(run.seconds / critical, 2),
            "x",
            f"<= {REBUILD_CRITICAL_GOAL}",
            run.seconds / critical <= REBUILD_CRITICAL_GOAL,
        ),
        Row(
            f"database cluster rebuild, {nodes} nodes: cluster outage (first remove to last join/connect done) "
            f"/ critical path ({critical:.0f} s)",
            round(outage / critical, 2),
            "x",
            f"<= {CLUSTER_OUTAGE_GOAL}",
            outage / critical <= CLUSTER_OUTAGE_GOAL,
        ),
        Row(
            f"database cluster rebuild, {nodes} nodes: polling overhead per transition, worst",
            round(max(overheads), 2),
            "s",
            f"< {POLL_GOAL}",
            max(overheads) < POLL_GOAL,
        ),
        *connection_rows(run, f"rebuild, {nodes} nodes"),
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------------------
def call_traffic(lab: SimLab, stop: threading.Event, seed: int, scale: float) -> list[dict[str, Any]]:
    """Meetings starting and ending at random on every node until ``stop``: 1-3 legs each, lasting 2-8 s (x scale),
    one starting somewhere every 1-4 s (x scale).  Returns what was started."""
    rng = random.Random(seed)
    started: list[dict[str, Any]] = []
    nodes = sorted(lab.hosts)
    while not stop.is_set():
        node, legs, duration = rng.choice(nodes), rng.randint(1, 3), rng.uniform(2, 8) * scale
        lab.calls(node, legs=legs, duration=duration)
        started.append({"node": node, "legs": legs, "duration": duration})
        stop.wait(rng.uniform(1, 4) * scale)
    return started


def busy_seconds(events: list[dict[str, Any]], until: float) -> float:
    """Seconds the node carried at least one leg (the union of its legs' lifetimes), from its call_legs_* events."""
    busy, since = 0.0, None
    for event in events:
        if event["event"] not in ("call_legs_started", "call_legs_ended", "call_legs_dropped"):
            continue
        if event["event"] == "call_legs_started" and since is None:
            since = float(event["ts"])
        elif event["event"] != "call_legs_started" and event.get("active") == 0 and since is not None:
            busy += float(event["ts"]) - since
            since = None
    return busy + (until - since if since is not None else 0.0)


def calls(work: Path, timings: dict[str, float], forks: int, quick: bool, say: Callable[[str], None]) -> list[Row]:
    """The 3-node rollout with meetings starting and ending at random on every node: legs dropped (goal 0), and the
    time the call guard waited beside the time the meetings kept each node busy."""
    lab = SimLab.start(work / "calls", lab_file={"nodes": 3, "timings": timings})
    stop = threading.Event()
    traffic: list[list[dict[str, Any]]] = []
    try:
        say("calls: generating and signing the CSRs (untimed)")
        playbook(lab, "generate_csrs", csr_vars(lab, "calls"), forks)
        thread = threading.Thread(target=lambda: traffic.append(call_traffic(lab, stop, 16, 0.5 if quick else 1.0)))
        thread.start()
        say("calls: playbooks/service_certs.yml (serial 1) while meetings start and end at random on every node")
        extra = {**service_vars("calls", 1), "service_certs_calls_poll_interval": 0.5}
        try:
            run = playbook(
                lab, "service_certs", {**extra, "service_certs_calls_wait_timeout": 600}, forks, label="calls"
            )
        finally:
            stop.set()
            thread.join()
        end = time.time()
    finally:
        lab.stop()
    dropped = sum(int(e["count"]) for ev in run.events.values() for e in ev if e["event"] == "call_legs_dropped")
    # One call handles a node's services: each service's call guard is in its entry of the call's ``services``.
    entries = [e for r in run.results for e in (r["result"].get("services") or [r["result"]]) if isinstance(e, dict)]
    guards = [e["call_guard"] for e in entries if (e.get("call_guard") or None) is not None]
    waited = sum(float(g["waited_s"]) for g in guards)
    busy = {node: busy_seconds(events, end) for node, events in run.events.items()}
    started = sum(c["legs"] for c in (traffic[0] if traffic else []))
    return [
        Row(
            f"calls: legs dropped during the 3-node rollout ({started} legs started at random)",
            dropped,
            "",
            "0",
            dropped == 0,
        ),
        Row("calls: guarded steps (decisions)", len(guards), "", "-", None),
        Row("calls: seconds the guard waited, all nodes", round(waited, 1), "s", "-", None),
        Row(
            "calls: seconds the meetings kept the nodes busy during the run, all nodes",
            round(sum(busy.values()), 1),
            "s",
            "-",
            None,
        ),
        Row("calls: rollout wall time with the meetings", round(run.seconds, 1), "s", "-", None),
    ]


def table(rows: list[Row]) -> str:
    def value(row: Row) -> str:
        text = f"{row.value:g}" if isinstance(row.value, float) else str(row.value)
        return f"{text} {row.unit}".strip()

    width = max(len(r.name) for r in rows)
    vwidth = max(len(value(r)) for r in rows)
    gwidth = max(len(r.goal) for r in rows)
    lines = [f"{'figure':<{width}}  {'value':>{vwidth}}  {'goal':<{gwidth}}  met", "-" * (width + vwidth + gwidth + 9)]
    for row in rows:
        met = "-" if row.met is None else ("yes" if row.met else "NO")
        lines.append(f"{row.name:<{width}}  {value(row):>{vwidth}}  {row.goal:<{gwidth}}  {met}")
    return "\n".join(lines)


PARTS = ["rollout", "fleet", "scale", "slices", "rebuild3", "rebuild5", "calls"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short timings, 6- and 9-node fleets (a smoke test)")
    parser.add_argument("--fleet-nodes", type=int, help="nodes of the fleet, a multiple of 3 (default 30, quick 6)")
    parser.add_argument("--fleet-forks", type=int, default=10, help="Ansible forks for the fleets (default 10)")
    parser.add_argument(
        "--scale-nodes", type=int, help="nodes of the large fleet (part scale; default 100, quick 9), at least 6"
    )
    parser.add_argument(
        "--scale-forks", type=int, help="Ansible forks for the large fleet (default: one per cluster, 34 for 100 nodes)"
    )
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts (default: all)")
    parser.add_argument("--work-dir", type=Path, help="where the labs go (default: a new temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the labs after the run")
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results.json; quick: the work dir)")
    args = parser.parse_args(argv)

    timings = QUICK if args.quick else REALISTIC
    fleet = args.fleet_nodes or (6 if args.quick else 30)
    scale = args.scale_nodes or (9 if args.quick else 100)
    if fleet % 3 or fleet < 6:
        parser.error("--fleet-nodes must be a multiple of 3, at least 6")
    if scale < 6:
        parser.error("--scale-nodes must be at least 6")
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="cms-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    output = args.output or (work / "results.json" if args.quick else REPO_ROOT / "bench" / "results.json")
    parts = args.only or PARTS
    began = time.monotonic()
    load = os.getloadavg()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - began:6.0f} s] {text}", flush=True)

    say(f"labs in {work}; lab timings {timings}")
    rows: list[Row] = []
    fleets: dict[str, RolloutRun] = {}
    if "rollout" in parts:
        rows += rollout_rows(rollout(work, timings, 3, 5, say), timings)
    if "fleet" in parts:
        fleets["fleet"] = rollout(work, timings, fleet, args.fleet_forks, say, memory=True)
        rows += rollout_rows(fleets["fleet"], timings)
    if "scale" in parts:
        fleets["scale"] = rollout(work, timings, scale, args.scale_forks, say, memory=True)
        rows += rollout_rows(fleets["scale"], timings, goals=False)
        if "fleet" in fleets:
            rows += growth_rows(fleets["fleet"], fleets["scale"])
    if "slices" in parts:
        single = fleets["fleet"].run.seconds if "fleet" in fleets else None
        rows += sliced(work, timings, fleet, args.fleet_forks, (2, 3), say, single)
    if "rebuild3" in parts:
        rows += rebuild(work, timings, 3, 5, say)
    if "rebuild5" in parts:
        rows += rebuild(work, timings, 5, 5, say)
    if "calls" in parts:
        rows += calls(work, timings, 5, args.quick, say)

    print()
    print(table(rows))
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "quick": args.quick,
        "lab_timings": timings,
        "fleet_nodes": fleet if {"fleet", "slices"} & set(parts) else None,
        "scale_nodes": scale if "scale" in parts else None,
        "fleet_forks": args.fleet_forks if {"fleet", "slices"} & set(parts) else None,
        "scale_forks": fleets["scale"].forks if "scale" in fleets else None,
        "seconds": round(time.monotonic() - began, 1),
        "rows": [asdict(row) for row in rows],
    }
    output.write_text(json.dumps(document, indent=1) + "\n")
    print(f"\nresults: {output}")
    if not args.keep and args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0
