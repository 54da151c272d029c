"""The call guard and the health gates as pure logic: a scripted node, a fake clock, no waiting."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api import CmsApiAuthError, CmsApiUnavailable
from ansible_collections.cisco_cms.mmp.plugins.module_utils._calls import (
    CallPolicy,
    CallsBusyError,
    Health,
    HealthGateError,
    NodeGuard,
    decide,
    health_problems,
    preview,
    wait_healthy,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._services import disruptive


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedNode:
    """Answers legs_active() from a script of counts (or exceptions), one per call; the last one repeats."""

    def __init__(self, *answers: Any, node: str = "cms2") -> None:
        self.node = node
        self.answers = list(answers)
        self.reads = 0

    def legs_active(self) -> int:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return int(answer)


def policy(**kw: Any) -> CallPolicy:
    base: dict[str, Any] = {"calls_wait_timeout": 60, "calls_poll_interval": 5}
    base.update(kw)
    return CallPolicy(**base)


def test_an_idle_node_proceeds_at_once_without_waiting() -> None:
    clock = Clock()
    decision = decide(ScriptedNode(0), policy(), clock=clock, sleep=clock.sleep)
    assert decision.as_dict() == {
        "node": "cms2",
        "decision": "proceed",
        "legs_at_decision": 0,
        "waited_s": 0.0,
        "reason": "idle",
    }


def test_wait_polls_until_the_legs_end_then_proceeds_and_reports_the_time_waited() -> None:
    clock = Clock()
    seen: list[str] = []
    decision = decide(ScriptedNode(3, 3, 1, 0), policy(), progress=seen.append, clock=clock, sleep=clock.sleep)
    assert (decision.decision, decision.legs_at_decision, decision.waited_s) == ("proceed", 0, 15.0)
    assert seen[0] == "cms2: 3 active call leg(s); waiting up to 60s for them to end"


def test_wait_times_out_with_a_failure_that_names_the_node_and_the_legs() -> None:
    clock = Clock()
    with pytest.raises(CallsBusyError) as err:
        decide(ScriptedNode(2), policy(calls_wait_timeout=20), clock=clock, sleep=clock.sleep)
    assert "cms2 still carries 2 active call leg(s)" in str(err.value)
    assert "after waiting 20s" in str(err.value) and "nothing was changed" in str(err.value)


def test_wait_times_out_into_a_skip_when_on_calls_timeout_says_skip() -> None:
    clock = Clock()
    decision = decide(
        ScriptedNode(2), policy(calls_wait_timeout=10, on_calls_timeout="skip"), clock=clock, sleep=clock.sleep
    )
    assert (decision.decision, decision.legs_at_decision, decision.proceed) == ("skip", 2, False)


def test_fail_stops_at_once_on_a_busy_node() -> None:
    with pytest.raises(CallsBusyError, match="cms2 carries 3 active call leg"):
        decide(ScriptedNode(3), policy(on_active_calls="fail"))


def test_skip_leaves_a_busy_node_without_waiting() -> None:
    node = ScriptedNode(3)
    decision = decide(node, policy(on_active_calls="skip"))
    assert decision.decision == "skip" and node.reads == 1


def test_max_active_legs_lets_a_node_with_few_legs_proceed() -> None:
    assert decide(ScriptedNode(2), policy(max_active_legs=2)).decision == "proceed"


def test_force_proceeds_on_a_busy_node_and_records_its_legs() -> None:
    decision = decide(ScriptedNode(5), policy(on_active_calls="force"))
    assert (decision.decision, decision.legs_at_decision, decision.proceed) == ("force", 5, True)


def test_force_proceeds_even_when_the_api_cannot_be_read() -> None:
    decision = decide(ScriptedNode(CmsApiUnavailable("down")), policy(on_active_calls="force"))
    assert (decision.decision, decision.legs_at_decision) == ("force", None)


def test_an_unreadable_api_stops_the_guard_instead_of_a_blind_restart() -> None:
    with pytest.raises(CmsApiUnavailable):
        decide(ScriptedNode(CmsApiUnavailable("down")), policy())


def test_a_blinking_api_during_the_wait_is_polled_again() -> None:
    clock = Clock()
    decision = decide(ScriptedNode(1, CmsApiUnavailable("blink"), 0), policy(), clock=clock, sleep=clock.sleep)
    assert decision.decision == "proceed"


def test_refused_credentials_during_the_wait_fail_at_once() -> None:
    clock = Clock()
    with pytest.raises(CmsApiAuthError):
        decide(ScriptedNode(1, CmsApiAuthError("401")), policy(), clock=clock, sleep=clock.sleep)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"on_active_calls": "drain"}, "on_active_calls must be one of"),
        ({"max_active_legs": -1}, "max_active_legs must be 0 or more"),
        ({"calls_wait_timeout": 0}, "calls_wait_timeout must be more than 0"),
        ({"calls_poll_interval": -1}, "calls_poll_interval must be more than 0"),
    ],
)
def test_bad_guard_options_are_refused_with_the_fix(params: dict[str, Any], message: str) -> None:
    full = {"on_active_calls": "wait", "calls_wait_timeout": 60, "calls_poll_interval": 5, **params}
    with pytest.raises(MmpValidationError, match=message):
        CallPolicy.from_params(full)


def test_check_mode_preview_says_it_would_wait_without_waiting() -> None:
    node = ScriptedNode(3)
    decision = preview(node, policy())
    assert (decision.decision, decision.legs_at_decision, node.reads) == ("would_wait", 3, 1)
    assert decision.reason == "3 active call leg(s), more than max_active_legs=0; would wait up to 60s"
    assert not decision.proceed


def test_check_mode_preview_of_an_idle_node_proceeds() -> None:
    assert preview(ScriptedNode(0), policy(on_active_calls="fail")).decision == "proceed"


IN_SYNC = {
    "clustered": "enabled",
    "nodes": [
        {"hostname": "192.0.2.11", "master": True, "up": True, "syncBehind": 0},
        {"hostname": "192.0.2.12", "master": False, "up": True, "syncBehind": 0},
    ],
}


def test_a_new_alarm_fails_the_health_gate_but_an_old_one_does_not() -> None:
    before = Health(["recordingBehind"], IN_SYNC)
    assert health_problems(before, Health(["recordingBehind"], IN_SYNC), database_in_sync=True) == []
    after = Health(["callBridgeNotConfigured", "recordingBehind"], IN_SYNC)
    assert health_problems(before, after, database_in_sync=False) == ["new alarm callBridgeNotConfigured"]


def test_after_a_rebuild_every_database_node_must_be_up_and_in_sync() -> None:
    behind = {"nodes": [{"hostname": "a", "up": True, "syncBehind": 4096}, {"hostname": "b", "up": False}]}
    problems = health_problems(Health(), Health([], behind), database_in_sync=True)
    assert problems == ["database node a is 4096 bytes behind", "database node b is not up"]


class HealthNode:
    node = "cms1"

    def __init__(self, *databases: Any) -> None:
        self.databases = list(databases)

    def alarms(self) -> list[dict[str, Any]]:
        return []

    def database(self) -> dict[str, Any]:
        answer = self.databases.pop(0) if len(self.databases) > 1 else self.databases[0]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


def test_wait_healthy_waits_for_the_api_to_come_back_and_the_cluster_to_sync() -> None:
    clock = Clock()
    node = HealthNode(CmsApiUnavailable("restarting"), {"nodes": [{"hostname": "a", "up": False}]}, IN_SYNC)
    health, waited = wait_healthy(node, Health(), True, timeout=30, poll_interval=2, clock=clock, sleep=clock.sleep)
    assert (health.database, waited) == (IN_SYNC, 4.0)


def test_wait_healthy_fails_at_the_timeout_naming_what_is_wrong() -> None:
    clock = Clock()
    node = HealthNode({"nodes": [{"hostname": "192.0.2.12", "up": False}]})
    with pytest.raises(HealthGateError, match=r"cms1 is not healthy 10s after the change: database node 192\.0\.2\.12"):
        wait_healthy(node, Health(), True, timeout=10, poll_interval=3, clock=clock, sleep=clock.sleep)


# ---- NodeGuard: one change on one node -------------------------------------------------------------------------------
class HealthyNode(ScriptedNode):
    def alarms(self) -> list[dict[str, Any]]:
        return []

    def database(self) -> dict[str, Any]:
        return {"clustered": "enabled", "nodes": []}


def test_the_node_guard_proceeds_on_an_idle_node_and_records_the_legs_right_before_the_stop() -> None:
    guard = NodeGuard(HealthyNode(0, 0, 1), policy(on_active_calls="fail"))
    assert guard.check() is True and guard.last_look() is True
    guard.record_dropped()
    guard.record_dropped()  # only the first stop counts
    assert guard.as_dict() == {
        "node": "cms2",
        "decision": "proceed",
        "legs_at_decision": 0,
        "waited_s": 0.0,
        "reason": "idle",
        "legs_dropped": 1,
        "health_waited_s": None,
        "alarms_before": [],
    }


class CountingNode(HealthyNode):
    """Counts the health reads; raises the alarm types it is given from read number ``alarms_from`` on."""

    def __init__(self, *legs: int, later_alarms: tuple[str, ...] = (), alarms_from: int = 2) -> None:
        super().__init__(*legs)
        self.alarm_reads = 0
        self.later_alarms = later_alarms
        self.alarms_from = alarms_from

    def alarms(self) -> list[dict[str, Any]]:
        self.alarm_reads += 1
        return [{"type": kind} for kind in self.later_alarms] if self.alarm_reads >= self.alarms_from else []


def test_the_next_change_of_a_call_takes_the_previous_gate_s_health_as_its_baseline_without_reading_it_again() -> None:
    node = CountingNode(0, 0, 0, 0, 0, 0)
    first = NodeGuard(node, policy(on_active_calls="fail"))
    assert first.check() is True
    first.gate_after(database_in_sync=False, timeout=1)
    assert node.alarm_reads == 2 and first.health_after == Health([], {"clustered": "enabled", "nodes": []})
    second = NodeGuard(node, policy(on_active_calls="fail"))
    assert second.check(health_before=first.health_after) is True
    assert node.alarm_reads == 2 and second.health_before is first.health_after
    second.gate_after(database_in_sync=False, timeout=1)
    assert node.alarm_reads == 3


def test_a_given_baseline_still_catches_an_alarm_the_next_change_raises() -> None:
    node = CountingNode(0, 0, 0, later_alarms=("callBridgeRestarted",), alarms_from=1)
    guard = NodeGuard(node, policy(on_active_calls="fail"))
    assert guard.check(health_before=Health([], {})) is True
    with pytest.raises(HealthGateError, match="new alarm callBridgeRestarted"):
        guard.gate_after(database_in_sync=False, timeout=0, poll_interval=0)


class LoggingNode(HealthyNode):
    """Logs every read in order: ``legs`` and ``alarms``."""

    def __init__(self, *legs: int) -> None:
        super().__init__(*legs)
        self.log: list[str] = []

    def legs_active(self) -> int:
        self.log.append("legs")
        return super().legs_active()

    def alarms(self) -> list[dict[str, Any]]:
        self.log.append("alarms")
        return []


def test_the_guard_reads_the_health_first_and_the_legs_last_so_a_step_at_once_takes_that_count() -> None:
    node = LoggingNode(0, 5)
    guard = NodeGuard(node, policy(on_active_calls="fail"))
    assert guard.check() is True
    guard.record_dropped(decision_is_last_read=True)
    assert node.log == ["alarms", "legs"] and guard.legs_dropped == 0


def test_a_decision_that_waited_reads_the_health_again_and_a_step_after_other_work_reads_the_legs_again() -> None:
    node = LoggingNode(2, 0, 1)
    guard = NodeGuard(node, policy(on_active_calls="wait", calls_poll_interval=0.01))
    assert guard.check() is True and guard.decision is not None and guard.decision.waited_s > 0
    assert node.log == ["alarms", "legs", "legs", "alarms"]
    guard.record_dropped()  # something ran since the decision: the legs are read again, and one leg joined
    assert node.log[-1] == "legs" and guard.legs_dropped == 1


def test_a_leg_that_joins_after_the_decision_fails_the_last_look_under_fail_before_the_service_is_touched() -> None:
    guard = NodeGuard(HealthyNode(0, 2), policy(on_active_calls="fail"))
    assert guard.check() is True
    with pytest.raises(CallsBusyError, match="cms2 carries 2 active call leg"):
        guard.last_look()
    assert guard.legs_dropped is None


def test_a_leg_that_joins_after_the_decision_turns_skip_into_a_skip_at_the_last_look() -> None:
    guard = NodeGuard(HealthyNode(0, 2), policy(on_active_calls="skip"))
    assert guard.check() is True and guard.last_look() is False
    assert guard.as_dict()["decision"] == "skip" and "joined before the change" in guard.reason


def test_check_mode_reports_would_wait_and_never_reads_again() -> None:
    node = HealthyNode(3)
    guard = NodeGuard(node, policy(), check_mode=True)
    assert guard.check() is True and guard.last_look() is True
    guard.record_dropped()
    assert (guard.as_dict()["decision"], guard.as_dict()["legs_dropped"], node.reads) == ("would_wait", None, 1)


def test_only_stops_and_restarts_of_services_that_carry_calls_are_guarded() -> None:
    assert disruptive(["callbridge certs a.key a.cer b.cer", "callbridge restart"])
    assert disruptive(["webadmin disable", "webadmin certs a.key a.cer", "webadmin enable"])
    assert disruptive(["webbridge3 disable"]) and disruptive(["webbridge disable"])
    assert not disruptive(["turn disable", "turn certs a.key a.cer", "turn enable"])
    assert not disruptive(["xmpp disable"]) and not disruptive(["webadmin enable"]) and not disruptive([])
