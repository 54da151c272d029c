"""cms_service_certs against the simulator over real SSH, run through ansible-playbook as users run it.

What each test proves is read from the node itself: its service configuration (state.json), its file store, its
event log (commands, uploads, ``service_state`` windows) and what its TLS listeners serve.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.cmssim import pki, x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import Run
from tests.integration.helpers.service_certs import (
    UP,
    UTC,
    TestCA,
    config,
    events_since,
    failed,
    file_fingerprint,
    fqdn,
    ok,
    outage_windows,
    play,
    port,
    seeded_names,
    served,
    service_commands_since,
    snapshot,
)
from tests.integration.test_lock import lock_on


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "ca")


# ---- applying: every service, idempotence, outage ----------------------------------------------------------------
def test_every_3x_service_gets_its_new_certificate_with_a_measured_outage_then_a_second_run_changes_nothing(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    # A bundle as Windows tools write it: CRLF line ends and blank lines at the end.
    crlf_bundle = ca.write("bundle-crlf.cer", ca.bundle.read_bytes().replace(b"\n", b"\r\n") + b"\r\n\r\n")
    before_files = snapshot(lab, "cms1")
    old_fp = file_fingerprint(lab, "cms1", "cms1-2025.cer")
    tasks = [
        {
            "service": service,
            "key_src": str(leaf.key),
            "cert_src": str(leaf.cert),
            "bundle_src": str(crlf_bundle),
            "names": [fqdn("cms1")] + (["join.lab.cms.example"] if service == "webbridge3" else []),
            "tls_port": port(lab, "cms1", service),
        }
        for service in ("webadmin", "callbridge", "webbridge3", "turn")
    ]
    start = time.time()
    first = playbook(lab, play(tasks))
    assert first.rc == 0, first.stdout[-3000:]

    webadmin, callbridge, webbridge3, turn = (ok(first, "cms1", f"t{i}") for i in range(4))
    assert webadmin["commands"] == [
        "webadmin disable",
        "webadmin certs cms1-2027.key cms1-2027.cer bundle-crlf.cer",
        "webadmin enable",
    ]
    assert callbridge["commands"] == [
        "callbridge certs cms1-2027.key cms1-2027.cer bundle-crlf.cer",
        "callbridge restart",
    ]
    # webbridge3 takes a full chain: the module built it from the certificate and the bundle.
    assert webbridge3["commands"] == [
        "webbridge3 disable",
        "webbridge3 https certs cms1-2027.key cms1-2027-fullchain.cer",
        "webbridge3 enable",
    ]
    assert turn["commands"] == ["turn disable", "turn certs cms1-2027.key cms1-2027.cer bundle-crlf.cer", "turn enable"]

    # The node runs the new files, serves the new leaf on every endpoint, and kept every old file as it was.
    assert {k: config(lab, "cms1", "webadmin")[k] for k in ("key", "cert", "bundle")} == {
        "key": "cms1-2027.key",
        "cert": "cms1-2027.cer",
        "bundle": "bundle-crlf.cer",
    }
    assert config(lab, "cms1", "webbridge3")["https_cert"] == "cms1-2027-fullchain.cer"
    for endpoint in ("webadmin", "callbridge", "webbridge3", "turn"):
        assert served(lab, "cms1", endpoint) == leaf.fingerprint
    assert served(lab, "cms1", "webbridge3-c2w") == old_fp  # the C2W side was not asked for
    after_files = snapshot(lab, "cms1")
    assert {name: after_files[name] for name in before_files} == before_files

    # The uploaded bundle is laid out as CMS wants it: LF only, exactly one trailing newline.
    uploaded = after_files["bundle-crlf.cer"]
    assert b"\r" not in uploaded and uploaded.endswith(b"-----\n") and not uploaded.endswith(b"\n\n")
    assert [x509.fingerprint(c) for c in x509.load_certs(uploaded)] == [
        x509.fingerprint(c) for c in (ca.issuing, ca.root)
    ]
    assert webadmin["uploads"][2]["normalized"] is True
    fullchain = after_files["cms1-2027-fullchain.cer"]
    assert [x509.fingerprint(c) for c in x509.load_certs(fullchain)] == [
        leaf.fingerprint,
        x509.fingerprint(ca.issuing),
        x509.fingerprint(ca.root),
    ]

    # Validation ran on the node too, before the service went down.
    assert [c["command"] for c in webadmin["checks"]] == [
        "pki match cms1-2027.key cms1-2027.cer",
        "pki verify cms1-2027.cer bundle-crlf.cer",
    ]
    commands = [e["command"] for e in events_since(lab, "cms1", start, "command")]
    assert commands.index("pki verify cms1-2027.cer bundle-crlf.cer") < commands.index("webadmin disable")

    # The outage the module measured is the window the node logged (plus the SSH round trips around it).
    for service, result in (
        ("webadmin", webadmin),
        ("callbridge", callbridge),
        ("webbridge3", webbridge3),
        ("turn", turn),
    ):
        (window,) = outage_windows(lab, "cms1", service, start)
        assert window <= result["outage_seconds"] <= window + 1.0, (service, window, result["outage_seconds"])
    assert [e["state"] for e in events_since(lab, "cms1", start, "service_state") if e["service"] == "callbridge"] == [
        "restarting",
        "running",
    ]
    assert webadmin["after"]["not_after"][:4] == str(dt.datetime.now(UTC).year + 1)
    assert webadmin["before"]["cert"] == "cms1-2025.cer"

    second_start = time.time()
    second = playbook(lab, play(tasks))
    assert second.rc == 0
    for i in range(4):
        result = ok(second, "cms1", f"t{i}")
        assert result["changed"] is False and result["commands"] == [] and result["uploads"] == []
        assert result["outage_seconds"] == 0
    assert service_commands_since(lab, "cms1", second_start) == []
    assert events_since(lab, "cms1", second_start, "service_state") == []
    assert events_since(lab, "cms1", second_start, "sftp_put") == []


def test_every_2x_service_including_webbridge_and_xmpp_gets_its_new_certificate(
    make_lab: Callable[..., SimLab], ca: TestCA, playbook: Callable[..., Run]
) -> None:
    lab = make_lab(nodes=1, cms_version="2")
    start = time.time()
    leaf = ca.leaf("cms1-2027", [*seeded_names("cms1"), "lab.cms.example"])
    services = ("webadmin", "callbridge", "webbridge", "xmpp", "turn")
    tasks = [
        {
            "service": service,
            "key_src": str(leaf.key),
            "cert_src": str(leaf.cert),
            "bundle_src": str(ca.bundle),
            "names": [fqdn("cms1"), "lab.cms.example"],
            "tls_port": port(lab, "cms1", service),
        }
        for service in services
    ] + [{"service": "webbridge3", "key": "cms1-2027.key", "cert": "cms1-2027.cer", "bundle": "ca-bundle-test.cer"}]
    run = playbook(lab, play(tasks))
    for i, service in enumerate(services):
        result = ok(run, "cms1", f"t{i}")
        assert result["cms_major"] == 2 and result["changed"] is True
        assert result["commands"][-1] in (f"{service} enable", f"{service} restart")
        assert config(lab, "cms1", service)["cert"] == "cms1-2027.cer"
        assert served(lab, "cms1", service) == leaf.fingerprint, service
        assert result["tls"]["after"]["main"]["matches"] is True
    wb = ok(run, "cms1", "t2")
    assert wb["commands"] == [
        "webbridge disable",
        "webbridge certs cms1-2027.key cms1-2027.cer ca-bundle-test.cer",
        "webbridge enable",
    ]
    # webbridge3 does not exist on 2.x: refused by name, before anything is touched.
    refused = failed(run, "cms1", "t5")
    assert "service webbridge3 does not exist on CMS 2.x" in refused["msg"]
    # Each of the 6 calls pays one "unknown command", webbridge3, which tells the release; every 2.x status answers.
    reads = status_reads_since(lab, "cms1", start)
    assert reads.pop("webbridge3") == ["unknown"] * 6
    assert sorted(reads) == sorted(services)
    assert all(len(results) >= 6 and set(results) == {"ok"} for results in reads.values())


def status_reads_since(lab: SimLab, node: str, since: float) -> dict[str, list[str]]:
    """Per service, the results of the bare status commands (``webadmin``, ``xmpp``...) the node answered."""
    reads: dict[str, list[str]] = {}
    for event in events_since(lab, node, since, "command_done"):
        if len(event["command"].split()) == 1:
            reads.setdefault(event["command"], []).append(event["result"])
    return reads


def test_a_3x_node_is_never_asked_for_the_2x_services(lab: SimLab, playbook: Callable[..., Run]) -> None:
    start = time.time()
    files = {"key": "cms1-2025.key", "cert": "cms1-2025.cer", "bundle": "ca-bundle-2025.cer"}
    run = playbook(lab, play([{"service": "webadmin", **files}, {"service": "turn", **files, "state": "validated"}]))
    assert ok(run, "cms1", "t0")["cms_major"] == 3
    reads = status_reads_since(lab, "cms1", start)
    assert set(reads) == {"webadmin", "callbridge", "webbridge3", "turn"}  # no webbridge, no xmpp
    assert all(result == "ok" for results in reads.values() for result in results)


def test_xmpp_and_webbridge_are_refused_on_a_3x_node_without_touching_it(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    start = time.time()
    files = {"key": "cms1-2025.key", "cert": "cms1-2025.cer", "bundle": "ca-bundle-2025.cer"}
    run = playbook(lab, play([{"service": "xmpp", **files}, {"service": "webbridge", **files}]))
    assert "service xmpp does not exist on CMS 3.x: CMS 3.0 removed XMPP" in failed(run, "cms1", "t0")["msg"]
    assert "service webbridge does not exist on CMS 3.x" in failed(run, "cms1", "t1")["msg"]
    assert "use webbridge3" in failed(run, "cms1", "t1")["msg"]
    assert service_commands_since(lab, "cms1", start) == []


# ---- content versus names --------------------------------------------------------------------------------------
def test_the_same_content_under_other_names_is_no_change(lab: SimLab, playbook: Callable[..., Run]) -> None:
    files = lab.files_dir("cms1")
    with lab.sftp("cms1") as sftp:
        for old, new in (
            ("cms1-2025.key", "copy.key"),
            ("cms1-2025.cer", "copy.cer"),
            ("ca-bundle-2025.cer", "copy-bundle.cer"),
        ):
            with sftp.open(new, "wb") as fh:
                fh.write((files / old).read_bytes())
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {
                    "service": "turn",
                    "key": "copy.key",
                    "cert": "copy.cer",
                    "bundle": "copy-bundle.cer",
                    "names": [fqdn("cms1")],
                    "tls_port": port(lab, "cms1", "turn"),
                }
            ]
        ),
    )
    result = ok(run, "cms1", "t0")
    assert result["changed"] is False and result["commands"] == []
    assert "already runs this certificate from cms1-2025.key, cms1-2025.cer, ca-bundle-2025.cer" in result["notes"][0]
    assert config(lab, "cms1", "turn")["cert"] == "cms1-2025.cer"
    assert service_commands_since(lab, "cms1", start) == []


def test_new_content_under_a_name_in_use_is_refused_when_named_and_moved_aside_when_not(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    leaf = ca.leaf("renewed", seeded_names("cms1"))
    # The renewed certificate's file on the controller has the very name the node's services use.
    same_name = tmp_path / "src" / "cms1-2025.cer"
    same_name.parent.mkdir()
    shutil.copy(leaf.cert, same_name)
    old = snapshot(lab, "cms1")
    common = {
        "service": "webadmin",
        "key_src": str(leaf.key),
        "bundle_src": str(ca.bundle),
        "tls_port": port(lab, "cms1", "webadmin"),
    }
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {**common, "cert_src": str(leaf.cert), "cert": "cms1-2025.cer"},
                {**common, "cert_src": str(same_name)},
            ]
        ),
    )

    refused = failed(run, "cms1", "t0")
    assert "cms1-2025.cer is in use by webadmin cert, callbridge cert, turn cert" in refused["msg"]
    assert "never overwrites a file in use" in refused["msg"] and "webadmin was not touched" in refused["msg"]

    moved = ok(run, "cms1", "t1")
    new_name = moved["after"]["cert"]
    assert new_name.startswith("cms1-2025-") and new_name.endswith(".cer") and new_name != "cms1-2025.cer"
    assert moved["uploads"][1]["moved_from"] == "cms1-2025.cer"
    assert config(lab, "cms1", "webadmin")["cert"] == new_name
    assert served(lab, "cms1", "webadmin") == leaf.fingerprint
    # The file in use kept its content; callbridge and turn still run on it.
    assert (lab.files_dir("cms1") / "cms1-2025.cer").read_bytes() == old["cms1-2025.cer"]
    assert served(lab, "cms1", "callbridge") == file_fingerprint(lab, "cms1", "cms1-2025.cer")
    # Only the second task touched webadmin.
    assert service_commands_since(lab, "cms1", start)[0] == "webadmin disable"

    again = playbook(lab, play([{**common, "cert_src": str(same_name)}]))
    assert ok(again, "cms1", "t0")["changed"] is False


class StaleService:
    """A TLS endpoint that behaves as the real MMP services do: it serves the key and certificate files it read when
    the service last started, and re-reads them only when the node logs the service enabled again."""

    def __init__(self, lab: SimLab, node: str, service: str, key: str, cert: str, bundle: str) -> None:
        self.lab, self.node, self.service = lab, node, service
        self.names = (key, cert, bundle)
        self.since = time.time()
        self.context = self._load()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _load(self) -> ssl.SSLContext:
        files = self.lab.files_dir(self.node)
        with tempfile.TemporaryDirectory() as tmp:
            chain, key = Path(tmp) / "chain.pem", Path(tmp) / "key.pem"
            chain.write_bytes((files / self.names[1]).read_bytes() + (files / self.names[2]).read_bytes())
            key.write_bytes((files / self.names[0]).read_bytes())
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(chain, key)
        return context

    def _reload_if_restarted(self) -> None:
        restarted = [
            e
            for e in events_since(self.lab, self.node, self.since, "service_state")
            if e["service"] == self.service and e["state"] in UP
        ]
        if restarted:
            self.since = restarted[-1]["ts"] + 1e-6
            self.context = self._load()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            # The node logs the restart before its prompt returns, so a client connecting after it sees the reload.
            self._reload_if_restarted()
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.settimeout(1)
                    tls_conn.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_files_renewed_under_the_same_names_get_a_reload_when_the_service_still_serves_the_old_certificate(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    names = {"key": "cms1-2025.key", "cert": "cms1-2025.cer", "bundle": "ca-bundle-2025.cer"}
    # The real webadmin serves what it loaded at enable; the simulator re-reads files at once, so a stand-in does.
    stale = StaleService(lab, "cms1", "webadmin", names["key"], names["cert"], names["bundle"])
    try:
        old_fp = file_fingerprint(lab, "cms1", names["cert"])
        # The TechNote's renewal: the CA re-issues a certificate for the same key, uploaded under the same name.
        key = serialization.load_pem_private_key((lab.files_dir("cms1") / names["key"]).read_bytes(), None)
        csr = x509.make_csr(key, {"CN": fqdn("cms1")}, [fqdn("cms1")])  # type: ignore[arg-type]
        renewed = pki.issue_from_csr(
            lab.dir, csr.public_bytes(serialization.Encoding.PEM), dt.datetime.now(UTC), days=400
        )
        with lab.sftp("cms1") as sftp, sftp.open(names["cert"], "wb") as fh:
            fh.write(renewed)
        new_fp = x509.fingerprint(x509.load_certs(renewed)[0])
        assert new_fp != old_fp
        start = time.time()
        run = playbook(lab, play([{"service": "webadmin", **names, "tls_port": stale.port}]))
        result = ok(run, "cms1", "t0")
        assert result["changed"] is True and result["reloaded"] is True
        # Same files, so no certs command: the TechNote's "only a restart is needed".
        assert result["commands"] == ["webadmin restart"]
        assert service_commands_since(lab, "cms1", start) == ["webadmin restart"]
        assert result["tls"]["before"]["fingerprint_sha256"] == old_fp
        assert result["tls"]["after"]["main"]["fingerprint_sha256"] == new_fp
        again = playbook(lab, play([{"service": "webadmin", **names, "tls_port": stale.port}]))
        assert ok(again, "cms1", "t0")["changed"] is False
    finally:
        stale.close()


# ---- validation: each failure leaves the service untouched ------------------------------------------------------
def test_each_validation_failure_is_reported_and_leaves_the_service_untouched(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    now = dt.datetime.now(UTC)
    good = ca.leaf("good", seeded_names("cms1"))
    other_key = ca.leaf("other", seeded_names("cms1"))
    expired = ca.leaf(
        "expired", seeded_names("cms1"), days=1, now=now - dt.timedelta(days=10), not_before=now - dt.timedelta(days=20)
    )
    future = ca.leaf("future", seeded_names("cms1"), days=365, not_before=now + dt.timedelta(days=5))
    wrong_san = ca.leaf("wrongsan", ["somewhere.else.example"])
    foreign = TestCA(tmp_path / "foreign", name="Foreign")
    reversed_bundle = ca.write("reversed.cer", x509.cert_pem(ca.root) + x509.cert_pem(ca.issuing))
    root_only = ca.write("root-only.cer", x509.cert_pem(ca.root))
    encrypted = ca.write(
        "encrypted.key",
        x509.load_key(good.key.read_bytes()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        ),
    )
    # A bundle on the node with two newlines at its end (the TechNote wants exactly one).
    with lab.sftp("cms1") as sftp, sftp.open("sloppy-bundle.cer", "wb") as fh:
        fh.write(ca.bundle.read_bytes() + b"\n")
    with lab.sftp("cms1") as sftp:
        for local in (good.key, good.cert):
            sftp.put(str(local), local.name)
    base = {"service": "webadmin", "names": [fqdn("cms1")], "tls_port": port(lab, "cms1", "webadmin")}
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"key_src": str(other_key.key), "cert_src": str(good.cert), "bundle_src": str(ca.bundle)},
            "does not match certificate good.cer",
        ),
        ({"key_src": str(expired.key), "cert_src": str(expired.cert), "bundle_src": str(ca.bundle)}, "expired on"),
        (
            {"key_src": str(future.key), "cert_src": str(future.cert), "bundle_src": str(ca.bundle)},
            "is not valid before",
        ),
        (
            {"key_src": str(wrong_san.key), "cert_src": str(wrong_san.cert), "bundle_src": str(ca.bundle)},
            "does not cover cms1.lab.cms.example",
        ),
        (
            {"key_src": str(good.key), "cert_src": str(good.cert), "bundle_src": str(reversed_bundle)},
            "certificate 2 'CN=Test Root CA' is not the issuer of certificate 1",
        ),
        (
            {"key_src": str(good.key), "cert_src": str(good.cert), "bundle_src": str(foreign.bundle)},
            "'CN=Test Issuing CA', is not in the file",
        ),
        (
            {"key_src": str(good.key), "cert_src": str(good.cert), "bundle_src": str(root_only)},
            "'CN=Test Issuing CA', is not in the file",
        ),
        ({"key_src": str(good.key), "cert_src": str(good.cert)}, "give bundle/bundle_src with the intermediates"),
        (
            {"key_src": str(encrypted), "cert_src": str(good.cert), "bundle_src": str(ca.bundle)},
            "encrypted private keys are not supported by CMS",
        ),
        (
            {"key": "good.key", "cert": "good.cer", "bundle": "missing-bundle.cer"},
            "missing-bundle.cer is not on the node",
        ),
        ({"key": "good.key", "cert": "good.cer", "bundle": "sloppy-bundle.cer"}, "it ends with 2 newlines"),
        (
            {"key_src": str(good.key), "cert_src": str(tmp_path / "nowhere.cer"), "bundle_src": str(ca.bundle)},
            "cert_src " + str(tmp_path / "nowhere.cer") + " cannot be read on the controller",
        ),
        # The TLS endpoint: unreachable, or serving another node's certificate.
        (
            {
                "key_src": str(good.key),
                "cert_src": str(good.cert),
                "bundle_src": str(ca.bundle),
                "tls_port": _free_port(),
            },
            "cannot be reached from the controller",
        ),
        (
            {
                "key_src": str(good.key),
                "cert_src": str(good.cert),
                "bundle_src": str(ca.bundle),
                "tls_port": port(lab, "cms2", "webadmin"),
            },
            "tls_host/tls_port point at something else",
        ),
    ]
    before_config = config(lab, "cms1", "webadmin")
    before_fp = served(lab, "cms1", "webadmin")
    start = time.time()
    run = playbook(lab, play([{**base, **args} for args, _ in cases]))
    for i, (_args, message) in enumerate(cases):
        result = failed(run, "cms1", f"t{i}")
        assert message in result["msg"], (i, result["msg"])
        assert result.get("commands") in (None, []), i
    # Every failure came before the service was touched: no disable, certs or enable ever reached the node.
    assert service_commands_since(lab, "cms1", start) == []
    assert events_since(lab, "cms1", start, "service_state") == []
    assert config(lab, "cms1", "webadmin") == before_config
    assert served(lab, "cms1", "webadmin") == before_fp
    # All problems of one request are reported together.
    many = playbook(lab, play([{**base, **cases[3][0], "bundle_src": str(reversed_bundle)}]))
    msg = failed(many, "cms1", "t0")["msg"]
    assert "does not cover" in msg and "is not the issuer of" in msg and "webadmin was not touched" in msg


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_key_on_the_node_that_does_not_belong_to_the_certificate_is_refused(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    # Node files only: cms2's key next to cms1's certificate.
    with lab.sftp("cms1") as sftp, sftp.open("cms2.key", "wb") as fh:
        fh.write((lab.files_dir("cms2") / "cms2-2025.key").read_bytes())
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {
                    "service": "turn",
                    "key": "cms2.key",
                    "cert": "cms1-2025.cer",
                    "bundle": "ca-bundle-2025.cer",
                    "tls_port": port(lab, "cms1", "turn"),
                }
            ]
        ),
    )
    assert "key cms2.key does not match certificate cms1-2025.cer" in failed(run, "cms1", "t0")["msg"]
    assert service_commands_since(lab, "cms1", start) == []


# ---- failures once the service is down: rollback -----------------------------------------------------------------
def test_a_dropped_connection_after_disable_ends_with_the_service_enabled_on_its_old_certificate(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    old = {k: config(lab, "cms1", "webadmin")[k] for k in ("key", "cert", "bundle")}
    old_fp = served(lab, "cms1", "webadmin")
    lab.ctl(
        faults={
            "cms1": {"drop_after_command": "webadmin disable"},
            "cms2": {"drop_after_command": "webbridge3 https certs"},
        }
    )
    args = {"key_src": str(leaf.key), "cert_src": str(leaf.cert), "bundle_src": str(ca.bundle)}
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {"service": "webadmin", **args, "tls_port": port(lab, "cms1", "webadmin")},
            ]
        ),
    )
    result = failed(run, "cms1", "t0")
    assert result["rolled_back"] is True
    assert "the connection to cms1 dropped while running webadmin disable" in result["msg"]
    assert (
        "the old certificate is back in place (key cms1-2025.key, cert cms1-2025.cer, bundle ca-bundle-2025.cer)"
        in (result["msg"])
    )
    assert {k: config(lab, "cms1", "webadmin")[k] for k in old} == old
    assert config(lab, "cms1", "webadmin")["enabled"] is True
    assert served(lab, "cms1", "webadmin") == old_fp
    assert service_commands_since(lab, "cms1", start) == ["webadmin disable", "webadmin enable"]
    (window,) = outage_windows(lab, "cms1", "webadmin", start)
    assert window <= result["outage_seconds"] <= window + 2.0

    # On cms2 the connection drops after the new files were configured: the rollback configures the old ones again.
    leaf2 = ca.leaf("cms2-2027", seeded_names("cms2"))
    start2 = time.time()
    run2 = playbook(
        lab,
        play(
            [
                {
                    "service": "webbridge3",
                    "key_src": str(leaf2.key),
                    "cert_src": str(leaf2.cert),
                    "bundle_src": str(ca.bundle),
                    "tls_port": port(lab, "cms2", "webbridge3"),
                }
            ],
            hosts="cms2",
        ),
    )
    result2 = failed(run2, "cms2", "t0")
    assert result2["rolled_back"] is True and "the old certificate is back in place" in result2["msg"]
    assert service_commands_since(lab, "cms2", start2) == [
        "webbridge3 disable",
        "webbridge3 https certs cms2-2027.key cms2-2027-fullchain.cer",
        "webbridge3 https certs cms2-2025.key cms2-2025-fullchain.cer",
        "webbridge3 enable",
    ]
    assert config(lab, "cms2", "webbridge3")["https_cert"] == "cms2-2025-fullchain.cer"
    assert served(lab, "cms2", "webbridge3") == file_fingerprint(lab, "cms2", "cms2-2025-fullchain.cer")


def test_the_tls_check_catches_a_service_that_serves_another_certificate_and_rolls_back(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    old_fp = served(lab, "cms1", "webadmin")
    # The check looks at the Call Bridge's endpoint, which serves webadmin's current certificate before the change
    # and keeps serving it after: to the check, a webadmin that did not pick up its new certificate.
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {
                    "service": "webadmin",
                    "key_src": str(leaf.key),
                    "cert_src": str(leaf.cert),
                    "bundle_src": str(ca.bundle),
                    "tls_port": port(lab, "cms1", "callbridge"),
                    "tls_timeout": 3,
                }
            ]
        ),
    )
    result = failed(run, "cms1", "t0")
    assert (
        "the TLS check failed" in result["msg"] and f"not cms1-2027.cer (SHA-256 {leaf.fingerprint})" in result["msg"]
    )
    assert "the old certificate is back in place" in result["msg"] and result["rolled_back"] is True
    assert service_commands_since(lab, "cms1", start) == [
        "webadmin disable",
        "webadmin certs cms1-2027.key cms1-2027.cer ca-bundle-test.cer",
        "webadmin enable",
        "webadmin disable",
        "webadmin certs cms1-2025.key cms1-2025.cer ca-bundle-2025.cer",
        "webadmin enable",
    ]
    assert config(lab, "cms1", "webadmin")["cert"] == "cms1-2025.cer"
    assert served(lab, "cms1", "webadmin") == old_fp
    windows = outage_windows(lab, "cms1", "webadmin", start)
    assert len(windows) == 2
    assert sum(windows) <= result["outage_seconds"] <= sum(windows) + 2.0
    # The new files stay on the node for another try; the old ones are untouched.
    assert (lab.files_dir("cms1") / "cms1-2027.cer").exists()


def test_a_failed_enable_is_rolled_back(lab: SimLab, ca: TestCA, playbook: Callable[..., Run]) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    lab.ctl(
        faults={"cms1": {"fail_command": {"match": "turn enable", "output": "FAILURE: TURN server failed to start"}}}
    )
    run = playbook(
        lab,
        play(
            [
                {
                    "service": "turn",
                    "key_src": str(leaf.key),
                    "cert_src": str(leaf.cert),
                    "bundle_src": str(ca.bundle),
                    "tls_port": port(lab, "cms1", "turn"),
                }
            ]
        ),
    )
    result = failed(run, "cms1", "t0")
    assert "turn enable reported a failure: TURN server failed to start" in result["msg"]
    assert result["rolled_back"] is True
    assert config(lab, "cms1", "turn")["cert"] == "cms1-2025.cer" and config(lab, "cms1", "turn")["enabled"] is True
    assert served(lab, "cms1", "turn") == file_fingerprint(lab, "cms1", "cms1-2025.cer")


# ---- check mode, diff, validated -----------------------------------------------------------------------------------
def test_check_mode_with_diff_shows_the_plan_and_old_to_new_without_touching_the_node(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    before = snapshot(lab, "cms1")
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {
                    "service": "webadmin",
                    "key_src": str(leaf.key),
                    "cert_src": str(leaf.cert),
                    "bundle_src": str(ca.bundle),
                    "names": [fqdn("cms1")],
                    "tls_port": port(lab, "cms1", "webadmin"),
                }
            ]
        ),
        check=True,
        diff=True,
    )
    result = ok(run, "cms1", "t0")
    assert result["changed"] is True
    plan = ["webadmin disable", "webadmin certs cms1-2027.key cms1-2027.cer ca-bundle-test.cer", "webadmin enable"]
    assert result["commands"] == plan
    diff = result["diff"]
    assert diff["before"]["main"]["cert"] == "cms1-2025.cer"
    assert diff["after"]["main"]["cert"] == "cms1-2027.cer" and diff["after"]["main"]["key"] == "cms1-2027.key"
    assert diff["after"]["main"]["fingerprint_sha256"] == leaf.fingerprint
    assert diff["before"]["main"]["fingerprint_sha256"] == file_fingerprint(lab, "cms1", "cms1-2025.cer")
    assert diff["after"]["main"]["subject"] == "CN=cms1.lab.cms.example"
    assert diff["after"]["main"]["san"] == seeded_names("cms1")
    assert diff["before"]["main"]["not_after"] < diff["after"]["main"]["not_after"]
    assert diff["after"]["commands"] == plan
    assert [u["uploaded"] for u in result["uploads"]] == [False, False, False]
    assert snapshot(lab, "cms1") == before
    assert service_commands_since(lab, "cms1", start) == []
    assert events_since(lab, "cms1", start, "sftp_put") == []


def test_state_validated_uploads_and_checks_but_never_touches_the_service(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    start = time.time()
    args = {
        "service": "callbridge",
        "key_src": str(leaf.key),
        "cert_src": str(leaf.cert),
        "bundle_src": str(ca.bundle),
        "state": "validated",
        "tls_port": port(lab, "cms1", "callbridge"),
    }
    run = playbook(lab, play([args, args]))
    first, second = ok(run, "cms1", "t0"), ok(run, "cms1", "t1")
    assert first["changed"] is True and [u["name"] for u in first["uploads"]] == [
        "cms1-2027.key",
        "cms1-2027.cer",
        "ca-bundle-test.cer",
    ]
    assert [(c["command"], c["ok"]) for c in first["checks"]] == [
        ("pki match cms1-2027.key cms1-2027.cer", True),
        ("pki verify cms1-2027.cer ca-bundle-test.cer", True),
    ]
    assert second["changed"] is False and second["uploads"] == []
    assert first["commands"] == [] and service_commands_since(lab, "cms1", start) == []
    assert config(lab, "cms1", "callbridge")["cert"] == "cms1-2025.cer"


# ---- webbridge3's C2W side ---------------------------------------------------------------------------------------
def test_webbridge3_c2w_certificate_and_trust_bundle(lab: SimLab, ca: TestCA, playbook: Callable[..., Run]) -> None:
    https = ca.leaf("wb-https", seeded_names("cms1"))
    c2w = ca.leaf("wb-c2w", seeded_names("cms1"))
    fullchain = ca.write("wb-c2w-fullchain.cer", c2w.cert.read_bytes() + ca.bundle.read_bytes())
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {
                    "service": "webbridge3",
                    "key_src": str(https.key),
                    "cert_src": str(https.cert),
                    "bundle_src": str(ca.bundle),
                    "c2w_key_src": str(c2w.key),
                    "c2w_cert_src": str(fullchain),
                    "c2w_trust_src": str(ca.bundle),
                    "names": [fqdn("cms1")],
                    "tls_port": port(lab, "cms1", "webbridge3"),
                    "c2w_tls_port": port(lab, "cms1", "webbridge3-c2w"),
                },
                {
                    "service": "webadmin",
                    "key": "cms1-2025.key",
                    "cert": "cms1-2025.cer",
                    "c2w_key": "x.key",
                    "c2w_cert": "x.cer",
                },
            ]
        ),
    )
    result = ok(run, "cms1", "t0")
    assert result["commands"] == [
        "webbridge3 disable",
        "webbridge3 https certs wb-https.key wb-https-fullchain.cer",
        "webbridge3 c2w certs wb-c2w.key wb-c2w-fullchain.cer",
        "webbridge3 c2w trust ca-bundle-test.cer",
        "webbridge3 enable",
    ]
    assert served(lab, "cms1", "webbridge3") == https.fingerprint
    assert served(lab, "cms1", "webbridge3-c2w") == c2w.fingerprint
    assert config(lab, "cms1", "webbridge3")["c2w_trust"] == "ca-bundle-test.cer"
    assert result["c2w_trust"] == {"before": "ca-bundle-2025.cer", "after": "ca-bundle-test.cer", "changed": True}
    assert result["tls"]["after"]["c2w"]["matches"] is True
    assert "c2w_key applies to webbridge3 only" in failed(run, "cms1", "t1")["msg"]
    assert len(outage_windows(lab, "cms1", "webbridge3", start)) == 1


# ---- the Call Bridge's C2W trust store (callbridge trust c2w) ----------------------------------------------------
CALLBRIDGE_NOW = {"key": "cms1-2025.key", "cert": "cms1-2025.cer", "bundle": "ca-bundle-2025.cer"}


def test_callbridge_learns_new_c2w_trust_with_one_restart_and_keeps_it(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    wb = ca.leaf("cms1-c2w-2027", seeded_names("cms1"))
    fullchain = ca.write("cms1-c2w-2027-fullchain.cer", wb.cert.read_bytes() + ca.bundle.read_bytes())
    task = {
        **CALLBRIDGE_NOW,
        "service": "callbridge",
        "c2w_trust_src": str(fullchain),
        "tls_port": port(lab, "cms1", "callbridge"),
    }
    start = time.time()
    run = playbook(lab, play([task, task]))
    first, second = ok(run, "cms1", "t0"), ok(run, "cms1", "t1")
    # Only the trust store changes: the certificates stay, the Call Bridge restarts once to read it.
    assert first["changed"] is True
    assert first["commands"] == ["callbridge trust c2w cms1-c2w-2027-fullchain.cer", "callbridge restart"]
    assert first["c2w_trust"] == {
        "before": "cms1-2025-fullchain.cer",
        "after": "cms1-c2w-2027-fullchain.cer",
        "changed": True,
    }
    assert config(lab, "cms1", "callbridge")["c2w_trust"] == "cms1-c2w-2027-fullchain.cer"
    assert config(lab, "cms1", "callbridge")["cert"] == "cms1-2025.cer"
    assert second["changed"] is False and second["commands"] == []
    assert service_commands_since(lab, "cms1", start) == [
        "callbridge trust c2w cms1-c2w-2027-fullchain.cer",
        "callbridge restart",
    ]
    assert (lab.files_dir("cms1") / "cms1-2025-fullchain.cer").exists()  # the old trust file stays


def test_callbridge_certificate_and_c2w_trust_change_in_one_restart_and_roll_back_together(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    fullchain = ca.write("cms1-2027-fullchain.cer", leaf.cert.read_bytes() + ca.bundle.read_bytes())
    task = {
        "service": "callbridge",
        "key_src": str(leaf.key),
        "cert_src": str(leaf.cert),
        "bundle_src": str(ca.bundle),
        "c2w_trust_src": str(fullchain),
        "tls_port": port(lab, "cms1", "callbridge"),
    }
    lab.ctl(faults={"cms1": {"fail_command": {"match": "callbridge restart", "output": "FAILURE: restart failed"}}})
    run = playbook(lab, play([task]))
    result = failed(run, "cms1", "t0")
    assert result["rolled_back"] is True
    assert result["commands"][:3] == [
        "callbridge certs cms1-2027.key cms1-2027.cer ca-bundle-test.cer",
        "callbridge trust c2w cms1-2027-fullchain.cer",
        "callbridge restart",
    ]
    after_rollback = config(lab, "cms1", "callbridge")
    assert (after_rollback["cert"], after_rollback["c2w_trust"]) == ("cms1-2025.cer", "cms1-2025-fullchain.cer")

    run = playbook(lab, play([task]))  # the fault is spent: the same task now goes through
    result = ok(run, "cms1", "t0")
    assert result["commands"] == [
        "callbridge certs cms1-2027.key cms1-2027.cer ca-bundle-test.cer",
        "callbridge trust c2w cms1-2027-fullchain.cer",
        "callbridge restart",
    ]
    assert served(lab, "cms1", "callbridge") == leaf.fingerprint
    assert config(lab, "cms1", "callbridge")["c2w_trust"] == "cms1-2027-fullchain.cer"


def test_c2w_options_are_refused_where_the_service_has_no_such_side(lab: SimLab, playbook: Callable[..., Run]) -> None:
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {**CALLBRIDGE_NOW, "service": "callbridge", "c2w_key": "x.key", "c2w_cert": "x.cer"},
                {**CALLBRIDGE_NOW, "service": "webadmin", "c2w_trust": "ca-bundle-2025.cer"},
                {
                    "service": "webbridge3",
                    "key": "cms1-2025.key",
                    "cert": "cms1-2025-fullchain.cer",
                    "c2w_key": "a.key",
                },
            ]
        ),
    )
    assert "c2w_key applies to webbridge3 only" in failed(run, "cms1", "t0")["msg"]
    assert "c2w_trust applies to webbridge3 and callbridge only" in failed(run, "cms1", "t1")["msg"]
    assert "c2w_key and c2w_cert go together" in failed(run, "cms1", "t2")["msg"]
    assert service_commands_since(lab, "cms1", start) == []


def test_callbridge_c2w_trust_is_refused_on_a_2x_node(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Run]
) -> None:
    lab = make_lab(nodes=1, cms_version="2")
    start = time.time()
    run = playbook(lab, play([{**CALLBRIDGE_NOW, "service": "callbridge", "c2w_trust": "ca-bundle-2025.cer"}]))
    msg = failed(run, "cms1", "t0")["msg"]
    assert "`callbridge trust c2w`, which exists on CMS 3.x only" in msg and "leave c2w_trust out" in msg
    assert service_commands_since(lab, "cms1", start) == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")
def test_openssl_s_client_sees_the_new_certificate_after_the_module_ran(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    run = playbook(
        lab,
        play(
            [
                {
                    "service": "turn",
                    "key_src": str(leaf.key),
                    "cert_src": str(leaf.cert),
                    "bundle_src": str(ca.bundle),
                    "tls_port": port(lab, "cms1", "turn"),
                }
            ]
        ),
    )
    ok(run, "cms1", "t0")
    root = ca.write("root.cer", x509.cert_pem(ca.root))
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port(lab, 'cms1', 'turn')}", "-CAfile", str(root)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert "Verify return code: 0 (ok)" in proc.stdout
    assert x509.fingerprint(x509.load_certs(proc.stdout.encode())[0]) == leaf.fingerprint


# ---- several services in one call (option services) ---------------------------------------------------------------
def _entries(lab: SimLab, leaf: Any, ca: TestCA, services: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "service": service,
            "key_src": str(leaf.key),
            "cert_src": str(leaf.cert),
            "bundle_src": str(ca.bundle),
            "names": ["join.lab.cms.example"] if service == "webbridge3" else [],
            "tls_port": port(lab, "cms1", service),
        }
        for service in services
    ]


def test_services_in_one_call_change_each_on_one_login_and_a_rerun_is_in_place_with_the_lock_released(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    services = ("webadmin", "callbridge", "webbridge3", "turn")
    args = {"services": _entries(lab, leaf, ca, services), "names": [fqdn("cms1")], "run_id": "run-42"}
    start = time.time()
    first = playbook(lab, play([{**args, "release_lock": "end"}]))
    result = ok(first, "cms1", "t0")
    assert [r["service"] for r in result["services"]] == list(services)
    assert all(r["changed"] for r in result["services"]) and result["changed"] is True
    assert result["services"][0]["commands"] == [
        "webadmin disable",
        "webadmin certs cms1-2027.key cms1-2027.cer ca-bundle-test.cer",
        "webadmin enable",
    ]
    assert result["commands"] == [c for r in result["services"] for c in r["commands"]]
    assert result["outage_seconds"] == pytest.approx(sum(r["outage_seconds"] for r in result["services"]), abs=0.01)
    for endpoint in services:
        assert served(lab, "cms1", endpoint) == leaf.fingerprint
    # One SSH login for the whole call; the shared files were uploaded once, each service's swap after its checks.
    assert len(events_since(lab, "cms1", start, "connection_opened")) == 1
    puts = [e["file"] for e in events_since(lab, "cms1", start, "sftp_put") if "lock" not in e["file"]]
    assert len(puts) == len(set(puts)), puts
    assert result["lock"] == {"run_id": "run-42", "taken": True, "released": True}
    assert lock_on(lab, "cms1") is None

    # The preflight of a node in place: validated, the run's lock taken and released because nothing is to change.
    again = time.time()
    second = playbook(
        lab, play([{**args, "state": "validated", "release_lock": "if_unchanged", "validate_on_node": False}])
    )
    result = ok(second, "cms1", "t0")
    assert result["in_place"] is True and result["changed"] is False
    assert all(r["in_place"] for r in result["services"])
    assert result["lock"]["released"] is True and lock_on(lab, "cms1") is None
    assert len(events_since(lab, "cms1", again, "connection_opened")) == 1
    assert service_commands_since(lab, "cms1", again) == []
    locks = [e for e in events_since(lab, "cms1", again, "sftp_put") if "lock" in e["file"]]
    assert locks, "the preflight did not take the run's lock"


def test_a_preflight_of_several_services_reports_every_failure_and_keeps_the_lock_when_a_change_is_due(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    entries = _entries(lab, leaf, ca, ("webadmin", "turn", "callbridge"))
    entries[0]["names"] = ["elsewhere.example.com"]  # not in the SAN
    entries[1]["names"] = ["other.example.com"]
    start = time.time()
    run = playbook(
        lab,
        play([{"services": entries, "state": "validated", "run_id": "run-7", "release_lock": "if_unchanged"}]),
    )
    result = failed(run, "cms1", "t0")
    assert "2 services failed their checks" in result["msg"]
    webadmin, turn, callbridge = result["services"]
    assert webadmin["failed"] and "elsewhere.example.com" in webadmin["msg"]
    assert turn["failed"] and "other.example.com" in turn["msg"]
    assert not callbridge.get("failed") and callbridge["in_place"] is False
    # A change is due: the run keeps the node's lock for its rollout.
    holder = lock_on(lab, "cms1")
    assert holder is not None and holder["run_id"] == "run-7"
    assert service_commands_since(lab, "cms1", start) == []


def test_a_failure_stops_the_call_after_its_rollback_and_later_services_are_not_reached(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    lab.ctl(faults={"cms1": {"fail_command": {"match": "webadmin enable", "output": "FAILURE: webadmin failed"}}})
    start = time.time()
    run = playbook(lab, play([{"services": _entries(lab, leaf, ca, ("turn", "webadmin", "callbridge"))}]))
    result = failed(run, "cms1", "t0")
    turn, webadmin, callbridge = result["services"]
    assert turn["changed"] and not turn.get("failed")
    assert webadmin["failed"] and webadmin["rolled_back"] is True
    assert callbridge["reached"] is False and callbridge["commands"] == []
    assert "callbridge" not in " ".join(service_commands_since(lab, "cms1", start))
    assert served(lab, "cms1", "turn") == leaf.fingerprint and served(lab, "cms1", "webadmin") != leaf.fingerprint
    assert lock_on(lab, "cms1") is None  # the call's own lock, released


def test_services_is_refused_with_a_per_service_option_or_a_repeated_service_before_login(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    entries = _entries(lab, leaf, ca, ("turn",))
    start = time.time()
    run = playbook(
        lab,
        play(
            [
                {"services": entries, "key": "x.key"},
                {"services": entries + entries},
                {"services": entries, "release_lock": "end"},
                {"service": "turn", "cert": "x.cer"},
            ]
        ),
    )
    assert "mutually exclusive" in failed(run, "cms1", "t0")["msg"]
    assert "services entry 2 repeats turn" in failed(run, "cms1", "t1")["msg"]
    assert "give run_id" in failed(run, "cms1", "t2")["msg"]
    assert "one of the following is required: key, key_src" in failed(run, "cms1", "t3")["msg"]
    assert events_since(lab, "cms1", start, "connection_opened") == []
