"""Simulated meetings: call legs and calls on each node, and the alarms the REST API reports.

Calls live only in the running simulator (``down`` ends them); ``python -m tests.cmssim calls`` starts and ends
them through the control server.  A leg belongs to one call on one node and is either a SIP leg (``sip``: served
by the Call Bridge) or a web leg (``web``: a browser through the Web Bridge, also hosted by the Call Bridge).

What takes a leg down (docs/dev/mmp_reference.md#rest-api): a Call Bridge restart, a database cluster
``remove``/``initialize``/``join`` (each restarts the Call Bridge), the node going down, and, for web legs only, the
Web Bridge stopping.  Every leg lost that way is logged as one ``call_legs_dropped`` event with its count; legs that
reach their end time are logged as ``call_legs_ended`` at that time by a timer thread.

Alarms are kept in ``lab.json`` (``alarms``: node -> list of ``{"type", "since"}``) and set with ``ctl --alarm``.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import core, dbcluster, services

TICK = 0.05  # seconds between end-of-leg checks


@dataclass
class Leg:
    id: str
    call: str
    kind: str  # sip | web
    started: float
    ends: float | None  # wall-clock end time; None: until `--legs 0`


@dataclass
class Call:
    id: str
    name: str
    idle: bool  # a scheduled call that has no participants (and keeps none)


@dataclass
class NodeCalls:
    legs: list[Leg] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    completed: int = 0
    max_active: int = 0
    serial: int = 0


class _Runtime:
    def __init__(self, lab: core.Lab) -> None:
        self.lock = threading.Lock()
        self.nodes: dict[str, NodeCalls] = {name: NodeCalls() for name in lab.nodes}
        self.started = time.time()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None


_runtime = core.LabRuntimes(_Runtime).get


def _end_calls_without_legs(nc: NodeCalls) -> None:
    live = {leg.call for leg in nc.legs}
    nc.calls = [c for c in nc.calls if c.idle or c.id in live]


def _expire(node: core.Node, nc: NodeCalls, now: float) -> None:
    """End the legs whose time is up (call with the runtime lock held)."""
    ended = [leg for leg in nc.legs if leg.ends is not None and leg.ends <= now]
    if not ended:
        return
    nc.legs = [leg for leg in nc.legs if leg not in ended]
    nc.completed += len(ended)
    _end_calls_without_legs(nc)
    node.event("call_legs_ended", count=len(ended), active=len(nc.legs))


def snapshot(node: core.Node) -> NodeCalls:
    """The node's calls right now (legs past their end time already gone): a copy, safe to read."""
    rt = _runtime(node.lab)
    with rt.lock:
        nc = rt.nodes.setdefault(node.name, NodeCalls())
        _expire(node, nc, time.time())
        return NodeCalls(list(nc.legs), list(nc.calls), nc.completed, nc.max_active, nc.serial)


def uptime(lab: core.Lab) -> int:
    return int(time.time() - _runtime(lab).started)


def start_legs(node: core.Node, legs: int, duration: float | None, idle_call: bool, kind: str = "sip") -> NodeCalls:
    """``calls --legs N``: N new legs in one new call (``--legs 0`` ends every leg and call of the node)."""
    if kind not in ("sip", "web"):
        raise ValueError(f"kind must be sip or web, not {kind!r}")
    rt = _runtime(node.lab)
    now = time.time()
    with rt.lock:
        nc = rt.nodes.setdefault(node.name, NodeCalls())
        _expire(node, nc, now)
        if legs == 0 and (nc.legs or nc.calls):
            ended = len(nc.legs)
            nc.completed += ended
            nc.legs, nc.calls = [], []
            node.event("call_legs_ended", count=ended, active=0, by="calls --legs 0")
        if idle_call:
            nc.serial += 1
            nc.calls.append(Call(str(uuid.uuid4()), f"scheduled meeting {nc.serial}", idle=True))
            node.event("call_started", legs=0)
        if legs > 0:
            nc.serial += 1
            call = Call(str(uuid.uuid4()), f"meeting {nc.serial}", idle=False)
            nc.calls.append(call)
            ends = now + duration if duration is not None else None
            nc.legs += [Leg(str(uuid.uuid4()), call.id, kind, now, ends) for _ in range(legs)]
            nc.max_active = max(nc.max_active, len(nc.legs))
            node.event("call_legs_started", count=legs, kind=kind, duration=duration, active=len(nc.legs))
    return snapshot(node)


def drop(node: core.Node, cause: str, kinds: tuple[str, ...] = ("sip", "web")) -> int:
    """The Call Bridge (or the Web Bridge, for ``kinds=("web",)``) went down: every such active leg is lost."""
    rt = _runtime(node.lab)
    with rt.lock:
        nc = rt.nodes.setdefault(node.name, NodeCalls())
        _expire(node, nc, time.time())
        lost = [leg for leg in nc.legs if leg.kind in kinds]
        if not lost:
            return 0
        nc.legs = [leg for leg in nc.legs if leg not in lost]
        nc.completed += len(lost)
        _end_calls_without_legs(nc)
    node.event("call_legs_dropped", count=len(lost), cause=cause, active=len(nc.legs))
    return len(lost)


def on_service_down(node: core.Node, service: str, state: str) -> None:
    """Hook of services.py: a service stopped serving (disabled, restarting or failed)."""
    if service == "callbridge":
        drop(node, f"callbridge {state}")
    elif service in ("webbridge3", "webbridge"):
        drop(node, f"{service} {state}", kinds=("web",))


def on_cluster_transition(node: core.Node, kind: str) -> None:
    """Hook of dbcluster.py: ``remove``, ``initialize`` and ``join`` restart the Call Bridge (S1)."""
    if kind in ("remove", "initialize", "join"):
        drop(node, f"database cluster {kind}")


# ---- alarms -----------------------------------------------------------------------------------------------------
def alarms(node: core.Node) -> list[dict[str, Any]]:
    return list(node.lab.config.get("alarms", {}).get(node.name, []))


def set_alarms(lab: core.Lab, add: dict[str, list[str]], clear: str | bool | None) -> None:
    """``ctl --alarm NODE:TYPE`` / ``--clear-alarms [NODE]`` (lab lock held by the caller)."""
    table = lab.config.setdefault("alarms", {})
    if clear is True:
        table.clear()
    elif clear:
        table.pop(str(clear), None)
    for name, types in add.items():
        if name not in lab.nodes:
            raise ValueError(f"no node {name!r} in this lab")
        present = table.setdefault(name, [])
        for kind in types:
            if kind not in [a["type"] for a in present]:
                present.append({"id": str(uuid.uuid4()), "type": kind, "since": time.time()})
                lab.nodes[name].event("alarm_raised", type=kind)


# ---- control server and lifecycle -------------------------------------------------------------------------------
def control(lab: core.Lab, request: dict[str, Any]) -> dict[str, Any]:
    """The ``calls`` request of the control server."""
    node = lab.nodes.get(str(request.get("node")))
    if node is None:
        raise ValueError(f"no node {request.get('node')!r} in this lab (nodes: {', '.join(lab.nodes)})")
    legs = int(request.get("legs", 0))
    if legs < 0:
        raise ValueError("--legs must be 0 or more")
    duration = request.get("duration")
    if duration is not None and float(duration) <= 0:
        raise ValueError("--duration must be more than 0 seconds")
    nc = start_legs(
        node,
        legs,
        float(duration) if duration is not None else None,
        bool(request.get("idle_call")),
        str(request.get("kind", "sip")),
    )
    return {"node": node.name, "legs": len(nc.legs), "calls": len(nc.calls)}


def _timer(lab: core.Lab, rt: _Runtime) -> None:
    while not rt.stop.wait(TICK):
        now = time.time()
        with rt.lock:
            for name, nc in rt.nodes.items():
                node = lab.nodes.get(name)
                if node is not None:
                    _expire(node, nc, now)


def _start(lab: core.Lab) -> None:
    rt = _runtime(lab)
    rt.thread = threading.Thread(target=_timer, args=(lab, rt), name="calls", daemon=True)
    rt.thread.start()


def _stop(lab: core.Lab) -> None:
    rt = _runtime(lab)
    rt.stop.set()
    if rt.thread is not None:
        rt.thread.join(timeout=2)


core.START_HOOKS.append(_start)
core.STOP_HOOKS.append(_stop)


services.SERVICE_DOWN_HOOKS.append(on_service_down)
dbcluster.TRANSITION_HOOKS.append(on_cluster_transition)
