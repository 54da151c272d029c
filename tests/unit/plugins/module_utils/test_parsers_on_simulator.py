# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The builders and parsers against the simulator's output, in process (no network).

The simulator prints the [H] shapes of docs/dev/mmp_reference.md and its own [GUESS] shapes (tests/cmssim/shapes.py);
these tests keep both sides of that contract in step.  tests/cmssim is not part of the built collection, so under
``ansible-test units`` on the installed copy this module is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

core = pytest.importorskip("tests.cmssim.core")

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _catalog as cat  # noqa: E402
from ansible_collections.cisco_cms.mmp.plugins.module_utils import _commands as cmd  # noqa: E402
from ansible_collections.cisco_cms.mmp.plugins.module_utils import _parsers as parse  # noqa: E402
from ansible_collections.cisco_cms.mmp.plugins.module_utils import _terminal as term  # noqa: E402
from ansible_collections.cisco_cms.mmp.plugins.module_utils import _x509  # noqa: E402

NO_WAIT = dict.fromkeys(("command", "service_transition"), 0.0)

Run = Callable[..., str]


def _start(tmp: Path, version: str) -> tuple[Any, Run]:
    spec = core.normalize_spec({"timings": NO_WAIT}, cms_version=version)
    lab = core.create_lab(tmp / ("lab" + version), spec)

    def run(node: str, line: str, answers: tuple[str, ...] = ()) -> str:
        console = core.BufferConsole(answers=list(answers))
        lab.execute(lab.nodes[node], line, console)
        # A PTY would send CRLF; the parsers must not care.
        return str(console.text).replace("\n", "\r\n")

    return lab, run


@pytest.fixture(scope="module")
def cms3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Run]]:
    yield _start(tmp_path_factory.mktemp("sim"), "3")


@pytest.fixture(scope="module")
def cms2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Run]]:
    yield _start(tmp_path_factory.mktemp("sim"), "2")


def test_pki_list_and_inspect_agree_with_the_files(cms3: tuple[Any, Run]) -> None:
    lab, run = cms3
    files = parse.parse_pki_list(run("cms1", cmd.pki_list()))
    assert files == lab.nodes["cms1"].list_files()
    certs = [name for name in files if name.endswith(".cer")]
    assert certs
    now = lab.nodes["cms1"].now()
    for name in certs:
        inspected = parse.parse_pki_inspect(run("cms1", cmd.pki_inspect(name)))
        local = _x509.load_certificates(lab.nodes["cms1"].read_file(name), name)
        assert inspected["kind"] == "certificate"
        assert inspected["count"] == len(local)
        for seen, cert in zip(inspected["certificates"], local, strict=True):
            info = _x509.cert_info(cert, now)
            assert (seen["subject"], seen["issuer"], seen["serial"]) == (
                info["subject"],
                info["issuer"],
                info["serial"],
            )
            assert (seen["not_before"], seen["not_after"]) == (info["not_before"], info["not_after"])
            assert seen["san"] == info["san"]
            assert seen["is_ca"] == info["is_ca"]
            assert seen["key_bits"] == info["key_size"]


def test_pki_inspect_of_keys_and_missing_files(cms3: tuple[Any, Run]) -> None:
    _lab, run = cms3
    key = parse.parse_pki_inspect(run("cms1", cmd.pki_inspect("dbclusterserver.key")))
    assert (key["found"], key["kind"], key["key_bits"]) == (True, "private_key", 2048)
    missing = parse.parse_pki_inspect(run("cms1", cmd.pki_inspect("nothere.cer")))
    assert (missing["found"], missing["kind"]) == (False, None)


def test_csr_with_quoted_values_round_trips(cms3: tuple[Any, Run]) -> None:
    lab, run = cms3
    line = cmd.pki_csr(
        "web_2026",
        "cms1.lab.cms.example",
        organization="Example Org",
        state="Greater London",
        country="gb",
        subject_alt_name=["join.lab.cms.example", "192.0.2.11"],
    )
    output = run("cms1", line)
    assert term.find_error(output) is None
    assert parse.parse_csr_output(output) == {"key_file": "web_2026.key", "csr_file": "web_2026.csr"}
    csr = _x509.load_csr(lab.nodes["cms1"].read_file("web_2026.csr"))
    info = _x509.csr_info(csr)
    assert info["subject_dict"] == {"C": "GB", "ST": "Greater London", "O": "Example Org", "CN": "cms1.lab.cms.example"}
    assert info["san"] == ["cms1.lab.cms.example", "join.lab.cms.example", "192.0.2.11"]
    key = _x509.load_private_key(lab.nodes["cms1"].read_file("web_2026.key"))
    assert _x509.key_matches_cert(key, csr)
    inspected = parse.parse_pki_inspect(run("cms1", cmd.pki_inspect("web_2026.csr")))
    assert (inspected["kind"], inspected["subject"]) == ("csr", info["subject"])


def test_selfsigned_sign_match_and_verify(cms3: tuple[Any, Run]) -> None:
    lab, run = cms3
    assert parse.parse_selfsigned_output(run("cms2", cmd.pki_selfsigned("dbca", "lab.cms.example"))) == {
        "key_file": "dbca.key",
        "cert_file": "dbca.crt",
    }
    run("cms2", cmd.pki_csr("dbclient", "postgres"))
    signed = run("cms2", cmd.pki_sign("dbclient", "dbca"))
    assert term.find_error(signed) is None
    assert parse.parse_sign_output(signed)["cert_file"] == cmd.signed_cert_file("dbclient")
    assert parse.parse_match(run("cms2", cmd.pki_match("dbclient.key", "dbclient.crt"))) is True
    assert parse.parse_match(run("cms2", cmd.pki_match("dbca.key", "dbclient.crt"))) is False
    assert parse.parse_verify(run("cms2", cmd.pki_verify("dbclient.crt", "dbca.crt")))[0] is True
    ok, reason = parse.parse_verify(run("cms2", cmd.pki_verify("dbclient.crt", "ca-bundle-2025.cer")))
    assert ok is False and reason
    local_ok, _why = _x509.verify_chain(
        _x509.load_certificate(lab.nodes["cms2"].read_file("dbclient.crt")),
        _x509.load_certificates(lab.nodes["cms2"].read_file("dbca.crt")),
        lab.nodes["cms2"].now(),
    )
    assert local_ok


@pytest.mark.parametrize("service", ["webadmin", "callbridge", "webbridge3", "turn"])
def test_service_status_on_cms3(cms3: tuple[Any, Run], service: str) -> None:
    lab, run = cms3
    cat.get_service(service, 3)
    status = parse.parse_service_status(service, run("cms1", cmd.service_status(service)))
    assert status["key"] == "cms1-2025.key"
    assert status["cert"] in lab.nodes["cms1"].list_files()
    assert status["enabled"] is (None if service == "callbridge" else True)
    assert status["listen"]
    assert [item["interface"] for item in status["listeners"]] == [item.split(":")[0] for item in status["listen"]]
    if service in ("webadmin", "webbridge3"):  # the statuses that print `<interface>:<port>` or a port line
        assert all(isinstance(item["port"], int) and not isinstance(item["port"], bool) for item in status["listeners"])
    password = lab.nodes["cms1"].state.get("services", {}).get("turn", {}).get("password")
    if service == "turn":
        assert password and password not in json.dumps(status)
        assert password not in parse.redact_secrets(run("cms1", "turn"))


@pytest.mark.parametrize("service", ["webadmin", "callbridge", "webbridge", "xmpp", "turn"])
def test_service_status_on_cms2(cms2: tuple[Any, Run], service: str) -> None:
    lab, run = cms2
    cat.get_service(service, 2)
    status = parse.parse_service_status(service, run("cms1", cmd.service_status(service)))
    assert status["key"] == "cms1-2025.key"
    assert status["bundle"] == "ca-bundle-2025.cer"
    assert status["cert"] in lab.nodes["cms1"].list_files()


def test_every_trust_store_command_is_taken_and_read_back(cms3: tuple[Any, Run]) -> None:
    _lab, run = cms3
    bundle = "ca-bundle-2025.cer"
    for store in ("cluster", "branding", "ucm", "imps"):
        assert run("cms2", cmd.trust_store("callbridge", store, bundle)) == "", store
    assert run("cms2", cmd.trust_verify("callbridge", "ucm", True)) == ""
    assert run("cms2", cmd.tls_trust("sip", bundle)) == ""
    assert run("cms2", cmd.tls_verify("sip", "ocsp")) == ""
    status = parse.parse_service_status("callbridge", run("cms2", cmd.service_status("callbridge")))
    assert [status[f] for f in ("cluster_trust", "branding_trust", "ucm_trust", "imps_trust")] == [bundle] * 4
    assert status["ucm_verify"] is True and status["imps_verify"] is False
    tls = parse.parse_tls_status("sip", run("cms2", cmd.tls_status("sip")))
    assert tls == {"tls": "sip", "trust": bundle, "verify": "ocsp", "known": True}
    assert run("cms2", cmd.trust_store("callbridge", "branding", None)) == ""
    assert run("cms2", cmd.tls_trust("sip", None)) == ""
    assert parse.parse_service_status("callbridge", run("cms2", "callbridge"))["branding_trust"] is None
    assert parse.parse_tls_status("sip", run("cms2", "tls sip"))["trust"] is None


@pytest.mark.parametrize("service", ["webadmin", "callbridge", "turn"])
def test_outage_sequences_run_cleanly(cms3: tuple[Any, Run], service: str) -> None:
    _lab, run = cms3
    before = parse.parse_service_status(service, run("cms3", service))
    for line in cmd.apply_certs_sequence(service, before["key"], before["cert"], before["bundle"]):
        output = run("cms3", line)
        assert term.find_error(output) is None, (line, output)
        assert parse.parse_enable_output(output)["ok"]
    after = parse.parse_service_status(service, run("cms3", service))
    assert (after["key"], after["cert"], after["bundle"]) == (before["key"], before["cert"], before["bundle"])


def test_webbridge3_outage_sequence_runs_cleanly(cms3: tuple[Any, Run]) -> None:
    _lab, run = cms3
    before = parse.parse_service_status("webbridge3", run("cms3", "webbridge3"))
    for line in cmd.apply_certs_sequence(
        "webbridge3", before["https_key"], before["https_cert"], parts=["https", "c2w"]
    ):
        output = run("cms3", line)
        assert term.find_error(output) is None, (line, output)
    assert parse.parse_service_status("webbridge3", run("cms3", "webbridge3"))["enabled"] is True


@pytest.mark.parametrize("service", ["webbridge", "xmpp"])
def test_two_x_outage_sequences_run_cleanly(cms2: tuple[Any, Run], service: str) -> None:
    _lab, run = cms2
    before = parse.parse_service_status(service, run("cms2", service))
    for line in cmd.apply_certs_sequence(service, before["key"], before["cert"], before["bundle"]):
        assert term.find_error(run("cms2", line)) is None, line


@pytest.mark.parametrize(
    "fixture_name, primary, replica", [("cms3", "Primary", "Replica"), ("cms2", "Master", "Slave")]
)
def test_db_cluster_status_in_both_wordings(
    fixture_name: str, primary: str, replica: str, request: pytest.FixtureRequest
) -> None:
    _lab, run = request.getfixturevalue(fixture_name)
    text = run("cms1", cmd.db_cluster_status())
    assert primary in text and replica in text
    status = parse.parse_db_cluster_status(text)
    assert status["status"] == "enabled"
    assert [n["role"] for n in status["nodes"]] == ["primary", "replica", "replica"]
    assert all(n["connected"] and (n["in_sync"] or n["role"] == "primary") for n in status["nodes"])
    assert (status["local_role"], status["primary_address"], status["node_in_use"]) == (
        "primary",
        "192.0.2.11",
        "192.0.2.11",
    )
    assert status["certificates"]["server_cert"] == {"file": "dbclusterserver.cer", "expired": False}


def test_db_certs_while_clustered_then_remove(cms2: tuple[Any, Run]) -> None:
    _lab, run = cms2
    refused = run(
        "cms3",
        cmd.db_cluster_certs(
            "dbclusterclient.key",
            "dbclusterclient.cer",
            "dbclusterca.cer",
            "dbclusterserver.key",
            "dbclusterserver.cer",
        ),
    )
    assert term.find_error(refused) == (
        "ERROR: Cannot change certificates when clustering enabled.\nDisable clustering on this node first"
    )
    line = cmd.db_cluster_remove()
    assert term.expects_confirmation(line)
    warning = run("cms3", line, answers=(term.CONFIRM_ANSWER,))
    assert term.CONFIRM_RE.search(warning)
    assert term.find_error(warning) is None
    status = parse.parse_db_cluster_status(run("cms3", cmd.db_cluster_status()))
    assert status["status"] in ("disabling", "disabled")
    if status["status"] == "disabling":
        assert status["transition"] == "disabling" and status["started_seconds_ago"] is not None


def test_backup_snapshot_and_list(cms3: tuple[Any, Run]) -> None:
    _lab, run = cms3
    assert parse.parse_backup_snapshot(run("cms2", cmd.backup_snapshot("before_renewal"))) == "before_renewal"
    assert "before_renewal" in parse.parse_backup_list(run("cms2", cmd.backup_list()))
    assert (
        term.find_error(run("cms2", "backup"))
        == "Usage:\n  backup snapshot <name>\n  backup rollback <name>\n  backup list"
    )


def test_unknown_commands_are_errors(cms3: tuple[Any, Run]) -> None:
    _lab, run = cms3
    assert term.find_error(run("cms1", "pki rename a b"))
    assert term.find_error(run("cms1", "xmpp")), "xmpp does not exist on CMS 3"
