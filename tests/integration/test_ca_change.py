"""A CA change with the service_certs role on the 3-node lab: the new CA joins every trust store on every node before
the first certificate is swapped (the nodes' command logs show the order), no peer link is ever down, and the old CA
leaves the stores only on request, refused while a certificate still chains to it; the preflight refuses a new
certificate that misses a name a peer dials."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.cmssim import x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import Run
from tests.integration.helpers.service_certs import TestCA, seeded_names
from tests.sim.test_trust import link_events, seed_ca_pem

NODES = ("cms1", "cms2", "cms3")
# The commands that set a trust store, and those that swap a certificate.
TRUST_WORDS, CERTS_WORDS = (" trust ", " ucm certs ", " imps certs "), (" certs ",)


def new_ca_material(tmp_path: Path) -> TestCA:
    """The new CA and, per node, a key, a certificate keeping every name of the seeded one, and its full chain."""
    ca = TestCA(tmp_path / "ca", "New")
    for node in NODES:
        leaf = ca.leaf(f"{node}-new", seeded_names(node))
        ca.write(f"{node}-new-fullchain.cer", leaf.cert.read_bytes() + ca.bundle.read_bytes())
    return ca


def role_play(ca: TestCA, trust: bool = True, **variables: Any) -> str:
    extra = "".join(f"\n              {key}: {value}" for key, value in variables.items())
    trust_ca = ca.bundle if trust else '""'
    return f"""
        - hosts: cms
          gather_facts: false
          roles:
            - role: cisco_cms.mmp.service_certs
              service_certs_trust_ca_src: {trust_ca}
              service_certs_defaults:
                key_src: "{ca.dir}/{{{{ inventory_hostname }}}}-new.key"
                key: "{{{{ inventory_hostname }}}}-new.key"
                cert_src: "{ca.dir}/{{{{ inventory_hostname }}}}-new.cer"
                bundle_src: {ca.bundle}
              service_certs_names: ["{{{{ cms_fqdn }}}}"]
              service_certs_services:
                - service: webadmin
                - service: callbridge
                - service: webbridge3
                  c2w_key: "{{{{ inventory_hostname }}}}-new.key"
                  c2w_cert_src: "{ca.dir}/{{{{ inventory_hostname }}}}-new-fullchain.cer"
                - service: turn{extra}
        """


def timed_commands(lab: SimLab, words: tuple[str, ...]) -> list[tuple[float, str, str]]:
    return sorted(
        (e["ts"], e["node"], e["command"])
        for node in NODES
        for e in lab.events(node)
        if e["event"] == "command" and any(w in f" {e['command']} " for w in words)
    )


def api_ca_file(lab: SimLab, ca: TestCA, tmp_path: Path) -> str:
    """The API's CA file holding the old and the new roots: Web Admin moves to the new CA during the run."""
    seed_root = Path(lab.inventory["all"]["children"]["cms"]["vars"]["cms_api_ca_file"]).read_bytes()
    path = tmp_path / "api-roots.cer"
    path.write_bytes(seed_root + x509.cert_pem(ca.root))
    return str(path)


def trusts(lab: SimLab, node: str, field: str, cert: Any) -> bool:
    store = lab.node_state(node)["services"]["callbridge"][field]
    return x509.fingerprint(cert) in [
        x509.fingerprint(c) for c in x509.load_certs((lab.files_dir(node) / store).read_bytes())
    ]


def test_a_ca_change_trusts_the_new_ca_everywhere_first_and_removes_the_old_one_only_on_request(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"callbridge_cluster": True})
    ca = new_ca_material(tmp_path)
    old_ca = tmp_path / "old-ca.cer"
    old_ca.write_bytes(seed_ca_pem(lab))
    roots = {"cms_api_ca_file": api_ca_file(lab, ca, tmp_path)}
    old_root = x509.load_certs(seed_ca_pem(lab))[-1]

    run = playbook(lab, role_play(ca), extra_vars=roots)
    assert run.rc == 0, run.stdout[-4000:]
    trust_set, swaps = timed_commands(lab, TRUST_WORDS), timed_commands(lab, CERTS_WORDS)
    # Every node's stores (C2W and cluster of the Call Bridge, Web Bridge 3's C2W) took the new CA, and each Call
    # Bridge restarted on it, before the first certificate was swapped anywhere.
    assert {(node, command.split()[0]) for _ts, node, command in trust_set} == {
        (n, s) for n in NODES for s in ("callbridge", "webbridge3")
    }
    first_swap = swaps[0][0]
    assert max(ts for ts, _n, _c in trust_set) < first_swap
    restarts = timed_commands(lab, (" restart ",))
    assert {n for ts, n, c in restarts if ts < first_swap and c == "callbridge restart"} == set(NODES)
    assert [e for e in link_events(lab) if e["event"] == "peer_link_down"] == []
    for node in NODES:
        assert trusts(lab, node, "cluster_trust", ca.root) and trusts(lab, node, "cluster_trust", old_root)

    cleanup = playbook(
        lab, role_play(ca, service_certs_trust_cleanup="true", service_certs_trust_old_ca_src=old_ca), extra_vars=roots
    )
    assert cleanup.rc == 0, cleanup.stdout[-4000:]
    for node in NODES:
        assert trusts(lab, node, "cluster_trust", ca.root) and not trusts(lab, node, "cluster_trust", old_root)
        assert not trusts(lab, node, "c2w_trust", old_root)
    assert [e for e in link_events(lab) if e["event"] == "peer_link_down"] == []


def test_removing_the_old_ca_while_certificates_still_chain_to_it_is_refused_on_every_node(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    old_ca = tmp_path / "old-ca.cer"
    old_ca.write_bytes(seed_ca_pem(lab))
    run = playbook(
        lab,
        f"""
        - hosts: cms
          gather_facts: false
          tasks:
            - name: cleanup
              ansible.builtin.include_role:
                name: cisco_cms.mmp.service_certs
                tasks_from: trust_cleanup.yml
              vars:
                service_certs_trust_old_ca_src: {old_ca}
        """,
    )
    assert run.rc != 0
    assert "still chains to it" in run.stdout
    assert timed_commands(lab, TRUST_WORDS) == []


# ---- preflight refusals (nothing touched on any node) ------------------------------------------------------------
def assert_untouched(lab: SimLab) -> None:
    assert timed_commands(lab, TRUST_WORDS + CERTS_WORDS + (" restart ", " disable ")) == []


def test_a_web_bridge_c2w_certificate_from_a_ca_the_call_bridges_do_not_trust_is_refused_without_the_trust_step(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    ca = new_ca_material(tmp_path)
    run = playbook(lab, role_play(ca, trust=False))
    assert run.rc != 0
    assert "holds no CA of" in run.stdout and "service_certs_trust_ca_src" in run.stdout
    assert_untouched(lab)


def test_a_new_certificate_without_the_name_a_peer_dials_is_refused_in_the_preflight(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    ca = new_ca_material(tmp_path)
    run = playbook(lab, role_play(ca, service_certs_webadmin_fqdn="admin.lab.cms.example"))
    assert run.rc != 0
    assert "does not cover admin.lab.cms.example" in run.stdout
    assert_untouched(lab)


def test_a_web_bridge_certificate_without_the_c2w_name_or_a_join_name_is_refused_in_the_preflight(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    ca = new_ca_material(tmp_path)
    run = playbook(
        lab,
        role_play(
            ca, service_certs_c2w_name="c2w.elsewhere.example", service_certs_join_names='["join.elsewhere.example"]'
        ),
    )
    assert run.rc != 0
    assert "does not cover" in run.stdout
    assert "c2w.elsewhere.example" in run.stdout and "join.elsewhere.example" in run.stdout
    assert_untouched(lab)


def test_a_call_bridge_certificate_that_cannot_dial_out_is_refused_in_the_preflight(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    ca = new_ca_material(tmp_path)
    # cms2's new certificate is for TLS servers only: the Call Bridge could not dial SIP TLS, C2W or its peers with it.
    key = x509.load_key((ca.dir / "cms2-new.key").read_bytes())
    now = dt.datetime.now(dt.UTC)
    server_only = (
        cx509.CertificateBuilder()
        .subject_name(x509.build_name({"CN": "cms2.lab.cms.example"}))
        .issuer_name(ca.issuing.subject)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(cx509.SubjectAlternativeName(x509.san_entries(seeded_names("cms2"))), critical=False)
        .add_extension(cx509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca.issuing_key, hashes.SHA256())
    )
    ca.write("cms2-new.cer", x509.cert_pem(server_only))
    run = playbook(lab, role_play(ca))
    assert run.rc != 0
    assert "cms2-new.cer" in run.stdout and "lacks clientAuth" in run.stdout
    assert_untouched(lab)
