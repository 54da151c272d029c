"""The simulator's services over real SSH: status blocks, setters, enable/disable/restart checks, outage windows,
and the real TLS listeners serving exactly the configured key and chain."""

from __future__ import annotations

import copy
import datetime as dt
import re
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509 as cx509

from tests.cmssim import core, pki, services, shapes, tls, x509
from tests.cmssim.testing import SimLab

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")
ALL_3X = ("webadmin", "callbridge", "webbridge3", "webbridge3-c2w", "turn")
ALL_2X = ("webadmin", "callbridge", "webbridge", "xmpp", "turn")


def files_of(lab: SimLab, node: str) -> dict[str, str]:
    services = lab.node_state(node)["services"]
    return {
        "key": services["webadmin"]["key"],
        "cert": services["webadmin"]["cert"],
        "bundle": services["webadmin"]["bundle"],
        "fullchain": services.get("webbridge3", {}).get("https_cert"),
    }


def leaf_fingerprint(lab: SimLab, node: str, name: str) -> str:
    return x509.fingerprint(x509.load_certs((lab.files_dir(node) / name).read_bytes())[0])


def _fp(der: bytes) -> str:
    return x509.fingerprint(cx509.load_der_x509_certificate(der))


def refused(port: int) -> bool:
    try:
        tls.fetch_leaf(port, timeout=2)
    except (ssl.SSLError, OSError):
        return True
    return False


def port_of(lab: SimLab, node: str, endpoint: str) -> int:
    return int(lab.hosts[node]["cms_tls_ports"][endpoint])


def states(lab: SimLab, node: str, service: str) -> list[dict[str, Any]]:
    return [e for e in lab.events(node) if e["event"] == "service_state" and e["service"] == service]


# ---- status blocks ------------------------------------------------------------------------------------------
def test_webadmin_status_is_the_cisco_block(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    assert lab.run("cms1", "webadmin") == (
        "Enabled                 : true\n"
        "TLS listening interface : a\n"
        "TLS listening port      : 445\n"
        f"Key file                : {f['key']}\n"
        f"Certificate file        : {f['cert']}\n"
        f"CA Bundle file          : {f['bundle']}\n"
        "HTTP redirect           : Disabled\n"
        "STATUS                  : webadmin running\n"
    )


def test_callbridge_status_has_three_padding_groups_and_a_bundle_line_only_with_a_bundle(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    expected_tail = (
        f"C2W trusted certs                   : {f['fullchain']}\n"
        "Callbridge cluster trusted certs    : none\n"
        "Callbridge trust branding certs     : none\n"
        "UCM trusted certs         : none\n"
        "UCM verification mode     : disabled\n"
        "IMPS trusted certs        : none\n"
        "IMPS verification mode    : disabled\n"
        "WC3 JWT Expiry in hours   : 24\n"
    )
    head = (
        "Listening interfaces  : a\n"
        "Preferred interface   : none\n"
        f"Key file              : {f['key']}\n"
        f"Certificate file      : {f['cert']}\n"
        "Address               : none\n"
    )
    assert lab.run("cms1", "callbridge") == head + f"CA Bundle file        : {f['bundle']}\n" + expected_tail
    assert lab.run("cms1", f"callbridge certs {f['key']} {f['cert']}") == ""
    assert lab.run("cms1", "callbridge") == head + expected_tail  # absent, not `none` [H]


def test_webbridge3_status_lists_the_labels_in_order_in_one_column(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    lines = lab.run("cms1", "webbridge3").splitlines()
    labels = [line.split(" : ", 1)[0].rstrip() for line in lines]
    assert labels == [label for label, _ in shapes.WEBBRIDGE3_STATUS_ROWS]
    assert len({line.index(" : ") for line in lines}) == 1
    values = dict(line.split(" : ", 1) for line in lines)
    values = {k.rstrip(): v for k, v in values.items()}
    assert values["Enabled"] == "true"
    assert values["HTTPS listening ports and interfaces"] == "a:443"
    assert values["HTTPS Full chain certificate file"] == f["fullchain"]
    assert values["C2W listening ports and interfaces"] == "a:9999"
    assert values["C2W Trust bundle"] == f["bundle"]
    assert values["HTTP redirect"] == "Disabled"
    assert values["Meetingapps address"] == "none"


def test_turn_status_shows_the_password_in_clear_and_colon_less_listen_lines(lab: SimLab) -> None:
    assert lab.run("cms1", "turn credentials admin Cisco.123 cms.demo") == ""
    assert lab.run("cms1", "turn listen a b") == ""
    out = lab.run("cms1", "turn")
    lines = out.splitlines()
    assert lines[0] == "Enabled                 : true"
    assert "Username                : admin" in lines
    assert "Password                : Cisco.123" in lines
    assert "Realm                   : cms.demo" in lines
    assert "TLS port                : 447" in lines
    assert "TLS bundle              : " + files_of(lab, "cms1")["bundle"] in lines
    assert lines[-2:] == ["Listen interface      a", "Listen interface      b"]


def test_unconfigured_services_read_none_and_stay_disabled_when_enabled(make_lab: Any) -> None:
    lab = make_lab(lab_file={"nodes": [{"name": "cms1"}, {"name": "cms2"}, {"name": "cms3", "services": []}]})
    assert lab.run("cms3", "webadmin") == (
        "Enabled                 : false\n"
        "TLS listening interface : none\n"
        "TLS listening port      : none\n"
        "Key file                : none\n"
        "Certificate file        : none\n"
        "HTTP redirect           : Disabled\n"
        "STATUS                  : webadmin not running\n"
    )
    assert lab.run("cms3", "webadmin enable") == (
        "FAILURE: TLS interface and port not configured\n"
        "FAILURE: TLS port set but no certificates configured\n"
        "FAILURE: webadmin configuration not complete\n"
    )
    assert "Enabled                 : false" in lab.run("cms3", "webadmin")
    assert lab.status()["nodes"]["cms3"]["services"] == {}
    assert lab.run("cms3", "turn").splitlines()[-1] == "TLS bundle              : none"  # no listen lines
    assert states(lab, "cms3", "webadmin")[-1]["state"] == "failed"


# ---- setters and their errors -------------------------------------------------------------------------------
def test_setters_print_nothing_and_change_the_status(lab: SimLab) -> None:
    shell = lab.shell("cms1")
    try:
        for command in (
            "webadmin listen b 444",
            "webadmin http-redirect enable",
            "webbridge3 https listen a:443 b:8443",
            "webbridge3 c2w listen b:9998",
            "webbridge3 http-redirect enable",
            "callbridge listen a b",
            "callbridge trust cluster " + files_of(lab, "cms1")["bundle"],
            "turn tls 5349",
            "turn public-ip 203.0.113.7",
        ):
            assert shell.run(command) == "", command
        webadmin = shell.run("webadmin")
        assert "TLS listening interface : b\nTLS listening port      : 444\n" in webadmin
        assert "HTTP redirect           : Enabled\n" in webadmin
        wb3 = shell.run("webbridge3")
        assert re.search(r"^HTTPS listening ports and interfaces : a:443 b:8443$", wb3, re.M)
        assert re.search(r"^C2W listening ports and interfaces +: b:9998$", wb3, re.M)
        assert re.search(r"^HTTP redirect +: Enabled$", wb3, re.M)
        cb = shell.run("callbridge")
        assert "Listening interfaces  : a b\n" in cb
        assert "Callbridge cluster trusted certs    : " + files_of(lab, "cms1")["bundle"] in cb
        turn = shell.run("turn")
        assert "TLS port                : 5349\n" in turn and "Public IP               : 203.0.113.7\n" in turn
    finally:
        shell.close()


def test_certs_with_a_missing_file_is_refused_and_changes_nothing(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    before = {svc: lab.run("cms1", svc) for svc in ("webadmin", "callbridge", "webbridge3", "turn")}
    cases = [
        (f"webadmin certs {f['key']} missing.cer", "missing.cer"),
        (f"callbridge certs {f['key']} {f['cert']} missing-bundle.cer", "missing-bundle.cer"),
        (f"webbridge3 https certs missing.key {f['fullchain']}", "missing.key"),
        (f"webbridge3 c2w certs {f['key']} missing.cer", "missing.cer"),
        ("webbridge3 c2w trust missing.cer", "missing.cer"),
        (f"turn certs nokey.key {f['cert']}", "nokey.key"),
    ]
    for command, missing in cases:
        assert lab.run("cms1", command) == shapes.SERVICE_CERTS_MISSING_FILE.format(name=missing) + "\n", command
    assert {svc: lab.run("cms1", svc) for svc in before} == before


def test_bad_arguments_print_errors_or_the_usage(lab: SimLab) -> None:
    shell = lab.shell("cms1")
    try:
        assert shell.run("webadmin listen e 445") == shapes.SERVICE_BAD_INTERFACE.format(iface="e") + "\n"
        assert shell.run("webadmin listen a 70000") == shapes.SERVICE_BAD_PORT.format(port="70000") + "\n"
        assert shell.run("webbridge3 https listen a443") == shapes.SERVICE_BAD_LISTEN.format(value="a443") + "\n"
        assert shell.run("turn listen a lo") == ""  # S20 adds lo as a TURN interface
        for service, command in [
            ("webadmin", "webadmin certs only.key"),
            ("webbridge3", "webbridge3 https certs a.key b.cer c.cer"),
            ("callbridge", "callbridge enable"),  # callbridge has no enable/disable, only restart (S2)
            ("callbridge", "callbridge disable"),
            ("turn", "turn restart"),
            ("turn", "turn credentials user pass"),
            ("webadmin", "webadmin http-redirect on"),
            ("webbridge3", "webbridge3 enable now"),
        ]:
            assert shell.run(command) == shapes.SERVICE_USAGES[service] + "\n", command
    finally:
        shell.close()


# ---- TLS listeners ------------------------------------------------------------------------------------------
def test_every_enabled_service_serves_its_configured_certificate_over_tls(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    expected = leaf_fingerprint(lab, "cms1", f["cert"])
    status = lab.status()["nodes"]["cms1"]["services"]
    assert set(status) == set(ALL_3X)
    for endpoint in ALL_3X:
        port = port_of(lab, "cms1", endpoint)
        assert status[endpoint]["tls_port"] == port
        # Verified against the lab's root CA and the node's FQDN, as a browser or the Call Bridge would.
        assert _fp(tls.fetch_leaf(port, cafile=lab.dir / "seed-ca" / "root.crt", hostname="cms1.lab.cms.example")) == (
            expected
        )
    # The nodes have their own keys and certificates.
    assert _fp(tls.fetch_leaf(port_of(lab, "cms2", "webadmin"))) == leaf_fingerprint(
        lab, "cms2", files_of(lab, "cms2")["cert"]
    )


@needs_openssl
def test_openssl_s_client_sees_the_full_chain_of_webbridge3(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    proc = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port_of(lab, 'cms1', 'webbridge3')}",
            "-showcerts",
            "-CAfile",
            str(lab.dir / "seed-ca" / "root.crt"),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    served = x509.load_certs(proc.stdout.encode())
    chain = x509.load_certs((lab.files_dir("cms1") / f["fullchain"]).read_bytes())
    assert [x509.fingerprint(c) for c in served] == [x509.fingerprint(c) for c in chain]
    assert len(served) == 3
    assert "Verify return code: 0 (ok)" in proc.stdout


@needs_openssl
def test_openssl_s_client_sees_certificate_plus_bundle_on_webadmin(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port_of(lab, 'cms1', 'webadmin')}", "-showcerts"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    served = [x509.fingerprint(c) for c in x509.load_certs(proc.stdout.encode())]
    files = lab.files_dir("cms1")
    expected = [
        x509.fingerprint(c)
        for c in x509.load_certs((files / f["cert"]).read_bytes() + (files / f["bundle"]).read_bytes())
    ]
    assert served == expected


def test_new_certs_take_effect_at_restart_not_before(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    port = port_of(lab, "cms1", "callbridge")
    old = leaf_fingerprint(lab, "cms1", f["cert"])
    lab.run("cms1", "pki selfsigned cb-new CN:cms1.lab.cms.example")
    assert lab.run("cms1", "callbridge certs cb-new.key cb-new.crt") == ""
    assert _fp(tls.fetch_leaf(port)) == old  # still running on what it was started with
    out = lab.run("cms1", "callbridge restart")
    assert out == (
        "SUCCESS: listen interface configured\nSUCCESS: Key and certificate pair match\nSUCCESS: callbridge enabled\n"
    )
    assert _fp(tls.fetch_leaf(port)) == leaf_fingerprint(lab, "cms1", "cb-new.crt")
    assert [e["state"] for e in states(lab, "cms1", "callbridge")][-2:] == ["restarting", "running"]


def test_renewed_files_under_the_same_names_are_served_on_the_next_connection(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    port = port_of(lab, "cms1", "turn")
    lab.run("cms1", "pki csr renew CN:cms1.lab.cms.example")
    with lab.sftp("cms1") as sftp:
        with sftp.open("renew.csr", "rb") as fh:
            csr = fh.read()
        with sftp.open("renew.key", "rb") as fh:
            key = fh.read()
        new_cert = pki.issue_from_csr(lab.dir, csr, dt.datetime.now(dt.UTC), days=365)
        # Certificate first, then the key: a brief mismatch, then the renewed pair (S2: same names, restart).
        with sftp.open(f["cert"], "wb") as fh:
            fh.write(new_cert)
        with sftp.open(f["key"], "wb") as fh:
            fh.write(key)
    assert _fp(tls.fetch_leaf(port)) == x509.fingerprint(x509.load_certs(new_cert)[0])
    loaded = [e for e in lab.events("cms1") if e["event"] == "tls_loaded" and e["endpoint"] == "turn"]
    assert loaded[-1]["fingerprint"] == x509.fingerprint(x509.load_certs(new_cert)[0])


# ---- enable / disable / restart -----------------------------------------------------------------------------
def test_disable_closes_the_port_and_enable_opens_it_after_the_transition(lab: SimLab) -> None:
    lab.ctl(timings={"service_transition": 0.6})
    port = port_of(lab, "cms1", "webadmin")
    t0 = time.time()
    assert lab.run("cms1", "webadmin disable") == ""
    assert time.time() - t0 >= 0.6
    assert refused(port)
    assert "STATUS                  : webadmin not running" in lab.run("cms1", "webadmin")
    assert "webadmin" not in lab.status()["nodes"]["cms1"]["services"]
    assert lab.run("cms1", "webadmin enable") == (
        "SUCCESS: TLS interface and port configured\n"
        "SUCCESS: Key and certificate pair match\n"
        "SUCCESS: webadmin enabled\n"
    )
    assert not refused(port)
    events = states(lab, "cms1", "webadmin")
    assert [e["state"] for e in events][-2:] == ["disabled", "enabled"]
    commands = [e for e in lab.events("cms1") if e["event"] == "command" and e["command"] == "webadmin enable"]
    assert events[-1]["ts"] - commands[-1]["ts"] >= 0.6  # serving again only after the transition


def test_the_outage_window_of_a_restart_is_real(lab: SimLab) -> None:
    lab.ctl(timings={"service_transition": 2.0})
    port = port_of(lab, "cms1", "webbridge3")
    assert not refused(port)
    result: dict[str, str] = {}
    worker = threading.Thread(target=lambda: result.setdefault("out", lab.run("cms1", "webbridge3 restart")))
    worker.start()
    deadline = time.monotonic() + 2.0
    saw_outage = False
    while time.monotonic() < deadline and not saw_outage:
        saw_outage = refused(port)
        time.sleep(0.05)
    worker.join(20)
    assert saw_outage
    assert result["out"].splitlines()[-1] == "SUCCESS: webbridge3 enabled"
    assert not refused(port) and not refused(port_of(lab, "cms1", "webbridge3-c2w"))
    window = states(lab, "cms1", "webbridge3")[-2:]
    assert [e["state"] for e in window] == ["restarting", "running"]
    assert window[1]["ts"] - window[0]["ts"] >= 2.0


def test_enable_with_a_mismatched_pair_fails_and_leaves_the_service_disabled(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    lab.run("cms1", "pki selfsigned other")
    lab.run("cms1", "webadmin disable")
    assert lab.run("cms1", f"webadmin certs other.key {f['cert']}") == ""  # the pair is checked at enable [L]
    assert lab.run("cms1", "webadmin enable") == (
        "SUCCESS: TLS interface and port configured\n"
        "FAILURE: Key and certificate pair do not match\n"
        "FAILURE: webadmin configuration not complete\n"
    )
    assert lab.run("cms1", "webadmin").splitlines()[0] == "Enabled                 : false"
    assert refused(port_of(lab, "cms1", "webadmin"))
    assert [e["state"] for e in states(lab, "cms1", "webadmin")][-2:] == ["disabled", "failed"]


def test_enable_with_an_expired_certificate_fails(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    lab.ctl(clock_offset_days=30)  # past the seeded certificates' expiry
    assert not refused(port_of(lab, "cms1", "turn"))  # a running service keeps serving an expired certificate
    lab.run("cms1", "turn disable")
    assert lab.run("cms1", "turn enable") == (
        "SUCCESS: listen interface configured\n"
        "SUCCESS: Key and certificate pair match\n"
        f"FAILURE: Certificate {f['cert']} has expired\n"
        "FAILURE: turn configuration not complete\n"
    )
    assert lab.run("cms1", "turn").splitlines()[0] == "Enabled                 : false"
    assert refused(port_of(lab, "cms1", "turn"))
    # callbridge restart fails the same way and takes the Call Bridge down.
    assert lab.run("cms1", "callbridge restart").splitlines()[-1] == "FAILURE: callbridge configuration not complete"
    assert refused(port_of(lab, "cms1", "callbridge"))
    assert [e["state"] for e in states(lab, "cms1", "callbridge")][-2:] == ["restarting", "failed"]


def test_enable_after_a_configured_file_was_deleted_fails(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    lab.run("cms1", "webbridge3 disable")
    with lab.sftp("cms1") as sftp:
        sftp.remove(f["fullchain"])
    out = lab.run("cms1", "webbridge3 enable")
    assert shapes.SERVICE_FILE_MISSING.format(name=f["fullchain"]) in out.splitlines()
    assert out.splitlines()[-1] == "FAILURE: webbridge3 configuration not complete"


def test_a_node_that_is_down_serves_no_tls(lab: SimLab) -> None:
    port = port_of(lab, "cms2", "webadmin")
    lab.ctl(faults={"cms2": {"down": True}})
    assert refused(port)
    assert lab.status()["nodes"]["cms2"]["services"] == {}
    lab.ctl(faults={"cms2": {"down": False}})
    assert not refused(port)


# ---- persistence --------------------------------------------------------------------------------------------
def test_service_configuration_and_ports_survive_a_restart_of_the_simulator(lab: SimLab) -> None:
    lab.run("cms1", "webadmin listen a 444")
    lab.run("cms1", "turn credentials operator S3cret! example.test")
    lab.run("cms1", "webbridge3 disable")
    ports = dict(lab.hosts["cms1"]["cms_tls_ports"])
    before = {svc: lab.run("cms1", svc) for svc in ("webadmin", "callbridge", "webbridge3", "turn")}
    lab.restart()
    assert dict(lab.hosts["cms1"]["cms_tls_ports"]) == ports
    assert {svc: lab.run("cms1", svc) for svc in before} == before
    assert "TLS listening port      : 444" in before["webadmin"]
    assert "Password                : S3cret!" in before["turn"]
    assert refused(ports["webbridge3"]) and refused(ports["webbridge3-c2w"])
    assert not refused(ports["webadmin"])
    assert set(lab.status()["nodes"]["cms1"]["services"]) == {"webadmin", "callbridge", "turn"}


# ---- CMS 2.x ------------------------------------------------------------------------------------------------
def test_a_2x_node_has_webbridge_and_xmpp_and_no_webbridge3(make_lab: Any) -> None:
    lab = make_lab(cms_version="2")
    assert lab.run("cms1", "webbridge3") == shapes.UNKNOWN_COMMAND.format(line="webbridge3") + "\n"
    webbridge = {k.rstrip(): v for k, v in (line.split(" : ", 1) for line in lab.run("cms1", "webbridge").splitlines())}
    assert webbridge["Enabled"] == "true" and webbridge["Listening interfaces and ports"] == "a:443"
    xmpp = lab.run("cms1", "xmpp")
    assert re.search(r"^Domain +: lab\.cms\.example$", xmpp, re.M)
    assert set(lab.status()["nodes"]["cms1"]["services"]) == set(ALL_2X)
    cert = files_of(lab, "cms1")["cert"]
    assert _fp(tls.fetch_leaf(port_of(lab, "cms1", "xmpp"))) == leaf_fingerprint(lab, "cms1", cert)
    # The 2.x certificate carries the XMPP domain (S2); the 2.x sequences work: disable, certs, enable.
    assert "lab.cms.example" in x509.san_values(x509.load_certs((lab.files_dir("cms1") / cert).read_bytes())[0])
    shell = lab.shell("cms1")
    try:
        assert shell.run("xmpp disable") == ""
        assert shell.run("xmpp domain chat.example") == ""
        assert shell.run("xmpp enable").splitlines()[-1] == "SUCCESS: xmpp enabled"
        assert shell.run("webbridge trust " + cert) == ""
        assert shell.run("callbridge trust c2w " + cert) == shapes.SERVICE_USAGES["callbridge"] + "\n"
    finally:
        shell.close()


def test_a_3x_node_does_not_know_the_2x_services(lab: SimLab) -> None:
    assert lab.run("cms1", "xmpp") == shapes.UNKNOWN_COMMAND.format(line="xmpp") + "\n"
    assert lab.run("cms1", "webbridge enable") == shapes.UNKNOWN_COMMAND.format(line="webbridge enable") + "\n"


# ---- seeding and the in-process API -------------------------------------------------------------------------
def test_seeded_files_follow_the_bundle_rules_and_the_ca_keys_stay_off_the_nodes(lab: SimLab) -> None:
    f = files_of(lab, "cms1")
    store = lab.files_dir("cms1")
    bundle = (store / f["bundle"]).read_bytes()
    fullchain = (store / f["fullchain"]).read_bytes()
    assert bundle.endswith(b"-----END CERTIFICATE-----\n")  # exactly one trailing newline (S2)
    assert fullchain.endswith(b"-----END CERTIFICATE-----\n")
    chain = x509.load_certs(fullchain)
    assert [x509.rfc4514(c.subject) for c in chain] == [
        "CN=cms1.lab.cms.example",
        "CN=Lab Corporate Issuing CA 1",
        "CN=Lab Corporate Root CA",
    ]
    assert [x509.fingerprint(c) for c in x509.load_certs(bundle)] == [x509.fingerprint(c) for c in chain[1:]]
    leaf = chain[0]
    left = leaf.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=19) < left <= dt.timedelta(days=20)  # the default lab's service_cert_days
    ca_keys = {(lab.dir / "seed-ca" / name).read_bytes() for name in ("root.key", "intermediate.key")}
    for node in ("cms1", "cms2", "cms3"):
        for path in lab.files_dir(node).iterdir():
            assert path.read_bytes() not in ca_keys, path


def test_refresh_listeners_follows_a_restored_state_in_process(tmp_path: Path) -> None:
    lab = core.create_lab(tmp_path / "lab", core.normalize_spec(None))
    for hook in core.START_HOOKS:
        hook(lab)
    try:
        node = lab.nodes["cms1"]
        ports = services.tls_ports(node)
        assert services.tls_endpoints(node) == ports
        saved = copy.deepcopy(node.state)
        console = core.BufferConsole()
        lab.execute(node, "webbridge3 disable", console)
        assert "webbridge3" not in services.tls_endpoints(node) and refused(ports["webbridge3"])
        node.state = saved  # what `backup rollback` does before it calls refresh_listeners()
        services.refresh_listeners(node)
        assert not refused(ports["webbridge3"]) and not refused(ports["webbridge3-c2w"])
    finally:
        for hook in core.STOP_HOOKS:
            hook(lab)
    assert refused(ports["webadmin"])  # every socket closed by the stop hook
