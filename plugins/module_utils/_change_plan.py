# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Change plans and outcome records for a change board: one shape for what a run will do and what it did.

A plan is made in check mode from the nodes' real state; the real run writes an outcome of the same shape, so the
two can be diffed. Both are plain dicts (JSON, schema in docs/plans.md) plus a Markdown rendering. Pure: no I/O.

The database cluster rebuild's steps are predicted here from the rebuild plan (``_db_rebuild_plan.plan_rebuild``)
with the command builders the modules use, in the order the role runs them; its outcome is read back from the
modules' results in the same order. The service certificates' steps come from ``cms_service_certs`` itself, which
returns its commands in check mode.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    backup_snapshot,
    db_cluster_certs,
    db_cluster_connect,
    db_cluster_initialize,
    db_cluster_join,
    db_cluster_remove,
    pki_csr,
    pki_selfsigned,
    pki_sign,
    stopped_service,
)

SCHEMA = "cisco_cms.mmp/change/1"

# Seconds per step when no earlier run was measured: the transitions the benchmark's lab is set to (the MMP's own
# durations as measured on a lab cluster, bench/README.md), and a service's stop+start. A previous run's own
# timings (kept under the output root) replace them.
DEFAULT_SECONDS: dict[str, float] = {
    "remove": 5.0,
    "initialize": 10.0,
    "join": 10.0,
    "connect": 5.0,
    "service": 4.1,
    "callbridge": 2.0,
}

# The rebuild's phases in the order the role runs them (roles/db_cluster_rebuild/tasks/*.yml).
# ``initialize``: the primary leaves last, takes its files and initializes, in one session, while the other nodes take
# theirs (roles/db_cluster_rebuild/tasks/rebuild.yml).
REBUILD_PHASES = ("backup", "certificates", "remove", "initialize", "join")


def _seconds(timings: dict[str, Any] | None, key: str) -> float:
    value = (timings or {}).get(key)
    return float(value) if value is not None else DEFAULT_SECONDS[key]


def _certs_match(current: dict[str, Any], files: dict[str, Any]) -> bool:
    return all((current or {}).get(key) == name for key, name in files.items() if name)


def _stem(file_name: str) -> str:
    return file_name.rsplit(".", 1)[0]


def _pki_commands(plan: dict[str, Any]) -> list[str]:
    """What the role's Certificates phase sends to the primary (cms_pki_sign, cms_pki_csr, in its order)."""
    target, pki = plan["target"], plan["pki"]
    ca, server, client = _stem(target["ca_cert"]), _stem(target["server_cert"]), _stem(target["client_cert"])
    return [
        pki_selfsigned(ca, pki["ca_cn"]),
        pki_csr(server, pki["server_cn"], subject_alt_name=pki["server_san"] or None),
        pki_csr(client, pki["client_cn"]),
        pki_sign(server, ca),
        pki_sign(client, ca),
    ]


def _rebuild_commands(phase: str, node: str, plan: dict[str, Any], status: dict[str, Any]) -> list[str]:
    """The MMP commands of one phase on one node, as cms_db_cluster/cms_backup/cms_pki_* will send them."""
    need = plan["nodes"][node]
    pending = node in plan["pending"]
    is_primary = node == plan["primary"]
    if phase == "backup":
        return [backup_snapshot(plan["backup_name"])] if need["backup"]["due"] else []
    if phase == "certificates":
        return _pki_commands(plan) if is_primary and plan["mode"] == "generate" and plan["rebuild"] else []
    if not pending:
        return []
    state = status.get("state")
    if phase == "remove":
        return [db_cluster_remove()] if not is_primary and state != "disabled" else []
    files = need["files"]
    certs = (
        []
        if plan["mode"] != "generate" and _certs_match(status.get("certificates") or {}, files)
        else [db_cluster_certs(**{k: v for k, v in files.items() if v})]
    )
    if phase == "initialize":
        if not is_primary:
            return certs
        return [*([db_cluster_remove()] if state != "disabled" else []), *certs, db_cluster_initialize()]
    if is_primary:
        return []
    verb = db_cluster_join if need["database"] else db_cluster_connect
    return [verb(plan["primary_address"])]


def _step_seconds(phase: str, command: str, timings: dict[str, Any] | None) -> float:
    verb = command.split()[2] if command.startswith("database cluster ") else ""
    return _seconds(timings, verb) if verb in ("remove", "initialize", "join", "connect") else 0.0


def rebuild_plan_steps(
    plan: dict[str, Any], statuses: dict[str, dict[str, Any]], timings: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every step the rebuild will take, in order: phase, node, the exact commands, why, estimated seconds."""
    steps: list[dict[str, Any]] = []
    for phase in REBUILD_PHASES:
        for node in plan["nodes"]:
            commands = _rebuild_commands(phase, node, plan, statuses.get(node) or {})
            if not commands:
                continue
            steps.append(
                {
                    "phase": phase,
                    "node": node,
                    "commands": commands,
                    "why": _rebuild_why(phase, node, plan),
                    "seconds": sum(_step_seconds(phase, c, timings) for c in commands),
                }
            )
    return steps


def _rebuild_why(phase: str, node: str, plan: dict[str, Any]) -> str:
    if phase == "backup":
        return "a snapshot before the first change, kept at %s" % plan["nodes"][node]["backup"]["path"]
    if phase == "certificates":
        return "new certificates from the built-in CA of the primary (%s)" % plan["reason"]
    return "; ".join(plan["nodes"][node]["why"]) or plan["reason"]


def rebuild_outcome_steps(plan: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps the run took, read from the module results of each phase (``results[node][phase]``, a result or
    a list of results), in the plan's order: the same shape as ``rebuild_plan_steps``, seconds as waited."""
    steps: list[dict[str, Any]] = []
    for phase in REBUILD_PHASES:
        for node in plan["nodes"]:
            found = (results.get(node) or {}).get(phase)
            done = found if isinstance(found, list) else [found] if found else []
            done = [r for r in done if isinstance(r, dict) and not r.get("skipped")]
            commands = [c for r in done for c in r.get("commands") or []]
            if not commands:
                continue
            steps.append(
                {
                    "phase": phase,
                    "node": node,
                    "commands": commands,
                    "why": _rebuild_why(phase, node, plan),
                    "seconds": round(sum(float(r.get("waited") or 0) for r in done), 2),
                }
            )
    return steps


def rebuild_cluster_outage(steps: list[dict[str, Any]]) -> float:
    """The cluster is down from the first remove to the last join or connect: the replicas' removes run in
    parallel, then the primary's remove and initialize (the others take their files meanwhile), then the joins and
    connects in parallel."""

    def longest(phase: str) -> float:
        return max((float(s["seconds"]) for s in steps if s["phase"] == phase), default=0.0)

    return round(sum(longest(p) for p in ("remove", "initialize", "join")), 2)


def measured_timings(outcome_steps: list[dict[str, Any]], previous: dict[str, Any] | None) -> dict[str, float]:
    """The timings record a finished rebuild keeps for the next plan: per transition, the longest wait seen."""
    record = {k: float(v) for k, v in (previous or {}).items() if k in DEFAULT_SECONDS}
    for step in outcome_steps:
        for command in step["commands"]:
            if command.startswith("database cluster ") and command.split()[2] in DEFAULT_SECONDS:
                verb = command.split()[2]
                record[verb] = float(step["seconds"])
    return record


def document(kind: str, procedure: str, **fields: Any) -> dict[str, Any]:
    """A plan (``kind`` ``plan``) or an outcome record (``outcome``): every key of docs/plans.md, defaults filled.

    ``fields``: ``run``, ``created``, ``check_mode``, ``summary``, ``steps``, ``nodes``, ``backups``, ``call_guard``,
    ``outage``, ``basis``; the ``commands`` per node are derived from ``steps``.
    """
    if kind not in ("plan", "outcome"):
        raise ValueError("kind is plan or outcome, not %r" % kind)
    steps = [dict(step, order=i + 1) for i, step in enumerate(fields.get("steps") or [])]
    commands: dict[str, list[str]] = {}
    for step in steps:
        commands.setdefault(step["node"], []).extend(step["commands"])
    return {
        "schema": SCHEMA,
        "kind": kind,
        "procedure": procedure,
        "run": str(fields.get("run") or ""),
        "created": fields.get("created") or "",
        "check_mode": bool(fields.get("check_mode")),
        "summary": fields.get("summary") or "",
        "call_guard": fields.get("call_guard") or {},
        "nodes": fields.get("nodes") or {},
        "steps": steps,
        "commands": commands,
        "backups": fields.get("backups") or [],
        "outage": fields.get("outage") or {},
        "basis": fields.get("basis") or "",
    }


def _cell(value: Any) -> str:
    """A Markdown table cell: pipes escaped, line breaks as <br>, never empty."""
    text = str(value if value not in (None, "") else "-")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _code(command: str) -> str:
    return "`%s`" % command.replace("`", "'")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _column in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def markdown(doc: dict[str, Any]) -> str:
    """The human side of a plan or outcome: headings, tables and code spans only (CommonMark with GFM tables)."""
    title = "Change plan" if doc["kind"] == "plan" else "Change outcome"
    heading = "# %s: %s %s" % (title, doc["procedure"].replace("_", " "), doc["run"])
    lines = [heading.rstrip(), ""]
    lines += ["- Created: %s" % (doc["created"] or "-"), "- Check mode: %s" % ("yes" if doc["check_mode"] else "no")]
    guard = doc["call_guard"]
    lines.append(
        "- Call guard: %s" % (", ".join("%s=%s" % (k, v) for k, v in sorted(guard.items())) if guard else "none")
    )
    if doc["basis"]:
        lines.append("- Durations: %s" % doc["basis"])
    lines += ["", doc["summary"] or "Nothing to do.", ""]
    lines += ["## Steps, in order", ""]
    if doc["steps"]:
        rows = [
            [s["order"], s["node"], s["phase"], "<br>".join(_code(c) for c in s["commands"]), s["why"], s["seconds"]]
            for s in doc["steps"]
        ]
        lines += _table(["#", "node", "step", "MMP commands", "why", "seconds"], rows)
    else:
        lines += ["No MMP command changes anything.", ""]
    lines += ["## Nodes", ""]
    rows = []
    for name, node in doc["nodes"].items():
        before, after = node.get("before") or {}, node.get("after") or {}
        rows.append(
            [
                name,
                "yes" if node.get("changes") else "no",
                "; ".join(node.get("why") or []),
                _expiry(before, "?"),
                _expiry(after, "issued in the run" if doc["kind"] == "plan" else "?"),
            ]
        )
    lines += _table(["node", "changes", "why", "certificates before (expiry)", "after (expiry)"], rows)
    lines += ["## Backups", ""]
    if doc["backups"]:
        lines += _table(["node", "backup"], [[b["node"], b["path"]] for b in doc["backups"]])
    else:
        lines += ["None.", ""]
    lines += ["## Outage", ""]
    outage = doc["outage"]
    if outage.get("cluster") is not None:
        lines += ["- Database cluster: %s s" % outage["cluster"]]
        if outage.get("cluster_estimate") is not None:
            lines[-1] += " (plan's estimate %s s)" % outage["cluster_estimate"]
        lines.append("")
    services = outage.get("services") or []
    if services:
        lines += _table(["node", "service", "down (s)"], [[s["node"], s["service"], s["seconds"]] for s in services])
    elif outage.get("cluster") is None:
        lines += ["No service goes down.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _expiry(side: dict[str, Any], unknown: str) -> str:
    """The certificates of one side (keys have no expiry and are left out), with their expiry date."""
    parts = []
    for name, info in side.items():
        info = info if isinstance(info, dict) else {"file": info}
        if info.get("file") and not name.endswith("_key"):
            parts.append("%s %s (%s)" % (name, info["file"], (info.get("not_after") or unknown)[:10]))
    return "\n".join(parts)


def _db_certificates(info: dict[str, Any]) -> dict[str, Any]:
    """Per role, the file and expiry a node's ``cms_db_cluster_info`` (describe_certificates) shows."""
    names = info.get("certificates") or {}
    details = info.get("certificate_details") or {}
    return {
        key: {"file": name, "not_after": (details.get(key) or {}).get("not_after")}
        for key, name in names.items()
        if name
    }


def rebuild_document(request: dict[str, Any]) -> dict[str, Any]:
    """The rebuild's plan or outcome (``request["kind"]``) from the rebuild plan and the nodes' statuses.

    ``request``: ``kind``, ``plan`` (cms_db_rebuild_plan), ``statuses`` (per node, its cms_db_cluster_info result
    before the run), for an outcome ``results`` (per node and phase, the module results) and ``after`` (per node,
    the final cms_db_cluster_info result), ``measured_outage`` and ``estimate`` (seconds); and ``timings``,
    ``basis``, ``call_guard``, ``created``, ``check_mode``.
    """
    plan, statuses = request["plan"], request.get("statuses") or {}
    outcome = request["kind"] == "outcome"
    if outcome:
        steps = rebuild_outcome_steps(plan, request.get("results") or {})
    else:
        steps = rebuild_plan_steps(plan, statuses, request.get("timings"))
    after = request.get("after") or {}
    nodes = {}
    for name, need in plan["nodes"].items():
        pending = name in plan["pending"]
        if outcome and name in after:
            new = _db_certificates(after[name])
        else:
            new = {k: {"file": v, "not_after": None} for k, v in need["files"].items() if v} if pending else {}
        nodes[name] = {
            "role": need["wanted"],
            "changes": pending,
            "why": need["why"] if pending else [],
            "before": _db_certificates(statuses.get(name) or {}),
            "after": new,
        }
    backups = [
        {"node": s["node"], "path": plan["nodes"][s["node"]]["backup"]["path"]} for s in steps if s["phase"] == "backup"
    ]
    estimate = (
        rebuild_cluster_outage(rebuild_plan_steps(plan, statuses, request.get("timings"))) if plan["rebuild"] else 0.0
    )
    cluster = request.get("measured_outage") if outcome else estimate
    outage: dict[str, Any] = {"cluster": round(float(cluster or 0), 2) if plan["rebuild"] else None}
    if outcome and plan["rebuild"]:
        outage["cluster_estimate"] = request.get("estimate", estimate)
    outage["services"] = [
        {"node": n, "service": "database cluster", "seconds": outage["cluster"]} for n in plan["pending"]
    ]
    return document(
        request["kind"],
        "db_cluster_rebuild",
        run=plan.get("serial"),
        created=request.get("created"),
        check_mode=request.get("check_mode"),
        summary=plan.get("summary"),
        steps=steps,
        nodes=nodes,
        backups=backups,
        call_guard=request.get("call_guard"),
        outage=outage,
        basis=request.get("basis"),
    )


# The service certificates' trust phases (roles/service_certs/tasks/trust.yml, trust_cleanup.yml): before every swap,
# the new CA joins each trust store in use on every node; after it, on request, the old CA leaves them.
TRUST_PHASES = {"trust": "add", "trust_cleanup": "remove"}


def _trust_steps(
    phase: str, results: dict[str, Any], outcome: bool, timings: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One trust phase's steps, node after node (the role runs it one node at a time), from each node's cms_trust
    results (a loop over its stores); and the outages of the restarts that apply them."""
    steps, services = [], []
    for node, found in (results or {}).items():
        for r in found or []:
            # A store left alone (not in use), a node the call guard left busy, a task not run: no step.
            if not isinstance(r, dict) or r.get("skipped") or r.get("skipped_busy") or not r.get("commands"):
                continue
            if outcome and not r.get("changed"):
                continue
            restarted = next(filter(None, map(stopped_service, r["commands"])), None)
            moved = r.get("added" if phase == "trust" else "removed") or []
            cas = ", ".join(ca.get("subject") or "?" for ca in moved) or "no CA"
            why = (
                "the new CA joins the %s trust store beside the old one (%s), before any certificate is swapped"
                if phase == "trust"
                else "the old CA leaves the %s trust store (%s): no certificate chains to it"
            ) % (r.get("store") or "?", cas)
            seconds = 0.0
            if restarted:
                default = DEFAULT_SECONDS["callbridge" if restarted == "callbridge" else "service"]
                seconds = float(r.get("outage_seconds") or 0) if outcome else float(timings.get(restarted, default))
                services.append({"node": node, "service": restarted, "seconds": round(seconds, 2)})
            steps.append(
                {
                    "phase": phase,
                    "node": node,
                    "commands": list(r["commands"]),
                    "why": why,
                    "seconds": round(seconds, 2),
                }
            )
    return steps, services


def service_document(request: dict[str, Any]) -> dict[str, Any]:
    """The service certificates' plan or outcome from the role's per-node reports (``service_certs_report``).

    ``request``: ``kind``, ``reports`` (per node, in play order, its rollout entries with ``commands``), ``trust`` and
    ``trust_cleanup`` (per node, its cms_trust results of the role's trust phases, when they ran), ``timings``
    (seconds per service from an earlier run), ``basis``, ``run``, ``call_guard``, ``created``, ``check_mode``.
    """
    outcome = request["kind"] == "outcome"
    timings = request.get("timings") or {}
    steps, services = _trust_steps("trust", request.get("trust") or {}, outcome, timings)
    nodes: dict[str, dict[str, Any]] = {}
    for node, entries in (request.get("reports") or {}).items():
        rollout = [e for e in entries or [] if e.get("phase") == "rollout"]
        changing = [e for e in rollout if e.get("commands")]
        nodes[node] = {
            "changes": bool(changing),
            "why": [
                "%s: %s" % (e["service"], "; ".join(e.get("reasons") or []) or "new certificate") for e in changing
            ],
            "before": {e["service"]: {"file": e.get("old_cert"), "not_after": e.get("old_not_after")} for e in rollout},
            "after": {
                e["service"]: {"file": e.get("new_cert") or e.get("old_cert"), "not_after": e.get("new_not_after")}
                for e in rollout
            },
        }
        for e in changing:
            service = e["service"]
            default = DEFAULT_SECONDS["callbridge" if service == "callbridge" else "service"]
            seconds = float(e.get("outage_seconds") or 0) if outcome else float(timings.get(service, default))
            steps.append(
                {
                    "phase": service,
                    "node": node,
                    "commands": list(e["commands"]),
                    "why": "%s (%s) replaces %s (%s)"
                    % (
                        e.get("new_cert") or "?",
                        (e.get("new_not_after") or "?")[:10],
                        e.get("old_cert") or "none",
                        (e.get("old_not_after") or "?")[:10],
                    ),
                    "seconds": round(seconds, 2),
                }
            )
            services.append({"node": node, "service": service, "seconds": round(seconds, 2)})
    cleanup, cleanup_outages = _trust_steps("trust_cleanup", request.get("trust_cleanup") or {}, outcome, timings)
    steps += cleanup
    services += cleanup_outages
    for step in steps:
        if step["phase"] in TRUST_PHASES:
            node = nodes.setdefault(step["node"], {"changes": False, "why": [], "before": {}, "after": {}})
            node["changes"] = True
            node["why"].append("%s: %s" % (step["phase"].replace("_", " "), step["why"]))
    summary = _service_summary(steps, nodes, outcome)
    return document(
        request["kind"],
        "service_certs",
        run=request.get("run"),
        created=request.get("created"),
        check_mode=request.get("check_mode"),
        summary=summary,
        steps=steps,
        nodes=nodes,
        backups=[],
        call_guard=request.get("call_guard"),
        outage={"cluster": None, "services": services},
        basis=request.get("basis"),
    )


def _service_summary(steps: list[dict[str, Any]], nodes: dict[str, Any], outcome: bool) -> str:
    if not steps:
        return "Nothing to do: every service already runs its wanted certificate."
    verb = "changed" if outcome else "would change"
    changed = ", ".join(n for n, v in nodes.items() if v["changes"])
    counts = {p: len([s for s in steps if s["phase"] == p]) for p in TRUST_PHASES}
    swaps = len(steps) - sum(counts.values())
    parts = ["%d trust store(s) (the new CA added, before any swap)" % counts["trust"]] if counts["trust"] else []
    parts += ["%d service(s)" % swaps] if swaps else []
    parts += ["%d trust store(s) (the old CA removed)" % counts["trust_cleanup"]] if counts["trust_cleanup"] else []
    return "%s %s on %s." % (", then ".join(parts), verb, changed)


def expiry(node: dict[str, Any]) -> dict[str, Any]:
    """Per service or certificate role of one node of a record: ``{old, new}`` expiry (for set_stats)."""
    before, after = node.get("before") or {}, node.get("after") or {}
    return {
        key: {"old": (before.get(key) or {}).get("not_after"), "new": (after.get(key) or {}).get("not_after")}
        for key in {**before, **after}
    }
