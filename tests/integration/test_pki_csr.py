"""cms_pki_csr against the simulator: idempotence, check and diff mode, keys in use, removal, bad input, fetching,
and the TechNote's CSRs per service (TechNote 214618 step 2, standalone and clustered) from the user guide."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import Run

REPO_ROOT = Path(__file__).resolve().parents[2]
NODES = ("cms1", "cms2", "cms3")


def commands(lab: SimLab, node: str) -> list[str]:
    return [e["command"] for e in lab.events(node) if e["event"] == "command"]


def csr_commands(lab: SimLab, node: str) -> list[str]:
    return [c for c in commands(lab, node) if c.startswith("pki csr")]


def store(lab: SimLab, node: str) -> dict[str, str]:
    """The node's file store: name -> SHA-256 of the content."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in lab.files_dir(node).iterdir()}


def load_node_csr(lab: SimLab, node: str, name: str) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr((lab.files_dir(node) / name).read_bytes())


def subject(csr: x509.CertificateSigningRequest) -> dict[str, str]:
    return {a.rfc4514_attribute_name: str(a.value) for a in csr.subject}


def san(csr: x509.CertificateSigningRequest) -> list[str]:
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v.value) for v in ext]


def public_key_sha256(obj: Any) -> str:
    der = obj.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return ":".join("%02X" % b for b in digest.finalize())


def csr_task(**options: Any) -> str:
    lines = "\n".join("            %s: %s" % (k, v) for k, v in options.items())
    return (
        """
    - hosts: cms1
      gather_facts: false
      tasks:
        - name: csr
          cisco_cms.mmp.cms_pki_csr:
%s
    """
        % lines
    )


# ------------------------------------------------------------------------------------------------------------
# Idempotence, fetching
# ------------------------------------------------------------------------------------------------------------
def test_csr_is_created_fetched_and_then_left_alone(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    dest = tmp_path / "csr"
    play = csr_task(
        name="webadmin-2027",
        cn='"{{ cms_fqdn }}"',
        o='"Example Corp"',
        c="us",
        subject_alt_name='["{{ cms_address }}", "2001:DB8::1"]',
        dest='"%s/"' % dest,
    )
    first = playbook(lab, play)
    assert first.rc == 0, first.stdout[-3000:] + first.stderr
    result = first.task("cms1", "csr")
    assert result["changed"] is True
    # The CN goes first into the SAN (CMS requires it), an IPv6 address in its canonical form, C upper-case.
    assert result["commands"] == [
        'pki csr webadmin-2027 CN:cms1.lab.cms.example O:"Example Corp" C:US '
        "subjectAltName:cms1.lab.cms.example,192.0.2.11,2001:db8::1"
    ]
    assert csr_commands(lab, "cms1") == result["commands"]
    csr = load_node_csr(lab, "cms1", "webadmin-2027.csr")
    assert subject(csr) == {"CN": "cms1.lab.cms.example", "O": "Example Corp", "C": "US"}
    assert san(csr) == ["cms1.lab.cms.example", "192.0.2.11", "2001:db8::1"]
    assert result["subject"] == {"CN": "cms1.lab.cms.example", "O": "Example Corp", "C": "US"}
    assert result["subject_alt_name"] == san(csr)
    assert result["public_key_sha256"] == public_key_sha256(csr)
    node_bytes = (lab.files_dir("cms1") / "webadmin-2027.csr").read_bytes()
    assert result["csr"].encode() == node_bytes
    # The SFTP-fetched copy is the node's file, byte for byte.
    assert result["dest"] == str(dest / "webadmin-2027.csr")
    assert (dest / "webadmin-2027.csr").read_bytes() == node_bytes
    assert result["key_file"] == "webadmin-2027.key" and result["in_use_by"] == []

    before = store(lab, "cms1")
    second = playbook(lab, play)
    assert second.rc == 0, second.stdout[-3000:]
    again = second.task("cms1", "csr")
    assert again["changed"] is False and again["commands"] == []
    assert again["csr"].encode() == node_bytes and again["public_key_sha256"] == result["public_key_sha256"]
    assert store(lab, "cms1") == before
    assert len(csr_commands(lab, "cms1")) == 1

    # A deleted local copy is fetched again (a change on the controller only).
    (dest / "webadmin-2027.csr").unlink()
    third = playbook(lab, play)
    assert third.task("cms1", "csr")["changed"] is True and third.task("cms1", "csr")["commands"] == []
    assert (dest / "webadmin-2027.csr").read_bytes() == node_bytes
    assert store(lab, "cms1") == before


def test_force_regenerates_a_matching_csr_with_a_new_key(lab: SimLab, playbook: Callable[..., Run]) -> None:
    play = csr_task(name="callbridge-2027", cn='"{{ cms_fqdn }}"')
    assert playbook(lab, play).rc == 0
    old = public_key_sha256(load_node_csr(lab, "cms1", "callbridge-2027.csr"))
    forced = playbook(lab, csr_task(name="callbridge-2027", cn='"{{ cms_fqdn }}"', force="true"))
    assert forced.rc == 0 and forced.task("cms1", "csr")["changed"] is True
    assert public_key_sha256(load_node_csr(lab, "cms1", "callbridge-2027.csr")) != old
    assert len(csr_commands(lab, "cms1")) == 2


def test_a_changed_subject_regenerates_an_unused_csr(lab: SimLab, playbook: Callable[..., Run]) -> None:
    assert playbook(lab, csr_task(name="turn-2027", cn='"{{ cms_fqdn }}"', ou="Old")).rc == 0
    run = playbook(lab, csr_task(name="turn-2027", cn='"{{ cms_fqdn }}"', ou="New"))
    assert run.rc == 0 and run.task("cms1", "csr")["changed"] is True
    assert subject(load_node_csr(lab, "cms1", "turn-2027.csr"))["OU"] == "New"


# ------------------------------------------------------------------------------------------------------------
# Check mode and diff mode
# ------------------------------------------------------------------------------------------------------------
def test_check_mode_changes_nothing_on_the_node(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    before = store(lab, "cms1")
    seen = len(lab.events("cms1"))
    dest = tmp_path / "fetched"
    run = playbook(lab, csr_task(name="webadmin-2027", cn='"{{ cms_fqdn }}"', dest='"%s/"' % dest), check=True)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "csr")
    assert result["changed"] is True
    assert result["commands"] == ["pki csr webadmin-2027 CN:cms1.lab.cms.example"]  # the plan
    assert store(lab, "cms1") == before
    assert not csr_commands(lab, "cms1")
    during = lab.events("cms1")[seen:]
    assert [e for e in during if e["event"] == "connection_opened"]  # it did look at the node
    assert not [e for e in during if e["event"] in ("file_written", "sftp_put", "sftp_remove", "sftp_rename")]
    assert not dest.exists()


def test_diff_shows_the_command_plan_and_old_and_new_subject(lab: SimLab, playbook: Callable[..., Run]) -> None:
    assert playbook(lab, csr_task(name="webadmin-2027", cn='"{{ cms_fqdn }}"', o='"Old Org"')).rc == 0
    old_key = public_key_sha256(load_node_csr(lab, "cms1", "webadmin-2027.csr"))
    change = csr_task(name="webadmin-2027", cn='"{{ cms_fqdn }}"', o='"New Org"')

    planned = playbook(lab, change, check=True, diff=True)
    diff = planned.task("cms1", "csr")["diff"]
    assert diff["before"]["subject"] == {"CN": "cms1.lab.cms.example", "O": "Old Org"}
    assert diff["before"]["public_key_sha256"] == old_key
    assert diff["after"]["subject"] == {"CN": "cms1.lab.cms.example", "O": "New Org"}
    assert diff["after"]["commands"] == ['pki csr webadmin-2027 CN:cms1.lab.cms.example O:"New Org"']
    assert diff["after"]["public_key_sha256"] == "(new key)"
    assert len(csr_commands(lab, "cms1")) == 1  # check mode ran nothing

    applied = playbook(lab, change, diff=True)
    diff = applied.task("cms1", "csr")["diff"]
    new_key = public_key_sha256(load_node_csr(lab, "cms1", "webadmin-2027.csr"))
    assert diff["before"]["public_key_sha256"] == old_key
    assert diff["after"]["public_key_sha256"] == new_key != old_key

    # What a user sees with --diff: the plan and old -> new, as text.
    text = playbook(
        lab,
        csr_task(name="webadmin-2027", cn='"{{ cms_fqdn }}"', o='"Third Org"'),
        check=True,
        diff=True,
        json_output=False,
    )
    assert re.search(r"^-\s+O: New Org$", text.stdout, re.MULTILINE), text.stdout
    assert re.search(r"^\+\s+O: Third Org$", text.stdout, re.MULTILINE), text.stdout
    assert (
        'pki csr webadmin-2027 CN:cms1.lab.cms.example O:\\"Third Org\\"' in text.stdout
        or 'pki csr webadmin-2027 CN:cms1.lab.cms.example O:"Third Org"' in text.stdout
    ), text.stdout


# ------------------------------------------------------------------------------------------------------------
# Keys in use
# ------------------------------------------------------------------------------------------------------------
def test_csr_refuses_basename_whose_key_webadmin_uses(lab: SimLab, playbook: Callable[..., Run]) -> None:
    before = store(lab, "cms1")
    run = playbook(lab, csr_task(name="cms1-2025", cn='"{{ cms_fqdn }}"'))
    assert run.rc != 0
    msg = run.task("cms1", "csr")["msg"]
    assert "cms1-2025.key is in use by" in msg
    for user in ("webadmin key", "callbridge key", "webbridge3 https_key", "turn key"):
        assert user in msg
    assert re.search(r"new basename \(for example cms1-20\d\d\)", msg)
    assert "force: true" in msg
    assert store(lab, "cms1") == before
    assert not csr_commands(lab, "cms1")


def test_force_replaces_a_key_in_use_and_warns_what_breaks(lab: SimLab, playbook: Callable[..., Run]) -> None:
    old_key = (lab.files_dir("cms1") / "cms1-2025.key").read_bytes()
    run = playbook(lab, csr_task(name="cms1-2025", cn='"{{ cms_fqdn }}"', force="true"), diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "csr")
    assert result["changed"] is True
    warnings = " ".join(result["warnings"])
    assert "cms1-2025.key" in warnings and "webadmin key" in warnings and "break" in warnings
    assert "webadmin key" in result["diff"]["after"]["breaks"]
    assert (lab.files_dir("cms1") / "cms1-2025.key").read_bytes() != old_key
    assert csr_commands(lab, "cms1") == ["pki csr cms1-2025 CN:cms1.lab.cms.example"]


def test_key_of_the_database_cluster_is_protected_too(lab: SimLab, playbook: Callable[..., Run]) -> None:
    run = playbook(lab, csr_task(name="dbclusterserver", cn='"{{ cms_fqdn }}"'))
    assert run.rc != 0
    assert "database cluster server_key" in run.task("cms1", "csr")["msg"]
    assert not csr_commands(lab, "cms1")


# ------------------------------------------------------------------------------------------------------------
# state: absent
# ------------------------------------------------------------------------------------------------------------
def test_absent_removes_key_and_csr(lab: SimLab, playbook: Callable[..., Run]) -> None:
    assert playbook(lab, csr_task(name="old-csr", cn='"{{ cms_fqdn }}"')).rc == 0
    assert {"old-csr.key", "old-csr.csr"} <= set(store(lab, "cms1"))
    absent = csr_task(name="old-csr", state="absent")

    planned = playbook(lab, absent, check=True, diff=True)
    assert planned.task("cms1", "csr")["changed"] is True
    assert planned.task("cms1", "csr")["diff"]["before"]["files"] == ["old-csr.key", "old-csr.csr"]
    assert {"old-csr.key", "old-csr.csr"} <= set(store(lab, "cms1"))

    run = playbook(lab, absent)
    assert run.rc == 0 and run.task("cms1", "csr")["changed"] is True
    assert sorted(run.task("cms1", "csr")["removed"]) == ["old-csr.csr", "old-csr.key"]
    assert not {"old-csr.key", "old-csr.csr"} & set(store(lab, "cms1"))
    again = playbook(lab, absent)
    assert again.rc == 0 and again.task("cms1", "csr")["changed"] is False


def test_absent_refuses_a_key_in_use(lab: SimLab, playbook: Callable[..., Run]) -> None:
    before = store(lab, "cms1")
    run = playbook(lab, csr_task(name="cms1-2025", state="absent"))
    assert run.rc != 0
    msg = run.task("cms1", "csr")["msg"]
    assert "cms1-2025.key is in use by" in msg and "webadmin key" in msg
    assert store(lab, "cms1") == before
    assert not [e for e in lab.events("cms1") if e["event"] == "sftp_remove"]


# ------------------------------------------------------------------------------------------------------------
# Injection attempts: refused before anything reaches the node
# ------------------------------------------------------------------------------------------------------------
BAD_INPUTS = [
    ("cn with a newline", {"name": "x", "cn": '"cms1.example.com\\nwebadmin disable"'}, "control character"),
    ("cn with a carriage return", {"name": "x", "cn": '"cms1.example.com\\rwebadmin disable"'}, "control character"),
    ("cn with a semicolon", {"name": "x", "cn": '"cms1.example.com;webadmin disable"'}, "';'"),
    ("cn with a command substitution", {"name": "x", "cn": '"$(reboot)"'}, "'$'"),
    ("o with a pipe", {"name": "x", "cn": "cms1.example.com", "o": '"Org | reboot"'}, "'|'"),
    ("o with a double quote", {"name": "x", "cn": "cms1.example.com", "o": "'Example \"Corp'"}, "double quote"),
    (
        "san with a space",
        {"name": "x", "cn": "a.example.com", "subject_alt_name": '["b.example.com webadmin"]'},
        "contains a space",
    ),
    (
        "san with quotes",
        {"name": "x", "cn": "a.example.com", "subject_alt_name": "['\"b.example.com\"']"},
        "double quote",
    ),
    (
        "san with a newline",
        {"name": "x", "cn": "a.example.com", "subject_alt_name": '["b.example.com\\nreboot"]'},
        "control character",
    ),
    (
        "san with a control character",
        {"name": "x", "cn": "a.example.com", "subject_alt_name": '["b.example\\acom"]'},
        "control character",
    ),
    (
        "san with a comma",
        {"name": "x", "cn": "a.example.com", "subject_alt_name": '["b.example.com,c.example.com"]'},
        "comma",
    ),
    ("basename with ../", {"name": "../etc/passwd", "cn": "a.example.com"}, "is not valid"),
    ("basename with a space", {"name": '"web admin"', "cn": "a.example.com"}, "is not valid"),
    ("basename with an extension", {"name": "webadmin.key", "cn": "a.example.com"}, "is not valid"),
    ("absent basename with ../", {"name": "../x", "state": "absent"}, "is not valid"),
    ("three-letter country", {"name": "x", "cn": "a.example.com", "c": "USA"}, "two-letter ISO 3166"),
    ("missing cn", {"name": "x"}, "cn"),
]


def test_injection_attempts_are_rejected_before_anything_is_sent(lab: SimLab, playbook: Callable[..., Run]) -> None:
    tasks = []
    for title, options, _expected in BAD_INPUTS:
        lines = "\n".join("            %s: %s" % (k, v) for k, v in options.items())
        tasks.append(
            "        - name: %s\n          ignore_errors: true\n          cisco_cms.mmp.cms_pki_csr:\n%s"
            % (title, lines)
        )
    tasks.append(
        "        - name: sign with a bad ca\n          ignore_errors: true\n          cisco_cms.mmp.cms_pki_sign:\n"
        "            name: dbserver\n            ca: '../ca'"
    )
    tasks.append(
        "        - name: selfsigned cn with a semicolon\n          ignore_errors: true\n"
        "          cisco_cms.mmp.cms_pki_sign:\n            name: ca\n            cn: 'a.example.com;reboot'"
    )
    tasks.append(
        "        - name: info on a path\n          ignore_errors: true\n          cisco_cms.mmp.cms_pki_info:\n"
        "            files: ['../../etc/shadow']"
    )
    tasks.append(
        "        - name: match with a newline\n          ignore_errors: true\n"
        '          cisco_cms.mmp.cms_pki_info:\n            match: [{key: "a.key\\nreboot", cert: a.cer}]'
    )
    play = "- hosts: cms1\n  gather_facts: false\n  tasks:\n" + "\n".join(tasks) + "\n"
    run = playbook(lab, play)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr  # every failure was ignored, none crashed
    for title, _options, expected in BAD_INPUTS:
        result = run.task("cms1", title)
        assert result.get("failed") is True, (title, result)
        assert expected in result["msg"], (title, result["msg"])
    assert "is not valid" in run.task("cms1", "sign with a bad ca")["msg"]
    assert "';'" in run.task("cms1", "selfsigned cn with a semicolon")["msg"]
    assert "path separator" in run.task("cms1", "info on a path")["msg"]
    assert "control character" in run.task("cms1", "match with a newline")["msg"]
    # Nothing reached the node: not a command, not even a login.
    assert not [e for e in lab.events("cms1") if e["event"] in ("connection_opened", "auth", "command")]


# ------------------------------------------------------------------------------------------------------------
# Done when: the TechNote's CSRs per service (214618 step 2) for every node of the lab, from the user guide's example
# ------------------------------------------------------------------------------------------------------------
def guide_playbook(marker: str) -> str:
    """The YAML block that follows ``marker`` in docs/pki.md: the tests run what the guide tells users to copy."""
    text = (REPO_ROOT / "docs" / "pki.md").read_text()
    found = re.search(re.escape(marker) + r".*?```yaml\n(.*?)```", text, re.DOTALL)
    assert found, "docs/pki.md lost its example after %r" % marker
    return found.group(1)


def test_guide_generates_every_service_csr_standalone_and_clustered(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    path = project / "generate_csrs.yml"
    path.write_text(guide_playbook("<!-- example: generate-csrs"))
    in_use = {node: {n: d for n, d in store(lab, node).items() if n.startswith(node + "-2025")} for node in NODES}
    first = playbook(lab, path)
    assert first.rc == 0, first.stdout[-4000:] + first.stderr
    fqdns = ["cms1.lab.cms.example", "cms2.lab.cms.example", "cms3.lab.cms.example"]
    expected = {
        "webadmin-2027": lambda fqdn: (fqdn, [fqdn]),
        "callbridge-2027": lambda fqdn: (fqdn, []),
        "webbridge3-2027": lambda fqdn: (fqdn, [fqdn, "join.lab.cms.example"]),
        "turn-2027": lambda fqdn: (fqdn, []),
        "cluster-2027": lambda fqdn: ("cms.lab.cms.example", ["cms.lab.cms.example", *fqdns]),
    }
    for node, fqdn in zip(NODES, fqdns, strict=True):
        for basename, want in expected.items():
            cn, sans = want(fqdn)
            csr = load_node_csr(lab, node, basename + ".csr")
            assert subject(csr) == {"CN": cn, "O": "Example Corp", "C": "US"}, (node, basename)
            assert san(csr) == sans, (node, basename)
            assert csr.is_signature_valid
            # Fetched next to the playbook (a relative dest), byte for byte what the node holds.
            fetched = project / "csr" / node / (basename + ".csr")
            assert fetched.read_bytes() == (lab.files_dir(node) / (basename + ".csr")).read_bytes()
        assert len(csr_commands(lab, node)) == len(expected)
        # Every key is new: the services keep the files they use meanwhile.
        assert {n: d for n, d in store(lab, node).items() if n.startswith(node + "-2025")} == in_use[node]
    before = {node: store(lab, node) for node in NODES}

    second = playbook(lab, path)
    assert second.rc == 0, second.stdout[-4000:]
    assert all(second.changed(node) == 0 for node in NODES), second.stats
    assert {node: store(lab, node) for node in NODES} == before
    assert all(len(csr_commands(lab, node)) == len(expected) for node in NODES)


def test_in_use_check_covers_webbridge_and_xmpp_of_cms_2(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(nodes=1, cms_version="2")
    run = playbook(lab, csr_task(name="cms1-2025", cn='"{{ cms_fqdn }}"'))
    assert run.rc != 0
    msg = run.task("cms1", "csr")["msg"]
    for user in ("webadmin key", "callbridge key", "webbridge key", "xmpp key", "turn key"):
        assert user in msg
    assert not csr_commands(lab, "cms1")


def test_a_damaged_csr_is_generated_again(lab: SimLab, playbook: Callable[..., Run]) -> None:
    with lab.sftp("cms1") as sftp:
        for name, data in (("half.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"), ("half.csr", b"garbage\n")):
            with sftp.open("/" + name, "wb") as fh:
                fh.write(data)
    run = playbook(lab, csr_task(name="half", cn='"{{ cms_fqdn }}"'), diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "csr")
    assert result["changed"] is True and "no PEM certificate request" in result["diff"]["before"]["error"]
    assert load_node_csr(lab, "cms1", "half.csr").is_signature_valid
