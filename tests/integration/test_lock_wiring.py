"""The node lock in the roles: a second rebuild or rollout on locked nodes is refused before it changes anything."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _lock
from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import SERVICES, TLS_SERVICES
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    LOCK_FILE,
    db_cluster_status,
    service_status,
    tls_status,
)
from tests.cmssim.testing import SimLab
from tests.integration.conftest import Run
from tests.integration.test_db_cluster import FAST, changing_events, mark
from tests.integration.test_db_rebuild import NODES3, assert_healthy_on, plan_of, rebuild
from tests.integration.test_lock import lock_on, session
from tests.integration.test_service_rollout import NODES, demo, task  # noqa: F401 - demo is a fixture

# The role's preflight takes the run's lock in its one cms_service_certs call per node, before it reads anything.
PREFLIGHT_CALL = "Preflight | lock this node and validate every service (one call, services untouched)"
# What that call reads (status of every service, of the database cluster, of the TLS trust stores): no change.
READS = {service_status(n) for n in SERVICES} | {tls_status(n) for n in TLS_SERVICES} | {db_cluster_status()}


def test_a_second_rebuild_started_during_the_first_is_refused_and_the_first_completes(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any]
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    first: dict[str, Any] = {}

    def run_a() -> None:
        first["run"] = rebuild(
            playbook, lab, extra_vars={"db_cluster_rebuild_force": True, "db_cluster_rebuild_serial": "concA"}
        )

    thread = threading.Thread(target=run_a)
    thread.start()
    deadline = time.monotonic() + 120
    while lock_on(lab, "cms3") is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock_on(lab, "cms3") is not None, "run A never locked the nodes"
    second = rebuild(playbook, lab, extra_vars={"db_cluster_rebuild_force": True, "db_cluster_rebuild_serial": "concB"})
    thread.join(600)
    assert second.rc != 0
    assert "is locked by another run: run db_cluster_rebuild-" in second.stdout
    assert "(db_cluster_rebuild)" in second.stdout and "db_cluster_rebuild_break_lock" in second.stdout
    run = first["run"]
    assert run.rc == 0, run.stdout[-4000:]
    plan = plan_of(run)
    assert plan["serial"] == "concA" and plan["finished"] is True
    assert_healthy_on(lab, plan["target"], NODES3)
    assert all(lock_on(lab, n) is None for n in NODES3)
    assert "concB" not in " ".join(e.get("command", "") for n in NODES3 for e in lab.events(n))


def test_a_rollout_on_a_node_another_run_holds_stops_every_node_and_frees_the_others(
    lab: SimLab,
    demo: Callable[..., Run],  # noqa: F811
) -> None:
    assert demo(lab, "generate_csrs").rc == 0
    with session(lab, "cms2") as s:
        _lock.acquire(s, "awx-4711", "db_cluster_rebuild", 600)
    since = mark(lab, *NODES)
    run = demo(lab, "service_certs")
    assert run.rc != 0
    refused = task(run, "cms2", PREFLIGHT_CALL)
    assert refused["failed"] and refused["holder"]["run_id"] == "awx-4711"
    # The other nodes' preflight took their lock and read their state in the same call, and wrote nothing else.
    for node in NODES:
        writes = [
            e
            for e in changing_events(lab, node, since[node])
            if LOCK_FILE not in str(e) and e.get("command") not in READS
        ]
        assert writes == [], (node, writes)
    holder = lock_on(lab, "cms2")
    assert holder is not None and holder["run_id"] == "awx-4711"
    assert lock_on(lab, "cms1") is None and lock_on(lab, "cms3") is None

    again = demo(lab, "service_certs", extra_vars={"service_certs_break_lock": True})
    assert again.rc == 0, again.stdout[-4000:]
    taken = [r for r in again.results["cms2"] if r["_task"].endswith(PREFLIGHT_CALL)]
    warnings = [w for r in taken for w in r.get("warnings", [])]
    assert any("took over the lock of run awx-4711" in w for w in warnings), warnings
    assert all(lock_on(lab, n) is None for n in NODES)
