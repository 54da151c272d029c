"""cms_api_info against the simulator's REST API over verified HTTPS: legs counted per node, alarms, the database
view, idle calls, check mode, and bad credentials named with the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.cmssim.testing import SimLab
from tests.integration.helpers.db_cluster import mark, play

INFO = play(
    """
        - name: api
          cisco_cms.mmp.cms_api_info:
"""
)


def test_legs_are_counted_on_the_node_that_carries_them(lab: SimLab, playbook: Callable[..., Any]) -> None:
    lab.calls("cms2", legs=3)
    lab.calls("cms1", legs=0, idle_call=True)
    lab.alarms({"cms3": ["callBridgeNotConfigured"]})
    before = mark(lab, "cms1", "cms2", "cms3")
    run = playbook(lab, INFO)
    assert run.rc == 0, run.stdout[-3000:]
    busy = run.task("cms2", "api")
    assert (busy["call_legs_active"], busy["call_legs_total"], busy["calls_total"], busy["idle"]) == (3, 3, 1, False)
    assert busy["status"]["softwareVersion"].startswith("3.8") and busy["changed"] is False
    # A scheduled call with no participants is a call, not a leg: the node stays idle.
    idle = run.task("cms1", "api")
    assert (idle["call_legs_active"], idle["calls_total"], idle["idle"]) == (0, 1, True)
    assert [a["type"] for a in run.task("cms3", "api")["alarms"]] == ["callBridgeNotConfigured"]
    database = idle["database"]
    assert database["clustered"] == "enabled"
    assert [(n["master"], n["up"], n["syncBehind"]) for n in database["nodes"]] == [
        (True, True, 0),
        (False, True, 0),
        (False, True, 0),
    ]
    assert [b["name"] for b in idle["call_bridges"]] == ["cms1", "cms2", "cms3"]
    # Read-only: no MMP command, no SSH connection at all.
    for node, since in before.items():
        assert not [e for e in lab.events(node)[since:] if e["event"] in ("command", "connection_opened")]


def test_check_mode_reads_the_api_the_same(lab: SimLab, playbook: Callable[..., Any]) -> None:
    lab.calls("cms3", legs=2, duration=600)
    run = playbook(lab, INFO, check=True, limit="cms3")
    assert run.rc == 0, run.stdout[-3000:]
    assert run.task("cms3", "api")["call_legs_active"] == 2


def test_bad_api_credentials_fail_naming_the_api_user_and_the_fix(lab: SimLab, playbook: Callable[..., Any]) -> None:
    run = playbook(lab, INFO, extra_vars={"cms_api_password": "not-the-password"}, limit="cms1")
    assert run.rc != 0
    result = run.task("cms1", "api")
    assert result["failed"]
    msg = result["msg"]
    assert f"refused the API user '{lab.api_user}' (HTTP 401)" in msg
    assert "cms_api_user" in msg and "cms_api_password" in msg
    assert "not-the-password" not in run.stdout


def test_an_unverifiable_certificate_is_refused_with_the_options_to_fix_it(
    lab: SimLab, playbook: Callable[..., Any]
) -> None:
    run = playbook(lab, INFO, extra_vars={"cms_api_server_name": "elsewhere.example"}, limit="cms1")
    assert run.rc != 0
    msg = run.task("cms1", "api")["msg"]
    assert "did not answer" in msg and "api_server_name" in msg and "api_ca_file" in msg


def test_webadmin_disabled_fails_with_the_address_tried(lab: SimLab, playbook: Callable[..., Any]) -> None:
    lab.run("cms2", "webadmin disable")
    run = playbook(lab, INFO, limit="cms2")
    assert run.rc != 0
    port = lab.hosts["cms2"]["cms_api_port"]
    assert (
        f"the REST API at 127.0.0.1:{port} did not answer GET /api/v1/system/status" in run.task("cms2", "api")["msg"]
    )
