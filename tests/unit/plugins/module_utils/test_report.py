# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The certificate report's data model and renderers (the page's Jinja2 template included), on hand-made
cms_pki_info / cms_db_cluster_info results."""

from __future__ import annotations

import datetime
import json
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._report import (
    build_report,
    in_use_checks,
    same_content,
    service_uses,
    summary_lines,
    tls_endpoints,
    urgency,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._report_render import (
    prom_label_value,
    render_json,
    render_prometheus,
)
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._report_html import RENDERERS, render_html

UTC = datetime.UTC
NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def iso(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def cert(days: float, cn: str = "n1.example") -> dict[str, Any]:
    return {
        "subject": "CN=%s" % cn,
        "common_name": cn,
        "san": [cn],
        "issuer": "CN=Issuing CA",
        "serial": "01",
        "not_before": iso(NOW - datetime.timedelta(days=300)),
        "not_after": iso(NOW + datetime.timedelta(days=days)),
        "fingerprint_sha256": "AA:BB",
        "key_type": "RSA",
        "key_size": 2048,
        "is_ca": False,
        "self_signed": False,
        "chain_length": 1,
        "chain": ["CN=%s" % cn],
    }


def pki(days: float = 100, bundle_days: float = 2000, files: list[str] | None = None) -> dict[str, Any]:
    """A node with webadmin on n.key/n.cer/bundle.cer, webbridge3 on n.key/full.cer, and a database cluster."""
    return {
        "changed": False,
        "files": files or ["n.key", "n.cer", "full.cer", "bundle.cer", "db.key", "db.cer", "dbca.cer"],
        "certificates": {
            "n.cer": cert(days),
            "full.cer": cert(days),
            "bundle.cer": cert(bundle_days, "Issuing CA"),
            "db.cer": cert(days),
            "dbca.cer": cert(bundle_days, "DB CA"),
        },
        "unreadable": {},
        "services": {
            "webadmin": {
                "service": "webadmin",
                "enabled": True,
                "key": "n.key",
                "cert": "n.cer",
                "bundle": "bundle.cer",
            },
            "webbridge3": {
                "service": "webbridge3",
                "enabled": True,
                "key": "n.key",
                "cert": "full.cer",
                "https_key": "n.key",
                "https_cert": "full.cer",
                "c2w_key": "n.key",
                "c2w_cert": "full.cer",
                "c2w_trust": "bundle.cer",
            },
        },
        "database_cluster": {
            "status": "enabled",
            "certificates": {
                "server_key": {"file": "db.key", "expired": False},
                "server_cert": {"file": "db.cer", "expired": False},
                "client_key": {"file": "db.key", "expired": False},
                "client_cert": {"file": "db.cer", "expired": False},
                "ca_cert": {"file": "dbca.cer", "expired": False},
            },
        },
    }


def passed(result: dict[str, Any]) -> dict[str, Any]:
    """What the second cms_pki_info says when every pair matches and every chain verifies."""
    plan = in_use_checks(result)
    return {
        "changed": False,
        "match": [dict(m, match=True, node=True, local=True, reason=None) for m in plan["match"]],
        "verify": [dict(v, verified=True, node=True, local=True, reason="verified") for v in plan["verify"]],
    }


def database(
    state: str,
    healthy: bool = True,
    address: str = "10.0.0.1",
    members: list[Any] | None = None,
    certificates: dict[str, str] | None = None,
) -> dict:
    return {
        "state": state,
        "enabled": state != "disabled",
        "healthy": healthy,
        "primary_address": "10.0.0.1",
        "local_address": address,
        "in_sync_replicas": [],
        "certificates": {"server_cert": "db.cer"} if certificates is None else certificates,
        "expired": [],
        "cluster_status": {"status_text": "Enabled", "nodes": members or []},
    }


def node(name: str, cluster: str = "cms", **parts: Any) -> dict[str, Any]:
    return {"name": name, "cluster": cluster, **parts}


def report_of(nodes: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    options = {"title": "T", "critical_days": 14, "warning_days": 45, "timeline_days": 365, **kwargs}
    return build_report(nodes, NOW, **options)


def test_urgency_thresholds_are_inclusive_and_expiry_wins() -> None:
    def at(days: float) -> str:
        return urgency(NOW + datetime.timedelta(days=days), NOW, 14, 45)

    assert at(-0.001) == "expired"
    assert [at(14.5), at(15), at(45.9), at(46)] == ["critical", "warning", "warning", "ok"]


def test_each_service_is_split_into_what_it_presents_and_what_it_trusts() -> None:
    uses = {u["name"]: u for u in service_uses(pki())}
    assert list(uses) == ["webadmin", "webbridge3", "database_cluster"]
    assert uses["webadmin"]["slots"] == [
        {"slot": "main", "key": "n.key", "cert": "n.cer", "bundle": "bundle.cer", "cert_role": "cert"}
    ]
    assert [(s["slot"], s["cert"], s["bundle"]) for s in uses["webbridge3"]["slots"]] == [
        ("https", "full.cer", None),
        ("c2w", "full.cer", None),
    ]
    assert uses["webbridge3"]["trust"] == [{"role": "c2w_trust", "file": "bundle.cer"}]
    assert [(s["slot"], s["bundle"]) for s in uses["database_cluster"]["slots"]] == [
        ("server", "dbca.cer"),
        ("client", "dbca.cer"),
    ]


def test_every_trust_file_is_a_row_of_the_report_even_when_nothing_else_names_it() -> None:
    node = pki(files=["n.key", "n.cer", "full.cer", "bundle.cer", "ucm.cer", "ROOTCA.cer"])
    node["services"]["callbridge"] = {
        "service": "callbridge",
        "enabled": None,
        "key": "n.key",
        "cert": "n.cer",
        "ucm_trust": "ucm.cer",
        "imps_trust": None,
    }
    node["tls"] = {"sip": {"tls": "sip", "trust": "ROOTCA.cer", "verify": "enabled", "known": True}}
    uses = {u["name"]: u for u in service_uses(node)}
    assert uses["callbridge"]["trust"] == [{"role": "ucm_trust", "file": "ucm.cer"}]
    assert uses["tls"] == {
        "name": "tls",
        "enabled": None,
        "slots": [],
        "trust": [{"role": "sip_trust", "file": "ROOTCA.cer"}],
    }


def test_in_use_checks_name_each_pair_once_and_skip_files_the_node_lacks() -> None:
    checks = in_use_checks(pki())
    assert checks["match"] == [
        {"key": "n.key", "cert": "n.cer"},
        {"key": "n.key", "cert": "full.cer"},
        {"key": "db.key", "cert": "db.cer"},
    ]
    assert checks["verify"] == [
        {"cert": "n.cer", "bundle": "bundle.cer"},
        {"cert": "full.cer", "bundle": None},
        {"cert": "db.cer", "bundle": "dbca.cer"},
    ]
    without_bundle = in_use_checks(pki(files=["n.key", "n.cer", "full.cer"]))
    assert {"cert": "n.cer", "bundle": "bundle.cer"} not in without_bundle["verify"]
    assert {"key": "n.key", "cert": "n.cer"} in without_bundle["match"]


def test_a_missing_bundle_is_a_problem_of_the_service_not_a_crash() -> None:
    result = pki(files=["n.key", "n.cer", "full.cer"])
    del result["certificates"]["bundle.cer"]
    report = report_of([node("n1", pki=result)])
    n1 = report["clusters"][0]["nodes"][0]
    webadmin = next(s for s in n1["services"] if s["name"] == "webadmin")
    assert webadmin["healthy"] is False
    assert webadmin["slots"][0]["chain_verified"] is False
    assert "webadmin: bundle.cer (bundle) is not on the node" in n1["problems"]


def test_nodes_are_grouped_by_cluster_in_the_order_of_their_first_node() -> None:
    nodes = [node("a1", "alpha", pki=pki()), node("b1", "beta", pki=pki(10)), node("a2", "alpha", pki=pki(50))]
    report = report_of(nodes)
    assert [(c["name"], [n["name"] for n in c["nodes"]]) for c in report["clusters"]] == [
        ("alpha", ["a1", "a2"]),
        ("beta", ["b1"]),
    ]
    assert [c["urgency"] for c in report["clusters"]] == ["ok", "critical"]


def test_a_failed_probe_is_unreachable_and_a_failed_read_an_error() -> None:
    report = report_of(
        [
            node("up", pki=pki(), database=database("primary")),
            node("down", probe={"failed": True, "msg": "Timeout when waiting for 10.0.0.2:22"}, pki={"skipped": True}),
            node("broken", probe={"elapsed": 0}, pki={"failed": True, "msg": "authentication failed for admin@broken"}),
        ]
    )
    nodes = {n["name"]: n for n in report["clusters"][0]["nodes"]}
    assert nodes["down"]["status"] == "unreachable"
    assert nodes["down"]["errors"] == ["SSH port check: Timeout when waiting for 10.0.0.2:22"]
    assert nodes["broken"]["status"] == "error" and "authentication failed" in nodes["broken"]["errors"][0]
    assert report["summary"]["unreachable"] == ["down"] and report["summary"]["errors"] == ["broken"]
    prom = render_prometheus(report)
    assert 'cms_cert_report_node_reachable{cluster="cms",node="down"} 0' in prom
    assert 'cms_cert_report_node_reachable{cluster="cms",node="broken"} 1' in prom


def test_database_health_needs_exactly_one_primary_and_names_members_by_inventory_address() -> None:
    one = report_of(
        [
            node(
                "p",
                address="10.0.0.1",
                database=database(
                    "primary",
                    members=[
                        {"address": "10.0.0.1", "role": "primary", "connected": True, "in_sync": None},
                        {"address": "10.0.0.2", "role": None, "connected": False, "in_sync": None},
                    ],
                ),
            ),
            node("r", address="10.0.0.2", probe={"failed": True, "msg": "timeout"}),
        ]
    )
    db = one["clusters"][0]["database"]
    assert db["healthy"] is False and db["primary"] == "p"
    assert db["problems"] == ["the primary sees r disconnected"]
    two = report_of([node("p", database=database("primary")), node("q", database=database("primary", address="x"))])
    assert two["clusters"][0]["database"]["problems"] == ["more than one primary: p, q"]
    unread = report_of([node("p", database=database("primary")), node("r", probe={"failed": True, "msg": "x"})])
    assert unread["clusters"][0]["database"]["healthy"] is None
    assert unread["summary"]["database_clusters"]["unknown"] == ["cms"]
    alone = report_of([node("s", database=database("disabled", healthy=False, certificates={}))])
    assert alone["clusters"][0]["database"]["enabled"] is False
    assert "cms_database_cluster_healthy" not in render_prometheus(alone)


def test_prometheus_label_values_are_escaped() -> None:
    assert prom_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    report = report_of([node('odd"\\\nname', pki=pki(), checks=passed(pki()))])
    prom = render_prometheus(report)
    assert 'cms_certificate_expiry_timestamp_seconds{node="odd\\"\\\\\\nname",service="webadmin",file="n.cer"} ' in prom
    # One series per node, service and file, however many roles the file has there (webbridge3's two full chains).
    assert prom.count('service="webbridge3",file="full.cer"}') == 2  # expiry and chain_ok
    assert 'cms_certificate_chain_ok{node="odd\\"\\\\\\nname",service="webbridge3",file="full.cer"} 1\n' in prom
    assert all(line.startswith(("#", "cms_")) for line in prom.splitlines())


def test_content_comparison_ignores_only_the_generation_time() -> None:
    # Half-day validities: an hour later no day has ticked over yet.
    fleet = [node("n1", pki=pki(100.5, 2000.5))]
    report = report_of(fleet)
    later = build_report(fleet, NOW + datetime.timedelta(hours=1), "T", 14, 45, 365)
    next_day = build_report(fleet, NOW + datetime.timedelta(days=1), "T", 14, 45, 365)
    for kind, render in (("html", render_html), ("json", render_json), ("prometheus", render_prometheus)):
        written = render(report)
        assert same_content(RENDERERS[kind], later, written), kind
        assert not same_content(RENDERERS[kind], report_of([node("n1", pki=pki(5))]), written), kind
        assert same_content(RENDERERS[kind], report, None) is False
    # A day later the days left differ: the HTML and JSON change, the Prometheus file (absolute times) does not.
    assert not same_content(RENDERERS["json"], next_day, render_json(report))
    assert not same_content(RENDERERS["html"], next_day, render_html(report))
    assert same_content(RENDERERS["prometheus"], next_day, render_prometheus(report))


def test_json_is_stable_and_holds_whole_days_from_the_generation_time() -> None:
    report = report_of([node("n1", pki=pki(days=10.5))])
    assert render_json(report) == render_json(json.loads(render_json(report)))
    n1 = report["clusters"][0]["nodes"][0]
    entry = next(c for c in n1["certificates"] if c["file"] == "n.cer")
    assert (entry["days_left"], entry["urgency"], entry["expired"]) == (10, "critical", False)
    assert entry["not_after_timestamp"] == int((NOW + datetime.timedelta(days=10.5)).timestamp())
    certs = report_of([node("n1", pki=pki(days=-0.5))])["clusters"][0]["nodes"][0]["certificates"]
    expired = next(c for c in certs if c["file"] == "full.cer")
    assert (expired["days_left"], expired["urgency"], expired["expired"]) == (-1, "expired", True)


def test_html_escapes_everything_it_shows() -> None:
    result = pki()
    result["certificates"]["n.cer"]["subject"] = "CN=<script>alert(1)</script>"
    page = render_html(report_of([node("<b>n1</b>", pki=result)], title="A & B"))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>n1</b>" not in page and "&lt;b&gt;n1&lt;/b&gt;" in page
    assert "<title>A &amp; B</title>" in page


def test_a_disabled_service_is_a_problem_in_the_json_the_page_and_the_metrics() -> None:
    result = pki()
    result["services"]["webadmin"]["enabled"] = False
    report = report_of([node("n1", pki=result, checks=passed(result))])
    n1 = report["clusters"][0]["nodes"][0]
    webadmin = next(s for s in n1["services"] if s["name"] == "webadmin")
    # Its files are fine (key matches, chain verifies), yet it serves nothing: not healthy, and said why.
    assert webadmin["slots"][0]["key_matches"] is True and webadmin["slots"][0]["chain_verified"] is True
    assert webadmin["enabled"] is False and webadmin["healthy"] is False
    assert n1["problems"] == ["webadmin: disabled, so it serves nothing; enable it (`webadmin enable` on the node)"]
    assert report["summary"]["problems"] == 1
    assert webadmin["state_problem"] == n1["problems"][0]
    assert report["summary"]["services_down"] == [
        {"node": "n1", "service": "webadmin", "enabled": False, "running": None, "problem": n1["problems"][0]}
    ]
    assert "services disabled or stopped: n1 webadmin (disabled)" in summary_lines(report)
    assert "0 key/chain problems" in summary_lines(report)[1]
    prom = render_prometheus(report)
    assert 'cms_service_enabled{node="n1",service="webadmin"} 0\n' in prom
    assert 'cms_service_enabled{node="n1",service="webbridge3"} 1\n' in prom
    page = render_html(report)
    assert '<div class="card u-critical"><b>1</b> service disabled or stopped</div>' in page
    assert '<b>webadmin</b><span class="no"> (disabled)</span>' in page
    assert '<li class="no">n1 webadmin: disabled, so it serves nothing' in page
    # The key/chain card counts key, chain and file problems only.
    assert '<div class="card"><b>0</b> chain / key problems</div>' in page


def test_a_stopped_webadmin_is_a_problem_and_a_status_word_not_known_is_not() -> None:
    def webadmin_with(state: str) -> dict[str, Any]:
        result = pki()
        result["services"]["webadmin"]["state"] = state
        return report_of([node("n1", pki=result, checks=passed(result))])

    stopped = webadmin_with("webadmin not running")
    n1 = stopped["clusters"][0]["nodes"][0]
    webadmin = next(s for s in n1["services"] if s["name"] == "webadmin")
    assert (webadmin["enabled"], webadmin["running"], webadmin["healthy"]) == (True, False, False)
    assert n1["problems"] == [
        "webadmin: enabled but not running (STATUS: webadmin not running); start it (`webadmin restart` on the node)"
    ]
    assert 'cms_service_running{node="n1",service="webadmin"} 0\n' in render_prometheus(stopped)
    assert '<b>webadmin</b><span class="no"> (not running)</span>' in render_html(stopped)

    running = webadmin_with("webadmin running")
    assert running["clusters"][0]["nodes"][0]["problems"] == [] and running["summary"]["services_down"] == []
    assert 'cms_service_running{node="n1",service="webadmin"} 1\n' in render_prometheus(running)
    # A wording no transcript showed: not judged, rather than a false alarm.
    unknown = webadmin_with("webadmin starting")
    assert unknown["clusters"][0]["nodes"][0]["problems"] == []
    assert "cms_service_running" not in render_prometheus(unknown)


def test_the_database_cluster_state_is_judged_by_its_health_not_as_a_service_down() -> None:
    result = pki()
    result["database_cluster"]["status"] = "disabled"
    report = report_of([node("n1", pki=result, checks=passed(result))])
    database = next(s for s in report["clusters"][0]["nodes"][0]["services"] if s["name"] == "database_cluster")
    assert database["enabled"] is False and database["healthy"] is True
    assert report["summary"]["services_down"] == []
    assert 'service="database_cluster"' not in "".join(
        line for line in render_prometheus(report).splitlines() if line.startswith("cms_service_")
    )


def test_tls_endpoints_and_the_served_certificate_compared_with_the_configured_one() -> None:
    data = pki()
    data["certificates"]["old.cer"] = dict(cert(20), fingerprint_sha256="OL:D0")
    data["services"]["webbridge3"]["enabled"] = False  # down: its own problem, never probed
    reading = node("n1", pki=data, checks=passed(data), tls_host="10.9.9.9", tls_ports={"webadmin": 8443})
    # webadmin's port from tls_ports; the disabled webbridge3 and the database cluster are not probed.
    assert tls_endpoints(reading) == {"webadmin": ("10.9.9.9", 8443)}
    assert tls_endpoints(node("n2", pki={"failed": True, "msg": "x"})) == {}

    def served(probe: dict[str, Any]) -> dict[str, Any]:
        return report_of([reading], tls={"n1": {"webadmin": dict(probe, endpoint="webadmin")}})

    target = {"host": "10.9.9.9", "port": 8443}
    old = served(dict(target, fingerprint_sha256="OL:D0"))
    webadmin = old["clusters"][0]["nodes"][0]["services"][0]
    problem = (
        "webadmin: serves old.cer on 10.9.9.9:8443, configured n.cer; restart it (`webadmin restart` on the node) "
        "to serve the configured certificate"
    )
    assert webadmin["tls_problems"] == [problem] and webadmin["healthy"] is False
    assert webadmin["slots"][0]["tls"]["served_file"] == "old.cer" and webadmin["slots"][0]["tls"]["matches"] is False
    assert old["summary"]["tls_problems"] == [{"node": "n1", "service": "webadmin", "problem": problem}]
    prom = render_prometheus(old)
    assert 'cms_service_serving_configured_certificate{node="n1",service="webadmin",endpoint="webadmin"} 0' in prom

    stranger = served(dict(target, fingerprint_sha256="99:99"))
    assert (
        "serves a certificate that is in no file on the node (SHA-256 99:99)"
        in (stranger["clusters"][0]["nodes"][0]["services"][0]["tls_problems"][0])
    )
    refused = served(dict(target, error="Connection refused"))
    assert refused["clusters"][0]["nodes"][0]["services"][0]["tls_problems"][0].startswith(
        "webadmin: enabled but not serving TLS on 10.9.9.9:8443 (Connection refused)"
    )
    good = served(dict(target, fingerprint_sha256="AA:BB"))
    assert good["summary"]["tls_problems"] == [] and good["clusters"][0]["nodes"][0]["services"][0]["healthy"]
    assert 'endpoint="webadmin"} 1' in render_prometheus(good)
    # Not checked: no verdict, no metric, and the report says so.
    off = report_of([reading])
    assert off["tls_checked"] is False and off["clusters"][0]["nodes"][0]["services"][0]["slots"][0]["tls"] is None
    assert "cms_service_serving_configured_certificate" not in render_prometheus(off)
