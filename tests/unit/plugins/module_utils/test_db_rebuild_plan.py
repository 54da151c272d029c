# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The decisions of the database cluster rebuild, case by case as TechNote 216549 and its re-runs meet them."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._db_rebuild_plan import (
    certificates_verdict,
    check_variables,
    generated_names,
    plan_rebuild,
)

NOW = "202612062100"
WORK = "/ctl/db_cluster_rebuild"
OLD = {
    "server_key": "dbclusterserver.key",
    "server_cert": "dbclusterserver.cer",
    "client_key": "dbclusterclient.key",
    "client_cert": "dbclusterclient.cer",
    "ca_cert": "dbclusterca.cer",
}
ADDRESS = {"cms1": "192.0.2.11", "cms2": "192.0.2.12", "cms3": "192.0.2.13", "cms4": "192.0.2.14"}


def status(
    name: str,
    state: str,
    *,
    healthy: bool = True,
    certs: dict[str, Any] | None = None,
    days: int = 300,
    expired: bool = False,
    primary: str = "cms1",
    listed: tuple[str, ...] = ("cms1", "cms2", "cms3"),
    files: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A cms_db_cluster_info result (describe_certificates) as a node of the lab would give it."""
    certs = dict(OLD if certs is None else certs)
    removed = state == "disabled"
    if state == "client":
        certs.update(server_key=None, server_cert=None)
    details = {
        k: {"file": certs[k], "days_left": days, "expired": expired, "not_after": "2027-01-01T00:00:00Z"}
        for k in ("server_cert", "client_cert", "ca_cert")
        if certs.get(k)
    }
    return {
        "state": state,
        "healthy": healthy and not removed,
        "certificates": certs,
        "certificate_details": details,
        "local_address": None if removed or state == "client" else ADDRESS[name],
        "primary_address": None if removed else ADDRESS[primary],
        "cluster_status": {
            "status_text": "Disabled" if removed else "Enabled",
            "nodes": [] if removed else [{"address": ADDRESS[n]} for n in listed],
        },
        "files": sorted({*certs.values(), *files} - {None}),
    }


def host(name: str, st: dict[str, Any], database: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "database": database,
        "address": ADDRESS[name],
        "fqdn": "%s.lab.cms.example" % name,
        "domain": "",
        "ansible_host": "127.0.0.1",
        "status": st,
    }


def healthy_cluster(**kwargs: Any) -> list[dict[str, Any]]:
    return [
        host("cms1", status("cms1", "primary", **kwargs)),
        host("cms2", status("cms2", "replica", **kwargs)),
        host("cms3", status("cms3", "replica", **kwargs)),
    ]


def plan(hosts: list[dict[str, Any]], saved: dict[str, Any] | None = None, **variables: Any) -> dict[str, Any]:
    return plan_rebuild(
        {
            "vars": variables,
            "hosts": hosts,
            "saved": saved or {},
            "now": NOW,
            "work_dir": WORK,
            "controller_backups": variables.pop("controller_backups", []),
        }
    )


def problems(result: dict[str, Any], check: str | None = None) -> list[str]:
    return [p["msg"] for p in result["problems"] if check in (None, p["check"])]


# ---- when a rebuild is due ------------------------------------------------------------------------------------
def test_a_healthy_cluster_on_certificates_not_due_is_left_alone() -> None:
    result = plan(healthy_cluster(certs=generated_names({}, "202601010000")))
    assert problems(result) == []
    assert result["mode"] == "adopt" and result["rebuild"] is False and result["pending"] == []
    assert result["summary"].startswith("Nothing to do: every node is healthy in the cluster of cms1")
    assert result["close_record"] is False


def test_expired_certificates_and_a_split_cluster_are_rebuilt_on_new_certificates() -> None:
    # The TechNote's case: the primary still says Connected Primary, the replicas are out of sync, files expired.
    hosts = [
        host("cms1", status("cms1", "primary", expired=True, days=-5)),
        host("cms2", status("cms2", "replica", healthy=False, expired=True, days=-5)),
        host("cms3", status("cms3", "replica", healthy=False, expired=True, days=-5)),
    ]
    result = plan(hosts)
    assert problems(result) == []
    assert result["mode"] == "generate" and result["serial"] == NOW
    assert result["target"] == generated_names({}, NOW)
    assert result["pending"] == ["cms1", "cms2", "cms3"]
    assert "dbclusterserver.cer expired on" in result["reason"]
    assert "not healthy" in " ".join(result["nodes"]["cms2"]["why"])


def test_certificates_that_expire_within_the_renewal_window_are_renewed() -> None:
    result = plan(healthy_cluster(days=12))
    assert result["mode"] == "generate" and result["rebuild"] is True
    assert "dbclusterserver.cer expires in 12 days (renewal within 30)" in result["reason"]
    assert plan(healthy_cluster(days=12), renew_within_days=10)["rebuild"] is False


def test_force_rebuilds_a_healthy_cluster_that_is_not_due() -> None:
    result = plan(healthy_cluster(), force=True)
    assert result["mode"] == "generate" and result["pending"] == ["cms1", "cms2", "cms3"]
    assert result["reason"].startswith("forced") and result["record"]["force"] is True


# ---- the primary ----------------------------------------------------------------------------------------------
def test_the_primary_is_the_node_whose_status_shows_it_primary() -> None:
    hosts = [
        host("cms1", status("cms1", "replica", primary="cms3")),
        host("cms2", status("cms2", "replica", primary="cms3")),
        host("cms3", status("cms3", "primary", primary="cms3")),
    ]
    result = plan(hosts, force=True)
    assert result["primary"] == "cms3" and result["primary_address"] == "192.0.2.13"
    assert result["nodes"]["cms3"]["wanted"] == "primary" and result["nodes"]["cms1"]["wanted"] == "replica"
    assert result["pki"]["server_cn"] == "cms3.lab.cms.example" and result["pki"]["ca_cn"] == "lab.cms.example"


def test_when_every_node_has_left_the_cluster_the_unfinished_run_names_the_primary() -> None:
    hosts = [host(n, status(n, "disabled")) for n in ("cms1", "cms2", "cms3")]
    saved = {
        "serial": "s1",
        "primary": "cms2",
        "mode": "generate",
        "target": generated_names({}, "s1"),
        "finished": False,
    }
    result = plan(hosts, saved)
    assert problems(result) == [] and result["primary"] == "cms2" and result["resumed"] is True
    # The address comes from the inventory when the primary's status no longer shows it.
    assert result["primary_address"] == "192.0.2.12"


def test_when_every_node_has_left_the_cluster_the_holder_of_the_new_ca_key_is_the_primary() -> None:
    hosts = [host(n, status(n, "disabled")) for n in ("cms1", "cms2", "cms3")]
    hosts[2]["status"]["files"].append("dbca-s7.key")
    assert plan(hosts, serial="s7")["primary"] == "cms3"
    assert "Status shows no node as primary" in problems(plan(hosts), "primary")[0]


def test_two_primaries_stop_the_plan_before_anything_changes() -> None:
    hosts = healthy_cluster()
    hosts[1]["status"] = status("cms2", "primary", primary="cms2")
    (msg,) = problems(plan(hosts), "primary")
    assert msg.startswith("Cannot tell the primary. Status shows cms1, cms2 as primary.")
    assert msg.endswith("Nothing was changed.")


def test_a_named_primary_that_the_statuses_contradict_is_refused() -> None:
    (msg,) = problems(plan(healthy_cluster(), primary="cms2"), "primary")
    assert "Status shows cms1 as primary, but db_cluster_rebuild_primary is cms2" in msg


def test_a_primary_without_a_database_is_refused() -> None:
    hosts = [host(n, status(n, "disabled"), database=n != "cms1") for n in ("cms1", "cms2", "cms3")]
    assert problems(plan(hosts, primary="cms1"), "primary")


def test_a_node_the_cluster_lists_that_is_not_in_the_play_is_refused() -> None:
    hosts = healthy_cluster(listed=("cms1", "cms2", "cms3", "cms4"))
    (msg,) = problems(plan(hosts), "members")
    assert msg.startswith("The cluster lists 192.0.2.14, which no host of this play is")


def test_a_slice_of_the_cluster_is_refused_naming_the_missing_members_before_the_primary_is_chosen() -> None:
    # What a sliced job's second slice holds of a 3-node cluster: cms2 only (hosts[1::2]).
    (slice_,) = [h for h in healthy_cluster() if h["name"] == "cms2"]
    result = plan([slice_])
    (msg,) = problems(result, "members")
    assert msg.startswith("The cluster lists 192.0.2.11, 192.0.2.13, which no host of this play is")
    assert "Run the rebuild as one job per cluster, not sliced; limit to the cluster's group" in msg
    assert problems(result, "primary") == [] and result["rebuild"] is False


def test_a_play_over_two_clusters_is_refused_naming_each_cluster_s_hosts() -> None:
    hosts = healthy_cluster()
    for h, cluster in zip(hosts, ("east", "east", "west"), strict=True):
        h["cluster"] = cluster
    result = plan(hosts)
    (msg,) = problems(result, "clusters")
    assert "2 clusters (cms_cluster): east: cms1, cms2; west: cms3" in msg and msg.endswith("Nothing was changed.")
    assert result["rebuild"] is False
    # One cluster named on every host, or on none, is one cluster.
    for h in hosts:
        h["cluster"] = "east"
    assert problems(plan(hosts)) == []


def test_a_primary_address_that_is_not_the_primary_s_is_refused() -> None:
    (msg,) = problems(plan(healthy_cluster(), primary_address="192.0.2.99"), "address")
    assert "192.0.2.99 is not an address of the primary cms1" in msg
    assert problems(plan(healthy_cluster(), primary_address="cms1.lab.cms.example")) == []


# ---- what each node gets --------------------------------------------------------------------------------------
def test_nodes_that_only_connect_get_three_files_and_no_server_key() -> None:
    hosts = [*healthy_cluster(), host("cms4", status("cms4", "client"), database=False)]
    result = plan(hosts, force=True)
    cms4 = result["nodes"]["cms4"]
    assert cms4["wanted"] == "client"
    assert cms4["files"]["server_key"] is None and cms4["files"]["server_cert"] is None
    assert set(cms4["cert_args"]) == {
        "client_key",
        "client_cert",
        "ca_cert",
        "client_key_src",
        "client_cert_src",
        "ca_cert_src",
        "server_cert_names",
    }
    assert cms4["cert_args"]["server_cert_names"] == []
    # The server certificate names cover the database nodes only.
    assert result["server_cert_names"] == ["cms1.lab.cms.example", "cms2.lab.cms.example", "cms3.lab.cms.example"]


def test_the_other_nodes_get_the_files_the_primary_made_through_the_controller() -> None:
    result = plan(healthy_cluster(), force=True)
    assert not [k for k in result["nodes"]["cms1"]["cert_args"] if k.endswith("_src")]
    assert result["nodes"]["cms2"]["cert_args"]["ca_cert_src"] == "%s/transfer/dbca-%s.crt" % (WORK, NOW)


def test_provided_certificates_are_used_under_their_names_and_uploaded_where_needed() -> None:
    srcs = {k: "/files/corp-%s" % v for k, v in OLD.items()}
    request: dict[str, Any] = {"generate": False, "certs_src": srcs}
    result = plan(healthy_cluster(), **request)
    assert result["mode"] == "provided" and result["target"]["ca_cert"] == "corp-dbclusterca.cer"
    assert result["nodes"]["cms1"]["cert_args"]["ca_cert_src"] == "/files/corp-dbclusterca.cer"
    # Already running on them, with nothing to upload: left alone.
    on_them = healthy_cluster(certs={k: "corp-" + v for k, v in OLD.items()})
    assert plan(on_them, **request)["rebuild"] is False
    checked = plan_rebuild(
        {
            "vars": request,
            "hosts": on_them,
            "now": NOW,
            "work_dir": WORK,
            "provided_checks": {"cms3": {"uploads_needed": ["corp-dbclusterca.cer"]}},
        }
    )
    assert checked["pending"] == ["cms3"]
    assert "needs corp-dbclusterca.cer uploaded" in checked["nodes"]["cms3"]["why"]


# ---- run records: resume, force once, fresh serials --------------------------------------------------------------
def unfinished(serial: str = "s1", **extra: Any) -> dict[str, Any]:
    return {
        "serial": serial,
        "primary": "cms1",
        "mode": "generate",
        "target": generated_names({}, serial),
        "backup_name": "before-dbcerts-%s" % serial,
        "finished": False,
        "started": "202612061900",
        "reason": "forced (db_cluster_rebuild_force)",
        **extra,
    }


def test_a_resumed_run_keeps_its_serial_and_leaves_the_nodes_already_right_alone() -> None:
    new = generated_names({}, "s1")
    hosts = [
        host("cms1", status("cms1", "primary", certs=new, listed=("cms1", "cms3"))),
        host("cms2", status("cms2", "disabled", certs=new)),
        host("cms3", status("cms3", "replica", certs=new, listed=("cms1", "cms3"))),
    ]
    result = plan(hosts, unfinished())
    assert result["resumed"] is True and result["serial"] == "s1" and result["target"] == new
    assert result["pending"] == ["cms2"]
    assert "resumes the run s1 begun 202612061900" in result["summary"]
    assert result["record"]["resumed_by"] == [NOW] and result["record"]["started"] == "202612061900"


def test_relaunching_a_failed_forced_run_with_force_resumes_it_instead_of_rebuilding_twice() -> None:
    new = generated_names({}, "s1")
    hosts = [
        host("cms1", status("cms1", "primary", certs=new, listed=("cms1", "cms3"))),
        host("cms2", status("cms2", "disabled", certs=new)),
        host("cms3", status("cms3", "replica", certs=new, listed=("cms1", "cms3"))),
    ]
    result = plan(hosts, unfinished(force=True), force=True)
    assert result["resumed"] is True and result["force"] is False and result["record"]["force"] is True
    assert result["pending"] == ["cms2"]


def test_a_forced_run_stopped_before_any_change_is_resumed_on_all_nodes_once() -> None:
    result = plan(healthy_cluster(), unfinished(force=True), force=True)
    assert result["serial"] == "s1" and result["pending"] == ["cms1", "cms2", "cms3"]


def test_force_after_a_finished_run_starts_a_new_run_with_a_fresh_serial_and_backup() -> None:
    saved = {**unfinished(), "finished": True}
    result = plan(healthy_cluster(certs=generated_names({}, "s1")), saved, force=True)
    assert result["resumed"] is False and result["serial"] == NOW
    assert result["backup_name"] == "before-dbcerts-%s" % NOW and problems(result) == []


def test_a_run_healthy_on_its_target_is_closed_even_when_nothing_is_left_to_do() -> None:
    # A join that outlasted the timeout finished later: the re-run finds every node right, and closes the run.
    result = plan(healthy_cluster(certs=generated_names({}, "s1")), unfinished())
    assert result["rebuild"] is False and result["close_record"] is True
    assert result["summary"].endswith("The unfinished run s1 is closed.")


def test_a_second_run_in_the_same_minute_gets_a_counter_on_its_serial() -> None:
    mine = generated_names({}, NOW)
    saved = {**unfinished(NOW), "finished": True}
    result = plan(healthy_cluster(certs=mine), saved, force=True)
    assert result["serial"] == NOW + "-2" and result["target"]["ca_cert"] == "dbca-%s-2.crt" % NOW


def test_an_unfinished_run_of_another_kind_is_not_resumed() -> None:
    srcs = {k: "/files/corp-%s" % v for k, v in OLD.items()}
    result = plan(healthy_cluster(), unfinished(), generate=False, certs_src=srcs)
    assert result["resumed"] is False and result["mode"] == "provided" and result["close_record"] is True
    assert plan(healthy_cluster(), unfinished(), serial="other")["resumed"] is False


def test_an_explicit_serial_used_before_is_refused_when_a_new_rebuild_is_due() -> None:
    saved = {**unfinished(), "finished": True}
    hosts = healthy_cluster(certs=generated_names({}, "s1"))
    (msg,) = problems(plan(hosts, saved, serial="s1", force=True), "fresh")
    assert msg.startswith("db_cluster_rebuild_serial s1 was used before (the run record (finished); dbca-s1.crt")
    # Not due and not forced: the same serial names the certificates in use, and nothing is refused.
    assert problems(plan(hosts, saved, serial="s1")) == []


# ---- backups ----------------------------------------------------------------------------------------------------
def test_a_fixed_backup_name_used_before_is_refused_for_a_new_run() -> None:
    result = plan(healthy_cluster(), force=True, backup_name="fixedbk", controller_backups=["cms2/fixedbk.bak"])
    (msg,) = problems(result, "fresh")
    assert msg.startswith("The backup name fixedbk is taken (%s/backups/cms2/fixedbk.bak on the controller)" % WORK)
    hosts = healthy_cluster(files=("fixedbk.bak",))
    assert "fixedbk.bak on cms1" in problems(plan(hosts, force=True, backup_name="fixedbk"), "fresh")[0]


def test_a_resumed_run_keeps_the_controller_backup_even_when_the_node_copy_vanished() -> None:
    saved = unfinished(backups={"cms1": {"path": WORK + "/backups/cms1/before-dbcerts-s1.bak", "sha256": "ab"}})
    hosts = [host(n, status(n, "disabled")) for n in ("cms1", "cms2", "cms3")]  # no .bak on any node any more
    result = plan(hosts, saved, controller_backups=["cms1/before-dbcerts-s1.bak", "cms2/before-dbcerts-s1.bak"])
    assert problems(result) == []
    cms1, cms2, cms3 = (result["nodes"][n]["backup"] for n in ("cms1", "cms2", "cms3"))
    assert cms1["due"] is False and cms1["kept"]["sha256"] == "ab"
    assert cms2["due"] is False and cms2["kept"] == {"path": WORK + "/backups/cms2/before-dbcerts-s1.bak"}
    assert cms3["due"] is True and cms3["kept"] is None
    assert result["record"]["backups"] == saved["backups"]


def test_no_backup_is_due_when_backups_are_turned_off() -> None:
    result = plan(healthy_cluster(), force=True, backup=False)
    assert not any(n["backup"]["due"] for n in result["nodes"].values())


# ---- the role variables -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"client_cn": "admin"}, "db_cluster_rebuild_client_cn is 'admin'; the client certificate's CN must contain"),
        ({"interface": "eth0"}, "db_cluster_rebuild_interface 'eth0' is not an MMP interface"),
        ({"serial": "2026.1"}, "db_cluster_rebuild_serial '2026.1' is not valid"),
        ({"server_basename": "db/server"}, "db_cluster_rebuild_server_basename 'db/server' is not valid"),
        ({"backup_name": "a b"}, "db_cluster_rebuild_backup_name 'a b' is not valid"),
        ({"server_san": ["cms1;reboot"]}, "contains a semicolon"),
        ({"ca_cn": "x;y"}, "db_cluster_rebuild_ca_cn 'x;y' contains ';'"),
        ({"renew_within_days": -1}, "db_cluster_rebuild_renew_within_days is -1"),
        ({"timeout": 0}, "db_cluster_rebuild_timeout is 0"),
        ({"generate": False}, "Give the new certificates"),
        ({"generate": False, "certs": {"server_key": "k.key"}}, "name no server_cert, client_key"),
        ({"certs": {"sever_key": "k.key"}}, "db_cluster_rebuild_certs has unknown keys sever_key"),
        ({"primary_address": "10.0.0.1; reboot"}, "is neither an IP address nor a host name"),
    ],
)
def test_bad_role_variables_are_refused_before_any_node_is_read(variables: dict[str, Any], message: str) -> None:
    found = check_variables(variables)
    assert any(message in p for p in found), found
    assert problems(plan(healthy_cluster(), **variables), "variables") == found


def test_the_default_variables_pass() -> None:
    assert check_variables({}) == []


def test_booleans_and_null_handed_over_as_text_are_read_as_such() -> None:
    assert plan(healthy_cluster(), force="False")["rebuild"] is False
    assert plan(healthy_cluster(), force="True")["rebuild"] is True
    assert plan(healthy_cluster(), server_cert_names="None")["server_cert_names"] == [
        "cms1.lab.cms.example",
        "cms2.lab.cms.example",
        "cms3.lab.cms.example",
    ]
    assert plan(healthy_cluster(), server_cert_names=[])["server_cert_names"] == []


def test_a_server_name_from_the_inventory_that_is_no_host_name_is_refused() -> None:
    hosts = healthy_cluster()
    hosts[0]["fqdn"] = "cms1;reboot"
    result = plan(hosts, force=True)
    assert problems(result, "names") and problems(result, "variables") == []


# ---- the certificates check -----------------------------------------------------------------------------------------
def test_certificates_dated_in_the_future_close_the_run_and_name_the_clock() -> None:
    result = plan(healthy_cluster(), force=True)
    checks = {"cms2": {"ok": False, "problems": ["CA certificate dbca-x.crt is not valid before 2026-12-08"]}}
    verdict = certificates_verdict(result, checks, {})
    assert verdict["ok"] is False and verdict["close"] is True
    assert "cms2: CA certificate dbca-x.crt is not valid before" in verdict["msg"]
    assert "the clock of cms1" in verdict["msg"] and "new serial" in verdict["msg"]
    assert certificates_verdict(result, {"cms2": {"ok": True}}, {})["ok"] is True


def test_a_failed_check_in_a_resumed_run_that_already_changed_nodes_keeps_it_open() -> None:
    saved = unfinished(rebuild_started=True)
    result = plan(healthy_cluster(), saved)
    verdict = certificates_verdict(result, {"cms2": {"ok": False, "problems": ["x"]}}, saved)
    assert verdict["close"] is False and "run again to resume" in verdict["msg"]
