"""The copy-paste examples of docs/service_certs.md and docs/db_cluster.md, run as a user runs them, against
simulated labs; and every relative link of README.md and docs/*.md.

Each tested block of a guide follows a marker ``<!-- example: NAME (...) -->``; the test takes the block from the
guide itself, so an example that stops working fails here. The commands run from a directory laid out like the
guides assume: the collection's ``inventory/`` and ``playbooks/``, the lab in ``lab/``, the user's files next to them
(relative controller paths in the examples are relative to where ``ansible-playbook`` runs). Labs that stand in for
the guides' example sites (``cms1.example.com``, primary ``10.0.0.11``) are simulated labs with that domain and
those addresses, so the examples run unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shlex
import shutil
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509 as cx509

from tests.cmssim import tls, x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import BIN, REPO_ROOT, Run, ansible_env, parse_json_callback
from tests.integration.helpers.db_cluster import FAST, STATUS, cluster_ca, commands, make_db_pki, mark
from tests.integration.helpers.service_certs import TestCA

DOCS = REPO_ROOT / "docs"
SERVICE_DOC = DOCS / "service_certs.md"
DB_DOC = DOCS / "db_cluster.md"
# Every marked block of the two guides, and so every block this file runs or checks.
TESTED = {
    SERVICE_DOC: {"demo-commands", "lab-group-vars", "openssl-check", "summary", "one-service", "layouts"},
    DB_DOC: {"lab-commands", "summary", "own-ca", "info", "leave-and-rejoin", "backup"},
}
MARKED_BLOCK = re.compile(
    r"^<!-- example: (?P<name>[a-z0-9-]+)\b[^\n]*-->\n```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.M | re.S
)
ANY_BLOCK = re.compile(r"^```(?P<lang>\w*)\n.*?^```$", re.M | re.S)
# The certificate lines of `database cluster status`, by the roles' keys (server_key ... ca_cert).
CERT_LABELS = {
    "server_key": "Server Key",
    "server_cert": "Server Certificate",
    "client_key": "Client Key",
    "client_cert": "Client Certificate",
    "ca_cert": "CA Certificate",
}
# Short transitions: the examples' outcome does not depend on how long a node takes, only the test's duration does.
TIMINGS = {**FAST, "service_transition": 0.05}
SERVICE_LAYOUT_SERVICES = ("webadmin", "callbridge")
# The example site of the guides' module examples: cms1.example.com ..., the database primary at 10.0.0.11.
EXAMPLE_SITE: dict[str, Any] = {
    "domain": "example.com",
    "nodes": [{"name": f"cms{i}", "address": f"10.0.0.1{i}"} for i in (1, 2, 3)],
    "timings": TIMINGS,
}


# ---- the guides ----------------------------------------------------------------------------------------------------
def blocks(doc: Path) -> dict[str, str]:
    """Marker name -> the fenced block right after the marker."""
    found: dict[str, str] = {}
    for match in MARKED_BLOCK.finditer(doc.read_text()):
        assert match["name"] not in found, f"{doc.name}: two examples are called {match['name']!r}"
        found[match["name"]] = match["body"]
    return found


def example(doc: Path, name: str) -> str:
    found = blocks(doc)
    assert name in found, f"{doc.name} lost its example {name!r} (<!-- example: {name} ... --> right before a block)"
    return found[name]


def command_lines(doc: Path, name: str, program: str) -> list[list[str]]:
    """The ``program`` command lines of a shell block, as words; an optional ``[...]`` part and comments dropped."""
    lines = [line for line in example(doc, name).splitlines() if line.startswith(program + " ")]
    return [shlex.split(re.sub(r"\s\[[^]]*\]", "", line), comments=True) for line in lines]


def output_pattern(sample: str, variable: dict[str, str]) -> re.Pattern[str]:
    """A regex for one line of sample output: literally the sample, except the ``variable`` parts (literal -> regex:
    dates, serials, digests that differ from run to run)."""
    pattern = re.escape(sample)
    for literal, regex in variable.items():
        pattern = pattern.replace(re.escape(literal), regex)
    return re.compile(pattern + "$")


# ---- running as a user does --------------------------------------------------------------------------------------
@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The directory the guides' commands run in: the collection's ``inventory/`` and ``playbooks/`` (what a
    checkout has), and the lab, started by a test as ``make_lab(name="lab")``, in ``lab/``."""
    for name in ("inventory", "playbooks"):
        (tmp_path / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
    return tmp_path


def ansible_playbook(site: Path, lab: SimLab, argv: list[str]) -> Run:
    """``ansible-playbook ...`` from ``site`` (the ``playbook`` fixture runs from the repository root, so relative
    controller paths would not be the user's), with the test callback that returns every result."""
    assert argv[0] == "ansible-playbook", argv
    env = ansible_env(
        lab.dir,
        ANSIBLE_STDOUT_CALLBACK="results_json",
        ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).parent / "callback_plugins"),
    )
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), *argv[1:]],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results, stats = parse_json_callback(proc.stdout) if "{" in proc.stdout else ({}, {})
    return Run(proc.returncode, proc.stdout, proc.stderr, results, stats)


def run_tasks(site: Path, lab: SimLab, tasks: str, hosts: str, play_extra: str = "") -> Run:
    """The tasks of a guide, as written, in a play of the user's own playbook next to their files."""
    play = f"- name: Guide example\n  hosts: {hosts}\n  gather_facts: false\n{play_extra}  tasks:\n"
    path = site / "example.yml"
    path.write_text(play + textwrap.indent(tasks, "    "))
    return ansible_playbook(site, lab, ["ansible-playbook", "-i", str(lab.dir / "inventory.yml"), path.name])


def ok(run: Run) -> None:
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.stats, f"the play ran on no host: {run.stderr[-2000:]}"


def messages(run: Run, task: str) -> dict[str, str]:
    """Host -> the ``msg`` of the (role) task called ``task``, as one line."""
    return {
        host: " ".join(str(r["msg"]).split())
        for host, results in run.results.items()
        for r in results
        if r["_task"].split(" : ")[-1] == task and "msg" in r
    }


# ---- reading the nodes -----------------------------------------------------------------------------------------
def fqdn(node: str, domain: str = "lab.cms.example") -> str:
    return f"{node}.{domain}"


def summary_lines(run: Run) -> list[str]:
    """The lines of the service_certs role's summary."""
    for results in run.results.values():
        for result in results:
            if result["_task"].split(" : ")[-1].startswith("Summary |") and isinstance(result.get("msg"), list):
                return list(result["msg"])
    raise AssertionError("no summary was printed")


def served(lab: SimLab, node: str, endpoint: str, cafile: Path | None = None) -> cx509.Certificate:
    """The leaf the endpoint serves, at the port ``lab.status()`` reports; verified up to ``cafile`` when given."""
    port = lab.status()["nodes"][node]["services"][endpoint]["tls_port"]
    return cx509.load_der_x509_certificate(tls.fetch_leaf(port, cafile=cafile))


def cluster_status(lab: SimLab, node: str) -> dict[str, str]:
    """``database cluster status`` of ``node`` as label -> value (Status, Server Key, ..., CA Certificate)."""
    out = lab.run(node, STATUS)
    return {m[1]: m[2] for m in re.finditer(r"^\s*(\S.*?)\s+: (.+)$", out, re.M)}


def assert_cluster_on(lab: SimLab, nodes: tuple[str, ...], files: dict[str, str], addresses: list[str]) -> None:
    """Every node Enabled on ``files``; the primary (the first node) connected, every other one in sync."""
    for node, address in zip(nodes, addresses, strict=True):
        status = cluster_status(lab, node)
        assert status["Status"] == "Enabled", (node, status)
        assert {key: status[label] for key, label in CERT_LABELS.items()} == files, node
        role = "Connected Primary" if node == nodes[0] else "Connected Replica ( In Sync )"
        assert status[f"{address} (me)"] == role, (node, status)
        assert status["Node in use"] == addresses[0]


def node_csr_signed(lab: SimLab, ca: TestCA, node: str, basename: str, names: list[str], dest: Path) -> Path:
    """``pki csr`` on the node (the key stays there), the CSR signed by ``ca``, the certificate written at ``dest``."""
    san = ",".join(names)
    out = lab.run(node, f"pki csr {basename} CN:{names[0]} subjectAltName:{san}")
    assert "ERROR" not in out, out
    with lab.sftp(node) as sftp, sftp.open(f"{basename}.csr") as fh:
        csr = x509.load_csr(fh.read())
    cert = x509.sign_csr(csr, ca.issuing, ca.issuing_key, dt.datetime.now(dt.UTC))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(x509.cert_pem(cert))
    return dest


def bundle_of(ca: TestCA) -> bytes:
    """Intermediates, then the root CA: what the guides' ``bundle_src`` holds."""
    return x509.cert_pem(ca.issuing) + x509.cert_pem(ca.root)


def file_fingerprint(path: Path) -> str:
    return x509.fingerprint(x509.load_certs(path.read_bytes())[0])


# ---- the guides themselves -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("doc", sorted(TESTED), ids=lambda d: d.name)
def test_every_yaml_example_of_the_guide_is_marked_for_a_test_here(doc: Path) -> None:
    text = doc.read_text()
    marked = {m.start("lang") - len("```") for m in MARKED_BLOCK.finditer(text)}
    unmarked = [
        text.count("\n", 0, m.start()) + 1
        for m in ANY_BLOCK.finditer(text)
        if m["lang"] == "yaml" and m.start() not in marked
    ]
    assert not unmarked, f"{doc.name}: the yaml examples on lines {unmarked} are run by no test (mark and test them)"
    assert set(blocks(doc)) == TESTED[doc]
    for match in MARKED_BLOCK.finditer(text):
        if match["lang"] == "yaml":
            yaml.safe_load(match["body"])  # a copy-paste example must at least be YAML


# ---- docs/service_certs.md -----------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")
def test_service_guide_demo_rolls_new_certificates_out_and_a_second_run_changes_nothing(
    make_lab: Callable[..., SimLab], site: Path
) -> None:
    lab = make_lab(nodes=1, lab_file={"timings": TIMINGS}, name="lab")
    # The lab group variables shown are the ones the commands load.
    shown = yaml.safe_load(example(SERVICE_DOC, "lab-group-vars"))
    loaded = yaml.safe_load((REPO_ROOT / "inventory" / "lab" / "group_vars" / "cms.yml").read_text())
    assert shown == loaded
    generate, rollout = command_lines(SERVICE_DOC, "demo-commands", "ansible-playbook")
    assert generate[-1] == "playbooks/generate_csrs.yml" and rollout[-1] == "playbooks/service_certs.yml"
    entries = shown["service_certs_services"]
    # Every TLS endpoint of the node is renewed: each service, and webbridge3's C2W side too.
    services = [s["service"] for s in entries] + [s["service"] + "-c2w" for s in entries if "c2w_key" in s]
    assert sorted(services) == sorted(lab.status()["nodes"]["cms1"]["services"])
    before = {s: x509.fingerprint(served(lab, "cms1", s)) for s in services}

    ok(ansible_playbook(site, lab, generate))
    first = ansible_playbook(site, lab, rollout)
    ok(first)

    signed = file_fingerprint(lab.dir / "pki" / "cms1" / "cms1-renewal.cer")
    root = lab.dir / "pki" / "lab-ca" / "root-ca.cer"
    for service in services:
        leaf = served(lab, "cms1", service, cafile=root)  # the chain verifies up to the lab CA's root
        assert x509.fingerprint(leaf) == signed != before[service], service
    # The trust step put the lab CA beside the seed CA in both ends of the C2W link (callbridge trust c2w, webbridge3
    # c2w trust) before the swaps, so the link never went down and nothing warned of a Call Bridge trusting late.
    state = lab.node_state("cms1")["services"]
    lab_root = x509.fingerprint(x509.load_certs(root.read_bytes())[0])
    for service in ("callbridge", "webbridge3"):
        store = (lab.files_dir("cms1") / state[service]["c2w_trust"]).read_bytes()
        assert lab_root in {x509.fingerprint(c) for c in x509.load_certs(store)}, service
    assert [e for e in lab.events("cms1") if e["event"] == "peer_link_down"] == []
    assert "only from its own swap" not in first.stdout  # the F10 warning of a per-service c2w_trust_src
    # The guide's check by hand, as printed, at every service port: the chain verifies up to the lab's root.
    (openssl,) = [line for line in example(SERVICE_DOC, "openssl-check").splitlines() if line.startswith("openssl")]
    cert = x509.load_certs((lab.dir / "pki" / "cms1" / "cms1-renewal.cer").read_bytes())[0]
    for service in services:
        port = lab.status()["nodes"]["cms1"]["services"][service]["tls_port"]
        proc = subprocess.run(
            ["bash", "-c", openssl.replace("<port>", str(port))],
            cwd=site,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        # OpenSSL 1.1 and 3 print "CN = x"; older ones "CN=x".
        shown = proc.stdout.replace(" = ", "=")
        assert f"subject=CN={fqdn('cms1')}\n" in shown and f"issuer={x509.rfc4514(cert.issuer)}\n" in shown, shown
        assert "verify error" not in proc.stderr and f"depth=0 CN = {fqdn('cms1')}\nverify return:1" in proc.stderr
    # The summary reads as the guide shows it (dates and outage aside).
    shown_lines = summary_lines(first)
    for sample in example(SERVICE_DOC, "summary").splitlines():
        if sample == "...":
            continue
        variable = dict.fromkeys(re.findall(r"\d{4}-\d\d-\d\d", sample), r"\d{4}-\d\d-\d\d")
        variable.update(dict.fromkeys(re.findall(r"outage (\d+\.\d+) s", sample), r"\d+\.\d\d"))
        pattern = output_pattern(sample, variable)
        assert any(pattern.match(line) for line in shown_lines), (sample, shown_lines)

    again = [ansible_playbook(site, lab, generate), ansible_playbook(site, lab, rollout)]
    for run in again:
        ok(run)
        assert run.changed("cms1") == 0, run.stats
    assert x509.fingerprint(served(lab, "cms1", "webadmin")) == signed


def test_service_guide_one_service_task_swaps_the_webadmin_certificate(
    make_lab: Callable[..., SimLab], site: Path
) -> None:
    lab = make_lab(nodes=1, lab_file={**EXAMPLE_SITE, "nodes": EXAMPLE_SITE["nodes"][:1]}, name="lab")
    task = example(SERVICE_DOC, "one-service")
    args = yaml.safe_load(task)[0]["cisco_cms.mmp.cms_service_certs"]
    # What the task expects: the key made on the node by pki csr, the signed certificate and the CA bundle in the
    # user's certs/ directory.
    ca = TestCA(site / "ca")
    # The new certificate keeps every name of the one in use (the lab seeds the join name and the short host name).
    kept = [*args["names"], "join.example.com", "cms1"]
    new = node_csr_signed(lab, ca, "cms1", Path(args["key"]).stem, kept, site / args["cert_src"])
    (site / args["bundle_src"]).write_bytes(bundle_of(ca))
    old = x509.fingerprint(served(lab, "cms1", "webadmin"))
    since = mark(lab, "cms1")["cms1"]
    # The simulated webadmin listens on a loopback port, not on the port its status shows (a real node's).
    port = "  module_defaults:\n    cisco_cms.mmp.cms_service_certs:\n      tls_port: '{{ cms_tls_ports.webadmin }}'\n"

    first = run_tasks(site, lab, task, "cms1", port)
    ok(first)
    result = first.task("cms1", "New webadmin certificate")
    assert result["changed"] is True and result["outage_seconds"] > 0
    leaf = served(lab, "cms1", "webadmin", cafile=site / args["bundle_src"])
    assert x509.fingerprint(leaf) == file_fingerprint(new) != old
    # The TechNote's sequence: disable, certs, enable.
    webadmin = [c.split()[1] for c in commands(lab, "cms1", since) if c.split()[0] == "webadmin" and len(c.split()) > 1]
    assert webadmin == ["disable", "certs", "enable"]

    since = mark(lab, "cms1")["cms1"]
    again = run_tasks(site, lab, task, "cms1", port)
    ok(again)
    assert again.task("cms1", "New webadmin certificate")["changed"] is False
    assert not [c for c in commands(lab, "cms1", since) if c.split()[0] == "webadmin" and len(c.split()) > 1]


def test_service_guide_layouts_per_node_then_one_cluster_certificate(
    make_lab: Callable[..., SimLab], site: Path
) -> None:
    nodes = ("cms1", "cms2")
    lab = make_lab(lab_file={**EXAMPLE_SITE, "nodes": EXAMPLE_SITE["nodes"][:2]}, name="lab")
    texts = example(SERVICE_DOC, "layouts").split("\n\n")
    per_node, cluster, wildcard = (yaml.safe_load(text) for text in texts)
    assert wildcard is None  # only a comment: the cluster layout with another certificate
    ca = TestCA(site / "ca")
    # The user's pki/ directory, as the layouts expect it.
    (site / "pki").mkdir()
    (site / "pki" / "ca-bundle.cer").write_bytes(bundle_of(ca))
    for node in nodes:
        cert_src = per_node["service_certs_defaults"]["cert_src"].replace("{{ inventory_hostname }}", node)
        key = per_node["service_certs_defaults"]["key"].replace("{{ inventory_hostname }}", node)
        # Every name of the certificate in use is kept (the lab seeds the join name and the short host name).
        kept = [f"{node}.example.com", "join.example.com", node]
        node_csr_signed(lab, ca, node, Path(key).stem, kept, site / cert_src)
    cluster_leaf = ca.leaf(
        "cluster-2027", ["cms.example.com", *(f"{n}.example.com" for n in nodes), "join.example.com", *nodes]
    )
    (site / cluster["service_certs_defaults"]["key_src"]).write_bytes(cluster_leaf.key.read_bytes())
    (site / cluster["service_certs_defaults"]["cert_src"]).write_bytes(cluster_leaf.cert.read_bytes())
    # The role in one play, as the guide says; the services of the inventory come with the layout.
    (site / "site.yml").write_text(
        "- name: Service certificates\n  hosts: cms\n  gather_facts: false\n  roles:\n"
        "    - cisco_cms.mmp.service_certs\n"
    )
    services = [{"service": s} for s in SERVICE_LAYOUT_SERVICES]
    group_vars = site / "site-inventory" / "group_vars"
    group_vars.mkdir(parents=True)
    (site / "site-inventory" / "hosts.yml").write_text("all:\n  children:\n    cms:\n")
    command = ["ansible-playbook", "-i", "lab/inventory.yml", "-i", "site-inventory", "site.yml"]

    for text, expected in (
        (texts[0], {n: file_fingerprint(site / "pki" / n / f"{n}-2027.cer") for n in nodes}),
        (texts[1], dict.fromkeys(nodes, cluster_leaf.fingerprint)),
    ):
        (group_vars / "cms.yml").write_text(text + "\n" + yaml.safe_dump({"service_certs_services": services}))
        run = ansible_playbook(site, lab, command)
        ok(run)
        for node in nodes:
            for service in SERVICE_LAYOUT_SERVICES:
                leaf = served(lab, node, service, cafile=site / "pki" / "ca-bundle.cer")
                assert x509.fingerprint(leaf) == expected[node], (node, service)


# ---- docs/db_cluster.md --------------------------------------------------------------------------------------------
def test_db_guide_lab_command_rebuilds_the_cluster_then_has_nothing_to_do(
    make_lab: Callable[..., SimLab], site: Path
) -> None:
    lab = make_lab(lab_file={"timings": TIMINGS}, name="lab")
    nodes, addresses = ("cms1", "cms2", "cms3"), ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
    (command,) = command_lines(DB_DOC, "lab-commands", "ansible-playbook")
    assert command[-1] == "playbooks/db_cluster_certs.yml"
    old = cluster_status(lab, "cms1")["Server Certificate"]

    first = ansible_playbook(site, lab, command)
    ok(first)
    serial = re.fullmatch(r"dbserver-(\d{12})\.crt", cluster_status(lab, "cms1")["Server Certificate"])
    assert serial, cluster_status(lab, "cms1")
    new = {
        "server_key": f"dbserver-{serial[1]}.key",
        "server_cert": f"dbserver-{serial[1]}.crt",
        "client_key": f"dbclient-{serial[1]}.key",
        "client_cert": f"dbclient-{serial[1]}.crt",
        "ca_cert": f"dbca-{serial[1]}.crt",
    }
    assert new["server_cert"] != old
    assert_cluster_on(lab, nodes, new, addresses)
    # The lines the guide shows, serials, dates and digests aside.
    summary = messages(first, "Health | summary per node")
    sample = example(DB_DOC, "summary")
    documented = dict(re.findall(r"^(cms\d): (.*?)(?=^cms\d:|\Z)", sample, re.M | re.S))
    assert set(documented) == {"cms1", "cms2"}
    for node, text in documented.items():
        # The guide wraps the long lines; a wrap after a "/" is inside a path.
        line = f"{node}: " + " ".join(re.sub(r"/\n\s+", "/", text).split())
        variable = dict.fromkeys(re.findall(r"\d{12}", line), r"\d{12}")  # the run's serial
        variable.update(dict.fromkeys(re.findall(r"\d{4}-\d\d-\d\dT[\d:]{8}Z", line), r"\d{4}-\d\d-\d\dT[\d:]{8}Z"))
        variable.update(dict.fromkeys(re.findall(r"sha256 ([0-9a-f]+\.\.\.)", line), "[0-9a-f]{64}"))
        # The work directory is next to the inventory, lab/ here: the summary shows it as an absolute path.
        variable["backup lab/"] = r"backup /\S+/lab/"
        variable["..."] = ".*"  # what the guide leaves out
        assert output_pattern(line, variable).match(summary[node]), (line, summary[node])

    since = mark(lab, *nodes)
    again = ansible_playbook(site, lab, command)
    ok(again)
    assert all(again.changed(n) == 0 for n in nodes), again.stats
    plan = messages(again, "Preflight | show the plan")
    assert plan and all(m.startswith("Nothing to do") for m in plan.values()), plan
    for node in nodes:
        assert "database cluster remove" not in commands(lab, node, since[node])
    assert_cluster_on(lab, nodes, new, addresses)


def test_db_guide_own_ca_certificates_from_the_user_directory(make_lab: Callable[..., SimLab], site: Path) -> None:
    lab = make_lab(lab_file={"timings": TIMINGS}, name="lab")
    nodes, addresses = ("cms1", "cms2", "cms3"), ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
    given = yaml.safe_load(example(DB_DOC, "own-ca"))
    assert given["db_cluster_rebuild_generate"] is False
    paths = given["db_cluster_rebuild_certs_src"]
    # The files the user's CA made, where the example says: CN the primary's FQDN, SAN every database node.
    made = make_db_pki(site / "ca", "cms1.lab.cms.example", [f"{n}.lab.cms.example" for n in nodes])
    for key, path in paths.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(made[key].read_bytes())
    (site / "db-certs.yml").write_text(example(DB_DOC, "own-ca"))
    (command,) = command_lines(DB_DOC, "lab-commands", "ansible-playbook")

    run = ansible_playbook(site, lab, [*command, "-e", "@db-certs.yml"])
    ok(run)
    assert_cluster_on(lab, nodes, {key: Path(path).name for key, path in paths.items()}, addresses)
    for node in nodes:
        assert (lab.files_dir(node) / "dbclient-2026.key").read_bytes() == (site / paths["client_key"]).read_bytes()


def test_db_guide_info_task_tells_where_each_node_stands(lab: SimLab, site: Path) -> None:
    run = run_tasks(site, lab, example(DB_DOC, "info"), "cms")
    ok(run)
    roles = {"cms1": "primary", "cms2": "replica", "cms3": "replica"}
    for node, role in roles.items():
        db = run.task(node, "Where each node stands")
        assert db["state"] == role and db["healthy"] is True
        assert db["primary_address"] == "192.0.2.11"
        assert db["certificates"]["server_cert"] == "dbclusterserver.cer"
        assert db["expired"] == []
        not_after = db["certificate_details"]["server_cert"]["not_after"]
        cert = x509.load_certs((lab.files_dir(node) / "dbclusterserver.cer").read_bytes())[0]
        assert not_after.startswith(cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S")), not_after


def test_db_guide_replica_leaves_and_rejoins_on_new_files(make_lab: Callable[..., SimLab], site: Path) -> None:
    lab = make_lab(lab_file=EXAMPLE_SITE, name="lab")
    tasks = example(DB_DOC, "leave-and-rejoin")
    rejoin = yaml.safe_load(tasks)[1]["cisco_cms.mmp.cms_db_cluster"]
    # New files from the running cluster's CA, in the user's db/ directory.
    made = make_db_pki(site / "ca", "cms1.example.com", rejoin["server_cert_names"], ca=cluster_ca(lab))
    for key in ("server_key", "server_cert", "client_key", "client_cert"):
        (site / rejoin[key + "_src"]).parent.mkdir(parents=True, exist_ok=True)
        (site / rejoin[key + "_src"]).write_bytes(made[key].read_bytes())
    (site / rejoin["ca_cert_src"]).write_bytes((lab.files_dir("cms1") / "dbclusterca.cer").read_bytes())
    since = mark(lab, "cms3")["cms3"]

    run = run_tasks(site, lab, tasks, "cms3")
    ok(run)
    sent = commands(lab, "cms3", since)
    assert sent.index("database cluster remove") < sent.index("database cluster join 10.0.0.11")
    status = cluster_status(lab, "cms3")
    assert status["Status"] == "Enabled" and status["10.0.0.13 (me)"] == "Connected Replica ( In Sync )"
    assert {key: status[label] for key, label in CERT_LABELS.items()} == {
        key: Path(rejoin[key + "_src"]).name for key in CERT_LABELS
    }
    assert cluster_status(lab, "cms1")["10.0.0.13"] == "Connected Replica ( In Sync )"


def test_db_guide_backup_snapshot_is_kept_on_the_controller_and_rolls_back(
    make_lab: Callable[..., SimLab], site: Path
) -> None:
    lab = make_lab(nodes=1, lab_file={"timings": TIMINGS}, name="lab")
    # Each task of the guide in a run of its own: the rollback only when asked for.
    snapshot, rollback = example(DB_DOC, "backup").split("\n\n")

    first = run_tasks(site, lab, snapshot, "cms")
    ok(first)
    backup = first.task("cms1", "Snapshot each node and keep it on the controller")
    copy = site / "backups" / "cms1" / "before-change.bak"
    assert Path(backup["path"]) == copy
    assert copy.read_bytes() == (lab.files_dir("cms1") / "before-change.bak").read_bytes()
    assert backup["size"] == copy.stat().st_size
    assert backup["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    since = mark(lab, "cms1")["cms1"]
    again = run_tasks(site, lab, snapshot, "cms")
    ok(again)
    assert again.changed("cms1") == 0
    assert not [c for c in commands(lab, "cms1", since) if c.startswith("backup snapshot")]

    lab.run("cms1", "pki csr after-backup CN:after.example.com")
    assert (lab.files_dir("cms1") / "after-backup.key").exists()
    back = run_tasks(site, lab, rollback, "cms")
    ok(back)
    assert back.changed("cms1") == 1
    # The node is as it was at the snapshot: the key made after it is gone, after a reboot.
    assert not (lab.files_dir("cms1") / "after-backup.key").exists()
    assert [e for e in lab.events("cms1")[since:] if e["event"] == "reboot"]


# ---- links ---------------------------------------------------------------------------------------------------------
def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a page."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#+\s+(.*?)\s*$", re.sub(ANY_BLOCK, "", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


@pytest.mark.parametrize(
    "page", [REPO_ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: str(p.relative_to(REPO_ROOT))
)
def test_every_relative_link_points_at_an_existing_file(page: Path) -> None:
    # Code is not a link: drop fenced blocks and inline code before looking.
    text = re.sub(r"`[^`\n]*`", "", re.sub(ANY_BLOCK, "", page.read_text()))
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    targets += re.findall(r"^\s*\[[^]]+\]:\s*(\S+)", text, re.M)
    broken = []
    for target in targets:
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in github_anchors(path.read_text()):
            broken.append(f"{target} (no heading #{anchor} in {path.relative_to(REPO_ROOT)})")
    assert not broken, f"{page.relative_to(REPO_ROOT)}: broken links: {broken}"
