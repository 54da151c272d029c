# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``pki`` verb set: logic behind cms_pki_csr, cms_pki_sign and cms_pki_info.

Each ``run_*`` takes a module (``AnsibleModule`` or the in-process look-alike of the action plugin), validates
every input before connecting, reads what is on the node, compares it with what is wanted, and only then acts
(never in check mode).  Certificates are parsed on the controller with ``cryptography`` from what SFTP downloads.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import run_with_session, with_connection
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
    MmpError,
    MmpParseError,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import (
    parse_match,
    parse_pki_list,
    parse_verify,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import find_error
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from ansible_collections.cisco_cms.mmp.plugins.module_utils._usage import read_usage
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
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


def _require_crypto(module: Any) -> None:
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(
            msg="the cryptography Python library is required on the controller (pip install cryptography)",
            exception=CRYPTOGRAPHY_IMPORT_ERROR,
        )


def _fail_validation(module: Any, exc: MmpError) -> None:
    module.fail_json(**exc.to_fail_kwargs())


def _write_dest(
    module: Any, dest: str | None, file_name: str, data: bytes, mode: int = 0o644
) -> tuple[str | None, bool]:
    """Fetch ``data`` to the controller; ``dest`` may be a directory. Returns (path, changed).

    The file is written through a temporary name in the same directory and moved into place, so a reader never
    sees half a file; private keys are written with ``mode=0o600`` from the first byte.
    """
    if not dest:
        return None, False
    path = os.path.join(dest, file_name) if os.path.isdir(dest) or dest.endswith("/") else dest
    try:
        with open(path, "rb") as fh:
            if fh.read() == data:
                if mode == 0o600 and os.stat(path).st_mode & 0o077 and not module.check_mode:
                    os.chmod(path, mode)
                return path, False
    except OSError:
        pass
    if module.check_mode:
        return path, True
    directory = os.path.dirname(path)
    tmp = path + ".tmp%d" % os.getpid()
    try:
        if directory and not os.path.isdir(directory):
            os.makedirs(directory)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise MmpValidationError(
            "cannot write %s to %s on the controller: %s. Check dest." % (file_name, path, exc.strerror or exc)
        ) from None
    return path, True


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
def csr_argument_spec() -> dict:
    return with_connection(
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
        }
    )


CSR_RULES = {"required_if": [("state", "present", ("cn",))]}


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


def run_csr(module: Any) -> None:
    _require_crypto(module)
    p = module.params
    try:
        key_file, csr_file = csr_files(p["name"])
        command = ""  # state=absent runs no MMP command
        san: list[str] = []
        wanted: dict[str, Any] = {}
        if p["state"] == "present":
            wanted_subject = _wanted_subject(p)
            command = pki_csr(
                p["name"], p["cn"], p.get("ou"), p.get("o"), p.get("st"), p.get("c"), p.get("subject_alt_name")
            )
            san = normalize_san(p["cn"], p.get("subject_alt_name"))
            wanted = {"subject": wanted_subject, "subject_alt_name": san}
    except MmpValidationError as exc:
        _fail_validation(module, exc)

    def logic(module: Any, session: MmpSession) -> dict[str, Any]:
        files = session.listdir()
        result: dict[str, Any] = {
            "changed": False,
            "commands": [],
            "name": p["name"],
            "key_file": key_file,
            "csr_file": csr_file,
            "in_use_by": [],
        }
        present = [f for f in (key_file, csr_file) if f in files]
        users: list[str] = []
        if key_file in files:
            users = read_usage(session)["files"].get(key_file, [])
        result["in_use_by"] = users

        if p["state"] == "absent":
            if users and not p["force"]:
                raise MmpValidationError(_in_use_message(session.name, key_file, users, "removing it", p["name"]))
            if users and present:
                module.warn(
                    "force: removing %s, in use by %s: %s now, until %s another key"
                    % (key_file, ", ".join(users), _breaks(users), _gets(users))
                )
            result["changed"] = bool(present)
            result["removed"] = present
            if module._diff:
                result["diff"] = {
                    "before": {"files": present},
                    "after": {"files": [], "removed": present, "breaks": users},
                }
            if not module.check_mode:
                for name in present:
                    session.remove(name)
            return result

        before: dict[str, Any] | None = None
        if key_file in files and csr_file in files:
            csr_pem = session.download(csr_file)
            try:
                info = csr_info(load_csr(csr_pem, csr_file))
            except MmpValidationError as exc:
                # A damaged CSR is replaced like one with another subject (the key-in-use check still applies).
                before = {"error": exc.message}
            else:
                subject = _subject_of(info)
                before = {
                    "subject": subject,
                    "subject_alt_name": info["san"],
                    "public_key_sha256": info["public_key_sha256"],
                }
                same = subject == wanted["subject"] and _san_key(info["san"]) == _san_key(san)
                if same and not p["force"]:
                    result.update(
                        csr=csr_pem.decode(),
                        subject=subject,
                        subject_alt_name=info["san"],
                        public_key_sha256=info["public_key_sha256"],
                    )
                    result["dest"], result["changed"] = _write_dest(module, p.get("dest"), csr_file, csr_pem)
                    return result
        if users and not p["force"]:
            raise MmpValidationError(_in_use_message(session.name, key_file, users, "pki csr " + p["name"], p["name"]))
        if users:
            module.warn(
                "force: pki csr %s replaces %s, in use by %s; %s now, until %s a certificate for the new key"
                % (p["name"], key_file, ", ".join(users), _breaks(users), _gets(users))
            )
        result["changed"] = True
        result["commands"] = [command]
        diff = None
        if module._diff:
            diff = {
                "before": {"files": present, **(before or {})},
                "after": {
                    "files": [key_file, csr_file],
                    "commands": [command],
                    **wanted,
                    "public_key_sha256": "(new key)",
                    "breaks": users,
                },
            }
            result["diff"] = diff
        if module.check_mode:
            return result
        session.run(command)
        csr_pem = session.download(csr_file)
        info = csr_info(load_csr(csr_pem, csr_file))
        got = _subject_of(info)
        if got != wanted["subject"] or _san_key(info["san"]) != _san_key(san):
            raise MmpCommandError(
                "the CSR the node wrote does not carry the subject/SAN asked for (got %s %s)" % (got, info["san"]),
                node=session.name,
                command=command,
            )
        if diff is not None:
            diff["after"]["public_key_sha256"] = info["public_key_sha256"]
        result.update(
            csr=csr_pem.decode(),
            subject=got,
            subject_alt_name=info["san"],
            public_key_sha256=info["public_key_sha256"],
        )
        result["dest"] = _write_dest(module, p.get("dest"), csr_file, csr_pem)[0]
        return result

    run_with_session(module, logic)


# ------------------------------------------------------------------------------------------------------------
# cms_pki_sign
# ------------------------------------------------------------------------------------------------------------
def sign_argument_spec() -> dict:
    return with_connection(
        {
            "name": {"type": "str", "required": True},
            "ca": {"type": "str"},
            "cn": {"type": "str"},
            "force": {"type": "bool", "default": False},
            "dest": {"type": "path"},
        }
    )


SIGN_RULES = {"mutually_exclusive": [("ca", "cn")]}


def _cert_summary(info: dict[str, Any]) -> dict[str, Any]:
    keys = ("subject", "issuer", "san", "serial", "not_before", "not_after", "days_left", "fingerprint_sha256")
    return {k: info[k] for k in keys}


def run_sign(module: Any) -> None:
    _require_crypto(module)
    p = module.params
    try:
        if p.get("ca"):
            command = pki_sign(p["name"], p["ca"])
            key_file, cert_file = p["name"] + ".key", signed_cert_file(p["name"])
            csr_file = p["name"] + ".csr"
            ca_key, ca_cert = selfsigned_files(p["ca"])
        else:
            if p.get("cn") is not None:
                validate_common_name(p["cn"], "cn")
            command = pki_selfsigned(p["name"], p.get("cn"))
            key_file, cert_file = selfsigned_files(p["name"])
    except MmpValidationError as exc:
        _fail_validation(module, exc)

    def logic(module: Any, session: MmpSession) -> dict[str, Any]:
        files = session.listdir()
        result: dict[str, Any] = {"changed": False, "commands": [], "cert_file": cert_file, "key_file": key_file}
        ca = csr = None
        if p.get("ca"):
            missing = [f for f in (csr_file, ca_key, ca_cert) if f not in files]
            if missing:
                raise MmpValidationError(
                    "%s: cannot sign %s with %s: %s missing on the node. Create the CSR with cms_pki_csr and the CA "
                    "with cms_pki_sign (no ca option) first." % (session.name, p["name"], p["ca"], ", ".join(missing))
                )
            ca = load_certificates(session.download(ca_cert), ca_cert)[0]
            csr = load_csr(session.download(csr_file), csr_file)
        current = current_info = None
        if cert_file in files:
            try:
                current = load_certificates(session.download(cert_file), cert_file)[0]
            except MmpValidationError:
                current = None  # a damaged certificate is issued again
        if current is not None:
            current_info = cert_info(current)
            if current_info["expired"]:
                good = False
            elif ca is not None:
                # Signed by this CA, for the key of this CSR: what ``pki sign`` would produce again.
                good = (
                    issued_by(current, ca) and csr_info(csr)["public_key_sha256"] == current_info["public_key_sha256"]
                )
            else:
                good = (
                    key_file in files
                    and current_info["self_signed"]
                    and (p.get("cn") is None or current_info["common_name"] == p["cn"])
                )
            if good and key_file in files:
                good = bool(_node_verdict(session, pki_match(key_file, cert_file), parse_match)[0])
            if good and not p["force"]:
                pem = session.download(cert_file)
                result.update(_cert_summary(current_info))
                result["certificate"] = pem.decode()
                result["dest"], result["changed"] = _write_dest(module, p.get("dest"), cert_file, pem)
                return result
        # pki selfsigned writes <name>.key and <name>.crt; pki sign writes <name>.crt.
        written = [cert_file] if ca is not None else [key_file, cert_file]
        usage = read_usage(session)["files"] if any(f in files for f in written) else {}
        users = sorted({u for f in written for u in usage.get(f, [])})
        result["in_use_by"] = users
        if users and ca is None and not p["force"]:
            raise MmpValidationError(
                _in_use_message(
                    session.name, " and ".join(f for f in written if usage.get(f)), users, command, p["name"]
                )
            )
        if users and ca is None:
            module.warn(
                "force: %s replaces %s, in use by %s; %s now"
                % (command, " and ".join(written), ", ".join(users), _breaks(users))
            )
        elif users:
            # Same key, new certificate: services keep working and pick it up when restarted.
            module.warn("%s replaces %s, in use by %s" % (command, cert_file, ", ".join(users)))
        result["changed"] = True
        result["commands"] = [command]
        diff = None
        if module._diff:
            after: dict[str, Any] = {"commands": [command], "cert_file": cert_file, "fingerprint_sha256": "(new)"}
            if ca is not None:
                after.update(subject=csr_info(csr)["subject"], issuer=cert_info(ca)["subject"])
            elif p.get("cn") is not None:
                after.update(subject="CN=%s" % p["cn"], issuer="CN=%s" % p["cn"])
            diff = {"before": _cert_summary(current_info) if current_info else {}, "after": after}
            result["diff"] = diff
        if module.check_mode:
            return result
        session.run(command)
        pem = session.download(cert_file)
        new = load_certificates(pem, cert_file)[0]
        info = cert_info(new)
        if ca is not None and not issued_by(new, ca):
            raise MmpCommandError(
                "%s wrote %s, but it is not signed by %s" % (command, cert_file, ca_cert),
                node=session.name,
                command=command,
            )
        if diff is not None:
            diff["after"] = {"commands": [command], "cert_file": cert_file, **_cert_summary(info)}
        result.update(_cert_summary(info))
        result["certificate"] = pem.decode()
        result["dest"] = _write_dest(module, p.get("dest"), cert_file, pem)[0]
        return result

    run_with_session(module, logic)


# ------------------------------------------------------------------------------------------------------------
# cms_pki_info
# ------------------------------------------------------------------------------------------------------------
def info_argument_spec() -> dict:
    return with_connection(
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


def run_info(module: Any) -> None:
    _require_crypto(module)
    p = module.params
    now = utcnow()
    try:
        valid_at = parse_valid_at(p.get("valid_at"), now)
        wanted_files = [validate_file_name(f, "files") for f in p.get("files") or []]
        pairs = [
            (validate_file_name(m["key"], "match.key"), validate_file_name(m["cert"], "match.cert"))
            for m in p.get("match") or []
        ]
        checks = [
            (
                validate_file_name(v["cert"], "verify.cert"),
                validate_file_name(v["bundle"], "verify.bundle") if v.get("bundle") else None,
            )
            for v in p.get("verify") or []
        ]
    except MmpValidationError as exc:
        _fail_validation(module, exc)

    def logic(module: Any, session: MmpSession) -> dict[str, Any]:
        listed = parse_pki_list(session.run(pki_list()))
        named = wanted_files + [f for pair in pairs for f in pair] + [f for pair in checks for f in pair if f]
        missing = sorted({f for f in named if f not in listed})
        if missing:
            raise MmpValidationError(
                "%s: no file %s on the node (pki list shows %s)"
                % (session.name, ", ".join(missing), ", ".join(listed) or "nothing")
            )
        cache: dict[str, bytes] = {}

        def fetch(name: str) -> bytes:
            if name not in cache:
                cache[name] = session.download(name)
            return cache[name]

        certificates: dict[str, Any] = {}
        keys: dict[str, Any] = {}
        csrs: dict[str, Any] = {}
        unreadable: dict[str, str] = {}
        other: list[str] = []
        for name in wanted_files or listed:
            if name.endswith((".bak", ".json", ".lic")) or is_lock_file(name):
                other.append(name)
                continue
            kind, info = _describe_file(name, fetch(name), now)
            if kind == "certificate":
                certificates[name] = info
            elif kind == "key":
                keys[name] = info
            elif kind == "csr":
                csrs[name] = info
            elif kind == "unreadable":
                unreadable[name] = info["error"]
            else:
                other.append(name)

        match_results = []
        for key, cert in pairs:
            node_ok, node_error = _node_verdict(session, pki_match(key, cert), parse_match)
            try:
                local_ok = key_matches_cert(load_private_key(fetch(key), key), load_certificates(fetch(cert), cert)[0])
                local_error = None
            except MmpValidationError as exc:
                local_ok, local_error = None, exc.message
            match_results.append(
                {
                    "key": key,
                    "cert": cert,
                    "match": bool(node_ok and local_ok),
                    "node": node_ok,
                    "local": local_ok,
                    "reason": node_error or local_error,
                }
            )
        verify_results = []
        for cert, bundle in checks:
            node_ok, node_reason = _node_verdict(session, pki_verify(cert, bundle), parse_verify)
            if node_ok is not None:
                node_ok, node_reason = node_ok
            try:
                chain = load_certificates(fetch(cert), cert)
                extra = load_certificates(fetch(bundle), bundle) if bundle else []
                local_ok, local_reason = verify_chain(chain[0], chain[1:] + extra, now)
            except MmpValidationError as exc:
                local_ok, local_reason = None, exc.message
            verified = bool(node_ok and local_ok)
            verify_results.append(
                {
                    "cert": cert,
                    "bundle": bundle,
                    "verified": verified,
                    "node": node_ok,
                    "local": local_ok,
                    "reason": (local_reason or node_reason)
                    if verified
                    else (node_reason if not node_ok else local_reason),
                }
            )
        usage = read_usage(session) if p["usage"] else {"services": {}, "database_cluster": None, "files": {}}
        horizon = valid_at or now + datetime.timedelta(days=p["renew_within_days"])
        renew = []
        for name, info in certificates.items():
            if not p["usage"] or name in usage["files"]:
                not_after = datetime.datetime.fromisoformat(info["not_after"].replace("Z", "+00:00"))
                not_before = datetime.datetime.fromisoformat(info["not_before"].replace("Z", "+00:00"))
                info["should_renew"] = not (not_before <= horizon <= not_after)
                if info["should_renew"]:
                    renew.append(name)
        for name, users in usage["files"].items():
            for bucket in (certificates, keys, csrs):
                if name in bucket:
                    bucket[name]["used_by"] = users
        services = {name: {k: v for k, v in status.items() if k != "raw"} for name, status in usage["services"].items()}
        return {
            "changed": False,
            "files": listed,
            "certificates": certificates,
            "keys": keys,
            "csrs": csrs,
            "unreadable": unreadable,
            "other_files": other,
            "match": match_results,
            "verify": verify_results,
            "services": services,
            "database_cluster": usage["database_cluster"],
            "files_in_use": usage["files"],
            "should_renew": bool(renew),
            "renew": sorted(renew),
            "checked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "valid_at": horizon.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    run_with_session(module, logic)
