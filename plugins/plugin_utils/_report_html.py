# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The certificate report as a page for people: the Jinja2 template ``cert_report.html.j2`` beside this file.

The data model is ``module_utils/_report.py``'s; this module only derives what the page shows from it (the rows of
each node's table, the timeline's geometry, what needs attention) and leaves the markup to the template. It runs on
the controller, inside the action plugin of cms_cert_report, with the Jinja2 that ansible-core brings.

Every value the template prints is escaped (autoescape, and ``_escape`` as the environment's finalize): subjects,
SANs, titles and node names come from certificates and inventories, not from us.
"""

from __future__ import annotations

import datetime
import html
import math
import os
import re
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ansible_collections.cisco_cms.mmp.plugins.module_utils._report import (
    DATABASE_SERVICE,
    MAIN_SLOT,
    SCHEMA,
    SCHEMA_VERSION,
    URGENCIES,
    parse_time,
    service_down,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._report_render import TEXT_RENDERERS

if TYPE_CHECKING:
    from ansible_collections.cisco_cms.mmp.plugins.module_utils._report import Renderer

TEMPLATE = "cert_report.html.j2"
GENERATED_META = "cms-cert-report-generated"
_HTML_GENERATED_RE = re.compile(r'<meta name="%s" content="([^"]+)">' % GENERATED_META)
ROLE_LABELS = {
    "cert": "certificate",
    "bundle": "CA bundle",
    "https_cert": "HTTPS full chain",
    "c2w_cert": "C2W full chain",
    "c2w_trust": "C2W trust",
    "cluster_trust": "cluster trust",
    "branding_trust": "branding trust",
    "ucm_trust": "UCM trust",
    "imps_trust": "IM&P trust",
    "sip_trust": "tls sip trust",
    "ldap_trust": "tls ldap trust",
    "dbclient_trust": "tls dbclient trust",
    "dbserver_trust": "tls dbserver trust",
    "webadmin_trust": "tls webadmin trust",
    "trust": "trust bundle",
    "server_cert": "server certificate",
    "client_cert": "client certificate",
    "ca_cert": "CA certificate",
}
URGENCY_COLOURS = {"expired": "#7f1d1d", "critical": "#dc2626", "warning": "#f59e0b", "ok": "#15803d"}


# ------------------------------------------------------------------------------------------------------------
# Words and numbers as the page writes them (filters of the template)
# ------------------------------------------------------------------------------------------------------------
def plural(count: int, word: str) -> str:
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def days_text(days_left: int, not_after_timestamp: int, generated_at: str, prefix: str = "") -> str:
    """``19 days`` or ``expired 5 days ago``, whole days either way (days_left itself is -1 on the day after)."""
    if days_left < 0:
        ago = math.floor((parse_time(generated_at).timestamp() - not_after_timestamp) / 86400)
        return "expired %s ago" % plural(ago, "day") if ago > 0 else "expired today"
    return prefix + plural(days_left, "day")


def when(iso: str) -> str:
    return iso.replace("T", " ")[:16]


def service_label(name: str) -> str:
    return "database cluster" if name == DATABASE_SERVICE else name


def role_label(role: str, slot: str) -> str:
    label = ROLE_LABELS.get(role, role.replace("_", " "))
    return label if slot in ("", MAIN_SLOT) or slot in role else "%s %s" % (slot, label)


def _escape(value: Any) -> Markup:
    """The environment's finalize: every printed value escaped as ``html.escape`` does (quotes as ``&quot;`` and
    ``&#x27;``, as the page always wrote them), ``None`` as nothing; markup the template made itself stays."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


# ------------------------------------------------------------------------------------------------------------
# What the page shows, derived from the report
# ------------------------------------------------------------------------------------------------------------
def _attention(report: dict[str, Any]) -> list[str]:
    """What to act on, most pressing first: nodes not read, services down or not serving their configured
    certificate (an outage now), expiries, then key/chain and database cluster problems."""
    nodes = [node for cluster in report["clusters"] for node in cluster["nodes"]]
    attention = ["%s could not be reached" % n["name"] for n in nodes if n["status"] == "unreachable"]
    attention += ["%s: %s" % (n["name"], "; ".join(n["errors"])) for n in nodes if n["status"] == "error"]
    down = report["summary"].get("services_down", []) + report["summary"].get("tls_problems", [])
    attention += ["%s %s" % (d["node"], d["problem"]) for d in down]
    for entry in report["timeline"]:
        if entry["urgency"] in ("expired", "critical"):
            attention.append(
                "%s %s (%s): %s"
                % (
                    entry["node"],
                    entry["file"],
                    ", ".join(service_label(s) for s in entry["services"]),
                    days_text(entry["days_left"], entry["not_after_timestamp"], report["generated_at"], "expires in "),
                )
            )
    listed = {(d["node"], d["problem"]) for d in down}
    attention += [
        "%s %s" % (n["name"], problem) for n in nodes for problem in n["problems"] if (n["name"], problem) not in listed
    ]
    for cluster in report["clusters"]:
        attention += ["cluster %s: %s" % (cluster["name"], problem) for problem in cluster["database"]["problems"]]
    return attention


def _timeline(report: dict[str, Any]) -> dict[str, Any]:
    """Month ticks, threshold marks and one bar per certificate, as left offsets and widths in % of the track."""
    horizon = max(1, report["thresholds"]["timeline_days"])

    def pos(days: float) -> str:
        return "%.2f%%" % (100.0 * min(max(days, 0), horizon) / horizon)

    now = parse_time(report["generated_at"])
    ticks = []
    month = datetime.datetime(now.year, now.month, 1, tzinfo=datetime.timezone.utc)
    while True:
        month = (month + datetime.timedelta(days=32)).replace(day=1)
        offset = (month - now).total_seconds() / 86400
        if offset > horizon:
            break
        ticks.append({"left": pos(offset), "label": month.strftime("%b %Y")})
    marks = [
        {"left": pos(report["thresholds"][name + "_days"]), "title": name + " threshold"}
        for name in ("critical", "warning")
    ]
    rows = []
    for entry in report["timeline"]:
        # An expired certificate has no time left: a short stub at "today" keeps its row visibly red.
        width = pos(entry["days_left"]) if entry["urgency"] != "expired" else "6px"
        rows.append(
            dict(
                entry,
                services_text=", ".join(service_label(s) for s in entry["services"]),
                bar_style="width:%s;background:%s" % (width, URGENCY_COLOURS[entry["urgency"]]),
                when=days_text(entry["days_left"], entry["not_after_timestamp"], report["generated_at"], "in "),
            )
        )
    return {"horizon": horizon, "ticks": ticks, "marks": marks, "rows": rows}


def _service_rows(node: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per file each service uses; the certificate's row carries its slot (key and chain verdicts)."""
    certs = {c["file"]: c for c in node["certificates"]}
    rows = []
    for service in node["services"]:
        slots = {s["slot"]: s for s in service["slots"]}
        enabled = service["enabled"]
        state = "" if enabled is None else (" (enabled)" if enabled else " (disabled)")
        if enabled is not False and service.get("running") is False:
            state = " (not running)"
        if service.get("tls_problems"):
            # Up, but not serving what it is configured with: as much an outage of the new certificate.
            state += " (not serving its configured certificate)"
        down = service_down(service["name"], enabled, service.get("running")) or bool(service.get("tls_problems"))
        for index, use in enumerate(service["files"]):
            slot = slots.get(use["slot"])
            rows.append(
                {
                    "service": service_label(service["name"]) if index == 0 else None,
                    "state": state,
                    "down": down,
                    "role": role_label(use["role"], use["slot"]),
                    "file": use["file"],
                    "cert": certs.get(use["file"]),
                    "slot": slot if slot is not None and use["role"] == slot["cert_role"] else None,
                }
            )
    return rows


def _page(report: dict[str, Any]) -> dict[str, Any]:
    nodes = [node for cluster in report["clusters"] for node in cluster["nodes"]]
    return {
        "report": report,
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generated_meta": GENERATED_META,
        "generated": report["generated_at"].replace("T", " ").replace("Z", " UTC"),
        "urgencies": URGENCIES,
        "attention": _attention(report),
        # The card counts key, chain and file problems; a service down has a card of its own.
        "key_chain_problems": report["summary"]["problems"]
        - len(report["summary"].get("services_down", []))
        - len(report["summary"].get("tls_problems", [])),
        "timeline": _timeline(report),
        "rows": {node["name"]: _service_rows(node) for node in nodes},
        "others": {node["name"]: [c for c in node["certificates"] if not c["in_use"]] for node in nodes},
    }


# ------------------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------------------
_ENVIRONMENT: list[Environment] = []


def _environment() -> Environment:
    """The template's environment, made once per process: the template file lives beside this module, in the
    collection as installed (galaxy builds it into the tarball), so nothing depends on where ansible runs."""
    if not _ENVIRONMENT:
        env = Environment(
            loader=FileSystemLoader(os.path.dirname(os.path.abspath(__file__))),
            autoescape=True,
            finalize=_escape,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(plural=plural, when=when, service_label=service_label)
        env.globals.update(days_text=days_text)
        _ENVIRONMENT.append(env)
    return _ENVIRONMENT[0]


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page (inline CSS, no script, no external asset)."""
    return _environment().get_template(TEMPLATE).render(_page(report))


def html_generated(text: str) -> str | None:
    found = _HTML_GENERATED_RE.search(text)
    return html.unescape(found.group(1)) if found else None


# Every kind of file cms_cert_report writes, the page included: what its action plugin runs with.
RENDERERS: dict[str, Renderer] = {"html": (render_html, html_generated), **TEXT_RENDERERS}
