"""The simulator's REST API and call legs: real HTTPS on Web Admin, Basic auth, XML as CMS writes it, state that
follows the node (legs, alarms, the database cluster), and legs dropped by whatever takes the Call Bridge down."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from tests.cmssim.testing import SimLab, cli


def get_xml(lab: SimLab, node: str, path: str) -> ET.Element:
    code, body = lab.api_get(node, path)
    assert code == 200, (code, body)
    return ET.fromstring(body)


def legs_active(lab: SimLab, node: str) -> int:
    return int(get_xml(lab, node, "/system/status").findtext("callLegsActive") or "-1")


def dropped(lab: SimLab, node: str) -> list[int]:
    return [e["count"] for e in lab.events(node) if e["event"] == "call_legs_dropped"]


def test_status_counts_the_legs_started_on_that_node_only(lab: SimLab) -> None:
    cli("calls", "--lab-dir", str(lab.dir), "--node", "cms2", "--legs", "3")
    status = get_xml(lab, "cms2", "/system/status")
    assert status.tag == "status"
    assert status.findtext("callLegsActive") == "3"
    assert status.findtext("callLegsMaxActive") == "3"
    assert status.findtext("clusterEnabled") == "true"
    assert status.findtext("softwareVersion", "").startswith("3.8")
    assert legs_active(lab, "cms1") == 0


def test_call_legs_list_carries_the_total_and_pages_with_limit_and_offset(lab: SimLab) -> None:
    lab.calls("cms1", legs=12)
    first = get_xml(lab, "cms1", "/callLegs?limit=5")
    assert first.tag == "callLegs" and first.get("total") == "12"
    assert len(first.findall("callLeg")) == 5
    rest = get_xml(lab, "cms1", "/callLegs?offset=10&limit=5")
    assert len(rest.findall("callLeg")) == 2
    assert all(leg.get("id") for leg in rest.findall("callLeg"))


def test_an_idle_call_is_listed_with_no_legs(lab: SimLab) -> None:
    cli("calls", "--lab-dir", str(lab.dir), "--node", "cms1", "--legs", "0", "--idle-call")
    calls = get_xml(lab, "cms1", "/calls")
    assert calls.get("total") == "1"
    assert get_xml(lab, "cms1", "/callLegs").get("total") == "0"


def test_legs_end_after_their_duration_and_are_not_counted_as_dropped(lab: SimLab) -> None:
    lab.calls("cms2", legs=2, duration=0.5)
    assert legs_active(lab, "cms2") == 2
    lab.wait_event("cms2", lambda e: e["event"] == "call_legs_ended", timeout=5)
    status = get_xml(lab, "cms2", "/system/status")
    assert status.findtext("callLegsActive") == "0"
    assert status.findtext("callLegsCompleted") == "2"
    assert dropped(lab, "cms2") == []


def test_legs_zero_ends_every_leg_of_the_node(lab: SimLab) -> None:
    lab.calls("cms3", legs=4)
    cli("calls", "--lab-dir", str(lab.dir), "--node", "cms3", "--legs", "0")
    assert legs_active(lab, "cms3") == 0
    assert dropped(lab, "cms3") == []


def test_callbridge_restart_with_active_legs_drops_them_and_logs_the_count(lab: SimLab) -> None:
    lab.calls("cms2", legs=3)
    lab.run("cms2", "callbridge restart")
    assert dropped(lab, "cms2") == [3]
    assert legs_active(lab, "cms2") == 0


def test_callbridge_restart_on_an_idle_node_drops_nothing(lab: SimLab) -> None:
    lab.calls("cms2", legs=0, idle_call=True)
    lab.run("cms2", "callbridge restart")
    assert dropped(lab, "cms2") == []


def test_webbridge3_restart_drops_web_legs_but_not_sip_legs(lab: SimLab) -> None:
    lab.calls("cms1", legs=2)
    lab.calls("cms1", legs=1, kind="web")
    lab.run("cms1", "webbridge3 restart")
    assert dropped(lab, "cms1") == [1]
    assert legs_active(lab, "cms1") == 2


def test_database_cluster_remove_drops_the_legs_of_the_node(lab: SimLab) -> None:
    lab.calls("cms3", legs=2)
    lab.run("cms3", "database cluster remove", answer="Y")
    assert dropped(lab, "cms3") == [2]


def test_webadmin_disabled_takes_the_api_down(lab: SimLab) -> None:
    lab.run("cms1", "webadmin disable")
    with pytest.raises(OSError):
        lab.api_get("cms1", "/system/status")
    lab.run("cms1", "webadmin enable")
    assert legs_active(lab, "cms1") == 0


def test_api_is_down_during_a_cluster_transition_and_database_view_follows_it(lab: SimLab) -> None:
    lab.ctl(timings={"cluster_remove": 1.5})
    lab.run("cms3", "database cluster remove", answer="Y")
    with pytest.raises(OSError):
        lab.api_get("cms3", "/system/database")
    lab.wait_event("cms3", lambda e: e["event"] == "cluster_transition" and e.get("phase") == "finished", timeout=10)
    database = get_xml(lab, "cms3", "/system/database")
    assert database.findtext("clustered") == "disabled"
    assert get_xml(lab, "cms3", "/system/status").findtext("clusterEnabled") == "false"
    # The others still see a cluster, now of two database nodes.
    seen = get_xml(lab, "cms1", "/system/database")
    rows = [(n.findtext("hostname"), n.findtext("master"), n.findtext("up")) for n in seen.iter("node")]
    assert rows == [("192.0.2.11", "true", "true"), ("192.0.2.12", "false", "true")]


def test_a_formed_cluster_reports_every_node_up_and_in_sync(lab: SimLab) -> None:
    database = get_xml(lab, "cms2", "/system/database")
    assert database.findtext("clustered") == "enabled"
    assert [n.findtext("syncBehind") for n in database.iter("node")] == ["0", "0", "0"]
    assert [n.findtext("master") for n in database.iter("node")] == ["true", "false", "false"]


def test_alarms_are_set_and_cleared_with_ctl(lab: SimLab) -> None:
    cli("ctl", "--lab-dir", str(lab.dir), "--alarm", "cms2:callBridgeNotConfigured")
    alarms = get_xml(lab, "cms2", "/system/alarms")
    assert [a.findtext("type") for a in alarms.findall("alarm")] == ["callBridgeNotConfigured"]
    alarm = alarms.find("alarm")
    assert alarm is not None
    assert int(alarm.findtext("activeTimeSeconds") or "") >= 0
    assert get_xml(lab, "cms1", "/system/alarms").get("total") == "0"
    cli("ctl", "--lab-dir", str(lab.dir), "--clear-alarms", "cms2")
    assert get_xml(lab, "cms2", "/system/alarms").get("total") == "0"


def test_bad_credentials_get_401_with_a_basic_challenge(lab: SimLab) -> None:
    code, body = lab.api_get("cms1", "/system/status", password="wrong")
    assert (code, body) == (401, "")
    code, _ = lab.api_get("cms1", "/system/status", user="admin", password=lab.password)
    assert code == 401  # the MMP admin is not an API user


def test_unknown_paths_get_404(lab: SimLab) -> None:
    assert lab.api_get("cms1", "/system/nothing")[0] == 404


def test_call_bridges_lists_every_call_bridge_with_its_address(lab: SimLab) -> None:
    bridges = get_xml(lab, "cms1", "/callBridges")
    assert bridges.get("total") == "3"
    addresses = [b.findtext("address") for b in bridges.findall("callBridge")]
    assert addresses[0] == "https://cms1.lab.cms.example:445"


def test_calls_command_names_an_unknown_node(lab: SimLab) -> None:
    out = cli("calls", "--lab-dir", str(lab.dir), "--node", "cms9", "--legs", "1", check=False)
    assert out.returncode == 1 and "cms9" in out.stderr


def test_node_down_drops_its_legs(lab: SimLab) -> None:
    lab.calls("cms2", legs=1, duration=60)
    cli("ctl", "--lab-dir", str(lab.dir), "--down", "cms2")
    assert dropped(lab, "cms2") == [1]
    cli("ctl", "--lab-dir", str(lab.dir), "--up", "cms2")
    time.sleep(0.1)
    assert legs_active(lab, "cms2") == 0
