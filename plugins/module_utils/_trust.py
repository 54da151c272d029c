# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``trust`` verb set: logic behind cms_trust.

A trust store holds the **peer's** CA (docs/dev/mmp_reference.md#trust-stores): the Call Bridge's C2W, cluster,
branding, UCM and IM&P stores, Web Bridge 3's C2W store, the 2.x Web Bridge's store, and the ``tls <name>`` stores.
A CA change must add the new CA to every store first, so the module merges by default (``present``: what the store
trusts now plus the given CAs) and removes a CA only when told to, never while an identity of the node still chains
to it. The bundle goes to a new file name when its content differs: the file the store names now is in use, and it
is what a rollback goes back to.  A Call Bridge takes trust changes at ``callbridge restart`` [H, S6, S12, S17].
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api import CmsApi, api_configured, with_api
from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._calls import (
    GUARD_OFF_WARNING,
    GUARD_SPEC,
    CallPolicy,
    decide,
    preview,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import (
    SERVICES,
    TLS_SERVICES,
    TLS_VERIFY_MODES,
    get_service,
    get_tls_service,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    service_disable,
    service_enable,
    service_restart,
    service_status,
    stopped_service,
    tls_status,
    tls_trust,
    tls_verify,
    trust_store,
    trust_verify,
    validate_file_name,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpCommandError, MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import read_controller_file, sha256_hex
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import parse_service_status, parse_tls_status
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import SessionRunner
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import find_error
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from ansible_collections.cisco_cms.mmp.plugins.module_utils._usage import read_usage
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import (
    certs_to_pem,
    describe,
    fingerprint_sha256,
    issued_by,
    load_certificates,
    name_to_string,
    normalize_upload,
)

TRUST_ARGS = ArgumentSpec(
    with_api(
        {
            "service": {"type": "str", "required": True},
            "store": {"type": "str", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "exact"]},
            "bundle_src": {"type": "path"},
            "bundle": {"type": "str"},
            "remove_src": {"type": "path"},
            "allow_remove": {"type": "bool", "default": False},
            "verify": {"type": "str", "choices": list(TLS_VERIFY_MODES)},
            "restart": {"type": "bool", "default": True},
            "only_if_set": {"type": "bool", "default": False},
            **GUARD_SPEC,
        }
    ),
    required_if=[("state", "exact", ("bundle_src",))],
    required_one_of=[("bundle_src", "remove_src", "verify")],
)


@dataclass(frozen=True)
class Store:
    """One trust store in the admin's words: ``callbridge cluster``, ``webbridge3 c2w``, ``tls sip``."""

    service: str  # a service name, or "tls"
    name: str
    majors: tuple[int, ...]
    field: str  # the status field naming its bundle (``trust`` for a tls store)
    verify_field: str | None
    restarts: str  # the service whose restart applies it

    @property
    def label(self) -> str:
        return "%s %s" % (self.service, self.name)

    def set_command(self, bundle: str) -> str:
        return tls_trust(self.name, bundle) if self.service == "tls" else trust_store(self.service, self.name, bundle)

    def verify_command(self, mode: str) -> str:
        if self.service == "tls":
            return tls_verify(self.name, mode)
        return trust_verify(self.service, self.name, mode == "enable")

    def verify_modes(self) -> tuple[str, ...]:
        if self.verify_field is None:
            return ()
        return TLS_VERIFY_MODES if self.service == "tls" else ("enable", "disable")


def find_store(service: str, name: str) -> Store:
    """The store ``service``/``name`` names; ``MmpValidationError`` listing the stores there are."""
    if service == "tls":
        tls = get_tls_service(name)
        return Store("tls", tls.name, tls.majors, "trust", "verify", "callbridge")
    svc = get_service(service)
    for trust in svc.trusts:
        if trust.name == name:
            return Store(svc.name, trust.name, trust.majors, trust.field, trust.verify_field, svc.name)
    known = ["%s %s" % (s.name, t.name) for s in SERVICES.values() for t in s.trusts]
    known += ["tls %s" % n for n in TLS_SERVICES]
    raise MmpValidationError("%s has no trust store %r; the trust stores are: %s" % (service, name, ", ".join(known)))


@dataclass(frozen=True)
class TrustRequest:
    """What the task asks for, checked and read from the controller before anything connects."""

    store: Store
    state: str = "present"
    add: tuple[Any, ...] = ()  # certificates of bundle_src
    remove: tuple[Any, ...] = ()  # certificates of remove_src
    bundle: str = ""  # the node file name given (``""``: the module chooses)
    source: str = ""
    allow_remove: bool = False
    verify: str | None = None
    restart: bool = True
    only_if_set: bool = False

    @property
    def may_remove(self) -> bool:
        return bool(self.remove) or (self.state == "exact" and self.allow_remove)


def _load(path: str, option: str) -> tuple[Any, ...]:
    raw = read_controller_file(path, option, "Give the controller path of a PEM file holding the CA certificate(s).")
    data = normalize_upload(raw, "%s %s" % (option, path), is_key=False)
    return tuple(load_certificates(data, "%s %s" % (option, path)))


def trust_request(params: dict[str, Any]) -> TrustRequest:
    store = find_store(params["service"], params["store"])
    verify = params.get("verify")
    if verify is not None and verify not in store.verify_modes():
        raise MmpValidationError(
            "verify=%s: the %s trust store %s; leave verify out"
            % (
                verify,
                store.label,
                "takes %s" % " or ".join(store.verify_modes()) if store.verify_modes() else "has no verification mode",
            )
        )
    if params.get("only_if_set") and params["state"] == "exact":
        raise MmpValidationError(
            "only_if_set goes with state=present (add to, or remove from, a store in use); state=exact sets the store"
        )
    if params.get("remove_src") and params["state"] == "exact":
        raise MmpValidationError(
            "remove_src goes with state=present; with state=exact the bundle_src is the whole store, and what it leaves "
            "out is removed when allow_remove=true"
        )
    bundle = params.get("bundle") or ""
    if bundle:
        validate_file_name(bundle, "bundle")
    source = params.get("bundle_src") or ""
    return TrustRequest(
        store=store,
        state=params["state"],
        add=_load(source, "bundle_src") if source else (),
        remove=_load(params["remove_src"], "remove_src") if params.get("remove_src") else (),
        bundle=bundle,
        source=source,
        allow_remove=params["allow_remove"],
        verify=verify,
        restart=params["restart"],
        only_if_set=params.get("only_if_set", False),
    )


# ---------------------------------------------------------------------------------------------------------------
# State and plan (pure)
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Identity:
    """A certificate the node presents (a service part, a database cluster pair) and the chain it is served with."""

    user: str  # ``callbridge cert``, ``database cluster client``
    certs: list[Any]


@dataclass
class TrustState:
    major: int | None = None
    bundle: str | None = None  # the file the store names now
    certs: list[Any] = field(default_factory=list)  # what it trusts now
    verify: str | None = None  # enable/disable/ocsp; None: no verification mode, or not readable
    running: bool = True  # whether the service that applies the store runs (a stopped one takes it at its start)
    listing: dict[str, bytes | None] = field(default_factory=dict)  # node file name -> content when read
    in_use: dict[str, list[str]] = field(default_factory=dict)
    identities: list[Identity] = field(default_factory=list)
    missing: str = ""  # why the store is not there to read (only_if_set: the task leaves it alone)


@dataclass
class TrustPlan:
    commands: list[str] = field(default_factory=list)
    certs: list[Any] = field(default_factory=list)  # what the store trusts after
    added: list[Any] = field(default_factory=list)
    removed: list[Any] = field(default_factory=list)
    bundle: str | None = None  # the file the store names after
    content: bytes | None = None  # the content to upload (None: nothing to upload)
    skipped: str = ""  # only_if_set: why the store was left alone


def _fingerprints(certs: list[Any] | tuple[Any, ...]) -> list[str]:
    return [fingerprint_sha256(c) for c in certs]


def _unique(certs: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for cert in certs:
        fp = fingerprint_sha256(cert)
        if fp not in seen:
            seen.add(fp)
            out.append(cert)
    return out


def chains_to(identity: Identity, ca: Any) -> bool:
    """Whether ``identity`` is served with ``ca`` in its chain or is signed by it (its chain still needs it)."""
    fp = fingerprint_sha256(ca)
    return any(fingerprint_sha256(c) == fp or issued_by(c, ca) for c in identity.certs)


def moved_name(name: str, data: bytes) -> str:
    """A name next to ``name`` that depends only on the content, so a second run finds the same file."""
    stem, ext = os.path.splitext(name)
    return "%s-%s%s" % (stem, sha256_hex(data)[:8], ext)


def _wanted(request: TrustRequest, state: TrustState) -> list[Any]:
    if request.state == "exact":
        return _unique(list(request.add))
    drop = set(_fingerprints(request.remove))
    return [c for c in _unique(state.certs + list(request.add)) if fingerprint_sha256(c) not in drop]


def _refuse_removal(request: TrustRequest, state: TrustState, removed: list[Any]) -> None:
    store = request.store.label
    if not request.may_remove:
        raise MmpValidationError(
            "state=exact would remove %s from the %s trust store; a CA is removed only when asked: set "
            "allow_remove=true once no peer uses it, or use state=present to add only"
            % ("; ".join(describe(c) for c in removed), store)
        )
    users = []
    for ident in state.identities:
        kept = [describe(ca) for ca in removed if chains_to(ident, ca)]
        if kept:
            users.append("%s chains to %s" % (ident.user, " and ".join(kept)))
    if users:
        raise MmpValidationError(
            "the %s trust store keeps %s: an identity of this node still chains to it (%s). Swap those certificates "
            "to the new CA on every node first, then remove the old CA."
            % (store, describe(removed[0]), "; ".join(users))
        )


def _place(request: TrustRequest, state: TrustState, content: bytes) -> tuple[str, bool]:
    """``(name, upload)``: where the bundle goes. A file in use keeps its content (an explicit name is refused)."""
    store = request.store
    wanted = request.bundle or (os.path.basename(request.source) if request.state == "exact" and request.source else "")
    wanted = wanted or "%s-%s-trust.cer" % (store.service, store.name)
    for name in (wanted, moved_name(wanted, content)):
        if name not in state.listing:
            return name, True
        if state.listing[name] == content:
            return name, False
        if not state.in_use.get(name) and name != state.bundle:
            return name, True
        if request.bundle:
            raise MmpValidationError(
                "%s is in use by %s and holds other content; a file in use is never overwritten (it is what a rollback "
                "goes back to). Give another bundle name, e.g. bundle=%s, or leave bundle unset."
                % (name, ", ".join(state.in_use.get(name) or [store.label]), moved_name(wanted, content))
            )
    raise MmpValidationError("cannot find a free name for the %s bundle next to %s" % (store.label, wanted))


def plan_trust(request: TrustRequest, state: TrustState) -> TrustPlan:
    """The bundle, commands and uploads that bring the store to ``request``; pure.

    Raises ``MmpValidationError`` for a removal not asked for, a CA an identity still chains to, an empty result.
    """
    store = request.store
    plan = TrustPlan(certs=state.certs, bundle=state.bundle)
    if request.only_if_set and (state.missing or not state.bundle):
        plan.skipped = state.missing or "the %s trust store is not set (it trusts nothing)" % store.label
        return plan
    if request.add or request.remove:
        wanted = _wanted(request, state)
        before, after = set(_fingerprints(state.certs)), set(_fingerprints(wanted))
        plan.removed = [c for c in state.certs if fingerprint_sha256(c) not in after]
        plan.added = [c for c in wanted if fingerprint_sha256(c) not in before]
        if plan.removed:
            _refuse_removal(request, state, plan.removed)
        if not wanted:
            raise MmpValidationError(
                "the %s trust store would be left empty; give the CA(s) it is to trust in bundle_src" % store.label
            )
        if before != after:
            content = certs_to_pem(wanted)
            name, upload = _place(request, state, content)
            plan.certs, plan.bundle, plan.content = wanted, name, content if upload else None
            plan.commands.append(store.set_command(name))
    if request.verify is not None and request.verify != state.verify:
        plan.commands.append(store.verify_command(request.verify))
    if plan.commands and request.restart and state.running:
        plan.commands.extend(restart_commands(store.restarts))
    return plan


def restart_commands(service: str) -> list[str]:
    """What applies a trust change: ``<service> restart``, or ``disable`` then ``enable`` (the 2.x Web Bridge)."""
    if "restart" in get_service(service).lifecycle:
        return [service_restart(service)]
    return [service_disable(service), service_enable(service)]


def _restarts(commands: list[str]) -> bool:
    return any(stopped_service(c) for c in commands)


def cas(certs: list[Any]) -> list[dict[str, str]]:
    return [{"subject": name_to_string(c.subject), "fingerprint_sha256": fingerprint_sha256(c)} for c in certs]


# ---------------------------------------------------------------------------------------------------------------
# The verb set
# ---------------------------------------------------------------------------------------------------------------
class Trust:
    """cms_trust on one node: ``read_state`` -> ``plan`` -> ``apply`` -> ``dump`` (see ``SessionRunner``)."""

    def __init__(self, module: Any, session: MmpSession, request: TrustRequest) -> None:
        self.module = module
        self.session = session
        self.request = request
        self.state = TrustState()
        self.plan_: TrustPlan = TrustPlan()
        self.ran: list[str] = []
        self.uploaded = False
        self.guard: dict[str, Any] | None = None
        self.skipped_busy = False
        # The service is down from the restart (or the 2.x Web Bridge's disable) until the command that brings it back
        # returns: what the change record reports as this step's outage.
        self.outage = 0.0
        self._down_at: float | None = None

    @property
    def node(self) -> str:
        return str(self.session.name)

    def _read(self, name: str | None) -> bytes | None:
        if not name or name not in self.state.listing:
            return None
        if self.state.listing[name] is None:
            self.state.listing[name] = self.session.download(name)
        return self.state.listing[name]

    def read_state(self) -> None:
        usage = read_usage(self.session)
        store = self.request.store
        self.state.major = usage["major"]
        if self.state.major is not None and self.state.major not in store.majors:
            if self.request.only_if_set:
                self.state.missing = "CMS %s.x has no %s trust store" % (self.state.major, store.label)
                return
            raise MmpValidationError(
                "%s: the %s trust store exists on CMS %s.x only; this node runs %s.x"
                % (self.node, store.label, "/".join(str(m) for m in store.majors), self.state.major)
            )
        self.state.in_use = usage["files"]
        self.state.listing = dict.fromkeys(self.session.listdir())
        if store.service == "tls":
            tls = usage["tls"].get(store.name)
            if (tls is None or not tls["known"]) and self.request.only_if_set:
                self.state.missing = "`tls %s` shows no trust store the module can read" % store.name
                return
            if tls is None or not tls["known"]:
                raise MmpCommandError(
                    "%s: `tls %s` did not answer with a trust store the module can read" % (self.node, store.name),
                    node=self.node,
                    command=tls_status(store.name),
                )
            self.state.bundle, self.state.verify = tls["trust"], _mode(tls["verify"])
        else:
            status = usage["services"].get(store.service)
            if status is None:
                raise MmpCommandError("%s: the node did not show the status of %s" % (self.node, store.service))
            self.state.bundle = status.get(store.field)
            if store.verify_field:
                self.state.verify = _mode(status.get(store.verify_field))
        applier = usage["services"].get(store.restarts) or {}
        self.state.running = applier.get("enabled") is not False
        data = self._read(self.state.bundle)
        if self.state.bundle and data is None and self.request.state != "exact":
            # state=exact does not need what the store held: it sets the whole bundle.
            raise MmpCommandError(
                "%s: the %s trust store names %s, which is not in the node's file store; give the whole bundle with "
                "state=exact" % (self.node, store.label, self.state.bundle)
            )
        self.state.certs = load_certificates(data, "%s on %s" % (self.state.bundle, self.node)) if data else []
        if self.request.may_remove:
            self.state.identities = self._identities(usage)

    def _identities(self, usage: dict[str, Any]) -> list[Identity]:
        """Every certificate the node presents, with its bundle: what must keep chaining to a CA that stays."""
        found = []
        for name, status in usage["services"].items():
            for part in SERVICES[name].parts:
                files = part.files(status)
                found.append(("%s %s" % (name, part.name), [files.get("cert"), files.get("bundle")]))
        for role, cert in ((usage.get("database_cluster") or {}).get("certificates") or {}).items():
            if role.endswith("cert") and cert and cert.get("file"):
                found.append(("database cluster %s" % role, [cert["file"]]))
        ca = ((usage.get("database_cluster") or {}).get("certificates") or {}).get("ca_cert") or {}
        identities = []
        for user, names in found:
            certs: list[Any] = []
            for name in names + ([ca.get("file")] if user.startswith("database") else []):
                data = self._read(name)
                if data:
                    certs.extend(load_certificates(data, "%s on %s" % (name, self.node)))
            if certs:
                identities.append(Identity(user, certs))
        return identities

    def plan(self) -> list[str]:
        try:
            self.plan_ = plan_trust(self.request, self.state)
        except MmpValidationError as exc:
            raise MmpValidationError("%s: %s Nothing was changed." % (self.node, exc.message)) from None
        if self.module.check_mode:
            self._guard(check=True)  # what the guard would decide now: no wait, no change
        return self.plan_.commands

    def apply(self) -> None:
        if not self.plan_.commands:
            return
        if not self._guard(check=False):
            return
        if self.plan_.content is not None and self.plan_.bundle:
            self.session.upload(self.plan_.bundle, self.plan_.content)
            self.uploaded = True
        for command in self.plan_.commands:
            self._run(command)
        self._check_after()

    def _guard(self, check: bool) -> bool:
        """The call guard before a restart that drops calls: False when the policy says to leave the node for later.

        In check mode (``check``) it only previews: the decision it would take now, without waiting or failing.
        """
        if not _restarts(self.plan_.commands):
            return True
        params = self.module.params
        if not api_configured(params):
            self.module.warn(GUARD_OFF_WARNING)
            return True
        api = CmsApi.from_params(params, node=self.node)
        policy = CallPolicy.from_params(params)
        decision = preview(api, policy) if check else decide(api, policy, progress=self.module.warn)
        self.guard = decision.as_dict()
        self.skipped_busy = not check and decision.decision == "skip"
        return decision.proceed

    def _run(self, command: str) -> None:
        word = command.split()[1:]
        if stopped_service(command) and self._down_at is None:
            self._down_at = time.monotonic()
        self.ran.append(command)
        output = self.session.run(command, check=False)
        error = find_error(output)
        if error:
            raise MmpCommandError("%s reported: %s" % (command, error), node=self.node, command=command, output=output)
        if word in (["restart"], ["enable"]) and self._down_at is not None:
            self.outage += time.monotonic() - self._down_at
            self._down_at = None

    def _check_after(self) -> None:
        """The store names the new bundle: read back, as an admin would look at the status."""
        store = self.request.store
        if store.service == "tls":
            now = parse_tls_status(store.name, self.session.run(tls_status(store.name)))
            bundle, verify = now["trust"], _mode(now["verify"])
        else:
            status = parse_service_status(store.service, self.session.run(service_status(store.service)))
            bundle, verify = status.get(store.field), _mode(status.get(store.verify_field or ""))
        wrong = []
        if bundle != self.plan_.bundle:
            wrong.append("it names %s, not %s" % (bundle, self.plan_.bundle))
        if self.request.verify is not None and verify != self.request.verify:
            wrong.append("its verification is %s, not %s" % (verify, self.request.verify))
        if wrong:
            raise MmpCommandError(
                "%s: after the change the %s trust store is not as set: %s" % (self.node, store.label, "; ".join(wrong))
            )

    def dump(self) -> dict[str, Any]:
        plan, store = self.plan_, self.request.store
        result: dict[str, Any] = {
            # A node left for a later run (the call guard's skip) did not change.
            "changed": bool(plan.commands) and not self.skipped_busy,
            "store": store.label,
            "commands": plan.commands,
            "bundle": plan.bundle,
            "previous_bundle": self.state.bundle,
            "uploaded": self.uploaded,
            "trusted": cas(plan.certs),
            "added": cas(plan.added),
            "removed": cas(plan.removed),
            # Of bundle_src, what the store trusted before: a peer whose chain holds one of them is trusted already.
            "already_trusted": cas(
                [c for c in self.request.add if fingerprint_sha256(c) in set(_fingerprints(self.state.certs))]
            ),
            "verify": self.request.verify or self.state.verify,
            "restarted": _restarts(self.ran),
            "outage_seconds": round(self.outage, 3),
            "call_guard": self.guard,
        }
        if self.skipped_busy:
            result["skipped_busy"] = True
        if plan.skipped:
            result["skipped_store"] = plan.skipped
        if self.module._diff and plan.commands:
            result["diff"] = {
                "before": {"bundle": self.state.bundle, "trusted": cas(self.state.certs), "verify": self.state.verify},
                "after": {
                    "bundle": plan.bundle,
                    "trusted": cas(plan.certs),
                    "verify": result["verify"],
                    "commands": plan.commands,
                },
            }
        return result


def _mode(value: Any) -> str | None:
    """A verification mode as the commands write it: True/``enabled`` -> ``enable``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "enable" if value else "disable"
    word = str(value).strip().lower()
    return {"enabled": "enable", "disabled": "disable"}.get(word, word)


def run_trust(module: Any) -> None:
    try:
        request = trust_request(module.params)
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    SessionRunner(module, cryptography=True).run(lambda session: Trust(module, session, request))
