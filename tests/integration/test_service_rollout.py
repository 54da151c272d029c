"""The service certificate rollout across a fleet: playbooks/generate_csrs.yml (CSR on the node, fetched, signed by the
lab CA on the controller) then playbooks/service_certs.yml (preflight, serial rollout, summary), as the demo runs them
against the default 3-node lab, with the group variables proposed for inventory/lab."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509 as cx509

from tests.cmssim import tls, x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import REPO_ROOT, Run
from tests.integration.helpers.service_certs import (
    TestCA,
    config,
    events_since,
    outage_windows,
    port,
    service_commands_since,
)

NODES = ("cms1", "cms2", "cms3")
SERVICES = ("webadmin", "callbridge", "webbridge3", "turn")


# The group variables the demo needs (proposed for inventory/lab/group_vars/cms.yml).
@pytest.fixture
def demo(playbook: Callable[..., Run]) -> Callable[..., Run]:
    """``demo(lab, playbook_name, **kwargs)``: run playbooks/<name>.yml as ``make demo`` does, with the lab's
    inventory and the demo's variables (inventory/lab/group_vars/cms.yml)."""

    def run(lab: SimLab, name: str, **kwargs: Any) -> Run:
        inventories = (str(lab.dir / "inventory.yml"), str(REPO_ROOT / "inventory" / "lab"))
        return playbook(lab, REPO_ROOT / "playbooks" / f"{name}.yml", inventories=inventories, **kwargs)

    return run


def signed(lab: SimLab, node: str) -> str:
    """Fingerprint of the certificate the lab CA signed for ``node``."""
    return x509.fingerprint(x509.load_certs((lab.dir / "pki" / node / f"{node}-renewal.cer").read_bytes())[0])


def served(lab: SimLab, node: str, endpoint: str) -> str:
    return x509.fingerprint(cx509.load_der_x509_certificate(tls.fetch_leaf(port(lab, node, endpoint))))


def task(run: Run, host: str, name: str) -> dict[str, Any]:
    """The result of a role task (its name carries the role's prefix in the results)."""
    found = [r for r in run.results.get(host, []) if r["_task"].split(" : ")[-1] == name]
    assert found, f"no task {name!r} ran on {host}"
    return found[-1]


def summary(run: Run) -> list[str]:
    for results in run.results.values():
        for result in results:
            if result["_task"].split(" : ")[-1].startswith("Summary |") and "msg" in result:
                return list(result["msg"])
    raise AssertionError("no summary was printed")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")
def test_the_demo_rolls_new_certificates_to_every_service_of_every_node_then_a_second_run_changes_nothing(
    lab: SimLab, demo: Callable[..., Run]
) -> None:
    start = time.time()
    csrs = demo(lab, "generate_csrs")
    assert csrs.rc == 0, csrs.stdout[-3000:]
    for node in NODES:
        manifest = yaml.safe_load((lab.dir / "pki" / node / "csrs.yml").read_text())
        assert manifest == [
            {
                "basename": f"{node}-renewal",
                "cn": f"{node}.lab.cms.example",
                "san": [f"{node}.lab.cms.example", "join.lab.cms.example", node],
                "services": list(SERVICES),
            }
        ]
        # The key was made on the node and never left it; the CSR came to the controller and went back signed.
        assert (lab.files_dir(node) / f"{node}-renewal.key").exists()
        assert not (lab.dir / "pki" / node / f"{node}-renewal.key").exists()
        assert (lab.dir / "pki" / node / f"{node}-renewal.csr").exists()
    assert service_commands_since(lab, "cms1", start) == []

    rollout_start = time.time()
    rollout = demo(lab, "service_certs")
    assert rollout.rc == 0, rollout.stdout[-3000:]
    root = lab.dir / "pki" / "lab-ca" / "root-ca.cer"
    for node in NODES:
        assert config(lab, node, "webadmin")["cert"] == f"{node}-renewal.cer"
        assert config(lab, node, "webbridge3")["https_cert"] == f"{node}-renewal-fullchain.cer"
        for service in SERVICES:
            # What a user checks by hand: openssl s_client against the service's port, verified up to the lab root.
            proc = subprocess.run(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{port(lab, node, service)}", "-CAfile", str(root)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
            assert "Verify return code: 0 (ok)" in proc.stdout, (node, service)
            assert x509.fingerprint(x509.load_certs(proc.stdout.encode())[0]) == signed(lab, node), (node, service)
    # The lab CA joined every node's trust stores (a CA change, service_certs_trust_ca_src) before the first
    # certificate was swapped anywhere: no C2W link ever went down, and no warning of a Call Bridge trusting late.
    commands = [e for n in NODES for e in events_since(lab, n, rollout_start, "command")]
    first_swap = min(e["ts"] for e in commands if " certs " in f" {e['command']} ")
    # The swaps' outages start with cms1's webadmin disable: the trust step applies its stores by restarts only.
    swaps_start = min(e["ts"] for e in commands if e["command"].endswith(" disable"))
    assert swaps_start > max(e["ts"] for e in commands if " trust " in f" {e['command']} ")
    trust_set = {(e["node"], e["command"].split()[0]) for e in commands if " trust " in f" {e['command']} "}
    assert trust_set == {(n, s) for n in NODES for s in ("callbridge", "webbridge3")}
    assert max(e["ts"] for e in commands if " trust " in f" {e['command']} ") < first_swap
    assert [e for n in NODES for e in lab.events(n) if e["event"] == "peer_link_down"] == []
    assert "only from its own swap" not in rollout.stdout
    # Serial batches of one node: each node's outages lie after the previous node's, so two nodes are never down at
    # once and the cluster keeps serving.
    spans = []
    for node in NODES:
        states = [e["ts"] for e in events_since(lab, node, swaps_start, "service_state")]
        assert len(states) == 8, node  # four services, each down once and up once
        spans.append((min(states), max(states)))
    assert spans[0][1] < spans[1][0] and spans[1][1] < spans[2][0]
    lines = summary(rollout)
    assert len(lines) == 12
    assert lines[0].startswith("cms1 webadmin: changed, cms1-2025.cer (")
    assert "-> cms1-renewal.cer (" in lines[0] and ", outage " in lines[0]
    # Both ends of the C2W link trust the lab CA (beside the seed CA, until a cleanup), set by the trust step, not by
    # the swaps.
    assert lines[1].startswith("cms1 callbridge: changed") and not any("C2W trust" in line for line in lines)
    lab_root = x509.fingerprint(x509.load_certs(root.read_bytes())[0])
    for node in NODES:
        for service in ("callbridge", "webbridge3"):
            store = (lab.files_dir(node) / config(lab, node, service)["c2w_trust"]).read_bytes()
            assert lab_root in {x509.fingerprint(c) for c in x509.load_certs(store)}, (node, service)
    assert lines[-1].startswith("cms3 turn: changed")

    again_start = time.time()
    assert all(demo(lab, "generate_csrs").changed(node) == 0 for node in NODES)
    again = demo(lab, "service_certs")
    assert again.rc == 0 and all(again.changed(node) == 0 for node in NODES)
    assert all(service_commands_since(lab, node, again_start) == [] for node in NODES)
    assert summary(again)[0] == "cms1 webadmin: unchanged, cms1-renewal.cer ({})".format(
        cx509.load_pem_x509_certificate((lab.dir / "pki" / "cms1" / "cms1-renewal.cer").read_bytes())
        .not_valid_after_utc.date()
        .isoformat()
    )


def test_a_preflight_failure_on_one_node_stops_every_node_before_any_service_is_touched(
    lab: SimLab, demo: Callable[..., Run]
) -> None:
    assert demo(lab, "generate_csrs").rc == 0
    # cms3's signed certificate is replaced by cms2's: it does not belong to cms3's key, nor to its name.
    shutil.copy(lab.dir / "pki" / "cms2" / "cms2-renewal.cer", lab.dir / "pki" / "cms3" / "cms3-renewal.cer")
    start = time.time()
    run = demo(lab, "service_certs")
    assert run.rc != 0
    failure = task(run, "cms1", "Preflight | stop every node if any node could not be locked or failed its preflight")
    assert failure["failed"] and "Preflight failed, no service was touched on any node" in failure["msg"]
    assert "cms3 webadmin: cms3: the new certificate material for webadmin failed validation" in failure["msg"]
    assert "does not cover cms3.lab.cms.example" in failure["msg"]
    for node in NODES:
        assert service_commands_since(lab, node, start) == [], node
        assert events_since(lab, node, start, "service_state") == [], node
        assert config(lab, node, "webadmin")["cert"] == f"{node}-2025.cer"


def test_a_failure_on_one_node_is_rolled_back_and_stops_the_rollout_with_a_summary(
    lab: SimLab, demo: Callable[..., Run]
) -> None:
    assert demo(lab, "generate_csrs").rc == 0
    lab.ctl(
        faults={"cms2": {"fail_command": {"match": "turn enable", "output": "FAILURE: TURN server failed to start"}}}
    )
    start = time.time()
    run = demo(lab, "service_certs")
    assert run.rc != 0
    # cms1 went first and is done; cms2 did three services, then turn failed and was rolled back; cms3 never started.
    assert all(served(lab, "cms1", s) == signed(lab, "cms1") for s in SERVICES)
    assert all(served(lab, "cms2", s) == signed(lab, "cms2") for s in ("webadmin", "callbridge", "webbridge3"))
    assert config(lab, "cms2", "turn")["cert"] == "cms2-2025.cer" and config(lab, "cms2", "turn")["enabled"] is True
    assert served(lab, "cms2", "turn") != signed(lab, "cms2")
    # cms3 took the lab CA in its trust stores (the trust step, before any swap) but swapped no certificate.
    assert [c for c in service_commands_since(lab, "cms3", start) if " certs " in f" {c} "] == []
    lines = summary(run)
    assert lines[:4] == [line for line in lines if line.startswith("cms1 ")]
    assert lines[-1].startswith("cms2 turn: rolled back, cms2-2025.cer (")
    assert "kept, cms2-renewal.cer (" in lines[-1] and "turn enable reported a failure" in lines[-1]
    assert len(outage_windows(lab, "cms2", "turn", start)) == 1


def test_check_mode_previews_the_rollout_without_touching_any_node(lab: SimLab, demo: Callable[..., Run]) -> None:
    assert demo(lab, "generate_csrs").rc == 0
    start = time.time()
    run = demo(lab, "service_certs", check=True, diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    lines = summary(run)
    assert len(lines) == 12 and all(": would change, " in line for line in lines)
    for node in NODES:
        assert service_commands_since(lab, node, start) == []
        assert events_since(lab, node, start, "sftp_put") == []


def test_generate_csrs_makes_per_service_and_clustered_csrs_under_new_basenames(
    lab: SimLab, demo: Callable[..., Run], tmp_path: Path
) -> None:
    def csr(node: str, basename: str) -> tuple[str, list[str]]:
        request = x509.load_csr((tmp_path / "pki" / node / f"{basename}.csr").read_bytes())
        return x509.rfc4514(request.subject), x509.san_values(request)

    run = demo(
        lab,
        "generate_csrs",
        extra_vars={
            "cms_pki_dir": str(tmp_path / "pki"),
            "cms_csr_layout": "service",
            "cms_csr_suffix": "2027",
            "cms_csr_lab_ca": False,
            # Only the names each layout adds, not the lab's short host names.
            "cms_csr_extra_names": [],
        },
    )
    assert run.rc == 0, run.stdout[-3000:]
    assert csr("cms2", "cms2-webadmin-2027") == ("CN=cms2.lab.cms.example", ["cms2.lab.cms.example"])
    assert csr("cms2", "cms2-webbridge3-2027")[1] == ["cms2.lab.cms.example", "join.lab.cms.example"]
    assert csr("cms2", "cms2-turn-2027")[1] == ["cms2.lab.cms.example"]
    assert (lab.files_dir("cms2") / "cms2-callbridge-2027.key").exists()

    clustered = demo(
        lab,
        "generate_csrs",
        extra_vars={
            "cms_pki_dir": str(tmp_path / "pki"),
            "cms_csr_layout": "cluster",
            "cms_csr_suffix": "2027",
            "cms_csr_cluster_fqdn": "cms.lab.cms.example",
            "cms_csr_lab_ca": False,
            "cms_csr_extra_names": [],
        },
    )
    assert clustered.rc == 0, clustered.stdout[-3000:]
    # docs/dev/mmp_reference.md#csrs-on-the-node, clustered: callbridge/TURN CN:<cluster fqdn>
    # subjectAltName:<peer fqdns>.
    assert csr("cms3", "cms3-cluster-2027") == (
        "CN=cms.lab.cms.example",
        ["cms.lab.cms.example", "cms1.lab.cms.example", "cms2.lab.cms.example", "cms3.lab.cms.example"],
    )
    assert csr("cms3", "cms3-2027") == ("CN=cms3.lab.cms.example", ["cms3.lab.cms.example", "join.lab.cms.example"])
    manifest = yaml.safe_load((tmp_path / "pki" / "cms3" / "csrs.yml").read_text())
    assert [entry["services"] for entry in manifest] == [["webadmin", "webbridge3"], ["callbridge", "turn"]]
    # The keys the services use were never touched.
    assert config(lab, "cms3", "webadmin")["key"] == "cms3-2025.key"


def test_the_role_in_one_play_applies_every_2x_service_from_a_shared_certificate(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run], tmp_path: Path
) -> None:
    lab = make_lab(nodes=2, cms_version="2")
    ca = TestCA(tmp_path / "ca")
    # One certificate for the cluster (its key shared by both nodes), as TechNote 214618 allows.
    leaf = ca.leaf(
        "cluster-2027",
        [
            "cms.lab.cms.example",
            "cms1.lab.cms.example",
            "cms2.lab.cms.example",
            "join.lab.cms.example",
            "lab.cms.example",
            # The short host names the certificates in use carry: the new one keeps them all.
            "cms1",
            "cms2",
        ],
    )
    run = playbook(
        lab,
        f"""
        - hosts: cms
          gather_facts: false
          roles:
            - role: cisco_cms.mmp.service_certs
              service_certs_throttle: 1
              service_certs_trust_ca_src: ""  # not the demo's CA change to the lab CA
              service_certs_defaults:
                key_src: {leaf.key}
                cert_src: {leaf.cert}
                bundle_src: {ca.bundle}
              service_certs_names: ["{{{{ cms_fqdn }}}}", cms.lab.cms.example]
              service_certs_services:
                - service: webadmin
                - service: callbridge
                - service: webbridge
                - service: xmpp
                  names: [lab.cms.example]
                - service: turn
        """,
    )
    assert run.rc == 0, run.stdout[-3000:]
    for node in ("cms1", "cms2"):
        for service in ("webadmin", "callbridge", "webbridge", "xmpp", "turn"):
            assert config(lab, node, service)["cert"] == "cluster-2027.cer"
            assert served(lab, node, service) == leaf.fingerprint
    # throttle 1: the two nodes never had a service down at the same time.
    downs = sorted(
        (e["ts"], e["node"], e["state"])
        for node in ("cms1", "cms2")
        for e in events_since(lab, node, 0, "service_state")
        if not e.get("seeded")
    )
    down: set[str] = set()
    for _ts, node, state in downs:
        if state in ("disabled", "restarting"):
            down.add(node)
        else:
            down.discard(node)
        assert len(down) <= 1
    assert len(summary(run)) == 10
