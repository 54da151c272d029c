# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side x509 checks, on certificate trees generated here (root -> intermediate -> leaf)."""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import ipaddress
import re
import sys
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("cryptography")

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _x509
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError, MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import normalize_serial

UTC = datetime.UTC
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
DAY = datetime.timedelta(days=1)


def _name(**attrs: str) -> x509.Name:
    oids = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME}
    return x509.Name([x509.NameAttribute(oids[key], value) for key, value in attrs.items()])


def _issue(
    subject: x509.Name,
    key: Any,
    issuer: x509.Name,
    issuer_key: Any,
    *,
    ca: bool,
    start: datetime.datetime = NOW - 30 * DAY,
    end: datetime.datetime = NOW + 90 * DAY,
    san: list[x509.GeneralName] | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


@dataclass
class Tree:
    root_key: Any
    root: x509.Certificate
    inter_key: Any
    inter: x509.Certificate
    leaf_key: Any
    leaf: x509.Certificate
    other_root: x509.Certificate
    other_leaf: x509.Certificate
    expired_inter: x509.Certificate
    leaf_of_expired_inter: x509.Certificate
    expired_leaf: x509.Certificate
    future_leaf: x509.Certificate
    leaf_of_leaf: x509.Certificate
    csr: x509.CertificateSigningRequest


@pytest.fixture(scope="module")
def tree() -> Tree:
    root_key, inter_key, leaf_key, other_key = _rsa(), _ec(), _rsa(), _ec()
    root_name, inter_name = (
        _name(O="Example Org", CN="Example Root CA"),
        _name(O="Example Org", CN="Example Issuing CA"),
    )
    root = _issue(root_name, root_key, root_name, root_key, ca=True, start=NOW - 3650 * DAY, end=NOW + 3650 * DAY)
    inter = _issue(inter_name, inter_key, root_name, root_key, ca=True, start=NOW - 365 * DAY, end=NOW + 1000 * DAY)
    leaf_name = _name(C="GB", O="Example Org", CN="cms1.example.com")
    san: list[x509.GeneralName] = [
        x509.DNSName("cms1.example.com"),
        x509.DNSName("join.example.com"),
        x509.DNSName("*.wild.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.11")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::11")),
        x509.RFC822Name("admin@example.com"),
    ]
    leaf = _issue(leaf_name, leaf_key, inter_name, inter_key, ca=False, san=san, serial=0x1102CE3B0006000000A7)
    other_name = _name(CN="Other Root CA")
    other_root = _issue(other_name, other_key, other_name, other_key, ca=True)
    other_leaf = _issue(_name(CN="cms1.example.com"), leaf_key, other_name, other_key, ca=False)
    old_inter_name = _name(CN="Old Issuing CA")
    old_key = _ec()
    expired_inter = _issue(old_inter_name, old_key, root_name, root_key, ca=True, end=NOW - DAY)
    leaf_of_expired_inter = _issue(_name(CN="cms2.example.com"), leaf_key, old_inter_name, old_key, ca=False)
    expired_leaf = _issue(leaf_name, leaf_key, inter_name, inter_key, ca=False, start=NOW - 400 * DAY, end=NOW - DAY)
    future_leaf = _issue(leaf_name, leaf_key, inter_name, inter_key, ca=False, start=NOW + DAY, end=NOW + 400 * DAY)
    leaf_of_leaf = _issue(_name(CN="evil.example.com"), _ec(), leaf_name, leaf_key, ca=False)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(CN="cms1.example.com"))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("cms1.example.com")]), critical=False)
        .sign(leaf_key, hashes.SHA256())
    )
    return Tree(
        root_key,
        root,
        inter_key,
        inter,
        leaf_key,
        leaf,
        other_root,
        other_leaf,
        expired_inter,
        leaf_of_expired_inter,
        expired_leaf,
        future_leaf,
        leaf_of_leaf,
        csr,
    )


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def test_load_certificates_of_a_chain_with_crlf_and_text_around(tree: Tree) -> None:
    data = b"Bag Attributes\r\n    friendlyName: cms1\r\n" + _pem(tree.leaf, tree.inter, tree.root).replace(
        b"\n", b"\r\n"
    )
    certs = _x509.load_certificates(data, "cms1-fullchain.cer")
    assert certs == [tree.leaf, tree.inter, tree.root]
    assert _x509.load_certificate(data) == tree.leaf
    assert _x509.load_certificates(data.decode()) == certs


def test_load_certificates_refuses_der_with_a_conversion_hint(tree: Tree) -> None:
    der = tree.leaf.public_bytes(serialization.Encoding.DER)
    with pytest.raises(MmpValidationError) as err:
        _x509.load_certificates(der, "server.der")
    assert "server.der holds no PEM certificate" in str(err.value)
    assert "openssl x509 -inform der" in str(err.value)


def test_load_certificates_names_the_unreadable_block(tree: Tree) -> None:
    broken = _pem(tree.leaf) + b"-----BEGIN CERTIFICATE-----\nTUlJQm9ndXM=\n-----END CERTIFICATE-----\n"
    with pytest.raises(MmpValidationError, match=re.escape("certificate 2 of bundle.cer cannot be read")):
        _x509.load_certificates(broken, "bundle.cer")


def test_load_csr(tree: Tree) -> None:
    assert _x509.load_csr(tree.csr.public_bytes(serialization.Encoding.PEM)) == tree.csr
    with pytest.raises(MmpValidationError, match="no PEM certificate request"):
        _x509.load_csr(_pem(tree.leaf), "tac.csr")


@pytest.mark.parametrize(
    "fmt", ["PKCS8", "TraditionalOpenSSL"], ids=["pkcs8-BEGIN-PRIVATE-KEY", "traditional-BEGIN-RSA-PRIVATE-KEY"]
)
def test_load_unencrypted_private_keys(tree: Tree, fmt: str) -> None:
    pem = tree.leaf_key.private_bytes(
        serialization.Encoding.PEM, getattr(serialization.PrivateFormat, fmt), serialization.NoEncryption()
    )
    key = _x509.load_private_key(pem.replace(b"\n", b"\r\n"), "cms1.key")
    assert _x509.key_matches_cert(key, tree.leaf)


@pytest.mark.parametrize("fmt", ["PKCS8", "TraditionalOpenSSL"])
def test_encrypted_private_keys_are_refused_with_how_to_decrypt(tree: Tree, fmt: str) -> None:
    pem = tree.leaf_key.private_bytes(
        serialization.Encoding.PEM,
        getattr(serialization.PrivateFormat, fmt),
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(MmpValidationError) as err:
        _x509.load_private_key(pem, "cms1.key")
    message = str(err.value)
    assert "encrypted private keys are not supported by CMS" in message
    assert "openssl rsa -in cms1.key -out cms1-decrypted.key" in message


def test_the_decrypt_command_names_the_key_file_when_the_message_names_it_with_a_label(tree: Tree) -> None:
    pem = tree.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3")
    )
    with pytest.raises(MmpValidationError) as err:
        _x509.load_private_key(pem, "new.key (from /srv/pki/new.key)", path="/srv/pki/new.key")
    message = str(err.value)
    assert message.startswith("new.key (from /srv/pki/new.key): encrypted private keys are not supported by CMS")
    assert "`openssl rsa -in /srv/pki/new.key -out /srv/pki/new-decrypted.key`" in message


def test_a_passphrase_opens_an_encrypted_key_and_a_wrong_one_is_named(tree: Tree) -> None:
    pem = tree.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3")
    )
    key = _x509.load_private_key(pem, "ca.key", passphrase="s3")
    assert key.public_key().public_numbers() == tree.leaf_key.public_key().public_numbers()
    with pytest.raises(MmpValidationError, match=r"ca\.key could not be decrypted with the passphrase given"):
        _x509.load_private_key(pem, "ca.key", passphrase="nope")


def test_openssh_and_missing_keys_are_refused(tree: Tree) -> None:
    openssh = tree.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    with pytest.raises(MmpValidationError, match="OpenSSH key"):
        _x509.load_private_key(openssh, "id_rsa")
    with pytest.raises(MmpValidationError, match="holds no PEM private key"):
        _x509.load_private_key(_pem(tree.leaf), "cms1.cer")


# ---------------------------------------------------------------------------------------------------------------
# Describing
# ---------------------------------------------------------------------------------------------------------------
def test_cert_info_of_a_leaf(tree: Tree) -> None:
    info = _x509.cert_info(tree.leaf, NOW)
    assert info["subject"] == "C=GB, O=Example Org, CN=cms1.example.com"
    assert info["subject_dict"] == {"C": "GB", "O": "Example Org", "CN": "cms1.example.com"}
    assert info["common_name"] == "cms1.example.com"
    assert info["issuer"] == "O=Example Org, CN=Example Issuing CA"
    assert info["issuer_dict"] == {"O": "Example Org", "CN": "Example Issuing CA"}
    assert info["san"] == [
        "cms1.example.com",
        "join.example.com",
        "*.wild.example.com",
        "10.0.0.11",
        "2001:db8::11",
        "admin@example.com",
    ]
    # Same form as a serial read from `pki inspect` (11:02:ce:3b:00:06:00:00:00:a7 in TN 216549).
    assert info["serial"] == normalize_serial("11:02:ce:3b:00:06:00:00:00:a7") == "1102CE3B0006000000A7"
    assert info["not_before"] == "2026-05-02T12:00:00Z"
    assert info["not_after"] == "2026-08-30T12:00:00Z"
    assert info["days_left"] == 90
    assert info["expired"] is False
    assert info["not_yet_valid"] is False
    assert info["key_type"] == "RSA"
    assert info["key_size"] == 2048
    assert info["is_ca"] is False
    assert info["self_signed"] is False


def test_fingerprints_are_colon_hex_upper_case(tree: Tree) -> None:
    info = _x509.cert_info(tree.leaf, NOW)
    der = tree.leaf.public_bytes(serialization.Encoding.DER)
    assert re.fullmatch(r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}", info["fingerprint_sha256"])
    assert info["fingerprint_sha256"].replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    spki = tree.leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert info["public_key_sha256"].replace(":", "").lower() == hashlib.sha256(spki).hexdigest()


def test_days_left_expired_and_not_yet_valid(tree: Tree) -> None:
    expired = _x509.cert_info(tree.expired_leaf, NOW)
    assert (expired["expired"], expired["not_yet_valid"], expired["days_left"]) == (True, False, -1)
    future = _x509.cert_info(tree.future_leaf, NOW)
    assert (future["expired"], future["not_yet_valid"]) == (False, True)
    assert _x509.cert_info(tree.leaf, NOW + 89 * DAY + datetime.timedelta(hours=23))["days_left"] == 0


def test_cert_info_of_roots_and_ec_keys(tree: Tree) -> None:
    root = _x509.cert_info(tree.root, NOW)
    assert (root["is_ca"], root["self_signed"], root["san"]) == (True, True, [])
    inter = _x509.cert_info(tree.inter, NOW)
    assert (inter["key_type"], inter["key_size"], inter["self_signed"]) == ("EC", 256, False)


def test_repeated_name_attributes_become_lists() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "com"),
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "uctplab"),
            x509.NameAttribute(NameOID.COMMON_NAME, "uctplab-TPWIN2008R2DC-CA"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "pki@uctplab.com"),
        ]
    )
    # OpenSSL's one-line order, as `pki inspect` prints the issuer in TN 216549.
    assert _x509.name_to_string(name) == "DC=com, DC=uctplab, CN=uctplab-TPWIN2008R2DC-CA, emailAddress=pki@uctplab.com"
    assert _x509.name_to_dict(name) == {
        "DC": ["com", "uctplab"],
        "CN": "uctplab-TPWIN2008R2DC-CA",
        "emailAddress": "pki@uctplab.com",
    }


def test_csr_and_key_info(tree: Tree) -> None:
    info = _x509.csr_info(tree.csr)
    assert info["subject"] == "CN=cms1.example.com"
    assert info["san"] == ["cms1.example.com"]
    assert info["signature_valid"] is True
    assert (info["key_type"], info["key_size"]) == ("RSA", 2048)
    key_info = _x509.private_key_info(tree.leaf_key)
    assert key_info["public_key_sha256"] == info["public_key_sha256"] == _x509.public_key_sha256(tree.leaf)
    assert "private" not in str(key_info).lower()


def test_key_matches_its_certificate_and_csr_only(tree: Tree) -> None:
    assert _x509.key_matches_cert(tree.leaf_key, tree.leaf)
    assert _x509.key_matches_cert(tree.leaf_key, tree.csr)
    assert not _x509.key_matches_cert(tree.leaf_key, tree.inter)
    assert not _x509.key_matches_cert(tree.root_key, tree.leaf)


# ---------------------------------------------------------------------------------------------------------------
# Chains
# ---------------------------------------------------------------------------------------------------------------
def test_chain_verifies_through_intermediate_to_root(tree: Tree) -> None:
    ok, reason = _x509.verify_chain(tree.leaf, [tree.root, tree.inter], NOW)
    assert ok, reason
    assert reason == (
        "verified: 'C=GB, O=Example Org, CN=cms1.example.com' -> 'O=Example Org, CN=Example Issuing CA' -> "
        "'O=Example Org, CN=Example Root CA'"
    )


def test_full_chain_holding_the_leaf_itself_verifies(tree: Tree) -> None:
    assert _x509.verify_chain(tree.leaf, [tree.leaf, tree.inter, tree.root], NOW)[0]


def test_missing_intermediate_is_named(tree: Tree) -> None:
    ok, reason = _x509.verify_chain(tree.leaf, [tree.root], NOW)
    assert not ok
    assert "the issuer of 'C=GB, O=Example Org, CN=cms1.example.com'" in reason
    assert "'O=Example Org, CN=Example Issuing CA', is not in the bundle" in reason


def test_wrong_root_does_not_verify(tree: Tree) -> None:
    ok, reason = _x509.verify_chain(tree.leaf, [tree.inter, tree.other_root], NOW)
    assert not ok
    assert "Example Root CA" in reason
    assert not _x509.verify_chain(tree.other_leaf, [tree.inter, tree.root], NOW)[0]


def test_expired_or_not_yet_valid_links_fail(tree: Tree) -> None:
    ok, reason = _x509.verify_chain(tree.leaf_of_expired_inter, [tree.expired_inter, tree.root], NOW)
    assert not ok
    assert reason.startswith("certificate 'CN=Old Issuing CA' expired on 2026-05-31T12:00:00Z")
    ok, reason = _x509.verify_chain(tree.expired_leaf, [tree.inter, tree.root], NOW)
    assert not ok and "expired" in reason
    ok, reason = _x509.verify_chain(tree.future_leaf, [tree.inter, tree.root], NOW)
    assert not ok and "is not valid before 2026-06-02T12:00:00Z" in reason


def test_a_leaf_cannot_act_as_a_ca(tree: Tree) -> None:
    ok, reason = _x509.verify_chain(tree.leaf_of_leaf, [tree.leaf, tree.inter, tree.root], NOW)
    assert not ok
    assert "is not a CA certificate" in reason


def test_self_signed_root_verifies_alone(tree: Tree) -> None:
    assert _x509.verify_chain(tree.root, [], NOW)[0]


def test_chain_in_order_passes(tree: Tree) -> None:
    assert _x509.check_chain_order([tree.leaf, tree.inter, tree.root]) is None
    assert _x509.check_chain_order([tree.inter, tree.root]) is None  # a CA bundle
    assert _x509.check_chain_order([tree.root]) is None


def test_chain_out_of_order_names_the_misplaced_certificate(tree: Tree) -> None:
    problem = _x509.check_chain_order([tree.leaf, tree.root, tree.inter])
    assert problem is not None
    assert problem.startswith(
        "certificate 2 'O=Example Org, CN=Example Root CA' is not the issuer of certificate 1 "
        "'C=GB, O=Example Org, CN=cms1.example.com': its issuer is certificate 3 "
        "'O=Example Org, CN=Example Issuing CA'."
    )
    assert "entity certificate first, then each intermediate, then the root CA last" in problem


def test_root_on_top_is_out_of_place(tree: Tree) -> None:
    problem = _x509.check_chain_order([tree.root, tree.inter, tree.leaf])
    assert problem is not None
    assert "certificate 1 'O=Example Org, CN=Example Root CA' is a self-signed root CA but is not last" in problem


def test_missing_intermediate_in_a_chain_file(tree: Tree) -> None:
    problem = _x509.check_chain_order([tree.leaf, tree.root])
    assert problem is not None
    assert "the issuer of certificate 1" in problem
    assert "'O=Example Org, CN=Example Issuing CA', is not in the file: add it right after certificate 1" in problem


def test_missing_root_at_the_bottom(tree: Tree) -> None:
    problem = _x509.check_chain_order([tree.leaf, tree.inter])
    assert problem is not None
    assert "append the root CA 'O=Example Org, CN=Example Root CA' at the end" in problem
    assert _x509.check_chain_order([tree.leaf, tree.inter], require_root=False) is None


def test_duplicates_and_empty_files(tree: Tree) -> None:
    problem = _x509.check_chain_order([tree.leaf, tree.inter, tree.inter, tree.root])
    assert problem is not None and "certificate 3" in problem and "same as certificate 2" in problem
    assert _x509.check_chain_order([]) == "the file holds no certificate"


def test_build_chain_finds_issuers_by_signature(tree: Tree) -> None:
    pool = [tree.other_root, tree.root, tree.expired_inter, tree.inter, tree.leaf]
    assert _x509.build_chain(tree.leaf, pool) == [tree.leaf, tree.inter, tree.root]
    assert _x509.build_chain(tree.leaf, [tree.inter]) == [tree.leaf, tree.inter]
    assert _x509.build_chain(tree.root, pool) == [tree.root]
    chain = _x509.build_chain(tree.leaf, pool)
    assert _x509.check_chain_order(chain) is None
    assert _x509.load_certificates(_x509.certs_to_pem(chain)) == chain


# ---------------------------------------------------------------------------------------------------------------
# Bundle files
# ---------------------------------------------------------------------------------------------------------------
def test_normalize_bundle_gives_lf_pem_only_and_one_trailing_newline(tree: Tree) -> None:
    messy = (
        "\ufeffsubject=CN=cms1\r\n" + _pem(tree.leaf, tree.inter).decode().replace("\n", "\r\n") + "\r\n\r\n  \r\n"
    ).encode()
    clean = _x509.normalize_bundle(messy)
    assert b"\r" not in clean
    assert clean.startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert clean.endswith(b"-----END CERTIFICATE-----\n")
    assert not clean.endswith(b"\n\n")
    assert clean.count(b"-----BEGIN CERTIFICATE-----") == 2
    assert clean == _pem(tree.leaf, tree.inter)
    assert _x509.normalize_bundle(clean) == clean
    assert _x509.load_certificates(clean) == [tree.leaf, tree.inter]


def test_normalize_bundle_rewraps_one_line_base64(tree: Tree) -> None:
    pem = _pem(tree.leaf).decode()
    body = "".join(pem.splitlines()[1:-1])
    one_line = "-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----"
    assert _x509.normalize_bundle(one_line) == pem.encode()


def test_normalize_bundle_without_pem_is_refused() -> None:
    with pytest.raises(MmpValidationError, match=re.escape("chain.cer holds no PEM block")):
        _x509.normalize_bundle(b"\x30\x82\x01\x0a", "chain.cer")


# ---------------------------------------------------------------------------------------------------------------
# SAN coverage
# ---------------------------------------------------------------------------------------------------------------
def test_san_covers_exact_names_ips_and_emails(tree: Tree) -> None:
    assert (
        _x509.san_covers(
            tree.leaf,
            ["cms1.example.com", "JOIN.Example.com.", "10.0.0.11", "2001:DB8:0::11", "Admin@Example.com"],
        )
        == []
    )


def test_wildcard_covers_exactly_one_label(tree: Tree) -> None:
    assert _x509.san_covers(tree.leaf, ["a.wild.example.com", "*.wild.example.com"]) == []
    assert _x509.san_covers(tree.leaf, ["wild.example.com", "a.b.wild.example.com", "*.example.com"]) == [
        "wild.example.com",
        "a.b.wild.example.com",
        "*.example.com",
    ]


def test_san_covers_reports_what_is_missing(tree: Tree) -> None:
    assert _x509.san_covers(tree.leaf, ["cms2.example.com", "10.0.0.12", "cms1.example.com"]) == [
        "cms2.example.com",
        "10.0.0.12",
    ]
    # The CN does not count: TLS clients match the SAN only.
    assert _x509.san_covers(tree.other_leaf, ["cms1.example.com"]) == ["cms1.example.com"]
    assert _x509.san_covers(tree.csr, ["cms1.example.com"]) == []


# ---------------------------------------------------------------------------------------------------------------
# Without cryptography
# ---------------------------------------------------------------------------------------------------------------
def test_module_imports_without_cryptography_and_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "cryptography" or name.startswith("cryptography."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    spec = importlib.util.spec_from_file_location("x509_without_cryptography", _x509.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.HAS_CRYPTOGRAPHY is False
    assert "ImportError" in module.CRYPTOGRAPHY_IMPORT_ERROR or "ModuleNotFound" in module.CRYPTOGRAPHY_IMPORT_ERROR
    with pytest.raises(MmpError) as err:
        module.load_certificates(b"")
    assert "cryptography Python library is required" in str(err.value)
    assert "pip install cryptography" in str(err.value)
    # Text-only helpers need no library.
    assert module.normalize_bundle("x\r\n-----BEGIN CERTIFICATE-----\r\nAAAA\r\n-----END CERTIFICATE-----\r\n\r\n") == (
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )


def _broken_rsa_pem() -> bytes:
    """An RSA key whose public half is sound but whose CRT exponent is wrong: only the consistency check sees it."""
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    broken = rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp, numbers.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    return broken.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_a_new_key_gets_the_consistency_check_and_a_key_in_use_is_read_for_its_public_half_only() -> None:
    pem = _broken_rsa_pem()
    with pytest.raises(MmpValidationError, match=r"new\.key cannot be read as a private key"):
        _x509.load_private_key(pem, "new.key")
    in_use = _x509.load_private_key(pem, "in-use.key", check=False)
    assert in_use.public_key().public_numbers().e == 65537


def test_the_same_key_is_loaded_once_per_process() -> None:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert _x509.load_private_key(pem, "a.key") is _x509.load_private_key(pem.decode(), "b.key")
