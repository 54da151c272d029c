# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side checks of keys, CSRs, certificates and chains, with ``cryptography``.

These run before a file is uploaded to a node, so that a wrong chain order, a missing intermediate, a key that
does not match or an expired certificate is caught while the service still runs on its old certificate.  Chain
rules come from the TechNote "Generate CSR and apply certificates to CMS": entity certificate first,
intermediates, root CA last, then exactly one trailing newline.

``cryptography`` is optional at import time (ansible-test imports module_utils without it); every public function
raises ``MmpError`` naming the missing library when it is absent, and modules report ``CRYPTOGRAPHY_IMPORT_ERROR``
through ``missing_required_lib``.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import math
import re
import traceback
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError, MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import normalize_serial, to_iso_utc

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

MAX_CHAIN_DEPTH = 10
PEM_RE = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----",
    re.DOTALL,
)
_ENCRYPTED_HINT = (
    "encrypted private keys are not supported by CMS (the MMP has no passphrase prompt); decrypt it first with "
    "`openssl rsa -in {name} -out {plain}` (or `openssl pkey -in {name} -out {plain}` for a non-RSA key), then "
    "use the decrypted file and keep it safe"
)


def _require() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise MmpError(
            "the cryptography Python library is required on the controller for certificate checks",
            hint="Install it in the Python that runs Ansible (pip install cryptography).",
        )


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _as_text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------------------------
# PEM text
# ---------------------------------------------------------------------------------------------------------------
def pem_blocks(data: bytes | str) -> list[tuple[str, str]]:
    """``(label, block)`` for every PEM block in ``data``, each block re-written canonically.

    Canonical: LF line ends, no spaces, base64 wrapped at 64 columns (unless the block carries RFC 1421 headers,
    as an encrypted traditional key does), no text around it.
    """
    blocks: list[tuple[str, str]] = []
    for match in PEM_RE.finditer(_as_text(data)):
        label = match.group("label")
        lines = [line.strip() for line in match.group("body").split("\n")]
        if any(":" in line for line in lines):
            body = "\n".join(lines).strip("\n")
        else:
            joined = "".join(lines).replace(" ", "")
            body = "\n".join(joined[i : i + 64] for i in range(0, len(joined), 64))
        blocks.append((label, "-----BEGIN %s-----\n%s\n-----END %s-----" % (label, body, label)))
    return blocks


def normalize_bundle(pem: bytes | str, source: str = "bundle") -> bytes:
    """A chain or bundle file as CMS wants it: the PEM blocks only, LF line ends, exactly one trailing newline.

    "Anytime you create a bundle, the certificate must have only one carriage return at the end" [H, S2].
    """
    blocks = pem_blocks(pem)
    if not blocks:
        raise MmpValidationError(
            "%s holds no PEM block ('-----BEGIN CERTIFICATE-----'); CMS takes Base-64 (PEM) files: convert a DER "
            "file with `openssl x509 -inform der -in FILE -out FILE.pem`" % source
        )
    return ("\n".join(block for _label, block in blocks) + "\n").encode("ascii")


def normalize_upload(data: bytes, source: str, is_key: bool) -> bytes:
    """A controller file as it is uploaded: the PEM blocks only, LF line ends, one trailing newline (a file saved on
    Windows, with CRLF or extra blank lines, uploads the same as its clean copy and compares equal to it on the
    node). A key file must hold a private key."""
    if is_key and not any(label.endswith("PRIVATE KEY") for label, _block in pem_blocks(data)):
        raise MmpValidationError(
            "%s holds no PEM private key ('-----BEGIN PRIVATE KEY-----' or '-----BEGIN RSA PRIVATE KEY-----')" % source
        )
    return normalize_bundle(data, source)


def certs_to_pem(certs: list[Any]) -> bytes:
    """Certificates in the given order as one normalized PEM file (a chain: entity first, root last)."""
    _require()
    if not certs:
        raise MmpValidationError("no certificate to write")
    return normalize_bundle(b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs))


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def load_certificates(data: bytes | str, source: str = "certificate file") -> list[Any]:
    """Every certificate of a PEM file (one certificate, a chain or a bundle), in file order."""
    _require()
    blocks = [block for label, block in pem_blocks(data) if label in ("CERTIFICATE", "X509 CERTIFICATE")]
    if not blocks:
        raise MmpValidationError(
            "%s holds no PEM certificate; CMS takes Base-64 (PEM) certificates ('-----BEGIN CERTIFICATE-----'): "
            "convert a DER file with `openssl x509 -inform der -in FILE -out FILE.pem`" % source
        )
    certs = []
    for number, block in enumerate(blocks, 1):
        try:
            certs.append(x509.load_pem_x509_certificate(block.replace("X509 CERTIFICATE", "CERTIFICATE").encode()))
        except ValueError as exc:
            raise MmpValidationError(
                "certificate %d of %s cannot be read (%s); re-export it from the CA as PEM" % (number, source, exc)
            ) from None
    return certs


def load_certificate(data: bytes | str, source: str = "certificate file") -> Any:
    """The first certificate of a PEM file (the entity certificate of a full chain)."""
    return load_certificates(data, source)[0]


def load_csr(data: bytes | str, source: str = "CSR") -> Any:
    _require()
    blocks = [block for label, block in pem_blocks(data) if label in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")]
    if not blocks:
        raise MmpValidationError("%s holds no PEM certificate request ('-----BEGIN CERTIFICATE REQUEST-----')" % source)
    try:
        return x509.load_pem_x509_csr(blocks[0].replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST").encode())
    except ValueError as exc:
        raise MmpValidationError("%s cannot be read as a CSR (%s)" % (source, exc)) from None


class EncryptedKeyError(MmpValidationError):
    """A private key that is encrypted, given without a passphrase: a caller that can take one says which option."""


def _encrypted_key_error(source: str, path: str | None = None) -> EncryptedKeyError:
    """``source`` names the key in the message; ``path`` (its file, when ``source`` is a label) goes in the command."""
    name = path or source
    plain = re.sub(r"(\.[A-Za-z0-9]+)?$", r"-decrypted\1", name, count=1) if name else "key-decrypted.key"
    return EncryptedKeyError("%s: %s" % (source, _ENCRYPTED_HINT.format(name=name, plain=plain)))


@functools.lru_cache(maxsize=16)
def _load_pem_private_key(block: bytes, check: bool) -> Any:
    """One load per distinct key in a process: checking an RSA key's consistency takes tens of milliseconds of CPU
    (most of a fleet preflight's), and a node's services often share one key, read for each service."""
    return serialization.load_pem_private_key(block, password=None, unsafe_skip_rsa_key_validation=not check)


def _decrypt_private_key(text: str, source: str, passphrase: str) -> Any:
    """An encrypted PEM private key opened with its passphrase (never cached: the passphrase is a secret)."""
    blocks = [block for label, block in pem_blocks(text) if label.endswith("PRIVATE KEY")]
    try:
        return serialization.load_pem_private_key(blocks[0].encode() if blocks else b"", password=passphrase.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise MmpValidationError(
            "%s could not be decrypted with the passphrase given, or is not a PEM private key" % source
        ) from None


def load_private_key(
    data: bytes | str,
    source: str = "private key",
    check: bool = True,
    path: str | None = None,
    passphrase: str | None = None,
) -> Any:
    """An unencrypted PEM private key; an encrypted one is refused with how to decrypt it (``path``: the key's file
    for that command, when ``source`` is a label), unless ``passphrase`` is given for a key that stays on the
    controller (the lab CA's).

    ``check`` False skips the RSA consistency check, for a key only compared by its public half: the key a running
    service already uses (it loaded it), never a new key.
    """
    _require()
    text = _as_text(data)
    encrypted = "ENCRYPTED PRIVATE KEY" in text or re.search(r"Proc-Type:\s*4\s*,\s*ENCRYPTED", text)
    if encrypted and passphrase:
        return _decrypt_private_key(text, source, passphrase)
    if encrypted:
        raise _encrypted_key_error(source, path)
    blocks = [block for label, block in pem_blocks(text) if label.endswith("PRIVATE KEY")]
    if not blocks:
        raise MmpValidationError(
            "%s holds no PEM private key ('-----BEGIN PRIVATE KEY-----' or '-----BEGIN RSA PRIVATE KEY-----')" % source
        )
    if blocks[0].startswith("-----BEGIN OPENSSH PRIVATE KEY-----"):
        raise MmpValidationError(
            "%s is an OpenSSH key, not a PEM private key CMS can use for TLS; generate the key with `pki csr` on the "
            "node or with `openssl genrsa`" % source
        )
    try:
        return _load_pem_private_key(blocks[0].encode(), check)
    except TypeError:
        raise _encrypted_key_error(source, path) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MmpValidationError("%s cannot be read as a private key (%s)" % (source, exc)) from None


# ---------------------------------------------------------------------------------------------------------------
# Describing
# ---------------------------------------------------------------------------------------------------------------
def _attribute_name(attribute: Any) -> str:
    extra = {
        NameOID.EMAIL_ADDRESS: "emailAddress",
        NameOID.SERIAL_NUMBER: "serialNumber",
        NameOID.GIVEN_NAME: "GN",
        NameOID.SURNAME: "SN",
        NameOID.TITLE: "title",
    }
    return extra.get(attribute.oid) or attribute.rfc4514_attribute_name


def name_to_string(name: Any) -> str:
    """``C=IN, ST=KA, O=Siigo, CN=host``: OpenSSL's one-line form in certificate order, as ``pki inspect`` prints
    it [H] (not RFC 4514's reversed order), so both compare equal."""
    return ", ".join(
        "+".join("%s=%s" % (_attribute_name(attribute), attribute.value) for attribute in rdn) for rdn in name.rdns
    )


def name_to_dict(name: Any) -> dict[str, Any]:
    """``{"CN": "host", "O": "Org"}``; an attribute present several times (``DC``) maps to a list."""
    result: dict[str, Any] = {}
    for attribute in name:
        key, value = _attribute_name(attribute), attribute.value
        if key not in result:
            result[key] = value
        elif isinstance(result[key], list):
            result[key].append(value)
        else:
            result[key] = [result[key], value]
    return result


def _common_name(name: Any) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _colon_hex(digest: bytes) -> str:
    return ":".join("%02X" % byte for byte in digest)


def fingerprint_sha256(cert: Any) -> str:
    """SHA-256 of the DER certificate, colon-separated upper-case hex (as ``openssl x509 -fingerprint``)."""
    _require()
    return _colon_hex(cert.fingerprint(hashes.SHA256()))


def _public_der(obj: Any) -> bytes:
    public_key = obj.public_key()
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_sha256(obj: Any) -> str:
    """SHA-256 of the SubjectPublicKeyInfo of a certificate, CSR or private key (equal when they pair)."""
    _require()
    digest = hashes.Hash(hashes.SHA256())
    digest.update(_public_der(obj))
    return _colon_hex(digest.finalize())


def _key_type_and_size(public_key: Any) -> tuple[str, int | None]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size
    return type(public_key).__name__, None


def san_values(obj: Any) -> list[str]:
    """SAN entries of a certificate or CSR as bare values (``DNS:`` and ``IP:`` prefixes dropped)."""
    _require()
    try:
        extension = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(general_name.value) for general_name in extension]


def _validity(cert: Any) -> tuple[datetime.datetime, datetime.datetime]:
    # cryptography 42 added the *_utc properties and deprecated the naive ones.
    if hasattr(cert, "not_valid_after_utc"):
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    utc = datetime.timezone.utc
    return cert.not_valid_before.replace(tzinfo=utc), cert.not_valid_after.replace(tzinfo=utc)


def is_ca(cert: Any) -> bool:
    _require()
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def issued_by(cert: Any, issuer: Any) -> bool:
    """Whether ``issuer``'s key signed ``cert`` (issuer name and signature both checked)."""
    _require()
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def is_self_signed(cert: Any) -> bool:
    return issued_by(cert, cert)


def cert_info(cert: Any, now: datetime.datetime | None = None) -> dict[str, Any]:
    """A certificate as plain data, comparable with ``parse_pki_inspect`` (same DN, serial and date formats)."""
    _require()
    now = now or utcnow()
    not_before, not_after = _validity(cert)
    key_type, key_size = _key_type_and_size(cert.public_key())
    return {
        "subject": name_to_string(cert.subject),
        "subject_dict": name_to_dict(cert.subject),
        "common_name": _common_name(cert.subject),
        "issuer": name_to_string(cert.issuer),
        "issuer_dict": name_to_dict(cert.issuer),
        "san": san_values(cert),
        "serial": normalize_serial(cert.serial_number),
        "not_before": to_iso_utc(not_before),
        "not_after": to_iso_utc(not_after),
        "days_left": math.floor((not_after - now).total_seconds() / 86400),
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "fingerprint_sha256": fingerprint_sha256(cert),
        "public_key_sha256": public_key_sha256(cert),
        "key_type": key_type,
        "key_size": key_size,
        "is_ca": is_ca(cert),
        "self_signed": is_self_signed(cert),
    }


def csr_info(csr: Any) -> dict[str, Any]:
    _require()
    key_type, key_size = _key_type_and_size(csr.public_key())
    return {
        "subject": name_to_string(csr.subject),
        "subject_dict": name_to_dict(csr.subject),
        "common_name": _common_name(csr.subject),
        "san": san_values(csr),
        "public_key_sha256": public_key_sha256(csr),
        "key_type": key_type,
        "key_size": key_size,
        "signature_valid": bool(csr.is_signature_valid),
    }


def private_key_info(key: Any) -> dict[str, Any]:
    """Type, size and public key hash of a private key; nothing secret."""
    _require()
    key_type, key_size = _key_type_and_size(key.public_key())
    return {"key_type": key_type, "key_size": key_size, "public_key_sha256": public_key_sha256(key)}


def key_matches_cert(key: Any, cert: Any) -> bool:
    """Whether the private key belongs to the certificate (or CSR): same public key."""
    _require()
    return _public_der(key) == _public_der(cert)


# ---------------------------------------------------------------------------------------------------------------
# Chains
# ---------------------------------------------------------------------------------------------------------------
def describe(cert: Any) -> str:
    return "'%s'" % (name_to_string(cert.subject) or "(empty subject)")


def _validity_problem(cert: Any, now: datetime.datetime) -> str | None:
    not_before, not_after = _validity(cert)
    if now > not_after:
        return "certificate %s expired on %s; renew it" % (describe(cert), to_iso_utc(not_after))
    if now < not_before:
        return "certificate %s is not valid before %s; check the clocks of the CA and of the controller" % (
            describe(cert),
            to_iso_utc(not_before),
        )
    return None


def verify_chain(cert: Any, bundle_certs: list[Any], now: datetime.datetime | None = None) -> tuple[bool, str]:
    """``(ok, reason)``: walk from ``cert`` through ``bundle_certs`` to a self-signed root, by signature.

    Every certificate on the way must be valid at ``now`` and every issuer a CA.  ``bundle_certs`` may hold
    ``cert`` itself (a full chain) and may be in any order; this checks trust, ``check_chain_order`` checks order.
    """
    _require()
    now = now or utcnow()
    chain = [cert]
    current = cert
    for _depth in range(MAX_CHAIN_DEPTH):
        problem = _validity_problem(current, now)
        if problem:
            return False, problem
        if is_self_signed(current):
            return True, "verified: " + " -> ".join(describe(c) for c in chain)
        issuer = next((c for c in bundle_certs if c not in chain and issued_by(current, c)), None)
        if issuer is None:
            return False, (
                "the issuer of %s, '%s', is not in the bundle: add that CA certificate (intermediate or root) to it"
                % (describe(current), name_to_string(current.issuer))
            )
        if not is_ca(issuer):
            return False, "%s signed %s but is not a CA certificate (no basicConstraints CA:TRUE)" % (
                describe(issuer),
                describe(current),
            )
        chain.append(issuer)
        current = issuer
    return False, "the chain of %s is longer than %d certificates" % (describe(cert), MAX_CHAIN_DEPTH)


def check_chain_order(certs: list[Any], require_root: bool = True) -> str | None:
    """``None`` when ``certs`` is in chain order (entity, intermediates, root CA last [H, S2]), else what is out of
    place and how to fix it.  Positions are 1-based, as a person counts the blocks of the file."""
    _require()
    if not certs:
        return "the file holds no certificate"
    fingerprints = [fingerprint_sha256(c) for c in certs]
    for index, fingerprint in enumerate(fingerprints):
        first = fingerprints.index(fingerprint)
        if first != index:
            return "certificate %d %s is the same as certificate %d: remove the duplicate" % (
                index + 1,
                describe(certs[index]),
                first + 1,
            )
    for index in range(len(certs) - 1):
        cert, following = certs[index], certs[index + 1]
        if issued_by(cert, following):
            continue
        if is_self_signed(cert):
            return (
                "certificate %d %s is a self-signed root CA but is not last: the root CA belongs at the bottom of "
                "the file; move it to the end" % (index + 1, describe(cert))
            )
        position = next(
            (other for other in range(len(certs)) if other != index and issued_by(cert, certs[other])), None
        )
        if position is not None:
            return (
                "certificate %d %s is not the issuer of certificate %d %s: its issuer is certificate %d %s. Order "
                "the file entity certificate first, then each intermediate, then the root CA last"
                % (index + 2, describe(following), index + 1, describe(cert), position + 1, describe(certs[position]))
            )
        return (
            "the issuer of certificate %d %s, '%s', is not in the file: add it right after certificate %d (the "
            "intermediates before the root CA)" % (index + 1, describe(cert), name_to_string(cert.issuer), index + 1)
        )
    if require_root and not is_self_signed(certs[-1]):
        return "the last certificate (%d) %s is not a self-signed root CA: append the root CA '%s' at the end" % (
            len(certs),
            describe(certs[-1]),
            name_to_string(certs[-1].issuer),
        )
    return None


def build_chain(leaf: Any, certs: list[Any]) -> list[Any]:
    """``leaf`` followed by its issuers found in ``certs`` by signature, up to a self-signed root or as far as the
    pool goes (check the result with ``verify_chain``)."""
    _require()
    chain = [leaf]
    while len(chain) <= MAX_CHAIN_DEPTH and not is_self_signed(chain[-1]):
        issuer = next((c for c in certs if c not in chain and issued_by(chain[-1], c)), None)
        if issuer is None:
            break
        chain.append(issuer)
    return chain


def _dns_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4.3: a ``*`` that is the whole left-most label matches exactly one label."""
    if pattern == host:
        return True
    if not pattern.startswith("*.") or host.startswith("*."):
        return False
    first, sep, rest = host.partition(".")
    return bool(first and sep and rest == pattern[2:])


def san_covers(obj: Any, names: list[str]) -> list[str]:
    """The names of ``names`` that the SAN of a certificate or CSR does not cover (``[]`` when all are covered).

    DNS names compare case-insensitively, ``*.example.com`` covering ``a.example.com`` but neither
    ``example.com`` nor ``a.b.example.com``; IP addresses compare as addresses; e-mail addresses exactly.  The CN
    is not considered: TLS clients match the SAN only (RFC 6125).
    """
    _require()
    try:
        entries = list(obj.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        entries = []
    dns = [str(e.value).lower().rstrip(".") for e in entries if isinstance(e, x509.DNSName)]
    ips = [e.value for e in entries if isinstance(e, x509.IPAddress)]
    emails = [str(e.value).lower() for e in entries if isinstance(e, x509.RFC822Name)]
    missing = []
    for name in names:
        wanted = name.strip()
        try:
            address: Any = ipaddress.ip_address(wanted)
        except ValueError:
            address = None
        if address is not None:
            covered = address in ips
        elif "@" in wanted:
            covered = wanted.lower() in emails
        else:
            host = wanted.lower().rstrip(".")
            covered = any(_dns_matches(pattern, host) for pattern in dns)
        if not covered:
            missing.append(name)
    return missing


def usage_problems(cert: Any, client: bool = False) -> list[str]:
    """Why ``cert`` cannot serve TLS (and, with ``client``, also dial out with it): its key usage and extended key
    usage, when it has them, must allow it. A certificate without those extensions may serve any purpose.

    [H] RFC 5280 4.2.1.12: a TLS peer refuses a certificate whose EKU lacks serverAuth (clientAuth for a client);
    a Call Bridge dials out with its own certificate (SIP TLS, the C2W link, its cluster peers), so it needs both.
    """
    _require()
    problems = []
    try:
        eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
        wanted = [("serverAuth", ExtendedKeyUsageOID.SERVER_AUTH)]
        if client:
            wanted.append(("clientAuth", ExtendedKeyUsageOID.CLIENT_AUTH))
        missing = [name for name, oid in wanted if oid not in eku]
        if missing:
            problems.append(
                "its extended key usage lacks %s (TLS %s); ask the CA for a certificate with %s"
                % (" and ".join(missing), "server and client" if client else "server", " and ".join(missing))
            )
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return problems
    if not (ku.digital_signature or ku.key_encipherment):
        problems.append(
            "its key usage allows neither digitalSignature nor keyEncipherment, which a TLS handshake needs"
        )
    return problems
