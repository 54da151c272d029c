"""The ordered database cluster rebuild (role db_cluster_rebuild, playbooks/db_cluster_certs.yml) on simulated labs."""

from __future__ import annotations

import hashlib
import json
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cmssim.testing import SimLab
from tests.integration.helpers.db_cluster import FAST, STATUS, changing_events, commands, make_db_pki, mark

PLAYBOOK = "playbooks/db_cluster_certs.yml"
DOMAIN = "lab.cms.example"
NODES3 = ("cms1", "cms2", "cms3")
NODES5 = ("cms1", "cms2", "cms3", "cms4", "cms5")
FIVE_NODE_LAB = {
    "nodes": [
        {"name": "cms1"},
        {"name": "cms2"},
        {"name": "cms3"},
        {"name": "cms4", "database": False},
        {"name": "cms5", "database": False},
    ],
    "timings": FAST,
}


def transitions(lab: SimLab, node: str, since: int = 0, phase: str = "started") -> list[dict[str, Any]]:
    return [e for e in lab.events(node)[since:] if e["event"] == "cluster_transition" and e["phase"] == phase]


def status_of(lab: SimLab, node: str) -> str:
    return lab.run(node, STATUS)


def plan_of(run: Any) -> dict[str, Any]:
    """The run record the role keeps in its work directory."""
    return json.loads((run.work_dir / "state.json").read_text())


def step(run: Any, host: str, name: str) -> dict[str, Any]:
    """The result of the role's task ``name`` on ``host``."""
    return run.task(host, "cisco_cms.mmp.db_cluster_rebuild : " + name)


def rebuild(playbook: Callable[..., Any], lab: SimLab, **kwargs: Any) -> Any:
    start = time.monotonic()
    run = playbook(lab, PLAYBOOK, **kwargs)
    run.seconds = time.monotonic() - start
    run.work_dir = lab.dir / "db_cluster_rebuild"
    return run


def assert_healthy_on(
    lab: SimLab, target: dict[str, str], database: tuple[str, ...], clients: tuple[str, ...] = ()
) -> None:
    """Every node Enabled on the target files; the primary lists the replicas in sync; clients see the primary."""
    replicas = [f"192.0.2.1{n[-1]}" for n in database[1:]]
    primary = status_of(lab, database[0])
    assert "    192.0.2.11 (me)   : Connected Primary\n" in primary
    for address in replicas:
        assert f"    {address}        : Connected Replica ( In Sync )\n" in primary
    for node in database[1:]:
        assert f"    192.0.2.1{node[-1]} (me)   : Connected Replica ( In Sync )\n" in status_of(lab, node)
    for node in clients:
        out = status_of(lab, node)
        assert (
            out.startswith("Status                : Enabled\n") and "    192.0.2.11        : Connected Primary\n" in out
        )
        assert "Server Key" not in out
    for node in database + clients:
        out = status_of(lab, node)
        assert "(expired)" not in out
        assert f"  CA Certificate       : {target['ca_cert']}\n" in out
        assert f"  Client Certificate   : {target['client_cert']}\n" in out


def test_full_rebuild_of_three_nodes_then_a_second_run_changes_nothing(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any]
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    since = mark(lab, *NODES3)
    run = rebuild(playbook, lab)
    assert run.rc == 0, run.stdout[-4000:]
    plan = plan_of(run)
    assert plan["finished"] is True and plan["primary"] == "cms1" and plan["mode"] == "generate"
    target = plan["target"]
    serial = plan["serial"]
    assert target["server_key"] == f"dbserver-{serial}.key" and target["ca_cert"] == f"dbca-{serial}.crt"
    assert_healthy_on(lab, target, NODES3)

    # The order of docs/dev/mmp_reference.md#db-cluster-rebuild: the replicas leave before the primary, initialize
    # before any join.
    started = {n: {e["kind"]: e["started"] for e in transitions(lab, n, since[n])} for n in NODES3}
    assert max(started["cms2"]["remove"], started["cms3"]["remove"]) < started["cms1"]["remove"]
    assert started["cms1"]["initialize"] < min(started["cms2"]["join"], started["cms3"]["join"])
    for n in NODES3:
        sent = commands(lab, n, since[n])
        certs = [c for c in sent if c.startswith("database cluster certs")]
        assert certs == [
            f"database cluster certs {target['server_key']} {target['server_cert']} {target['client_key']} "
            f"{target['client_cert']} {target['ca_cert']}"
        ]
        assert sent.index(certs[0]) > sent.index("database cluster remove")
    assert "database cluster join 192.0.2.11" in commands(lab, "cms2", since["cms2"])
    # Every (Y/n) was answered with the capital Y CMS needs: the simulator logs any other answer as a confirmation
    # that did not proceed, and starts a transition only on Y.
    assert not [e for n in NODES3 for e in lab.events(n) if e["event"] == "confirmation"]
    assert sum(len(transitions(lab, n, since[n])) for n in NODES3) == 6
    # The built-in CA made the files on the primary; its key never left it; the distribution copies are gone.
    assert (lab.files_dir("cms1") / f"dbca-{serial}.key").exists()
    assert not (lab.files_dir("cms2") / f"dbca-{serial}.key").exists()
    for name in target.values():
        assert (lab.files_dir("cms3") / name).read_bytes() == (lab.files_dir("cms1") / name).read_bytes()
    assert not (run.work_dir / "transfer").exists()
    assert stat.S_IMODE(run.work_dir.stat().st_mode) == 0o700
    # Each backup on the controller is the node's file.
    for n in NODES3:
        copy = run.work_dir / "backups" / n / f"before-dbcerts-{serial}.bak"
        on_node = lab.files_dir(n) / copy.name
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == hashlib.sha256(on_node.read_bytes()).hexdigest()
    # Polling costs no seconds: every module returned within ~one poll interval of its simulated transition.
    durations = {
        "remove": FAST["cluster_remove"],
        "initialize": FAST["cluster_initialize"],
        "join": FAST["cluster_join"],
    }
    waited = {
        (n, tuple(c.split()[2] for c in r["commands"] if c.split()[2] in durations)): r["waited"]
        for n in NODES3
        for r in run.results[n]
        if r.get("commands") and r["_task"].split(" : ")[-1].startswith("Rebuild |") and r.get("waited")
    }
    # The replicas' removes, the primary's remove and initialize in one call, the joins.
    assert sorted(waited) == [
        ("cms1", ("remove", "initialize")),
        ("cms2", ("join",)),
        ("cms2", ("remove",)),
        ("cms3", ("join",)),
        ("cms3", ("remove",)),
    ]
    for (_node, verbs), seconds in waited.items():
        least = sum(durations[verb] for verb in verbs)
        assert least <= seconds + 0.05 and seconds < least + 0.5 * len(verbs), waited
    transition_sum = sum(e["deadline"] - e["started"] for n in NODES3 for e in transitions(lab, n, since[n]))
    critical_path = 3 * 0.3 + 0.3  # remove (replicas in parallel), remove primary, initialize, join (in parallel)
    print(
        f"\n3-node rebuild: wall {run.seconds:.1f}s, simulated transitions {transition_sum:.1f}s in total, "
        f"{critical_path:.1f}s on the critical path; waited per module {waited}"
    )

    again_since = mark(lab, *NODES3)
    again = rebuild(playbook, lab)
    assert again.rc == 0, again.stdout[-4000:]
    assert all(again.changed(n) == 0 for n in NODES3)
    for n in NODES3:
        assert "database cluster remove" not in commands(lab, n, again_since[n])
        assert not changing_events(lab, n, again_since[n])
    print(f"3-node second run (nothing to do): wall {again.seconds:.1f}s")


def test_five_nodes_with_two_connect_only_nodes(make_lab: Callable[..., SimLab], playbook: Callable[..., Any]) -> None:
    lab = make_lab(lab_file=FIVE_NODE_LAB)
    since = mark(lab, *NODES5)
    run = rebuild(playbook, lab)
    assert run.rc == 0, run.stdout[-4000:]
    target = plan_of(run)["target"]
    assert_healthy_on(lab, target, ("cms1", "cms2", "cms3"), ("cms4", "cms5"))
    for n in ("cms4", "cms5"):
        sent = commands(lab, n, since[n])
        assert f"database cluster certs {target['client_key']} {target['client_cert']} {target['ca_cert']}" in sent
        assert "database cluster connect 192.0.2.11" in sent
        assert not [c for c in sent if c.startswith("database cluster join")]
        # A node without a database gets no server key.
        assert not (lab.files_dir(n) / target["server_key"]).exists()
    connect = [e for n in ("cms4", "cms5") for e in transitions(lab, n, since[n]) if e["kind"] == "connect"]
    initialize = transitions(lab, "cms1", since["cms1"])[-1]
    assert initialize["kind"] == "initialize" and all(e["started"] > initialize["started"] for e in connect)
    removes = {n: next(e["started"] for e in transitions(lab, n, since[n]) if e["kind"] == "remove") for n in NODES5}
    assert max(removes[n] for n in NODES5[1:]) < removes["cms1"]


def test_expired_certificates_and_a_split_cluster_are_renewed(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any]
) -> None:
    # TechNote 216549: the DB certificates expired 5 days ago; the nodes no longer talk to each other.
    lab = make_lab(lab_file={"cluster": {"cert_days": -5}, "timings": FAST})
    split = status_of(lab, "cms2")
    assert "Connected Replica ( Out Of Sync )" in split and "dbclusterserver.cer (expired)" in split
    run = rebuild(playbook, lab)
    assert run.rc == 0, run.stdout[-4000:]
    assert step(run, "cms2", "Preflight | database cluster status of every node (waits for a running transition)")[
        "expired"
    ] == [
        "dbclusterserver.cer",
        "dbclusterclient.cer",
    ]
    assert_healthy_on(lab, plan_of(run)["target"], NODES3)


def test_resume_after_a_node_goes_down_mid_rebuild(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any]
) -> None:
    lab = make_lab(lab_file={"timings": {**FAST, "cluster_initialize": 1.0}})
    stop = threading.Event()

    def take_cms2_down_once_the_primary_initializes() -> None:
        while not stop.is_set():
            if any(e["kind"] == "initialize" for e in transitions(lab, "cms1")):
                lab.ctl(faults={"cms2": {"down": True}})
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=take_cms2_down_once_the_primary_initializes, daemon=True)
    watcher.start()
    try:
        first = rebuild(playbook, lab)
    finally:
        stop.set()
        watcher.join(5)
    assert first.rc != 0
    assert (
        "cannot connect to cms2" in step(first, "cms2", "Rebuild | join the database nodes, connect the others")["msg"]
    )
    assert "'database cluster join 192.0.2.11' (Success)" in status_of(lab, "cms3")
    plan = plan_of(first)
    assert plan["finished"] is False

    lab.ctl(clear_faults="cms2")
    since = mark(lab, *NODES3)
    second = rebuild(playbook, lab)
    assert second.rc == 0, second.stdout[-4000:]
    assert plan_of(second)["serial"] == plan["serial"] and plan_of(second)["pending"] == ["cms2"]
    # What was already right stayed: no remove anywhere, no initialize, cms3 untouched, cms2 only joins.
    assert commands(lab, "cms1", since["cms1"]).count("database cluster initialize") == 0
    for n in NODES3:
        assert "database cluster remove" not in commands(lab, n, since[n])
    assert not changing_events(lab, "cms3", since["cms3"])
    assert [e["kind"] for e in transitions(lab, "cms2", since["cms2"])] == ["join"]
    assert not [c for n in NODES3 for c in commands(lab, n, since[n]) if c.startswith("backup snapshot")]
    assert_healthy_on(lab, plan["target"], NODES3)


def test_resume_after_the_connection_drops_during_remove(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any]
) -> None:
    lab = make_lab(lab_file={"timings": FAST, "faults": {"cms2": {"drop_after_command": "database cluster remove"}}})
    first = rebuild(playbook, lab)
    assert first.rc != 0
    assert (
        "dropped" in step(first, "cms2", "Rebuild | remove the replicas and connect-only nodes from the cluster")["msg"]
    )
    # Stopped before the primary left: it still serves, on the old certificates.
    assert "(me)   : Connected Primary" in status_of(lab, "cms1")
    # The keys fetched for distribution do not outlive the failed run.
    assert not (first.work_dir / "transfer").exists()
    since = mark(lab, *NODES3)
    second = rebuild(playbook, lab)
    assert second.rc == 0, second.stdout[-4000:]
    assert "database cluster remove" not in commands(lab, "cms2", since["cms2"])
    assert "database cluster remove" not in commands(lab, "cms3", since["cms3"])
    assert "database cluster remove" in commands(lab, "cms1", since["cms1"])
    # The certificates made by the first run are used, not made again.
    mutating_pki = [
        c
        for c in commands(lab, "cms1", since["cms1"])
        if c.split()[:2] in (["pki", "csr"], ["pki", "sign"], ["pki", "selfsigned"])
    ]
    assert mutating_pki == []
    assert plan_of(second)["serial"] == plan_of(first)["serial"]
    assert_healthy_on(lab, plan_of(second)["target"], NODES3)


def test_provided_certificates_from_an_external_ca(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = make_lab(lab_file=FIVE_NODE_LAB)
    paths = make_db_pki(tmp_path / "pki", f"cms1.{DOMAIN}", [f"cms{i}.{DOMAIN}" for i in (1, 2, 3)], prefix="corp-")
    extra = {
        "db_cluster_rebuild_generate": False,
        "db_cluster_rebuild_certs_src": {k: str(v) for k, v in paths.items()},
    }
    run = rebuild(playbook, lab, extra_vars=extra)
    assert run.rc == 0, run.stdout[-4000:]
    target = {k: v.name for k, v in paths.items()}
    assert plan_of(run)["target"] == target and plan_of(run)["mode"] == "provided"
    assert_healthy_on(lab, target, ("cms1", "cms2", "cms3"), ("cms4", "cms5"))
    assert (lab.files_dir("cms2") / "corp-server.key").read_bytes() == paths["server_key"].read_bytes()
    assert not (lab.files_dir("cms5") / "corp-server.key").exists()
    since = mark(lab, *NODES5)
    again = rebuild(playbook, lab, extra_vars=extra)
    assert again.rc == 0 and all(again.changed(n) == 0 for n in NODES5)
    assert not [e for n in NODES5 for e in changing_events(lab, n, since[n])]


def test_a_failed_preflight_changes_nothing(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    work = lab.dir / "db_cluster_rebuild"

    def nothing_changed(since: dict[str, int]) -> None:
        for n in NODES3:
            assert set(commands(lab, n, since[n])) <= {STATUS}, commands(lab, n, since[n])
            assert not changing_events(lab, n, since[n])
        assert not work.exists()

    # A node that cannot be reached.
    lab.ctl(faults={"cms3": {"down": True}})
    since = mark(lab, *NODES3)
    run = rebuild(playbook, lab)
    assert run.rc != 0 and "cannot connect to cms3" in run.stdout
    nothing_changed(since)
    lab.ctl(clear_faults="cms3")

    # Provided files that do not chain to their CA.
    good = make_db_pki(tmp_path / "good", f"cms1.{DOMAIN}", [f"cms{i}.{DOMAIN}" for i in (1, 2, 3)])
    other = make_db_pki(tmp_path / "other", f"cms1.{DOMAIN}", [f"cms{i}.{DOMAIN}" for i in (1, 2, 3)])
    srcs = {**{k: str(v) for k, v in good.items()}, "ca_cert": str(other["ca_cert"])}
    since = mark(lab, *NODES3)
    run = rebuild(
        playbook, lab, extra_vars={"db_cluster_rebuild_generate": False, "db_cluster_rebuild_certs_src": srcs}
    )
    assert run.rc != 0
    check = step(run, "cms2", "Preflight | check the provided certificate files for every node")
    assert "server certificate extserver.crt does not chain to the CA certificate extca.crt" in " ".join(
        check["check_certs"]["problems"]
    )
    nothing_changed(since)

    # A primary named that the statuses contradict.
    since = mark(lab, *NODES3)
    run = rebuild(playbook, lab, extra_vars={"db_cluster_rebuild_primary": "cms2"})
    assert run.rc != 0 and "Status shows cms1 as primary, but db_cluster_rebuild_primary is cms2" in run.stdout
    nothing_changed(since)

    # Check mode plans the rebuild and changes nothing.
    since = mark(lab, *NODES3)
    run = rebuild(playbook, lab, check=True)
    assert run.rc == 0, run.stdout[-4000:]
    assert (
        "Rebuild cms1, cms2, cms3 (primary cms1 at 192.0.2.11)" in step(run, "cms1", "Preflight | show the plan")["msg"]
    )
    nothing_changed(since)


def test_a_slice_of_the_cluster_or_two_clusters_are_refused_before_anything_changes(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"timings": FAST})

    def refused(run: Any, since: dict[str, int]) -> str:
        assert run.rc != 0
        msg = step(run, "cms1", "Preflight | the play holds one whole cluster (not a slice of it, not two)")["msg"]
        for n in NODES3:
            assert set(commands(lab, n, since[n])) <= {STATUS}, commands(lab, n, since[n])
            assert not changing_events(lab, n, since[n])
        assert not (lab.dir / "db_cluster_rebuild").exists()
        return str(msg)

    # What a sliced job (or a --limit) gives one slice of a 3-node cluster: cms1 and cms3 (hosts[0::2]).
    since = mark(lab, *NODES3)
    msg = refused(rebuild(playbook, lab, limit="cms1,cms3"), since)
    assert msg.startswith("The cluster lists 192.0.2.12, which no host of this play is"), msg
    assert "Run the rebuild as one job per cluster, not sliced; limit to the cluster's group" in msg

    # Hosts that name two clusters (cms_cluster) in one play.
    clusters = tmp_path / "clusters.yml"
    clusters.write_text(
        "all:\n  hosts:\n    cms1: {cms_cluster: east}\n    cms2: {cms_cluster: east}\n    cms3: {cms_cluster: west}\n"
    )
    since = mark(lab, *NODES3)
    inventories = (str(lab.dir / "inventory.yml"), "inventory/lab", str(clusters))
    msg = refused(rebuild(playbook, lab, inventories=inventories), since)
    assert msg.startswith("The play holds nodes of 2 clusters (cms_cluster): east: cms1, cms2; west: cms3."), msg
