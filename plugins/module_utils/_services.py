# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The service certificate verb set: the logic behind cms_service_certs.

A service gets a new key, certificate and bundle the way the TechNote "Generate CSR and apply certificates to CMS" does
it by hand (docs/dev/mmp_reference.md#applying-certificates): files over SFTP, ``pki match`` and ``pki verify``, then
``<service> disable`` / ``<service> certs ...`` / ``<service> enable`` (``callbridge certs`` / ``callbridge restart``).
On top of that, what a careful admin does in his head:

* everything that can be checked is checked before the service is touched (locally with ``cryptography`` and on
  the node), so a bad chain or a wrong key never costs an outage;
* the change is decided by content (certificate fingerprint, the key's public part, the chain), not by file names;
* a file a service uses is never overwritten or deleted: it is what a rollback goes back to;
* the outage is the disable/certs/enable sequence back to back, measured;
* after the change the service's TLS endpoint must serve the new leaf with a chain that verifies; when it does not,
  or when anything fails once the service is down, the previous files are applied again and the service enabled.

``ServiceCertificates`` follows the read_state / plan / apply / dump shape of the other verb sets.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api import API_SPEC, api_configured
from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._calls import (
    GUARD_OFF_WARNING,
    GUARD_SPEC,
    Health,
    NodeGuard,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import (
    MAIN_PART,
    SERVICES,
    Service,
    get_service,
    services_taking,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    c2w_trust,
    outage_sequence,
    pki_match,
    pki_verify,
    reload_sequence,
    service_certs,
    service_status,
    validate_file_name,
    validate_san_entry,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpAuthError,
    MmpCommandError,
    MmpConnectError,
    MmpError,
    MmpHostKeyError,
    MmpTimeout,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import read_controller_file
from ansible_collections.cisco_cms.mmp.plugins.module_utils._lock import DEFAULT_TTL as LOCK_TTL
from ansible_collections.cisco_cms.mmp.plugins.module_utils._lock import acquire as acquire_lock
from ansible_collections.cisco_cms.mmp.plugins.module_utils._lock import release as release_lock
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import (
    parse_enable_output,
    parse_match,
    parse_service_status,
    parse_verify,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import SessionRunner, require_libraries
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import find_error
from ansible_collections.cisco_cms.mmp.plugins.module_utils._tls_probe import handshake
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from ansible_collections.cisco_cms.mmp.plugins.module_utils._usage import read_usage
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import (
    cert_info,
    certs_to_pem,
    check_chain_order,
    fingerprint_sha256,
    is_self_signed,
    key_matches_cert,
    load_certificates,
    load_private_key,
    normalize_upload,
    public_key_sha256,
    san_covers,
    usage_problems,
    utcnow,
    verify_chain,
)

# option -> the option naming a controller file to upload under that name
SRC_OPTIONS = {
    "key": "key_src",
    "cert": "cert_src",
    "bundle": "bundle_src",
    "c2w_key": "c2w_key_src",
    "c2w_cert": "c2w_cert_src",
    "c2w_trust": "c2w_trust_src",
}
ROLLBACK_COMMAND_TIMEOUT = 120.0  # seconds; the module's default command_timeout
MAIN = MAIN_PART  # the one certificate of every service but webbridge3 (which has https and c2w)
TLS_HANDSHAKE_TIMEOUT = 10.0
TLS_RETRY_INTERVAL = 1.0
# The rollback's reconnect waits between tries: 1 s, doubling, at most this long, until reconnect_timeout.
RECONNECT_MAX_INTERVAL = 10.0
# RSA keys under 2048 bits are refused by browsers and by current CMS peers alike.
MIN_RSA_BITS = 2048
# The services whose stop or restart cuts call legs (web legs too) or takes the REST API down: the call guard runs first.
DISRUPTIVE_SERVICES = ("callbridge", "webbridge3", "webbridge", "webadmin")
PRIVATE_KEY_MARKER = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


def _file_options() -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    for option, src in SRC_OPTIONS.items():
        # File names, not secrets: say so, or Ansible warns about every option with "key" in its name.
        files[option] = {"type": "str", "no_log": False}
        files[src] = {"type": "path", "no_log": False}
    return files


def _entry_options() -> dict[str, dict[str, Any]]:
    """The suboptions of one ``services`` entry: the per-service options (``tls_check`` and ``names`` fall back to
    the top-level ones)."""
    return {
        "service": {"type": "str", "required": True, "choices": sorted(SERVICES)},
        **_file_options(),
        "names": {"type": "list", "elements": "str", "default": []},
        "tls_check": {"type": "bool"},
        "tls_port": {"type": "int"},
        "c2w_tls_port": {"type": "int"},
    }


# Options of one service that a call with ``services`` takes inside each entry instead.
PER_SERVICE_OPTIONS = (*SRC_OPTIONS, *SRC_OPTIONS.values(), "tls_port", "c2w_tls_port")
RELEASE_LOCK_CHOICES = ["never", "keep", "end", "if_unchanged"]

SERVICE_CERTS_ARGS = ArgumentSpec(
    {
        "service": {"type": "str", "choices": sorted(SERVICES)},
        "services": {
            "type": "list",
            "elements": "dict",
            "options": _entry_options(),
            "required_one_of": [("key", "key_src"), ("cert", "cert_src")],
        },
        "state": {"type": "str", "default": "present", "choices": ["present", "validated"]},
        **_file_options(),
        "names": {"type": "list", "elements": "str", "default": []},
        "tls_check": {"type": "bool", "default": True},
        "tls_host": {"type": "str"},
        "tls_port": {"type": "int"},
        "c2w_tls_port": {"type": "int"},
        "validate_on_node": {"type": "bool", "default": True},
        "release_lock": {"type": "str", "default": "never", "choices": RELEASE_LOCK_CHOICES},
        "c2w_peer_chains": {"type": "list", "elements": "path", "default": []},
        "tls_timeout": {"type": "int", "default": 30},
        "reconnect_timeout": {"type": "int", "default": 300},
        "allow_san_shrink": {"type": "bool", "default": False},
        "run_id": {"type": "str"},
        "break_lock": {"type": "bool", "default": False},
        "lock_ttl": {"type": "int", "default": LOCK_TTL},
        **API_SPEC,
        **GUARD_SPEC,
    },
    # c2w_key/c2w_key_src go with c2w_cert/c2w_cert_src in any of the four pairings: request_files checks that.
    # key/key_src and cert/cert_src are required with ``service`` (check_request), inside each entry of ``services``.
    required_one_of=[("service", "services")],
    mutually_exclusive=[("service", "services"), *(("services", option) for option in PER_SERVICE_OPTIONS)],
)


class ServiceCertsFailure(MmpError):
    """A failure that carries what was done so far (outage, rollback, commands) into the task result."""

    def __init__(self, message: str, result: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.result = result


# ---------------------------------------------------------------------------------------------------------------
# Files and certificate material
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class NodeFile:
    """One file a service is to use: its name on the node and the content wanted under that name."""

    option: str
    name: str
    data: bytes | None = None
    source: str | None = None  # the controller path it comes from
    explicit: bool = True  # the name was given; an implicit one may step aside from a file in use
    upload: bool = False
    normalized: bool = False
    moved_from: str | None = None

    def shown(self) -> str:
        return "%s (from %s)" % (self.name, self.source) if self.source else self.name

    @property
    def content(self) -> bytes:
        """The content; node files are read by ``ServiceCertificates.resolve`` before anything uses it."""
        if self.data is None:
            raise MmpError("internal error: %s was used before it was read from the node" % self.name)
        return self.data


@dataclass
class Material:
    """The key, certificate (or full chain) and bundle of one certificate part of a service."""

    part: str
    key: NodeFile
    cert: NodeFile
    bundle: NodeFile | None = None
    key_obj: Any = None
    certs: list[Any] = field(default_factory=list)
    bundle_certs: list[Any] = field(default_factory=list)

    @property
    def leaf(self) -> Any:
        return self.certs[0]

    @property
    def chain(self) -> list[Any]:
        """What the service presents: the certificate file, then the bundle, each certificate once."""
        seen: set[str] = set()
        chain = []
        for cert in self.certs + self.bundle_certs:
            fingerprint = fingerprint_sha256(cert)
            if fingerprint not in seen:
                seen.add(fingerprint)
                chain.append(cert)
        return chain

    def names(self) -> dict[str, str | None]:
        return {"key": self.key.name, "cert": self.cert.name, "bundle": self.bundle.name if self.bundle else None}


def _pem_text_problem(data: bytes) -> str | None:
    """Why a chain/bundle file breaks the TechNote's rule: LF lines, exactly one trailing newline [H, S2]."""
    if b"\r" in data:
        return "it has CRLF (Windows) line ends"
    if not data.endswith(b"\n"):
        return "it does not end with a newline"
    if data.endswith(b"\n\n"):
        return "it ends with %d newlines" % (len(data) - len(data.rstrip(b"\n")))
    return None


def _read_controller_file(path: str, option: str) -> bytes:
    return read_controller_file(
        path,
        option,
        "Give the path of the file to upload (a path relative to the role's or playbook's files/ directory works too).",
    )


def _moved_name(name: str, data: bytes) -> str:
    """A name next to ``name`` that depends only on the content, so a second run finds the same file."""
    stem, ext = os.path.splitext(name)
    return "%s-%s%s" % (stem, hashlib.sha256(data).hexdigest()[:8], ext)


def request_files(params: dict[str, Any], service: Service) -> dict[str, NodeFile]:
    """The files of the request, controller files read and normalized; raises ``MmpValidationError``."""
    files: dict[str, NodeFile] = {}
    for option, src_option in SRC_OPTIONS.items():
        name, src = params.get(option), params.get(src_option)
        if name is None and src is None:
            continue
        if option not in service.file_options:
            raise MmpValidationError(
                "%s applies to %s only (the Call Bridge to web bridge link); %s has none"
                % (option if name is not None else src_option, " and ".join(services_taking(option)), service.name)
            )
        if name is not None:
            validate_file_name(name, option)
        if src is None:
            files[option] = NodeFile(option, str(name))
            continue
        raw = _read_controller_file(src, src_option)
        if not option.endswith("key") and PRIVATE_KEY_MARKER.search(raw):
            # A combined "certificate + key" PEM is common; uploaded as a certificate, the key would sit on the node
            # in a file anyone who can read certificates reads.
            raise MmpValidationError(
                "%s %s holds a private key block; a certificate or bundle file must hold certificates only, or the key "
                "lands on the node in a certificate file. Split it: give the key as key_src (or c2w_key_src) and the "
                "certificates alone as %s. Nothing was uploaded." % (src_option, src, src_option)
            )
        data = normalize_upload(raw, "%s %s" % (src_option, src), option.endswith("key"))
        normalized = data != raw
        if name is None:
            name = os.path.basename(src)
            try:
                validate_file_name(name, option)
            except MmpValidationError as exc:
                raise MmpValidationError(
                    "the file name of %s %s cannot be a node file name (%s); set %s to the name to upload it as"
                    % (src_option, src, exc.message, option)
                ) from None
        files[option] = NodeFile(
            option,
            str(name),
            data=data,
            source=src,
            explicit=params.get(option) is not None,
            upload=True,
            normalized=normalized,
        )
    for part in service.parts[1:]:
        key, cert = part.option("key"), part.option("cert")
        if (key in files) != (cert in files):
            raise MmpValidationError(
                "%s and %s go together (%s %s certs <key> <fullchain>): give both, each as a node file name or as its "
                "*_src controller file" % (key, cert, service.name, part.name)
            )
    return files


# ---------------------------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------------------------
def tls_probe(host: str, port: int, roots: list[Any], timeout: float = TLS_HANDSHAKE_TIMEOUT) -> dict[str, Any]:
    """What ``host:port`` serves: the leaf's fingerprint and public key hash, and whether its chain verifies up to
    one of ``roots`` (only those roots are trusted, so a chain the server does not send in full fails).

    Raises ``OSError`` when the endpoint cannot be reached or refuses the handshake.
    """
    from cryptography import x509  # imported here: _x509 reports a missing library, this would not

    verified, reason = False, "no root CA to verify against"
    der = None
    if roots:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False  # names are checked on the certificate; tls_host may be an address
        context.load_verify_locations(cadata=certs_to_pem(roots).decode())
        try:
            der = handshake(host, port, context, timeout)
            verified, reason = True, "verified"
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or str(exc)
    if der is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        der = handshake(host, port, context, timeout)
    leaf = x509.load_der_x509_certificate(der)
    info = cert_info(leaf)
    return {
        "host": host,
        "port": port,
        "fingerprint_sha256": info["fingerprint_sha256"],
        "public_key_sha256": info["public_key_sha256"],
        "subject": info["subject"],
        "common_name": info["common_name"],
        "san": info["san"],
        "not_after": info["not_after"],
        "verified": verified,
        "verify_reason": reason,
    }


def _summary(material: Material | None) -> dict[str, Any] | None:
    if material is None or not material.certs:
        return None
    info = cert_info(material.leaf)
    summary: dict[str, Any] = dict(material.names())
    summary.update(
        subject=info["subject"],
        issuer=info["issuer"],
        san=info["san"],
        serial=info["serial"],
        not_before=info["not_before"],
        not_after=info["not_after"],
        days_left=info["days_left"],
        fingerprint_sha256=info["fingerprint_sha256"],
        public_key_sha256=public_key_sha256(material.key_obj) if material.key_obj is not None else None,
        chain=[cert_info(c)["subject"] for c in material.chain],
    )
    return summary


@dataclass
class NodeView:
    """The node's file store as one call knows it: the names listed (``None``: not listed yet) and the contents
    downloaded or uploaded."""

    listing: set[str] = field(default_factory=set)
    cache: dict[str, bytes] = field(default_factory=dict)
    listed: bool = False
    # Uploads an earlier service of a call that does not upload (validate_on_node false) would make: a later service
    # may name the file (a key given as key_src for one service and as key for the next).
    pending: dict[str, bytes] = field(default_factory=dict)
    # The node's answers to ``pki match``/``pki verify`` in this call, by command and the content of the files it
    # names: services that share a key and certificate are checked once (an answer depends on nothing else).
    node_checks: dict[tuple[str, tuple[bytes, ...]], str] = field(default_factory=dict)
    # The node's health as the last service's gate read it, when nothing ran on the node since (see _guard_allows).
    health: Health | None = None


# ---------------------------------------------------------------------------------------------------------------
# The verb set
# ---------------------------------------------------------------------------------------------------------------
class ServiceCertificates:
    """One service on one node: what it uses now, what it is to use, and the change between them."""

    runner: SessionRunner

    def __init__(
        self,
        module: Any,
        session: Any,
        service: Service,
        files: dict[str, NodeFile],
        params: dict[str, Any] | None = None,
        view: NodeView | None = None,
    ) -> None:
        self.module = module
        # One entry of ``services`` brings its own options over the call's (see _service_node).
        self.p = params if params is not None else module.params
        self.session = session
        self.service = service
        self.files = files
        self.names = [validate_san_entry(n, "names") for n in self.p.get("names") or []]
        self.now = utcnow()
        self.major: int | None = None
        self.status: dict[str, Any] = {}
        self.in_use: dict[str, list[str]] = {}
        # The node's file store as read once per call: shared by the services of one call, so a file is listed and
        # downloaded once, and an upload of one service is seen by the next.
        self.view = view if view is not None else NodeView()
        self._fresh_status: dict[str, Any] | None = None
        self.listing: set[str] = self.view.listing
        self._cache: dict[str, bytes] = self.view.cache
        self.in_place = False  # state=present would upload nothing and run no command (set by plan)
        self.current: dict[str, Material | None] = {}
        self.desired: dict[str, Material] = {}
        self.trust: NodeFile | None = None
        self.trust_certs: list[Any] = []
        self.current_trust: str | None = None
        self.changed_parts: list[str] = []
        self.trust_changed = False
        self.reload = False
        self.commands: list[str] = []  # the mutating MMP commands, planned or run
        self.ran: list[str] = []
        self.checks: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.tls: dict[str, Any] = {}
        self.notes: list[str] = []
        self.reasons: list[str] = []  # why the service is changed, in the admin's words (also in the diff)
        self.final: dict[str, Any] = {}  # the state the service ended in: enabled, running, what it serves
        self.outage = 0.0
        self._down_at: float | None = None
        self.guard: NodeGuard | None = None  # the call guard, when the plan drops calls and the API is configured

    # ---- reading ------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.service.name

    @property
    def node(self) -> str:
        return str(self.session.name)

    def _download(self, name: str) -> bytes | None:
        if name not in self._cache:
            if name not in self.listing:
                return self.view.pending.get(name)
            self._cache[name] = self.session.download(name)
        return self._cache[name]

    def _read_status(self) -> dict[str, Any]:
        # turn prints its password in clear [H]: its output never reaches an error message.
        output = self.session.run(service_status(self.name), sensitive=bool(self.service.secret_labels))
        self._fresh_status = parse_service_status(self.name, output)
        return self._fresh_status

    def status_now(self) -> dict[str, Any]:
        """The service's status now (what a later service of the same call must see): the last one read, when no
        command of this service ran after it (the check after the change reads it last), else read again."""
        return self._fresh_status if self._fresh_status is not None else self._read_status()

    def _configured(self, status: dict[str, Any]) -> dict[str, dict[str, str | None]]:
        return {part.name: part.files(status) for part in self.service.parts}

    def _running(self, status: dict[str, Any]) -> bool:
        if status.get("enabled") is False:
            return False
        state = status.get("state")
        return not (isinstance(state, str) and "not running" in state.lower())

    def read_state(self, usage: dict[str, Any] | None = None) -> None:
        """Read the service's state; ``usage``: the node's ``read_usage`` when the caller read it already."""
        usage = usage if usage is not None else read_usage(self.session)
        statuses = usage["services"]
        # A 3.x node knows the webbridge3 word (configured or not); 2.x answers it with "unknown command".
        self.major = usage["major"]
        get_service(self.name, self.major)
        trust = self.service.c2w_trust
        if trust is not None and trust.option in self.files and self.major not in trust.majors:
            raise MmpValidationError(
                "%s: %s on %s is `%s`, which exists on CMS %s.x only (this node runs %s.x, whose web bridge has no C2W "
                "link); leave %s out. %s was not touched."
                % (
                    self.node,
                    trust.option,
                    self.name,
                    " ".join((self.name, *trust.words)),
                    "/".join(str(m) for m in trust.majors),
                    self.major,
                    trust.option,
                    self.name,
                )
            )
        if self.name not in statuses:
            raise MmpCommandError("%s: the node did not show the status of %s" % (self.node, self.name))
        self.status = statuses[self.name]
        self.in_use = usage["files"]
        if not self.view.listed:
            self.listing.update(self.session.listdir())
            self.view.listed = True
        if trust is not None:
            self.current_trust = self.status.get(trust.field)
        for part, names in self._configured(self.status).items():
            self.current[part] = self._current_material(part, names)

    def _current_material(self, part: str, names: dict[str, str | None]) -> Material | None:
        """The material a part uses now, or None when it has no key/certificate or a file is gone or unreadable."""
        if not names["key"] or not names["cert"]:
            return None
        key_data, cert_data = self._download(names["key"]), self._download(names["cert"])
        bundle_data = self._download(names["bundle"]) if names["bundle"] else b""
        if key_data is None or cert_data is None or bundle_data is None:
            return None
        material = Material(
            part,
            NodeFile("key", names["key"], key_data),
            NodeFile("cert", names["cert"], cert_data),
            NodeFile("bundle", names["bundle"], bundle_data) if names["bundle"] else None,
        )
        try:
            # Only its public half is compared, and the service runs on it: no consistency check (CPU, at scale).
            material.key_obj = load_private_key(key_data, names["key"], check=False)
            material.certs = load_certificates(cert_data, names["cert"])
            material.bundle_certs = load_certificates(bundle_data, names["bundle"]) if names["bundle"] else []
        except MmpError:
            return None
        return material

    # ---- the wanted material --------------------------------------------------------------------------------
    def resolve(self) -> None:
        """Read the named node files, build webbridge3's full chain, and choose the names uploads go to."""
        missing = [
            f.name
            for f in self.files.values()
            if f.data is None and f.name not in self.listing and f.name not in self.view.pending
        ]
        if missing:
            raise MmpValidationError(
                "%s: %s not on the node; %s was not touched. Upload them first, or give key_src/cert_src/bundle_src "
                "to let the module upload them."
                % (self.node, ", ".join(missing) + (" is" if len(missing) == 1 else " are"), self.name)
            )
        for nodefile in self.files.values():
            if nodefile.data is None:
                nodefile.data = self._download(nodefile.name)
        if not self.service.accepts_bundle and "bundle" in self.files:
            self._compose_full_chain()
        for nodefile in self.files.values():
            if nodefile.upload:
                self._place(nodefile)
        for part in self.service.parts:
            # The primary part is always asked for (key/cert are required); another one only when its files are.
            key, cert = self.files.get(part.option("key")), self.files.get(part.option("cert"))
            if key is not None and cert is not None:
                bundle = self.files.get("bundle") if part.bundle_field else None
                self.desired[part.name] = Material(part.name, key, cert, bundle)
        self.trust = self.files.get(self.service.c2w_trust.option) if self.service.c2w_trust else None

    def _compose_full_chain(self) -> None:
        """webbridge3 takes one full chain file [H, S2/S29]: the certificate with the bundle appended."""
        cert, bundle = self.files["cert"], self.files.pop("bundle")
        certs = load_certificates(cert.content, cert.shown()) + load_certificates(bundle.content, bundle.shown())
        data = certs_to_pem(certs)
        if cert.source is not None and cert.explicit:
            name, explicit = cert.name, True
        else:
            stem, ext = os.path.splitext(cert.name)
            name, explicit = "%s-fullchain%s" % (stem, ext or ".cer"), False
        self.files["cert"] = NodeFile(
            "cert",
            name,
            data=data,
            source="%s + %s" % (cert.shown(), bundle.shown()),
            explicit=explicit,
            upload=True,
            normalized=True,
        )

    def _place(self, nodefile: NodeFile) -> None:
        """Where an upload goes: a free name, or the same content already there.  A file in use keeps its content:
        an explicit name is refused, an implicit one moves to a name derived from the new content."""
        wanted = nodefile.name
        for name in (wanted, _moved_name(wanted, nodefile.content)):
            existing = self._download(name)
            if existing is None:
                nodefile.name, nodefile.upload = name, True
                return
            if existing == nodefile.content:
                nodefile.name, nodefile.upload = name, False
                return
            users = self.in_use.get(name)
            if not users:
                nodefile.name, nodefile.upload = name, True
                self.module.warn(
                    "%s: %s exists with other content and no service uses it; it is replaced by %s"
                    % (self.node, name, nodefile.source)
                )
                return
            if nodefile.explicit:
                raise MmpValidationError(
                    "%s: %s is in use by %s and holds other content than %s; the module never overwrites a file in "
                    "use (it is what a rollback goes back to), and %s was not touched. Upload the new file under a "
                    "new name, e.g. %s=%s, or leave %s unset to let the module choose one."
                    % (
                        self.node,
                        name,
                        ", ".join(users),
                        nodefile.source,
                        self.name,
                        nodefile.option,
                        _moved_name(wanted, nodefile.content),
                        nodefile.option,
                    )
                )
            nodefile.moved_from = wanted
        raise MmpValidationError(
            "%s: cannot find a free name for %s next to %s" % (self.node, nodefile.source, wanted)
        )  # pragma: no cover - two SHA-256 prefixes colliding on one node

    # ---- validation -----------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Every local check of the wanted material; all problems are reported at once, before any change."""
        problems: list[str] = []
        for material in self.desired.values():
            problems += self._validate_material(material)
        if self.trust is not None:
            problems += self._validate_trust(self.trust)
        if not problems and not self.p.get("allow_san_shrink"):
            problems += self._san_shrink()
        if problems:
            raise MmpValidationError(
                "%s: the new certificate material for %s failed validation; %s was not touched:\n- %s"
                % (self.node, self.name, self.name, "\n- ".join(problems))
            )

    def _format_problem(self, nodefile: NodeFile, what: str) -> str | None:
        problem = _pem_text_problem(nodefile.content)
        if problem is None:
            return None
        text = (
            "%s %s is not laid out as CMS wants a %s (%s): entity certificate first, intermediates, root CA last, "
            "and exactly one newline at the end. Give it as %s and the module writes it that way."
            % (nodefile.option, nodefile.name, what, problem, SRC_OPTIONS.get(nodefile.option, "a controller file"))
        )
        if nodefile.name in self.in_use and not nodefile.upload:
            # The service runs on it today: do not block an unrelated run, but say it.
            self.module.warn(text)
            return None
        return text

    def _validate_material(self, m: Material) -> list[str]:
        where = "" if m.part == MAIN else "%s: " % m.part
        try:
            # A new key gets the full consistency check; the very key this part runs on now has passed it.
            in_use = any(c is not None and c.key.data == m.key.content for c in self.current.values())
            m.key_obj = load_private_key(
                m.key.content, m.key.shown(), check=not in_use, path=m.key.source or m.key.name
            )
            m.certs = load_certificates(m.cert.content, m.cert.shown())
            if m.bundle is not None:
                m.bundle_certs = load_certificates(m.bundle.content, m.bundle.shown())
        except MmpValidationError as exc:
            return [where + exc.message]
        problems: list[str] = []
        leaf = m.leaf
        info = cert_info(leaf, self.now)
        if not key_matches_cert(m.key_obj, leaf):
            problems.append(
                "%skey %s does not match certificate %s (public key SHA-256 %s vs %s): use the key the certificate's "
                "CSR was made with"
                % (where, m.key.shown(), m.cert.shown(), public_key_sha256(m.key_obj), info["public_key_sha256"])
            )
        problems += self._leaf_kind_problems(where, m, info)
        if info["expired"]:
            problems.append("%scertificate %s expired on %s" % (where, m.cert.shown(), info["not_after"]))
        elif info["not_yet_valid"]:
            problems.append(
                "%scertificate %s is not valid before %s; check the CA's and the controller's clocks"
                % (where, m.cert.shown(), info["not_before"])
            )
        certs = m.certs + m.bundle_certs
        order = check_chain_order(certs, require_root=True)
        if order is not None:
            what = "certificate file %s" % m.cert.shown()
            if m.bundle is not None:
                what += " followed by bundle %s" % m.bundle.shown()
            if len(certs) == 1 and not is_self_signed(leaf):
                order = "it holds only the entity certificate; %s" % (
                    "give the full chain (entity, intermediates, root CA)"
                    if self.service.part(m.part).bundle_field is None
                    else "give bundle/bundle_src with the intermediates and the root CA"
                )
            problems.append(
                "%s%s is not in chain order (entity, intermediates, root CA last): %s" % (where, what, order)
            )
        else:
            ok, reason = verify_chain(leaf, certs[1:], self.now)
            if not ok:
                problems.append("%sthe chain of %s does not verify: %s" % (where, m.cert.shown(), reason))
        # The Call Bridge dials out with its certificate (SIP TLS, C2W, cluster peers): client use as well.
        for usage in usage_problems(leaf, client=self.name == "callbridge"):
            problems.append("%scertificate %s: %s" % (where, m.cert.shown(), usage))
        missing = san_covers(leaf, self.names)
        if missing:
            problems.append(
                "%scertificate %s does not cover %s (its SAN: %s): the service must answer for every name in names"
                % (where, m.cert.shown(), ", ".join(missing), ", ".join(info["san"]) or "none")
            )
        for nodefile, what in ((m.bundle, "bundle"), (m.cert if len(m.certs) > 1 else None, "chain file")):
            if nodefile is not None:
                problem = self._format_problem(nodefile, what)
                if problem:
                    problems.append(where + problem)
        return problems

    def _leaf_kind_problems(self, where: str, m: Material, info: dict[str, Any]) -> list[str]:
        """A leaf no client should be given: a CA certificate, or a key too weak; a very short validity is warned of."""
        problems = []
        if info["is_ca"]:
            problems.append(
                "%scertificate %s is a CA certificate (basic constraints CA:TRUE), not a service certificate: give the "
                "certificate the CA issued for this node's CSR" % (where, m.cert.shown())
            )
        if info["key_type"] in ("RSA", "DSA") and (info["key_size"] or 0) < MIN_RSA_BITS:
            problems.append(
                "%scertificate %s has a %s key of %s bits; %d is the least clients accept: make a new key and CSR "
                "(cms_pki_csr makes 2048-bit keys)"
                % (where, m.cert.shown(), info["key_type"], info["key_size"], MIN_RSA_BITS)
            )
        if not info["expired"] and not info["not_yet_valid"] and info["days_left"] < 1:
            self.module.warn(
                "%s: %s%s is valid for less than a day more (until %s): it needs replacing again soon"
                % (self.node, where, m.cert.shown(), info["not_after"])
            )
        return problems

    def _san_shrink(self) -> list[str]:
        """Names the current certificate answers for and the new one would not: clients using them would break."""
        problems = []
        for part, wanted in self.desired.items():
            current = self.current.get(part)
            if current is None or not current.certs or not wanted.certs:
                continue
            # Covered by the new certificate counts as kept: a wildcard may take over a host name.
            dropped = san_covers(wanted.leaf, cert_info(current.leaf)["san"])
            if dropped:
                problems.append(
                    "%scertificate %s drops %s from the SAN of the certificate in use (%s); clients that reach %s by "
                    "those names would fail. Add them to the new certificate, or set allow_san_shrink: true if "
                    "dropping them is intended"
                    % (
                        "" if part == MAIN else part + ": ",
                        wanted.cert.shown(),
                        ", ".join(dropped),
                        current.cert.name,
                        self.name,
                    )
                )
        return problems

    def _validate_trust(self, trust: NodeFile) -> list[str]:
        try:
            self.trust_certs = load_certificates(trust.content, trust.shown())
        except MmpValidationError as exc:
            return ["c2w_trust: " + exc.message]
        problems = []
        for cert in self.trust_certs:
            info = cert_info(cert, self.now)
            if info["expired"]:
                problems.append(
                    "c2w_trust %s holds %s, expired on %s" % (trust.shown(), info["subject"], info["not_after"])
                )
        problem = self._format_problem(trust, "trust bundle")
        if problem:
            problems.append(problem)
        return problems

    # ---- planning ---------------------------------------------------------------------------------------------
    def _fingerprints(self, material: Material | None) -> list[str] | None:
        return None if material is None else [fingerprint_sha256(c) for c in material.chain]

    def _same_content(self, part: str) -> bool:
        current, wanted = self.current.get(part), self.desired[part]
        return (
            current is not None
            and public_key_sha256(current.key_obj) == public_key_sha256(wanted.key_obj)
            and self._fingerprints(current) == self._fingerprints(wanted)
        )

    def _endpoint(self, part: str) -> tuple[str, int] | None:
        host = self.p.get("tls_host") or self.p["host"]
        spec = self.service.part(part)
        port = self.p.get(spec.port_option) or spec.status_port(self.status)
        return (host, int(port)) if port else None

    def _roots(self, material: Material) -> list[Any]:
        return [c for c in material.chain if is_self_signed(c)]

    def plan(self) -> None:
        self.changed_parts = [part for part in self.desired if not self._same_content(part)]
        if self.trust is not None:
            current_trust = self._download(self.current_trust) if self.current_trust else None
            try:
                current_fps = (
                    [fingerprint_sha256(c) for c in load_certificates(current_trust)] if current_trust else None
                )
            except MmpValidationError:
                current_fps = None
            self.trust_changed = current_fps != [fingerprint_sha256(c) for c in self.trust_certs]
        for part, material in self.desired.items():
            current = self.current.get(part)
            if part not in self.changed_parts and current is not None and current.names() != material.names():
                self.notes.append(
                    "%s%s already runs this certificate from %s; same content, so nothing is changed"
                    % (
                        "" if part == MAIN else part + " of ",
                        self.name,
                        ", ".join(n for n in current.names().values() if n),
                    )
                )
        certs_commands = []
        for part in self.changed_parts:
            m = self.desired[part]
            bundle = m.bundle.name if m.bundle is not None else None
            certs_commands.append(
                service_certs(self.name, m.key.name, m.cert.name, bundle, part=None if part == MAIN else part)
            )
        if self.trust_changed and self.trust is not None:
            certs_commands.append(c2w_trust(self.name, self.trust.name))
        if certs_commands:
            self.reasons.append(self._change_reason())
        if self.p["tls_check"]:
            self._probe_before(bool(certs_commands))
        if certs_commands:
            self.commands = outage_sequence(self.name, certs_commands)
        elif not self._running(self.status):
            # The desired state includes the running state: a service left disabled (by an admin, or by a run killed
            # between `certs` and `enable`) is started on the files it is configured with.
            self.reasons.append("%s is %s" % (self.name, self._state_words(self.status)))
            self.commands = [self._start_command()]
        elif self.reload:
            self.commands = reload_sequence(self.name)
        self.in_place = not self.commands and not any(f.upload for f in self.files.values())

    def _change_reason(self) -> str:
        parts = [("" if p == MAIN else p + " ") + "certificate" for p in self.changed_parts]
        if self.trust_changed:
            parts.append("C2W trust bundle")
        return "%s %s: the files in use hold other content than the wanted ones" % (self.name, " and ".join(parts))

    def _state_words(self, status: dict[str, Any]) -> str:
        if status.get("enabled") is False:
            return "disabled"
        return "enabled but not running (%s)" % status.get("state")

    def _start_command(self) -> str:
        """What starts a stopped service on its configured files: ``enable``, or ``restart`` for the Call Bridge."""
        word = "enable" if "enable" in self.service.lifecycle else "restart"
        return "%s %s" % (self.name, word)

    def _probe_before(self, changing: bool) -> None:
        """Look at what the endpoint serves now, before anything is touched.

        When a change is coming, the endpoint must be reachable and serve the service's current certificate (or an
        older one of the same key): otherwise tls_host/tls_port point elsewhere, the check after the change would
        fail and cost an outage and a rollback.  Without a change, a service that serves an older certificate of the
        same key than its files hold (files renewed under the same names, not re-read yet) needs a reload.
        """
        primary = self.primary
        endpoint = self._endpoint(primary)
        if endpoint is None:
            return
        host, port = endpoint
        current, wanted = self.current.get(primary), self.desired[primary]
        try:
            served = tls_probe(host, port, self._roots(current if current is not None else wanted))
        except (OSError, ssl.SSLError) as exc:
            if changing and self._running(self.status):
                raise MmpValidationError(
                    "%s: the TLS endpoint of %s, %s:%d, cannot be reached from the controller (%s) although the "
                    "service runs; the module checks the new certificate there after the change (and would roll "
                    "back), so %s was not touched. Point tls_host/tls_port at the service, or set tls_check: false."
                    % (self.node, self.name, host, port, exc, self.name)
                ) from None
            return
        self.tls["before"] = served
        if changing:
            if current is not None and served["public_key_sha256"] != public_key_sha256(current.leaf):
                if self._older_certificate_of_this_service(served, current):
                    # Configured but never restarted (an interrupted run): the change restarts it anyway.
                    self.notes.append(
                        "%s serves %s (SHA-256 %s), an older certificate than the one it is configured with (%s); "
                        "the change puts the new one in place"
                        % (self.name, served["subject"], served["fingerprint_sha256"], current.cert.name)
                    )
                    return
                raise MmpValidationError(
                    "%s: the TLS endpoint %s:%d serves %s (SHA-256 %s), not the certificate %s is configured with "
                    "(%s, SHA-256 %s): tls_host/tls_port point at something else, and the check after the change "
                    "would fail and roll back, so %s was not touched. Point tls_host/tls_port at the service, or set "
                    "tls_check: false."
                    % (
                        self.node,
                        host,
                        port,
                        served["subject"],
                        served["fingerprint_sha256"],
                        self.name,
                        current.cert.name,
                        fingerprint_sha256(current.leaf),
                        self.name,
                    )
                )
            return
        # Also in a preflight (state=validated): whether the node is already in place includes what it serves.
        self._reload_if_stale(served, wanted, endpoint)

    def _reload_if_stale(self, served: dict[str, Any], wanted: Material, endpoint: tuple[str, int]) -> None:
        """Without a change of files: a service that does not serve what it is configured with gets a reload when
        it serves an older certificate of its own (same key, or the same names); anything else is a warning."""
        host, port = endpoint
        leaf = cert_info(wanted.leaf)
        if served["fingerprint_sha256"] == leaf["fingerprint_sha256"]:
            return
        if served["public_key_sha256"] == leaf["public_key_sha256"]:
            # Renewed under the same names (the TechNote: "only a restart is needed"), not re-read yet.
            self.reload = True
            self.notes.append(
                "%s serves an older certificate of its key (SHA-256 %s) than its files hold; reloading it"
                % (self.name, served["fingerprint_sha256"])
            )
            self.reasons.append(self.notes[-1])
        elif self._older_certificate_of_this_service(served, wanted):
            # Configured but not restarted (a run killed between `callbridge certs` and `callbridge restart`): the
            # endpoint still serves a previous certificate for the same names, so it is this service, not a wrong port.
            self.reload = True
            self.reasons.append(
                "%s is configured with %s but still serves %s (SHA-256 %s), a certificate for the same names; "
                "restarting it so it serves the configured one"
                % (self.name, wanted.cert.name, served["subject"], served["fingerprint_sha256"])
            )
            self.notes.append(self.reasons[-1])
        else:
            self.module.warn(
                "%s:%d serves %s (SHA-256 %s), not the certificate %s is configured with; check tls_host/tls_port"
                % (host, port, served["subject"], served["fingerprint_sha256"], self.name)
            )

    def _older_certificate_of_this_service(self, served: dict[str, Any], material: Material) -> bool:
        """The endpoint serves a certificate for the same name as ``material``'s: its common name, or its whole SAN.
        One shared name is not enough: nodes of a cluster share the join URL host, and a port pointing at another
        node must not look like this service."""
        info = cert_info(material.leaf)
        if info["common_name"] and served.get("common_name") == info["common_name"]:
            return True
        return bool(info["san"]) and sorted(served.get("san") or []) == sorted(info["san"])

    # ---- doing ------------------------------------------------------------------------------------------------
    def upload(self) -> None:
        for nodefile in self.files.values():
            if not nodefile.upload:
                continue
            entry = {
                "name": nodefile.name,
                "source": nodefile.source,
                # Not even a hash of a private key leaves the module; the transport verified it on the node.
                "sha256": None if nodefile.option.endswith("key") else hashlib.sha256(nodefile.content).hexdigest(),
                "normalized": nodefile.normalized,
                "moved_from": nodefile.moved_from,
                "uploaded": False,
            }
            if not self.module.check_mode:
                self.session.upload(nodefile.name, nodefile.content)
                self.listing.add(nodefile.name)
                self._cache[nodefile.name] = nodefile.content
                entry["uploaded"] = True
            self.uploads.append(entry)

    def node_checks(self) -> None:
        """``pki match`` and ``pki verify`` on the node: the node's own opinion, before anything is touched."""
        parts = list(self.desired) if self.p["state"] == "validated" else self.changed_parts
        problems = []
        for part in parts:
            m = self.desired[part]
            if any(f.upload for f in (m.key, m.cert, m.bundle) if f is not None) and self.module.check_mode:
                self.checks.append({"part": part, "skipped": "files not uploaded in check mode"})
                continue
            where = "" if part == MAIN else part + ": "
            command = pki_match(m.key.name, m.cert.name)
            output = self._node_check(command, m.key, m.cert)
            matched = parse_match(output)
            self.checks.append({"part": part, "command": command, "ok": matched})
            if not matched:
                problems.append("%s%s says the key and certificate do not match: %s" % (where, command, output.strip()))
            command = pki_verify(m.cert.name, m.bundle.name if m.bundle is not None else None)
            verified, reason = parse_verify(self._node_check(command, m.cert, m.bundle))
            self.checks.append({"part": part, "command": command, "ok": verified, "reason": reason})
            if not verified:
                problems.append("%s%s failed on the node: %s" % (where, command, reason))
        if problems:
            raise MmpValidationError(
                "%s: the node refused the new certificate material for %s; %s was not touched:\n- %s"
                % (self.node, self.name, self.name, "\n- ".join(problems))
            )

    def _node_check(self, command: str, *files: NodeFile | None) -> str:
        """The node's answer to a ``pki`` check, asked once per call for the same files with the same contents
        (``validate`` has read every one)."""
        key = (command, tuple(f.content if f is not None else b"" for f in files))
        if key not in self.view.node_checks:
            self.view.node_checks[key] = self.session.run(command, check=False)
        return self.view.node_checks[key]

    def _run(self, command: str) -> None:
        """One command of the outage sequence; the outage clock runs from the first stop to the last start."""
        # `<service> disable|enable|restart` are two words; a certs command ends in a file name.
        words = command.split()
        word = words[1] if len(words) == 2 else "certs"
        if word in ("disable", "restart") and self._down_at is None:
            if self.guard is not None:
                self.guard.record_dropped()  # the legs this stop cuts: 0 unless one joined since the decision
            self._down_at = time.monotonic()
        self.ran.append(command)
        self._fresh_status = None
        if word not in ("enable", "restart"):
            self.session.run(command)
            return
        output = self.session.run(command, check=False)
        checks = parse_enable_output(output)
        error = find_error(output)
        if not checks["ok"] or error:
            raise MmpCommandError(
                "%s reported a failure: %s" % (command, "; ".join(checks["failures"]) or error),
                node=self.node,
                command=command,
                output=output,
            )
        if self._down_at is not None:
            self.outage += time.monotonic() - self._down_at
            self._down_at = None

    def _verify_after(
        self, wanted: dict[str, Material], name_parts: list[str], tls_parts: list[str], trust: str | None
    ) -> dict[str, Any]:
        """The status names the wanted files and the service runs; its endpoint serves the wanted leaf."""
        status = self._read_status()
        configured = self._configured(status)
        for part in name_parts:
            if configured[part] != wanted[part].names():
                raise MmpCommandError(
                    "%s status shows %s, not %s" % (self.name, configured[part], wanted[part].names()), node=self.node
                )
        if trust is not None and status.get("c2w_trust") != trust:
            raise MmpCommandError(
                "%s status shows C2W trust bundle %s, not %s" % (self.name, status.get("c2w_trust"), trust),
                node=self.node,
            )
        if not self._running(status):
            raise MmpCommandError("%s is not running after the change" % self.name, node=self.node)
        results = {}
        if self.p["tls_check"]:
            for part in tls_parts:
                endpoint = self._endpoint(part)
                if endpoint is None:
                    results[part] = {"skipped": "no TLS endpoint known for %s; set tls_port" % self.name}
                    continue
                results[part] = self._check_tls(endpoint, wanted[part])
        self._record_final(status, results.get(self.primary), wanted.get(self.primary))
        return results

    def _record_final(self, status: dict[str, Any], served: dict[str, Any] | None, wanted: Material | None) -> None:
        """The state the service is left in, for the result and the role's summary: enabled, running, serving."""
        configured = self._configured(status).get(self.primary, {})
        serves: bool | None = None
        if served and "fingerprint_sha256" in served and wanted is not None and wanted.certs:
            serves = served["fingerprint_sha256"] == fingerprint_sha256(wanted.leaf)
        self.final = {
            "enabled": status.get("enabled") is not False,
            "running": self._running(status),
            "cert": configured.get("cert"),
            "serving": served.get("subject") if served and "subject" in served else None,
            "serving_fingerprint_sha256": served.get("fingerprint_sha256") if served else None,
            "serves_configured": serves,
        }

    def _check_tls(self, endpoint: tuple[str, int], material: Material) -> dict[str, Any]:
        host, port = endpoint
        start = time.monotonic()
        deadline = start + max(1, self.p["tls_timeout"])
        want = fingerprint_sha256(material.leaf)
        progress = getattr(self.module, "progress", None)
        while True:
            try:
                served = tls_probe(host, port, self._roots(material))
                break
            except (OSError, ssl.SSLError) as exc:
                if progress is not None:
                    elapsed = time.monotonic() - start
                    progress(
                        "%s: waiting for %s to serve TLS on %s:%d: %s after %ds (tls_timeout %ds)"
                        % (self.node, self.name, host, port, exc, elapsed, self.p["tls_timeout"]),
                        elapsed=elapsed,
                    )
                # The service may still be coming up: retry until tls_timeout.
                if time.monotonic() >= deadline:
                    raise MmpCommandError(
                        "the TLS endpoint %s:%d of %s did not complete a handshake within %ds: %s"
                        % (host, port, self.name, self.p["tls_timeout"], exc),
                        node=self.node,
                    ) from None
                time.sleep(TLS_RETRY_INTERVAL)
        served["matches"] = served["fingerprint_sha256"] == want
        if not served["matches"]:
            raise MmpCommandError(
                "the TLS check failed: %s:%d serves %s (SHA-256 %s), not %s (SHA-256 %s)"
                % (host, port, served["subject"], served["fingerprint_sha256"], material.cert.name, want),
                node=self.node,
            )
        if not served["verified"]:
            raise MmpCommandError(
                "the TLS check failed: %s:%d serves the new certificate but its chain does not verify up to the "
                "root CA deployed with it (%s); the service does not send its intermediates"
                % (host, port, served["verify_reason"]),
                node=self.node,
            )
        return served

    @property
    def primary(self) -> str:
        return self.service.primary.name

    def apply(self) -> None:
        previous = {part: self.current.get(part) for part in self.changed_parts or [self.primary]}
        previous_trust = self.current_trust if self.trust_changed else None
        # What runs now changes the node: only this change's own gate (_health_after) gives the next one a baseline.
        self.view.health = None
        try:
            for command in self.commands:
                self._run(command)
            self.tls["after"] = self._verify_wanted()
        except Exception as exc:  # noqa: BLE001 - whatever fails once the service is down, it must come back
            cause = exc if isinstance(exc, MmpError) else MmpError("%s: %s" % (type(exc).__name__, exc))
            self._rollback(cause, previous, previous_trust)

    def _verify_wanted(self) -> dict[str, Any]:
        return self._verify_after(
            self.desired,
            self.changed_parts,
            self.changed_parts or [self.primary],
            self.trust.name if self.trust_changed and self.trust is not None else None,
        )

    def _new_session(self) -> Any:
        """One fresh, connected session for the rollback (the only place that builds one)."""
        # The rollback must outlast what made the change fail: after a timeout the node may still be busy with the
        # slow step (its next prompt comes only when that ends). Bringing the old certificate back matters more than
        # failing fast, so the rollback waits at least as long as the default command timeout.
        return self.runner.open_session(min_command_timeout=ROLLBACK_COMMAND_TIMEOUT)

    def _reconnect(self) -> None:
        """A fresh connection for the rollback, tried again with a growing pause until reconnect_timeout: after a
        drop the old shell is useless, and a node that reboots or a network that blips comes back in a while."""
        with contextlib.suppress(Exception):  # closing a dead connection may fail in any way; it is gone anyway
            self.session.close()
        deadline = time.monotonic() + self.p["reconnect_timeout"]
        pause = 1.0
        while True:
            try:
                self.session = self._new_session()
                return
            except (MmpAuthError, MmpHostKeyError):
                raise  # waiting does not fix credentials or a host key
            except (MmpConnectError, MmpTimeout) as exc:
                if time.monotonic() + pause > deadline:
                    raise MmpConnectError(
                        "%s (tried for %d s, reconnect_timeout)"
                        % (exc.message.rstrip(". "), self.p["reconnect_timeout"]),
                        node=self.node,
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, RECONNECT_MAX_INTERVAL)

    def _in_place(self, status: dict[str, Any]) -> bool:
        """The whole change took effect on the node: the wanted files configured and the service running."""
        configured = self._configured(status)
        if any(configured[part] != self.desired[part].names() for part in self.changed_parts):
            return False
        if self.trust_changed and self.trust is not None and status.get("c2w_trust") != self.trust.name:
            return False
        return self._running(status)

    def _manual_restore(self, previous: dict[str, Material | None], previous_trust: str | None) -> list[str]:
        """The MMP commands that put the previous files back and start the service, for an admin at the node."""
        restore = [
            service_certs(
                self.name,
                str(m.names()["key"]),
                str(m.names()["cert"]),
                m.names()["bundle"],
                part=None if part == MAIN else part,
            )
            for part, m in previous.items()
            if m is not None and part in self.changed_parts
        ]
        if previous_trust:
            restore.append(c2w_trust(self.name, previous_trust))
        return outage_sequence(self.name, restore) if restore else [self._start_command()]

    def _kept_after_drop(self, cause: MmpError, status: dict[str, Any], what: str) -> bool:
        """After a dropped connection: the whole change had taken effect and passes its checks, so it is kept."""
        if not isinstance(cause, (MmpConnectError, MmpTimeout)) or not self._in_place(status):
            return False
        try:
            self.tls["after"] = self._verify_wanted()
        except MmpError:
            return False  # roll back as for any failure
        self.notes.append(
            "%s; after reconnecting, the change had taken effect and passed its checks, so it was kept"
            % what.rstrip(".")
        )
        return True

    def _restore_sequence(
        self, status: dict[str, Any], previous: dict[str, Material | None], previous_trust: str | None
    ) -> list[str]:
        """The commands that bring the previous files back from the state the node is really in, start last."""
        configured = self._configured(status)
        restore: list[str] = []
        for part, material in previous.items():
            if material is None:
                raise MmpCommandError(
                    "%s had no usable certificate before the change, so there is nothing to go back to" % self.name
                )
            if configured[part] != material.names():
                names = material.names()
                restore.append(
                    service_certs(
                        self.name,
                        str(names["key"]),
                        str(names["cert"]),
                        names["bundle"],
                        part=None if part == MAIN else part,
                    )
                )
        if previous_trust:
            restore.append(c2w_trust(self.name, previous_trust))
        if "disable" not in self.service.sequence:
            return outage_sequence(self.name, restore) if restore else reload_sequence(self.name)
        sequence = outage_sequence(self.name, restore) if restore else [self.name + " enable"]
        if not self._running(status) and sequence[0].endswith(" disable"):
            sequence = sequence[1:]
        return sequence

    def _rollback(self, cause: MmpError, previous: dict[str, Material | None], previous_trust: str | None) -> None:
        """Check the real state after reconnecting, then put the previous files back and only then start the service.

        Returns (no rollback) when a dropped connection hid a change that had fully taken effect and passes its
        checks: rolling that back would cost a second outage for nothing.
        """
        # A transport error's message carries the last output and a hint for a manual retry; the first line says it.
        what = re.sub(r"[;:,]?\s*last output:?$", "", cause.message.split("\n")[0].strip())
        try:
            self._reconnect()
            if self._kept_after_drop(cause, self._read_status(), what):
                return
            for command in self._restore_sequence(self._read_status(), previous, previous_trust):
                self._run(command)
            old = {part: m for part, m in previous.items() if m is not None}
            try:
                self.tls["rollback"] = self._verify_after(old, list(old), list(old), previous_trust)
                served = " and serves it again over TLS" if self.tls["rollback"] and self.p["tls_check"] else ""
            except MmpError as exc:
                served = ", but the check afterwards failed: %s" % exc.message
        except MmpError as exc:
            manual = "; ".join("`%s`" % c for c in self._manual_restore(previous, previous_trust))
            raise ServiceCertsFailure(
                "%s: %s: %s ROLLBACK FAILED: %s. %s may be down or on the new files. Restore it by hand on the node "
                "with these MMP commands (the previous files are still there): %s; then check `%s`."
                % (self.node, self.name, what, exc.message, self.name, manual, self.name),
                self.dump(rolled_back=False),
                node=self.node,
            ) from None
        old_files = "; ".join(
            "%s%s"
            % ("" if part == MAIN else part + ": ", ", ".join("%s %s" % (k, v) for k, v in m.names().items() if v))
            for part, m in previous.items()
            if m is not None
        )
        raise ServiceCertsFailure(
            "%s: %s: %s. Rolled back: the old certificate is back in place (%s), %s is enabled again%s. The new "
            "files stay on the node for another try. Outage %.1f s."
            % (self.node, self.name, what.rstrip("."), old_files, self.name, served, self.outage),
            self.dump(rolled_back=True),
            node=self.node,
        )

    # ---- result -------------------------------------------------------------------------------------------------
    def dump(self, rolled_back: bool | None = None) -> dict[str, Any]:
        if self._down_at is not None:
            self.outage += time.monotonic() - self._down_at
            self._down_at = None
        parts = {}
        for part, material in self.desired.items():
            parts[part] = {
                "changed": part in self.changed_parts,
                "before": _summary(self.current.get(part)),
                "after": _summary(material) if material.certs else None,
            }
        primary = self.primary
        result: dict[str, Any] = {
            "changed": bool(self.commands or any(u["uploaded"] or self.module.check_mode for u in self.uploads)),
            "service": self.name,
            "state": self.p["state"],
            "cms_major": self.major,
            "commands": self.ran if self.ran else (self.commands if self.module.check_mode else []),
            "checks": self.checks,
            "uploads": self.uploads,
            "parts": parts,
            "before": parts.get(primary, {}).get("before"),
            "after": parts.get(primary, {}).get("after"),
            "outage_seconds": round(self.outage, 3),
            "reloaded": self.reload and not self.module.check_mode and bool(self.ran),
            "tls": self.tls,
            "notes": self.notes,
            "reasons": self.reasons if self.commands else [],
            "service_state": self.final,
            "in_place": self.in_place,
        }
        if self.p["state"] == "validated":
            result["changed"] = any(u["uploaded"] or self.module.check_mode for u in self.uploads)
            result["commands"] = []
        if self.trust is not None:
            result["c2w_trust"] = {
                "before": self.current_trust,
                "after": self.trust.name,
                "changed": self.trust_changed,
            }
        if rolled_back is not None:
            result["rolled_back"] = rolled_back
        result["call_guard"] = self.guard.as_dict() if self.guard is not None else None
        if self.module._diff:
            result["diff"] = self._diff(parts)
        return result

    def _diff(self, parts: dict[str, Any]) -> dict[str, Any]:
        keys = ("key", "cert", "bundle", "subject", "san", "fingerprint_sha256", "not_after")

        def side(which: str) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for part, entry in parts.items():
                summary = entry[which] or {}
                out[part] = {k: summary.get(k) for k in keys if k in summary} or None
            return out

        before: dict[str, Any] = {"service": self.name, **side("before")}
        before["state"] = self._state_words(self.status) if not self._running(self.status) else "running"
        after: dict[str, Any] = {"service": self.name, **side("after"), "commands": self.commands}
        after["state"] = "running" if self.p["state"] == "present" else before["state"]
        after["reasons"] = self.reasons if self.commands else []
        if self.trust is not None:
            before["c2w_trust"], after["c2w_trust"] = self.current_trust, self.trust.name
        after["uploads"] = ["%s <- %s" % (u["name"], u["source"]) for u in self.uploads]
        return {"before": before, "after": after}

    # ---- the whole call -----------------------------------------------------------------------------------------
    def run(self, usage: dict[str, Any] | None = None, lock: Any = None) -> dict[str, Any]:
        """The whole change of this service. ``usage``: the node's ``read_usage`` already read; ``lock``: a callable
        that takes the node's lock for a call handling several services (it owns the lock, not this service)."""
        self.read_state(usage)
        self.resolve()
        self.validate()
        self.plan()
        # The call guard decides before the lock and the uploads: a busy node that fails or is skipped is untouched.
        if self.p["state"] == "present" and not self._guard_allows():
            self.notes.append("%s: %s" % (self.node, self.guard.reason if self.guard else "left for a later run"))
            self.commands = []
            return self.dump()
        # The preflight of the role validates without the node's own checks (validate_on_node false): it writes
        # nothing before every node is locked; the rollout uploads and asks the node before it touches the service.
        on_node = self.p["state"] == "present" or self.p.get("validate_on_node", True)
        # A run that writes to the node holds the node's lock while it does (docs/concurrency.md); one that only
        # reads takes none, so a no-op re-run costs no extra round trips.
        uploads = on_node and any(f.upload for f in self.files.values())
        writes = not self.module.check_mode and bool(self.commands or uploads)
        own_lock = None
        if writes:
            own_lock = lock() if lock is not None else self._lock()
        if not on_node:
            self.view.pending.update({f.name: f.content for f in self.files.values() if f.upload})
        try:
            if on_node:
                self.upload()
                self.node_checks()
            if self.module.check_mode or self.p["state"] == "validated" or not self.commands:
                self._record_final(self.status, self.tls.get("before"), self.desired.get(self.primary))
                return self.dump()
            if self.guard is not None and not self.guard.last_look():
                self.notes.append("%s: %s" % (self.node, self.guard.reason))
                self.commands = []
                return self.dump()
            self.apply()
            self._health_after()
            return self.dump()
        finally:
            if own_lock:
                self._unlock(own_lock)

    def _guard_allows(self) -> bool:
        """Run the call guard when the planned commands drop calls; whether the change may go ahead now.

        In check mode the guard only reads (``would_wait`` and the like) and the plan is reported as usual.
        """
        if not disruptive(self.commands):
            return True
        if not api_configured(self.p):
            self.module.warn(GUARD_OFF_WARNING)
            return True
        self.guard = NodeGuard.from_params(self.p, self.node, self.module.check_mode, progress=_progress(self.module))
        # The API is Web Admin, whose certificate this rollout may already have moved to the CA being deployed (or
        # moves now): that root is trusted besides api_ca_file, as the module's own TLS check trusts it.
        roots = [root for material in self.desired.values() for root in self._roots(material)]
        if roots:
            self.guard.trust_also(certs_to_pem(roots).decode("ascii"))
        # The health the previous service's gate read in this call is this change's baseline (read once, not twice).
        health, self.view.health = self.view.health, None
        return self.guard.check(health_before=health)

    def _health_after(self) -> None:
        """The health gate after a change that passed its own checks: no new alarm on the node."""
        if self.guard is None:
            return
        try:
            self.guard.gate_after(database_in_sync=False, timeout=max(1, self.p["tls_timeout"]))
            self.view.health = self.guard.health_after
        except MmpError as exc:
            # The certificate is in place and verified; the gate stops the rollout before the next node.
            raise ServiceCertsFailure(exc.message, self.dump(), node=self.node, hint=exc.hint) from None

    def _lock(self) -> str | None:
        """Take (or, under a role's ``run_id``, refresh) the node's lock; the run id to release, if this call owns it.

        Without a ``run_id`` the module locks for its own call: a module left running after its playbook was killed
        keeps the node locked until it ends, so a re-run cannot meet it half way through a swap.
        """
        run_id = self.p.get("run_id") or "cms_service_certs-%s" % secrets.token_hex(6)
        taken = acquire_lock(
            self.session,
            run_id,
            "cms_service_certs %s" % self.name,
            LOCK_TTL,
            break_lock=self.p["break_lock"],
            break_hint="service_certs_break_lock: true (break_lock: true on cms_service_certs)",
            tied_to_process=True,
        )
        for warning in taken["warnings"]:
            self.module.warn(warning)
        return None if self.p.get("run_id") else run_id

    def _unlock(self, run_id: str) -> None:
        try:
            released = release_lock(self.session, run_id)
        except Exception as exc:  # noqa: BLE001 - after a failure the connection may be gone in any way
            # The lock then expires on its own, or the next run on this controller sees its run ended.
            self.module.warn("%s: could not release the node's lock (%s); it expires on its own" % (self.node, exc))
            return
        for warning in released["warnings"]:
            self.module.warn(warning)


def disruptive(commands: list[str]) -> bool:
    """Whether the commands cut live meetings (or the API): a Call Bridge restart, a Web Bridge or Web Admin stop.

    TURN and XMPP carry no call legs the API counts, so their swaps are not guarded.
    """
    for command in commands:
        words = command.split()
        if len(words) == 2 and words[0] in DISRUPTIVE_SERVICES and words[1] in ("disable", "restart"):
            return True
    return False


def _progress(module: Any) -> Any:
    """Where the guard's waiting lines go: the action plugin's progress display when it has one, else the log."""
    return getattr(module, "progress", None) or module.log


def check_ports(params: dict[str, Any], where: str = "") -> None:
    for name in params.get("names") or []:
        validate_san_entry(name, "names")
    for option in ("tls_port", "c2w_tls_port"):
        value = params.get(option)
        if value is not None and not 0 < value < 65536:
            raise MmpValidationError(
                "%s%s must be a TCP port from 1 to 65535 (got %d); leave it out to use the port the service's status "
                "shows" % (where, option, value)
            )


def run_service_certs(module: Any) -> None:
    require_libraries(module, cryptography=True)
    try:
        if module.params.get("services") is not None:
            for index, entry in enumerate(module.params["services"], 1):
                check_ports(entry, "services entry %d: " % index)
        else:
            for pair in (("key", "key_src"), ("cert", "cert_src")):
                if all(module.params.get(option) is None for option in pair):
                    raise MmpValidationError("one of the following is required: %s" % ", ".join(pair))
        if module.params.get("release_lock") != "never" and module.params.get("services") is None:
            raise MmpValidationError("release_lock goes with services (the call's lock for several services)")
        if module.params.get("c2w_peer_chains") and module.params.get("services") is None:
            raise MmpValidationError("c2w_peer_chains goes with services (the preflight of a node)")
        check_ports(module.params)
        if module.params["tls_timeout"] <= 0:
            raise MmpValidationError(
                "tls_timeout must be a number of seconds above 0 (got %d): how long the service may take to answer TLS "
                "after it was enabled" % module.params["tls_timeout"]
            )
        if module.params["reconnect_timeout"] <= 0:
            raise MmpValidationError(
                "reconnect_timeout must be a number of seconds above 0 (got %d): it is how long a rollback keeps "
                "trying to reach the node again; the default, 300, outlasts a node reboot"
                % module.params["reconnect_timeout"]
            )
    except MmpError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    if module.params.get("services") is not None:
        # Several services on one session: the node driver (imported here, it builds on this module).
        from ansible_collections.cisco_cms.mmp.plugins.module_utils._service_node import run_node_services

        run_node_services(module, request_files)
        return
    try:
        service = get_service(module.params["service"])
        files = request_files(module.params, service)
    except MmpError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    runner = SessionRunner(module)

    def build(session: MmpSession) -> ServiceCertificates:
        job = ServiceCertificates(module, session, service, files)
        job.runner = runner  # the rollback asks it for a fresh session
        return job

    # A failure after the service went down carries what was done (outage, rollback, commands) into the result.
    runner.execute(lambda session: build(session).run())
