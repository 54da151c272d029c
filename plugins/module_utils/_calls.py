# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The call guard and the health gates: whether a step that drops calls may run on a node now, and whether the node
is healthy after it (docs/calls.md).

CMS has no drain mode.  Every step that restarts the Call Bridge (``callbridge restart``, ``database cluster
remove/initialize/join``) or stops the Web Bridge or Web Admin cuts the meetings on that node, so before such a
step the guard asks the node's REST API how many call legs it carries and, per ``on_active_calls``:

* ``wait``: poll until the node carries at most ``max_active_legs`` legs, then go; on ``calls_wait_timeout``
  fail or skip the node (``on_calls_timeout``), before anything changed.
* ``fail``: fail at once if the node is busy.
* ``skip``: leave a busy node for the next run.
* ``force``: go regardless (the legs are read, when possible, for the record).

Legs, not calls, decide: a scheduled meeting nobody has joined is a call with no legs and blocks nothing.
Everything here is pure logic over a client with ``legs_active()``, ``alarms()`` and ``database()``; the clock and
the sleep are injectable so tests run it without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api import CmsApi, CmsApiAuthError, CmsApiError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError, MmpValidationError

ON_ACTIVE_CALLS = ("wait", "fail", "skip", "force")
GUARD_SPEC: dict[str, dict[str, Any]] = {
    "on_active_calls": {"type": "str", "default": "wait", "choices": list(ON_ACTIVE_CALLS)},
    "max_active_legs": {"type": "int", "default": 0},
    "calls_wait_timeout": {"type": "int", "default": 3600},
    "calls_poll_interval": {"type": "float", "default": 15.0},
    "on_calls_timeout": {"type": "str", "default": "fail", "choices": ["fail", "skip"]},
}
GUARD_OFF_WARNING = (
    "No REST API credentials (api_user/api_password, inventory cms_api_user/cms_api_password): the call guard is "
    "off, and restarts go ahead without checking for live meetings."
)


class CallsBusyError(MmpError):
    """The node carries live call legs and the policy says not to cut them."""


class HealthGateError(MmpError):
    """A health gate failed: a new alarm, or the database cluster not all up and in sync."""


class LegsReader(Protocol):
    node: str

    def legs_active(self) -> int:
        """Active call legs on the node now."""


class HealthReader(Protocol):
    node: str

    def alarms(self) -> list[dict[str, Any]]:
        """The node's active alarms."""

    def database(self) -> dict[str, Any]:
        """The API's view of the database cluster."""


Progress = Callable[[str], None]


@dataclass(frozen=True)
class CallPolicy:
    on_active_calls: str = "wait"
    max_active_legs: int = 0
    calls_wait_timeout: float = 3600.0
    calls_poll_interval: float = 15.0
    on_calls_timeout: str = "fail"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CallPolicy:
        policy = cls(
            on_active_calls=str(params.get("on_active_calls") or "wait"),
            max_active_legs=int(params.get("max_active_legs") or 0),
            calls_wait_timeout=float(params.get("calls_wait_timeout") or 0),
            calls_poll_interval=float(params.get("calls_poll_interval") or 0),
            on_calls_timeout=str(params.get("on_calls_timeout") or "fail"),
        )
        policy.validate()
        return policy

    def validate(self) -> None:
        if self.on_active_calls not in ON_ACTIVE_CALLS:
            raise MmpValidationError(
                "on_active_calls must be one of %s, not %r" % (", ".join(ON_ACTIVE_CALLS), self.on_active_calls)
            )
        if self.max_active_legs < 0:
            raise MmpValidationError("max_active_legs must be 0 or more (0: only an idle node is restarted)")
        if self.on_active_calls == "wait" and self.calls_wait_timeout <= 0:
            raise MmpValidationError("calls_wait_timeout must be more than 0 seconds with on_active_calls=wait")
        if self.calls_poll_interval <= 0:
            raise MmpValidationError("calls_poll_interval must be more than 0 seconds")
        if self.on_calls_timeout not in ("fail", "skip"):
            raise MmpValidationError("on_calls_timeout must be fail or skip, not %r" % self.on_calls_timeout)


@dataclass
class CallDecision:
    """What the guard decided for one node, for the summary: ``proceed`` / ``skip`` / ``force``."""

    node: str
    decision: str
    legs_at_decision: int | None
    waited_s: float = 0.0
    reason: str = ""
    polls: int = 0

    @property
    def proceed(self) -> bool:
        return self.decision in ("proceed", "force")

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "decision": self.decision,
            "legs_at_decision": self.legs_at_decision,
            "waited_s": round(self.waited_s, 2),
            "reason": self.reason,
        }


def _busy_error(node: str, legs: int, policy: CallPolicy, waited: float | None = None) -> CallsBusyError:
    what = "still carries" if waited is not None else "carries"
    waited_text = " after waiting %ds" % waited if waited is not None else ""
    return CallsBusyError(
        "%s %s %d active call leg(s) (more than max_active_legs=%d)%s: not restarting it, nothing was changed"
        % (node, what, legs, policy.max_active_legs, waited_text),
        node=node,
        hint=(
            "Run again when the meetings on %s have ended, or set on_active_calls=wait (calls_wait_timeout) to "
            "wait for them, skip to leave this node for a later run, or force to cut them." % node
        ),
    )


def decide(
    api: LegsReader,
    policy: CallPolicy,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CallDecision:
    """Decide (waiting if the policy says so) whether the step that drops calls may run on ``api.node`` now.

    Raises ``CallsBusyError`` when the step must not run and the run must stop (``fail``, or ``wait`` timing out
    with ``on_calls_timeout=fail``); ``CmsApiError`` when the API cannot be read (never a blind restart), except
    under ``force``.
    """
    node = api.node
    if policy.on_active_calls == "force":
        try:
            legs: int | None = api.legs_active()
        except CmsApiError:
            legs = None  # force does not need the API; the summary shows the count as unknown
        return CallDecision(node, "force", legs, reason="on_active_calls=force")
    legs = api.legs_active()
    if legs <= policy.max_active_legs:
        return CallDecision(node, "proceed", legs, reason="idle" if legs == 0 else "within max_active_legs")
    if policy.on_active_calls == "fail":
        raise _busy_error(node, legs, policy)
    if policy.on_active_calls == "skip":
        return CallDecision(node, "skip", legs, reason="%d active call leg(s); left for a later run" % legs)
    return _wait(api, policy, legs, progress, clock, sleep)


def preview(api: LegsReader, policy: CallPolicy) -> CallDecision:
    """Check mode: read the legs once and say what ``decide`` would do, without waiting or failing.

    ``decision`` is ``proceed``, ``force``, or ``would_wait`` / ``would_fail`` / ``would_skip`` for a busy node.
    """
    if policy.on_active_calls == "force":
        return decide(api, policy)
    legs = api.legs_active()
    if legs <= policy.max_active_legs:
        return CallDecision(api.node, "proceed", legs, reason="idle" if legs == 0 else "within max_active_legs")
    reason = "%d active call leg(s), more than max_active_legs=%d" % (legs, policy.max_active_legs)
    if policy.on_active_calls == "wait":
        reason += "; would wait up to %ds" % policy.calls_wait_timeout
    return CallDecision(api.node, "would_%s" % policy.on_active_calls, legs, reason=reason)


def _wait(
    api: LegsReader,
    policy: CallPolicy,
    legs: int,
    progress: Progress | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> CallDecision:
    node = api.node
    start = clock()
    deadline = start + policy.calls_wait_timeout
    polls = 1
    last_error: CmsApiError | None = None
    if progress:
        progress(
            "%s: %d active call leg(s); waiting up to %ds for them to end" % (node, legs, policy.calls_wait_timeout)
        )
    while True:
        now = clock()
        if now >= deadline:
            break
        sleep(min(policy.calls_poll_interval, max(0.0, deadline - now)))
        polls += 1
        try:
            legs = api.legs_active()
            last_error = None
        except CmsApiAuthError:
            raise
        except CmsApiError as exc:
            last_error = exc  # the API may blink; keep polling until the deadline
            continue
        if legs <= policy.max_active_legs:
            waited = clock() - start
            return CallDecision(node, "proceed", legs, waited, "waited for the calls to end", polls)
        if progress:
            progress("%s: %d active call leg(s) after %ds" % (node, legs, clock() - start))
    waited = clock() - start
    if last_error is not None:
        raise last_error
    if policy.on_calls_timeout == "skip":
        reason = "%d active call leg(s) after waiting %ds; left for a later run" % (legs, waited)
        return CallDecision(node, "skip", legs, waited, reason, polls)
    raise _busy_error(node, legs, policy, waited)


# ---- health gates ----------------------------------------------------------------------------------------------------
@dataclass
class Health:
    """What the gates compare: alarm types active on the node, and its view of the database cluster."""

    alarms: list[str] = field(default_factory=list)
    database: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"alarms": list(self.alarms), "database": self.database}


def read_health(api: HealthReader) -> Health:
    return Health(sorted({str(a.get("type")) for a in api.alarms()}), api.database())


def health_problems(before: Health, after: Health, database_in_sync: bool) -> list[str]:
    """What is wrong with ``after`` compared with ``before`` (empty: healthy).

    ``database_in_sync``: after a database rebuild, every database node must be ``up`` with ``syncBehind`` 0.
    """
    problems = ["new alarm %s" % kind for kind in after.alarms if kind not in before.alarms]
    if database_in_sync:
        nodes = after.database.get("nodes") or []
        if not nodes:
            problems.append("the database cluster lists no node")
        for entry in nodes:
            name = entry.get("hostname", "?")
            if entry.get("up") is not True:
                problems.append("database node %s is not up" % name)
            elif entry.get("syncBehind") != 0:
                problems.append("database node %s is %s bytes behind" % (name, entry.get("syncBehind")))
    return problems


def wait_healthy(
    api: HealthReader,
    before: Health,
    database_in_sync: bool,
    timeout: float,
    poll_interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Health, float]:
    """Poll until the node is healthy (the API back, no new alarm, the database in sync when asked); the health
    and seconds waited.  Raises ``HealthGateError`` at the timeout, naming what is still wrong."""
    start = clock()
    problems: list[str] = []
    while True:
        try:
            after = read_health(api)
            problems = health_problems(before, after, database_in_sync)
            if not problems:
                return after, clock() - start
        except CmsApiAuthError:
            raise
        except CmsApiError as exc:
            problems = [exc.message]  # Web Admin restarting: the API comes back after it
        if clock() - start >= timeout:
            raise HealthGateError(
                "%s is not healthy %ds after the change: %s" % (api.node, timeout, "; ".join(problems)),
                node=api.node,
                hint="The rollout stopped before the next node. Look at the node (alarms in Web Admin, "
                "`database cluster status`), fix it, and run again.",
            )
        sleep(poll_interval)


# ---- one module call on one node ----------------------------------------------------------------------------------
class NodeGuard:
    """The guard and the health gates around one change on one node, as cms_service_certs and cms_db_cluster use them.

    ``check()`` before anything changes on the node (decide, or in check mode preview, and read the health);
    ``record_dropped()`` right before the step that drops calls; ``gate_after()`` once the change verified.
    """

    def __init__(self, api: Any, policy: CallPolicy, check_mode: bool = False, progress: Progress | None = None):
        self.api = api
        self.policy = policy
        self.check_mode = check_mode
        self.progress = progress
        self.decision: CallDecision | None = None
        self.health_before: Health | None = None
        self.legs_dropped: int | None = None
        self.health_waited_s: float | None = None
        self.health_after: Health | None = None

    @classmethod
    def from_params(
        cls, params: dict[str, Any], node: str, check_mode: bool = False, progress: Progress | None = None
    ) -> NodeGuard:
        return cls(CmsApi.from_params(params, node=node), CallPolicy.from_params(params), check_mode, progress)

    def check(self, health_before: Health | None = None) -> bool:
        """Whether the change may go ahead; raises ``CallsBusyError``/``CmsApiError`` as ``decide`` does.

        Check mode never waits nor fails: it says what a real run would do, and the plan is reported as usual.
        ``health_before``: the health the previous change's gate read on this node just now (a call that changes
        several services), the baseline instead of reading it again.  Otherwise the health is read first and the
        legs last, so that a step that follows at once may take the decision's count as the legs it cuts (see
        ``record_dropped``); a decision that waited for meetings to end reads the health again after the wait.
        """
        if self.check_mode:
            self.decision = preview(self.api, self.policy)
            self._read_baseline()  # shown as alarms_before
            return True
        if health_before is not None:
            self.health_before = health_before
        else:
            self._read_baseline()
        self.decision = decide(self.api, self.policy, self.progress)
        if not self.decision.proceed:
            return False
        if self.decision.waited_s and health_before is None:
            self._read_baseline()
        return True

    def _read_baseline(self) -> None:
        try:
            self.health_before = read_health(self.api)
        except CmsApiAuthError:
            raise
        except CmsApiError:
            if self.policy.on_active_calls != "force":
                raise
            # force tolerates an API that cannot be read: there is then nothing to compare the health with.
            self.health_before = None

    @property
    def reason(self) -> str:
        return self.decision.reason if self.decision is not None else ""

    def last_look(self) -> bool:
        """Read the legs again right before the change (after the lock, uploads and checks, which take a while): a
        participant who joined since the decision is waited for too.  Whether the change may still go ahead.

        ``fail`` raises and ``skip`` (or a wait that times out into a skip) returns False, with the service still
        untouched (the uploaded files stay on the node for the next run).
        """
        if self.check_mode or self.decision is None or self.decision.decision != "proceed":
            return True
        legs = self.api.legs_active()
        if legs <= self.policy.max_active_legs:
            return True
        again = decide(self.api, self.policy, self.progress)
        self.decision.waited_s += again.waited_s
        self.decision.reason += "; %d leg(s) joined before the change: %s" % (legs, again.reason)
        if not again.proceed:
            self.decision.decision = again.decision
            return False
        return True

    def record_dropped(self, decision_is_last_read: bool = False) -> None:
        """Read the legs once more right before the step that drops them (0 expected: one may join after the
        decision, and the summary must show it).

        ``decision_is_last_read``: nothing ran on the node since ``check()`` read the legs (its last read but, after
        a wait, the health), so that count is the one right before the step and is taken as it is.
        """
        if self.legs_dropped is not None or self.check_mode:
            return
        if decision_is_last_read and self.decision is not None and self.decision.legs_at_decision is not None:
            self.legs_dropped = self.decision.legs_at_decision
            return
        try:
            self.legs_dropped = self.api.legs_active()
        except CmsApiError:
            self.legs_dropped = None  # unknown (force with an API down); the summary shows it as such

    def trust_also(self, roots_pem: str) -> None:
        """Trust these roots too from now on: after a Web Admin swap the API serves the new certificate, whose root
        the module deployed and verified itself."""
        if hasattr(self.api, "extra_roots_pem"):
            self.api.extra_roots_pem = roots_pem

    def gate_after(self, database_in_sync: bool, timeout: float, poll_interval: float = 1.0) -> None:
        """Wait for the node to be healthy after the change; ``HealthGateError`` when it is not within ``timeout``."""
        if self.health_before is None or self.check_mode:
            return
        self.health_after, self.health_waited_s = wait_healthy(
            self.api, self.health_before, database_in_sync, timeout, poll_interval
        )

    def as_dict(self) -> dict[str, Any]:
        """``call_guard`` in the result: node, decision, legs_at_decision, waited_s, reason, legs_dropped, health."""
        out = self.decision.as_dict() if self.decision is not None else {"node": self.api.node, "decision": None}
        out["legs_dropped"] = self.legs_dropped
        out["health_waited_s"] = round(self.health_waited_s, 2) if self.health_waited_s is not None else None
        out["alarms_before"] = list(self.health_before.alarms) if self.health_before is not None else None
        return out
