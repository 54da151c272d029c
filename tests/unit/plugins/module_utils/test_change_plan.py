"""The change plan's pure parts: the rebuild's predicted steps, the outage estimate, the record and its Markdown."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._change_plan import (
    document,
    expiry,
    markdown,
    measured_timings,
    rebuild_cluster_outage,
    rebuild_plan_steps,
    service_document,
)

TARGET = {
    "server_key": "s.key",
    "server_cert": "s.crt",
    "client_key": "c.key",
    "client_cert": "c.crt",
    "ca_cert": "ca.crt",
}


def node(wanted: str, database: bool = True, due: bool = True) -> dict[str, Any]:
    files = dict(TARGET) if database else {**TARGET, "server_key": None, "server_cert": None}
    return {
        "wanted": wanted,
        "database": database,
        "files": files,
        "why": ["not on the target files"],
        "backup": {"path": "/w/backups/x.bak", "due": due},
    }


def provided_plan() -> dict[str, Any]:
    return {
        "primary": "cms1",
        "primary_address": "192.0.2.11",
        "mode": "provided",
        "rebuild": True,
        "reason": "forced",
        "backup_name": "before",
        "target": TARGET,
        "pending": ["cms1", "cms2", "cms4"],
        "nodes": {
            "cms1": node("primary"),
            "cms2": node("replica", due=False),
            "cms3": node("replica", due=False),
            "cms4": node("client", database=False, due=False),
        },
    }


def test_rebuild_steps_follow_the_role_order_and_skip_what_a_node_already_has() -> None:
    statuses = {
        "cms1": {"state": "primary", "certificates": {"server_key": "old.key"}},
        "cms2": {"state": "disabled", "certificates": TARGET},  # removed already, on the target files
        "cms4": {"state": "client", "certificates": {}},
    }
    steps = rebuild_plan_steps(provided_plan(), statuses)
    assert [(s["phase"], s["node"], s["commands"]) for s in steps] == [
        ("backup", "cms1", ["backup snapshot before"]),
        ("remove", "cms4", ["database cluster remove"]),
        # The primary leaves last, takes its files and initializes in one session; the others take theirs meanwhile.
        (
            "initialize",
            "cms1",
            [
                "database cluster remove",
                "database cluster certs s.key s.crt c.key c.crt ca.crt",
                "database cluster initialize",
            ],
        ),
        ("initialize", "cms4", ["database cluster certs c.key c.crt ca.crt"]),
        ("join", "cms2", ["database cluster join 192.0.2.11"]),
        ("join", "cms4", ["database cluster connect 192.0.2.11"]),
    ]
    # remove (connect-only node) 5 + remove primary 5 + initialize 10 + the longest of join 10 / connect 5
    assert rebuild_cluster_outage(steps) == 30.0


def test_an_earlier_runs_timings_replace_the_benchmarks() -> None:
    statuses = {"cms1": {"state": "primary"}, "cms2": {"state": "replica"}, "cms4": {"state": "client"}}
    steps = rebuild_plan_steps(provided_plan(), statuses, {"remove": 1, "initialize": 2, "join": 3, "connect": 4})
    assert rebuild_cluster_outage(steps) == 1 + 1 + 2 + 4
    record = measured_timings([{"commands": ["database cluster join 1.2.3.4"], "seconds": 7.5}], {"remove": 1.0})
    assert record == {"remove": 1.0, "join": 7.5}


def test_a_record_lists_each_nodes_commands_in_step_order_and_refuses_an_unknown_kind() -> None:
    steps = [
        {"phase": "a", "node": "n1", "commands": ["x"], "why": "", "seconds": 0},
        {"phase": "b", "node": "n2", "commands": ["y"], "why": "", "seconds": 0},
        {"phase": "c", "node": "n1", "commands": ["z"], "why": "", "seconds": 0},
    ]
    doc = document("plan", "service_certs", steps=steps)
    assert doc["commands"] == {"n1": ["x", "z"], "n2": ["y"]} and [s["order"] for s in doc["steps"]] == [1, 2, 3]
    with pytest.raises(ValueError, match="plan or outcome"):
        document("draft", "service_certs")


def test_the_markdown_escapes_what_would_break_a_table() -> None:
    steps = [{"phase": "p", "node": "n", "commands": ["a | b"], "why": "one\ntwo | three", "seconds": 1}]
    nodes = {"n": {"changes": True, "why": ["w"], "before": {"c_cert": {"file": "f", "not_after": None}}, "after": {}}}
    text = markdown(document("plan", "service_certs", steps=steps, nodes=nodes, summary="s"))
    assert "| 1 | n | p | `a \\| b` | one<br>two \\| three | 1 |" in text.splitlines()
    assert "| n | yes | w | c_cert f (?) | - |" in text.splitlines() and text.endswith("\n")
    assert expiry(nodes["n"]) == {"c_cert": {"old": None, "new": None}}


def trust_result(store: str, commands: list[str], **fields: Any) -> dict[str, Any]:
    """One loop item of the role's trust phase: a cms_trust result."""
    return {
        "store": store,
        "commands": commands,
        "changed": bool(commands),
        "added": [{"subject": "CN=New CA"}],
        "removed": [{"subject": "CN=Old CA"}],
        "outage_seconds": 0.0,
        **fields,
    }


def swap(service: str) -> dict[str, Any]:
    return {
        "phase": "rollout",
        "service": service,
        "commands": ["%s certs k.key c.cer" % service],
        "old_cert": "o",
        "new_cert": "n",
        "outage_seconds": 0.5,
    }


def test_a_ca_change_plans_every_trust_store_first_and_the_old_ca_s_removal_last() -> None:
    restart = ["callbridge trust c2w b.cer", "callbridge restart"]
    request = {
        "kind": "plan",
        "reports": {"cms1": [swap("webadmin")], "cms2": [swap("webadmin")]},
        "trust": {
            "cms1": [trust_result("callbridge c2w", restart), trust_result("tls sip", [], skipped_store="not in use")],
            "cms2": [trust_result("callbridge c2w", restart)],
        },
        "trust_cleanup": {
            "cms2": [trust_result("callbridge c2w", ["callbridge trust c2w b2.cer", "callbridge restart"])]
        },
        "timings": {"callbridge": 3.0},
    }
    doc = service_document(request)
    assert [(s["phase"], s["node"]) for s in doc["steps"]] == [
        ("trust", "cms1"),
        ("trust", "cms2"),
        ("webadmin", "cms1"),
        ("webadmin", "cms2"),
        ("trust_cleanup", "cms2"),
    ]
    assert doc["commands"]["cms1"] == [*restart, "webadmin certs k.key c.cer"]
    assert "CN=New CA" in doc["steps"][0]["why"] and "CN=Old CA" in doc["steps"][-1]["why"]
    # Each restart that applies a trust change is an outage, estimated from the last run's Call Bridge restart.
    assert [o for o in doc["outage"]["services"] if o["service"] == "callbridge"] == [
        {"node": "cms1", "service": "callbridge", "seconds": 3.0},
        {"node": "cms2", "service": "callbridge", "seconds": 3.0},
        {"node": "cms2", "service": "callbridge", "seconds": 3.0},
    ]
    assert doc["summary"] == (
        "2 trust store(s) (the new CA added, before any swap), then 2 service(s), then 1 trust store(s) (the old CA "
        "removed) would change on cms1, cms2."
    )
    assert any(w.startswith("trust cleanup: ") for w in doc["nodes"]["cms2"]["why"])


def test_an_outcome_shows_the_trust_stores_that_changed_with_their_measured_restart() -> None:
    done = trust_result("callbridge c2w", ["callbridge trust c2w b.cer", "callbridge restart"], outage_seconds=2.345)
    busy = trust_result(
        "callbridge cluster", ["callbridge trust cluster b.cer", "callbridge restart"], changed=False, skipped_busy=True
    )
    doc = service_document({"kind": "outcome", "reports": {"cms1": []}, "trust": {"cms1": [done, busy]}})
    assert [(s["phase"], s["seconds"]) for s in doc["steps"]] == [("trust", 2.35)]
    assert doc["outage"]["services"] == [{"node": "cms1", "service": "callbridge", "seconds": 2.35}]
    assert doc["nodes"]["cms1"]["changes"] and doc["summary"].endswith("changed on cms1.")
    assert service_document({"kind": "plan", "reports": {"cms1": []}})["summary"].startswith("Nothing to do")
