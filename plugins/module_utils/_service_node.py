# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Several services of one node in one ``cms_service_certs`` call (option ``services``), on one SSH session.

What an admin does at one node: log in once, read every status once, then the services one after the other, each
with the checks, outage and rollback of ``_services.ServiceCertificates``. The node's state is read once and shared;
what a change made stale (the changed service's status and the files it names) is read again before the next
service. The node's lock is taken once for the call and, on request, released when it ends (``release_lock``), so
a role needs no separate lock calls. The C2W peer check of the role's preflight (``c2w_peer_chains``) is answered
from the same state.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import SERVICES, Service, get_service
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpConnectError,
    MmpError,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import read_controller_file
from ansible_collections.cisco_cms.mmp.plugins.module_utils._lock import DEFAULT_TTL as LOCK_TTL
from ansible_collections.cisco_cms.mmp.plugins.module_utils._lock import acquire as acquire_lock
from ansible_collections.cisco_cms.mmp.plugins.module_utils._lock import release as release_lock
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import SessionRunner
from ansible_collections.cisco_cms.mmp.plugins.module_utils._services import (
    NodeFile,
    NodeView,
    ServiceCertificates,
    ServiceCertsFailure,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from ansible_collections.cisco_cms.mmp.plugins.module_utils._usage import read_usage, service_files
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import (
    describe,
    fingerprint_sha256,
    load_certificates,
    normalize_upload,
)

NOT_REACHED = "not reached: an earlier service of this node failed"


@dataclass
class Entry:
    """One entry of ``services``: its service, its files read on the controller and its options over the call's."""

    service: Service
    files: dict[str, NodeFile]
    params: dict[str, Any]


def entry_params(top: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The options one service runs with: the call's, then the entry's. ``names`` adds to the call's names (names
    every service must cover); ``tls_check`` unset in the entry is the call's."""
    params = dict(top)
    for option, value in entry.items():
        if value is not None and option not in ("names", "tls_check"):
            params[option] = value
    params["names"] = list(dict.fromkeys([*(top.get("names") or []), *(entry.get("names") or [])]))
    if entry.get("tls_check") is not None:
        params["tls_check"] = entry["tls_check"]
    return params


def check_entries(services: list[dict[str, Any]]) -> None:
    """Each service once: two entries for one service would swap it twice in one call."""
    seen: set[str] = set()
    for index, entry in enumerate(services, 1):
        if entry["service"] in seen:
            raise MmpValidationError(
                "services entry %d repeats %s; give each service once (merge the two entries)"
                % (index, entry["service"])
            )
        seen.add(entry["service"])
    if not services:
        raise MmpValidationError("services is empty; give at least one service entry, or leave the task out")


def peer_chains(paths: list[str]) -> list[tuple[str, list[Any]]]:
    """The controller chain files of ``c2w_peer_chains``, read, each content once: ``[(path, certificates)]``."""
    chains: list[tuple[str, list[Any]]] = []
    seen: set[tuple[str, ...]] = set()
    for path in paths:
        raw = read_controller_file(
            path, "c2w_peer_chains", "Give the controller path of each node's new C2W certificate chain."
        )
        certs = load_certificates(normalize_upload(raw, "c2w_peer_chains %s" % path, False), path)
        key = tuple(sorted(fingerprint_sha256(c) for c in certs))
        if key not in seen:
            seen.add(key)
            chains.append((path, certs))
    return chains


def untrusted_chains(trusted: list[Any], chains: list[tuple[str, list[Any]]]) -> list[str]:
    """The chains of which the store (``trusted``: its certificates) holds no certificate: pure."""
    held = {fingerprint_sha256(c) for c in trusted}
    return [path for path, certs in chains if not any(fingerprint_sha256(c) in held for c in certs)]


def refresh_usage(usage: dict[str, Any], name: str, status: dict[str, Any]) -> None:
    """After ``name`` changed: its new status, and the files it names, in the usage read at the start."""
    usage["services"][name] = status
    prefix = name + " "
    files = usage["files"]
    for file_name in list(files):
        files[file_name] = [user for user in files[file_name] if not user.startswith(prefix)]
        if not files[file_name]:
            del files[file_name]
    for role, file_name in service_files(status).items():
        files.setdefault(file_name, []).append("%s %s" % (name, role))


@dataclass
class NodeServices:
    """The services of one call, in order, on one session."""

    module: Any
    session: MmpSession
    entries: list[Entry]
    runner: SessionRunner
    results: list[dict[str, Any]] = field(default_factory=list)
    lock_held: bool = False
    own_run_id: str | None = None
    peer_check: dict[str, Any] | None = None

    @property
    def p(self) -> dict[str, Any]:
        return dict(self.module.params)

    @property
    def node(self) -> str:
        return str(self.session.name)

    # ---- the lock ---------------------------------------------------------------------------------------------
    def take_lock(self) -> None:
        """Take (or refresh) the node's lock once for the whole call."""
        if self.lock_held or self.module.check_mode:
            return
        run_id = self.p.get("run_id")
        if not run_id:
            self.own_run_id = run_id = "cms_service_certs-%s" % secrets.token_hex(6)
        taken = acquire_lock(
            self.session,
            run_id,
            "cms_service_certs %s" % " ".join(e.service.name for e in self.entries),
            self.p.get("lock_ttl") or LOCK_TTL,
            break_lock=self.p["break_lock"],
            break_hint="service_certs_break_lock: true (break_lock: true on cms_service_certs)",
            tied_to_process=True,
        )
        for warning in taken["warnings"]:
            self.module.warn(warning)
        self.lock_held = True

    def _release(self, in_place: bool, failed: bool) -> bool:
        """Release the lock as ``release_lock`` says (always the call's own one); whether it was released."""
        mode = self.p["release_lock"]
        if not self.lock_held:
            return False
        if self.own_run_id is None and not (mode == "end" or (mode == "if_unchanged" and in_place and not failed)):
            return False
        try:
            released = release_lock(self.session, self.own_run_id or self.p["run_id"])
        except Exception as exc:  # noqa: BLE001 - after a failure the connection may be gone in any way
            self.module.warn("%s: could not release the node's lock (%s); it expires on its own" % (self.node, exc))
            return False
        for warning in released["warnings"]:
            self.module.warn(warning)
        self.lock_held = False
        return bool(released["released"])

    # ---- the call ---------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        # The run's lock comes first: a node another run holds fails before anything else is read or written.
        if self.p["release_lock"] != "never":
            self.take_lock()
        failure: MmpError | None = None
        try:
            usage = read_usage(self.session)
            view = NodeView()
            failure = self._services(usage, view)
            if failure is None and self.p["c2w_peer_chains"]:
                failure = self._check_peers(usage, view)
        except MmpError as exc:
            failure = exc
        in_place = failure is None and all(r.get("in_place") for r in self.results)
        released = self._release(in_place, failure is not None)
        result = self._result(in_place, released)
        if failure is not None:
            if isinstance(failure, MmpConnectError) and not self.results:
                raise failure
            raise ServiceCertsFailure(failure.message, result, node=failure.node, hint=failure.hint)
        return result

    def _services(self, usage: dict[str, Any], view: NodeView) -> MmpError | None:
        """Each service in order; the first failure stops a rollout (a preflight checks them all)."""
        failure: MmpError | None = None
        busy = ""
        for entry in self.entries:
            if failure is not None and (self.p["state"] == "present" or not isinstance(failure, MmpValidationError)):
                self.results.append(_not_reached(entry, NOT_REACHED))
                continue
            if busy:
                # A busy node keeps its other services too: the next run picks the node up whole.
                self.results.append(_not_reached(entry, busy, skipped=True))
                continue
            job = ServiceCertificates(self.module, self.session, entry.service, entry.files, entry.params, view)
            job.runner = self.runner
            try:
                result = job.run(usage, lock=self._lock_for_job)
            except ServiceCertsFailure as exc:
                result = {**exc.result, "failed": True, "msg": exc.full_message()}
                failure = failure or exc
            except MmpError as exc:
                result = {**_not_reached(entry, ""), "failed": True, "msg": exc.full_message(), "reached": True}
                failure = failure or exc
            self.session = job.session  # a rollback may have reconnected
            self.results.append(result)
            if job.ran and not result.get("failed"):
                refresh_usage(usage, entry.service.name, job.status_now())
            guard = result.get("call_guard") or {}
            if guard.get("decision") == "skip":
                busy = "skipped: %s" % (guard.get("reason") or "the node carries live calls; left for a later run")
        if not isinstance(failure, MmpValidationError):
            return failure
        failed = [r for r in self.results if r.get("failed")]
        if len(failed) > 1:
            return MmpValidationError(
                "%d services failed their checks; no service was touched:\n%s"
                % (len(failed), "\n".join("%s: %s" % (r["service"], r["msg"]) for r in failed))
            )
        return failure

    def _lock_for_job(self) -> None:
        self.take_lock()

    def _check_peers(self, usage: dict[str, Any], view: NodeView) -> MmpError | None:
        """This node's Call Bridge C2W trust holds a CA of every node's new C2W certificate (``c2w_peer_chains``)."""
        trust = SERVICES["callbridge"].c2w_trust
        status = usage["services"].get("callbridge") or {}
        bundle = status.get(trust.field) if trust is not None else None
        if trust is None or usage["major"] not in trust.majors or not bundle:
            return None  # a store that trusts nothing checks nothing (2.x has none)
        if bundle not in view.cache:
            view.cache[bundle] = self.session.download(bundle)
        trusted = load_certificates(view.cache[bundle], "%s on %s" % (bundle, self.node))
        untrusted = untrusted_chains(trusted, peer_chains(self.p["c2w_peer_chains"]))
        self.peer_check = {"bundle": bundle, "trusted": [describe(c) for c in trusted], "untrusted": untrusted}
        if not untrusted:
            return None
        return MmpValidationError(
            "The Call Bridge C2W trust of %s (%s) holds no CA of %s: once a web bridge presents that certificate, this "
            "Call Bridge drops its C2W link (web app joins fail). Add the new CA to every node's trust stores first "
            "(the service_certs role: set service_certs_trust_ca_src). Nothing was touched."
            % (self.node, bundle, ", ".join(untrusted)),
            node=self.node,
        )

    def _result(self, in_place: bool, released: bool) -> dict[str, Any]:
        results = self.results
        result: dict[str, Any] = {
            "changed": any(r.get("changed") for r in results),
            "state": self.p["state"],
            "services": results,
            "commands": [c for r in results for c in r.get("commands") or []],
            "outage_seconds": round(sum(float(r.get("outage_seconds") or 0) for r in results), 3),
            "in_place": in_place,
            "lock": {
                "run_id": self.p.get("run_id") or self.own_run_id,
                "taken": self.lock_held or released,
                "released": released,
            },
        }
        if self.peer_check is not None:
            result["c2w_peer_check"] = self.peer_check
        if results and results[0].get("cms_major") is not None:
            result["cms_major"] = results[0]["cms_major"]
        diffs = [r.pop("diff") for r in results if "diff" in r]
        if diffs:
            result["diff"] = diffs
        return result


def _not_reached(entry: Entry, why: str, skipped: bool = False) -> dict[str, Any]:
    """The result of a service the call did not work on: the single-service keys, nothing done."""
    result: dict[str, Any] = {
        "changed": False,
        "service": entry.service.name,
        "state": entry.params["state"],
        "commands": [],
        "checks": [],
        "uploads": [],
        "parts": {},
        "before": None,
        "after": None,
        "outage_seconds": 0.0,
        "notes": [why] if why else [],
        "reasons": [],
        "service_state": {},
        "call_guard": None,
        "in_place": False,
        "reached": False,
    }
    if skipped:
        result["skipped_busy"] = True
    return result


def build_entries(module: Any, request_files: Any) -> list[Entry]:
    """The entries of ``services``, each checked and its controller files read; raises ``MmpValidationError``."""
    check_entries(module.params["services"])
    entries = []
    for index, raw in enumerate(module.params["services"], 1):
        params = entry_params(module.params, raw)
        service = get_service(raw["service"])
        try:
            files = request_files(params, service)
        except MmpValidationError as exc:
            raise MmpValidationError("services entry %d (%s): %s" % (index, service.name, exc.message)) from None
        entries.append(Entry(service, files, params))
    return entries


def run_node_services(module: Any, request_files: Any) -> None:
    """The module call with ``services``: every entry checked before login, then one session for all of them."""
    try:
        if module.params["release_lock"] != "never" and not module.params.get("run_id"):
            raise MmpValidationError(
                "release_lock=%s applies to the lock of run_id; give run_id (without it the call takes a lock of its "
                "own and releases it when it ends anyway)" % module.params["release_lock"]
            )
        entries = build_entries(module, request_files)
        if module.params["c2w_peer_chains"]:
            peer_chains(module.params["c2w_peer_chains"])  # a bad chain file fails before login
    except MmpError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    runner = SessionRunner(module)
    runner.execute(lambda session: NodeServices(module, session, entries, runner).run())
