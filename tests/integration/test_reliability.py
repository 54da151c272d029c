"""The reliability matrix (docs/reliability.md): the rows no other test file proves.

Each test drives the collection through ansible-playbook against a simulated lab and reads the outcome from the node
itself (its event log, file store and configuration): bad input fails with a clear message and changes nothing,
injected faults end safe, nothing is lost before a destructive step, and no secret reaches the output, the returned
values or the controller's files. Rows already proven elsewhere are listed in docs/reliability.md with their tests.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import stat
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cmssim import x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import BIN, REPO_ROOT, Run, ansible_env
from tests.integration.helpers.db_cluster import (
    DB_FQDNS,
    FAST,
    STATUS,
    changing_events,
    cluster_ca,
    commands,
    make_db_pki,
    mark,
    src_args,
)
from tests.integration.helpers.service_certs import (
    TestCA,
    config,
    failed,
    ok,
    port,
    seeded_names,
    served,
    service_commands_since,
)
from tests.integration.helpers.service_certs import play as service_play

NODES = ("cms1", "cms2", "cms3")
SERVICES = ("webadmin", "callbridge", "webbridge3", "turn")
REBUILD = "playbooks/db_cluster_certs.yml"
LAB_INVENTORY = REPO_ROOT / "inventory" / "lab"


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "ca")


@pytest.fixture
def fast_lab(make_lab: Callable[..., SimLab]) -> SimLab:
    return make_lab(lab_file={"timings": FAST})


def tasks_play(tasks: str, hosts: str = "cms") -> str:
    return f"- hosts: {hosts}\n  gather_facts: false\n  tasks:\n{textwrap.indent(textwrap.dedent(tasks), '    ')}"


def wait_status(lab: SimLab, node: str, wanted: str, timeout: float = 15) -> str:
    """The node's database cluster status once it shows ``wanted`` (transitions finish in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        out = lab.run(node, STATUS)
        if wanted in out:
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"{node}: {wanted!r} not in its status within {timeout}s:\n{out}")
        time.sleep(0.1)


def store(lab: SimLab, node: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in lab.files_dir(node).iterdir() if p.is_file()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mutating(lab: SimLab, node: str, since: int) -> list[str]:
    """Commands since ``since`` that change something on the node (every command but the read-only ones)."""
    read_only = {STATUS, "pki list", "backup list", *SERVICES, "webbridge", "xmpp"}
    return [
        c
        for c in commands(lab, node, since)
        if c not in read_only
        and not c.startswith(("pki match", "pki verify"))
        and not (c.startswith("tls ") and len(c.split()) == 2)  # `tls <name>` prints that store's status
    ]


# =====================================================================================================================
# Bad input: a clear message, and nothing reaches the node
# =====================================================================================================================
def test_bad_input_not_covered_elsewhere_fails_before_connecting(lab: SimLab, playbook: Callable[..., Run]) -> None:
    run = playbook(
        lab,
        tasks_play(
            """
            - name: missing cn
              ignore_errors: true
              cisco_cms.mmp.cms_pki_csr:
                name: webadmin-2027
            - name: san with a semicolon
              ignore_errors: true
              cisco_cms.mmp.cms_pki_csr:
                name: webadmin-2027
                cn: cms1.lab.cms.example
                subject_alt_name: ["cms1.lab.cms.example;webadmin disable"]
            - name: unknown service
              ignore_errors: true
              cisco_cms.mmp.cms_service_certs:
                service: sipedge
                key: cms1-2025.key
                cert: cms1-2025.cer
            - name: primary that is no address
              ignore_errors: true
              cisco_cms.mmp.cms_db_cluster:
                state: joined
                primary: "192.0.2.11; database cluster remove"
            """,
            "cms1",
        ),
    )
    assert run.rc == 0, run.stdout[-3000:]
    expected = {
        "missing cn": "state is present but all of the following are missing: cn",
        "san with a semicolon": "subject_alt_name entry 'cms1.lab.cms.example;webadmin disable' contains a semicolon",
        "unknown service": "value of service must be one of: callbridge, turn, webadmin, webbridge, webbridge3, xmpp",
        "primary that is no address": "is neither an IP address nor a host name",
    }
    for name, message in expected.items():
        result = run.task("cms1", name)
        assert result.get("failed") is True and message in result["msg"], (name, result.get("msg"))
    # Refused on the controller: not even a login reached the node.
    assert not [e for e in lab.events("cms1") if e["event"] in ("connection_opened", "auth", "command")]


def test_an_unknown_primary_address_is_refused_by_the_node_and_changes_nothing(
    fast_lab: SimLab, playbook: Callable[..., Run]
) -> None:
    lab = fast_lab
    lab.run("cms3", "database cluster remove", answer="Y")
    before_status = wait_status(lab, "cms3", "Status                : Disabled")
    before_files = store(lab, "cms3")
    since = mark(lab, *NODES)
    run = playbook(
        lab,
        tasks_play(
            """
            - name: join
              cisco_cms.mmp.cms_db_cluster:
                state: joined
                primary: 192.0.2.99
                server_key: dbclusterserver.key
                server_cert: dbclusterserver.cer
                client_key: dbclusterclient.key
                client_cert: dbclusterclient.cer
                ca_cert: dbclusterca.cer
            """,
            "cms3",
        ),
    )
    assert run.rc != 0
    result = run.task("cms3", "join")
    assert "database cluster join 192.0.2.99 failed on cms3: ERROR: Unable to contact 192.0.2.99" in result["msg"]
    # The node stayed as it was: removed, on the same certificates, no transition started, no file touched.
    assert lab.run("cms3", STATUS) == before_status
    assert store(lab, "cms3") == before_files
    assert not [e for e in lab.events("cms3")[since["cms3"] :] if e["event"] == "cluster_transition"]
    assert not changing_events(lab, "cms1", since["cms1"]) and not changing_events(lab, "cms2", since["cms2"])


def test_an_unknown_primary_address_for_the_rebuild_is_refused_before_any_node_is_removed(
    fast_lab: SimLab, playbook: Callable[..., Run]
) -> None:
    lab = fast_lab
    since = mark(lab, *NODES)
    run = playbook(lab, REBUILD, extra_vars={"db_cluster_rebuild_primary_address": "192.0.2.99"})
    assert run.rc != 0 and "192.0.2.99" in run.stdout
    for node in NODES:
        assert "database cluster remove" not in commands(lab, node, since[node]), node
    assert "    192.0.2.12        : Connected Replica ( In Sync )\n" in lab.run("cms1", STATUS)


def test_two_nodes_that_each_claim_to_be_primary_stop_the_rebuild_before_anything_changes(
    fast_lab: SimLab, playbook: Callable[..., Run]
) -> None:
    lab = fast_lab
    # A split brain made by hand: cms2 left the cluster and initialized a cluster of its own.
    lab.run("cms2", "database cluster remove", answer="Y")
    wait_status(lab, "cms2", "Status                : Disabled")
    lab.run("cms2", "database cluster initialize", answer="Y")
    wait_status(lab, "cms2", "    192.0.2.12 (me)   : Connected Primary\n")
    assert "    192.0.2.11 (me)   : Connected Primary\n" in lab.run("cms1", STATUS)
    since = mark(lab, *NODES)
    run = playbook(lab, REBUILD)
    assert run.rc != 0
    msg = run.task("cms1", "cisco_cms.mmp.db_cluster_rebuild : Preflight | exactly one primary, holding a database")[
        "msg"
    ]
    assert "Cannot tell the primary. Status shows cms1, cms2 as primary" in msg and "Nothing was changed" in msg
    for node in NODES:
        assert set(commands(lab, node, since[node])) <= {STATUS}, node
        assert not changing_events(lab, node, since[node]), node
    assert not (lab.dir / "db_cluster_rebuild").exists()


def test_a_status_listing_two_primaries_is_not_reported_healthy(lab: SimLab, playbook: Callable[..., Run]) -> None:
    real = lab.run("cms1", STATUS)
    replica_line = "    192.0.2.12        : Connected Replica ( In Sync )\n"
    assert replica_line in real
    # The simulator's fail_command fault prints any text for a command: here a status in which cms2 is primary too.
    two_primaries = real.replace(replica_line, "    192.0.2.12        : Connected Primary\n")
    lab.ctl(faults={"cms1": {"fail_command": {"match": STATUS, "output": two_primaries.rstrip("\n")}}})
    run = playbook(lab, tasks_play("- name: info\n  cisco_cms.mmp.cms_db_cluster_info: {}\n", "cms1"))
    assert run.rc == 0, run.stdout[-3000:]
    assert run.task("cms1", "info")["healthy"] is False


def test_empty_and_garbled_cli_output_fail_clearly_before_anything_changes(
    lab: SimLab, ca: TestCA, playbook: Callable[..., Run]
) -> None:
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    lab.ctl(
        faults={
            # A status that is not one (a terminal gone wrong), nothing at all, and a snapshot that reports nonsense.
            "cms1": {"fail_command": {"match": "webadmin", "output": "\x1b[0m@@@ ?? \x07 ###"}},
            "cms2": {"fail_command": {"match": STATUS, "output": ""}},
            "cms3": {"fail_command": {"match": "backup snapshot", "output": "Segmentation fault (core dumped)"}},
        }
    )
    before = {node: store(lab, node) for node in NODES}
    since = mark(lab, *NODES)
    run = playbook(
        lab,
        tasks_play(
            f"""
            - name: service
              when: inventory_hostname == 'cms1'
              cisco_cms.mmp.cms_service_certs:
                service: webadmin
                key_src: {leaf.key}
                cert_src: {leaf.cert}
                bundle_src: {ca.bundle}
                tls_port: "{{{{ cms_tls_ports.webadmin }}}}"
            - name: cluster
              when: inventory_hostname == 'cms2'
              cisco_cms.mmp.cms_db_cluster:
                state: absent
            - name: backup
              when: inventory_hostname == 'cms3'
              cisco_cms.mmp.cms_backup:
                name: before-change
                dest: {lab.dir / "backups"}
            """
        ),
    )
    assert run.rc != 0
    service = run.task("cms1", "service")
    assert "has no 'Label : value' lines" in service["msg"] and "@@@ ?? " in service["msg"]
    cluster = run.task("cms2", "cluster")
    assert "database cluster status printed nothing; the node's output was empty" in cluster["msg"]
    backup = run.task("cms3", "backup")
    assert "backup snapshot did not report '<name>.bak ready for download'" in backup["msg"]
    assert "Segmentation fault (core dumped)" in backup["msg"]
    for node in NODES:
        assert mutating(lab, node, since[node]) == ([] if node != "cms3" else ["backup snapshot before-change"])
        assert not [e for e in lab.events(node)[since[node] :] if e["event"] in ("sftp_put", "service_state")]
        assert store(lab, node) == before[node], node
    assert "database cluster remove" not in commands(lab, "cms2", since["cms2"])
    assert not (lab.dir / "backups").exists()


def test_a_corrupted_upload_is_caught_by_its_checksum_and_never_used(
    fast_lab: SimLab, ca: TestCA, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    lab = fast_lab
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    lab.run("cms3", "database cluster remove", answer="Y")
    wait_status(lab, "cms3", "Status                : Disabled")
    db = make_db_pki(tmp_path / "db", DB_FQDNS[0], DB_FQDNS, ca=cluster_ca(lab), prefix="renewed")
    # The next upload of a certificate file: the node lock a run takes first is uploaded too.
    lab.ctl(faults={"cms1": {"corrupt_upload": "cms1-2027"}, "cms3": {"corrupt_upload": "renewed"}})
    before = {node: store(lab, node) for node in ("cms1", "cms3")}
    old_fp = served(lab, "cms1", "webadmin")
    tasks = f"""
        - name: service
          when: inventory_hostname == 'cms1'
          cisco_cms.mmp.cms_service_certs:
            service: webadmin
            key_src: {leaf.key}
            cert_src: {leaf.cert}
            bundle_src: {ca.bundle}
            tls_port: "{{{{ cms_tls_ports.webadmin }}}}"
        - name: certs
          when: inventory_hostname == 'cms3'
          cisco_cms.mmp.cms_db_cluster:
            state: certs
{src_args(db)}
        """
    since = mark(lab, "cms1", "cms3")
    run = playbook(lab, tasks_play(tasks, "cms1,cms3"))
    assert run.rc != 0
    for node, task, name in (("cms1", "service", "cms1-2027.key"), ("cms3", "certs", "renewedserver.key")):
        msg = run.task(node, task)["msg"]
        assert f"upload of {name} to {node} arrived corrupt: SHA-256 on the node is" in msg
        assert "The corrupt copy was removed and nothing uses it; retry." in msg
        # The damaged copy never took the final name and is gone; nothing was configured with it.
        assert store(lab, node) == before[node], node
        assert mutating(lab, node, since[node]) == [], node
    assert served(lab, "cms1", "webadmin") == old_fp
    assert "  Server Key           : dbclusterserver.key\n" in lab.run("cms3", STATUS)

    # The fault fires once: the retry uploads intact copies and goes through.
    again = playbook(lab, tasks_play(tasks, "cms1,cms3"))
    assert again.rc == 0, again.stdout[-3000:]
    assert served(lab, "cms1", "webadmin") == leaf.fingerprint
    assert (lab.files_dir("cms3") / "renewedserver.key").read_bytes() == db["server_key"].read_bytes()
    assert "  Server Key           : renewedserver.key\n" in lab.run("cms3", STATUS)


def test_crlf_and_extra_newlines_in_the_key_certificate_and_bundle_are_normalised_not_fatal(
    make_lab: Callable[..., SimLab], ca: TestCA, playbook: Callable[..., Run]
) -> None:
    lab = make_lab(nodes=1)
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    # Files as a Windows CA export and a hand edit leave them: CRLF line ends, blank lines at the end.
    key = ca.write("crlf.key", leaf.key.read_bytes().replace(b"\n", b"\r\n") + b"\r\n\r\n")
    cert = ca.write("crlf.cer", leaf.cert.read_bytes().replace(b"\n", b"\r\n") + b"\r\n")
    bundle = ca.write("crlf-bundle.cer", ca.bundle.read_bytes() + b"\n\n\n")
    args = {"service": "turn", "key_src": str(key), "cert_src": str(cert), "bundle_src": str(bundle)}
    run = playbook(lab, service_play([{**args, "tls_port": port(lab, "cms1", "turn")}]))
    result = ok(run, "cms1", "t0")
    assert result["changed"] is True
    assert [(u["name"], u["normalized"]) for u in result["uploads"]] == [
        ("crlf.key", True),
        ("crlf.cer", True),
        ("crlf-bundle.cer", True),
    ]
    for name in ("crlf.key", "crlf.cer", "crlf-bundle.cer"):
        data = (lab.files_dir("cms1") / name).read_bytes()
        assert b"\r" not in data and data.endswith(b"-----\n") and not data.endswith(b"\n\n"), name
    assert (lab.files_dir("cms1") / "crlf.key").read_bytes() == leaf.key.read_bytes()
    assert config(lab, "cms1", "turn")["cert"] == "crlf.cer"
    assert served(lab, "cms1", "turn") == leaf.fingerprint


# =====================================================================================================================
# Faults: each ends safe
# =====================================================================================================================
def test_a_service_transition_slower_than_the_timeout_fails_clearly_and_a_rerun_recovers(
    make_lab: Callable[..., SimLab], ca: TestCA, playbook: Callable[..., Run]
) -> None:
    lab = make_lab(nodes=1, lab_file={"timings": {"service_transition": 3.0}})
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    old = {k: config(lab, "cms1", "webadmin")[k] for k in ("key", "cert", "bundle")}
    old_files = store(lab, "cms1")
    args = {
        "service": "webadmin",
        "key_src": str(leaf.key),
        "cert_src": str(leaf.cert),
        "bundle_src": str(ca.bundle),
        "tls_port": port(lab, "cms1", "webadmin"),
    }
    run = playbook(lab, service_play([{**args, "command_timeout": 1}]))
    msg = failed(run, "cms1", "t0")["msg"]
    assert "timed out after 1s waiting for webadmin disable to finish on cms1" in msg
    assert "Rolled back: the old certificate" in msg
    # Nothing lost: the service is still configured with its old files, and they are all still there.
    assert {k: config(lab, "cms1", "webadmin")[k] for k in old} == old
    assert {name: store(lab, "cms1")[name] for name in old_files} == old_files

    lab.ctl(timings={"service_transition": 0.2})
    time.sleep(3.5)  # the slow disable finishes on the node
    start = time.time()
    again = playbook(lab, service_play([args]))
    result = ok(again, "cms1", "t0")
    assert result["changed"] is True and config(lab, "cms1", "webadmin")["enabled"] is True
    assert served(lab, "cms1", "webadmin") == leaf.fingerprint
    assert service_commands_since(lab, "cms1", start)[-1] == "webadmin enable"


def test_a_service_transition_slower_than_the_timeout_ends_with_the_service_enabled_again(
    make_lab: Callable[..., SimLab], ca: TestCA, playbook: Callable[..., Run]
) -> None:
    lab = make_lab(nodes=1, lab_file={"timings": {"service_transition": 3.0}})
    leaf = ca.leaf("cms1-2027", seeded_names("cms1"))
    old_fp = served(lab, "cms1", "webadmin")
    args = {
        "key_src": str(leaf.key),
        "cert_src": str(leaf.cert),
        "bundle_src": str(ca.bundle),
        "tls_port": port(lab, "cms1", "webadmin"),
    }
    run = playbook(lab, service_play([{"service": "webadmin", **args, "command_timeout": 1}]))
    assert failed(run, "cms1", "t0")["rolled_back"] is True
    assert config(lab, "cms1", "webadmin")["enabled"] is True
    assert served(lab, "cms1", "webadmin") == old_fp


def test_a_backup_that_prints_failure_stops_the_rebuild_before_any_node_is_removed(
    fast_lab: SimLab, playbook: Callable[..., Run]
) -> None:
    lab = fast_lab
    lab.ctl(faults={"cms3": {"fail_command": {"match": "backup snapshot", "output": "FAILURE: not enough disk space"}}})
    since = mark(lab, *NODES)
    run = playbook(lab, REBUILD)
    assert run.rc != 0
    msg = run.task(
        "cms3", "cisco_cms.mmp.db_cluster_rebuild : Backup | snapshot every node and keep it on the controller"
    )["msg"]
    assert "failed on cms3: FAILURE: not enough disk space" in msg
    # No node without a backup on the controller was changed: the rebuild never began.
    for node in NODES:
        sent = commands(lab, node, since[node])
        assert not [c for c in sent if c.startswith("database cluster ") and c != STATUS], (node, sent)
    assert "    192.0.2.13        : Connected Replica ( In Sync )\n" in lab.run("cms1", STATUS)


# =====================================================================================================================
# The main flows at -vvvv with --diff: nothing lost, no secret shown (one run shared by the tests below)
# =====================================================================================================================
# What the simulator writes into a lab directory (inputs of the runs, not their output).
SIMULATOR_FILES = {"lab.json", "secrets.json", "inventory.yml", "known_hosts", "authorized_keys", "run.json"}
SIMULATOR_FILES |= {"id_ed25519", "id_ed25519.pub", "simulator.log"}
SIMULATOR_DIRS = {"nodes", "seed-ca"}


@dataclass
class Flows:
    lab: SimLab
    runs: dict[str, subprocess.CompletedProcess[str]]
    log: Path
    dump: Path
    started: dict[str, float]
    before_rollout: dict[str, dict[str, bytes]]
    before_rebuild: dict[str, dict[str, bytes]]
    since_rebuild: dict[str, int]
    results: list[dict[str, Any]] = field(default_factory=list)

    def outputs(self) -> dict[str, str]:
        texts = {}
        for name, proc in self.runs.items():
            texts[f"{name} stdout"] = proc.stdout
            texts[f"{name} stderr"] = proc.stderr
        texts["ansible log"] = self.log.read_text()
        texts["returned values"] = self.dump.read_text()
        return texts


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flows]:
    """generate_csrs, service_certs and db_cluster_certs, as the demo runs them, each at -vvvv with --diff."""
    base = tmp_path_factory.mktemp("flows")
    lab = SimLab.start(base / "lab", lab_file={"timings": FAST})
    try:
        log, dump = base / "ansible.log", base / "results.jsonl"
        env = ansible_env(
            lab.dir,
            ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).parent / "callback_plugins"),
            ANSIBLE_CALLBACKS_ENABLED="results_jsonl",
            ANSIBLE_LOG_PATH=str(log),
            RESULTS_JSONL_PATH=str(dump),
        )
        inventories = ("-i", str(lab.dir / "inventory.yml"), "-i", str(LAB_INVENTORY))
        runs: dict[str, subprocess.CompletedProcess[str]] = {}
        started: dict[str, float] = {}
        snapshots: dict[str, dict[str, dict[str, bytes]]] = {}
        since: dict[str, int] = {}
        for name in ("generate_csrs", "service_certs", "db_cluster_certs"):
            snapshots[name] = {node: store(lab, node) for node in NODES}
            since = mark(lab, *NODES)
            started[name] = time.time()
            runs[name] = subprocess.run(
                [str(BIN / "ansible-playbook"), f"playbooks/{name}.yml", "--diff", "-vvvv", *inventories],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert runs[name].returncode == 0, f"{name}:\n{runs[name].stdout[-4000:]}\n{runs[name].stderr[-2000:]}"
        flows = Flows(
            lab,
            runs,
            log,
            dump,
            started,
            snapshots["service_certs"],
            snapshots["db_cluster_certs"],
            since,
            [json.loads(line) for line in dump.read_text().splitlines()],
        )
        yield flows
    finally:
        lab.stop()


def test_the_flows_ran_verbose_with_diffs_and_changed_every_node(flows: Flows) -> None:
    # The secrets tests below mean something only if the runs showed everything they can show.
    for name, proc in flows.runs.items():
        assert "<127.0.0.1>" in proc.stdout or "ESTABLISH" in proc.stdout or "task path:" in proc.stdout, name
        assert "changed=" in proc.stdout, name
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in flows.runs["service_certs"].stdout
    assert "--- before" in flows.runs["service_certs"].stdout  # --diff output of cms_service_certs
    assert "task path:" in flows.log.read_text()  # the controller-side log got the verbose output too
    for node in NODES:
        assert served(flows.lab, node, "webadmin") == x509.fingerprint(
            x509.load_certs((flows.lab.dir / "pki" / node / f"{node}-renewal.cer").read_bytes())[0]
        )
    assert json.loads((flows.lab.dir / "db_cluster_rebuild" / "state.json").read_text())["finished"] is True


# ---- nothing lost ----------------------------------------------------------------------------------------------------
def test_old_key_and_certificate_files_are_still_on_every_node_after_the_rollout(flows: Flows) -> None:
    lab = flows.lab
    for node in NODES:
        after = store(lab, node)
        for name, data in flows.before_rollout[node].items():
            assert after.get(name) == data, (node, name)
        for name in (f"{node}-2025.key", f"{node}-2025.cer", f"{node}-2025-fullchain.cer", "ca-bundle-2025.cer"):
            assert name in after, (node, name)
    # Every change names what it replaced, so the old configuration can be put back by hand.
    # One cms_service_certs call per node carries its services' results (``services``).
    rollout = [
        service
        for r in flows.results
        if r["action"] == "cisco_cms.mmp.cms_service_certs"
        for service in r["result"].get("services") or [r["result"]]
        if service.get("commands")
    ]
    assert len(rollout) == len(NODES) * len(SERVICES)
    for result in rollout:
        assert result["before"]["cert"].endswith(("-2025.cer", "-2025-fullchain.cer")), result["before"]


def test_every_node_s_backup_is_on_the_controller_intact_before_the_first_destructive_step(flows: Flows) -> None:
    lab = flows.lab
    work = lab.dir / "db_cluster_rebuild"
    backup = json.loads((work / "state.json").read_text())["backup_name"] + ".bak"
    since = flows.since_rebuild
    destructive = [
        e["ts"]
        for node in NODES
        for e in lab.events(node)[since[node] :]
        if e["event"] == "command" and e["command"].startswith("database cluster ") and e["command"] != STATUS
    ]
    assert destructive, "the rebuild changed nothing"
    first_destructive = min(destructive)
    results = {
        r["host"]: r["result"]
        for r in flows.results
        if r["action"] == "cisco_cms.mmp.cms_backup" and r["status"] == "ok"
    }
    for node in NODES:
        fetched = [
            e["ts"] for e in lab.events(node)[since[node] :] if e["event"] == "sftp_get" and e.get("file") == backup
        ]
        assert fetched and max(fetched) < first_destructive, node
        copy = work / "backups" / node / backup
        assert copy.stat().st_mtime < first_destructive, node
        on_node = (lab.files_dir(node) / backup).read_bytes()
        assert sha256(copy.read_bytes()) == sha256(on_node) == results[node]["sha256"], node
        # The old database cluster files are still on the node after the rebuild.
        for name, data in flows.before_rebuild[node].items():
            if name.startswith("dbcluster"):
                assert (lab.files_dir(node) / name).read_bytes() == data, (node, name)


# ---- secrets ---------------------------------------------------------------------------------------------------------
def key_bodies(flows: Flows) -> dict[str, set[str]]:
    """Every private key the runs could have seen, as its base64 body lines (long enough to be unique)."""
    lab = flows.lab
    paths = [p for node in NODES for p in lab.files_dir(node).iterdir() if p.suffix == ".key"]
    paths += [p for p in lab.dir.rglob("*.key") if "nodes" not in p.relative_to(lab.dir).parts]
    paths.append(lab.dir / "id_ed25519")
    bodies: dict[str, set[str]] = {}
    for path in paths:
        lines = path.read_text().splitlines()
        body = {line.strip() for line in lines if "-----" not in line and len(line.strip()) >= 40}
        assert body, path
        bodies[str(path)] = body
    return bodies


def secrets(flows: Flows) -> dict[str, str]:
    found = {"the admin password": flows.lab.password}
    for node in NODES:
        found[f"the turn password of {node}"] = flows.lab.node_state(node)["services"]["turn"]["password"]
    assert all(len(value) >= 8 for value in found.values())
    return found


def controller_files(flows: Flows) -> tuple[list[Path], list[Path]]:
    """(files the runs left on the controller to scan, the private key copies among them that are meant to be)."""
    lab = flows.lab
    scanned, key_copies = [], []
    for path in sorted(lab.dir.rglob("*")):
        rel = path.relative_to(lab.dir)
        if not path.is_file() or rel.parts[0] in SIMULATOR_DIRS or str(rel) in SIMULATOR_FILES:
            continue
        # The lab CA's keys and the node backups (which hold every key of the node) are the intended copies.
        if (rel.parts[:2] == ("pki", "lab-ca") and path.suffix == ".key") or path.suffix == ".bak":
            key_copies.append(path)
        else:
            scanned.append(path)
    return scanned, key_copies


def test_no_password_appears_in_output_returned_values_or_controller_files(flows: Flows) -> None:
    scanned, _ = controller_files(flows)
    assert any(p.name == "state.json" for p in scanned) and any(p.suffix == ".csr" for p in scanned)
    texts = flows.outputs() | {str(p): p.read_bytes().decode("latin-1") for p in scanned}
    for what, secret in secrets(flows).items():
        leaks = [name for name, text in texts.items() if secret in text]
        assert not leaks, f"{what} appears in {leaks}"


def test_no_private_key_material_appears_in_output_returned_values_or_controller_files(flows: Flows) -> None:
    scanned, key_copies = controller_files(flows)
    texts = flows.outputs() | {str(p): p.read_bytes().decode("latin-1") for p in scanned}
    for name, text in texts.items():
        assert "PRIVATE KEY" not in text, name
    for key, body in key_bodies(flows).items():
        for name, text in texts.items():
            assert not [line for line in body if line in text], f"material of {key} appears in {name}"
    # The copies that are meant to hold keys are private to the controller user.
    assert {p.suffix for p in key_copies} == {".key", ".bak"}
    for path in key_copies:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent
    # The keys fetched from the primary to hand to the other nodes do not outlive the run.
    assert not (flows.lab.dir / "db_cluster_rebuild" / "transfer").exists()
    lab_dir = flows.lab.dir
    left = [p for p in lab_dir.rglob("*.key") if p.relative_to(lab_dir).parts[0] not in SIMULATOR_DIRS]
    assert sorted(left) == sorted(p for p in key_copies if p.suffix == ".key")


# =====================================================================================================================
# The table itself
# =====================================================================================================================
def test_every_test_the_reliability_table_names_exists() -> None:
    """A row of docs/reliability.md that names a test which is not there would prove nothing."""
    table = (REPO_ROOT / "docs" / "reliability.md").read_text()
    named = set(re.findall(r"`(test_\w+\.py)::(test_\w+)`", table))
    assert len(named) >= 30, named
    missing = []
    for file_name, test_name in sorted(named):
        path = REPO_ROOT / "tests" / "integration" / file_name
        defined = (
            {
                node.name
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
            }
            if path.is_file()
            else set()
        )
        if test_name not in defined:
            missing.append(f"{file_name}::{test_name}")
    assert missing == []
