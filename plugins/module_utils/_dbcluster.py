# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``database cluster`` verb set: logic behind cms_db_cluster and cms_db_cluster_info.

Everything is decided from ``database cluster status`` as the node prints it (parsed by ``_parsers``): what the
node is now (``observe``), what the wanted state needs (``_plan``), and when a transition has finished (``_wait``).
Rules from TechNote 216549 and docs/dev/mmp_reference.md#db-cluster-rebuild:

* certificates cannot change while clustering is enabled [H], so ``certs`` needs a node that was removed first;
* ``remove``, ``initialize``, ``join`` (and [GUESS] ``connect``) ask ``(Y/n)`` and proceed only on a capital ``Y``
  [H]; the prompt returns while the node works in the background [H], so the module polls the status;
* the client certificate's CN must contain ``postgres`` [H, TN 210530].

Certificate files can be given as controller paths (``*_src``): they are uploaded over SFTP (SHA-256 verified by
the transport) under their node names, and only when the node's copy differs.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api import API_SPEC, api_configured
from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import PRIVATE_FILES_SPEC, ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._calls import GUARD_OFF_WARNING, GUARD_SPEC, NodeGuard
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    db_cluster_certs,
    db_cluster_connect,
    db_cluster_initialize,
    db_cluster_join,
    db_cluster_localnode,
    db_cluster_remove,
    db_cluster_status,
    validate_address,
    validate_file_name,
    validate_interface,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpCommandError,
    MmpError,
    MmpTimeout,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import (
    ensure_private_dir,
    read_controller_file,
    sha256_hex,
    write_private_file,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import (
    db_cluster_member,
    parse_db_cluster_status,
    to_iso_utc,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import SessionRunner, require_libraries
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import expects_confirmation
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import (
    cert_info,
    key_matches_cert,
    load_certificates,
    load_private_key,
    normalize_upload,
    san_covers,
    utcnow,
    verify_chain,
)

CERT_KEYS = ("server_key", "server_cert", "client_key", "client_cert", "ca_cert")
CLIENT_KEYS = ("client_key", "client_cert", "ca_cert")
SERVER_KEYS = ("server_key", "server_cert")
CERT_LABELS = {
    "server_key": "server key",
    "server_cert": "server certificate",
    "client_key": "client key",
    "client_cert": "client certificate",
    "ca_cert": "CA certificate",
}
# [H] TN 210530: "the client certificate CN must contain postgres".
CLIENT_CN_WORD = "postgres"
# A certificate issued a few minutes ago on a node whose clock runs ahead of the controller is still good.
CLOCK_SKEW = datetime.timedelta(minutes=10)
ENABLED_STATES = ("primary", "replica", "client", "enabled")
# The transition each wanted state starts, and the status word it shows meanwhile ([H] Disabling; [GUESS] others).
TRANSITIONS = {"absent": "remove", "primary": "initialize", "joined": "join", "connected": "connect"}
# The transitions that restart the Call Bridge and Web Admin, cutting the node's meetings: the call guard runs first.
GUARDED_STATES = ("absent", "primary", "joined")


# ------------------------------------------------------------------------------------------------------------
# What the status says
# ------------------------------------------------------------------------------------------------------------
def observe(status: dict[str, Any]) -> dict[str, Any]:
    """The node's place in the cluster, from a parsed ``database cluster status``.

    ``state``: ``disabled``, ``busy`` (a transition is running), ``error``, ``primary``, ``replica``, ``client``
    (Enabled without a ``(me)`` line: a node that only connects [GUESS shape]), or ``enabled`` (a role this
    module does not recognise).  ``healthy``: the primary sees itself connected as primary; a replica is in sync;
    a connect-only node sees the primary connected.  ``certificates`` maps each role to its file name (``None``
    when the status has no such line); ``expired`` lists the files marked ``(expired)`` [H].
    """
    nodes = status.get("nodes") or []
    me = next((n for n in nodes if n.get("me")), None)
    word = status.get("status")
    if status.get("transition"):
        state = "busy"
    elif word == "disabled":
        state = "disabled"
    elif word == "error":
        state = "error"
    elif word == "enabled":
        if me is None:
            state = "client"
        else:
            state = {"primary": "primary", "replica": "replica"}.get(me.get("role") or "", "enabled")
    else:
        state = "unknown"
    in_use = status.get("node_in_use")
    primary_entry = next((n for n in nodes if n["address"] == in_use), None)
    primary_ok = bool(primary_entry and primary_entry["role"] == "primary" and primary_entry["connected"])
    if state == "primary":
        healthy = bool(me and me["connected"])
    elif state == "replica":
        healthy = bool(me and me["in_sync"]) and primary_ok
    elif state == "client":
        healthy = primary_ok
    else:
        healthy = False
    primaries = [n["address"] for n in nodes if n["role"] == "primary"]
    if len(primaries) > 1:
        # Two nodes each acting as primary is a split cluster, whatever this node's own line says.
        healthy = False
    certs = status.get("certificates") or {}
    return {
        "state": state,
        "enabled": state in ENABLED_STATES or (state == "error" and db_cluster_member(status)),
        "healthy": healthy,
        "transition": status.get("transition"),
        "primary_address": in_use,
        "local_address": me["address"] if me else None,
        "interface": status.get("interface"),
        "certificates": {key: (certs.get(key) or {}).get("file") for key in CERT_KEYS},
        "expired": [c["file"] for c in certs.values() if c and c.get("expired")],
        "in_sync_replicas": [n["address"] for n in nodes if n["role"] == "replica" and n["in_sync"]],
        "primaries": primaries,
        "last_command": status.get("last_command"),
        "error": status.get("error"),
    }


def read_status(session: Any) -> tuple[dict[str, Any], str]:
    output = session.run(db_cluster_status(), check=False)
    return parse_db_cluster_status(output), output


def _same_command(a: str | None, b: str) -> bool:
    return a is not None and a.split() == b.split()


def _wait(
    session: Any,
    what: str,
    done: Any,
    timeout: float,
    poll: float,
    command: str | None = None,
    progress: Callable[..., None] | None = None,
) -> tuple[dict[str, Any], float]:
    """Poll the status until ``done(status, observed)``; fail at once when ``command`` is reported Failed.

    Returns the last status and the seconds waited.  The timeout error shows the last status as printed.
    ``progress`` (``CmsModule.progress``, rate-limited there) hears every poll: node, what, state seen, time so far.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        read_at = time.monotonic()
        status, output = read_status(session)
        seen = observe(status)
        last = status.get("last_command") or {}
        failed = (last.get("result") or "").lower() == "failed"
        if command and failed and not seen["transition"] and _same_command(last.get("command"), command):
            raise MmpCommandError(
                "%s failed on %s (the status reports it Failed%s; status %s)"
                % (command, session.name, ": " + status["error"] if status.get("error") else "", status["status_text"]),
                node=session.name,
                command=command,
                output=output,
                hint=_failure_hint(command),
            )
        if done(status, seen):
            return status, time.monotonic() - start
        if progress is not None:
            elapsed = time.monotonic() - start
            progress(
                "%s: waiting for %s: the status shows %s after %ds (timeout %ds)"
                % (session.name, what, seen["transition"] or _describe_state(seen), elapsed, timeout),
                elapsed=elapsed,
            )
        if time.monotonic() >= deadline:
            raise MmpTimeout(
                "%s: %s did not happen within %ss; the last database cluster status was:\n%s"
                % (session.name, what, int(timeout), output.strip("\n")),
                node=session.name,
                command=command or db_cluster_status(),
                output=output,
                hint="Raise timeout if the node is only slow, or check the node and the primary, then run again: "
                "the module continues from the state it finds.",
            )
        time.sleep(max(0.0, read_at + poll - time.monotonic()))  # one read every ``poll`` seconds, its time included


def _failure_hint(command: str) -> str:
    if command.split()[2:3] in (["join"], ["connect"]):
        return (
            "A node joins or connects only when the primary is initialized and reachable, and both sides' "
            "certificates are valid and issued by the same CA. Check the primary's status and the certificate files, "
            "remove this node (state: absent), then try again."
        )
    return "Check the node with database cluster status, then run again."


# ------------------------------------------------------------------------------------------------------------
# Certificate files
# ------------------------------------------------------------------------------------------------------------
def cert_file_spec() -> dict[str, Any]:
    """``server_key`` ... ``ca_cert`` (node file names), their ``*_src`` (controller paths), ``server_cert_names``."""
    spec: dict[str, Any] = {}
    for key in CERT_KEYS:
        spec[key] = {"type": "str", "no_log": False}
        spec[key + "_src"] = {"type": "path", "no_log": False}
    spec["server_cert_names"] = {"type": "list", "elements": "str"}
    return spec


def resolve_cert_files(params: dict[str, Any], what: str = "") -> dict[str, dict[str, Any]]:
    """``{role: {name, src, data}}`` for every certificate option given; raises on a bad or incomplete set.

    A node name defaults to the file name of its ``*_src``.  The set is either the five files of a node that
    holds a database or the three (client key and certificate, CA) of a node that only connects [H].
    """
    files: dict[str, dict[str, Any]] = {}
    for key in CERT_KEYS:
        name, src = params.get(key), params.get(key + "_src")
        if not name and not src:
            continue
        if not name:
            name = os.path.basename(str(src))
        name = validate_file_name(name, what + key)
        data = None
        if src:
            data = read_controller_file(src, "%s%s_src" % (what, key))
            data = normalize_upload(data, "%s%s_src %s" % (what, key, src), key.endswith("_key"))
        files[key] = {"name": name, "src": src, "data": data}
    by_name: dict[str, dict[str, Any]] = {}
    for key, entry in files.items():
        other = by_name.setdefault(entry["name"], entry)
        if other is not entry and other["data"] != entry["data"]:
            raise MmpValidationError(
                "%s%s and another certificate option both name the node file %s but with different contents; give "
                "each file its own name" % (what, key, entry["name"])
            )
    if files:
        missing = [k for k in CLIENT_KEYS if k not in files]
        if missing or (("server_key" in files) != ("server_cert" in files)):
            raise MmpValidationError(
                "%sincomplete certificate set (%s given): give client_key, client_cert and ca_cert (the 3-file form "
                "of a node that only connects), plus server_key and server_cert on a node that holds a database "
                "(each as a node file name, or as a controller path in its *_src option)"
                % (what, ", ".join(files) or "none")
            )
    return files


def certs_command(files: dict[str, dict[str, Any]]) -> str:
    names = {key: entry["name"] for key, entry in files.items()}
    return db_cluster_certs(
        names["client_key"], names["client_cert"], names["ca_cert"], names.get("server_key"), names.get("server_cert")
    )


def _describe(cert: Any, now: datetime.datetime) -> dict[str, Any]:
    info = cert_info(cert, now)
    keys = ("subject", "issuer", "common_name", "san", "serial", "not_before", "not_after", "days_left", "expired")
    out = {k: info[k] for k in keys}
    out["fingerprint_sha256"] = info["fingerprint_sha256"]
    out["public_key_sha256"] = info["public_key_sha256"]
    return out


def check_cert_files(
    contents: dict[str, bytes | None],
    names: dict[str, str],
    server_cert_names: list[str] | None = None,
    now: datetime.datetime | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """``(problems, details)`` of a database cluster certificate set (``contents`` ``None`` = file missing).

    Checked: every file present and readable, each key matches its certificate, both certificates chain to the
    CA file and none of them is expired or not yet valid, the client CN contains ``postgres`` [H], and the server
    certificate's SAN covers ``server_cert_names``.  ``details`` describes each certificate (never a key).
    """
    now = now or utcnow()
    problems: list[str] = []
    details: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    for key, data in contents.items():
        name = names[key]
        label = "%s %s" % (CERT_LABELS[key], name)
        if data is None:
            problems.append("%s is missing" % label)
            continue
        try:
            if key.endswith("_key"):
                loaded[key] = load_private_key(data, name)
            else:
                loaded[key] = load_certificates(data, name)
        except MmpError as exc:
            problems.append("%s: %s" % (label, exc.message))
            continue
        if not key.endswith("_key"):
            details[key] = dict(_describe(loaded[key][0], now), file=name, sha256=sha256_hex(data))
    cas = loaded.get("ca_cert")
    for kind in ("server", "client"):
        if kind + "_cert" in loaded:
            problems += _pair_problems(kind, loaded, names, details[kind + "_cert"], server_cert_names, now)
    if cas is not None:
        for ca in cas:
            problem = _validity(ca, now, "CA certificate %s" % names["ca_cert"])
            if problem:
                problems.append(problem)
    return problems, details


def _pair_problems(
    kind: str,
    loaded: dict[str, Any],
    names: dict[str, str],
    info: dict[str, Any],
    server_cert_names: list[str] | None,
    now: datetime.datetime,
) -> list[str]:
    """What is wrong with the ``server`` or ``client`` key and certificate of a set (see ``check_cert_files``)."""
    key_role, cert_role = kind + "_key", kind + "_cert"
    chain, cas = loaded[cert_role], loaded.get("ca_cert")
    cert = chain[0]
    label = "%s %s" % (CERT_LABELS[cert_role], names[cert_role])
    problems = []
    if key_role in loaded and not key_matches_cert(loaded[key_role], cert):
        problems.append("%s does not belong to %s %s" % (label, CERT_LABELS[key_role], names[key_role]))
    problem = _validity(cert, now, label)
    if problem:
        problems.append(problem)
    if cas is not None:
        ok, reason = verify_chain(cert, chain[1:] + cas, _check_time(cert, cas, now))
        if not ok:
            problems.append("%s does not chain to the CA certificate %s: %s" % (label, names["ca_cert"], reason))
    if kind == "client" and CLIENT_CN_WORD not in (info.get("common_name") or ""):
        problems.append(
            "%s has CN %r; the client certificate's CN must contain %r (TN 210530)"
            % (label, info.get("common_name"), CLIENT_CN_WORD)
        )
    if kind == "server" and server_cert_names:
        missing = san_covers(cert, list(server_cert_names))
        if missing:
            problems.append(
                "%s does not cover %s in its subjectAltName (it has %s); the database nodes reach each other by "
                "these names" % (label, ", ".join(missing), ", ".join(info["san"]) or "no SAN")
            )
    return problems


def _validity(cert: Any, now: datetime.datetime, label: str) -> str | None:
    info = cert_info(cert, now)
    not_before = datetime.datetime.fromisoformat(info["not_before"].replace("Z", "+00:00"))
    if info["expired"]:
        return "%s expired on %s" % (label, info["not_after"])
    if not_before > now + CLOCK_SKEW:
        return "%s is not valid before %s (check the clocks of the node and of the controller)" % (
            label,
            info["not_before"],
        )
    return None


def _check_time(cert: Any, cas: list[Any], now: datetime.datetime) -> datetime.datetime:
    """``now``, or a moment later when a certificate was issued within the clock skew (see ``CLOCK_SKEW``)."""
    latest = now
    for c in [cert, *cas]:
        start = datetime.datetime.fromisoformat(cert_info(c, now)["not_before"].replace("Z", "+00:00"))
        if now < start <= now + CLOCK_SKEW and start > latest:
            latest = start
    return latest


def gather_cert_contents(session: Any, files: dict[str, dict[str, Any]], listing: list[str]) -> dict[str, bytes | None]:
    """Each file's bytes: its ``*_src`` on the controller when given, else the node's copy (``None`` if absent)."""
    contents: dict[str, bytes | None] = {}
    for key, entry in files.items():
        if entry["data"] is not None:
            contents[key] = entry["data"]
        elif entry["name"] in listing:
            contents[key] = session.download(entry["name"])
        else:
            contents[key] = None
    return contents


def pending_uploads(session: Any, files: dict[str, dict[str, Any]], listing: list[str]) -> list[str]:
    """The roles whose ``*_src`` differs from (or is missing as) the node's file of that name."""
    pending = []
    for key, entry in files.items():
        if entry["data"] is None:
            continue
        if entry["name"] not in listing or sha256_hex(session.download(entry["name"])) != sha256_hex(entry["data"]):
            pending.append(key)
    return pending


def validation_report(
    session: Any, files: dict[str, dict[str, Any]], listing: list[str], server_cert_names: list[str] | None
) -> dict[str, Any]:
    contents = gather_cert_contents(session, files, listing)
    names = {key: entry["name"] for key, entry in files.items()}
    problems, details = check_cert_files(contents, names, server_cert_names)
    return {"ok": not problems, "problems": problems, "certificates": details}


# ------------------------------------------------------------------------------------------------------------
# cms_db_cluster
# ------------------------------------------------------------------------------------------------------------
DB_CLUSTER_ARGS = ArgumentSpec(
    {
        "state": {"type": "str", "required": True, "choices": ["absent", "certs", "primary", "joined", "connected"]},
        "primary": {"type": "str"},
        "interface": {"type": "str", "default": "a"},
        "validate_certs": {"type": "bool", "default": True},
        "remove_first": {"type": "bool", "default": False},
        "timeout": {"type": "int", "default": 300},
        "poll_interval": {"type": "float", "default": 0.3},
        **cert_file_spec(),
        **API_SPEC,
        **GUARD_SPEC,
    },
    required_if=[("state", "joined", ("primary",)), ("state", "connected", ("primary",))],
)


def _certs_match(current: dict[str, str | None], files: dict[str, dict[str, Any]]) -> bool:
    """The node is configured with exactly these files (the 3-file form shows no server lines [GUESS])."""
    return all(current.get(key) == (files[key]["name"] if key in files else None) for key in CERT_KEYS)


def _primary_matches(seen: dict[str, Any], primary: str | None, verb: str) -> bool:
    """``primary`` is the node in use, or the node this one last joined/connected to with success."""
    if primary is None:
        return False
    if seen["primary_address"] == primary:
        return True
    last = seen["last_command"] or {}
    command = "database cluster %s %s" % (verb, primary)
    return _same_command(last.get("command"), command) and (last.get("result") or "").lower() == "success"


def reached(state: str, seen: dict[str, Any], primary: str | None = None) -> bool:
    """Whether a node observed as ``seen`` is in the wanted ``state`` (certificates aside)."""
    if state == "absent":
        return seen["state"] == "disabled"
    if state == "primary":
        return seen["state"] == "primary" and seen["healthy"]
    if state == "joined":
        return seen["state"] == "replica" and seen["healthy"] and _primary_matches(seen, primary, "join")
    if state == "connected":
        return seen["state"] == "client" and seen["healthy"] and _primary_matches(seen, primary, "connect")
    return False


def _describe_state(seen: dict[str, Any]) -> str:
    text = {
        "primary": "the primary",
        "replica": "a replica" + ("" if seen["healthy"] else " (not in sync)"),
        "client": "connected to the cluster" + ("" if seen["healthy"] else " (primary not connected)"),
        "enabled": "Enabled",
        "error": "in the Error state" + (" and still a member of the cluster" if seen.get("enabled") else ""),
        "disabled": "Disabled",
    }.get(seen["state"], seen["state"])
    if seen["primary_address"] and seen["state"] in ("replica", "client"):
        text += " of %s" % seen["primary_address"]
    return text


@dataclass(frozen=True)
class ClusterRequest:
    """What cms_db_cluster is asked for, checked before anything connects."""

    state: str
    files: dict[str, dict[str, Any]]
    interface: str = "a"
    primary: str | None = None
    validate_certs: bool = True
    server_cert_names: list[str] | None = None
    timeout: float = 300.0
    poll: float = 0.3
    certs_command: str = ""  # database cluster certs with these files ("" without files)
    transition_command: str = ""  # what starts the transition to ``state`` ("" for certs)
    remove_first: bool = False  # a node still clustered leaves first (remove), in the same session


def cluster_request(params: dict[str, Any]) -> ClusterRequest:
    state = params["state"]
    files = resolve_cert_files(params)
    if state == "certs" and not files:
        raise MmpValidationError(
            "state certs needs the certificate files: client_key, client_cert and ca_cert, plus server_key and "
            "server_cert on a node that holds a database (names on the node, or controller paths in *_src)"
        )
    if state == "absent" and files:
        raise MmpValidationError("state absent takes no certificate files; remove them from the task")
    if state == "absent" and params.get("remove_first"):
        raise MmpValidationError("remove_first is for the states that follow a removal; state absent is the removal")
    if state == "joined" and files and "server_key" not in files:
        raise MmpValidationError(
            "a node that joins the cluster holds a database: give server_key and server_cert too (the 5-file "
            "form); a node without a database uses state connected"
        )
    interface = validate_interface(params["interface"])
    primary = validate_address(params["primary"], "primary") if params.get("primary") else None
    transition = {
        "absent": db_cluster_remove,
        "primary": db_cluster_initialize,
        "joined": lambda: db_cluster_join(primary) if primary else "",
        "connected": lambda: db_cluster_connect(primary) if primary else "",
        "certs": lambda: "",
    }[state]()
    certs_cmd = certs_command(files) if files else ""
    if params["timeout"] <= 0 or params["poll_interval"] <= 0:
        raise MmpValidationError("timeout and poll_interval must be positive")
    return ClusterRequest(
        state,
        files,
        interface=interface,
        primary=primary,
        validate_certs=params["validate_certs"],
        server_cert_names=params.get("server_cert_names"),
        timeout=float(params["timeout"]),
        poll=float(params["poll_interval"]),
        certs_command=certs_cmd,
        transition_command=transition,
        remove_first=bool(params.get("remove_first")),
    )


def plan_cluster(request: ClusterRequest, before: dict[str, Any], uploads: list[str], node: str) -> list[str]:
    """The commands that take a node observed as ``before`` to ``request``; pure (TechNote 216549's rules).

    ``uploads``: the roles whose ``*_src`` differs from the node's file. Raises when the node must first leave the
    cluster (certificates cannot change while clustering is enabled) or has no certificates to cluster with.
    """
    files, state = request.files, request.state
    certs_ok = not files or (_certs_match(before["certificates"], files) and not uploads)
    if request.remove_first and state != "absent" and _must_leave(state, before, certs_ok, request.primary):
        # The node leaves its cluster first (TechNote 216549: the primary last, after every other node), then is
        # planned as the Disabled node it will be, with the certificates and interface it keeps.
        left = dict(before, state="disabled", enabled=False, healthy=False, primary_address=None)
        return [db_cluster_remove(), *plan_cluster(replace(request, remove_first=False), left, uploads, node)]
    if state == "absent":
        return [request.transition_command] if before["state"] != "disabled" else []
    if state == "certs":
        if _must_leave(state, before, certs_ok, request.primary):
            raise _enabled_error(node, before, "change the database cluster certificates")
        return [] if certs_ok else [request.certs_command]
    if reached(state, before, request.primary) and certs_ok:
        return []
    if _must_leave(state, before, certs_ok, request.primary):
        raise _enabled_error(node, before, "make it %s" % _wanted_text(state, request.primary))
    if not files and not _has_certs(before, state):
        raise MmpValidationError(
            "%s has no database cluster certificates configured; give the certificate files (server_key, "
            "server_cert, client_key, client_cert, ca_cert, or the 3-file client form for state connected)" % node
        )
    if certs_ok:
        _refuse_expired(node, before, state)
    commands = [] if certs_ok else [request.certs_command]
    if before["interface"] != request.interface:
        commands.append(db_cluster_localnode(request.interface))
    return [*commands, request.transition_command]


def _must_leave(state: str, before: dict[str, Any], certs_ok: bool, primary: str | None) -> bool:
    """Whether ``plan_cluster`` would refuse the node as clustered: it must leave its cluster before ``state``."""
    if state == "certs":
        return not certs_ok and before["state"] != "disabled"
    if reached(state, before, primary) and certs_ok:
        return False
    # A node in the Error state outside any cluster (a failed join) may join or connect again with the
    # certificates it has; one whose status still shows its membership is clustered, and must leave first.
    return bool(
        before["enabled"]
        or before["state"] not in ("disabled", "error")
        or (before["state"] == "error" and not certs_ok)
    )


class DbCluster:
    """cms_db_cluster on one node: ``read_state`` -> ``plan`` -> ``apply`` -> ``dump`` (see ``SessionRunner``)."""

    def __init__(self, module: Any, session: MmpSession, request: ClusterRequest) -> None:
        self.module = module
        self.session = session
        self.request = request
        self.status: dict[str, Any] = {}
        self.before: dict[str, Any] = {}
        self.waited = 0.0
        self.listing: list[str] = []
        self.uploads: list[str] = []
        self.uploaded: list[str] = []
        self.commands: list[str] = []
        self.certificates: dict[str, Any] | None = None
        self.diff: dict[str, Any] | None = None
        self.guard: NodeGuard | None = None

    def read_state(self) -> None:
        self.status, _output = read_status(self.session)
        if observe(self.status)["transition"]:
            # A transition started earlier (a run cut short) finishes before anything is decided.
            self.status, self.waited = _wait(
                self.session,
                "the running transition to finish",
                lambda s, o: not o["transition"],
                self.request.timeout,
                self.request.poll,
                progress=getattr(self.module, "progress", None),
            )
        self.before = observe(self.status)
        files = self.request.files
        self.listing = self.session.listdir() if files else []
        self.uploads = pending_uploads(self.session, files, self.listing) if files else []

    def plan(self) -> list[str]:
        request = self.request
        self.commands = plan_cluster(request, self.before, self.uploads, self.session.name)
        certs_cmd = request.certs_command
        if not (certs_cmd and certs_cmd in self.commands):
            self.uploads = []  # uploaded only when database cluster certs is to run
        if self.commands and certs_cmd in self.commands and request.validate_certs:
            report = validation_report(self.session, request.files, self.listing, request.server_cert_names)
            if not report["ok"]:
                raise MmpValidationError(
                    "%s: the database cluster certificate files are not usable, nothing was changed:\n- %s"
                    % (self.session.name, "\n- ".join(report["problems"]))
                )
            self.certificates = report["certificates"]
        self._guard()
        if self.module._diff:
            names = [request.files[key]["name"] for key in self.uploads]
            self.diff = _diff(
                self.before, request.state, request.files, request.primary, request.interface, self.commands, names
            )
        return self.commands

    def _guard(self) -> None:
        """The call guard, before a transition that cuts the node's meetings; a skip leaves the node untouched."""
        if not self._disruptive():
            return
        if not api_configured(self.module.params):
            self.module.warn(GUARD_OFF_WARNING)
            return
        progress = getattr(self.module, "progress", None) or self.module.log
        self.guard = NodeGuard.from_params(self.module.params, self.session.name, self.module.check_mode, progress)
        if not self.guard.check():
            self.commands, self.uploads = [], []  # left for a later run: nothing changes on this node

    def _disruptive(self) -> list[str]:
        """The commands of the plan that cut the node's meetings: a remove, and the transition of a guarded state."""
        cutting = {db_cluster_remove()}
        if self.request.state in GUARDED_STATES:
            cutting.add(self.request.transition_command)
        return [command for command in self.commands if command in cutting]

    def apply(self) -> None:
        request, session = self.request, self.session
        for key in self.uploads:
            session.upload(request.files[key]["name"], request.files[key]["data"])
            self.uploaded.append(request.files[key]["name"])
        disruptive = self._disruptive()
        transitions = {db_cluster_remove(): "absent", request.transition_command: request.state}
        for index, command in enumerate(self.commands):
            if command in disruptive and self.guard is not None:
                # The legs again before each step that cuts them, unless nothing ran since the decision read them
                # (no upload, no command): a participant who joined meanwhile is waited for too.
                untouched = not (self.uploaded or index)
                if not untouched and not self.guard.last_look():
                    # Skipped: the certificates (if any) are configured; a remove already done stays done.
                    self.commands = self.commands[:index]
                    return
                self.guard.record_dropped(decision_is_last_read=untouched)  # the first step's legs only
            session.run(command, confirm=True if expects_confirmation(command) else None)
            if command in transitions:
                self._wait_for(command, transitions[command], last=index == len(self.commands) - 1)
        if request.state == "certs" and self.commands:
            self.status, output = read_status(session)
            if not _certs_match(observe(self.status)["certificates"], request.files):
                raise MmpCommandError(
                    "%s did not take the certificates: its status still shows %s"
                    % (session.name, observe(self.status)["certificates"]),
                    node=session.name,
                    command=request.certs_command,
                    output=output,
                )

    def _wait_for(self, command: str, state: str, last: bool) -> None:
        """Wait for the transition ``command`` started to reach ``state``; after the last one, the health gate."""
        request = self.request
        self.status, seconds = _wait(
            self.session,
            "%s reaching %s" % (command, _wanted_text(state, request.primary)),
            lambda s, o: reached(state, o, request.primary),
            request.timeout,
            request.poll,
            command=command,
            progress=getattr(self.module, "progress", None),
        )
        self.waited += seconds
        if self.guard is not None and last:
            # A node that ends as primary or replica must see every database node up and in sync.
            in_sync = request.state in ("primary", "joined")
            self.guard.gate_after(database_in_sync=in_sync, timeout=request.timeout, poll_interval=request.poll)

    def dump(self) -> dict[str, Any]:
        applied = bool(self.commands) and not self.module.check_mode
        result: dict[str, Any] = {
            "changed": bool(self.commands),
            "commands": self.commands,
            "uploaded": self.uploaded if applied else [self.request.files[key]["name"] for key in self.uploads],
            "previous_state": self.before["state"],
        }
        if self.certificates is not None:
            result["certificates"] = self.certificates
        if self.diff is not None:
            result["diff"] = self.diff
        state = observe(self.status)["state"] if applied else self.before["state"]
        result.update(state=state, cluster_status=self.status, waited=round(self.waited, 2))
        result["call_guard"] = self.guard.as_dict() if self.guard is not None else None
        return result


def run_cluster(module: Any) -> None:
    require_libraries(module, cryptography=True)
    try:
        request = cluster_request(module.params)
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    SessionRunner(module).run(lambda session: DbCluster(module, session, request))


def _refuse_expired(node: str, seen: dict[str, Any], state: str) -> None:
    """Refuse to cluster onto certificate files the status marks ``(expired)``.

    [H] TN 216549: when the database certificates expire the cluster nodes stop talking to each other, so a
    cluster formed on them fails at once; the status names such files with ``(expired)`` [H].
    """
    keys = CLIENT_KEYS if state == "connected" else CERT_KEYS
    names = {seen["certificates"].get(key) for key in keys}
    expired = [name for name in seen["expired"] if name in names]
    if expired:
        raise MmpValidationError(
            "%s: cannot %s: its database cluster certificates %s are marked (expired) in database cluster status, "
            "and nodes cannot talk to each other on expired certificates. Give new certificate files (server_key, "
            "server_cert, client_key, client_cert, ca_cert or their *_src twins), for example those the "
            "db_cluster_rebuild role makes in its certificates phase, then run this again. Nothing was changed."
            % (node, TRANSITIONS[state], ", ".join(sorted(expired)))
        )


def _has_certs(seen: dict[str, Any], state: str) -> bool:
    keys = CLIENT_KEYS if state == "connected" else CERT_KEYS
    return all(seen["certificates"].get(key) for key in keys)


def _wanted_text(state: str, primary: str | None) -> str:
    return {
        "absent": "removed from the cluster (Disabled)",
        "primary": "the primary of a new cluster",
        "joined": "a replica of %s, in sync" % primary,
        "connected": "connected to the cluster of %s" % primary,
        "certs": "configured with the certificates",
    }[state]


def _enabled_error(node: str, seen: dict[str, Any], action: str) -> MmpCommandError:
    # [H] TN 216549: "Cannot change certificates when clustering enabled. Disable clustering on this node first".
    return MmpCommandError(
        "%s is %s: cannot %s while clustering is enabled on it. Remove it from the cluster first with state: absent "
        "(replicas first, the primary last), then run this again. Nothing was changed."
        % (node, _describe_state(seen), action),
        node=node,
    )


def _diff(
    before: dict[str, Any],
    state: str,
    files: dict[str, dict[str, Any]],
    primary: str | None,
    interface: str,
    commands: list[str],
    uploads: list[str],
) -> dict[str, Any]:
    wanted_certs = (
        {key: (files[key]["name"] if key in files else None) for key in CERT_KEYS} if files else before["certificates"]
    )
    after = {
        "state": {
            "absent": "disabled",
            "certs": before["state"],
            "primary": "primary",
            "joined": "replica",
            "connected": "client",
        }[state],
        "certificates": wanted_certs,
        "interface": interface if state in ("primary", "joined", "connected") else before["interface"],
        "primary": primary or before["primary_address"],
        "commands": commands,
        "uploads": uploads,
    }
    return {
        "before": {
            "state": before["state"],
            "certificates": before["certificates"],
            "expired": before["expired"],
            "interface": before["interface"],
            "primary": before["primary_address"],
        },
        "after": after,
    }


# ------------------------------------------------------------------------------------------------------------
# cms_db_cluster_info
# ------------------------------------------------------------------------------------------------------------
DB_CLUSTER_INFO_ARGS = ArgumentSpec(
    {
        "wait": {"type": "bool", "default": False},
        "timeout": {"type": "int", "default": 300},
        "poll_interval": {"type": "float", "default": 0.3},
        "describe_certificates": {"type": "bool", "default": False},
        "check_certs": {"type": "dict", "options": cert_file_spec()},
        "fetch": {"type": "list", "elements": "str"},
        "fetch_dest": {"type": "path"},
        **PRIVATE_FILES_SPEC,
    },
    required_together=[("fetch", "fetch_dest")],
)


class DbClusterInfo:
    """cms_db_cluster_info on one node: reads everything in ``read_state``; ``apply`` only writes ``fetch``."""

    def __init__(
        self, module: Any, session: MmpSession, check: dict[str, dict[str, Any]] | None, fetch: list[str]
    ) -> None:
        self.module = module
        self.p = module.params
        self.session = session
        self.check = check
        self.fetch = fetch
        self.result: dict[str, Any] = {}
        self.fetched_data: dict[str, bytes] = {}

    def read_state(self) -> None:
        p, session = self.p, self.session
        status, _output = read_status(session)
        waited = 0.0
        if p["wait"] and observe(status)["transition"]:
            status, waited = _wait(
                session,
                "the running transition to finish",
                lambda s, o: not o["transition"],
                float(p["timeout"]),
                float(p["poll_interval"]),
                progress=getattr(self.module, "progress", None),
            )
        seen = observe(status)
        listing = sorted(session.listdir())
        self.result = {"changed": False, "cluster_status": status, "files": listing, "waited": round(waited, 2)}
        self.result.update(seen)
        if p["describe_certificates"]:
            now = utcnow()
            self.result["certificate_details"] = self._describe_configured(seen, listing, now)
            self.result["checked_at"] = to_iso_utc(now)
        if self.check is not None:
            self.result["check_certs"] = self._check_report(seen, listing)
        missing = [name for name in self.fetch if name not in listing]
        if missing:
            raise MmpValidationError(
                "%s: cannot fetch %s: not in the node's file store" % (session.name, ", ".join(missing))
            )
        self.fetched_data = {name: session.download(name) for name in self.fetch}

    def _describe_configured(self, seen: dict[str, Any], listing: list[str], now: datetime.datetime) -> dict[str, Any]:
        described: dict[str, Any] = {}
        for key, name in seen["certificates"].items():
            if not name or key.endswith("_key"):
                continue
            if name not in listing:
                described[key] = {"file": name, "missing": True}
                continue
            data = self.session.download(name)
            try:
                cert = load_certificates(data, name)[0]
            except MmpError as exc:
                described[key] = {"file": name, "error": exc.message}
                continue
            described[key] = dict(_describe(cert, now), file=name, sha256=sha256_hex(data))
        return described

    def _check_report(self, seen: dict[str, Any], listing: list[str]) -> dict[str, Any]:
        check = self.check or {}
        report = validation_report(self.session, check, listing, self.p["check_certs"].get("server_cert_names"))
        report["uploads_needed"] = [check[key]["name"] for key in pending_uploads(self.session, check, listing)]
        report["files"] = {key: entry["name"] for key, entry in check.items()}
        report["configured"] = _certs_match(seen["certificates"], check)
        return report

    def plan(self) -> list[str]:
        return []  # an info module changes nothing on the node

    def apply(self) -> None:
        if self.fetch:
            ensure_private_dir(self.p["fetch_dest"], bool(self.p.get("allow_keys_in_repo")), "fetch_dest")
        for name, data in self.fetched_data.items():
            # Private keys among them: every fetched file is written 0600 in a 0700 directory.
            write_private_file(os.path.join(self.p["fetch_dest"], name), data)

    def dump(self) -> dict[str, Any]:
        if self.fetch:
            self.result["fetched"] = {
                name: {"path": os.path.join(self.p["fetch_dest"], name), "size": len(data), "sha256": sha256_hex(data)}
                for name, data in self.fetched_data.items()
            }
        return self.result


def run_info(module: Any) -> None:
    require_libraries(module, cryptography=True)
    p = module.params
    try:
        check = resolve_cert_files(p["check_certs"], "check_certs.") if p.get("check_certs") else None
        if p.get("check_certs") and not check:
            raise MmpValidationError("check_certs names no certificate file")
        fetch = [validate_file_name(name, "fetch") for name in p.get("fetch") or []]
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    SessionRunner(module).run(lambda session: DbClusterInfo(module, session, check, fetch))
