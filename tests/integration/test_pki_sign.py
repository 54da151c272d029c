"""cms_pki_sign against the simulator: the built-in CA (pki selfsigned, pki sign), idempotence, check and diff mode,
keys in use, and the user guide's database cluster example."""

from __future__ import annotations

import datetime
import hashlib
import math
import re
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import Run

REPO_ROOT = Path(__file__).resolve().parents[2]


def commands(lab: SimLab, node: str, prefix: str) -> list[str]:
    return [e["command"] for e in lab.events(node) if e["event"] == "command" and e["command"].startswith(prefix)]


def store(lab: SimLab, node: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in lab.files_dir(node).iterdir()}


def node_cert(lab: SimLab, node: str, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((lab.files_dir(node) / name).read_bytes())


def colon_hex(data: bytes) -> str:
    return ":".join("%02X" % b for b in data)


def public_key_der(obj: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return obj.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def iso(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def play(*tasks: str, hosts: str = "cms1") -> str:
    return "- hosts: %s\n  gather_facts: false\n  tasks:\n%s" % (hosts, "".join(tasks))


def sign_task(task_name: str = "sign", **options: str) -> str:
    lines = "".join("        %s: %s\n" % (k, v) for k, v in options.items())
    return "    - name: %s\n      cisco_cms.mmp.cms_pki_sign:\n%s" % (task_name, lines)


def csr_task(name: str, cn: str) -> str:
    return "    - name: csr %s\n      cisco_cms.mmp.cms_pki_csr:\n        name: %s\n        cn: %s\n" % (name, name, cn)


def test_selfsigned_ca_is_created_described_exactly_and_then_left_alone(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    dest = tmp_path / "ca"
    ca_play = play(sign_task(name="labca", cn="lab.cms.example", dest='"%s/"' % dest))
    first = playbook(lab, ca_play)
    assert first.rc == 0, first.stdout[-3000:] + first.stderr
    result = first.task("cms1", "sign")
    assert result["changed"] is True
    assert result["commands"] == ["pki selfsigned labca CN:lab.cms.example"]
    assert result["cert_file"] == "labca.crt" and result["key_file"] == "labca.key"
    # The figures are those of the node's file, computed here independently.
    cert = node_cert(lab, "cms1", "labca.crt")
    assert result["fingerprint_sha256"] == colon_hex(cert.fingerprint(hashes.SHA256()))
    assert result["subject"] == result["issuer"] == "CN=lab.cms.example"
    assert result["not_after"] == iso(cert.not_valid_after_utc)
    assert result["not_before"] == iso(cert.not_valid_before_utc)
    left = (cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400
    assert result["days_left"] in (math.floor(left), math.floor(left) - 1)
    assert result["certificate"].encode() == (lab.files_dir("cms1") / "labca.crt").read_bytes()
    assert (dest / "labca.crt").read_bytes() == (lab.files_dir("cms1") / "labca.crt").read_bytes()

    before = store(lab, "cms1")
    second = playbook(lab, ca_play)
    assert second.rc == 0, second.stdout[-3000:]
    again = second.task("cms1", "sign")
    assert again["changed"] is False and again["commands"] == []
    assert again["fingerprint_sha256"] == result["fingerprint_sha256"]
    assert store(lab, "cms1") == before
    assert len(commands(lab, "cms1", "pki selfsigned")) == 1


def test_sign_issues_a_certificate_for_the_csr_and_then_leaves_it_alone(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    sign_play = play(
        sign_task("ca", name="dbca", cn="lab.cms.example"),
        csr_task("dbserver", "cms1.lab.cms.example"),
        sign_task(name="dbserver", ca="dbca"),
    )
    first = playbook(lab, sign_play)
    assert first.rc == 0, first.stdout[-3000:] + first.stderr
    result = first.task("cms1", "sign")
    assert result["changed"] is True and result["commands"] == ["pki sign dbserver dbca"]
    cert, ca = node_cert(lab, "cms1", "dbserver.crt"), node_cert(lab, "cms1", "dbca.crt")
    cert.verify_directly_issued_by(ca)  # raises when dbca did not sign it
    csr = x509.load_pem_x509_csr((lab.files_dir("cms1") / "dbserver.csr").read_bytes())
    assert public_key_der(cert) == public_key_der(csr)
    assert result["subject"] == "CN=cms1.lab.cms.example" and result["issuer"] == "CN=lab.cms.example"
    assert result["fingerprint_sha256"] == colon_hex(cert.fingerprint(hashes.SHA256()))
    assert result["serial"].replace(":", "").upper().lstrip("0") == "%X" % cert.serial_number

    before = store(lab, "cms1")
    second = playbook(lab, sign_play)
    assert second.rc == 0 and all(second.task("cms1", t)["changed"] is False for t in ("ca", "csr dbserver", "sign"))
    assert store(lab, "cms1") == before
    assert len(commands(lab, "cms1", "pki sign")) == 1


def test_check_mode_plans_the_signature_and_changes_nothing(lab: SimLab, playbook: Callable[..., Run]) -> None:
    assert (
        playbook(lab, play(sign_task("ca", name="dbca", cn="lab.cms.example"), csr_task("dbclient", "postgres"))).rc
        == 0
    )
    before = store(lab, "cms1")
    run = playbook(lab, play(sign_task(name="dbclient", ca="dbca")), check=True, diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "sign")
    assert result["changed"] is True and result["commands"] == ["pki sign dbclient dbca"]
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["subject"] == "CN=postgres"
    assert result["diff"]["after"]["issuer"] == "CN=lab.cms.example"
    assert result["diff"]["after"]["commands"] == ["pki sign dbclient dbca"]
    assert store(lab, "cms1") == before and "dbclient.crt" not in before
    assert not commands(lab, "cms1", "pki sign")


def test_a_new_ca_makes_the_certificate_be_signed_again_with_old_and_new_in_the_diff(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    setup = play(
        sign_task("ca", name="dbca", cn="lab.cms.example"),
        csr_task("dbserver", "cms1.lab.cms.example"),
        sign_task(name="dbserver", ca="dbca"),
    )
    assert playbook(lab, setup).rc == 0
    old = node_cert(lab, "cms1", "dbserver.crt")
    # The CA is re-created (force); the certificate it signed before no longer chains to it.
    assert playbook(lab, play(sign_task("ca", name="dbca", cn="lab.cms.example", force="true"))).rc == 0
    run = playbook(lab, play(sign_task(name="dbserver", ca="dbca")), diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "sign")
    new = node_cert(lab, "cms1", "dbserver.crt")
    new.verify_directly_issued_by(node_cert(lab, "cms1", "dbca.crt"))
    assert result["changed"] is True
    assert result["diff"]["before"]["fingerprint_sha256"] == colon_hex(old.fingerprint(hashes.SHA256()))
    assert result["diff"]["after"]["fingerprint_sha256"] == colon_hex(new.fingerprint(hashes.SHA256()))
    assert result["diff"]["before"]["fingerprint_sha256"] != result["diff"]["after"]["fingerprint_sha256"]
    assert result["diff"]["after"]["not_after"] == iso(new.not_valid_after_utc)
    assert result["diff"]["after"]["commands"] == ["pki sign dbserver dbca"]


def test_selfsigned_refuses_to_overwrite_a_key_in_use_unless_forced(lab: SimLab, playbook: Callable[..., Run]) -> None:
    before = store(lab, "cms1")
    refused = playbook(lab, play(sign_task(name="cms1-2025", cn="cms1.lab.cms.example")))
    assert refused.rc != 0
    msg = refused.task("cms1", "sign")["msg"]
    assert "cms1-2025.key is in use by" in msg and "webadmin key" in msg and "force: true" in msg
    assert store(lab, "cms1") == before and not commands(lab, "cms1", "pki selfsigned")

    forced = playbook(lab, play(sign_task(name="cms1-2025", cn="cms1.lab.cms.example", force="true")))
    assert forced.rc == 0, forced.stdout[-3000:]
    warnings = " ".join(forced.task("cms1", "sign")["warnings"])
    assert "cms1-2025.key" in warnings and "webadmin key" in warnings and "break" in warnings
    assert store(lab, "cms1")["cms1-2025.key"] != before["cms1-2025.key"]


def test_sign_without_its_csr_or_ca_says_what_to_create_first(lab: SimLab, playbook: Callable[..., Run]) -> None:
    run = playbook(lab, play(sign_task(name="dbserver", ca="dbca")))
    assert run.rc != 0
    msg = run.task("cms1", "sign")["msg"]
    assert "dbserver.csr, dbca.key, dbca.crt missing on the node" in msg
    assert "cms_pki_csr" in msg and "cms_pki_sign" in msg
    assert not commands(lab, "cms1", "pki sign")


def test_node_error_is_reported_with_its_own_words(lab: SimLab, playbook: Callable[..., Run]) -> None:
    lab.ctl(
        faults={"cms1": {"fail_command": {"match": "pki selfsigned", "output": "ERROR: Out of entropy", "once": True}}}
    )
    run = playbook(lab, play(sign_task(name="dbca", cn="lab.cms.example")))
    assert run.rc != 0
    result = run.task("cms1", "sign")
    assert "pki selfsigned dbca CN:lab.cms.example failed on cms1: ERROR: Out of entropy" in result["msg"]
    assert result["command"] == "pki selfsigned dbca CN:lab.cms.example"
    assert "Traceback" not in run.stdout + run.stderr


def guide_playbook(marker: str) -> str:
    text = (REPO_ROOT / "docs" / "pki.md").read_text()
    found = re.search(re.escape(marker) + r".*?```yaml\n(.*?)```", text, re.DOTALL)
    assert found, "docs/pki.md lost its example after %r" % marker
    return found.group(1)


def test_guide_builds_the_database_cluster_certificates_with_the_built_in_ca(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    path = project / "db_certs.yml"
    path.write_text(guide_playbook("<!-- example: built-in-ca"))
    first = playbook(lab, path)
    assert first.rc == 0, first.stdout[-4000:] + first.stderr
    ca = node_cert(lab, "cms1", "dbca.crt")
    assert ca.subject.rfc4514_string() == "CN=lab.cms.example"
    for name, cn in (("dbserver", "cms1.lab.cms.example"), ("dbclient", "postgres")):
        cert = node_cert(lab, "cms1", name + ".crt")
        cert.verify_directly_issued_by(ca)
        assert cert.subject.rfc4514_string() == "CN=" + cn
        assert (project / "db-certs" / (name + ".crt")).read_bytes() == (
            lab.files_dir("cms1") / (name + ".crt")
        ).read_bytes()
    server = node_cert(lab, "cms1", "dbserver.crt")
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert sans == ["cms1.lab.cms.example", "cms2.lab.cms.example", "cms3.lab.cms.example"]
    assert (project / "db-certs" / "dbca.crt").read_bytes() == (lab.files_dir("cms1") / "dbca.crt").read_bytes()
    before = store(lab, "cms1")

    second = playbook(lab, path)
    assert second.rc == 0 and second.changed("cms1") == 0, second.stats
    assert store(lab, "cms1") == before


def test_selfsigned_refuses_to_overwrite_a_ca_named_only_in_a_trust_store(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    first = playbook(lab, play(sign_task(name="sipca", cn="sip.lab.cms.example")))
    assert first.rc == 0, first.stdout[-3000:]
    assert lab.run("cms1", "tls sip trust sipca.crt") == ""  # as TN 217320 trusts its root CA
    before = store(lab, "cms1")
    refused = playbook(lab, play(sign_task(name="sipca", cn="other.lab.cms.example")))
    assert refused.rc != 0
    msg = refused.task("cms1", "sign")["msg"]
    assert "sipca.crt is in use by tls sip trust" in msg
    assert store(lab, "cms1") == before and len(commands(lab, "cms1", "pki selfsigned")) == 1
