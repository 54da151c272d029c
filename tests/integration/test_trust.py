"""cms_trust against the simulator: a new CA added beside the old one, idempotency, the restart that applies it,
check mode, refusals before any change, and the old CA removed once nothing chains to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cmssim import x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.db_cluster import commands, mark, play
from tests.sim.test_trust import NewCA, link_events, seed_ca_pem, seeded, upload

NODES = ("cms1", "cms2", "cms3")
# What cms_trust reads: every service's status, `database cluster status`, every `tls <name>` store.
READS = {"webadmin", "callbridge", "webbridge3", "webbridge", "xmpp", "turn", "database cluster status"}


SWAP_ALL = (
    "callbridge certs new.key new-full.cer",
    "callbridge restart",
    "webadmin disable",
    "webadmin certs new.key new-full.cer",
    "webadmin enable",
    "webbridge3 disable",
    "webbridge3 https certs new.key new-full.cer",
    "webbridge3 c2w certs new.key new-full.cer",
    "webbridge3 enable",
    "turn disable",
    "turn certs new.key new-full.cer",
    "turn enable",
)


def changes(lab: SimLab, node: str, since: int) -> list[dict[str, Any]]:
    """Commands other than status reads, and uploads, since ``since``."""
    return [
        e
        for e in lab.events(node)[since:]
        if (e["event"] == "command" and e["command"] not in READS and e["command"].split()[0] != "tls")
        or (e["event"] == "command" and len(e["command"].split()) > 2 and e["command"].startswith("tls"))
        or e["event"] == "sftp_put"
    ]


def trust_task(**options: Any) -> str:
    lines = "".join(f"\n            {key}: {value}" for key, value in options.items())
    return play(
        f"""
        - name: trust
          cisco_cms.mmp.cms_trust:{lines}
"""
    )


def fingerprints(pem: bytes) -> list[str]:
    return [x509.fingerprint(c) for c in x509.load_certs(pem)]


def test_a_new_ca_is_added_beside_the_old_one_on_every_node_and_applied_by_one_restart(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"callbridge_cluster": True})
    ca = NewCA()
    (tmp_path / "new-ca.cer").write_bytes(ca.pem)
    task = trust_task(service="callbridge", store="cluster", bundle_src=tmp_path / "new-ca.cer")
    before = mark(lab, *NODES)
    run = playbook(lab, task, diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    for node in NODES:
        result = run.task(node, "trust")
        assert result["changed"] and result["uploaded"] and result["restarted"]
        assert result["call_guard"]["decision"] == "proceed"  # the guard asked the API before the restart
        bundle = result["bundle"]
        assert result["commands"] == [f"callbridge trust cluster {bundle}", "callbridge restart"]
        assert commands(lab, node, before[node])[-3:] == [*result["commands"], "callbridge"]  # then read back
        # The store holds the old and the new CA, in a new file: the old one, in use until now, is untouched.
        old = seeded(lab, node)["bundle"]
        assert bundle != old == result["previous_bundle"]
        on_node = (lab.files_dir(node) / bundle).read_bytes()
        assert fingerprints(on_node) == fingerprints(seed_ca_pem(lab)) + fingerprints(ca.pem)
        assert [c["fingerprint_sha256"] for c in result["added"]] == fingerprints(ca.pem)
        assert result["diff"]["after"]["trusted"][-1]["subject"] == "CN=New Issuing CA"
        assert f"Callbridge cluster trusted certs    : {bundle}\n" in lab.run(node, "callbridge")
    assert link_events(lab) == []

    again = mark(lab, *NODES)
    second = playbook(lab, task)
    assert second.rc == 0 and all(second.changed(n) == 0 for n in NODES)
    assert all(changes(lab, n, again[n]) == [] for n in NODES)

    # Once every identity chains to the new CA, the old one goes, on request only.
    (tmp_path / "old-ca.cer").write_bytes(seed_ca_pem(lab))
    remove = trust_task(service="callbridge", store="cluster", remove_src=tmp_path / "old-ca.cer")
    refused = playbook(lab, remove, limit="cms1")
    assert refused.rc != 0
    msg = refused.task("cms1", "trust")["msg"]
    assert "callbridge main chains to 'CN=" in msg and "Nothing was changed" in msg
    # Every certificate of cms1 (then of its peers) moves to the new CA.
    for node in NODES:
        upload(lab, node, ca.identity(f"{node}.lab.cms.example"))
        for command in SWAP_ALL:
            assert "FAILURE" not in lab.run(node, command), command
    # Web Admin now presents the new CA's certificate, which the inventory's API CA file does not hold: no restart
    # (so no call guard) in this run; the next rollout's restart applies it.
    remove = trust_task(service="callbridge", store="cluster", remove_src=tmp_path / "old-ca.cer", restart="false")
    removed = playbook(lab, remove, limit="cms1")
    assert removed.rc == 0, removed.stdout[-3000:]
    result = removed.task("cms1", "trust")
    assert [c["fingerprint_sha256"] for c in result["trusted"]] == fingerprints(ca.pem)
    assert not result["restarted"] and result["commands"] == [f"callbridge trust cluster {result['bundle']}"]


def test_check_mode_shows_the_commands_and_changes_nothing(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "new-ca.cer").write_bytes(NewCA().pem)
    before = mark(lab, "cms2")
    run = playbook(
        lab, trust_task(service="webbridge3", store="c2w", bundle_src=tmp_path / "new-ca.cer"), check=True, limit="cms2"
    )
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms2", "trust")
    assert result["changed"] and not result["uploaded"] and not result["restarted"]
    assert result["commands"][-1] == "webbridge3 restart"
    # The call guard says what it would decide now (the lab's API is configured, no calls): no wait, no change.
    assert result["call_guard"]["decision"] == "proceed" and result["call_guard"]["legs_at_decision"] == 0
    assert changes(lab, "cms2", before["cms2"]) == []


def test_sip_verification_is_set_with_its_trust_store_and_a_bad_store_fails_before_connecting(
    lab: SimLab, playbook: Callable[..., Any]
) -> None:
    bundle = lab.files_dir("cms1") / seeded(lab, "cms1")["bundle"]
    run = playbook(
        lab, trust_task(service="tls", store="sip", state="exact", bundle_src=bundle, verify="enable"), limit="cms1"
    )
    assert run.rc == 0, run.stdout[-3000:]
    assert run.task("cms1", "trust")["commands"][-2:] == ["tls sip verify enable", "callbridge restart"]
    assert "Verification : enabled" in " ".join(lab.run("cms1", "tls sip").split())
    assert [e for e in link_events(lab, "sip") if e["event"] == "peer_link_down"] == []
    before = mark(lab, "cms1")
    bad = playbook(lab, trust_task(service="callbridge", store="sip", verify="enable"), limit="cms1")
    assert bad.rc != 0 and "callbridge has no trust store 'sip'" in bad.task("cms1", "trust")["msg"]
    assert [e for e in lab.events("cms1")[before["cms1"] :] if e["event"] in ("auth", "command")] == []
