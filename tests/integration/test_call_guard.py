"""The call guard and the health gates on the simulator: a restart waits for a node's call legs to end (or fails, or
is skipped) before anything changes on it, a meeting nobody joined blocks nothing, bad API credentials stop the run
with the fix, and the database rebuild waits too.  What each test proves is read from the nodes' event logs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import REPO_ROOT, Run
from tests.integration.helpers.db_cluster import FAST as FAST_TIMINGS
from tests.integration.helpers.service_certs import (
    TestCA,
    events_since,
    failed,
    ok,
    play,
    port,
    seeded_names,
    service_commands_since,
)

SERVICE_CERTS = REPO_ROOT / "playbooks" / "service_certs.yml"
NODES = ("cms1", "cms2", "cms3")
FAST = {"calls_poll_interval": 0.2, "calls_wait_timeout": 60}


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "ca")


def callbridge(ca: TestCA, lab: SimLab, node: str, stem: str, **extra: Any) -> dict[str, Any]:
    leaf = ca.leaf(stem, seeded_names(node))
    return {
        "service": "callbridge",
        "key_src": str(leaf.key),
        "cert_src": str(leaf.cert),
        "bundle_src": str(ca.bundle),
        "tls_port": port(lab, node, "callbridge"),
        **extra,
    }


def first_ts(lab: SimLab, node: str, since: float, predicate: Callable[[dict[str, Any]], bool]) -> float:
    found = [e["ts"] for e in events_since(lab, node, since) if predicate(e)]
    assert found, f"no such event on {node}"
    return float(found[0])


def restarted(event: dict[str, Any]) -> bool:
    return event["event"] == "service_state" and event.get("service") == "callbridge" and event["state"] == "restarting"


def changes(lab: SimLab, node: str, since: float) -> list[str]:
    """What changed the node: uploads (the lock file included) and commands that change a service."""
    uploads = ["put " + str(e["file"]) for e in events_since(lab, node, since, "sftp_put")]
    return uploads + service_commands_since(lab, node, since)


def end_legs_once_waited_for(lab: SimLab, node: str, since: float) -> threading.Thread:
    """End the node's legs once the guard has read its status twice (it decided, and it is polling): it waited."""

    def end() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            reads = [
                e for e in events_since(lab, node, since, "api_request") if e.get("path") == "/api/v1/system/status"
            ]
            if len(reads) >= 2:
                break
            time.sleep(0.1)
        lab.calls(node, legs=0)

    thread = threading.Thread(target=end)
    thread.start()
    return thread


def dropped(lab: SimLab, since: float) -> list[dict[str, Any]]:
    return [e for node in NODES for e in events_since(lab, node, since, "call_legs_dropped")]


def test_the_rollout_swaps_cms1_at_once_waits_for_the_legs_on_cms2_to_end_then_swaps_it_without_dropping_any(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaves = {node: ca.leaf(f"{node}-g1", seeded_names(node)) for node in ("cms1", "cms2")}
    extra = {
        "service_certs_hosts": "cms1,cms2",
        "service_certs_preflight": False,
        "service_certs_defaults": {
            "key_src": str(ca.dir / "{{ inventory_hostname }}-g1.key"),
            "cert_src": str(ca.dir / "{{ inventory_hostname }}-g1.cer"),
            "bundle_src": str(ca.bundle),
        },
        "service_certs_services": [{"service": "callbridge"}],
        "service_certs_calls_poll_interval": 0.2,
        "service_certs_calls_wait_timeout": 60,
    }
    assert all(leaf.key.exists() for leaf in leaves.values())
    start = time.time()
    lab.calls("cms2", legs=3)
    ender = end_legs_once_waited_for(lab, "cms2", start)
    run = playbook(lab, SERVICE_CERTS, extra_vars=extra)
    ender.join()
    assert run.rc == 0, run.stdout[-3000:]

    # cms1 was idle and swapped before cms2's legs ended; cms2 restarted only after they had.
    legs_ended = first_ts(lab, "cms2", start, lambda e: e["event"] == "call_legs_ended")
    assert first_ts(lab, "cms1", start, restarted) < legs_ended
    assert first_ts(lab, "cms2", start, restarted) > legs_ended
    assert dropped(lab, start) == []

    call = next(
        r
        for r in run.results["cms2"]
        if r["_task"].endswith("apply the new certificate of every service of this node (one call)")
    )
    guard = next(s for s in call["services"] if s["service"] == "callbridge")
    assert guard["call_guard"]["decision"] == "proceed" and guard["call_guard"]["waited_s"] > 0
    assert (guard["call_guard"]["legs_at_decision"], guard["call_guard"]["legs_dropped"]) == (0, 0)
    lines = next(
        r["msg"] for r in run.results["cms1"] if r["_task"].split(" : ")[-1].startswith("Summary | call guard")
    )
    assert lines[0].startswith("cms1 callbridge: proceed, 0 leg(s) at the decision, waited 0.0 s, 0 leg(s) dropped")
    assert lines[1].startswith("cms2 callbridge: proceed, 0 leg(s) at the decision, waited ")
    assert "0 leg(s) dropped (waited for the calls to end)" in lines[1]


def test_fail_stops_before_any_change_naming_the_node_and_its_legs(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    lab.calls("cms2", legs=3, duration=600)
    start = time.time()
    run = playbook(lab, play([callbridge(ca, lab, "cms2", "cms2-g2", on_active_calls="fail")], hosts="cms2"))
    result = failed(run, "cms2", "t0")
    assert "cms2 carries 3 active call leg(s)" in result["msg"] and "nothing was changed" in result["msg"]
    # Refused before the lock, the uploads and every command: the node only answered reads.
    assert changes(lab, "cms2", start) == []
    assert dropped(lab, start) == []


def test_skip_leaves_a_busy_node_untouched_and_says_so(lab: SimLab, ca: TestCA, playbook: Callable[..., Run]) -> None:
    lab.calls("cms3", legs=2, duration=600)
    start = time.time()
    run = playbook(lab, play([callbridge(ca, lab, "cms3", "cms3-g3", on_active_calls="skip")], hosts="cms3"))
    result = ok(run, "cms3", "t0")
    assert result["changed"] is False and result["commands"] == [] and result["uploads"] == []
    assert (result["call_guard"]["decision"], result["call_guard"]["legs_at_decision"]) == ("skip", 2)
    assert any("left for a later run" in note for note in result["notes"])
    assert changes(lab, "cms3", start) == []


def test_a_call_nobody_joined_does_not_block_the_restart(lab: SimLab, ca: TestCA, playbook: Callable[..., Run]) -> None:
    lab.calls("cms1", legs=0, idle_call=True)
    start = time.time()
    run = playbook(lab, play([callbridge(ca, lab, "cms1", "cms1-g4", on_active_calls="fail")]))
    result = ok(run, "cms1", "t0")
    assert result["changed"] is True
    assert result["call_guard"] == {
        "node": "cms1",
        "decision": "proceed",
        "legs_at_decision": 0,
        "waited_s": 0.0,
        "reason": "idle",
        "legs_dropped": 0,
        "health_waited_s": result["call_guard"]["health_waited_s"],
        "alarms_before": [],
    }
    assert first_ts(lab, "cms1", start, restarted)


def test_check_mode_says_it_would_wait_without_waiting_or_changing_anything(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    lab.calls("cms2", legs=3, duration=600)
    start = time.time()
    run = playbook(lab, play([callbridge(ca, lab, "cms2", "cms2-g5", **FAST)], hosts="cms2"), check=True)
    result = ok(run, "cms2", "t0")
    assert result["call_guard"]["decision"] == "would_wait" and result["call_guard"]["legs_at_decision"] == 3
    assert "would wait up to 60s" in result["call_guard"]["reason"]
    assert changes(lab, "cms2", start) == []


def test_bad_api_credentials_stop_the_change_with_the_api_user_and_the_fix(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    start = time.time()
    run = playbook(
        lab, play([callbridge(ca, lab, "cms1", "cms1-g6")]), extra_vars={"cms_api_password": "not-the-password"}
    )
    result = failed(run, "cms1", "t0")
    assert f"refused the API user '{lab.api_user}' (HTTP 401)" in result["msg"]
    assert "cms_api_password" in result["msg"] and "not-the-password" not in run.stdout
    assert changes(lab, "cms1", start) == []


def test_without_api_credentials_the_guard_is_off_with_one_warning(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    tasks = [callbridge(ca, lab, "cms1", "cms1-g7"), callbridge(ca, lab, "cms1", "cms1-g8")]
    run = playbook(lab, play(tasks), extra_vars={"cms_api_user": ""}, json_output=False)
    assert run.rc == 0, run.stdout[-3000:]
    assert (run.stdout + run.stderr).count("the call guard is off") == 1


def test_a_new_alarm_after_the_change_fails_the_health_gate(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    # The alarm comes up while the Call Bridge restarts (slow commands leave the time to raise it).
    lab.ctl(timings={"command": 1.0})
    args = callbridge(ca, lab, "cms3", "cms3-g9", tls_timeout=3)
    start = time.time()

    def raise_alarm() -> None:
        lab.wait_event("cms3", lambda e: e["event"] == "command" and e["command"] == "callbridge restart", timeout=60)
        lab.alarms({"cms3": ["callBridgeNotConfigured"]})

    thread = threading.Thread(target=raise_alarm)
    thread.start()
    try:
        run = playbook(lab, play([args], hosts="cms3"))
    finally:
        thread.join()
        lab.ctl(timings={"command": 0.0})
    result = failed(run, "cms3", "t0")
    assert "cms3 is not healthy" in result["msg"] and "new alarm callBridgeNotConfigured" in result["msg"]
    assert result["call_guard"]["alarms_before"] == []
    assert first_ts(lab, "cms3", start, restarted)


def test_the_database_rebuild_waits_for_the_legs_on_a_replica_before_removing_it(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(lab_file={"timings": FAST_TIMINGS})
    start = time.time()
    lab.calls("cms2", legs=3)
    ender = end_legs_once_waited_for(lab, "cms2", start)
    run = playbook(
        lab,
        "playbooks/db_cluster_certs.yml",
        extra_vars={"db_cluster_rebuild_calls_poll_interval": 0.2, "db_cluster_rebuild_calls_wait_timeout": 60},
    )
    ender.join()
    assert run.rc == 0, run.stdout[-4000:]
    legs_ended = first_ts(lab, "cms2", start, lambda e: e["event"] == "call_legs_ended")
    removed = first_ts(
        lab, "cms2", start, lambda e: e["event"] == "command" and e["command"] == "database cluster remove"
    )
    assert removed > legs_ended
    assert dropped(lab, start) == []
    remove = run.task(
        "cms2",
        "cisco_cms.mmp.db_cluster_rebuild : Rebuild | remove the replicas and connect-only nodes from the cluster",
    )
    assert remove["call_guard"]["decision"] == "proceed" and remove["call_guard"]["waited_s"] > 0
    assert remove["call_guard"]["legs_dropped"] == 0
    # After the joins every database node is up and in sync, as the health gate after each join required.
    join = run.task("cms3", "cisco_cms.mmp.db_cluster_rebuild : Rebuild | join the database nodes, connect the others")
    assert join["call_guard"]["decision"] == "proceed" and join["call_guard"]["health_waited_s"] is not None
    summary = run.task("cms2", "cisco_cms.mmp.db_cluster_rebuild : Health | summary per node")["msg"]
    assert "call guard: proceed with 0 leg(s), waited " in summary and "0 dropped" in summary


def test_skip_is_refused_by_the_database_rebuild_before_anything_changes(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    start = time.time()
    run = playbook(lab, "playbooks/db_cluster_certs.yml", extra_vars={"db_cluster_rebuild_on_active_calls": "skip"})
    assert run.rc != 0
    assert "db_cluster_rebuild_on_active_calls" in run.stdout and "skip" in run.stdout
    assert all(changes(lab, node, start) == [] for node in NODES)
