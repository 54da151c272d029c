"""The simulator's trust stores and the peer links it judges by them (tests/cmssim/README.md#trust-and-peer-links)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.cmssim import shapes, x509
from tests.cmssim.testing import SimLab

NODES = ("cms1", "cms2", "cms3")


def upload(lab: SimLab, node: str, files: dict[str, bytes]) -> None:
    with lab.sftp(node) as sftp:
        for name, data in files.items():
            sftp.putfo(io.BytesIO(data), name)


def seeded(lab: SimLab, node: str) -> dict[str, str]:
    """The seeded files of ``node``: its certificate, full chain and the seed CA bundle."""
    services = lab.node_state(node)["services"]
    return {
        "key": services["callbridge"]["key"],
        "cert": services["callbridge"]["cert"],
        "bundle": services["callbridge"]["bundle"],
        "fullchain": services["webbridge3"]["c2w_cert"],
    }


def seed_ca_pem(lab: SimLab) -> bytes:
    return (lab.files_dir("cms1") / seeded(lab, "cms1")["bundle"]).read_bytes()


class NewCA:
    """Another CA, as a CA change brings: it issues node certificates and is trusted by uploading ``new-ca.cer``."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)
        self.key, self.cert = x509.make_ca("New Issuing CA", self.now)
        self.pem = x509.cert_pem(self.cert)

    def identity(self, fqdn: str) -> dict[str, bytes]:
        key = x509.new_key()
        leaf = x509.sign(
            x509.build_name({"CN": fqdn}), key.public_key(), self.cert, self.key, self.now, san=x509.san_entries([fqdn])
        )
        return {"new.key": x509.key_pem(key), "new-full.cer": x509.cert_pem(leaf) + self.pem}


def link_events(lab: SimLab, kind: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for node in NODES
        for e in lab.events(node)
        if e["event"] in ("peer_link_down", "peer_link_up") and (kind is None or e["kind"] == kind)
    ]


def downs(lab: SimLab, kind: str | None = None) -> list[tuple[str, str, str]]:
    return sorted((e["node"], e["kind"], e["peer"]) for e in link_events(lab, kind) if e["event"] == "peer_link_down")


def swap_c2w(lab: SimLab, node: str, ca: NewCA) -> None:
    upload(lab, node, ca.identity(f"{node}.lab.cms.example"))
    for command in ("webbridge3 c2w certs new.key new-full.cer", "webbridge3 restart"):
        assert "FAILURE" not in lab.run(node, command), command


# ---- the stores ---------------------------------------------------------------------------------------------
def test_callbridge_trust_stores_are_set_shown_and_emptied(lab: SimLab) -> None:
    bundle = seeded(lab, "cms1")["bundle"]
    shell = lab.shell("cms1")
    try:
        for command in (
            f"callbridge ucm certs {bundle}",
            "callbridge ucm verify enable",
            f"callbridge imps certs {bundle}",
            f"callbridge trust branding {bundle}",
        ):
            assert shell.run(command) == "", command
        status = shell.run("callbridge")
        assert f"UCM trusted certs         : {bundle}\nUCM verification mode     : enabled\n" in status
        assert f"IMPS trusted certs        : {bundle}\nIMPS verification mode    : disabled\n" in status
        assert f"Callbridge trust branding certs     : {bundle}\n" in status
        assert shell.run("callbridge trust branding none") == ""
        assert "Callbridge trust branding certs     : none\n" in shell.run("callbridge")
        missing = shapes.SERVICE_TRUST_MISSING_FILE.format(name="missing.cer") + "\n"
        assert shell.run("callbridge ucm certs missing.cer") == missing
        assert shell.run("callbridge imps verify maybe") == shapes.SERVICE_USAGES["callbridge"] + "\n"
    finally:
        shell.close()


def test_tls_sip_trust_and_verify_as_the_streamer_technote_sets_them(lab: SimLab) -> None:
    bundle = seeded(lab, "cms1")["bundle"]
    assert (
        lab.run("cms1", "tls sip")
        == shapes.status_rows([("Trust bundle", "none"), ("Verification", "disabled")]) + "\n"
    )
    assert lab.run("cms1", f"tls sip trust {bundle}") == ""
    assert lab.run("cms1", "tls sip verify enable") == ""
    assert lab.run("cms1", "tls sip") == (
        shapes.status_rows([("Trust bundle", bundle), ("Verification", "enabled")]) + "\n"
    )
    assert lab.run("cms1", "tls sip verify on") == shapes.TLS_USAGE + "\n"
    assert lab.run("cms1", "tls smtp") == shapes.TLS_USAGE + "\n"
    assert lab.run("cms1", "tls ldap trust missing.cer") == (
        shapes.SERVICE_TRUST_MISSING_FILE.format(name="missing.cer") + "\n"
    )


# ---- C2W ----------------------------------------------------------------------------------------------------
def test_the_seeded_lab_has_every_peer_link_up_and_logs_no_link_down(lab: SimLab) -> None:
    lab.run("cms1", "callbridge restart")
    assert lab.node_state("cms1")["peer_links"] == {"c2w cms1": "up", "c2w cms2": "up", "c2w cms3": "up"}
    assert link_events(lab) == []


def test_a_callbridge_that_stops_trusting_the_web_bridges_logs_each_c2w_link_down_at_its_restart(
    lab: SimLab,
) -> None:
    upload(lab, "cms1", {"other-ca.cer": NewCA().pem})
    assert lab.run("cms1", "callbridge trust c2w other-ca.cer") == ""
    assert link_events(lab) == []  # a trust change takes effect at the restart
    lab.run("cms1", "callbridge restart")
    assert downs(lab) == [("cms1", "c2w", "cms1"), ("cms1", "c2w", "cms2"), ("cms1", "c2w", "cms3")]
    event = next(e for e in link_events(lab) if e["peer"] == "cms2")
    assert "does not chain to the trust store" in event["reason"]
    assert lab.node_state("cms1")["peer_links"]["c2w cms2"] == "untrusted"
    lab.run("cms1", "callbridge trust c2w " + seeded(lab, "cms1")["fullchain"])
    lab.run("cms1", "callbridge restart")
    assert sorted(e["peer"] for e in link_events(lab) if e["event"] == "peer_link_up") == list(NODES)


def test_a_web_bridge_swapped_to_a_new_ca_before_the_callbridges_trust_it_drops_every_c2w_link(lab: SimLab) -> None:
    swap_c2w(lab, "cms2", NewCA())
    assert downs(lab) == [("cms1", "c2w", "cms2"), ("cms2", "c2w", "cms2"), ("cms3", "c2w", "cms2")]


def test_a_ca_change_that_adds_the_new_ca_first_never_drops_a_c2w_link(lab: SimLab) -> None:
    ca = NewCA()
    # Step 1: every Call Bridge trusts old and new CA, then restarts; step 2: the identity swap.
    for node in NODES:
        upload(lab, node, {"old-and-new.cer": seed_ca_pem(lab) + ca.pem})
        assert lab.run(node, "callbridge trust c2w old-and-new.cer") == ""
        lab.run(node, "callbridge restart")
    swap_c2w(lab, "cms2", ca)
    assert link_events(lab) == []
    assert lab.node_state("cms3")["peer_links"]["c2w cms2"] == "up"


# ---- Call Bridge cluster ------------------------------------------------------------------------------------
def test_a_clustered_callbridge_on_a_certificate_its_peers_do_not_trust_drops_its_peer_links(
    make_lab: Callable[..., SimLab],
) -> None:
    lab = make_lab(lab_file={"callbridge_cluster": True})
    bundle = seeded(lab, "cms1")["bundle"]
    assert f"Callbridge cluster trusted certs    : {bundle}\n" in lab.run("cms1", "callbridge")
    lab.run("cms1", "callbridge restart")
    assert lab.node_state("cms1")["peer_links"]["cluster cms2"] == "up"
    upload(lab, "cms2", NewCA().identity("cms2.lab.cms.example"))
    assert lab.run("cms2", "callbridge certs new.key new-full.cer") == ""
    lab.run("cms2", "callbridge restart")
    assert downs(lab, "cluster") == [("cms1", "cluster", "cms2"), ("cms3", "cluster", "cms2")]
    assert lab.node_state("cms3")["peer_links"]["cluster cms2"] == "untrusted"
    # Not clustered any more (no cluster trust): no cluster link to judge, none down.
    assert lab.run("cms1", "callbridge trust cluster none") == ""
    lab.run("cms1", "callbridge restart")
    assert "cluster cms2" not in lab.node_state("cms1")["peer_links"]


# ---- SIP TLS ------------------------------------------------------------------------------------------------
def test_sip_tls_with_verification_on_and_an_untrusted_peer_falls_back_to_unencrypted(lab: SimLab) -> None:
    upload(lab, "cms1", {"other-ca.cer": NewCA().pem})
    lab.run("cms1", "tls sip trust other-ca.cer")
    lab.run("cms1", "callbridge restart")
    assert downs(lab, "sip") == []  # verification off: SIP trusts anyone
    lab.run("cms1", "tls sip verify enable")
    lab.run("cms1", "callbridge restart")
    assert downs(lab, "sip") == [("cms1", "sip", "cms2"), ("cms1", "sip", "cms3")]
    event = next(e for e in link_events(lab, "sip") if e["peer"] == "cms2")
    assert event["log"].endswith("falling back to unencrypted control connection...")
    lab.run("cms1", "tls sip trust " + seeded(lab, "cms1")["bundle"])
    lab.run("cms1", "callbridge restart")
    assert lab.node_state("cms1")["peer_links"]["sip cms3"] == "up"


def test_services_of_several_nodes_restarting_at_once_all_finish(lab: SimLab) -> None:
    """Each start or stop judges every peer link of the lab, and a command holds its node's lock: judging once waited
    for another node's lock under the lab's, so two nodes restarting at once could wait for each other forever."""
    commands = ("callbridge restart", "webbridge3 restart", "webbridge3 disable", "webbridge3 enable")
    for command in commands:
        with ThreadPoolExecutor(len(NODES)) as pool:
            outputs = list(pool.map(lambda node, c=command: lab.run(node, c, timeout=20), NODES))
        assert all("FAILURE" not in out for out in outputs), (command, outputs)
    assert link_events(lab) == []
    for node in NODES:
        lab.run(node, "callbridge")  # any later judgement shows every node's links again
    assert {node: lab.node_state(node)["peer_links"]["c2w cms1"] for node in NODES} == dict.fromkeys(NODES, "up")
