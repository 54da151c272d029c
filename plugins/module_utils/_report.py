# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet certificate report: logic behind cms_cert_report and the cms_in_use_checks filter.

Input: per node, what cms_pki_info (every file, which service uses which file), a second cms_pki_info (``pki match``
and ``pki verify`` of exactly the files each service uses) and cms_db_cluster_info returned, as registered by a
playbook (a failed or skipped result included).  ``build_report`` turns that into one plain data model, the JSON
document of docs/cert_report.md.  ``run_report`` writes it out with the renderers it is given: JSON and Prometheus
from ``_report_render``, the HTML page from a Jinja2 template on the controller (``plugin_utils/_report_html``).

Only the standard library is used: this runs on the controller after the nodes were read. It opens no SSH
connection; unless ``tls_check`` is off it makes one TLS handshake with each enabled service (``_tls_probe``), to
compare the certificate it serves with the one it is configured with.
"""

from __future__ import annotations

import datetime
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import DATABASE_PARTS, MAIN_PART, SERVICES, Part
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    service_disable,
    service_enable,
    service_restart,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import write_atomic
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import db_cluster_member, to_iso_utc
from ansible_collections.cisco_cms.mmp.plugins.module_utils._tls_probe import probe_all

SCHEMA = "cisco_cms.mmp.cert_report"
SCHEMA_VERSION = 1
URGENCIES = ("expired", "critical", "warning", "ok")
DATABASE_SERVICE = "database_cluster"
TLS_SERVICE = "tls"  # the `tls <name>` trust stores of a node, shown as one entry
MAIN_SLOT = MAIN_PART  # the report format's name for a part is "slot"
if TYPE_CHECKING:
    # One kind of output file: how to render the report as text, and how to read back the generation time that a
    # written file holds (None when it holds none), so that a new timestamp alone is not a change. Types only:
    # module_utils are also checked for target Pythons older than the controller's.
    Renderer = tuple[Callable[[dict[str, Any]], str], Callable[[str], "str | None"]]


# ------------------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------------------
def parse_time(text: str) -> datetime.datetime:
    """``2027-01-31T12:00:00Z`` (the collection's one date format) as an aware datetime."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def days_left(not_after: datetime.datetime, now: datetime.datetime) -> int:
    """Whole days until ``not_after``, rounded down (as cms_pki_info counts them): -1 the day after expiry."""
    return math.floor((not_after - now).total_seconds() / 86400)


def urgency(not_after: datetime.datetime, now: datetime.datetime, critical_days: int, warning_days: int) -> str:
    """``expired`` (past not_after), ``critical`` (at most ``critical_days`` left), ``warning``, or ``ok``."""
    if now > not_after:
        return "expired"
    left = days_left(not_after, now)
    if left <= critical_days:
        return "critical"
    if left <= warning_days:
        return "warning"
    return "ok"


def worst(values: list[str | None]) -> str | None:
    """The most urgent of ``values`` (``None`` when there is none)."""
    present = [v for v in values if v in URGENCIES]
    return min(present, key=URGENCIES.index) if present else None


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _result(value: Any, what: str) -> tuple[dict[str, Any] | None, str | None, bool]:
    """``(data, problem, unreachable)`` of one registered task result (``None`` data when it did not run or failed)."""
    if not isinstance(value, dict) or not value or value.get("skipped"):
        return None, None, False
    if value.get("unreachable"):
        return None, "%s: %s" % (what, value.get("msg") or "unreachable"), True
    if value.get("failed"):
        return None, "%s: %s" % (what, (value.get("msg") or "failed").strip()), False
    return value, None, False


# ------------------------------------------------------------------------------------------------------------
# Which files each service uses
# ------------------------------------------------------------------------------------------------------------
def _part_use(part: Part, status: dict[str, Any]) -> dict[str, Any]:
    """One part as the report shows it (its ``slot`` key keeps the report format's name for a part)."""
    return {"slot": part.name, **part.files(status), "cert_role": part.cert_field}


def service_uses(pki: dict[str, Any]) -> list[dict[str, Any]]:
    """What every service of a node uses, from a cms_pki_info result: in the node's service order, then the
    database cluster.

    Each entry: ``name``, ``enabled`` (``None`` for a service without an Enabled line: callbridge), ``slots`` (its
    parts, each ``slot`` (the part's name), ``key``, ``cert``, ``bundle``, ``cert_role``: the key/certificate pairs
    the service presents; webbridge3 has an ``https`` and a ``c2w`` part, each a full chain without bundle) and
    ``trust`` (each ``role``, ``file``: what it trusts others by).  A service with no file configured is left out.
    The ``tls <name> trust`` bundles come as one more entry, ``tls``, with trust roles ``sip_trust``, ``ldap_trust``...
    """
    uses: list[dict[str, Any]] = []
    statuses = pki.get("services") or {}
    for name, service in SERVICES.items():
        status = statuses.get(name)
        if not isinstance(status, dict):
            continue
        parts = [_part_use(part, status) for part in service.parts]
        parts = [part for part in parts if part["key"] or part["cert"]]
        trust = [
            {"role": field, "file": status[field]}
            for field in sorted(service.trust_fields)
            if isinstance(status.get(field), str) and status[field]
        ]
        if parts or trust:
            uses.append({"name": name, "enabled": status.get("enabled"), "slots": parts, "trust": trust})
    # The `tls <name> trust` stores (SIP, LDAP...) belong to no service block: one entry holds them all.
    tls_trust = [
        {"role": "%s_trust" % name, "file": store["trust"]}
        for name, store in sorted((pki.get("tls") or {}).items())
        if isinstance(store, dict) and isinstance(store.get("trust"), str) and store["trust"]
    ]
    if tls_trust:
        uses.append({"name": TLS_SERVICE, "enabled": None, "slots": [], "trust": tls_trust})
    cluster = pki.get("database_cluster") or {}
    certs = {role: (entry or {}).get("file") for role, entry in (cluster.get("certificates") or {}).items()}
    db_parts = [_part_use(part, certs) for part in DATABASE_PARTS]
    db_parts = [part for part in db_parts if part["key"] or part["cert"]]
    if db_parts:
        # An Error status that still lists the node's membership is a clustered node too (TN 210530).
        enabled = cluster.get("status") == "enabled" or db_cluster_member(cluster) if cluster.get("status") else None
        uses.append({"name": DATABASE_SERVICE, "enabled": enabled, "slots": db_parts, "trust": []})
    return uses


def in_use_checks(pki: dict[str, Any]) -> dict[str, list[Any]]:
    """The ``files``, ``match`` and ``verify`` options of a second cms_pki_info call that checks every key/certificate
    pair and chain the node's services use (``pki match``, ``pki verify`` against the bundle, or alone for a full
    chain). Files the node does not have are left out: the report shows them as missing."""
    listed = set(pki.get("files") or [])
    match: list[dict[str, str]] = []
    verify: list[dict[str, str | None]] = []
    files: list[str] = []
    for use in service_uses(pki):
        for slot in use["slots"]:
            key, cert, bundle = slot["key"], slot["cert"], slot["bundle"]
            if key in listed and cert in listed:
                match.append({"key": key, "cert": cert})
            if cert in listed and (bundle is None or bundle in listed):
                verify.append({"cert": cert, "bundle": bundle})
                files += [cert] + ([bundle] if bundle else [])
    return {"files": _unique(files), "match": _unique(match), "verify": _unique(verify)}


# ------------------------------------------------------------------------------------------------------------
# The data model
# ------------------------------------------------------------------------------------------------------------
_CERT_FIELDS = (
    "subject",
    "common_name",
    "san",
    "issuer",
    "serial",
    "not_before",
    "not_after",
    "fingerprint_sha256",
    "key_type",
    "key_size",
    "is_ca",
    "self_signed",
    "chain_length",
    "chain",
)


def _certificate(name: str, info: dict[str, Any], now: datetime.datetime, thresholds: dict[str, int]) -> dict[str, Any]:
    not_after = parse_time(info["not_after"])
    entry: dict[str, Any] = {"file": name}
    entry.update({field: info.get(field) for field in _CERT_FIELDS})
    entry.update(
        not_after_timestamp=int(not_after.timestamp()),
        days_left=days_left(not_after, now),
        expired=now > not_after,
        urgency=urgency(not_after, now, thresholds["critical_days"], thresholds["warning_days"]),
        used_by=[],
    )
    return entry


def _check_lookup(checks: dict[str, Any] | None) -> tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]]:
    if not checks:
        return {}, {}
    matches = {(m.get("key"), m.get("cert")): m for m in checks.get("match") or []}
    verifies = {(v.get("cert"), v.get("bundle")): v for v in checks.get("verify") or []}
    return matches, verifies


def _slot_health(
    slot: dict[str, Any],
    listed: set[str],
    matches: dict[Any, dict[str, Any]],
    verifies: dict[Any, dict[str, Any]],
    not_checked: str | None,
) -> dict[str, Any]:
    missing = [f for f in (slot["key"], slot["cert"], slot["bundle"]) if f and f not in listed]
    result = dict(slot, missing=missing)
    pair = matches.get((slot["key"], slot["cert"]))
    chain = verifies.get((slot["cert"], slot["bundle"]))
    if not slot["key"] or not slot["cert"]:
        result.update(
            key_matches=False, key_match_reason="the service names no %s" % ("key" if slot["cert"] else "cert")
        )
    elif missing and (slot["key"] in missing or slot["cert"] in missing):
        result.update(key_matches=False, key_match_reason="%s not on the node" % ", ".join(missing))
    elif pair is None:
        result.update(key_matches=None, key_match_reason=not_checked or "not checked")
    else:
        result.update(key_matches=bool(pair.get("match")), key_match_reason=pair.get("reason"))
    if missing and (slot["cert"] in missing or slot["bundle"] in missing):
        result.update(chain_verified=False, chain_reason="%s not on the node" % ", ".join(missing))
    elif not slot["cert"]:
        result.update(chain_verified=None, chain_reason=None)
    elif chain is None:
        result.update(chain_verified=None, chain_reason=not_checked or "not checked")
    else:
        result.update(chain_verified=bool(chain.get("verified")), chain_reason=chain.get("reason"))
    return result


def _slot_problems(service: str, slot: dict[str, Any]) -> list[str]:
    where = service if slot["slot"] == MAIN_SLOT else "%s %s" % (service, slot["slot"])
    problems = []
    if slot["key_matches"] is False:
        problems.append(
            "%s: key %s and certificate %s do not match (%s)"
            % (where, slot["key"] or "-", slot["cert"] or "-", slot["key_match_reason"] or "pki match said no")
        )
    if slot["chain_verified"] is False and not (slot["missing"] and slot["key_matches"] is False):
        against = "against %s" % slot["bundle"] if slot["bundle"] else "as a full chain"
        problems.append(
            "%s: %s does not verify %s (%s)"
            % (where, slot["cert"], against, slot["chain_reason"] or "pki verify said no")
        )
    return problems


def _node_database(db: dict[str, Any] | None) -> dict[str, Any] | None:
    if db is None:
        return None
    status = db.get("cluster_status") or {}
    return {
        "state": db.get("state"),
        "enabled": bool(db.get("enabled")),
        "healthy": bool(db.get("healthy")),
        "status_text": status.get("status_text"),
        "transition": db.get("transition"),
        "primary_address": db.get("primary_address"),
        "local_address": db.get("local_address"),
        "in_sync_replicas": list(db.get("in_sync_replicas") or []),
        "certificates": dict(db.get("certificates") or {}),
        "expired": list(db.get("expired") or []),
        "error": db.get("error"),
        "members": [
            {
                "address": member.get("address"),
                "role": member.get("role"),
                "connected": member.get("connected"),
                "in_sync": member.get("in_sync"),
                "state": member.get("state"),
            }
            for member in status.get("nodes") or []
        ],
    }


# Words of a service's STATUS line (webadmin: ``webadmin running`` [H]; ``webadmin not running`` [GUESS]).
_STOPPED_WORDS = ("not running", "stopped", "failed", "error")


def _running(status: dict[str, Any] | None) -> bool | None:
    """Whether the service's STATUS line says it runs: ``None`` without such a line (every service but webadmin)
    or with wording this does not know, so that an unknown word raises no false alarm."""
    state = (status or {}).get("state")
    if not isinstance(state, str) or not state.strip():
        return None
    words = " ".join(state.lower().split())
    if any(word in words for word in _STOPPED_WORDS):
        return False
    return True if words.endswith("running") else None


def service_down(name: str, enabled: bool | None, running: bool | None) -> bool:
    """A service that is disabled or stopped serves none of its certificates, whatever their health: an interrupted
    rollout can leave it so, and nothing else in the report would show it. The database cluster's state is judged
    by its own health (``_database_health``)."""
    return name != DATABASE_SERVICE and (enabled is False or running is False)


def _state_problem(name: str, enabled: bool | None, running: bool | None, status: dict[str, Any] | None) -> str | None:
    if not service_down(name, enabled, running):
        return None
    if enabled is False:
        return "%s: disabled, so it serves nothing; enable it (`%s` on the node)" % (name, service_enable(name))
    if running is False:
        start = service_restart(name) if "restart" in SERVICES[name].lifecycle else service_enable(name)
        return "%s: enabled but not running (STATUS: %s); start it (`%s` on the node)" % (
            name,
            (status or {}).get("state"),
            start,
        )
    return None


def _restart_hint(name: str) -> str:
    """The MMP commands that make a service serve the files it is configured with."""
    if "restart" in SERVICES[name].lifecycle:
        return "restart it (`%s` on the node)" % service_restart(name)
    return "disable and enable it (`%s`, then `%s` on the node)" % (service_disable(name), service_enable(name))


def _slot_tls(
    name: str, slot: dict[str, Any], served: dict[str, Any] | None, certificates: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any] | None, str | None]:
    """What the slot's TLS endpoint serves compared with the certificate it is configured with, and the problem
    (``None``, ``None`` when it was not probed: the check is off, or the service is down, which is its own problem)."""
    if served is None:
        return None, None
    where = name if slot["slot"] == MAIN_SLOT else "%s %s" % (name, slot["slot"])
    entry: dict[str, Any] = {
        "endpoint": served.get("endpoint"),
        "host": served.get("host"),
        "port": served.get("port"),
        "serving": None,
        "fingerprint_sha256": None,
        "served_file": None,
        "configured_file": slot["cert"],
        "matches": None,
        "reason": served.get("skipped"),
    }
    if "skipped" in served:
        return entry, None
    at = "%s:%s" % (served.get("host"), served.get("port"))
    if "error" in served:
        entry.update(serving=False, matches=False, reason=served["error"])
        return entry, (
            "%s: enabled but not serving TLS on %s (%s); %s. If the controller cannot reach the node's service "
            "ports, turn this check off (tls_check: false; cert_report_tls_check: false in the role)"
            % (where, at, served["error"], _restart_hint(name))
        )
    served_fp = served["fingerprint_sha256"]
    # The files holding the served leaf, the leaf-only file before a full chain that starts with it.
    same = sorted(
        (f for f, c in certificates.items() if c.get("fingerprint_sha256") == served_fp),
        key=lambda f: (certificates[f].get("chain_length") or 1, f),
    )
    entry.update(
        serving=True,
        fingerprint_sha256=served_fp,
        served_file=slot["cert"] if slot["cert"] in same else (same[0] if same else None),
    )
    configured = certificates.get(slot["cert"])
    if configured is None or not configured.get("fingerprint_sha256"):
        entry["reason"] = "%s cannot be read as a certificate: not compared" % slot["cert"]
        return entry, None
    entry["matches"] = configured["fingerprint_sha256"] == served_fp
    if entry["matches"]:
        entry["reason"] = "serves the configured certificate"
        return entry, None
    what = entry["served_file"] or "a certificate that is in no file on the node (SHA-256 %s)" % served_fp
    entry["reason"] = "serves %s, configured %s" % (entry["served_file"] or served_fp, slot["cert"])
    return entry, "%s: serves %s on %s, configured %s; %s to serve the configured certificate" % (
        where,
        what,
        at,
        slot["cert"],
        _restart_hint(name),
    )


def _service_files(
    use: dict[str, Any], slots: list[dict[str, Any]], certificates: dict[str, dict[str, Any]], listed: set[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per file the service uses (each certificate file learns who uses it), and the files' problems."""
    rows: list[tuple[str, str, str]] = []  # (slot, role, file)
    for slot in slots:
        if slot["cert"]:
            rows.append((slot["slot"], slot["cert_role"], slot["cert"]))
        if slot["bundle"]:
            # One row per bundle, however many slots verify against it (the database cluster's CA).
            rows.append(("", "ca_cert" if use["name"] == DATABASE_SERVICE else "bundle", slot["bundle"]))
    rows += [("", trust["role"], trust["file"]) for trust in use["trust"]]
    files, problems = [], []
    for slot_name, role, file_name in _unique(rows):
        files.append({"slot": slot_name, "role": role, "file": file_name, "present": file_name in certificates})
        if file_name in certificates:
            used = {"service": use["name"], "role": role}
            if used not in certificates[file_name]["used_by"]:
                certificates[file_name]["used_by"].append(used)
        elif file_name not in listed:
            problems.append("%s: %s (%s) is not on the node" % (use["name"], file_name, role))
        else:
            problems.append("%s: %s (%s) cannot be read as a certificate" % (use["name"], file_name, role))
    return files, problems


def _build_service(
    use: dict[str, Any],
    status: dict[str, Any] | None,
    certificates: dict[str, dict[str, Any]],
    listed: set[str],
    checks: tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]],
    not_checked: str | None,
    probes: dict[str, Any] | None,
) -> tuple[dict[str, Any], list[str]]:
    """One service of a node: its slots judged, one row per file it uses, its state, what it serves; and its
    problems. ``probes``: what each TLS endpoint of the node serves (``None``: not checked)."""
    slots = [_slot_health(slot, listed, checks[0], checks[1], not_checked) for slot in use["slots"]]
    problems: list[str] = []
    for slot in slots:
        slot["tls"] = None  # what its endpoint serves, when probed (below)
        problems += _slot_problems(use["name"], slot)
    files, found = _service_files(use, slots, certificates, listed)
    problems += found
    running = _running(status)
    state_problem = _state_problem(use["name"], use["enabled"], running, status)
    if state_problem:
        problems.append(state_problem)
    tls_problems = []
    if use["name"] in SERVICES and probes is not None and state_problem is None:
        service_def = SERVICES[use["name"]]
        for slot in slots:
            served = probes.get(service_def.endpoint(service_def.part(slot["slot"]))) if slot["cert"] else None
            slot["tls"], problem = _slot_tls(use["name"], slot, served, certificates)
            tls_problems += [problem] if problem else []
    problems += tls_problems
    service = {
        "name": use["name"],
        "enabled": use["enabled"],
        "running": running,
        "state_problem": state_problem,
        "tls_problems": tls_problems,
        "slots": slots,
        "trust": use["trust"],
        "files": files,
        "urgency": worst([certificates[f["file"]]["urgency"] for f in files if f["present"]]),
        "healthy": all(s["key_matches"] is not False and s["chain_verified"] is not False for s in slots)
        and not any(f["file"] not in listed for f in files)
        and state_problem is None
        and not tls_problems,
    }
    return service, problems


def _read_parts(node: dict[str, Any]) -> tuple[dict[str, dict[str, Any] | None], dict[str, str], bool]:
    """What each gathering task of a node returned (``None`` when it did not run or failed), the failures by part,
    and whether the node could not be reached."""
    unreachable = False
    data: dict[str, dict[str, Any] | None] = {}
    failures: dict[str, str] = {}
    for part, what in (
        ("probe", "SSH port check"),
        ("pki", "cms_pki_info"),
        ("checks", "pki match/verify"),
        ("database", "cms_db_cluster_info"),
    ):
        data[part], problem, lost = _result(node.get(part), what)
        # A failed probe is the TCP check of the node's SSH port: the node cannot be reached, nothing else was tried.
        unreachable = unreachable or lost or (part == "probe" and problem is not None)
        if problem:
            failures[part] = problem
    return data, failures, unreachable


def _node_services(
    pki: dict[str, Any],
    checks: dict[str, Any] | None,
    failures: dict[str, str],
    certificates: dict[str, dict[str, Any]],
    probes: dict[str, Any] | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every service of a node that was read, judged; and the node's problems."""
    listed = set(pki.get("files") or [])
    matches, verifies = _check_lookup(checks)
    not_checked = (
        None if checks is not None else ("not checked: " + failures["checks"] if "checks" in failures else None)
    )
    statuses = pki.get("services") or {}
    services: list[dict[str, Any]] = []
    problems: list[str] = []
    for use in service_uses(pki):
        service, found = _build_service(
            use, statuses.get(use["name"]), certificates, listed, (matches, verifies), not_checked, probes
        )
        services.append(service)
        problems += found
    return services, problems


def build_node(
    node: dict[str, Any], now: datetime.datetime, thresholds: dict[str, int], probes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One node of the report from what the playbook gathered for it; ``probes``: what its TLS endpoints serve
    (``tls_endpoints`` probed), ``None`` when TLS was not checked."""
    data, failures, unreachable = _read_parts(node)
    errors = list(failures.values())
    pki = data["pki"]
    certificates: dict[str, dict[str, Any]] = {}
    services: list[dict[str, Any]] = []
    problems: list[str] = []
    if pki is not None:
        for name, info in (pki.get("certificates") or {}).items():
            if isinstance(info, dict) and info.get("not_after"):
                certificates[name] = _certificate(name, info, now, thresholds)
        services, problems = _node_services(pki, data["checks"], failures, certificates, probes)
    for entry in certificates.values():
        entry["in_use"] = bool(entry["used_by"])
    in_use = [c for c in certificates.values() if c["in_use"]]
    return {
        "name": node["name"],
        "cluster": node.get("cluster") or "",
        "fqdn": node.get("fqdn") or None,
        "address": node.get("address") or None,
        "version": node.get("version") or None,
        "status": "unreachable" if unreachable else "error" if errors else "ok",
        "errors": errors,
        "urgency": worst([c["urgency"] for c in in_use]),
        "services": services,
        "database_cluster": _node_database(data["database"]),
        "certificates": [certificates[name] for name in sorted(certificates)],
        "unreadable": [{"file": f, "reason": r} for f, r in sorted(((pki or {}).get("unreadable") or {}).items())],
        "problems": problems,
    }


# ------------------------------------------------------------------------------------------------------------
# TLS: what each enabled service really serves
# ------------------------------------------------------------------------------------------------------------
def tls_endpoints(node: dict[str, Any]) -> dict[str, tuple[str, int] | None]:
    """``{endpoint: (host, port)}`` of every part with a certificate of every service of ``node`` that is not down
    (``None`` when no port is known). The port: the node's ``tls_ports`` (``{endpoint: port}``, as the simulator's
    ``cms_tls_ports``), else what the service's status shows, else the catalog's default. The host: the node's
    ``tls_host``, else its address, its FQDN, its name."""
    pki = _result(node.get("pki"), "cms_pki_info")[0]
    if pki is None:
        return {}
    ports = node.get("tls_ports") or {}
    host = node.get("tls_host") or node.get("address") or node.get("fqdn") or node["name"]
    statuses = pki.get("services") or {}
    endpoints: dict[str, tuple[str, int] | None] = {}
    for use in service_uses(pki):
        status = statuses.get(use["name"])
        if use["name"] not in SERVICES or service_down(use["name"], use["enabled"], _running(status)):
            continue
        service = SERVICES[use["name"]]
        for slot in use["slots"]:
            if slot["cert"]:
                part = service.part(slot["slot"])
                port = ports.get(service.endpoint(part)) or part.status_port(status or {})
                endpoints[service.endpoint(part)] = (str(host), int(port)) if port else None
    return endpoints


def probe_fleet(nodes: list[dict[str, Any]], timeout: float) -> dict[str, dict[str, dict[str, Any]]]:
    """What every TLS endpoint of every node read serves: ``{node: {endpoint: probe}}``, each probe as
    ``_tls_probe.probe`` returns it plus ``endpoint``, or ``{endpoint, skipped}`` when no port is known."""
    wanted = {node["name"]: tls_endpoints(node) for node in nodes}
    served = probe_all([target for ends in wanted.values() for target in ends.values() if target], timeout)
    fleet: dict[str, dict[str, dict[str, Any]]] = {}
    for name, ends in wanted.items():
        fleet[name] = {}
        for endpoint, target in ends.items():
            if target is None:
                fleet[name][endpoint] = {"skipped": "no TLS port known for %s: give the node's tls_ports" % endpoint}
            else:
                fleet[name][endpoint] = dict(served[target], endpoint=endpoint)
    return fleet


def _database_health(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The health of one cluster's database, from what each node's ``database cluster status`` says."""
    read = [n for n in nodes if n["database_cluster"] is not None]
    enabled = [n for n in read if n["database_cluster"]["state"] != "disabled"]
    if not enabled:
        return {"enabled": False, "healthy": None, "primary": None, "problems": [], "unknown": []}
    # The status lists members by address: name them, from the inventory (cms_address) or their own status.
    by_address = {n["address"]: n["name"] for n in nodes if n["address"]}
    by_address.update(
        {n["database_cluster"]["local_address"]: n["name"] for n in read if n["database_cluster"]["local_address"]}
    )
    problems = []
    primaries = [n["name"] for n in enabled if n["database_cluster"]["state"] == "primary"]
    if not primaries:
        problems.append("no node is the primary")
    elif len(primaries) > 1:
        problems.append("more than one primary: %s" % ", ".join(primaries))
    for node in read:
        db = node["database_cluster"]
        if db["state"] == "disabled":
            problems.append("%s: clustering is disabled" % node["name"])
        elif not db["healthy"]:
            text = db["status_text"] or db["state"]
            problems.append(
                "%s: %s, not healthy%s" % (node["name"], db["state"], "" if text == db["state"] else " (%s)" % text)
            )
        if db["expired"]:
            problems.append("%s: the node marks %s expired" % (node["name"], ", ".join(db["expired"])))
    for name in primaries[:1]:
        for member in next(n for n in read if n["name"] == name)["database_cluster"]["members"]:
            who = by_address.get(member["address"], member["address"])
            if not member["connected"]:
                problems.append("the primary sees %s disconnected" % who)
            elif member["role"] == "replica" and member["in_sync"] is False:
                problems.append("the primary sees %s out of sync" % who)
    unknown = [n["name"] for n in nodes if n["database_cluster"] is None]
    healthy: bool | None = not problems
    if healthy and unknown:
        healthy = None  # what the unread nodes would say is not known
    return {
        "enabled": True,
        "healthy": healthy,
        "primary": primaries[0] if len(primaries) == 1 else None,
        "problems": _unique(problems),
        "unknown": unknown,
    }


def _timeline(built: list[dict[str, Any]], timeline_days: int) -> tuple[list[dict[str, Any]], dict[str, int], int]:
    """The certificates in use that expire within ``timeline_days`` (and every expired one), soonest first; the
    certificate files in use per urgency; how many certificate files no service uses."""
    timeline: list[dict[str, Any]] = []
    counts = dict.fromkeys(URGENCIES, 0)
    unused = 0
    for node in built:
        for cert in node["certificates"]:
            if not cert["in_use"]:
                unused += 1
                continue
            counts[cert["urgency"]] += 1
            if cert["days_left"] <= timeline_days or cert["expired"]:
                timeline.append(
                    {
                        "cluster": node["cluster"],
                        "node": node["name"],
                        "file": cert["file"],
                        "services": _unique([u["service"] for u in cert["used_by"]]),
                        "subject": cert["subject"],
                        "not_after": cert["not_after"],
                        "not_after_timestamp": cert["not_after_timestamp"],
                        "days_left": cert["days_left"],
                        "urgency": cert["urgency"],
                    }
                )
    timeline.sort(key=lambda e: (e["not_after"], e["cluster"], e["node"], e["file"]))
    return timeline, counts, unused


def _summary(
    built: list[dict[str, Any]], clusters: list[dict[str, Any]], timeline: list[dict[str, Any]], counts: dict[str, int]
) -> dict[str, Any]:
    """The report's summary: what was read, the counts, what is down or serves the wrong certificate."""
    upcoming = [e for e in timeline if e["urgency"] != "expired"]
    return {
        "nodes": len(built),
        "reachable": len([n for n in built if n["status"] != "unreachable"]),
        "unreachable": [n["name"] for n in built if n["status"] == "unreachable"],
        "errors": [n["name"] for n in built if n["status"] == "error"],
        "certificates": counts,
        "unused_certificates": 0,
        "problems": sum(len(n["problems"]) for n in built),
        "services_down": [
            {
                "node": n["name"],
                "service": s["name"],
                "enabled": s["enabled"],
                "running": s["running"],
                "problem": s["state_problem"],
            }
            for n in built
            for s in n["services"]
            if s["state_problem"]
        ],
        # A service that is up but serves another certificate than it is configured with, or no TLS at all.
        "tls_problems": [
            {"node": n["name"], "service": s["name"], "problem": problem}
            for n in built
            for s in n["services"]
            for problem in s["tls_problems"]
        ],
        "database_clusters": {
            "healthy": [c["name"] for c in clusters if c["database"]["healthy"] is True],
            "unhealthy": [c["name"] for c in clusters if c["database"]["healthy"] is False],
            "unknown": [c["name"] for c in clusters if c["database"]["enabled"] and c["database"]["healthy"] is None],
        },
        "urgency": worst([n["urgency"] for n in built]),
        "next_expiry": dict(upcoming[0]) if upcoming else None,
    }


def build_report(
    nodes: list[dict[str, Any]],
    now: datetime.datetime,
    title: str,
    critical_days: int,
    warning_days: int,
    timeline_days: int,
    tls: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole report as plain data (the JSON document): clusters -> nodes -> services, timeline and summary.

    ``tls``: what each node's TLS endpoints serve (``probe_fleet``); ``None`` when TLS was not checked.
    """
    now = now.replace(microsecond=0)
    thresholds = {"critical_days": critical_days, "warning_days": warning_days, "timeline_days": timeline_days}
    built = [build_node(node, now, thresholds, None if tls is None else tls.get(node["name"], {})) for node in nodes]
    clusters: list[dict[str, Any]] = []
    for name in _unique([n["cluster"] for n in built]):
        members = [n for n in built if n["cluster"] == name]
        clusters.append(
            {
                "name": name,
                "urgency": worst([n["urgency"] for n in members]),
                "database": _database_health(members),
                "nodes": members,
            }
        )
    timeline, counts, unused = _timeline(built, timeline_days)
    summary = _summary(built, clusters, timeline, counts)
    summary["unused_certificates"] = unused
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "title": title,
        "generated_at": to_iso_utc(now),
        "thresholds": thresholds,
        "tls_checked": tls is not None,
        "summary": summary,
        "clusters": clusters,
        "timeline": timeline,
    }


# ------------------------------------------------------------------------------------------------------------
# Writing the files
# ------------------------------------------------------------------------------------------------------------
def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def same_content(renderer: Renderer, report: dict[str, Any], existing: str | None) -> bool:
    """Whether ``existing`` says what ``report`` says, the generation time aside.

    The report is rendered again with the time written in ``existing``: equal text means nothing but the time would
    change. Days left count whole days, so an unchanged fleet gives the same content until a day ticks over.
    """
    if existing is None:
        return False
    render, generated_of = renderer
    old = generated_of(existing)
    if not old:
        return False
    return render(dict(report, generated_at=old)) == existing


# ------------------------------------------------------------------------------------------------------------
# cms_cert_report
# ------------------------------------------------------------------------------------------------------------
REPORT_ARGS = ArgumentSpec(
    {
        "nodes": {
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "cluster": {"type": "str", "default": "cms"},
                "fqdn": {"type": "str"},
                "address": {"type": "str"},
                "version": {"type": "str"},
                "probe": {"type": "dict"},
                "tls_host": {"type": "str"},
                "tls_ports": {"type": "dict"},
                "pki": {"type": "dict"},
                "checks": {"type": "dict"},
                "database": {"type": "dict"},
            },
        },
        "title": {"type": "str", "default": "CMS certificate report"},
        "critical_days": {"type": "int", "default": 14},
        "warning_days": {"type": "int", "default": 45},
        "timeline_days": {"type": "int", "default": 365},
        "html_path": {"type": "path"},
        "json_path": {"type": "path"},
        "prometheus_path": {"type": "path"},
        "mode": {"type": "raw", "default": "0644"},
        "force": {"type": "bool", "default": False},
        "tls_check": {"type": "bool", "default": True},
        "tls_timeout": {"type": "int", "default": 5},
    },
    connection=False,
    required_one_of=[("html_path", "json_path", "prometheus_path")],
)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report in a few lines, for the play's output."""
    summary = report["summary"]
    counts = summary["certificates"]
    thresholds = report["thresholds"]
    read = "%d/%d nodes read" % (summary["reachable"], summary["nodes"])
    if summary["unreachable"]:
        read += ", unreachable: %s" % ", ".join(summary["unreachable"])
    if summary["errors"]:
        read += ", read with errors: %s" % ", ".join(summary["errors"])
    lines = [
        read,
        "certificates in use: %d expired, %d critical (<= %d days), %d warning (<= %d days), %d ok; %d key/chain "
        "problems"
        % (
            counts["expired"],
            counts["critical"],
            thresholds["critical_days"],
            counts["warning"],
            thresholds["warning_days"],
            counts["ok"],
            summary["problems"] - len(summary["services_down"]) - len(summary["tls_problems"]),
        ),
    ]
    if summary["services_down"]:
        lines.append(
            "services disabled or stopped: %s"
            % ", ".join(
                "%s %s (%s)" % (d["node"], d["service"], "disabled" if d["enabled"] is False else "not running")
                for d in summary["services_down"]
            )
        )
    if summary["tls_problems"]:
        lines.append(
            "services not serving their configured certificate: %s"
            % "; ".join("%s %s" % (d["node"], d["problem"]) for d in summary["tls_problems"])
        )
    elif not report["tls_checked"]:
        lines.append("served certificates not checked (tls_check is off)")
    upcoming = summary["next_expiry"]
    if upcoming:
        lines.append(
            "next expiry: %s %s (%s) on %s, in %d days"
            % (
                upcoming["node"],
                upcoming["file"],
                ", ".join(upcoming["services"]),
                upcoming["not_after"],
                upcoming["days_left"],
            )
        )
    states = []
    for cluster in report["clusters"]:
        database = cluster["database"]
        if database["enabled"]:
            word = {True: "healthy", False: "NOT healthy", None: "unknown"}[database["healthy"]]
            states.append("%s %s" % (cluster["name"], word))
    lines.append("database clusters: %s" % (", ".join(states) or "none clustered"))
    return lines


def _file_mode(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^0?[0-7]{3,4}$", value):
        return int(value, 8)
    raise ValueError("mode %r is not an octal file mode such as '0644'" % (value,))


def _option_problems(p: dict[str, Any]) -> list[str]:
    problems = []
    if p["critical_days"] < 0 or p["warning_days"] < 0 or p["timeline_days"] < 1:
        problems.append("critical_days and warning_days must be 0 or more, timeline_days 1 or more")
    if p["tls_timeout"] < 1:
        problems.append("tls_timeout is %d: it must be 1 or more (seconds)" % p["tls_timeout"])
    if p["critical_days"] > p["warning_days"]:
        problems.append(
            "critical_days (%d) must not be more than warning_days (%d)" % (p["critical_days"], p["warning_days"])
        )
    names = [node["name"] for node in p["nodes"]]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append("nodes named more than once: %s" % ", ".join(duplicates))
    return problems


def _write_file(
    module: Any, kind: str, path: str, text: str, existing: str | None, changed: bool, mode: int, files: dict[str, Any]
) -> bool:
    """Write one file when its content changed, else bring its mode in line; whether anything changed."""
    if changed and not module.check_mode:
        try:
            write_atomic(path, text, mode, always=True, option="%s_path" % kind, name="the %s report" % kind)
        except MmpValidationError as exc:
            module.fail_json(msg=exc.message, files=files)
    elif not changed and existing is not None:
        try:
            if os.stat(path).st_mode & 0o7777 != mode:
                changed = True
                if not module.check_mode:
                    os.chmod(path, mode)
        except OSError:
            pass
    return changed


def run_report(module: Any, renderers: Mapping[str, Renderer], now: datetime.datetime | None = None) -> None:
    """cms_cert_report: build the report, write each file asked for with ``renderers[kind]``, return the report."""
    p = module.params
    problems = _option_problems(p)
    mode = 0o644
    try:
        mode = _file_mode(p["mode"])
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        module.fail_json(msg="cms_cert_report: %s" % "; ".join(problems))

    # The only I/O toward the nodes: a TLS handshake with each enabled service, before the report is built.
    tls = probe_fleet(p["nodes"], p["tls_timeout"]) if p["tls_check"] else None
    report = build_report(
        p["nodes"],
        now or datetime.datetime.now(datetime.timezone.utc),
        p["title"],
        p["critical_days"],
        p["warning_days"],
        p["timeline_days"],
        tls,
    )
    result: dict[str, Any] = {"changed": False, "files": {}}
    for kind in ("html", "json", "prometheus"):
        path = p.get("%s_path" % kind)
        if not path:
            continue
        existing = _read_text(path)
        text = renderers[kind][0](report)
        changed = p["force"] or not same_content(renderers[kind], report, existing)
        changed = _write_file(module, kind, path, text, existing, changed, mode, result["files"])
        result["files"][kind] = {"path": path, "changed": changed}
        result["changed"] = result["changed"] or changed
        if kind == "json" and changed and module._diff:
            before = existing or ""
            render, generated_of = renderers["json"]
            old = generated_of(before)
            after = render(dict(report, generated_at=old)) if old else text
            result["diff"] = {"before": before, "after": after, "before_header": path, "after_header": path}
    result["summary"] = report["summary"]
    result["summary_lines"] = summary_lines(report) + [
        "%s: %s%s" % (kind, entry["path"], " (changed)" if entry["changed"] else " (unchanged)")
        for kind, entry in result["files"].items()
    ]
    result["report"] = report
    module.exit_json(**result)
