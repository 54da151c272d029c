"""Real keys, CSRs and certificates for the simulator (``cryptography``), shared by every verb module."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = dt.UTC

NAME_ATTRS = {
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
}
# Subject order as OpenSSL/CMS prints it: C, ST, L, O, OU, CN.
SUBJECT_ORDER = ("C", "ST", "L", "O", "OU", "CN")


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def load_key(data: bytes | bytearray) -> rsa.RSAPrivateKey:
    """Load an unencrypted PEM private key (raises ``ValueError``/``TypeError`` otherwise)."""
    return _load_key(bytes(data))


@functools.lru_cache(maxsize=1024)
def _load_key(data: bytes) -> rsa.RSAPrivateKey:
    # Loading an RSA key checks it (about 35 ms of CPU for 2048 bits, holding the GIL). A node loads the same few
    # keys over and over (enable checks every slot, each TLS listener loads its key), and one process serves a
    # whole lab: uncached, ten nodes enabling at once queue 0.7 s behind each other, time a real CMS does not
    # spend. Key objects are immutable, so sharing them is safe; a failed load raises and is not cached.
    return serialization.load_pem_private_key(data, password=None)  # type: ignore[return-value]


def build_name(attrs: dict[str, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(NAME_ATTRS[k], attrs[k]) for k in SUBJECT_ORDER if attrs.get(k)])


def san_entries(values: list[str]) -> list[x509.GeneralName]:
    """CMS takes a comma list of DNS names, IPs and e-mail addresses without ``DNS:`` prefixes."""
    out: list[x509.GeneralName] = []
    for value in values:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(value)))
            continue
        except ValueError:
            pass
        if "@" in value:
            out.append(x509.RFC822Name(value))
        else:
            out.append(x509.DNSName(value))
    return out


def make_csr(
    key: rsa.RSAPrivateKey, attrs: dict[str, str], san: list[str] | None = None
) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(build_name(attrs))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san_entries(san)), critical=False)
    return builder.sign(key, hashes.SHA256())


def _validity(now: dt.datetime, days: float, not_before: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or (now - dt.timedelta(minutes=5))
    return start, now + dt.timedelta(days=days)


def make_ca(
    cn: str,
    now: dt.datetime,
    days: float = 3650,
    key: rsa.RSAPrivateKey | None = None,
    not_before: dt.datetime | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = key or new_key()
    name = build_name({"CN": cn})
    start, end = _validity(now, days, not_before)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def sign(
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    now: dt.datetime,
    days: float = 365,
    san: list[x509.GeneralName] | None = None,
    not_before: dt.datetime | None = None,
    is_ca: bool = False,
) -> x509.Certificate:
    start, end = _validity(now, days, not_before)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def sign_csr(
    csr: x509.CertificateSigningRequest,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    now: dt.datetime,
    days: float = 365,
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    try:
        san = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        san = None
    return sign(csr.subject, csr.public_key(), issuer_cert, issuer_key, now, days, san, not_before)  # type: ignore[arg-type]


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_certs(data: bytes) -> list[x509.Certificate]:
    """Every PEM certificate in a file (a single cert, a chain or a bundle); [] when there is none."""
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(data)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, colon-separated upper-case hex (as ``openssl x509 -fingerprint``)."""
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def public_key_sha256(public_key: object) -> str:
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def key_matches_cert(key: object, cert: x509.Certificate) -> bool:
    return public_key_sha256(key.public_key()) == public_key_sha256(cert.public_key())  # type: ignore[attr-defined]


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``cert`` (names and signature)."""
    if cert.issuer != issuer.subject:
        return False
    pub = issuer.public_key()
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)  # type: ignore[arg-type]
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
        elif isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


@dataclass
class ChainResult:
    ok: bool
    reason: str = ""
    root: x509.Certificate | None = None


def verify_chain(cert: x509.Certificate, bundle: list[x509.Certificate], now: dt.datetime) -> ChainResult:
    """Walk from ``cert`` up through ``bundle`` to a self-signed root, checking signatures and validity at ``now``.

    ``bundle`` may contain ``cert`` itself (a full chain) and certificates in any order; the walk finds issuers by
    name and signature.  ``root`` is the self-signed certificate the chain ends in.
    """
    current = cert
    seen = 0
    while True:
        if current.not_valid_after_utc < now:
            return ChainResult(False, f"certificate {rfc4514(current.subject)} has expired")
        if current.not_valid_before_utc > now:
            return ChainResult(False, f"certificate {rfc4514(current.subject)} is not yet valid")
        if current.issuer == current.subject and issued_by(current, current):
            return ChainResult(True, root=current)
        issuer = next((c for c in bundle if c is not current and issued_by(current, c)), None)
        if issuer is None:
            return ChainResult(False, f"unable to get issuer certificate for {rfc4514(current.subject)}")
        current = issuer
        seen += 1
        if seen > 10:
            return ChainResult(False, "certificate chain too long")


def rfc4514(name: x509.Name) -> str:
    """``C=IN, ST=KA, O=Siigo, CN=host`` (OpenSSL's one-line order, as ``pki inspect`` shows)."""
    return ", ".join(f"{attr.rfc4514_attribute_name}={attr.value!s}" for attr in name)


def san_values(cert_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    try:
        ext = cert_or_csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out: list[str] = []
    for gn in ext:
        out.append(str(gn.value))
    return out
