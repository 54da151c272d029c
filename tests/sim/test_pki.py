"""The simulator's `pki` verbs over real SSH: list, inspect, match, verify, csr, selfsigned, sign."""

from __future__ import annotations

import datetime as dt
import re
import ssl

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.cmssim import shapes, tls, x509
from tests.cmssim.testing import SimLab

DOTS_RE = re.compile(r"\.+")


def seeded_files(lab: SimLab, node: str) -> dict[str, str]:
    """The service files the seed put on a node: key, cert, bundle (from webadmin) and fullchain (webbridge3)."""
    services = lab.node_state(node)["services"]
    return {
        "key": services["webadmin"]["key"],
        "cert": services["webadmin"]["cert"],
        "bundle": services["webadmin"]["bundle"],
        "fullchain": services["webbridge3"]["https_cert"],
    }


def openssl_date(when: dt.datetime) -> str:
    return f"{when:%b} {when.day:>2} {when:%H:%M:%S %Y} GMT"


def put(lab: SimLab, node: str, name: str, data: bytes) -> None:
    with lab.sftp(node) as sftp, sftp.open(name, "wb") as fh:
        fh.write(data)


def get(lab: SimLab, node: str, name: str) -> bytes:
    with lab.sftp(node) as sftp, sftp.open(name, "rb") as fh:
        return fh.read()


# ---- pki list -----------------------------------------------------------------------------------------------
def test_pki_list_prints_the_header_then_keys_certs_and_bundles_in_store_order(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    lines = lab.run("cms1", "pki list").splitlines()
    assert lines[0] == "User supplied certificates and keys:"
    seeded = [name for name in lines[1:] if name in files.values()]
    assert seeded == [files["key"], files["cert"], files["fullchain"], files["bundle"]]
    put(lab, "cms1", "ROOTCA.cer", get(lab, "cms1", files["bundle"]))
    put(lab, "cms1", "before-renewal.bak", b"backup")
    lines = lab.run("cms1", "pki list").splitlines()
    assert lines[-1] == "ROOTCA.cer"  # newest last, no indentation
    assert "before-renewal.bak" not in lines  # [GUESS] backups are not "certificates and keys"


# ---- pki inspect --------------------------------------------------------------------------------------------
def test_pki_inspect_prints_the_certificate_like_the_cisco_transcript(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    cert = x509.load_certs(get(lab, "cms1", files["cert"]))[0]
    out = lab.run("cms1", f"pki inspect {files['cert']}")
    lines = out.splitlines()
    assert lines[:6] == [
        "Checking ssh public keys...not found",
        "Checking user configured certificates and keys...found",
        "File contains a PEM encoded certificate",
        "Certificate:",
        "  Data:",
        "    Version: 3 (0x2)",
    ]
    assert lines[6] == "    Serial Number:"
    assert int(lines[7].strip().replace(":", ""), 16) == cert.serial_number
    assert "    Signature Algorithm: sha256WithRSAEncryption" in lines
    assert "    Issuer: CN=Lab Corporate Issuing CA 1" in lines
    assert f"      Not Before: {openssl_date(cert.not_valid_before_utc)}" in lines
    assert f"      Not After : {openssl_date(cert.not_valid_after_utc)}" in lines
    assert "    Subject: CN=cms1.lab.cms.example" in lines
    assert "      Public Key Algorithm: rsaEncryption" in lines
    assert "      Public-Key: (2048 bit)" in lines
    san = lines[lines.index("      X509v3 Subject Alternative Name:") + 1]
    assert san == "        DNS:cms1.lab.cms.example, DNS:join.lab.cms.example, DNS:cms1"


def test_pki_inspect_dates_use_the_openssl_day_padding(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    out = lab.run("cms1", f"pki inspect {files['cert']}")
    after = re.search(r"^      Not After : (.*)$", out, re.M)
    assert after is not None
    assert re.fullmatch(r"[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d \d{4} GMT", after.group(1))


def test_pki_inspect_of_a_chain_shows_every_certificate(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    out = lab.run("cms1", f"pki inspect {files['fullchain']}")
    assert "File contains 3 PEM encoded certificates" in out.splitlines()
    subjects = re.findall(r"^    Subject: (.*)$", out, re.M)
    assert subjects == ["CN=cms1.lab.cms.example", "CN=Lab Corporate Issuing CA 1", "CN=Lab Corporate Root CA"]


def test_pki_inspect_of_a_missing_file_says_not_found_twice(lab: SimLab) -> None:
    assert lab.run("cms1", "pki inspect nothere.cer").splitlines() == [
        "Checking ssh public keys...not found",
        "Checking user configured certificates and keys...not found",
    ]


def test_pki_inspect_of_a_key_and_a_csr(lab: SimLab) -> None:
    lab.run("cms1", "pki csr web CN:cms1.lab.cms.example subjectAltName:cms1.lab.cms.example,join.lab.cms.example")
    key_out = lab.run("cms1", "pki inspect web.key").splitlines()
    assert key_out[2:] == ["File contains a PEM encoded private key", "Private-Key: (2048 bit)"]
    csr_out = lab.run("cms1", "pki inspect web.csr").splitlines()
    assert csr_out[2:5] == [
        "File contains a PEM encoded certificate signing request",
        "Certificate Request:",
        "  Data:",
    ]
    assert "    Subject: CN=cms1.lab.cms.example" in csr_out
    assert "          DNS:cms1.lab.cms.example, DNS:join.lab.cms.example" in csr_out


def test_pki_inspect_of_an_encrypted_key_or_junk(lab: SimLab) -> None:
    key = rsa.generate_private_key(65537, 2048)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    put(lab, "cms1", "locked.key", encrypted)
    put(lab, "cms1", "notes.txt", b"hello\n")
    assert lab.run("cms1", "pki inspect locked.key").splitlines()[-1] == "File contains an encrypted PEM private key"
    assert lab.run("cms1", "pki inspect notes.txt").splitlines()[-1] == shapes.PKI_INSPECT_UNKNOWN.format(
        name="notes.txt"
    )


# ---- pki match / verify -------------------------------------------------------------------------------------
def test_pki_match_tells_a_matching_pair_from_a_foreign_certificate(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    assert lab.run("cms1", f"pki match {files['key']} {files['cert']}") == "SUCCESS: Key and certificate pair match\n"
    # The full chain's first certificate is the leaf: it matches too.
    assert lab.run("cms1", f"pki match {files['key']} {files['fullchain']}") == shapes.PKI_MATCH_OK + "\n"
    put(lab, "cms1", "cms2.cer", get(lab, "cms2", seeded_files(lab, "cms2")["cert"]))
    assert lab.run("cms1", f"pki match {files['key']} cms2.cer") == shapes.PKI_MATCH_FAIL + "\n"


def test_pki_match_fails_clearly_on_an_encrypted_key_and_missing_files(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    key = rsa.generate_private_key(65537, 2048)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"secret"),
    )
    put(lab, "cms1", "locked.key", encrypted)
    assert lab.run("cms1", f"pki match locked.key {files['cert']}") == (
        shapes.PKI_KEY_UNREADABLE.format(name="locked.key") + "\n"
    )
    assert (
        lab.run("cms1", f"pki match gone.key {files['cert']}") == shapes.FILE_NOT_FOUND.format(name="gone.key") + "\n"
    )
    assert lab.run("cms1", f"pki match {files['key']} {files['bundle']}") == shapes.PKI_MATCH_FAIL + "\n"


def test_pki_verify_accepts_the_bundle_or_the_full_chain_and_rejects_a_foreign_ca(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    assert lab.run("cms1", f"pki verify {files['cert']} {files['bundle']}") == (
        shapes.PKI_VERIFY_OK.format(bundle=files["bundle"]) + "\n"
    )
    assert lab.run("cms1", f"pki verify {files['cert']} {files['fullchain']}").startswith("SUCCESS:")
    assert lab.run("cms1", f"pki verify {files['fullchain']}").startswith("SUCCESS:")
    # A leaf alone has no root to reach.
    assert lab.run("cms1", f"pki verify {files['cert']}").startswith("FAILURE: Certificate verification failed:")
    lab.run("cms1", "pki selfsigned otherca CN:other.example")
    out = lab.run("cms1", f"pki verify {files['cert']} otherca.crt")
    assert (
        out
        == shapes.PKI_VERIFY_FAIL.format(reason="unable to get issuer certificate for CN=cms1.lab.cms.example") + "\n"
    )
    assert lab.run("cms1", "pki verify otherca.crt") == shapes.PKI_VERIFY_SELF_OK + "\n"


def test_pki_verify_uses_the_lab_clock_for_expiry(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    lab.ctl(clock_offset_days=25)  # the seeded service certificates expire ~20 days from now
    out = lab.run("cms1", f"pki verify {files['cert']} {files['bundle']}")
    assert out == shapes.PKI_VERIFY_FAIL.format(reason="certificate CN=cms1.lab.cms.example has expired") + "\n"


# ---- pki csr ------------------------------------------------------------------------------------------------
def test_pki_csr_creates_a_real_key_and_csr_with_subject_and_san(lab: SimLab) -> None:
    out = lab.run(
        "cms1",
        'pki csr cms1-2026 CN:cms1.lab.cms.example OU:IT "O:Example Org" ST:Bucks C:GB '
        "subjectAltName:cms1.lab.cms.example,join.lab.cms.example,192.0.2.11",
    )
    lines = out.splitlines()
    assert DOTS_RE.fullmatch(lines[0]) and DOTS_RE.fullmatch(lines[1])  # key generation progress [H]
    assert lines[2:] == [
        "Created key file cms1-2026.key and CSR cms1-2026.csr",
        "CSR file cms1-2026.csr ready for download via SFTP",
    ]
    key = x509.load_key(get(lab, "cms1", "cms1-2026.key"))
    csr = x509.load_csr(get(lab, "cms1", "cms1-2026.csr"))
    assert key.key_size == shapes.PKI_CSR_KEY_BITS
    assert csr.is_signature_valid
    assert x509.public_key_sha256(csr.public_key()) == x509.public_key_sha256(key.public_key())
    assert x509.rfc4514(csr.subject) == "C=GB, ST=Bucks, O=Example Org, OU=IT, CN=cms1.lab.cms.example"
    assert x509.san_values(csr) == ["cms1.lab.cms.example", "join.lab.cms.example", "192.0.2.11"]
    listed = lab.run("cms1", "pki list").splitlines()
    assert listed[-2:] == ["cms1-2026.key", "cms1-2026.csr"]


def test_pki_csr_accepts_an_odd_cn_without_san_as_the_box_does(lab: SimLab) -> None:
    out = lab.run("cms1", "pki csr tac CN:.*.tptac9.com")  # S8: the MMP does not check the CN is a hostname
    assert out.splitlines()[-1] == "CSR file tac.csr ready for download via SFTP"
    assert x509.load_csr(get(lab, "cms1", "tac.csr")).subject.rfc4514_string() == "CN=.*.tptac9.com"


CSR_ERRORS = [
    ("pki csr bad.name CN:x.example", shapes.PKI_CSR_BAD_BASENAME.format(name="bad.name")),
    ("pki csr web OU:IT", shapes.PKI_CSR_NO_CN),
    ("pki csr web CN:", shapes.PKI_CSR_NO_CN),
    ("pki csr web CN:x.example C:GBR", shapes.PKI_CSR_BAD_COUNTRY),
    ("pki csr web CN:x.example C:1A", shapes.PKI_CSR_BAD_COUNTRY),
    ("pki csr web CN:x.example subjectAltName:y.example,z.example", shapes.PKI_CSR_SAN_WITHOUT_CN),
    ("pki csr web CN:x.example L:London", shapes.PKI_CSR_BAD_ATTRIBUTE.format(attr="L:London")),
    ("pki csr web CN:x.example cn:x.example", shapes.PKI_CSR_BAD_ATTRIBUTE.format(attr="cn:x.example")),
    ("pki csr web CN:x.example CN:y.example", shapes.PKI_CSR_BAD_ATTRIBUTE.format(attr="CN:y.example")),
    ("pki csr web x.example", shapes.PKI_CSR_BAD_ATTRIBUTE.format(attr="x.example")),
]


def test_pki_csr_refuses_invalid_input_and_writes_nothing(lab: SimLab) -> None:
    shell = lab.shell("cms2")
    try:
        before = shell.run("pki list")
        for command, error in CSR_ERRORS:
            assert shell.run(command) == error + "\n", command
        assert shell.run("pki list") == before
    finally:
        shell.close()


def test_pki_csr_over_an_in_use_key_breaks_the_services_tls_at_once(lab: SimLab) -> None:
    files = seeded_files(lab, "cms1")
    ports = lab.hosts["cms1"]["cms_tls_ports"]
    root = lab.dir / "seed-ca" / "root.crt"
    tls.fetch_leaf(ports["webadmin"], cafile=root, hostname="cms1.lab.cms.example")  # serving fine
    basename = files["key"].removesuffix(".key")
    out = lab.run("cms1", f"pki csr {basename} CN:cms1.lab.cms.example")  # no question asked (S2)
    assert out.splitlines()[-2] == f"Created key file {basename}.key and CSR {basename}.csr"
    for endpoint in ("webadmin", "callbridge", "webbridge3", "webbridge3-c2w", "turn"):
        with pytest.raises((ssl.SSLError, OSError)):
            tls.fetch_leaf(ports[endpoint])
    errors = [e for e in lab.events("cms1") if e["event"] == "tls_error"]
    assert {e["endpoint"] for e in errors} >= {"webadmin", "webbridge3"}
    assert "does not match" in errors[-1]["reason"]
    # The status still names the files: nothing on the box says the service is broken until it is restarted.
    assert f"Key file                : {files['key']}" in lab.run("cms1", "webadmin")
    assert lab.run("cms1", "webadmin restart").splitlines()[-2:] == [
        shapes.SERVICE_CERTS_MISMATCH,
        shapes.SERVICE_NOT_COMPLETE.format(service="webadmin"),
    ]


# ---- pki selfsigned / sign ----------------------------------------------------------------------------------
def test_pki_selfsigned_then_sign_builds_the_database_ca_chain(lab: SimLab) -> None:
    out = lab.run("cms1", "pki selfsigned dbca CN:tplab.local")
    assert out.splitlines()[-1] == "Created key file dbca.key and certificate dbca.crt"
    ca_cert = x509.load_certs(get(lab, "cms1", "dbca.crt"))[0]
    assert ca_cert.extensions.get_extension_for_class(cx509.BasicConstraints).value.ca
    assert x509.rfc4514(ca_cert.subject) == "CN=tplab.local"
    lifetime = ca_cert.not_valid_after_utc - ca_cert.not_valid_before_utc
    assert abs(lifetime - dt.timedelta(days=shapes.PKI_SELFSIGNED_DAYS)) < dt.timedelta(hours=1)

    lab.run("cms1", "pki csr dbserver CN:cms1.lab.cms.example subjectAltName:cms1.lab.cms.example,cms2.lab.cms.example")
    assert lab.run("cms1", "pki sign dbserver dbca") == "Signed certificate dbserver.crt with dbca\n"
    leaf = x509.load_certs(get(lab, "cms1", "dbserver.crt"))[0]
    assert x509.issued_by(leaf, ca_cert)
    assert x509.san_values(leaf) == ["cms1.lab.cms.example", "cms2.lab.cms.example"]
    assert lab.run("cms1", "pki verify dbserver.crt dbca.crt") == shapes.PKI_VERIFY_OK.format(bundle="dbca.crt") + "\n"
    assert lab.run("cms1", "pki match dbserver.key dbserver.crt") == shapes.PKI_MATCH_OK + "\n"


def test_pki_selfsigned_without_cn_and_its_errors(lab: SimLab) -> None:
    lab.run("cms1", "pki selfsigned allinone")  # S20's form
    cert = x509.load_certs(get(lab, "cms1", "allinone.crt"))[0]
    assert x509.rfc4514(cert.subject) == "CN=allinone"
    assert lab.run("cms1", "pki selfsigned bad/name") == shapes.PKI_CSR_BAD_BASENAME.format(name="bad/name") + "\n"
    assert lab.run("cms1", "pki selfsigned ca O:Org") == shapes.PKI_CSR_BAD_ATTRIBUTE.format(attr="O:Org") + "\n"


def test_pki_sign_errors(lab: SimLab) -> None:
    lab.run("cms1", "pki selfsigned dbca CN:tplab.local")
    assert lab.run("cms1", "pki sign nocsr dbca") == shapes.PKI_SIGN_NO_CSR.format(name="nocsr") + "\n"
    lab.run("cms1", "pki csr dbclient CN:postgres")
    assert lab.run("cms1", "pki sign dbclient noca") == shapes.PKI_SIGN_NO_CA.format(ca="noca") + "\n"
    # A CA whose key and certificate do not belong together cannot sign.
    put(lab, "cms1", "mixed.key", get(lab, "cms1", "dbclient.key"))
    put(lab, "cms1", "mixed.crt", get(lab, "cms1", "dbca.crt"))
    assert lab.run("cms1", "pki sign dbclient mixed") == shapes.PKI_SIGN_CA_MISMATCH.format(ca="mixed") + "\n"
    assert not lab.files_dir("cms1").joinpath("dbclient.crt").exists()


# ---- usage --------------------------------------------------------------------------------------------------
USAGE_ERRORS = [
    "pki",
    "pki list extra",
    "pki inspect",
    "pki match one.key",
    "pki verify",
    "pki csr",
    "pki sign a",
    "pki selfsigned",
    "pki unlock web.key",
    "pki remove web.key",
]


def test_pki_wrong_arguments_print_the_usage(lab: SimLab) -> None:
    shell = lab.shell("cms1")
    try:
        for command in USAGE_ERRORS:
            assert shell.run(command) == shapes.PKI_USAGE + "\n", command
    finally:
        shell.close()


def test_key_loading_is_cached_by_content_and_failures_are_not() -> None:
    """A node loads the same keys again and again (enable, TLS listeners); the simulator checks each key once."""
    key = rsa.generate_private_key(65537, 2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    first = x509.load_key(pem)
    assert x509.load_key(bytearray(pem)) is first  # same content, same (immutable) key object
    assert x509.public_key_sha256(first.public_key()) == x509.public_key_sha256(key.public_key())
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    for _ in range(2):  # a failure raises every time: it is never served from the cache
        with pytest.raises(TypeError):
            x509.load_key(encrypted)
        with pytest.raises(ValueError):
            x509.load_key(pem.replace(b"PRIVATE KEY-----\nMII", b"PRIVATE KEY-----\nXXX"))
