"""cms_pki_info against the simulator: exact figures (checked here with cryptography against the node's files),
match and verify verdicts, renewal decisions, files it cannot read, check mode."""

from __future__ import annotations

import datetime
import hashlib
import math
import subprocess
from collections.abc import Callable
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import Run

UTC = datetime.UTC
MUTATING = ("pki csr", "pki sign", "pki selfsigned", "enable", "disable", "restart", "certs", "remove", "initialize")


def info_play(**options: Any) -> str:
    task = {"name": "info", "cisco_cms.mmp.cms_pki_info": options or {"usage": True}}
    return yaml.safe_dump([{"hosts": "cms1", "gather_facts": False, "tasks": [task]}], sort_keys=False)


def colon_hex(data: bytes) -> str:
    return ":".join("%02X" % b for b in data)


def spki_sha256(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return colon_hex(hashlib.sha256(der).digest())


def iso(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def node_certs(lab: SimLab, node: str) -> dict[str, list[x509.Certificate]]:
    """Every certificate file of the node's store, read here, independently of the module."""
    out = {}
    for path in sorted(lab.files_dir(node).iterdir()):
        data = path.read_bytes()
        if b"-----BEGIN CERTIFICATE-----" in data:
            out[path.name] = x509.load_pem_x509_certificates(data)
    return out


def upload(lab: SimLab, node: str, name: str, data: bytes) -> None:
    with lab.sftp(node) as sftp, sftp.open("/" + name, "wb") as fh:
        fh.write(data)


def short_lived_cert(days: float) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spare.lab.cms.example")])
    now = datetime.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def commands(lab: SimLab, node: str) -> list[str]:
    return [e["command"] for e in lab.events(node) if e["event"] == "command"]


# ------------------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------------------
def test_figures_are_exactly_what_the_files_say(lab: SimLab, playbook: Callable[..., Run]) -> None:
    run = playbook(lab, info_play())
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    result = run.task("cms1", "info")
    assert result["changed"] is False
    checked_at = parse_iso(result["checked_at"])
    local = node_certs(lab, "cms1")
    assert set(result["certificates"]) == set(local)
    for name, chain in local.items():
        got, cert = result["certificates"][name], chain[0]
        assert got["not_after"] == iso(cert.not_valid_after_utc), name
        assert got["not_before"] == iso(cert.not_valid_before_utc), name
        assert got["fingerprint_sha256"] == colon_hex(cert.fingerprint(hashes.SHA256())), name
        assert got["public_key_sha256"] == spki_sha256(cert.public_key()), name
        public_key = cert.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey), name  # the simulator makes RSA keys only
        assert got["key_size"] == public_key.key_size, name
        assert got["subject"] == cert.subject.rfc4514_string(), name  # single-RDN names read the same either way
        assert got["chain_length"] == len(chain), name
        assert int(got["serial"].replace(":", ""), 16) == cert.serial_number, name
        # checked_at is cut to the second; the module's clock read is up to a second later.
        left = (cert.not_valid_after_utc - checked_at).total_seconds() / 86400
        assert got["days_left"] in {math.floor(left), math.floor(left - 1 / 86400)}, name
        assert got["expired"] is (cert.not_valid_after_utc < checked_at), name
    # The seeded lab: service certificates ~20 days from expiry, database cluster ~10, the full chain has 3 certs.
    assert 18 <= result["certificates"]["cms1-2025.cer"]["days_left"] <= 20
    assert 8 <= result["certificates"]["dbclusterserver.cer"]["days_left"] <= 10
    assert result["certificates"]["cms1-2025-fullchain.cer"]["chain_length"] == 3
    assert result["certificates"]["cms1-2025.cer"]["san"] == local["cms1-2025.cer"][
        0
    ].extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)

    # Keys: their public half only.
    key = serialization.load_pem_private_key((lab.files_dir("cms1") / "cms1-2025.key").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert result["keys"]["cms1-2025.key"]["public_key_sha256"] == spki_sha256(key.public_key())
    assert result["keys"]["cms1-2025.key"]["key_size"] == key.key_size
    assert result["keys"]["cms1-2025.key"]["encrypted"] is False
    assert "PRIVATE KEY" not in run.stdout and "PRIVATE KEY" not in run.stderr

    # Who uses what, from each service's status.
    assert "webadmin key" in result["keys"]["cms1-2025.key"]["used_by"]
    assert "webbridge3 https_cert" in result["certificates"]["cms1-2025-fullchain.cer"]["used_by"]
    assert result["files_in_use"]["dbclusterserver.key"] == ["database cluster server_key"]
    assert result["database_cluster"]["local_role"] == "primary"
    assert "password" not in str(result["services"]["turn"]).lower() or "********" in str(result["services"]["turn"])
    # pki list, in the node's order.
    assert result["files"][0] == "cms1-2025.key" and set(result["files"]) == {
        p.name for p in lab.files_dir("cms1").iterdir()
    }


def test_only_the_named_files_are_described(lab: SimLab, playbook: Callable[..., Run]) -> None:
    run = playbook(lab, info_play(files=["cms1-2025.cer"], usage=False))
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "info")
    assert list(result["certificates"]) == ["cms1-2025.cer"] and result["keys"] == {} and result["csrs"] == {}
    gets = [e["file"] for e in lab.events("cms1") if e["event"] == "sftp_get"]
    assert gets == ["cms1-2025.cer"]


def test_a_file_that_is_not_there_is_named(lab: SimLab, playbook: Callable[..., Run]) -> None:
    run = playbook(lab, info_play(match=[{"key": "webadmin-2027.key", "cert": "cms1-2025.cer"}]))
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "no file webadmin-2027.key on the node" in msg and "cms1-2025.cer" in msg


def test_csrs_are_described(lab: SimLab, playbook: Callable[..., Run]) -> None:
    lab.run("cms1", "pki csr next CN:cms1.lab.cms.example subjectAltName:cms1.lab.cms.example,192.0.2.11")
    run = playbook(lab, info_play(files=["next.csr"], usage=False))
    assert run.rc == 0, run.stdout[-3000:]
    csr = x509.load_pem_x509_csr((lab.files_dir("cms1") / "next.csr").read_bytes())
    got = run.task("cms1", "info")["csrs"]["next.csr"]
    assert got["subject_dict"] == {"CN": "cms1.lab.cms.example"}
    assert got["san"] == ["cms1.lab.cms.example", "192.0.2.11"]
    assert got["public_key_sha256"] == spki_sha256(csr.public_key())


# ------------------------------------------------------------------------------------------------------------
# match / verify
# ------------------------------------------------------------------------------------------------------------
def test_match_and_verify_tell_good_pairs_from_bad(lab: SimLab, playbook: Callable[..., Run]) -> None:
    run = playbook(
        lab,
        info_play(
            usage=False,
            files=["cms1-2025.cer"],
            match=[
                {"key": "cms1-2025.key", "cert": "cms1-2025.cer"},
                {"key": "cms1-2025.key", "cert": "cms1-2025-fullchain.cer"},
                {"key": "dbclusterserver.key", "cert": "cms1-2025.cer"},  # the key of another certificate
            ],
            verify=[
                {"cert": "cms1-2025.cer", "bundle": "ca-bundle-2025.cer"},
                {"cert": "cms1-2025-fullchain.cer"},
                {"cert": "cms1-2025.cer", "bundle": "dbclusterca.cer"},  # the wrong bundle
                {"cert": "dbclusterserver.cer", "bundle": "dbclusterca.cer"},
            ],
        ),
    )
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "info")
    verdicts = [(m["key"], m["cert"], m["match"], m["node"], m["local"]) for m in result["match"]]
    assert verdicts == [
        ("cms1-2025.key", "cms1-2025.cer", True, True, True),
        ("cms1-2025.key", "cms1-2025-fullchain.cer", True, True, True),
        ("dbclusterserver.key", "cms1-2025.cer", False, False, False),
    ]
    checks = [(v["cert"], v["bundle"], v["verified"], v["node"], v["local"]) for v in result["verify"]]
    assert checks == [
        ("cms1-2025.cer", "ca-bundle-2025.cer", True, True, True),
        ("cms1-2025-fullchain.cer", None, True, True, True),
        ("cms1-2025.cer", "dbclusterca.cer", False, False, False),
        ("dbclusterserver.cer", "dbclusterca.cer", True, True, True),
    ]
    assert result["verify"][2]["reason"]  # says why
    ran = commands(lab, "cms1")
    assert "pki match dbclusterserver.key cms1-2025.cer" in ran
    assert "pki verify cms1-2025.cer dbclusterca.cer" in ran


# ------------------------------------------------------------------------------------------------------------
# Renewal decisions
# ------------------------------------------------------------------------------------------------------------
def expected_renewals(lab: SimLab, result: dict[str, Any]) -> list[str]:
    """Certificates in use that are not valid at the module's ``valid_at``, computed from the files here."""
    horizon = parse_iso(result["valid_at"])
    certs = node_certs(lab, "cms1")
    return sorted(
        name
        for name in result["files_in_use"]
        if name in certs and not certs[name][0].not_valid_before_utc <= horizon <= certs[name][0].not_valid_after_utc
    )


def test_should_renew_follows_renew_within_days_and_valid_at(lab: SimLab, playbook: Callable[..., Run]) -> None:
    upload(lab, "cms1", "spare.cer", short_lived_cert(days=3))  # expiring, but no service uses it
    today = datetime.datetime.now(UTC).date()
    cases: dict[str, tuple[dict[str, Any], bool]] = {
        "default (30 days)": ({}, True),
        "5 days": ({"renew_within_days": 5}, False),
        "15 days": ({"renew_within_days": 15}, True),
        "+15d": ({"valid_at": "+15d", "renew_within_days": 1000}, True),
        "+2d": ({"valid_at": "+2d"}, False),
        "+4w": ({"valid_at": "+4w"}, True),
        "absolute in 25 days": ({"valid_at": (today + datetime.timedelta(days=25)).isoformat()}, True),
        "absolute in 5 days, UTC time": ({"valid_at": "%sT12:00:00Z" % (today + datetime.timedelta(days=5))}, False),
    }
    tasks = [{"name": title, "cisco_cms.mmp.cms_pki_info": options} for title, (options, _) in cases.items()]
    run = playbook(lab, yaml.safe_dump([{"hosts": "cms1", "gather_facts": False, "tasks": tasks}], sort_keys=False))
    assert run.rc == 0, run.stdout[-3000:]
    renewals = {}
    for title, (options, should) in cases.items():
        result = run.task("cms1", title)
        assert result["should_renew"] is should, (title, result["renew"])
        assert result["renew"] == expected_renewals(lab, result), title
        assert "spare.cer" not in result["renew"] and "should_renew" not in result["certificates"]["spare.cer"]
        renewals[title] = result["renew"]
        checked_at = parse_iso(result["checked_at"])
        if "valid_at" in options and options["valid_at"].startswith("+"):
            days = int(options["valid_at"][1:-1]) * (7 if options["valid_at"].endswith("w") else 1)
            assert parse_iso(result["valid_at"]) - checked_at == datetime.timedelta(days=days), title
    # The lab: the database cluster certificates expire first (~10 days), then the service certificates (~20).
    assert renewals["15 days"] == renewals["+15d"] == ["dbclusterclient.cer", "dbclusterserver.cer"]
    assert renewals["default (30 days)"] == [
        "cms1-2025-fullchain.cer",
        "cms1-2025.cer",
        "dbclusterclient.cer",
        "dbclusterserver.cer",
    ]
    assert renewals["absolute in 25 days"] == renewals["default (30 days)"]


def test_without_usage_every_certificate_is_judged(lab: SimLab, playbook: Callable[..., Run]) -> None:
    upload(lab, "cms1", "spare.cer", short_lived_cert(days=3))
    run = playbook(lab, info_play(usage=False, renew_within_days=5))
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "info")
    assert result["renew"] == ["spare.cer"] and result["certificates"]["spare.cer"]["should_renew"] is True
    assert not [c for c in commands(lab, "cms1") if c != "pki list"]  # no service status read


def test_bad_valid_at_fails_before_connecting(lab: SimLab, playbook: Callable[..., Run]) -> None:
    run = playbook(lab, info_play(valid_at="next tuesday"))
    assert run.rc != 0
    assert "neither a relative time (+30d" in run.task("cms1", "info")["msg"]
    assert not [e for e in lab.events("cms1") if e["event"] == "connection_opened"]


# ------------------------------------------------------------------------------------------------------------
# Files it cannot read
# ------------------------------------------------------------------------------------------------------------
def test_encrypted_key_and_damaged_certificate_do_not_hide_the_rest(lab: SimLab, playbook: Callable[..., Run]) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    upload(
        lab,
        "cms1",
        "enc-pkcs8.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ),
    )
    upload(
        lab,
        "cms1",
        "enc-rsa.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(b"passphrase"),
        ),
    )
    upload(lab, "cms1", "broken.cer", b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    run = playbook(
        lab,
        info_play(
            match=[{"key": "enc-pkcs8.key", "cert": "cms1-2025.cer"}, {"key": "cms1-2025.key", "cert": "cms1-2025.cer"}]
        ),
    )
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    result = run.task("cms1", "info")
    for name in ("enc-pkcs8.key", "enc-rsa.key"):
        assert result["keys"][name]["encrypted"] is True, name
        assert "decrypt" in result["keys"][name]["error"], name
    assert "broken.cer" in result["unreadable"]
    bad, good = result["match"]
    assert bad["match"] is False and bad["local"] is None and "encrypted" in bad["reason"]
    assert good["match"] is True
    # Everything else is still described.
    assert "cms1-2025.cer" in result["certificates"] and result["keys"]["cms1-2025.key"]["encrypted"] is False
    assert result["should_renew"] is True


# ------------------------------------------------------------------------------------------------------------
# Read-only, in check mode too; ad-hoc
# ------------------------------------------------------------------------------------------------------------
def test_check_mode_reads_the_same_and_never_changes_anything(lab: SimLab, playbook: Callable[..., Run]) -> None:
    normal = playbook(lab, info_play(match=[{"key": "cms1-2025.key", "cert": "cms1-2025.cer"}]))
    checked = playbook(lab, info_play(match=[{"key": "cms1-2025.key", "cert": "cms1-2025.cer"}]), check=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    a, b = normal.task("cms1", "info"), checked.task("cms1", "info")
    assert b["changed"] is False
    for field in ("files", "files_in_use", "renew", "match"):
        assert a[field] == b[field], field
    assert {k: v["fingerprint_sha256"] for k, v in a["certificates"].items()} == {
        k: v["fingerprint_sha256"] for k, v in b["certificates"].items()
    }
    assert not [c for c in commands(lab, "cms1") if any(w in c.split() or c.startswith(w) for w in MUTATING)]
    assert not [e for e in lab.events("cms1") if e["event"] in ("sftp_put", "sftp_remove", "sftp_rename")]


def test_adhoc_with_options(lab: SimLab, adhoc: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    proc = adhoc(lab, "cms", "cisco_cms.mmp.cms_pki_info", "renew_within_days=15 usage=true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for node in ("cms1", "cms2", "cms3"):
        assert "%s | SUCCESS" % node in proc.stdout
    assert "dbclusterserver.cer" in proc.stdout and "should_renew: true" in proc.stdout


def test_turn_password_never_reaches_the_output(lab: SimLab, playbook: Callable[..., Run]) -> None:
    # `turn` prints its password in clear; the module reads that status to learn which files turn uses.
    secret = lab.node_state("cms1")["services"]["turn"]["password"]
    run = playbook(lab, info_play(files=["cms1-2025.cer"]), verbosity=4, json_output=False)
    assert run.rc == 0, run.stdout[-3000:]
    assert "turn key" in run.stdout  # turn's status was read
    assert secret not in run.stdout + run.stderr


def test_a_file_named_only_in_a_trust_line_is_in_use(lab: SimLab, playbook: Callable[..., Run]) -> None:
    # The Call Bridge's UCM and IM&P stores (TN 221698), its cluster store, and `tls sip trust` (TN 217320).
    for name in ("cucm-tomcat.cer", "imp-cup.cer", "peers.cer", "sip-root.cer"):
        upload(lab, "cms1", name, short_lived_cert(300))
    for command in (
        "callbridge ucm certs cucm-tomcat.cer",
        "callbridge ucm verify enable",
        "callbridge imps certs imp-cup.cer",
        "callbridge trust cluster peers.cer",
        "tls sip trust sip-root.cer",
        "tls sip verify enable",
    ):
        assert lab.run("cms1", command) == "", command
    run = playbook(lab, info_play(usage=True))
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "info")
    in_use = result["files_in_use"]
    assert in_use["cucm-tomcat.cer"] == ["callbridge ucm_trust"]
    assert in_use["imp-cup.cer"] == ["callbridge imps_trust"]
    assert in_use["peers.cer"] == ["callbridge cluster_trust"]
    assert in_use["sip-root.cer"] == ["tls sip trust"]
    assert result["certificates"]["sip-root.cer"]["used_by"] == ["tls sip trust"]
    callbridge = result["services"]["callbridge"]
    assert callbridge["ucm_verify"] is True and callbridge["imps_verify"] is False
    assert result["tls"]["sip"] == {"tls": "sip", "trust": "sip-root.cer", "verify": "enabled", "known": True}
    assert result["services"]["turn"]["tls_port"] == 447  # a number
