"""The fleet certificate report (playbooks/cert_report.yml, role cert_report, module cms_cert_report) on simulated
labs: exact figures in the JSON (checked here against the nodes' own files with cryptography), a Prometheus file
that a strict parser of the text exposition format accepts, and the HTML page as headless Chromium renders it."""

from __future__ import annotations

import datetime
import html.parser
import json
import math
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization

from tests.cmssim import pki as simpki
from tests.cmssim import x509 as simx509
from tests.cmssim.testing import SimLab

PLAYBOOK = "playbooks/cert_report.yml"
REPORT_TASK = "cisco_cms.mmp.cert_report : Report | write the HTML, JSON and Prometheus files on the controller"
UTC = datetime.UTC
# cms1 healthy, cms2 a warning (plus a callbridge certificate about to expire, below), cms3 taken down, cms4 (only
# connects to the database cluster) on an expired certificate; the database cluster certificates are critical.
MIXED_LAB = {
    "nodes": [
        {"name": "cms1", "service_cert_days": 200},
        {"name": "cms2", "service_cert_days": 30},
        {"name": "cms3", "service_cert_days": 100},
        {"name": "cms4", "database": False, "service_cert_days": -5},
    ],
    "cluster": {"cert_days": 10},
}
# Which status fields name the certificate files each service uses (the simulator's state, read independently).
SERVICE_ROLES = {
    "webadmin": ("cert", "bundle"),
    "callbridge": ("cert", "bundle", "c2w_trust"),
    "webbridge3": ("https_cert", "c2w_cert", "c2w_trust"),
    "turn": ("cert", "bundle"),
}
DATABASE_ROLES = ("server_cert", "client_cert", "ca_cert")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,2000",
)


# ------------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------------
def parse_iso(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def days(count: int) -> str:
    return "%d day%s" % (count, "" if count == 1 else "s")


def upload(lab: SimLab, node: str, name: str, data: bytes) -> None:
    with lab.sftp(node) as sftp, sftp.open("/" + name, "wb") as fh:
        fh.write(data)


def issue(lab: SimLab, cn: str, days: float) -> tuple[bytes, bytes]:
    """A key and a certificate signed by the lab's corporate issuing CA, valid ``days`` from now (the lab clock)."""
    key = simx509.new_key()
    csr = simx509.make_csr(key, {"CN": cn}, [cn]).public_bytes(serialization.Encoding.PEM)
    return simx509.key_pem(key), simpki.issue_from_csr(lab.dir, csr, datetime.datetime.now(UTC), days=days)


def first_cert(lab: SimLab, node: str, name: str) -> cx509.Certificate:
    return cx509.load_pem_x509_certificates((lab.files_dir(node) / name).read_bytes())[0]


def fingerprint(cert: cx509.Certificate) -> str:
    return ":".join("%02X" % b for b in cert.fingerprint(hashes.SHA256()))


def san(cert: cx509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(cx509.SubjectAlternativeName).value
    except cx509.ExtensionNotFound:
        return []
    return [str(name.value) for name in ext]


def expected_urgency(cert: cx509.Certificate, now: datetime.datetime, critical: int, warning: int) -> str:
    left = math.floor((cert.not_valid_after_utc - now).total_seconds() / 86400)
    if now > cert.not_valid_after_utc:
        return "expired"
    return "critical" if left <= critical else "warning" if left <= warning else "ok"


def report_paths(lab: SimLab) -> dict[str, Path]:
    out = lab.dir / "cert_report"
    return {"html": out / "cert_report.html", "json": out / "cert_report.json", "prom": out / "cms_certificates.prom"}


def nodes_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for cluster in report["clusters"] for node in cluster["nodes"]}


def run_report(playbook: Callable[..., Any], lab: SimLab, **extra: Any) -> Any:
    extra_vars = {"cert_report_connect_timeout": 3, **extra.pop("extra_vars", {})}
    run = playbook(lab, PLAYBOOK, extra_vars=extra_vars, **extra)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


# ------------------------------------------------------------------------------------------------------------
# A strict reader of the Prometheus text exposition format (0.0.4)
# ------------------------------------------------------------------------------------------------------------
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class PromError(ValueError):
    pass


def _labels(text: str, pos: int, line: str) -> tuple[tuple[tuple[str, str], ...], int]:
    labels: list[tuple[str, str]] = []
    pos += 1  # past "{"
    while True:
        if text.startswith("}", pos):
            return tuple(labels), pos + 1
        name = _LABEL.match(text, pos)
        if not name or not text.startswith('="', name.end()):
            raise PromError('bad label name or missing =" in %r' % line)
        pos, value = name.end() + 2, ""
        while True:
            if pos >= len(text):
                raise PromError("unterminated label value in %r" % line)
            char = text[pos]
            if char == "\\":
                if pos + 1 >= len(text) or text[pos + 1] not in _ESCAPES:
                    raise PromError("bad escape in label value of %r" % line)
                value += _ESCAPES[text[pos + 1]]
                pos += 2
            elif char == '"':
                pos += 1
                break
            elif char == "\n":
                raise PromError("raw newline in a label value")
            else:
                value += char
                pos += 1
        if name.group() in dict(labels):
            raise PromError("label %s twice in %r" % (name.group(), line))
        labels.append((name.group(), value))
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("}", pos):
            raise PromError("expected , or } in %r" % line)


def parse_prometheus(text: str) -> dict[str, dict[str, Any]]:
    """Families by name: ``help``, ``type`` and ``samples`` ({sorted label tuple: value}). Raises on anything the
    format does not allow, and on what a textfile collector rejects: a sample before its TYPE, a family split in two,
    a duplicate series, a missing final newline."""
    if not text.endswith("\n"):
        raise PromError("the file does not end with a newline")
    families: dict[str, dict[str, Any]] = {}
    order: list[str] = []

    def family(name: str) -> dict[str, Any]:
        if name not in families:
            families[name] = {"help": None, "type": None, "samples": {}}
            order.append(name)
        elif order[-1] != name:
            raise PromError("family %s is not contiguous" % name)
        return families[name]

    for line in text[:-1].split("\n"):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            keyword, rest = line[2:6], line[7:]
            name, _, value = rest.partition(" ")
            if not _NAME.fullmatch(name):
                raise PromError("bad metric name in %r" % line)
            fam = family(name)
            if fam["samples"]:
                raise PromError("%s of %s after its samples" % (keyword, name))
            field = keyword.lower()
            if fam[field] is not None:
                raise PromError("second %s for %s" % (keyword, name))
            if keyword == "TYPE" and value not in ("counter", "gauge", "histogram", "summary", "untyped"):
                raise PromError("bad type %r" % value)
            if keyword == "HELP" and re.search(r"\\[^\\n]", value.replace("\\\\", "")):
                raise PromError("bad escape in HELP of %s" % name)
            fam[field] = value
            continue
        if line.startswith("#") or not line.strip():
            continue
        sample = _NAME.match(line)
        if not sample:
            raise PromError("bad sample line %r" % line)
        pos = sample.end()
        labels: tuple[tuple[str, str], ...] = ()
        if line.startswith("{", pos):
            labels, pos = _labels(line, pos, line)
        if not line.startswith(" ", pos):
            raise PromError("no space before the value in %r" % line)
        parts = line[pos + 1 :].split(" ")
        if len(parts) not in (1, 2):
            raise PromError("bad value/timestamp in %r" % line)
        number = float(parts[0])  # ValueError on anything else than a Go float (NaN, +Inf included)
        if len(parts) == 2:
            int(parts[1])
        fam = family(sample.group())
        if fam["type"] is None:
            raise PromError("sample of %s before its TYPE" % sample.group())
        key = tuple(sorted(labels))
        if key in fam["samples"]:
            raise PromError("duplicate series %r" % line)
        fam["samples"][key] = number
    return families


def series(families: dict[str, dict[str, Any]], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return families[name]["samples"] if name in families else {}


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


# ------------------------------------------------------------------------------------------------------------
# Headless Chromium
# ------------------------------------------------------------------------------------------------------------
class _Text(html.parser.HTMLParser):
    """The text a reader sees: no style, script or title, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("style", "script", "title"):
            self._skip += 1
        elif tag in ("div", "p", "li", "tr", "h1", "h2", "h3", "section", "br", "td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        return " ".join("".join(self.parts).split())


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: run scripts/setup.sh (it installs the Debian package chromium)")
    return path


def render(page: Path, work: Path, screenshot: Path) -> str:
    """Open ``page`` in headless Chromium: take a screenshot, and return the rendered page's text."""
    profile = work / "chromium-profile"
    base = [chromium(), *CHROMIUM_FLAGS, "--user-data-dir=%s" % profile]
    env = {**os.environ, "HOME": str(work)}
    shot = subprocess.run(
        [*base, "--screenshot=%s" % screenshot, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    parser = _Text()
    parser.feed(dom.stdout)
    return parser.text()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


# ------------------------------------------------------------------------------------------------------------
# The mixed fleet, one node down
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def mixed_lab(make_lab: Callable[..., SimLab]) -> Iterator[SimLab]:
    lab = make_lab(lab_file=MIXED_LAB)
    # cms2's Call Bridge moves to its own certificate, a week from expiry (an admin's stop-gap renewal).
    key, cert = issue(lab, "cms2.lab.cms.example", days=7)
    upload(lab, "cms2", "cb-short.key", key)
    upload(lab, "cms2", "cb-short.cer", cert)
    lab.run("cms2", "callbridge certs cb-short.key cb-short.cer ca-bundle-%d.cer" % bundle_year(lab, "cms2"))
    lab.run("cms2", "callbridge restart", answer="Y")
    # A spare certificate no service uses, on cms1: listed, never counted, never exported.
    upload(lab, "cms1", "spare.cer", issue(lab, "spare.lab.cms.example", days=3)[1])
    lab.ctl(faults={"cms3": {"down": True}})
    yield lab


def bundle_year(lab: SimLab, node: str) -> int:
    return int(next(p.name for p in lab.files_dir(node).iterdir() if p.name.startswith("ca-bundle-"))[10:14])


def test_report_of_a_mixed_fleet_with_a_node_down(
    playbook: Callable[..., Any], mixed_lab: SimLab, tmp_path: Path
) -> None:
    lab = mixed_lab
    run = run_report(playbook, lab)
    paths = report_paths(lab)
    report = json.loads(paths["json"].read_text())
    assert report["schema"] == "cisco_cms.mmp.cert_report" and report["schema_version"] == 1
    assert report["thresholds"] == {"critical_days": 14, "warning_days": 45, "timeline_days": 365}
    now = parse_iso(report["generated_at"])
    nodes = nodes_of(report)
    assert list(nodes) == ["cms1", "cms2", "cms3", "cms4"]
    assert [c["name"] for c in report["clusters"]] == ["cms"]

    # The node that is down is reported as such, with nothing else about it; the others are read in full.
    down = nodes["cms3"]
    assert down["status"] == "unreachable"
    assert down["services"] == [] and down["certificates"] == [] and down["database_cluster"] is None
    assert "127.0.0.1:%d" % lab.port("cms3") in down["errors"][0]
    assert [nodes[n]["status"] for n in ("cms1", "cms2", "cms4")] == ["ok", "ok", "ok"]
    assert report["summary"]["unreachable"] == ["cms3"] and report["summary"]["reachable"] == 3

    # Every certificate file of every node read: exactly what the node's own files say.
    counts = dict.fromkeys(("expired", "critical", "warning", "ok"), 0)
    for name in ("cms1", "cms2", "cms4"):
        node = nodes[name]
        on_disk = sorted(p.name for p in lab.files_dir(name).iterdir() if b"BEGIN CERTIFICATE" in p.read_bytes())
        assert [c["file"] for c in node["certificates"]] == on_disk
        for entry in node["certificates"]:
            cert = first_cert(lab, name, entry["file"])
            not_after = cert.not_valid_after_utc
            assert entry["not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert entry["not_after_timestamp"] == int(not_after.timestamp())
            assert entry["days_left"] == math.floor((not_after - now).total_seconds() / 86400)
            assert entry["expired"] is (now > not_after)
            assert entry["urgency"] == expected_urgency(cert, now, 14, 45)
            assert entry["fingerprint_sha256"] == fingerprint(cert)
            assert entry["san"] == san(cert)
            assert entry["subject"] == cert.subject.rfc4514_string()  # one CN: both orders agree
            if entry["in_use"]:
                counts[entry["urgency"]] += 1

        # Which service uses which file: as the node's configuration says.
        state = lab.node_state(name)
        services = {s["name"]: s for s in node["services"]}
        for service, roles in SERVICE_ROLES.items():
            config = state["services"][service]
            wanted = {(role, config[role]) for role in roles if config.get(role)}
            assert {(f["role"], f["file"]) for f in services[service]["files"]} == wanted, (name, service)
        db_certs = state["dbcluster"]["certs"]
        assert {(f["role"], f["file"]) for f in services["database_cluster"]["files"]} == {
            (role, db_certs[role]) for role in DATABASE_ROLES if db_certs.get(role)
        }
    assert report["summary"]["certificates"] == counts
    assert counts["expired"] > 0 and counts["critical"] > 0 and counts["warning"] > 0 and counts["ok"] > 0

    # The mix: the Call Bridge of cms2 on its short certificate, cms4 expired, the spare file not in use.
    cms2_cb = next(s for s in nodes["cms2"]["services"] if s["name"] == "callbridge")
    assert cms2_cb["slots"][0]["cert"] == "cb-short.cer" and cms2_cb["urgency"] == "critical"
    short = next(c for c in nodes["cms2"]["certificates"] if c["file"] == "cb-short.cer")
    assert short["days_left"] == 6 and short["used_by"] == [{"service": "callbridge", "role": "cert"}]
    spare = next(c for c in nodes["cms1"]["certificates"] if c["file"] == "spare.cer")
    assert spare["in_use"] is False and spare["used_by"] == [] and spare["urgency"] == "critical"
    unused = {(n, c["file"]) for n in ("cms1", "cms2", "cms4") for c in nodes[n]["certificates"] if not c["in_use"]}
    # cms4 only connects to the database cluster: the server certificate every node was given is not its to use.
    assert unused == {("cms1", "spare.cer"), ("cms4", "dbclusterserver.cer")}
    assert report["summary"]["unused_certificates"] == 2
    assert nodes["cms4"]["urgency"] == "expired" and nodes["cms1"]["urgency"] == "critical"  # its DB certificates

    # Key and chain health, from pki match / pki verify of exactly the files each service uses.
    for name in ("cms1", "cms2"):
        for service in nodes[name]["services"]:
            for slot in service["slots"]:
                assert slot["key_matches"] is True and slot["chain_verified"] is True, (name, service["name"], slot)
    webadmin4 = next(s for s in nodes["cms4"]["services"] if s["name"] == "webadmin")
    assert webadmin4["slots"][0]["key_matches"] is True
    assert webadmin4["slots"][0]["chain_verified"] is False and "expired" in webadmin4["slots"][0]["chain_reason"]
    assert any("webadmin: cms4-" in p and "does not verify" in p for p in nodes["cms4"]["problems"])
    assert nodes["cms1"]["problems"] == [] and nodes["cms2"]["problems"] == []

    # The database cluster: each node's view, and the cluster judged from all of them.
    assert nodes["cms1"]["database_cluster"]["state"] == "primary"
    assert nodes["cms4"]["database_cluster"]["state"] == "client"
    database = report["clusters"][0]["database"]
    assert database["enabled"] is True and database["primary"] == "cms1"
    assert database["healthy"] is False and "the primary sees cms3 disconnected" in database["problems"]
    assert report["summary"]["database_clusters"] == {"healthy": [], "unhealthy": ["cms"], "unknown": []}

    # The timeline: every certificate in use within a year, soonest first, across the fleet.
    timeline = report["timeline"]
    assert {(e["node"], e["file"]) for e in timeline} == {
        (n, c["file"])
        for n in ("cms1", "cms2", "cms4")
        for c in nodes[n]["certificates"]
        if c["in_use"] and c["days_left"] <= 365
    }
    assert [e["not_after"] for e in timeline] == sorted(e["not_after"] for e in timeline)
    assert timeline[0]["urgency"] == "expired" and timeline[0]["node"] == "cms4"
    assert report["summary"]["next_expiry"]["file"] == "cb-short.cer"

    # The module returns the same document; the play says what it wrote.
    result = run.task("cms1", REPORT_TASK)
    assert result["changed"] is True and result["report"] == report
    assert set(result["files"]) == {"html", "json", "prometheus"}

    # --- Prometheus: a strict parser accepts it, and it says the same as the JSON ---------------------------
    families = parse_prometheus(paths["prom"].read_text())
    expiry = series(families, "cms_certificate_expiry_timestamp_seconds")
    assert families["cms_certificate_expiry_timestamp_seconds"]["type"] == "gauge"
    wanted_expiry = {}
    for name in ("cms1", "cms2", "cms4"):
        certs = {c["file"]: c for c in nodes[name]["certificates"]}
        for service in nodes[name]["services"]:
            for use in service["files"]:
                key = labels(node=name, service=service["name"], file=use["file"])
                wanted_expiry[key] = float(certs[use["file"]]["not_after_timestamp"])
    assert expiry == wanted_expiry
    assert not any(dict(k)["node"] == "cms3" for k in expiry)
    assert not any(dict(k)["file"] == "spare.cer" for k in expiry)
    reachable = series(families, "cms_cert_report_node_reachable")
    assert reachable == {labels(cluster="cms", node=n): float(n != "cms3") for n in ("cms1", "cms2", "cms3", "cms4")}
    healthy = series(families, "cms_database_cluster_healthy")
    assert healthy == {labels(node=n): float(nodes[n]["database_cluster"]["healthy"]) for n in ("cms1", "cms2", "cms4")}
    chain = series(families, "cms_certificate_chain_ok")
    assert chain[labels(node="cms4", service="webadmin", file=webadmin4["slots"][0]["cert"])] == 0.0
    assert chain[labels(node="cms2", service="callbridge", file="cb-short.cer")] == 1.0
    generated = series(families, "cms_cert_report_generated_timestamp_seconds")
    assert generated == {(): float(int(now.timestamp()))}

    # --- HTML: self-contained, and what Chromium renders says it all ---------------------------------------
    page = paths["html"].read_text()
    assert "<script" not in page and "<link" not in page and not re.search(r"\b(src|href)\s*=", page)
    assert "url(" not in page and "@import" not in page
    screenshot = tmp_path / "cert_report.png"
    text = render(paths["html"], tmp_path, screenshot)
    assert png_size(screenshot) == (1400, 2000)
    assert screenshot.stat().st_size > 50_000  # a blank page compresses to a few kB
    assert "CMS certificate report" in text
    assert "3 / 4 nodes reachable" in text
    assert "cms3 could not be reached" in text and "UNREACHABLE" in text
    assert "database cluster NOT healthy" in text and "the primary sees cms3 disconnected" in text
    assert "Upcoming expiries (next 365 days)" in text
    expired_file = webadmin4["slots"][0]["cert"]
    assert "cms4 %s (webadmin, callbridge, turn): expired 5 days ago" % expired_file in text
    assert "cms2 cb-short.cer (callbridge): expires in 6 days" in text
    assert "does not verify" in text and "matches" in text
    for name in ("cms1", "cms2", "cms4"):
        for cert in nodes[name]["certificates"]:
            if cert["in_use"] and not cert["expired"]:
                assert "%s %s" % (cert["not_after"].replace("T", " ")[:16], days(cert["days_left"])) in text
    assert "1 other certificate file on the node, used by no service" in text and "spare.cer" in text


# ------------------------------------------------------------------------------------------------------------
# Idempotency, check mode, variables
# ------------------------------------------------------------------------------------------------------------
def mtimes(paths: dict[str, Path]) -> dict[str, int]:
    return {kind: path.stat().st_mtime_ns for kind, path in paths.items()}


def test_the_files_change_only_when_the_report_does(playbook: Callable[..., Any], lab: SimLab) -> None:
    paths = report_paths(lab)
    first = run_report(playbook, lab)
    assert first.task("cms1", REPORT_TASK)["changed"] is True
    written = mtimes(paths)
    contents = {kind: path.read_text() for kind, path in paths.items()}

    # Same fleet, same day: nothing is rewritten, the play reports no change, the files keep their time.
    second = run_report(playbook, lab)
    result = second.task("cms1", REPORT_TASK)
    assert result["changed"] is False
    assert {k: v["changed"] for k, v in result["files"].items()} == {"html": False, "json": False, "prometheus": False}
    assert mtimes(paths) == written
    assert {kind: path.read_text() for kind, path in paths.items()} == contents
    assert sum(second.changed(host) for host in ("cms1", "cms2", "cms3")) == 0

    # force rewrites them all, with a new generation time.
    forced = run_report(playbook, lab, extra_vars={"cert_report_force": True})
    assert forced.task("cms1", REPORT_TASK)["changed"] is True
    assert json.loads(paths["json"].read_text())["generated_at"] >= json.loads(contents["json"])["generated_at"]

    # Something real changes (a node goes down): every file says so.
    lab.ctl(faults={"cms2": {"down": True}})
    changed = run_report(playbook, lab)
    assert {k: v["changed"] for k, v in changed.task("cms1", REPORT_TASK)["files"].items()} == {
        "html": True,
        "json": True,
        "prometheus": True,
    }
    assert 'cms_cert_report_node_reachable{cluster="cms",node="cms2"} 0' in paths["prom"].read_text()


def test_check_mode_writes_nothing_and_variables_choose_nodes_thresholds_and_files(
    playbook: Callable[..., Any], lab: SimLab, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    extra = {
        "cert_report_nodes": ["cms1", "cms2"],
        "cert_report_critical_days": 25,
        "cert_report_warning_days": 60,
        "cert_report_timeline_days": 15,
        "cert_report_title": 'Lab <certificates> & "friends"',
        "cert_report_html_path": str(out / "index.html"),
        "cert_report_json_path": str(out / "report.json"),
        "cert_report_prometheus_path": "",
    }
    check = run_report(playbook, lab, check=True, extra_vars=extra)
    result = check.task("cms1", REPORT_TASK)
    assert result["changed"] is True and not out.exists()
    # cms3 is not in cert_report_nodes: not read at all.
    assert not [e for e in lab.events("cms3") if e["event"] == "command"]
    assert [n["name"] for n in result["report"]["clusters"][0]["nodes"]] == ["cms1", "cms2"]
    # With critical at 25 days, the service certificates (about 20 days left) are critical, and the timeline
    # (15 days) keeps only the database cluster certificates (about 10 days).
    counts = result["report"]["summary"]["certificates"]
    assert counts["warning"] == 0 and counts["critical"] > 0
    assert {e["file"] for e in result["report"]["timeline"]} == {"dbclusterserver.cer", "dbclusterclient.cer"}

    run = run_report(playbook, lab, extra_vars=extra)
    assert run.task("cms1", REPORT_TASK)["changed"] is True
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "report.json"]
    page = (out / "index.html").read_text()
    assert "<title>Lab &lt;certificates&gt; &amp; &quot;friends&quot;</title>" in page
    assert json.loads((out / "report.json").read_text())["title"] == 'Lab <certificates> & "friends"'
    assert oct((out / "report.json").stat().st_mode & 0o777) == oct(0o644)


def test_a_bad_threshold_is_refused_before_any_node_is_read(playbook: Callable[..., Any], lab: SimLab) -> None:
    run = playbook(lab, PLAYBOOK, extra_vars={"cert_report_critical_days": 50, "cert_report_warning_days": 20})
    assert run.rc != 0
    assert "cert_report_warning_days must be at least cert_report_critical_days" in run.stdout
    assert not [e for e in lab.events("cms1") if e["event"] == "command"]


# ------------------------------------------------------------------------------------------------------------
# A service left down
# ------------------------------------------------------------------------------------------------------------
def test_a_disabled_service_is_reported_as_a_problem_everywhere(
    playbook: Callable[..., Any], lab: SimLab, tmp_path: Path
) -> None:
    # What an interrupted rollout leaves behind: webadmin disabled on cms2, its files intact.
    lab.run("cms2", "webadmin disable")
    assert lab.node_state("cms2")["services"]["webadmin"]["enabled"] is False
    run_report(playbook, lab)
    paths = report_paths(lab)
    report = json.loads(paths["json"].read_text())
    nodes = nodes_of(report)

    webadmin = next(s for s in nodes["cms2"]["services"] if s["name"] == "webadmin")
    assert webadmin["enabled"] is False and webadmin["running"] is False and webadmin["healthy"] is False
    assert webadmin["slots"][0]["key_matches"] is True and webadmin["slots"][0]["chain_verified"] is True
    problem = "webadmin: disabled, so it serves nothing; enable it (`webadmin enable` on the node)"
    assert problem in nodes["cms2"]["problems"] and webadmin["state_problem"] == problem
    assert report["summary"]["services_down"] == [
        {"node": "cms2", "service": "webadmin", "enabled": False, "running": False, "problem": problem}
    ]
    assert report["summary"]["problems"] >= 1
    for name in ("cms1", "cms3"):
        assert all(s["healthy"] for s in nodes[name]["services"] if s["name"] != "database_cluster"), name

    families = parse_prometheus(paths["prom"].read_text())
    enabled = series(families, "cms_service_enabled")
    assert enabled[labels(node="cms2", service="webadmin")] == 0.0
    assert enabled[labels(node="cms1", service="webadmin")] == 1.0
    assert enabled[labels(node="cms2", service="webbridge3")] == 1.0
    assert not any(dict(k)["service"] in ("callbridge", "database_cluster") for k in enabled)
    running = series(families, "cms_service_running")
    assert running == {labels(node=n, service="webadmin"): float(n != "cms2") for n in ("cms1", "cms2", "cms3")}

    text = render(paths["html"], tmp_path, tmp_path / "cert_report.png")
    assert "1 service disabled or stopped" in text
    # First in what needs attention after unread nodes: the service is down now, the expiries are to come.
    assert "Needs attention cms2 %s" % problem in text
    assert "webadmin (disabled)" in text


# ------------------------------------------------------------------------------------------------------------
# What each service really serves
# ------------------------------------------------------------------------------------------------------------
def test_a_certificate_configured_but_not_served_is_a_problem_and_the_check_can_be_turned_off(
    playbook: Callable[..., Any], lab: SimLab
) -> None:
    from tests.integration.helpers.service_certs import file_fingerprint, port, served

    # What an interrupted rollout leaves behind: cms2's Call Bridge configured with a new certificate, never
    # restarted, so it keeps serving the old one.
    old = lab.node_state("cms2")["services"]["callbridge"]["cert"]
    key, cert = issue(lab, "cms2.lab.cms.example", days=300)
    upload(lab, "cms2", "cb-new.key", key)
    upload(lab, "cms2", "cb-new.cer", cert)
    lab.run("cms2", "callbridge certs cb-new.key cb-new.cer ca-bundle-%d.cer" % bundle_year(lab, "cms2"))
    assert (
        served(lab, "cms2", "callbridge")
        == file_fingerprint(lab, "cms2", old)
        != fingerprint(first_cert(lab, "cms2", "cb-new.cer"))
    )
    # And on cms1 the key file of Web Admin overwritten in place: every service that uses that key stays enabled but
    # completes no handshake.
    state = lab.node_state("cms1")["services"]
    webadmin_key = state["webadmin"]["key"]
    broken = {
        svc for svc in SERVICE_ROLES if webadmin_key in (state[svc].get(k) for k in ("key", "https_key", "c2w_key"))
    }
    assert "webadmin" in broken
    upload(lab, "cms1", webadmin_key, issue(lab, "other.lab.cms.example", days=30)[0])

    run_report(playbook, lab)
    paths = report_paths(lab)
    report = json.loads(paths["json"].read_text())
    nodes = nodes_of(report)
    assert report["tls_checked"] is True
    cb_port, wa_port = port(lab, "cms2", "callbridge"), port(lab, "cms1", "webadmin")
    serves = (
        "callbridge: serves %s on 127.0.0.1:%d, configured cb-new.cer; restart it (`callbridge restart` on the node) "
        "to serve the configured certificate" % (old, cb_port)
    )
    assert serves in nodes["cms2"]["problems"]
    callbridge = next(s for s in nodes["cms2"]["services"] if s["name"] == "callbridge")
    assert callbridge["healthy"] is False and callbridge["tls_problems"] == [serves]
    tls = callbridge["slots"][0]["tls"]
    assert tls["served_file"] == old and tls["configured_file"] == "cb-new.cer" and tls["matches"] is False
    assert tls["fingerprint_sha256"] == served(lab, "cms2", "callbridge")
    # Its files are fine: only the live check sees it.
    assert callbridge["slots"][0]["key_matches"] is True and callbridge["slots"][0]["chain_verified"] is True
    not_serving = next(p for p in nodes["cms1"]["problems"] if p.startswith("webadmin: enabled but not serving TLS"))
    assert "127.0.0.1:%d" % wa_port in not_serving and "restart it (`webadmin restart` on the node)" in not_serving
    assert "tls_check: false" in not_serving
    assert {(d["node"], d["service"]) for d in report["summary"]["tls_problems"]} == {("cms2", "callbridge")} | {
        ("cms1", svc) for svc in broken
    }
    # Every other service serves what it is configured with, checked, not skipped.
    checked = [
        (n, s["name"], slot["tls"]["matches"])
        for n in ("cms1", "cms2", "cms3")
        for s in nodes[n]["services"]
        for slot in s["slots"]
        if s["name"] != "database_cluster"
    ]
    assert {c[:2] for c in checked if c[2] is not True} == {("cms2", "callbridge")} | {("cms1", svc) for svc in broken}
    assert all(c[2] is True for c in checked if c[0] == "cms3")
    assert len(checked) >= 12

    families = parse_prometheus(paths["prom"].read_text())
    serving = series(families, "cms_service_serving_configured_certificate")
    assert serving[labels(node="cms2", service="callbridge", endpoint="callbridge")] == 0.0
    assert serving[labels(node="cms1", service="webadmin", endpoint="webadmin")] == 0.0
    assert serving[labels(node="cms3", service="callbridge", endpoint="callbridge")] == 1.0
    assert serving[labels(node="cms3", service="webbridge3", endpoint="webbridge3-c2w")] == 1.0
    text = _Text()
    text.feed(paths["html"].read_text())
    page = text.text()
    # One per endpoint: webbridge3 has two (https and c2w).
    endpoints = len(report["summary"]["tls_problems"])
    assert endpoints > 1 + len(broken) and "%d TLS endpoints not serving the configured certificate" % endpoints in page
    assert "Needs attention" in page and "cms2 " + serves in page
    assert "callbridge (not serving its configured certificate)" in page

    # Off (a controller that cannot reach the service ports): no TLS verdict at all, and the report says so.
    off = run_report(playbook, lab, extra_vars={"cert_report_tls_check": False})
    report = json.loads(paths["json"].read_text())
    assert report["tls_checked"] is False and report["summary"]["tls_problems"] == []
    assert all(slot["tls"] is None for n in nodes_of(report).values() for s in n["services"] for slot in s["slots"])
    assert "cms_service_serving_configured_certificate" not in paths["prom"].read_text()
    assert "served certificates not checked (tls_check is off)" in off.task("cms1", REPORT_TASK)["summary_lines"]
