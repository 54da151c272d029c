# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The decisions of the service_certs role, out of Jinja: the ``services`` option of its one cms_service_certs call
per node, and the ``service_certs_report`` entries built from that call's result (the shape plan.yml,
_change_plan.py and summary.yml read). Controller logic: no MMP session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import tls_port_options

# The keys of an entry of service_certs_services the module takes as they are (names and tls_check are merged).
ENTRY_OPTIONS = (
    "key",
    "key_src",
    "cert",
    "cert_src",
    "bundle",
    "bundle_src",
    "c2w_key",
    "c2w_key_src",
    "c2w_cert",
    "c2w_cert_src",
    "c2w_trust",
    "c2w_trust_src",
)


def peer_names(service: str, webadmin_fqdn: str, c2w_name: str, join_names: Sequence[str]) -> list[str]:
    """The names peers dial this service by (docs/service_certs.md#peers): the new certificate must cover them."""
    if service == "webadmin":
        names = [webadmin_fqdn]
    elif service in ("webbridge3", "webbridge"):
        names = [c2w_name, *join_names]
    else:
        names = []
    return [n for n in names if n]


def call_entries(
    services: Sequence[Mapping[str, Any]],
    defaults: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The ``services`` option of the role's call: each entry over the defaults, with every name it must cover and
    its TLS ports. ``settings``: ``names``, ``tls_check``, ``tls_ports``, ``webadmin_fqdn``, ``c2w_name``,
    ``join_names`` (the role's variables of those names)."""
    out = []
    for raw in services:
        entry = {**defaults, **raw}
        call: dict[str, Any] = {"service": entry["service"]}
        call.update({k: entry[k] for k in ENTRY_OPTIONS if entry.get(k) is not None})
        names = [
            *(settings.get("names") or []),
            *(entry.get("names") or []),
            *peer_names(
                entry["service"],
                settings.get("webadmin_fqdn") or "",
                settings.get("c2w_name") or "",
                settings.get("join_names") or [],
            ),
        ]
        call["names"] = list(dict.fromkeys(names))
        call["tls_check"] = bool(entry.get("tls_check", settings.get("tls_check", True)))
        call.update(tls_port_options(entry, settings.get("tls_ports") or {}))
        out.append(call)
    return out


def c2w_chain(services: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any]) -> str:
    """The controller file of this node's new Web Bridge 3 C2W chain ('' when it has none to check)."""
    for raw in services:
        if raw.get("service") == "webbridge3":
            entry = {**defaults, **raw}
            return str(entry.get("c2w_cert_src") or entry.get("bundle_src") or "")
    return ""


def _result_word(r: Mapping[str, Any], check_mode: bool) -> str:
    if r.get("failed"):
        return "rolled back" if r.get("rolled_back") else "failed"
    if (r.get("call_guard") or {}).get("decision") == "skip":
        return "skipped (busy)"
    if r.get("state") == "validated":
        return "validated"
    if r.get("changed"):
        return "would change" if check_mode else "changed"
    return "unchanged"


def report_entry(r: Mapping[str, Any], phase: str, check_mode: bool) -> dict[str, Any]:
    """One ``service_certs_report`` entry from one service's result (of a ``services`` call)."""
    before, after = r.get("before") or {}, r.get("after") or {}
    word = _result_word(r, check_mode)
    notes = r.get("notes") or []
    entry: dict[str, Any] = {
        "phase": phase,
        "service": r.get("service"),
        "result": word,
        "old_cert": before.get("cert") or "",
        "new_cert": after.get("cert") or "",
        "old_not_after": before.get("not_after") or "",
        "new_not_after": after.get("not_after") or "",
        "outage_seconds": r.get("outage_seconds") or 0,
    }
    if not r.get("failed"):
        entry["trust"] = r.get("c2w_trust") or {}
    entry.update(
        state=r.get("service_state") or {},
        reasons=r.get("reasons") or [],
        commands=r.get("commands") or [],
        call_guard=r.get("call_guard"),
    )
    if r.get("failed"):
        entry["msg"] = r.get("msg") or "failed"
    else:
        entry["msg"] = (notes[-1] if notes else "") if word == "skipped (busy)" else ""
    return entry


def report_entries(result: Mapping[str, Any], phase: str, check_mode: bool = False) -> list[dict[str, Any]]:
    """The report entries of one call: the services it worked on (a service not reached, after a failure or on a
    node skipped as busy, has none, as when each service had its own task). ``phase`` ``rollout`` from a preflight
    result: the outcome of a node already in place, never contacted again."""
    entries = []
    for r in result.get("services") or []:
        if r.get("reached") is False and not r.get("failed"):
            continue
        entry = report_entry(r, phase, check_mode)
        if phase == "rollout" and entry["result"] == "validated":
            entry["result"] = "unchanged"
        entries.append(entry)
    return entries
