"""The service_certs role's decisions (module_utils/_service_rollout) and the pure parts of the node driver."""

from __future__ import annotations

from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._service_node import entry_params, refresh_usage
from ansible_collections.cisco_cms.mmp.plugins.module_utils._service_rollout import (
    c2w_chain,
    call_entries,
    report_entries,
)

SETTINGS: dict[str, Any] = {
    "names": ["cms1.example.com"],
    "tls_check": True,
    "tls_ports": {"webadmin": 8443, "webbridge3": 9443, "webbridge3-c2w": 9999},
    "webadmin_fqdn": "admin.example.com",
    "c2w_name": "c2w.example.com",
    "join_names": ["join.example.com"],
}


def _result(service: str, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "service": service,
        "state": "present",
        "changed": True,
        "before": {"cert": "old.cer", "not_after": "2026-01-01T00:00:00Z"},
        "after": {"cert": "new.cer", "not_after": "2027-01-01T00:00:00Z"},
        "outage_seconds": 4.2,
        "c2w_trust": None,
        "service_state": {"enabled": True},
        "reasons": ["why"],
        "commands": [f"{service} disable"],
        "call_guard": None,
        "notes": [],
    }
    result.update(extra)
    return result


def test_call_entries_merge_the_defaults_every_name_to_cover_and_the_tls_ports_of_each_part() -> None:
    entries = call_entries(
        [{"service": "webadmin", "names": ["extra.example.com"]}, {"service": "webbridge3", "tls_check": False}],
        {"key_src": "k.key", "cert_src": "c.cer", "names": ["shared.example.com"]},
        SETTINGS,
    )
    assert entries[0] == {
        "service": "webadmin",
        "key_src": "k.key",
        "cert_src": "c.cer",
        "names": ["cms1.example.com", "extra.example.com", "admin.example.com"],
        "tls_check": True,
        "tls_port": 8443,
    }
    assert entries[1]["names"] == ["cms1.example.com", "shared.example.com", "c2w.example.com", "join.example.com"]
    assert entries[1]["tls_check"] is False
    assert (entries[1]["tls_port"], entries[1]["c2w_tls_port"]) == (9443, 9999)


def test_the_c2w_chain_is_the_web_bridge_c2w_certificate_or_its_bundle_and_none_without_a_web_bridge() -> None:
    assert c2w_chain([{"service": "webbridge3", "c2w_cert_src": "c2w.cer"}], {"bundle_src": "b.cer"}) == "c2w.cer"
    assert c2w_chain([{"service": "webbridge3"}], {"bundle_src": "b.cer"}) == "b.cer"
    assert c2w_chain([{"service": "webadmin"}], {"bundle_src": "b.cer"}) == ""


def test_report_entries_keep_the_role_shape_per_service_and_leave_out_services_not_reached() -> None:
    call = {
        "services": [
            _result("webadmin"),
            _result("turn", failed=True, rolled_back=True, msg="turn enable reported a failure"),
            {**_result("callbridge", changed=False, commands=[]), "reached": False},
        ]
    }
    webadmin, turn = report_entries(call, "rollout")
    assert webadmin == {
        "phase": "rollout",
        "service": "webadmin",
        "result": "changed",
        "old_cert": "old.cer",
        "new_cert": "new.cer",
        "old_not_after": "2026-01-01T00:00:00Z",
        "new_not_after": "2027-01-01T00:00:00Z",
        "outage_seconds": 4.2,
        "trust": {},
        "state": {"enabled": True},
        "reasons": ["why"],
        "commands": ["webadmin disable"],
        "call_guard": None,
        "msg": "",
    }
    assert turn["result"] == "rolled back" and turn["msg"] == "turn enable reported a failure"
    assert "trust" not in turn  # a failure's entry has no trust, as before
    assert report_entries(call, "rollout", check_mode=True)[0]["result"] == "would change"


def test_a_skipped_busy_node_reads_skipped_with_the_guard_reason_and_a_preflight_reads_validated() -> None:
    busy = _result("callbridge", changed=False, call_guard={"decision": "skip"}, notes=["cms1: 3 legs"])
    (entry,) = report_entries({"services": [busy]}, "rollout")
    assert (entry["result"], entry["msg"]) == ("skipped (busy)", "cms1: 3 legs")
    validated = _result("webadmin", state="validated", changed=False)
    assert report_entries({"services": [validated]}, "preflight")[0]["result"] == "validated"
    # A node in place: its preflight is its rollout outcome, unchanged.
    assert report_entries({"services": [validated]}, "rollout")[0]["result"] == "unchanged"


def test_an_entry_adds_its_names_to_the_calls_and_keeps_the_calls_tls_check_unless_it_sets_its_own() -> None:
    top = {"names": ["a.example.com"], "tls_check": False, "state": "present", "key": None}
    params = entry_params(top, {"service": "turn", "names": ["b.example.com", "a.example.com"], "tls_check": None})
    assert params["names"] == ["a.example.com", "b.example.com"] and params["tls_check"] is False
    assert entry_params(top, {"service": "turn", "names": [], "tls_check": True})["tls_check"] is True


def test_a_changed_service_names_its_new_files_in_the_usage_and_no_longer_its_old_ones() -> None:
    usage: dict[str, Any] = {
        "services": {"webadmin": {"service": "webadmin", "key": "old.key", "cert": "old.cer"}},
        "files": {"old.key": ["webadmin key"], "old.cer": ["webadmin cert", "turn cert"]},
    }
    refresh_usage(usage, "webadmin", {"service": "webadmin", "key": "new.key", "cert": "new.cer"})
    assert usage["files"] == {"old.cer": ["turn cert"], "new.key": ["webadmin key"], "new.cer": ["webadmin cert"]}
    assert usage["services"]["webadmin"]["cert"] == "new.cer"
