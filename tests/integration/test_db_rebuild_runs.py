"""Run records and backups of the database cluster rebuild across stops, relaunches and re-runs.

A run that stops (a kill -9 of ansible-playbook, a node down, a slow join, a wrong node clock) is either resumed by
the next run with the same certificates and the same backups, or closed so that the next one starts afresh. A
relaunch with the same variables (AWX's Relaunch) resumes; a controller backup is never replaced. Each test reads the
outcome from the nodes (status, event log) and from the controller's files (the run record, SHA-256 of every backup).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import Run
from tests.integration.helpers.db_cluster import FAST, STATUS, changing_events, commands, mark
from tests.integration.helpers.processes import launch
from tests.integration.test_db_rebuild import NODES3, PLAYBOOK, assert_healthy_on, plan_of, rebuild, step, transitions

PREFIX = "cisco_cms.mmp.db_cluster_rebuild : "


def backups_on_controller(lab: SimLab) -> dict[str, str]:
    """SHA-256 of every file under the work directory's backups/, by path relative to it."""
    root = lab.dir / "db_cluster_rebuild" / "backups"
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def assert_backups_kept(lab: SimLab, before: dict[str, str]) -> None:
    """Every controller backup that existed is still there, byte for byte."""
    after = backups_on_controller(lab)
    assert {name: after.get(name) for name in before} == before


def record(lab: SimLab) -> dict[str, Any]:
    return json.loads((lab.dir / "db_cluster_rebuild" / "state.json").read_text())


def destructive(lab: SimLab, node: str, since: int) -> list[str]:
    """Cluster commands that change the node (everything but the status)."""
    return [c for c in commands(lab, node, since) if c.startswith("database cluster ") and c != STATUS]


def kill_when(lab: SimLab, node: str, command: str, extra_vars: dict[str, Any], delay: float = 0.0) -> None:
    """Run the rebuild and kill -9 ansible-playbook (its whole process group) once ``node`` received ``command``:
    a controller crash, an OOM kill or an AWX cancel at that point."""
    since = len(lab.events(node))
    proc = launch(lab, PLAYBOOK, extra_vars)
    try:
        deadline = time.monotonic() + 240
        while not [c for c in commands(lab, node, since) if c == command]:
            assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before {command!r} reached {node}"
            assert time.monotonic() < deadline, f"{command!r} never reached {node}"
            time.sleep(0.05)
        time.sleep(delay)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def settle(lab: SimLab, seconds: float = 3.0) -> None:
    """Let the transitions a killed run left running on the nodes end (a killed module may finish detached)."""
    time.sleep(seconds)


def test_a_kill_after_initialize_then_a_relaunch_with_force_resumes_without_rebuilding_the_healthy_nodes(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    extra = {"db_cluster_rebuild_force": True}
    kill_when(lab, "cms1", "database cluster initialize", extra)
    settle(lab)
    first = record(lab)
    assert first["finished"] is False and first["force"] is True and first["rebuild_started"] is True
    kept = backups_on_controller(lab)
    assert len([n for n in kept if n.endswith(".bak")]) == 3
    # The primary came up on the new certificates; the replicas were left removed.
    assert "(me)   : Connected Primary" in lab.run("cms1", STATUS)

    since = mark(lab, *NODES3)
    again = rebuild(playbook, lab, extra_vars=extra)  # AWX's Relaunch: the same variables, force included
    assert again.rc == 0, again.stdout[-4000:]
    plan = plan_of(again)
    assert plan["serial"] == first["serial"] and plan["finished"] is True and plan["outcome"] == "healthy"
    assert plan["pending"] == ["cms2", "cms3"] and plan["resumed_by"]
    shown = step(again, "cms1", "Preflight | show the plan")["msg"]
    assert "resumes the run %s" % first["serial"] in shown
    # No second outage of the primary, no new certificates, no new backup: cms2 and cms3 only join.
    assert destructive(lab, "cms1", since["cms1"]) == []
    for node in ("cms2", "cms3"):
        assert [e["kind"] for e in transitions(lab, node, since[node])] == ["join"]
    sent = [c for n in NODES3 for c in commands(lab, n, since[n])]
    assert not [c for c in sent if c.startswith(("pki csr", "pki sign", "pki selfsigned", "backup snapshot"))]
    assert_healthy_on(lab, first["target"], NODES3)
    assert_backups_kept(lab, kept)
    assert backups_on_controller(lab) == kept


def test_a_relaunch_with_force_after_a_node_went_down_rebuilds_only_that_node(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
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
    extra = {"db_cluster_rebuild_force": True}
    try:
        failed = rebuild(playbook, lab, extra_vars=extra)
    finally:
        stop.set()
        watcher.join(5)
    assert failed.rc != 0
    # The failure says where the cluster stands, that a re-run resumes, and where the backups are.
    said = step(failed, "cms1", "Stopped | the cluster's state, how to resume, and the backups")["msg"]
    assert "cms2: not read (" in said and "cms3: replica, healthy on dbserver-" in said
    assert "run the same command again: it resumes this run" in said
    assert "/db_cluster_rebuild/backups/cms1/before-dbcerts-%s.bak" % plan_of(failed)["serial"] in said
    kept = backups_on_controller(lab)

    lab.ctl(clear_faults="cms2")
    since = mark(lab, *NODES3)
    again = rebuild(playbook, lab, extra_vars=extra)
    assert again.rc == 0, again.stdout[-4000:]
    assert plan_of(again)["serial"] == plan_of(failed)["serial"] and plan_of(again)["pending"] == ["cms2"]
    assert destructive(lab, "cms1", since["cms1"]) == [] and not changing_events(lab, "cms3", since["cms3"])
    assert_healthy_on(lab, plan_of(again)["target"], NODES3)
    assert backups_on_controller(lab) == kept
    # The summary names the backups taken before the first change, not new ones.
    summary = step(again, "cms2", "Health | summary per node")["msg"]
    assert "before-dbcerts-%s.bak" % plan_of(failed)["serial"] in summary and "taken before the run began" in summary


def test_a_resumed_rebuild_whose_node_backup_vanished_keeps_the_controller_backup(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    extra = {"db_cluster_rebuild_force": True, "db_cluster_rebuild_serial": "bk1"}
    kill_when(lab, "cms2", "database cluster remove", extra, delay=0.3)
    settle(lab)
    kept = backups_on_controller(lab)
    assert "cms2/before-dbcerts-bk1.bak" in kept
    # A node-side cleanup (or a reinstall) removes the node's copy of the backup.
    for suffix in (".bak", ".json"):
        (lab.files_dir("cms2") / f"before-dbcerts-bk1{suffix}").unlink()

    since = mark(lab, *NODES3)
    again = rebuild(playbook, lab, extra_vars=extra)
    assert again.rc == 0, again.stdout[-4000:]
    # No snapshot of the already-removed node over the pre-change backup: the controller copy stays as it was.
    assert not [c for c in commands(lab, "cms2", since["cms2"]) if c.startswith("backup snapshot")]
    assert backups_on_controller(lab) == kept
    assert_healthy_on(lab, plan_of(again)["target"], NODES3)
    assert plan_of(again)["backups"]["cms2"]["sha256"] == kept["cms2/before-dbcerts-bk1.bak"]


def test_a_fixed_backup_name_is_refused_the_second_time_and_nothing_changes(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    fixed = {"db_cluster_rebuild_force": True, "db_cluster_rebuild_backup_name": "fixedbk"}
    first = rebuild(playbook, lab, extra_vars={**fixed, "db_cluster_rebuild_serial": "fb1"})
    assert first.rc == 0, first.stdout[-4000:]
    kept = backups_on_controller(lab)
    assert set(kept) == {f"{n}/fixedbk.{s}" for n in NODES3 for s in ("bak", "json")}

    since = mark(lab, *NODES3)
    second = rebuild(playbook, lab, extra_vars={**fixed, "db_cluster_rebuild_serial": "fb2"})
    assert second.rc != 0
    msg = step(second, "cms1", "Preflight | a new run gets a new serial and a new backup name")["msg"]
    assert msg.startswith("The backup name fixedbk is taken (") and "Nothing was changed." in msg
    for node in NODES3:
        assert set(commands(lab, node, since[node])) <= {STATUS}, node
        assert not changing_events(lab, node, since[node]), node
    assert backups_on_controller(lab) == kept
    assert_healthy_on(lab, plan_of(first)["target"], NODES3)
    assert record(lab)["serial"] == "fb1" and record(lab)["finished"] is True


def test_a_node_clock_ahead_stops_before_any_change_with_the_cause_and_a_fixed_clock_gets_a_new_serial(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    lab.ctl(clock_offset_days=2)
    since = mark(lab, *NODES3)
    skewed = rebuild(playbook, lab, extra_vars={"db_cluster_rebuild_force": True})
    assert skewed.rc != 0
    msg = step(skewed, "cms1", "Certificates | every node's set passed its check")["msg"]
    assert "is not valid before" in msg and "the clock of cms1" in msg, msg
    assert "No node of the cluster was changed" in msg and "new serial" in msg
    for node in NODES3:
        assert destructive(lab, node, since[node]) == [], node
    bad = record(lab)
    assert bad["finished"] is True and "cannot be used" in bad["outcome"]
    kept = backups_on_controller(lab)

    lab.ctl(clock_offset_days=0)
    fixed = rebuild(playbook, lab, extra_vars={"db_cluster_rebuild_force": True})
    assert fixed.rc == 0, fixed.stdout[-4000:]
    good = plan_of(fixed)
    assert good["serial"] != bad["serial"] and good["finished"] is True
    assert_healthy_on(lab, good["target"], NODES3)
    assert_backups_kept(lab, kept)


def test_bad_role_variables_are_refused_before_anything_reaches_a_node(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    since = mark(lab, *NODES3)
    run = rebuild(
        playbook,
        lab,
        extra_vars={
            "db_cluster_rebuild_force": True,
            "db_cluster_rebuild_client_cn": "admin",
            "db_cluster_rebuild_interface": "eth0",
        },
    )
    assert run.rc != 0
    msg = step(run, "cms1", "Preflight | check the role variables")["msg"]
    assert "db_cluster_rebuild_client_cn is 'admin'; the client certificate's CN must contain 'postgres'" in msg
    assert "db_cluster_rebuild_interface 'eth0' is not an MMP interface" in msg
    for node in NODES3:
        assert commands(lab, node, since[node]) == [], node
    assert not (lab.dir / "db_cluster_rebuild").exists()


def test_a_run_that_ends_healthy_after_a_slow_join_is_closed_and_the_next_forced_run_is_a_new_one(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(lab_file={"timings": {**FAST, "cluster_join": 4.0}})
    slow = rebuild(playbook, lab, extra_vars={"db_cluster_rebuild_force": True, "db_cluster_rebuild_timeout": 1})
    assert slow.rc != 0
    first = record(lab)
    assert first["finished"] is False
    settle(lab, 5)  # the joins finish on the nodes

    closed = rebuild(playbook, lab)
    assert closed.rc == 0, closed.stdout[-4000:]
    shown = step(closed, "cms1", "Preflight | show the plan")["msg"]
    assert shown.startswith("Nothing to do") and f"The unfinished run {first['serial']} is closed." in shown
    assert record(lab)["finished"] is True
    kept = backups_on_controller(lab)

    lab.ctl(timings={"cluster_join": 0.3})
    since = mark(lab, *NODES3)
    renewed = rebuild(playbook, lab, extra_vars={"db_cluster_rebuild_force": True})
    assert renewed.rc == 0, renewed.stdout[-4000:]
    plan = plan_of(renewed)
    assert plan["serial"] != first["serial"] and plan["backup_name"] == "before-dbcerts-%s" % plan["serial"]
    # A fresh snapshot of every node, fresh certificates, and the earlier backups untouched.
    for node in NODES3:
        assert f"backup snapshot {plan['backup_name']}" in commands(lab, node, since[node])
    assert [c for c in commands(lab, "cms1", since["cms1"]) if c.startswith("pki selfsigned")]
    assert_healthy_on(lab, plan["target"], NODES3)
    assert_backups_kept(lab, kept)


def test_the_run_record_and_backups_stay_private(make_lab: Callable[..., SimLab], playbook: Callable[..., Run]) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    run = rebuild(playbook, lab, extra_vars={"db_cluster_rebuild_force": True})
    assert run.rc == 0, run.stdout[-4000:]
    work = lab.dir / "db_cluster_rebuild"
    assert (work / "state.json").stat().st_mode & 0o777 == 0o600
    for path in (work / "backups").rglob("*"):
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path
    assert set(record(lab)["backups"]) == set(NODES3)
