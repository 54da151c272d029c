# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``pki`` verb set: logic behind cms_pki_csr, cms_pki_sign and cms_pki_info.

Each ``run_*`` takes a module (``AnsibleModule`` or the in-process look-alike of the action plugin), validates
every input before connecting, reads what is on the node, compares it with what is wanted, and only then acts
(never in check mode).  Certificates are parsed on the controller with ``cryptography`` from what SFTP downloads.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    csr_files,
    is_lock_file,
    normalize_san,
    pki_csr,
    pki_list,
    pki_match,
    pki_selfsigned,
    pki_sign,
    pki_verify,
    selfsigned_files,
    signed_cert_file,
    validate_common_name,
    validate_country,
    validate_file_name,
    validate_subject_value,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpCommandError,
    MmpParseError,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import write_atomic
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import (
    parse_match,
    parse_pki_list,
    parse_verify,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import SessionRunner, require_libraries
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import find_error
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from ansible_collections.cisco_cms.mmp.plugins.module_utils._usage import read_usage
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import (
    cert_info,
    csr_info,
    issued_by,
    key_matches_cert,
    load_certificates,
    load_csr,
    load_private_key,
    pem_blocks,
    private_key_info,
    utcnow,
    verify_chain,
)

SUBJECT_OPTIONS = (("cn", "CN"), ("ou", "OU"), ("o", "O"), ("st", "ST"), ("c", "C"))


def _write_dest(
    module: Any, dest: str | None, file_name: str, data: bytes, mode: int = 0o644
) -> tuple[str | None, bool]:
    """Fetch ``data`` to the controller; ``dest`` may be a directory. Returns (path, changed).

    Private keys are written with ``mode=0o600`` from the first byte (and a looser copy already there is tightened).
    """
    if not dest:
        return None, False
    path = os.path.join(dest, file_name) if os.path.isdir(dest) or dest.endswith("/") else dest
    changed = write_atomic(
        path, data, mode, check_mode=module.check_mode, private=mode == 0o600, option="dest", name=file_name
    )
    return path, changed


def suggest_basename(basename: str) -> str:
    """A fresh basename for a renewal: ``webadmin-2025`` -> ``webadmin-2027`` (next year), ``core`` -> ``core-2027``."""
    stem = re.sub(r"[-_]\d{4}$", "", basename)
    return "%s-%d" % (stem, datetime.date.today().year + 1)


def _breaks(users: list[str]) -> str:
    return "it breaks" if len(users) == 1 else "they break"


def _gets(users: list[str]) -> str:
    return "it gets" if len(users) == 1 else "they get"


def _in_use_message(node: str, file_name: str, users: list[str], action: str, basename: str) -> str:
    them = "it" if len(users) == 1 else "them"
    if action == "removing it":
        return (
            "%s: %s is in use by %s; removing it would break %s. Point %s at another key first (apply the new "
            "certificate), or set force: true if breaking %s is intended."
            % (node, file_name, ", ".join(users), them, them, them)
        )
    return (
        "%s: %s is in use by %s; %s would replace it and break %s at once (CMS does not ask). Generate the new "
        "key under a new basename (for example %s) and apply it to the service when its certificate is ready, "
        "or set force: true if breaking %s is intended."
        % (node, file_name, ", ".join(users), action, them, suggest_basename(basename), them)
    )


# ------------------------------------------------------------------------------------------------------------
# cms_pki_csr
# ------------------------------------------------------------------------------------------------------------
PKI_CSR_ARGS = ArgumentSpec(
    {
        "name": {"type": "str", "required": True},
        "cn": {"type": "str"},
        "ou": {"type": "str"},
        "o": {"type": "str"},
        "st": {"type": "str"},
        "c": {"type": "str"},
        "subject_alt_name": {"type": "list", "elements": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "force": {"type": "bool", "default": False},
        "dest": {"type": "path"},
    },
    required_if=[("state", "present", ("cn",))],
)


def _wanted_subject(params: dict) -> dict[str, str]:
    """The subject ``pki csr`` will write, as the node writes it (the country code upper-case)."""
    subject = {}
    for opt, attr in SUBJECT_OPTIONS:
        value = params.get(opt)
        if value is not None:
            # Checked here, before the node is touched, as the pki csr command builder checks them.
            subject[attr] = validate_country(value, "c") if attr == "C" else validate_subject_value(attr, value, opt)
    return subject


def _subject_of(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info["subject_dict"].items() if k in dict(SUBJECT_OPTIONS).values()}


def _san_key(values: list[str]) -> list[str]:
    return sorted(v.lower() for v in values)


@dataclass(frozen=True)
class CsrRequest:
    """What cms_pki_csr is asked for, checked before anything connects."""

    name: str
    key_file: str
    csr_file: str
    state: str = "present"
    force: bool = False
    dest: str | None = None
    command: str = ""  # state absent runs no MMP command
    subject: dict[str, str] = field(default_factory=dict)
    san: list[str] = field(default_factory=list)


def csr_request(params: dict[str, Any]) -> CsrRequest:
    key_file, csr_file = csr_files(params["name"])
    request = CsrRequest(params["name"], key_file, csr_file, params["state"], params["force"], params.get("dest"))
    if params["state"] != "present":
        return request
    subject = _wanted_subject(params)
    command = pki_csr(
        params["name"],
        params["cn"],
        params.get("ou"),
        params.get("o"),
        params.get("st"),
        params.get("c"),
        params.get("subject_alt_name"),
    )
    san = normalize_san(params["cn"], params.get("subject_alt_name"))
    return dataclasses.replace(request, command=command, subject=subject, san=san)


@dataclass
class CsrState:
    """What the node holds: its files, the services using the key, and the CSR it has (``before``)."""

    files: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    before: dict[str, Any] | None = None  # subject/SAN/public key of the CSR there, or its ``error``
    csr_pem: bytes | None = None


@dataclass
class Plan:
    """A pure decision: the MMP ``commands``, the node files to ``remove``, and a ``warning`` for the task."""

    commands: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    warning: str | None = None


def plan_csr(request: CsrRequest, state: CsrState, node: str) -> Plan:
    """What cms_pki_csr does on a node in ``state``; raises rather than break a service that uses the key."""
    users = state.users
    if request.state == "absent":
        present = [f for f in (request.key_file, request.csr_file) if f in state.files]
        if users and not request.force:
            raise MmpValidationError(_in_use_message(node, request.key_file, users, "removing it", request.name))
        warning = None
        if users and present:
            warning = "force: removing %s, in use by %s: %s now, until %s another key" % (
                request.key_file,
                ", ".join(users),
                _breaks(users),
                _gets(users),
            )
        return Plan(remove=present, warning=warning)
    before = state.before or {}
    same = before.get("subject") == request.subject and _san_key(before.get("subject_alt_name", [])) == _san_key(
        request.san
    )
    if "subject" in before and same and not request.force:
        return Plan()
    if users and not request.force:
        action = "pki csr " + request.name
        raise MmpValidationError(_in_use_message(node, request.key_file, users, action, request.name))
    warning = None
    if users:
        warning = "force: pki csr %s replaces %s, in use by %s; %s now, until %s a certificate for the new key" % (
            request.name,
            request.key_file,
            ", ".join(users),
            _breaks(users),
            _gets(users),
        )
    return Plan(commands=[request.command], warning=warning)


class PkiCsr:
    """cms_pki_csr on one node: ``read_state`` -> ``plan`` -> ``apply`` -> ``dump`` (see ``SessionRunner``)."""

    def __init__(self, module: Any, session: MmpSession, request: CsrRequest) -> None:
        self.module = module
        self.session = session
        self.request = request
        self.state = CsrState()
        self.decision = Plan()
        self.csr: dict[str, Any] | None = None  # the CSR the node holds after the call
        self.dest: tuple[str | None, bool] | None = None

    def read_state(self) -> None:
        request, session = self.request, self.session
        self.state.files = session.listdir()
        if request.key_file in self.state.files:
            self.state.users = read_usage(session)["files"].get(request.key_file, [])
        if request.state != "present" or not {request.key_file, request.csr_file} <= set(self.state.files):
            return
        csr_pem = session.download(request.csr_file)
        try:
            info = csr_info(load_csr(csr_pem, request.csr_file))
        except MmpValidationError as exc:
            # A damaged CSR is replaced like one with another subject (the key-in-use check still applies).
            self.state.before = {"error": exc.message}
            return
        self.state.csr_pem = csr_pem
        self.state.before = {
            "subject": _subject_of(info),
            "subject_alt_name": info["san"],
            "public_key_sha256": info["public_key_sha256"],
        }

    def plan(self) -> list[str]:
        self.decision = plan_csr(self.request, self.state, self.session.name)
        if self.decision.warning:
            self.module.warn(self.decision.warning)
        if self.request.state == "present" and not self.decision.commands and self.state.csr_pem is not None:
            self.csr = dict(self.state.before or {}, pem=self.state.csr_pem)
        return self.decision.commands

    def apply(self) -> None:
        request, session = self.request, self.session
        for name in self.decision.remove:
            session.remove(name)
        if self.decision.commands:
            session.run(request.command)
            csr_pem = session.download(request.csr_file)
            info = csr_info(load_csr(csr_pem, request.csr_file))
            got = _subject_of(info)
            if got != request.subject or _san_key(info["san"]) != _san_key(request.san):
                raise MmpCommandError(
                    "the CSR the node wrote does not carry the subject/SAN asked for (got %s %s)" % (got, info["san"]),
                    node=session.name,
                    command=request.command,
                )
            self.csr = {
                "subject": got,
                "subject_alt_name": info["san"],
                "public_key_sha256": info["public_key_sha256"],
                "pem": csr_pem,
            }
        if self.csr is not None:
            self.dest = _write_dest(self.module, request.dest, request.csr_file, self.csr["pem"])

    def dump(self) -> dict[str, Any]:
        request, decision = self.request, self.decision
        result: dict[str, Any] = {
            "changed": bool(decision.commands or decision.remove),
            "commands": decision.commands,
            "name": request.name,
            "key_file": request.key_file,
            "csr_file": request.csr_file,
            "in_use_by": self.state.users,
        }
        if request.state == "absent":
            result["removed"] = decision.remove
        if self.module._diff and (decision.commands or request.state == "absent"):
            result["diff"] = self._diff()
        if self.csr is not None:
            if self.dest is None:  # check mode: where it would go and whether that would change
                self.dest = _write_dest(self.module, request.dest, request.csr_file, self.csr["pem"])
            result.update(
                csr=self.csr["pem"].decode(),
                subject=self.csr["subject"],
                subject_alt_name=self.csr["subject_alt_name"],
                public_key_sha256=self.csr["public_key_sha256"],
                dest=self.dest[0],
            )
            result["changed"] = result["changed"] or self.dest[1]
        return result

    def _diff(self) -> dict[str, Any]:
        request, users = self.request, self.state.users
        if request.state == "absent":
            removed = self.decision.remove
            return {"before": {"files": removed}, "after": {"files": [], "removed": removed, "breaks": users}}
        present = [f for f in (request.key_file, request.csr_file) if f in self.state.files]
        new_key = self.csr["public_key_sha256"] if self.csr is not None else "(new key)"
        return {
            "before": {"files": present, **(self.state.before or {})},
            "after": {
                "files": [request.key_file, request.csr_file],
                "commands": [request.command],
                "subject": request.subject,
                "subject_alt_name": request.san,
                "public_key_sha256": new_key,
                "breaks": users,
            },
        }


def run_csr(module: Any) -> None:
    require_libraries(module, cryptography=True)
    try:
        request = csr_request(module.params)
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    SessionRunner(module).run(lambda session: PkiCsr(module, session, request))


# ------------------------------------------------------------------------------------------------------------
# cms_pki_sign
# ------------------------------------------------------------------------------------------------------------
PKI_SIGN_ARGS = ArgumentSpec(
    {
        "name": {"type": "str", "required": True},
        "ca": {"type": "str"},
        "cn": {"type": "str"},
        "force": {"type": "bool", "default": False},
        "dest": {"type": "path"},
    },
    mutually_exclusive=[("ca", "cn")],
)


def _cert_summary(info: dict[str, Any]) -> dict[str, Any]:
    keys = ("subject", "issuer", "san", "serial", "not_before", "not_after", "days_left", "fingerprint_sha256")
    return {k: info[k] for k in keys}


@dataclass(frozen=True)
class SignRequest:
    """What cms_pki_sign is asked for: ``pki sign <name> <ca>`` with ``ca``, else ``pki selfsigned``."""

    name: str
    command: str
    key_file: str
    cert_file: str
    ca: str | None = None
    cn: str | None = None
    force: bool = False
    dest: str | None = None
    csr_file: str = ""
    ca_key: str = ""
    ca_cert: str = ""

    @property
    def written(self) -> list[str]:
        """pki selfsigned writes <name>.key and <name>.crt; pki sign writes <name>.crt."""
        return [self.cert_file] if self.ca else [self.key_file, self.cert_file]


def sign_request(params: dict[str, Any]) -> SignRequest:
    name, force, dest = params["name"], params["force"], params.get("dest")
    if params.get("ca"):
        ca_key, ca_cert = selfsigned_files(params["ca"])
        return SignRequest(
            name,
            pki_sign(name, params["ca"]),
            name + ".key",
            signed_cert_file(name),
            ca=params["ca"],
            force=force,
            dest=dest,
            csr_file=name + ".csr",
            ca_key=ca_key,
            ca_cert=ca_cert,
        )
    if params.get("cn") is not None:
        validate_common_name(params["cn"], "cn")
    command = pki_selfsigned(name, params.get("cn"))
    key_file, cert_file = selfsigned_files(name)
    return SignRequest(name, command, key_file, cert_file, cn=params.get("cn"), force=force, dest=dest)


@dataclass
class SignState:
    """What the node holds: ``missing`` inputs of pki sign, whether the certificate there is the one the command
    would make again (``current_ok``), its summary, and the services using the files the command writes."""

    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    current: dict[str, Any] | None = None
    current_ok: bool = False
    usage: dict[str, list[str]] = field(default_factory=dict)

    def users(self, written: list[str]) -> list[str]:
        return sorted({u for f in written for u in self.usage.get(f, [])})


def plan_sign(request: SignRequest, state: SignState, node: str) -> Plan:
    """What cms_pki_sign does on a node in ``state``; raises rather than replace a key a service uses."""
    if state.missing:
        raise MmpValidationError(
            "%s: cannot sign %s with %s: %s missing on the node. Create the CSR with cms_pki_csr and the CA "
            "with cms_pki_sign (no ca option) first." % (node, request.name, request.ca, ", ".join(state.missing))
        )
    if state.current_ok and not request.force:
        return Plan()
    users = state.users(request.written)
    warning = None
    if users and request.ca is None:
        if not request.force:
            in_use = " and ".join(f for f in request.written if state.usage.get(f))
            raise MmpValidationError(_in_use_message(node, in_use, users, request.command, request.name))
        warning = "force: %s replaces %s, in use by %s; %s now" % (
            request.command,
            " and ".join(request.written),
            ", ".join(users),
            _breaks(users),
        )
    elif users:
        # Same key, new certificate: services keep working and pick it up when restarted.
        warning = "%s replaces %s, in use by %s" % (request.command, request.cert_file, ", ".join(users))
    return Plan(commands=[request.command], warning=warning)


class PkiSign:
    """cms_pki_sign on one node: ``read_state`` -> ``plan`` -> ``apply`` -> ``dump`` (see ``SessionRunner``)."""

    def __init__(self, module: Any, session: MmpSession, request: SignRequest) -> None:
        self.module = module
        self.session = session
        self.request = request
        self.state = SignState()
        self.decision = Plan()
        self.ca: Any = None
        self.csr: Any = None
        self.pem: bytes | None = None  # the certificate on the node after the call
        self.info: dict[str, Any] | None = None
        self.dest: tuple[str | None, bool] | None = None

    def read_state(self) -> None:
        request, session, state = self.request, self.session, self.state
        state.files = session.listdir()
        if request.ca:
            state.missing = [f for f in (request.csr_file, request.ca_key, request.ca_cert) if f not in state.files]
            if state.missing:
                return
            self.ca = load_certificates(session.download(request.ca_cert), request.ca_cert)[0]
            self.csr = load_csr(session.download(request.csr_file), request.csr_file)
        current = None
        if request.cert_file in state.files:
            try:
                current = load_certificates(session.download(request.cert_file), request.cert_file)[0]
            except MmpValidationError:
                current = None  # a damaged certificate is issued again
        if current is not None:
            state.current = cert_info(current)
            state.current_ok = self._reissue_not_needed(current, state.current)
        if not (state.current_ok and not request.force) and any(f in state.files for f in request.written):
            state.usage = read_usage(session)["files"]

    def _reissue_not_needed(self, current: Any, info: dict[str, Any]) -> bool:
        request, files = self.request, self.state.files
        if info["expired"]:
            return False
        if self.ca is not None:
            # Signed by this CA, for the key of this CSR: what ``pki sign`` would produce again.
            good = issued_by(current, self.ca) and csr_info(self.csr)["public_key_sha256"] == info["public_key_sha256"]
        else:
            good = (
                request.key_file in files
                and info["self_signed"]
                and (request.cn is None or info["common_name"] == request.cn)
            )
        if good and request.key_file in files:
            good = bool(_node_verdict(self.session, pki_match(request.key_file, request.cert_file), parse_match)[0])
        return bool(good)

    def plan(self) -> list[str]:
        self.decision = plan_sign(self.request, self.state, self.session.name)
        if self.decision.warning:
            self.module.warn(self.decision.warning)
        if not self.decision.commands and self.state.current is not None:
            self.pem = self.session.download(self.request.cert_file)
            self.info = self.state.current
        return self.decision.commands

    def apply(self) -> None:
        request, session = self.request, self.session
        if self.decision.commands:
            session.run(request.command)
            self.pem = session.download(request.cert_file)
            new = load_certificates(self.pem, request.cert_file)[0]
            self.info = cert_info(new)
            if self.ca is not None and not issued_by(new, self.ca):
                raise MmpCommandError(
                    "%s wrote %s, but it is not signed by %s" % (request.command, request.cert_file, request.ca_cert),
                    node=session.name,
                    command=request.command,
                )
        if self.pem is not None:
            self.dest = _write_dest(self.module, request.dest, request.cert_file, self.pem)

    def dump(self) -> dict[str, Any]:
        request, commands = self.request, self.decision.commands
        result: dict[str, Any] = {
            "changed": bool(commands),
            "commands": commands,
            "cert_file": request.cert_file,
            "key_file": request.key_file,
        }
        if commands:
            result["in_use_by"] = self.state.users(request.written)
        if commands and self.module._diff:
            result["diff"] = self._diff()
        if self.pem is not None and self.info is not None:
            if self.dest is None:  # check mode: where it would go and whether that would change
                self.dest = _write_dest(self.module, request.dest, request.cert_file, self.pem)
            result.update(_cert_summary(self.info))
            result["certificate"] = self.pem.decode()
            result["dest"] = self.dest[0]
            result["changed"] = result["changed"] or self.dest[1]
        return result

    def _diff(self) -> dict[str, Any]:
        request = self.request
        before = _cert_summary(self.state.current) if self.state.current else {}
        if self.info is not None:  # issued by this call
            return {
                "before": before,
                "after": {"commands": [request.command], "cert_file": request.cert_file, **_cert_summary(self.info)},
            }
        after: dict[str, Any] = {
            "commands": [request.command],
            "cert_file": request.cert_file,
            "fingerprint_sha256": "(new)",
        }
        if self.ca is not None:
            after.update(subject=csr_info(self.csr)["subject"], issuer=cert_info(self.ca)["subject"])
        elif request.cn is not None:
            after.update(subject="CN=%s" % request.cn, issuer="CN=%s" % request.cn)
        return {"before": before, "after": after}


def run_sign(module: Any) -> None:
    require_libraries(module, cryptography=True)
    try:
        request = sign_request(module.params)
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    SessionRunner(module).run(lambda session: PkiSign(module, session, request))


# ------------------------------------------------------------------------------------------------------------
# cms_pki_info
# ------------------------------------------------------------------------------------------------------------
PKI_INFO_ARGS = ArgumentSpec(
    {
        "files": {"type": "list", "elements": "str"},
        "match": {
            "type": "list",
            "elements": "dict",
            "options": {
                "key": {"type": "str", "required": True, "no_log": False},
                "cert": {"type": "str", "required": True},
            },
        },
        "verify": {
            "type": "list",
            "elements": "dict",
            "options": {"cert": {"type": "str", "required": True}, "bundle": {"type": "str"}},
        },
        "usage": {"type": "bool", "default": True},
        "renew_within_days": {"type": "int", "default": 30},
        "valid_at": {"type": "str"},
    }
)


_RELATIVE_RE = re.compile(r"^([+-])(\d+)([wdhms])$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_valid_at(value: str | None, now: datetime.datetime) -> datetime.datetime | None:
    """``+30d`` / ``-2w`` relative to now, or an ISO 8601 date/time (UTC when no zone is given)."""
    if not value:
        return None
    match = _RELATIVE_RE.match(value.strip())
    if match:
        seconds = int(match.group(2)) * _UNIT_SECONDS[match.group(3)]
        return now + datetime.timedelta(seconds=seconds if match.group(1) == "+" else -seconds)
    try:
        when = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MmpValidationError(
            "valid_at %r is neither a relative time (+30d, -2w, +12h) nor an ISO 8601 date (2027-01-31 or "
            "2027-01-31T12:00:00Z)" % value
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def _describe_file(name: str, data: bytes, now: datetime.datetime) -> tuple[str, dict[str, Any]]:
    """(kind, info) of one store file; private keys give only their public part and size.

    A file that cannot be read (an encrypted key, a damaged certificate) is described with its ``error``, so one
    bad upload never hides what the rest of the store holds.
    """
    kinds = [label for label, _block in pem_blocks(data)]
    try:
        if any("PRIVATE KEY" in kind for kind in kinds):
            try:
                return "key", {"encrypted": False, **private_key_info(load_private_key(data, name))}
            except MmpValidationError as exc:
                encrypted = "ENCRYPTED" in " ".join(kinds) or "encrypted" in exc.message
                return "key", {"encrypted": encrypted, "error": exc.message}
        if any(kind in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST") for kind in kinds):
            return "csr", csr_info(load_csr(data, name))
        if any(kind in ("CERTIFICATE", "X509 CERTIFICATE") for kind in kinds):
            certs = load_certificates(data, name)
            info = cert_info(certs[0], now)
            info["chain_length"] = len(certs)
            info["chain"] = [cert_info(c, now)["subject"] for c in certs]
            return "certificate", info
    except MmpValidationError as exc:
        return "unreadable", {"error": exc.message}
    return "other", {"size": len(data)}


def _node_verdict(session: MmpSession, command: str, parse: Callable[[str], Any]) -> tuple[Any, str | None]:
    """What the node says about a pair: ``parse``'s answer, or ``None`` and the node's error when it has none."""
    output = session.run(command, check=False)
    try:
        return parse(output), None
    except MmpParseError:
        return None, find_error(output) or output.strip()


@dataclass(frozen=True)
class InfoRequest:
    """What cms_pki_info is asked to read, checked before anything connects."""

    now: datetime.datetime
    valid_at: datetime.datetime | None = None
    files: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    checks: list[tuple[str, str | None]] = field(default_factory=list)
    usage: bool = True
    renew_within_days: int = 30

    @property
    def named(self) -> list[str]:
        return self.files + [f for pair in self.pairs for f in pair] + [f for pair in self.checks for f in pair if f]


def info_request(params: dict[str, Any], now: datetime.datetime) -> InfoRequest:
    return InfoRequest(
        now,
        parse_valid_at(params.get("valid_at"), now),
        [validate_file_name(f, "files") for f in params.get("files") or []],
        [
            (validate_file_name(m["key"], "match.key"), validate_file_name(m["cert"], "match.cert"))
            for m in params.get("match") or []
        ],
        [
            (
                validate_file_name(v["cert"], "verify.cert"),
                validate_file_name(v["bundle"], "verify.bundle") if v.get("bundle") else None,
            )
            for v in params.get("verify") or []
        ],
        params["usage"],
        params["renew_within_days"],
    )


class PkiInfo:
    """cms_pki_info on one node: everything is read in ``read_state``; nothing is planned or applied."""

    def __init__(self, session: MmpSession, request: InfoRequest) -> None:
        self.session = session
        self.request = request
        self.listed: list[str] = []
        self._cache: dict[str, bytes] = {}
        self.described: dict[str, Any] = {"certificate": {}, "key": {}, "csr": {}, "unreadable": {}, "other": []}
        self.match: list[dict[str, Any]] = []
        self.verify: list[dict[str, Any]] = []
        self.usage: dict[str, Any] = {"services": {}, "database_cluster": None, "files": {}}

    def fetch(self, name: str) -> bytes:
        if name not in self._cache:
            self._cache[name] = self.session.download(name)
        return self._cache[name]

    def read_state(self) -> None:
        request, session = self.request, self.session
        self.listed = parse_pki_list(session.run(pki_list()))
        missing = sorted({f for f in request.named if f not in self.listed})
        if missing:
            raise MmpValidationError(
                "%s: no file %s on the node (pki list shows %s)"
                % (session.name, ", ".join(missing), ", ".join(self.listed) or "nothing")
            )
        for name in request.files or self.listed:
            if name.endswith((".bak", ".json", ".lic")) or is_lock_file(name):
                self.described["other"].append(name)
                continue
            kind, info = _describe_file(name, self.fetch(name), request.now)
            if kind == "unreadable":
                self.described[kind][name] = info["error"]
            elif kind == "other":
                self.described[kind].append(name)
            else:
                self.described[kind][name] = info
        self.match = [self._match(key, cert) for key, cert in request.pairs]
        self.verify = [self._verify(cert, bundle) for cert, bundle in request.checks]
        if request.usage:
            self.usage = read_usage(session)

    def _match(self, key: str, cert: str) -> dict[str, Any]:
        node_ok, node_error = _node_verdict(self.session, pki_match(key, cert), parse_match)
        try:
            cert_obj = load_certificates(self.fetch(cert), cert)[0]
            local_ok, local_error = key_matches_cert(load_private_key(self.fetch(key), key), cert_obj), None
        except MmpValidationError as exc:
            local_ok, local_error = None, exc.message
        return {
            "key": key,
            "cert": cert,
            "match": bool(node_ok and local_ok),
            "node": node_ok,
            "local": local_ok,
            "reason": node_error or local_error,
        }

    def _verify(self, cert: str, bundle: str | None) -> dict[str, Any]:
        node_ok, node_reason = _node_verdict(self.session, pki_verify(cert, bundle), parse_verify)
        if node_ok is not None:
            node_ok, node_reason = node_ok
        try:
            chain = load_certificates(self.fetch(cert), cert)
            extra = load_certificates(self.fetch(bundle), bundle) if bundle else []
            local_ok, local_reason = verify_chain(chain[0], chain[1:] + extra, self.request.now)
        except MmpValidationError as exc:
            local_ok, local_reason = None, exc.message
        verified = bool(node_ok and local_ok)
        return {
            "cert": cert,
            "bundle": bundle,
            "verified": verified,
            "node": node_ok,
            "local": local_ok,
            "reason": (local_reason or node_reason) if verified else (node_reason if not node_ok else local_reason),
        }

    def plan(self) -> list[str]:
        return []  # an info module changes nothing

    def apply(self) -> None:
        """Nothing to apply."""

    def _renewals(self, horizon: datetime.datetime) -> list[str]:
        renew = []
        for name, info in self.described["certificate"].items():
            if not self.request.usage or name in self.usage["files"]:
                not_after = datetime.datetime.fromisoformat(info["not_after"].replace("Z", "+00:00"))
                not_before = datetime.datetime.fromisoformat(info["not_before"].replace("Z", "+00:00"))
                info["should_renew"] = not (not_before <= horizon <= not_after)
                if info["should_renew"]:
                    renew.append(name)
        return sorted(renew)

    def dump(self) -> dict[str, Any]:
        request, described, usage = self.request, self.described, self.usage
        horizon = request.valid_at or request.now + datetime.timedelta(days=request.renew_within_days)
        renew = self._renewals(horizon)
        for name, users in usage["files"].items():
            for kind in ("certificate", "key", "csr"):
                if name in described[kind]:
                    described[kind][name]["used_by"] = users
        services = {name: {k: v for k, v in status.items() if k != "raw"} for name, status in usage["services"].items()}
        return {
            "changed": False,
            "files": self.listed,
            "certificates": described["certificate"],
            "keys": described["key"],
            "csrs": described["csr"],
            "unreadable": described["unreadable"],
            "other_files": described["other"],
            "match": self.match,
            "verify": self.verify,
            "services": services,
            "database_cluster": usage["database_cluster"],
            "tls": usage.get("tls") or {},
            "files_in_use": usage["files"],
            "should_renew": bool(renew),
            "renew": renew,
            "checked_at": request.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "valid_at": horizon.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def run_info(module: Any) -> None:
    require_libraries(module, cryptography=True)
    try:
        request = info_request(module.params, utcnow())
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    SessionRunner(module).run(lambda session: PkiInfo(session, request))
