"""The ``pki`` verbs of the MMP (docs/dev/mmp_reference.md#pki) and the lab's "old corporate" CA.

Every key, CSR and certificate is real (``cryptography``), so what the node says about a file (``pki inspect``,
``pki match``, ``pki verify``) is what OpenSSL would find in it.  Like the real box, ``pki csr`` and
``pki selfsigned`` overwrite an existing basename without asking (S2: "immediately breaks the service"); the TLS
listeners of ``tls.py`` re-read the files, so a service whose key was overwritten fails its next handshake.

The seed CA (``<lab>/seed-ca/``, never inside a node's file store) stands for the external corporate CA that signed
the services' certificates; tests use ``issue_from_csr()`` to play that CA when they renew certificates.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import core, shapes, x509

BASENAME_RE = re.compile(r"[A-Za-z0-9_-]+")
COUNTRY_RE = re.compile(r"[A-Za-z]{2}")
SEED_CA_DIR = "seed-ca"


# ------------------------------------------------------------------------------------------------------------
# Dispatch
# ------------------------------------------------------------------------------------------------------------
@core.verb("pki")
def pki(node: core.Node, args: list[str], console: core.Console) -> None:
    if not args:
        raise core.CommandError(shapes.PKI_USAGE)
    sub, rest = args[0], args[1:]
    if sub == "list" and not rest:
        _list(node, console)
    elif sub == "inspect" and len(rest) == 1:
        _inspect(node, rest[0], console)
    elif sub == "match" and len(rest) == 2:
        _match(node, rest[0], rest[1], console)
    elif sub == "verify" and len(rest) in (1, 2):
        _verify(node, rest[0], rest[1] if len(rest) == 2 else None, console)
    elif sub == "csr" and rest:
        _csr(node, rest[0], rest[1:], console)
    elif sub == "selfsigned" and rest:
        _selfsigned(node, rest[0], rest[1:], console)
    elif sub == "sign" and len(rest) == 2:
        _sign(node, rest[0], rest[1], console)
    else:
        raise core.CommandError(shapes.PKI_USAGE)


def _say(console: core.Console, *lines: str) -> None:
    console.write("".join(line + "\n" for line in lines))


def _progress() -> str:
    # The dot counts of OpenSSL key generation vary run to run (S8); parsers must not rely on them.
    return shapes.pki_progress_dots(random.randint(5, 30), random.randint(3, 15))


# ------------------------------------------------------------------------------------------------------------
# pki list / inspect
# ------------------------------------------------------------------------------------------------------------
def _list(node: core.Node, console: core.Console) -> None:
    names = [n for n in node.list_files() if not n.lower().endswith(shapes.PKI_LIST_HIDDEN_SUFFIXES)]
    _say(console, shapes.PKI_LIST_HEADER, *names)


def _inspect(node: core.Node, name: str, console: core.Console) -> None:
    # S1: the MMP looks for an SSH public key of that name first, then for a user file.
    if not node.has_file(name):
        _say(console, shapes.PKI_INSPECT_SSH_NOT_FOUND, shapes.PKI_INSPECT_USER_NOT_FOUND)
        return
    data = node.read_file(name)
    _say(console, shapes.PKI_INSPECT_SSH_NOT_FOUND, shapes.PKI_INSPECT_USER_FOUND)
    certs = x509.load_certs(data)
    if certs:
        header = (
            shapes.PKI_INSPECT_PEM_CERT if len(certs) == 1 else shapes.PKI_INSPECT_PEM_CERTS.format(count=len(certs))
        )
        console.write(header + "\n" + "".join(render_cert(c) for c in certs))
        return
    if b"-----BEGIN CERTIFICATE REQUEST-----" in data or b"-----BEGIN NEW CERTIFICATE REQUEST-----" in data:
        try:
            csr = x509.load_csr(data)
        except ValueError:
            raise core.CommandError(shapes.PKI_INSPECT_UNKNOWN.format(name=name)) from None
        console.write(shapes.PKI_INSPECT_PEM_CSR + "\n" + render_csr(csr))
        return
    if b"ENCRYPTED" in data and b"PRIVATE KEY" in data:
        _say(console, shapes.PKI_INSPECT_ENCRYPTED_KEY)
        return
    key = load_private_key(data)
    if key is not None:
        _say(console, shapes.PKI_INSPECT_PEM_KEY, shapes.PKI_INSPECT_KEY_BODY.format(key_bits=key.key_size))
        return
    raise core.CommandError(shapes.PKI_INSPECT_UNKNOWN.format(name=name))


def inspect_date(when: dt.datetime) -> str:
    return shapes.PKI_INSPECT_DATE.format(
        mon=when.strftime("%b"), day=when.day, hms=when.strftime("%H:%M:%S"), year=when.year
    )


def _hex_lines(data: bytes, indent: str, per_line: int) -> str:
    text = ":".join(f"{b:02x}" for b in data)
    parts = text.split(":")
    out = []
    for i in range(0, len(parts), per_line):
        chunk = ":".join(parts[i : i + per_line])
        out.append(indent + chunk + (":" if i + per_line < len(parts) else ""))
    return "".join(line + "\n" for line in out)


def _key_info(public_key: object) -> tuple[str, int, str]:
    """Algorithm name, size and the indented public numbers block."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        modulus = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8 + 1, "big")  # OpenSSL shows a leading 00
        details = (
            shapes.PKI_INSPECT_RSA_MODULUS
            + _hex_lines(modulus, "        ", 15)
            + shapes.PKI_INSPECT_RSA_EXPONENT.format(exponent=numbers.e)
        )
        return "rsaEncryption", public_key.key_size, details
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "id-ecPublicKey", public_key.curve.key_size, ""
    return "unknown", 0, ""


def _extension_value(ext: cx509.Extension[cx509.ExtensionType]) -> str:
    value = ext.value
    if isinstance(value, cx509.BasicConstraints):
        text = "CA:TRUE" if value.ca else "CA:FALSE"
        return text + (f", pathlen:{value.path_length}" if value.path_length is not None else "")
    if isinstance(value, cx509.KeyUsage):
        names = []
        for attr, label in shapes.PKI_INSPECT_KEY_USAGE_NAMES.items():
            if getattr(value, attr):
                names.append(label)
        return ", ".join(names)
    if isinstance(value, cx509.ExtendedKeyUsage):
        return ", ".join(shapes.PKI_INSPECT_EKU_NAMES.get(oid._name, oid.dotted_string) for oid in value)
    if isinstance(value, cx509.SubjectKeyIdentifier):
        return ":".join(f"{b:02X}" for b in value.digest)
    if isinstance(value, cx509.AuthorityKeyIdentifier):
        return shapes.PKI_INSPECT_AKI_PREFIX + ":".join(f"{b:02X}" for b in value.key_identifier or b"")
    if isinstance(value, cx509.SubjectAlternativeName):
        return ", ".join(
            f"{shapes.PKI_INSPECT_SAN_PREFIX.get(type(gn).__name__, 'othername')}:{gn.value}" for gn in value
        )
    return str(value)


def _extensions_block(extensions: cx509.Extensions, indent: str) -> str:
    out = []
    for ext in extensions:
        name = shapes.PKI_INSPECT_EXTENSION_NAMES.get(ext.oid._name, ext.oid.dotted_string)
        out.append(
            shapes.PKI_INSPECT_EXTENSION.format(
                indent=indent,
                name=name,
                critical=shapes.PKI_INSPECT_CRITICAL if ext.critical else "",
                value=_extension_value(ext),
            )
        )
    return "".join(out)


def render_cert(cert: cx509.Certificate) -> str:
    key_alg, key_bits, key_details = _key_info(cert.public_key())
    serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 7) // 8 or 1, "big")
    extensions = ""
    if len(cert.extensions):
        extensions = shapes.PKI_INSPECT_EXTENSIONS + _extensions_block(cert.extensions, "      ")
    return shapes.PKI_INSPECT_CERT_BODY.format(
        version=cert.version.value + 1,
        version_hex=cert.version.value,
        serial=":".join(f"{b:02x}" for b in serial),
        sig_alg=cert.signature_algorithm_oid._name,
        issuer=x509.rfc4514(cert.issuer),
        not_before=inspect_date(cert.not_valid_before_utc),
        not_after=inspect_date(cert.not_valid_after_utc),
        subject=x509.rfc4514(cert.subject),
        key_alg=key_alg,
        key_bits=key_bits,
        key_details=key_details,
        extensions=extensions,
        signature=_hex_lines(cert.signature, "    ", 18),
    )


def render_csr(csr: cx509.CertificateSigningRequest) -> str:
    key_alg, key_bits, key_details = _key_info(csr.public_key())
    if len(csr.extensions):
        extensions = shapes.PKI_INSPECT_CSR_EXTENSIONS + _extensions_block(csr.extensions, "        ")
    else:
        extensions = shapes.PKI_INSPECT_CSR_NO_ATTRIBUTES
    return shapes.PKI_INSPECT_CSR_BODY.format(
        subject=x509.rfc4514(csr.subject),
        key_alg=key_alg,
        key_bits=key_bits,
        key_details=key_details,
        extensions=extensions,
        sig_alg=csr.signature_algorithm_oid._name,
        signature=_hex_lines(csr.signature, "    ", 18),
    )


# ------------------------------------------------------------------------------------------------------------
# pki match / verify
# ------------------------------------------------------------------------------------------------------------
def load_private_key(data: bytes) -> rsa.RSAPrivateKey | None:
    """An unencrypted PEM private key, or None (encrypted keys are unusable: the MMP has no passphrase verb)."""
    try:
        return x509.load_key(data)
    except (ValueError, TypeError):
        return None


def _need_file(node: core.Node, name: str) -> bytes:
    if not node.has_file(name):
        raise core.CommandError(shapes.FILE_NOT_FOUND.format(name=name))
    return node.read_file(name)


def _match(node: core.Node, key_name: str, cert_name: str, console: core.Console) -> None:
    key_data = _need_file(node, key_name)
    cert_data = _need_file(node, cert_name)
    key = load_private_key(key_data)
    if key is None:
        raise core.CommandError(shapes.PKI_KEY_UNREADABLE.format(name=key_name))
    certs = x509.load_certs(cert_data)
    if not certs:
        raise core.CommandError(shapes.PKI_CERT_UNREADABLE.format(name=cert_name))
    _say(console, shapes.PKI_MATCH_OK if x509.key_matches_cert(key, certs[0]) else shapes.PKI_MATCH_FAIL)


def _verify(node: core.Node, cert_name: str, bundle_name: str | None, console: core.Console) -> None:
    cert_data = _need_file(node, cert_name)
    bundle_data = _need_file(node, bundle_name) if bundle_name else None
    certs = x509.load_certs(cert_data)
    if not certs:
        raise core.CommandError(shapes.PKI_CERT_UNREADABLE.format(name=cert_name))
    others = certs[1:]
    if bundle_data is not None:
        bundle = x509.load_certs(bundle_data)
        if not bundle:
            raise core.CommandError(shapes.PKI_BUNDLE_UNREADABLE.format(name=bundle_name))
        others = bundle + others
    result = x509.verify_chain(certs[0], others, node.now())
    if not result.ok:
        _say(console, shapes.PKI_VERIFY_FAIL.format(reason=result.reason))
    elif bundle_name is None and result.root is not None and result.root.fingerprint == certs[0].fingerprint:
        _say(console, shapes.PKI_VERIFY_SELF_OK)
    else:
        _say(console, shapes.PKI_VERIFY_OK.format(bundle=bundle_name or cert_name))


# ------------------------------------------------------------------------------------------------------------
# pki csr / selfsigned / sign
# ------------------------------------------------------------------------------------------------------------
def parse_attributes(words: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    """``KEY:value`` words as ``pki csr`` takes them; unknown, repeated or valueless attributes are errors."""
    attrs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition(":")
        if not sep or key not in allowed or key in attrs or (not value and key != "CN"):
            raise core.CommandError(shapes.PKI_CSR_BAD_ATTRIBUTE.format(attr=word))
        attrs[key] = value
    return attrs


def split_san(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _csr(node: core.Node, basename: str, words: list[str], console: core.Console) -> None:
    if not BASENAME_RE.fullmatch(basename):
        raise core.CommandError(shapes.PKI_CSR_BAD_BASENAME.format(name=basename))
    attrs = parse_attributes(words, shapes.PKI_CSR_ATTRIBUTES)
    if not attrs.get("CN"):
        raise core.CommandError(shapes.PKI_CSR_NO_CN)
    if "C" in attrs and not COUNTRY_RE.fullmatch(attrs["C"]):
        raise core.CommandError(shapes.PKI_CSR_BAD_COUNTRY)
    san_given = "subjectAltName" in attrs
    san = split_san(attrs.pop("subjectAltName", ""))
    if san_given and not san:
        raise core.CommandError(shapes.PKI_CSR_BAD_ATTRIBUTE.format(attr="subjectAltName:"))
    if san and shapes.PKI_CSR_ENFORCE_SAN_CONTAINS_CN and attrs["CN"].lower() not in (v.lower() for v in san):
        raise core.CommandError(shapes.PKI_CSR_SAN_WITHOUT_CN)
    key = x509.new_key(shapes.PKI_CSR_KEY_BITS)
    csr = x509.make_csr(key, attrs, san or None)
    # The key is written first, so a service using this basename breaks at once (S2), CSR or not.
    node.write_file(f"{basename}.key", x509.key_pem(key))
    node.write_file(f"{basename}.csr", csr.public_bytes(serialization.Encoding.PEM))
    _say(
        console,
        _progress(),
        shapes.PKI_CSR_CREATED.format(name=basename),
        shapes.PKI_CSR_READY.format(name=basename),
    )


def _selfsigned(node: core.Node, name: str, words: list[str], console: core.Console) -> None:
    if not BASENAME_RE.fullmatch(name):
        raise core.CommandError(shapes.PKI_SELFSIGNED_BAD_NAME.format(name=name))
    attrs = parse_attributes(words, shapes.PKI_SELFSIGNED_ATTRIBUTES)
    if "CN" in attrs and not attrs["CN"]:
        raise core.CommandError(shapes.PKI_CSR_NO_CN)
    # [GUESS] without CN: the basename becomes the CN (output and defaults of `pki selfsigned` are not found).
    key, cert = x509.make_ca(
        attrs.get("CN") or name, node.now(), days=shapes.PKI_SELFSIGNED_DAYS, key=x509.new_key(shapes.PKI_CSR_KEY_BITS)
    )
    node.write_file(f"{name}.key", x509.key_pem(key))
    node.write_file(f"{name}.crt", x509.cert_pem(cert))
    _say(console, _progress(), shapes.PKI_SELFSIGNED_DONE.format(name=name))


def _sign(node: core.Node, name: str, ca: str, console: core.Console) -> None:
    if not BASENAME_RE.fullmatch(name):
        raise core.CommandError(shapes.PKI_CSR_BAD_BASENAME.format(name=name))
    if not BASENAME_RE.fullmatch(ca) or not (node.has_file(f"{ca}.key") and node.has_file(f"{ca}.crt")):
        raise core.CommandError(shapes.PKI_SIGN_NO_CA.format(ca=ca))
    if not node.has_file(f"{name}.csr"):
        raise core.CommandError(shapes.PKI_SIGN_NO_CSR.format(name=name))
    ca_key = load_private_key(node.read_file(f"{ca}.key"))
    ca_certs = x509.load_certs(node.read_file(f"{ca}.crt"))
    if ca_key is None or not ca_certs:
        raise core.CommandError(shapes.PKI_SIGN_CA_UNREADABLE.format(ca=ca))
    if not x509.key_matches_cert(ca_key, ca_certs[0]):
        raise core.CommandError(shapes.PKI_SIGN_CA_MISMATCH.format(ca=ca))
    try:
        csr = x509.load_csr(node.read_file(f"{name}.csr"))
        valid = csr.is_signature_valid
    except ValueError:
        valid = False
    if not valid:
        raise core.CommandError(shapes.PKI_SIGN_BAD_CSR.format(name=name))
    cert = x509.sign_csr(csr, ca_certs[0], ca_key, node.now(), days=shapes.PKI_SIGN_DAYS)
    node.write_file(f"{name}.crt", x509.cert_pem(cert))
    _say(console, shapes.PKI_SIGN_DONE.format(name=name, ca=ca))


# ------------------------------------------------------------------------------------------------------------
# The lab's corporate CA (seed-ca), outside every node
# ------------------------------------------------------------------------------------------------------------
@dataclass
class SeedCA:
    root_cert: cx509.Certificate
    intermediate_key: rsa.RSAPrivateKey
    intermediate_cert: cx509.Certificate

    def bundle_pem(self) -> bytes:
        """Intermediate then root, one trailing newline (S2: "only one carriage return at the end")."""
        return (x509.cert_pem(self.intermediate_cert) + x509.cert_pem(self.root_cert)).rstrip(b"\n") + b"\n"

    def issue(
        self,
        subject: cx509.Name,
        public_key: rsa.RSAPublicKey,
        now: dt.datetime,
        days: float,
        san: list[cx509.GeneralName] | None = None,
        not_before: dt.datetime | None = None,
    ) -> cx509.Certificate:
        return x509.sign(
            subject,
            public_key,
            self.intermediate_cert,
            self.intermediate_key,
            now,
            days,
            san,
            not_before=not_before,
        )


def create_seed_ca(lab_dir: Path, now: dt.datetime, domain: str) -> SeedCA:
    """A root and an intermediate CA as an enterprise would have (issued years ago, valid for years)."""
    ca_dir = Path(lab_dir) / SEED_CA_DIR
    ca_dir.mkdir(parents=True, exist_ok=True)
    org = domain.split(".")[0].capitalize() if domain else "Lab"
    root_key, root_cert = x509.make_ca(
        f"{org} Corporate Root CA", now, days=365 * 15, not_before=now - dt.timedelta(days=365 * 5)
    )
    inter_key = x509.new_key()
    inter_cert = x509.sign(
        x509.build_name({"CN": f"{org} Corporate Issuing CA 1"}),
        inter_key.public_key(),
        root_cert,
        root_key,
        now,
        days=365 * 8,
        not_before=now - dt.timedelta(days=365 * 2),
        is_ca=True,
    )
    core.atomic_write(ca_dir / "root.key", x509.key_pem(root_key), mode=0o600)
    core.atomic_write(ca_dir / "root.crt", x509.cert_pem(root_cert))
    core.atomic_write(ca_dir / "intermediate.key", x509.key_pem(inter_key), mode=0o600)
    core.atomic_write(ca_dir / "intermediate.crt", x509.cert_pem(inter_cert))
    return SeedCA(root_cert, inter_key, inter_cert)


def load_seed_ca(lab_dir: Path) -> SeedCA:
    ca_dir = Path(lab_dir) / SEED_CA_DIR
    return SeedCA(
        root_cert=x509.load_certs((ca_dir / "root.crt").read_bytes())[0],
        intermediate_key=x509.load_key((ca_dir / "intermediate.key").read_bytes()),
        intermediate_cert=x509.load_certs((ca_dir / "intermediate.crt").read_bytes())[0],
    )


def issue_from_csr(lab_dir: Path, csr_pem: bytes, now: dt.datetime, days: float = 365) -> bytes:
    """Play the external CA: sign a CSR downloaded from a node with the lab's issuing CA; PEM of the leaf."""
    ca = load_seed_ca(lab_dir)
    csr = x509.load_csr(csr_pem)
    return x509.cert_pem(x509.sign_csr(csr, ca.intermediate_cert, ca.intermediate_key, now, days=days))
