"""cms_service_certs and the service_certs role converge on the running state (docs/reliability.md).

A run killed with SIGKILL half way through a swap, a node that drops off the network for a few seconds, a
connection lost right after the last step, and bad input the role must refuse before any node is touched. Every
outcome is read from the node: its event log, its configuration and what its TLS listener serves.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _lock
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import LOCK_FILE
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from tests.cmssim import x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import REPO_ROOT, Run
from tests.integration.helpers.processes import kill_9, start_playbook, wait_for_command, wait_for_command_done
from tests.integration.helpers.service_certs import (
    TestCA,
    config,
    failed,
    fqdn,
    ok,
    play,
    port,
    seeded_names,
    served,
    service_commands_since,
    snapshot,
)

SERVICE_CERTS = "playbooks/service_certs.yml"
CALLBACKS = Path(__file__).parent / "callback_plugins"


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "ca")


# ---- helpers ---------------------------------------------------------------------------------------------------------
def material(ca: TestCA, node: str, stem: str, names: list[str] | None = None) -> dict[str, str]:
    leaf = ca.leaf(stem, names or seeded_names(node))
    return {"key_src": str(leaf.key), "cert_src": str(leaf.cert), "bundle_src": str(ca.bundle)}


def mutating_events(lab: SimLab, node: str, since: float) -> list[dict[str, Any]]:
    """Uploads, renames, removals and service transitions since ``since``: anything that changes the node."""
    kinds = {"sftp_put", "sftp_rename", "sftp_remove", "file_written", "service_state"}
    return [e for e in lab.events(node) if e["ts"] >= since and e["event"] in kinds and not e.get("seeded")]


# ---- kill -9 in the middle of a swap, then a re-run ----------------------------------------------------------------
def test_a_rerun_after_a_kill_between_webadmin_certs_and_enable_enables_it_on_the_new_certificate(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    args = {"service": "webadmin", **material(ca, "cms2", "cms2-r2"), "tls_port": port(lab, "cms2", "webadmin")}
    lab.ctl(timings={"command": 2.0})
    start = time.time()
    proc = start_playbook(lab, play([args], hosts="cms2"), tmp_path)
    wait_for_command(lab, "cms2", "webadmin certs", start)
    time.sleep(1)
    kill_9(proc)
    wait_for_command_done(lab, "cms2", "webadmin certs", start)
    assert config(lab, "cms2", "webadmin")["enabled"] is False
    assert config(lab, "cms2", "webadmin")["cert"] == "cms2-r2.cer"

    lab.ctl(timings={"command": 0.0})
    rerun_start = time.time()
    run = playbook(lab, play([args], hosts="cms2"))
    result = ok(run, "cms2", "t0")
    assert result["changed"] is True
    assert result["reasons"] == ["webadmin is disabled"]
    # The killed run's lock names processes that are gone: the re-run takes it over and says so.
    assert any("took over the lock of run cms_service_certs-" in w for w in result.get("warnings", []))
    assert service_commands_since(lab, "cms2", rerun_start) == ["webadmin enable"]
    assert not (lab.files_dir("cms2") / LOCK_FILE).exists()
    assert result["service_state"]["enabled"] is True and result["service_state"]["serves_configured"] is True
    assert config(lab, "cms2", "webadmin")["enabled"] is True
    assert served(lab, "cms2", "webadmin") == x509.fingerprint(
        x509.load_certs(Path(str(args["cert_src"])).read_bytes())[0]
    )
    again = playbook(lab, play([args], hosts="cms2"))
    assert ok(again, "cms2", "t0")["changed"] is False


def test_a_rerun_after_a_kill_between_callbridge_certs_and_restart_restarts_it_to_serve_the_new_certificate(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    args = {"service": "callbridge", **material(ca, "cms3", "cms3-r2"), "tls_port": port(lab, "cms3", "callbridge")}
    new_fp = x509.fingerprint(x509.load_certs(Path(str(args["cert_src"])).read_bytes())[0])
    old_fp = served(lab, "cms3", "callbridge")
    lab.ctl(timings={"command": 2.0})
    start = time.time()
    proc = start_playbook(lab, play([args], hosts="cms3"), tmp_path)
    wait_for_command(lab, "cms3", "callbridge certs", start)
    time.sleep(1)
    kill_9(proc)
    wait_for_command_done(lab, "cms3", "callbridge certs", start)
    assert config(lab, "cms3", "callbridge")["cert"] == "cms3-r2.cer"
    assert served(lab, "cms3", "callbridge") == old_fp  # configured, never restarted

    lab.ctl(timings={"command": 0.0})
    rerun_start = time.time()
    run = playbook(lab, play([args], hosts="cms3"))
    result = ok(run, "cms3", "t0")
    assert result["changed"] is True and result["commands"] == ["callbridge restart"]
    (reason,) = result["reasons"]
    assert "is configured with cms3-r2.cer but still serves" in reason and "tls_host/tls_port" not in reason
    assert not any("tls_host/tls_port" in w for w in result.get("warnings", []))
    assert service_commands_since(lab, "cms3", rerun_start) == ["callbridge restart"]
    assert served(lab, "cms3", "callbridge") == new_fp
    assert ok(playbook(lab, play([args], hosts="cms3")), "cms3", "t0")["changed"] is False


def test_another_new_certificate_after_a_kill_between_callbridge_certs_and_restart_is_applied_not_refused(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    first = {"service": "callbridge", **material(ca, "cms3", "cms3-r2"), "tls_port": port(lab, "cms3", "callbridge")}
    lab.ctl(timings={"command": 2.0})
    start = time.time()
    proc = start_playbook(lab, play([first], hosts="cms3"), tmp_path)
    wait_for_command(lab, "cms3", "callbridge certs", start)
    time.sleep(1)
    kill_9(proc)
    wait_for_command_done(lab, "cms3", "callbridge certs", start)
    lab.ctl(timings={"command": 0.0})
    # The operator tries again with yet another certificate: the endpoint serves the oldest one, which is this
    # service's own (same name), not a sign that tls_host/tls_port point elsewhere.
    second = {"service": "callbridge", **material(ca, "cms3", "cms3-r3"), "tls_port": port(lab, "cms3", "callbridge")}
    run = playbook(lab, play([second], hosts="cms3"))
    result = ok(run, "cms3", "t0")
    assert result["changed"] is True
    assert any("an older certificate than the one it is configured with (cms3-r2.cer)" in n for n in result["notes"])
    assert served(lab, "cms3", "callbridge") == x509.fingerprint(
        x509.load_certs(Path(str(second["cert_src"])).read_bytes())[0]
    )


def test_the_role_rerun_after_a_kill_mid_rollout_ends_with_every_service_enabled_and_serving_its_certificate(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    leaf = ca.leaf("cms1-r2", seeded_names("cms1"))
    extra = {
        "service_certs_hosts": "cms1",
        "service_certs_defaults": {"key_src": str(leaf.key), "cert_src": str(leaf.cert), "bundle_src": str(ca.bundle)},
        "service_certs_services": [{"service": "webadmin"}, {"service": "callbridge"}],
    }
    lab.ctl(timings={"command": 1.0})
    start = time.time()
    proc = start_playbook(lab, (REPO_ROOT / SERVICE_CERTS).read_text(), tmp_path, extra)
    wait_for_command(lab, "cms1", "webadmin certs", start, timeout=180)
    time.sleep(0.5)
    kill_9(proc)
    wait_for_command_done(lab, "cms1", "webadmin certs", start)
    lab.ctl(timings={"command": 0.0})
    run = playbook(lab, SERVICE_CERTS, extra_vars=extra)
    assert run.rc == 0, run.stdout[-3000:]
    for service in ("webadmin", "callbridge"):
        assert config(lab, "cms1", service)["running"] is True
        assert config(lab, "cms1", service).get("enabled", True) is True
        assert served(lab, "cms1", service) == leaf.fingerprint
    states = next(
        r["msg"] for r in run.results["cms1"] if r["_task"].endswith("nodes never reached, and the next step")
    )
    assert states[0].startswith("cms1 webadmin: enabled, running, configured cms1-r2.cer, serving CN=cms1.")
    assert "was: webadmin is disabled" in states[0]
    assert states[-1].startswith("Next step: none")


# ---- the node or the connection goes away ------------------------------------------------------------------------
def test_a_swap_on_a_node_a_detached_module_still_holds_is_refused_then_proceeds_once_that_process_ended(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    # What a kill -9 of ansible-playbook alone leaves: its worker goes on with the swap and holds the node's lock.
    worker = subprocess.Popen(["sleep", "600"])
    try:
        session = MmpSession(
            "127.0.0.1",
            port=lab.port("cms1"),
            password=lab.password,
            known_hosts_file=str(lab.dir / "known_hosts"),
            name="cms1",
        ).connect()
        who = {**_lock.controller_identity(), "pid": worker.pid, "worker_pid": worker.pid}
        _lock.acquire(
            session, "cms_service_certs-detached", "cms_service_certs webadmin", 600, identity=who, tied_to_process=True
        )
        args = {"service": "webadmin", **material(ca, "cms1", "cms1-r2"), "tls_port": port(lab, "cms1", "webadmin")}
        start = time.time()
        refused = failed(playbook(lab, play([args], hosts="cms1")), "cms1", "t0")
        assert "cms1 is locked by another run: run cms_service_certs-detached" in refused["msg"]
        assert refused["holder"]["worker_pid"] == worker.pid and "break_lock" in refused["msg"]
        assert mutating_events(lab, "cms1", start) == []
    finally:
        worker.kill()
        worker.wait(10)
    # Its process gone, the next run on this controller takes the lock over, says so, and frees the node after.
    result = ok(playbook(lab, play([args], hosts="cms1")), "cms1", "t0")
    assert result["changed"] is True and config(lab, "cms1", "webadmin")["cert"] == "cms1-r2.cer"
    assert any("took over the lock of run cms_service_certs-detached" in w for w in result["warnings"])
    assert not (lab.files_dir("cms1") / LOCK_FILE).exists()
    session.close()


def test_a_node_down_for_five_seconds_mid_swap_is_waited_for_and_rolled_back(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    old = {k: config(lab, "cms3", "webadmin")[k] for k in ("key", "cert", "bundle")}
    old_fp = served(lab, "cms3", "webadmin")
    lab.ctl(timings={"service_transition": 2.0})
    args = {"service": "webadmin", **material(ca, "cms3", "cms3-r2"), "tls_port": port(lab, "cms3", "webadmin")}
    outcome: dict[str, Run] = {}
    start = time.time()
    runner = threading.Thread(target=lambda: outcome.update(run=playbook(lab, play([args], hosts="cms3"))))
    runner.start()
    wait_for_command(lab, "cms3", "webadmin disable", start, timeout=120)
    lab.ctl(faults={"cms3": {"down": True}})
    time.sleep(5)
    lab.ctl(faults={"cms3": {"down": False}})
    runner.join(300)
    result = failed(outcome["run"], "cms3", "t0")
    assert result["rolled_back"] is True, result["msg"]
    assert "ROLLBACK FAILED" not in result["msg"] and "the old certificate is back in place" in result["msg"]
    assert {k: config(lab, "cms3", "webadmin")[k] for k in old} == old
    assert config(lab, "cms3", "webadmin")["enabled"] is True
    assert served(lab, "cms3", "webadmin") == old_fp


def test_a_node_that_stays_down_fails_the_rollback_with_the_mmp_commands_that_restore_it(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    # The node goes down the moment `webadmin certs` ends (the simulator drops the connection and closes its ports in
    # one step), so the rollback's first reconnect cannot reach it before the outage however loaded the machine is.
    lab.ctl(faults={"cms3": {"down_after_command": "webadmin certs"}})
    args = {
        "service": "webadmin",
        **material(ca, "cms3", "cms3-r2"),
        "tls_port": port(lab, "cms3", "webadmin"),
        "reconnect_timeout": 3,
    }
    run = playbook(lab, play([args], hosts="cms3"))
    assert [e["kind"] for e in lab.events("cms3") if e["event"] == "fault"] == ["down_after_command"]
    assert [e for e in lab.events("cms3") if e["event"] == "node_down"]
    lab.ctl(faults={"cms3": {"down": False}})
    msg = failed(run, "cms3", "t0")["msg"]
    assert "ROLLBACK FAILED" in msg and "tried for 3 s, reconnect_timeout" in msg
    assert (
        "`webadmin disable`; `webadmin certs cms3-2025.key cms3-2025.cer ca-bundle-2025.cer`; `webadmin enable`" in msg
    )


def test_a_drop_right_after_a_successful_enable_keeps_the_change_without_a_second_outage(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    args = {"service": "webadmin", **material(ca, "cms1", "cms1-r2"), "tls_port": port(lab, "cms1", "webadmin")}
    lab.ctl(faults={"cms1": {"drop_after_command": "webadmin enable"}})
    start = time.time()
    result = ok(playbook(lab, play([args])), "cms1", "t0")
    assert result["changed"] is True and "rolled_back" not in result
    assert any("the change had taken effect and passed its checks, so it was kept" in n for n in result["notes"])
    assert service_commands_since(lab, "cms1", start) == [
        "webadmin disable",
        "webadmin certs cms1-r2.key cms1-r2.cer ca-bundle-test.cer",
        "webadmin enable",
    ]
    assert served(lab, "cms1", "webadmin") == x509.fingerprint(
        x509.load_certs(Path(str(args["cert_src"])).read_bytes())[0]
    )


def test_a_node_that_cannot_be_reached_is_reported_unreachable(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    lab.ctl(faults={"cms2": {"down": True}})
    args = {"service": "webadmin", **material(ca, "cms2", "cms2-r2")}
    run = playbook(lab, play([args], hosts="cms2"))
    result = run.task("cms2", "t0")
    assert result.get("unreachable") is True and "failed" not in result
    assert "cannot connect to cms2" in result["msg"]
    assert run.stats["cms2"]["unreachable"] == 1 and run.stats["cms2"]["failures"] == 0


# ---- refused before any change -----------------------------------------------------------------------------------
def test_a_private_key_inside_cert_src_or_bundle_src_is_refused_and_nothing_changes(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    good = material(ca, "cms1", "cms1-r2")
    combined = tmp_path / "certkey.cer"
    combined.write_bytes(Path(good["cert_src"]).read_bytes() + Path(good["key_src"]).read_bytes())
    bundle_with_key = tmp_path / "bundlekey.cer"
    bundle_with_key.write_bytes(ca.bundle.read_bytes() + Path(good["key_src"]).read_bytes())
    before = snapshot(lab, "cms1")
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {"service": "webadmin", **good, "cert_src": str(combined), "state": "validated"},
                {"service": "webadmin", **good, "bundle_src": str(bundle_with_key)},
            ]
        ),
    )
    for name, option, path in (("t0", "cert_src", combined), ("t1", "bundle_src", bundle_with_key)):
        msg = failed(run, "cms1", name)["msg"]
        assert f"{option} {path} holds a private key block" in msg and "Nothing was uploaded" in msg
        assert "PRIVATE KEY-----" not in msg
    assert snapshot(lab, "cms1") == before
    assert mutating_events(lab, "cms1", start) == []


def test_a_ca_certificate_or_a_weak_key_as_the_leaf_is_refused_and_a_one_day_certificate_is_warned_of(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    weak = ca.leaf("cms1-weak", seeded_names("cms1"), key=x509.new_key(1024))
    short = ca.leaf("cms1-short", seeded_names("cms1"), days=0.5)
    ca_key = x509.new_key()
    as_leaf = x509.sign(
        x509.build_name({"CN": fqdn("cms1")}),
        ca_key.public_key(),
        ca.issuing,
        ca.issuing_key,
        now,
        365,
        x509.san_entries(seeded_names("cms1")),
        is_ca=True,
    )
    ca_leaf = {
        "key_src": str(ca.write("cms1-ca.key", x509.key_pem(ca_key))),
        "cert_src": str(ca.write("cms1-ca.cer", x509.cert_pem(as_leaf))),
    }
    bundle = str(ca.bundle)
    wa_port = port(lab, "cms1", "webadmin")
    before = config(lab, "cms1", "webadmin")
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {
                    "service": "webadmin",
                    "tls_port": wa_port,
                    "key_src": str(weak.key),
                    "cert_src": str(weak.cert),
                    "bundle_src": bundle,
                },
                {"service": "webadmin", "tls_port": wa_port, **ca_leaf, "bundle_src": bundle},
                {
                    "service": "webadmin",
                    "tls_port": wa_port,
                    "key_src": str(short.key),
                    "cert_src": str(short.cert),
                    "bundle_src": bundle,
                    "state": "validated",
                },
            ]
        ),
    )
    assert "has a RSA key of 1024 bits; 2048 is the least" in failed(run, "cms1", "t0")["msg"]
    assert "is a CA certificate (basic constraints CA:TRUE)" in failed(run, "cms1", "t1")["msg"]
    warned = ok(run, "cms1", "t2")
    assert any("is valid for less than a day more" in w for w in warned.get("warnings", []))
    # Refused before anything reached the node; the validated one only uploaded its files.
    assert not [e for e in mutating_events(lab, "cms1", start) if "weak" in json.dumps(e) or "cms1-ca" in json.dumps(e)]
    assert config(lab, "cms1", "webadmin") == before
    assert service_commands_since(lab, "cms1", start) == []


def test_a_port_of_zero_or_a_timeout_of_zero_or_less_is_refused_before_login(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    good = material(ca, "cms1", "cms1-r2")
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {"service": "webadmin", **good, "tls_port": 0},
                {"service": "webbridge3", **good, "c2w_tls_port": 70000},
                {"service": "webadmin", **good, "tls_timeout": -5},
                {"service": "webadmin", **good, "reconnect_timeout": 0},
            ]
        ),
    )
    assert "tls_port must be a TCP port from 1 to 65535 (got 0)" in failed(run, "cms1", "t0")["msg"]
    assert "c2w_tls_port must be a TCP port from 1 to 65535 (got 70000)" in failed(run, "cms1", "t1")["msg"]
    assert "tls_timeout must be a number of seconds above 0 (got -5)" in failed(run, "cms1", "t2")["msg"]
    assert "reconnect_timeout must be a number of seconds above 0 (got 0)" in failed(run, "cms1", "t3")["msg"]
    # Refused before any login: the node saw no connection at all.
    assert [e for e in lab.events("cms1") if e["ts"] >= start and e["event"] == "connection_opened"] == []


def test_a_typo_key_or_an_entry_without_its_key_is_refused_before_any_change(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    start = time.time()
    run = playbook(
        lab,
        SERVICE_CERTS,
        extra_vars={
            "service_certs_defaults": {"cert_src": "/nonexistent/new.cer"},
            "service_certs_services": [
                {"service": "webadmin", "cert_scr": "/etc/passwd", "key": "new.key"},
                {"service": "turn"},
                {"key": "new.key"},
            ],
        },
    )
    assert run.rc != 0
    # Every problem of every entry in one message, each named by its entry and said once for the nodes it is on.
    assert "service_certs_services entry 1 (webadmin) has unknown key(s) cert_scr (every node)" in run.stdout
    assert "entry 2 (turn) (merged with service_certs_defaults) names no key or key_src (every node)" in run.stdout
    assert "entry 3 (?) (merged with service_certs_defaults) names no service (every node)." in run.stdout
    assert run.stdout.count("names no service (every node)") == 1
    for node in ("cms1", "cms2", "cms3"):
        assert mutating_events(lab, node, start) == []
        assert not [e for e in lab.events(node) if e["ts"] >= start and e["event"] == "connection_opened"]


def test_a_typo_in_one_node_s_own_variables_is_named_with_that_node_and_stops_every_node(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    # The group's entries are right; cms2's own (a host variable) has a typo: the one check names cms2 only.
    extra = tmp_path / "typo.yml"
    extra.write_text(
        json.dumps(
            {
                "all": {
                    "vars": {"service_certs_services": [{"service": "webadmin", "key": "a.key", "cert": "a.cer"}]},
                    "hosts": {"cms2": {"service_certs_services": [{"service": "webadmin", "kee": "a.key"}]}},
                }
            }
        )
    )
    start = time.time()
    run = playbook(
        lab,
        SERVICE_CERTS,
        inventories=(str(lab.dir / "inventory.yml"), str(REPO_ROOT / "inventory" / "lab"), str(extra)),
    )
    assert run.rc != 0
    assert "service_certs_services entry 1 (webadmin) has unknown key(s) kee (cms2)" in run.stdout
    assert "(every node)" not in run.stdout and "(cms1" not in run.stdout
    for node in ("cms1", "cms2", "cms3"):
        assert not [e for e in lab.events(node) if e["ts"] >= start and e["event"] == "connection_opened"]


def test_a_new_certificate_that_drops_san_names_is_refused_then_accepted_with_allow_san_shrink(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-short", [fqdn("cms1")])
    args = {
        "key_src": str(leaf.key),
        "cert_src": str(leaf.cert),
        "bundle_src": str(ca.bundle),
        "tls_port": port(lab, "cms1", "webadmin"),
    }
    start = time.time()
    extra = {
        "service_certs_hosts": "cms1,cms2",
        "service_certs_defaults": args,
        "service_certs_services": [{"service": "webadmin"}],
    }
    run = playbook(lab, SERVICE_CERTS, extra_vars=extra)
    assert run.rc != 0
    assert "drops join.lab.cms.example, cms1 from the SAN of the certificate in use (cms1-2025.cer)" in run.stdout
    assert "allow_san_shrink: true" in run.stdout
    for node in ("cms1", "cms2"):
        assert service_commands_since(lab, node, start) == []

    accepted = playbook(lab, play([{"service": "webadmin", **args, "allow_san_shrink": True}]))
    assert ok(accepted, "cms1", "t0")["changed"] is True
    assert served(lab, "cms1", "webadmin") == leaf.fingerprint


def test_the_role_summary_lists_a_node_never_reached_as_unreachable_and_ansible_counts_it_so(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    lab.ctl(faults={"cms2": {"down": True}})
    leaves = {node: ca.leaf(f"{node}-r2", seeded_names(node)) for node in ("cms1", "cms2")}
    run = playbook(
        lab,
        f"""
        - hosts: cms1,cms2
          gather_facts: false
          roles:
            - role: cisco_cms.mmp.service_certs
              service_certs_preflight: false
              service_certs_defaults:
                key_src: "{{{{ '{leaves["cms1"].key}' if inventory_hostname == 'cms1' else '{leaves["cms2"].key}' }}}}"
                cert_src: "{{{{ '{leaves["cms1"].cert}' if inventory_hostname == 'cms1' else '{leaves["cms2"].cert}' }}}}"
                bundle_src: {ca.bundle}
              service_certs_services:
                - service: webadmin
        """,
    )
    assert run.stats["cms2"]["unreachable"] == 1 and run.stats["cms2"]["failures"] == 0
    assert run.stats["cms1"]["failures"] == 0
    states = next(
        r["msg"] for r in run.results["cms1"] if r["_task"].endswith("nodes never reached, and the next step")
    )
    assert "cms2: unreachable, nothing done on it" in states
    assert any(line.startswith("cms1 webadmin: enabled, running, configured cms1-r2.cer") for line in states)
    assert states[-1].startswith("Next step: fix the cause given for cms2")
    assert served(lab, "cms1", "webadmin") == leaves["cms1"].fingerprint
