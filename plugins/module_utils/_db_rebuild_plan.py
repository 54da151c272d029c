# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The decisions of the database cluster rebuild (role db_cluster_rebuild), as pure functions.

TechNote 216549 renews the certificates of a CMS database cluster by taking it apart and building it again: every
node leaves (the primary last), gets the new files, the primary initializes, the others join or connect.  Before
any of that, the role must decide, from what every node's ``database cluster status`` shows and from the run
record an earlier run left on the controller:

- which node is the primary, and the address the others reach it at;
- where the new certificates come from (``provided`` files, ``adopt`` the ones a healthy cluster already runs on,
  or ``generate`` them with the built-in CA of the primary under a new serial) and their file names;
- whether a run that stopped half-way is resumed (same serial, same target, same backups) or a new one starts
  (a fresh serial, fresh certificates, a fresh backup);
- which nodes are not right yet, and why; which backups are due and which are kept.

No I/O happens here: the role gathers the facts (statuses, the run record, the backups on the controller) and
calls the ``cms_db_rebuild_plan`` filter, whose unit tests read like the TechNote's cases.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    validate_address,
    validate_basename,
    validate_common_name,
    validate_interface,
    validate_san_entry,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError

CERT_KEYS = ("server_key", "server_cert", "client_key", "client_cert", "ca_cert")
CLIENT_KEYS = ("client_key", "client_cert", "ca_cert")  # a node that only connects has no server key [H]
CERT_FILES = ("server_cert", "client_cert", "ca_cert")
CLIENT_CN_WORD = "postgres"  # CMS refuses a client certificate whose CN lacks it (TN 210530)
PREFIX = "db_cluster_rebuild_"

# Variables whose value the role's argument spec types, but whose meaning only the plan can check.
DEFAULTS: dict[str, Any] = {
    "primary": "",
    "primary_address": "",
    "interface": "a",
    "generate": True,
    "serial": "",
    "ca_basename": "dbca",
    "server_basename": "dbserver",
    "client_basename": "dbclient",
    "ca_cn": "",
    "server_cn": "",
    "server_san": [],
    "client_cn": "postgres",
    "certs": {},
    "certs_src": {},
    "server_cert_names": None,
    "renew_within_days": 30,
    "force": False,
    "backup": True,
    "backup_name": "",
    "timeout": 900,
    "poll_interval": 0.3,
}


def _var(variables: dict[str, Any], name: str) -> Any:
    value = variables.get(name, DEFAULTS[name])
    default = DEFAULTS[name]
    if value is None and default is not None:
        return default
    # Jinja without native types (ansible-core before 2.19) may hand booleans and null over as text.
    if isinstance(default, bool) and isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    if default is None and value in ("", "None"):
        return None
    return value


def _problem(check: str, msg: str) -> dict[str, str]:
    return {"check": check, "msg": msg}


# ------------------------------------------------------------------------------------------------------------
# The role variables
# ------------------------------------------------------------------------------------------------------------
def _validation(problems: list[str], check: Any, value: Any, what: str) -> None:
    """Run one ``_commands`` validator and keep its message (it names the value, the rule and the fix)."""
    try:
        check(value, what)
    except MmpValidationError as exc:
        problems.append(exc.message)


def check_variables(variables: dict[str, Any]) -> list[str]:
    """Every problem of the role variables, before anything is read from or sent to a node."""
    problems: list[str] = []
    v = {name: _var(variables, name) for name in DEFAULTS}
    certs, certs_src = v["certs"] or {}, v["certs_src"] or {}
    if not v["generate"] and not certs and not certs_src:
        problems.append(
            "Give the new certificates: either db_cluster_rebuild_generate: true (the built-in CA of the primary "
            "makes them) or db_cluster_rebuild_certs / db_cluster_rebuild_certs_src (node file names / controller "
            "paths of server_key, server_cert, client_key, client_cert, ca_cert)."
        )
    for what, given in (("db_cluster_rebuild_certs", certs), ("db_cluster_rebuild_certs_src", certs_src)):
        unknown = sorted(set(given) - set(CERT_KEYS))
        if unknown:
            problems.append(
                "%s has unknown keys %s; the keys are %s." % (what, ", ".join(unknown), ", ".join(CERT_KEYS))
            )
    if not v["generate"] and (certs or certs_src):
        missing = [k for k in CERT_KEYS if not (certs.get(k) or certs_src.get(k))]
        if missing:
            problems.append(
                "db_cluster_rebuild_certs / db_cluster_rebuild_certs_src name no %s; every one of %s is needed "
                "(the server files by the database nodes, the others by every node)."
                % (", ".join(missing), ", ".join(CERT_KEYS))
            )
    if v["serial"]:
        _validation(problems, validate_basename, v["serial"], "db_cluster_rebuild_serial")
    for name in ("ca_basename", "server_basename", "client_basename"):
        _validation(problems, validate_basename, v[name], PREFIX + name)
    if v["backup_name"]:
        _validation(problems, validate_basename, v["backup_name"], "db_cluster_rebuild_backup_name")
    _validation(problems, validate_interface, v["interface"], "db_cluster_rebuild_interface")
    if v["primary_address"]:
        _validation(problems, validate_address, v["primary_address"], "db_cluster_rebuild_primary_address")
    if v["generate"]:
        _check_generated_names(problems, v)
    for name in ("renew_within_days",):
        if int(v[name]) < 0:
            problems.append("%s%s is %s; give 0 or more days." % (PREFIX, name, v[name]))
    for name in ("timeout", "poll_interval"):
        if float(v[name]) <= 0:
            problems.append("%s%s is %s; give a number of seconds above 0." % (PREFIX, name, v[name]))
    return problems


def _check_generated_names(problems: list[str], v: dict[str, Any]) -> None:
    if CLIENT_CN_WORD not in str(v["client_cn"]):
        problems.append(
            "db_cluster_rebuild_client_cn is %r; the client certificate's CN must contain %r (TN 210530), for "
            "example 'postgres'." % (v["client_cn"], CLIENT_CN_WORD)
        )
    else:
        _validation(problems, validate_common_name, v["client_cn"], "db_cluster_rebuild_client_cn")
    for name in ("ca_cn", "server_cn"):
        if v[name]:
            _validation(problems, validate_common_name, v[name], PREFIX + name)
    for entry in v["server_san"] or []:
        _validation(problems, validate_san_entry, entry, "db_cluster_rebuild_server_san")


# ------------------------------------------------------------------------------------------------------------
# The nodes and the primary
# ------------------------------------------------------------------------------------------------------------
def _status(host: dict[str, Any]) -> dict[str, Any]:
    return host.get("status") or {}


def _observed_primaries(hosts: list[dict[str, Any]]) -> list[str]:
    return [h["name"] for h in hosts if _status(h).get("state") == "primary"]


def choose_primary(
    hosts: list[dict[str, Any]], variables: dict[str, Any], saved: dict[str, Any], serial: str
) -> tuple[str, str | None]:
    """``(primary, problem)``: the node whose status shows it primary, the one named, an unfinished run's, or the
    holder of the new CA's key (when every node has already left the cluster, no status shows a primary)."""
    named = _var(variables, "primary")
    observed = _observed_primaries(hosts)
    names = [h["name"] for h in hosts]
    database = [h["name"] for h in hosts if h.get("database", True)]
    ca_key = "%s-%s.key" % (_var(variables, "ca_basename"), serial)
    holders = [h["name"] for h in hosts if ca_key in (_status(h).get("files") or [])]
    unfinished = saved.get("primary", "") if saved and not saved.get("finished", True) else ""
    primary = (
        named
        or (observed[0] if len(observed) == 1 else "")
        or unfinished
        or (holders[0] if len(holders) == 1 and _var(variables, "generate") else "")
    )
    good = len(observed) <= 1 and primary in names and (not observed or observed == [primary]) and primary in database
    if good:
        return primary, None
    return primary, (
        "Cannot tell the primary. Status shows %s as primary%s. Exactly one node of the play must be the primary; "
        "it must hold a database (cms_database). When every node is already removed from the cluster, name it "
        "with db_cluster_rebuild_primary (an inventory hostname). Nothing was changed."
        % (", ".join(observed) or "no node", ", but db_cluster_rebuild_primary is %s" % named if named else "")
    )


def unknown_members(hosts: list[dict[str, Any]]) -> list[str]:
    """Addresses a status lists that no host of the play is (by its own status or its ``cms_address``)."""
    known = {_status(h).get("local_address") for h in hosts} | {h.get("address") for h in hosts}
    listed: list[str] = []
    for h in hosts:
        for entry in (_status(h).get("cluster_status") or {}).get("nodes") or []:
            if entry.get("address") and entry["address"] not in listed:
                listed.append(entry["address"])
    return [a for a in listed if a not in known]


def primary_address(primary: dict[str, Any], variables: dict[str, Any]) -> tuple[str, str | None]:
    """The address the other nodes ``join``/``connect`` to; a given one must be one of the primary's."""
    given = _var(variables, "primary_address")
    own = [
        _status(primary).get("local_address") or "",
        primary.get("address") or "",
        primary.get("fqdn") or "",
        primary.get("ansible_host") or "",
        primary["name"],
    ]
    if not given:
        return next((a for a in own[:3] if a), ""), None
    if given in own:
        return given, None
    # join/connect go to this address only after every node has left the cluster: an address that is not the
    # primary's would leave the replicas removed and unable to join.
    return given, (
        "db_cluster_rebuild_primary_address %s is not an address of the primary %s (known: %s). Leave it empty to "
        "use the address the cluster status shows, or set cms_address / cms_fqdn of %s to the address the other "
        "nodes reach it at. Nothing was changed."
        % (given, primary["name"], ", ".join(a for a in own if a), primary["name"])
    )


# ------------------------------------------------------------------------------------------------------------
# Serial, mode and target
# ------------------------------------------------------------------------------------------------------------
def generated_names(variables: dict[str, Any], serial: str) -> dict[str, str]:
    server, client, ca = (_var(variables, n) for n in ("server_basename", "client_basename", "ca_basename"))
    return {
        "server_key": "%s-%s.key" % (server, serial),
        "server_cert": "%s-%s.crt" % (server, serial),
        "client_key": "%s-%s.key" % (client, serial),
        "client_cert": "%s-%s.crt" % (client, serial),
        "ca_cert": "%s-%s.crt" % (ca, serial),
    }


def provided_names(variables: dict[str, Any]) -> dict[str, str]:
    certs, srcs = _var(variables, "certs") or {}, _var(variables, "certs_src") or {}
    return {k: certs.get(k) or posixpath.basename(srcs.get(k) or "") for k in CERT_KEYS}


def backup_name(variables: dict[str, Any], serial: str) -> str:
    return _var(variables, "backup_name") or "before-dbcerts-%s" % serial


def serial_uses(
    serial: str, variables: dict[str, Any], hosts: list[dict[str, Any]], backups: list[str], saved: dict[str, Any]
) -> list[str]:
    """Where ``serial`` was used already: its generated files or its default backup on a node or the controller."""
    uses = ["the run record (%s)" % ("finished" if saved.get("finished", True) else "unfinished")]
    if saved.get("serial") != serial:
        uses = []
    names = set(generated_names(variables, serial).values()) | {"%s-%s.key" % (_var(variables, "ca_basename"), serial)}
    bak = "before-dbcerts-%s.bak" % serial
    for h in hosts:
        found = sorted((names | {bak}) & set(_status(h).get("files") or []))
        if found:
            uses.append("%s on %s" % (", ".join(found), h["name"]))
    uses += ["%s on the controller" % b for b in backups if posixpath.basename(b) == bak]
    return uses


def fresh_serial(
    now: str, variables: dict[str, Any], hosts: list[dict[str, Any]], backups: list[str], saved: dict[str, Any]
) -> str:
    """``now`` (UTC ``YYYYMMDDhhmm``), or ``now-2``, ``now-3`` ... when a run of the same minute used it."""
    serial, count = now, 1
    while serial_uses(serial, variables, hosts, backups, saved):
        count += 1
        serial = "%s-%d" % (now, count)
    return serial


def _details_due(status: dict[str, Any], renew_within_days: int) -> list[str]:
    """Why the certificates a node runs on are due: missing, expired or expiring within the renewal window."""
    why: list[str] = []
    certs = status.get("certificates") or {}
    missing = [k for k in CERT_KEYS if not certs.get(k)]
    if missing:
        why.append("no %s in its status" % ", ".join(missing))
    details = status.get("certificate_details") or {}
    for key in CERT_FILES:
        info = details.get(key) or {}
        name = info.get("file") or certs.get(key)
        if info.get("expired"):
            why.append("%s expired on %s" % (name, info.get("not_after")))
        elif "days_left" not in info:
            if certs.get(key):
                why.append("%s could not be read" % name)
        elif int(info["days_left"]) <= renew_within_days:
            why.append("%s expires in %s days (renewal within %d)" % (name, info["days_left"], renew_within_days))
    return why


def is_resume(variables: dict[str, Any], saved: dict[str, Any]) -> bool:
    """An unfinished run is resumed when this run asks for the same kind of certificates (and, if it names a
    serial, the same serial): a relaunch with the same variables continues it, whatever ``force`` says."""
    if not saved or saved.get("finished", True):
        return False
    serial = _var(variables, "serial")
    if serial and serial != saved.get("serial"):
        return False
    if _var(variables, "generate"):
        return saved.get("mode") in ("generate", "adopt")
    return saved.get("mode") == "provided" and saved.get("target") == provided_names(variables)


# ------------------------------------------------------------------------------------------------------------
# What each node needs
# ------------------------------------------------------------------------------------------------------------
def node_needs(host: dict[str, Any], plan: dict[str, Any], variables: dict[str, Any], transfer: str) -> dict[str, Any]:
    """Role, files and the arguments of cms_db_cluster / check_certs for one node."""
    database = bool(host.get("database", True))
    is_primary = host["name"] == plan["primary"]
    keys = CERT_KEYS if database else CLIENT_KEYS
    target = plan["target"]
    files = dict(target) if database else {**target, "server_key": None, "server_cert": None}
    args: dict[str, Any] = {k: target[k] for k in keys}
    if plan["mode"] == "provided":
        srcs = _var(variables, "certs_src") or {}
        args.update({k + "_src": srcs[k] for k in keys if srcs.get(k)})
    elif not is_primary:
        # Every node but the primary gets the files the primary's CA made through the controller.
        args.update({k + "_src": posixpath.join(transfer, target[k]) for k in keys})
    args["server_cert_names"] = plan["server_cert_names"] if database else []
    return {
        "wanted": "primary" if is_primary else ("replica" if database else "client"),
        "database": database,
        "files": files,
        "cert_args": args,
    }


def _why_not_right(
    host: dict[str, Any], need: dict[str, Any], primary_status: dict[str, Any], uploads: list[str]
) -> list[str]:
    status = _status(host)
    why: list[str] = []
    if not status.get("healthy"):
        text = (status.get("cluster_status") or {}).get("status_text") or status.get("state") or "unknown"
        why.append("not healthy (%s, %s)" % (status.get("state"), text))
    elif status.get("state") != need["wanted"]:
        why.append("%s, should be %s" % (status.get("state"), need["wanted"]))
    if status.get("certificates") != need["files"]:
        why.append("not on the target files")
    if need["wanted"] != "primary" and status.get("primary_address") != primary_status.get("local_address"):
        why.append("uses %s, not the primary" % status.get("primary_address"))
    if uploads:
        why.append("needs %s uploaded" % ", ".join(uploads))
    return why


# ------------------------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------------------------
def _choose_target(
    variables: dict[str, Any], saved: dict[str, Any], resume: bool, force: bool, primary: dict[str, Any], serial: str
) -> tuple[str, dict[str, Any], str]:
    """``(mode, target, reason)``: resume the recorded target, use the provided files, keep the generated ones a
    healthy cluster runs on while they are not due (adopt), or generate new ones."""
    status = _status(primary)
    if resume:
        why = "resumes the run %s begun %s (%s)" % (
            saved.get("serial"),
            saved.get("started") or "earlier",
            saved.get("reason") or "recorded",
        )
        return saved["mode"], dict(saved["target"]), why
    forced = "forced (db_cluster_rebuild_force)"
    if not _var(variables, "generate"):
        return "provided", provided_names(variables), forced if force else "the provided certificates"
    due = _details_due(status, int(_var(variables, "renew_within_days")))
    if not force and status.get("state") == "primary" and status.get("healthy") and not due:
        return "adopt", dict(status["certificates"]), "the certificates in use are not due"
    if force:
        why = forced
    elif status.get("state") != "primary" or not status.get("healthy"):
        why = "the primary %s is not a healthy primary (%s)" % (primary["name"], status.get("state"))
    else:
        why = "%s: %s" % (primary["name"], "; ".join(due))
    return "generate", generated_names(variables, serial), why


def _pki_names(variables: dict[str, Any], primary: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The subjects the primary's built-in CA writes (``pki selfsigned``, ``pki csr``), from its inventory names."""
    fqdn = primary.get("fqdn") or primary["name"]
    domain = primary.get("domain") or (fqdn.split(".", 1)[1] if "." in fqdn else fqdn)
    server_cn = _var(variables, "server_cn") or fqdn
    san = list(_var(variables, "server_san") or []) or list(dict.fromkeys([server_cn, *names]))
    return {
        "ca_cn": _var(variables, "ca_cn") or domain,
        "server_cn": server_cn,
        "server_san": san,
        "client_cn": _var(variables, "client_cn"),
    }


def _check_pki_names(pki: dict[str, Any], primary: str) -> list[str]:
    problems: list[str] = []
    for key in ("ca_cn", "server_cn"):
        what = "%s%s (by default from the cms_fqdn / cms_domain of the primary %s)" % (PREFIX, key, primary)
        _validation(problems, validate_common_name, pki[key], what)
    for entry in pki["server_san"]:
        _validation(
            problems, validate_san_entry, entry, PREFIX + "server_san (by default the database nodes' cms_fqdn)"
        )
    return problems


def _fresh_run_problems(
    plan: dict[str, Any],
    variables: dict[str, Any],
    hosts: list[dict[str, Any]],
    backups: list[str],
    saved: dict[str, Any],
) -> list[str]:
    """A new run gets new certificates and a new backup: a serial or backup name used before is refused."""
    problems: list[str] = []
    serial = plan["serial"]
    if plan["mode"] == "generate":
        uses = serial_uses(serial, variables, hosts, backups, saved)
        if uses:
            problems.append(
                "db_cluster_rebuild_serial %s was used before (%s): a new rebuild makes new certificates under a new "
                "serial. Leave db_cluster_rebuild_serial empty (the UTC time is used) or give one not used before. "
                "Nothing was changed." % (serial, "; ".join(uses))
            )
    if _var(variables, "backup"):
        name = plan["backup_name"] + ".bak"
        taken = [
            "%s/backups/%s on the controller" % (plan["work_dir"], b) for b in backups if posixpath.basename(b) == name
        ]
        taken += ["%s on %s" % (name, h["name"]) for h in hosts if name in (_status(h).get("files") or [])]
        if taken:
            problems.append(
                "The backup name %s is taken (%s). A backup is never replaced, and an old one is never passed off "
                "as the backup before this run: leave db_cluster_rebuild_backup_name empty (each run gets "
                "before-dbcerts-<serial>) or give a name not used before. Nothing was changed."
                % (plan["backup_name"], "; ".join(taken))
            )
    return problems


def _plan_nodes(
    plan: dict[str, Any],
    variables: dict[str, Any],
    hosts: list[dict[str, Any]],
    force: bool,
    checks: dict[str, Any],
    backups: list[str],
    saved_backups: dict[str, Any],
) -> None:
    """Per node: what it needs, whether it is already right (and why not), and whether its backup is due."""
    by_name = {h["name"]: h for h in hosts}
    pstatus = _status(by_name[plan["primary"]])
    transfer = posixpath.join(plan["work_dir"], "transfer")

    def uploads(name: str) -> list[str]:
        return list((checks.get(name) or {}).get("uploads_needed") or [])

    primary_ok = (
        not force
        and pstatus.get("state") == "primary"
        and bool(pstatus.get("healthy"))
        and pstatus.get("certificates") == plan["target"]
        and not uploads(plan["primary"])
    )
    nodes: dict[str, Any] = {}
    for host in hosts:
        need = node_needs(host, plan, variables, transfer)
        why = _why_not_right(host, need, pstatus, uploads(host["name"]))
        if not primary_ok and not why:
            why = ["forced" if force else "the primary %s is rebuilt" % plan["primary"]]
        need["right"] = primary_ok and not why
        need["why"] = why
        bak = "%s/%s.bak" % (host["name"], plan["backup_name"])
        path = posixpath.join(plan["work_dir"], "backups", bak)
        need["backup"] = {
            "path": path,
            # A copy already on the controller is this run's (a fresh run with a taken name is refused).
            "kept": (saved_backups.get(host["name"]) or {"path": path}) if bak in backups else None,
            "due": bool(_var(variables, "backup")) and bak not in backups,
        }
        nodes[host["name"]] = need
    plan["nodes"] = nodes
    plan["pending"] = [h["name"] for h in hosts if not nodes[h["name"]]["right"]]
    plan["rebuild"] = bool(plan["pending"])


def _summary(plan: dict[str, Any], variables: dict[str, Any]) -> str:
    if not plan["rebuild"]:
        text = (
            "Nothing to do: every node is healthy in the cluster of %s on certificates valid for more than %s days."
            % (
                plan["primary"],
                _var(variables, "renew_within_days"),
            )
        )
        return text + (" The unfinished run %s is closed." % plan["serial"] if plan["resumed"] else "")
    why = "; ".join("%s: %s" % (n, ", ".join(plan["nodes"][n]["why"])) for n in plan["pending"])
    return "Rebuild %s (primary %s at %s) on %s (%s). Why: %s; %s." % (
        ", ".join(plan["pending"]),
        plan["primary"],
        plan["primary_address"],
        " ".join(v for v in plan["target"].values() if v),
        plan["mode"],
        plan["reason"],
        why,
    )


def whole_cluster_problems(hosts: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The play must hold exactly one cluster, all of it: never two (``cms_cluster``, where set), never a slice.

    A sliced job (AWX job slicing gives each slice ``hosts[k::n]`` of the inventory) or a ``--limit`` holds only
    part of a cluster: the statuses then list members no host of the play is.  Connect-only nodes that no status
    lists are not seen this way; grouping every cluster (``cms_cluster``) and limiting to the group covers them.
    """
    problems = []
    clusters: dict[str, list[str]] = {}
    for h in hosts:
        if h.get("cluster"):
            clusters.setdefault(str(h["cluster"]), []).append(h["name"])
    if len(clusters) > 1:
        problems.append(
            _problem(
                "clusters",
                "The play holds nodes of %d clusters (cms_cluster): %s. A rebuild takes one cluster: run it once per "
                "cluster, limited to the cluster's group (for example -l <cluster group>), or as one job per cluster. "
                "Nothing was changed."
                % (len(clusters), "; ".join("%s: %s" % (c, ", ".join(names)) for c, names in sorted(clusters.items()))),
            )
        )
    unknown = unknown_members(hosts)
    if unknown:
        problems.append(
            _problem(
                "members",
                "The cluster lists %s, which no host of this play is (by its status or its cms_address): the play holds "
                "only part of the cluster (a --limit, or a sliced job: job slicing gives each slice part of the "
                "inventory). Run the rebuild as one job per cluster, not sliced; limit to the cluster's group, or set "
                "cms_address on each host. Nothing was changed." % ", ".join(unknown),
            )
        )
    return problems


def _check_primary_address(plan: dict[str, Any], variables: dict[str, Any], primary: dict[str, Any]) -> None:
    """The address the others reach the primary at."""
    address, problem = primary_address(primary, variables)
    plan["primary_address"] = address
    if problem:
        plan["problems"].append(_problem("address", problem))


def plan_rebuild(request: dict[str, Any]) -> dict[str, Any]:
    """The whole plan of one run; ``problems`` (each ``{check, msg}``) say why it must not start.

    ``request``: ``vars`` (the role variables without their ``db_cluster_rebuild_`` prefix), ``hosts`` (per node,
    in play order: ``name``, ``database``, ``address`` (cms_address), ``fqdn``, ``domain``, ``ansible_host`` and
    ``status``, its cms_db_cluster_info result), ``saved`` (the run record), ``now`` (UTC ``YYYYMMDDhhmm``),
    ``work_dir``, ``controller_backups`` (``<host>/<file>`` under ``<work_dir>/backups``) and, in provided mode
    once checked, ``provided_checks`` (per node, its ``check_certs`` report).
    """
    variables = request.get("vars") or {}
    hosts = list(request.get("hosts") or [])
    saved = request.get("saved") or {}
    backups = list(request.get("controller_backups") or [])
    plan: dict[str, Any] = {"problems": [], "rebuild": False, "work_dir": request.get("work_dir") or ""}
    plan["problems"] = [_problem("variables", p) for p in check_variables(variables)]
    if plan["problems"]:
        return plan
    plan["problems"] = whole_cluster_problems(hosts)
    if plan["problems"]:
        return plan
    resume = is_resume(variables, saved)
    force = bool(_var(variables, "force")) and not resume  # one-shot: a relaunch resumes the forced run
    serial = _var(variables, "serial") or (saved["serial"] if resume else "")
    serial = serial or fresh_serial(request["now"], variables, hosts, backups, saved)
    primary, problem = choose_primary(hosts, variables, saved, serial)
    plan.update(primary=primary, serial=serial, resumed=resume, force=force)
    if problem:
        plan["problems"].append(_problem("primary", problem))
        return plan
    by_name = {h["name"]: h for h in hosts}
    _check_primary_address(plan, variables, by_name[primary])
    given_names = _var(variables, "server_cert_names")
    names = (
        list(given_names)
        if given_names is not None
        else [h["fqdn"] for h in hosts if h.get("database", True) and h.get("fqdn")]
    )
    mode, target, reason = _choose_target(variables, saved, resume, force, by_name[primary], serial)
    plan.update(mode=mode, target=target, reason=reason, server_cert_names=names)
    plan["backup_name"] = (
        saved["backup_name"] if resume and saved.get("backup_name") else backup_name(variables, serial)
    )
    plan["pki"] = _pki_names(variables, by_name[primary], names)
    if mode == "generate":
        plan["problems"] += [_problem("names", p) for p in _check_pki_names(plan["pki"], primary)]
    _plan_nodes(
        plan,
        variables,
        hosts,
        force,
        request.get("provided_checks") or {},
        backups,
        (saved.get("backups") or {}) if resume else {},
    )
    if plan["rebuild"] and not resume:
        plan["problems"] += [_problem("fresh", p) for p in _fresh_run_problems(plan, variables, hosts, backups, saved)]
    plan["close_record"] = plan["rebuild"] or bool(saved and not saved.get("finished", True))
    plan["record"] = _record(plan, saved, resume, request["now"])
    plan["summary"] = _summary(plan, variables)
    if request.get("certificate_checks") is not None:
        plan["certificates"] = certificates_verdict(plan, request["certificate_checks"], saved)
    return plan


def _record(plan: dict[str, Any], saved: dict[str, Any], resume: bool, now: str) -> dict[str, Any]:
    """The run record written before the first change: what a re-run after a stop needs to continue this run."""
    keys = ("serial", "primary", "primary_address", "mode", "target", "server_cert_names", "pending", "rebuild")
    record = {k: plan[k] for k in keys}
    record.update(
        backup_name=plan["backup_name"],
        reason=plan["reason"],
        force=bool(saved.get("force")) if resume else plan["force"],
        started=saved.get("started", now) if resume else now,
        resumed_by=[*saved.get("resumed_by", []), now] if resume else [],
        backups=dict(saved.get("backups") or {}) if resume else {},
        rebuild_started=bool(saved.get("rebuild_started")) if resume else False,
        finished=False,
    )
    return record


def certificates_verdict(plan: dict[str, Any], checks: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """Whether the set each node will use passed its check; when not, the message and whether the run is closed.

    A run stopped here has changed no node of the cluster yet (unless it resumes one that had): it is closed, so
    that the next run makes new certificates under a new serial. Certificates dated by a node clock that runs
    ahead stay "not valid before" until that date, so resuming them would fail the same way after the fix.
    """
    failed = {n: r.get("problems") or [] for n, r in checks.items() if r and not r.get("ok", True)}
    if not failed:
        return {"ok": True, "msg": "", "close": False}
    started = bool(saved.get("rebuild_started")) and bool(plan.get("resumed"))
    lines = ["%s: %s" % (n, "; ".join(p)) for n, p in failed.items()]
    hint = ""
    if any("not valid before" in p for ps in failed.values() for p in ps):
        hint = (
            " The certificates are dated in the future: the clock of %s (whose built-in CA made them) or of the "
            "controller is wrong. Check both clocks (ntp)." % plan.get("primary")
        )
    if started:
        after = (
            "Some nodes had already left the cluster in an earlier attempt of this run, so it stays open: fix the "
            "cause and run again to resume, or set db_cluster_rebuild_serial to a new value to make new "
            "certificates (every node is then rebuilt on them)."
        )
    else:
        after = (
            "No node of the cluster was changed. This run (serial %s) is closed: once the cause is fixed, run the "
            "playbook again; it makes new certificates under a new serial." % plan.get("serial")
        )
    msg = "The new certificates cannot be used: %s.%s %s" % (" | ".join(lines), hint, after)
    return {"ok": False, "msg": msg, "close": not started}
