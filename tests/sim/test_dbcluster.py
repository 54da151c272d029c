"""`database cluster` over real SSH: the TechNote transcripts, the capital-Y rule, the ordered rebuild, expiry."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cmssim import core, shapes, x509
from tests.cmssim.testing import SimLab

FAST = {"cluster_remove": 0.2, "cluster_initialize": 0.2, "cluster_join": 0.2, "cluster_connect": 0.2}
STATUS = "database cluster status"
DOMAIN = "lab.cms.example"


def text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def status(lab: SimLab, node: str) -> str:
    return lab.run(node, STATUS)


def wait_status(lab: SimLab, node: str, want: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = status(lab, node)
        if want in out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"{node}: {want!r} not in the status within {timeout}s; last status:\n{out}")


def transitions(lab: SimLab, node: str) -> list[dict[str, Any]]:
    return [e for e in lab.events(node) if e["event"] == "cluster_transition"]


def cert_block(ca: str = "dbclusterca.cer", expired: bool = False, client_only: bool = False) -> list[str]:
    mark = " (expired)" if expired else ""
    lines = ["Certificates"]
    if not client_only:
        lines += ["  Server Key           : dbclusterserver.key", f"  Server Certificate   : dbclusterserver.cer{mark}"]
    lines += [
        "  Client Key           : dbclusterclient.key",
        f"  Client Certificate   : dbclusterclient.cer{mark}",
        f"  CA Certificate       : {ca}",
    ]
    return lines


def copy_file(lab: SimLab, node: str, src: str, dst: str) -> None:
    with lab.sftp(node) as sftp:
        with sftp.open(src, "rb") as fh:
            data = fh.read()
        sftp.putfo(io.BytesIO(data), dst)


def upload(lab: SimLab, node: str, files: dict[str, bytes]) -> None:
    with lab.sftp(node) as sftp:
        for name, data in files.items():
            sftp.putfo(io.BytesIO(data), name)


def download(lab: SimLab, node: str, name: str) -> bytes:
    with lab.sftp(node) as sftp, sftp.open(name, "rb") as fh:
        return fh.read()


def new_db_pki(now: dt.datetime, server_cn: str, san: list[str], days: float = 365) -> dict[str, bytes]:
    """What `pki selfsigned dbca` + `pki csr dbserver/dbclient` + `pki sign` would leave.

    The steps of docs/dev/mmp_reference.md#built-in-ca.
    """
    ca_key, ca = x509.make_ca(DOMAIN, now, days=3650)
    server_key, client_key = x509.new_key(), x509.new_key()
    server = x509.sign(
        x509.build_name({"CN": server_cn}), server_key.public_key(), ca, ca_key, now, days, san=x509.san_entries(san)
    )
    client = x509.sign(x509.build_name({"CN": "postgres"}), client_key.public_key(), ca, ca_key, now, days)
    return {
        "dbserver.key": x509.key_pem(server_key),
        "dbserver.crt": x509.cert_pem(server),
        "dbclient.key": x509.key_pem(client_key),
        "dbclient.crt": x509.cert_pem(client),
        "dbca.crt": x509.cert_pem(ca),
    }


# ---- status shapes ------------------------------------------------------------------------------------------
def test_default_lab_status_on_each_node_uses_primary_replica_wording(lab: SimLab) -> None:
    nodes = ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
    for me, name in enumerate(("cms1", "cms2", "cms3")):
        lines = []
        for i, address in enumerate(nodes):
            label = f"{address} (me)" if i == me else address
            value = "Connected Primary" if i == 0 else "Connected Replica ( In Sync )"
            lines.append(f"    {label:<18}: {value}")
        last = "'database cluster initialize' (Success)" if me == 0 else "'database cluster join 192.0.2.11' (Success)"
        expected = text(
            "Status                : Enabled",
            "",
            "Nodes:",
            *lines,
            "Node in use           : 192.0.2.11",
            "",
            "Interface              : a",
            "",
            *cert_block(),
            "",
            f"Last command          : {last}",
            "",
        )
        assert status(lab, name) == expected


def test_cms2_lab_speaks_master_slave_with_two_space_node_lines(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(cms_version="2")
    out = status(lab, "cms2")
    assert (
        text(
            "Nodes:",
            "  192.0.2.11          : Connected Master",
            "  192.0.2.12 (me)     : Connected Slave ( In Sync )",
            "  192.0.2.13          : Connected Slave ( In Sync )",
            "Node in use           : 192.0.2.11",
        )
        in out
    )
    assert "Primary" not in out and "Replica" not in out


S1_STEP_1 = text(  # TN 216549 step 1, verbatim (its trailing whitespace-only line left out)
    "Status                : Disabled",
    "Node in use           : None",
    "",
    "Interface              : a",
    "",
    "Certificates",
    "  Server Key           : dbclusterserver.key",
    "  Server Certificate   : dbclusterserver.cer (expired)",
    "  Client Key           : dbclusterclient.key",
    "  Client Certificate   : EXPRSVR.cer (expired)",
    "  CA Certificate       : CA.cer",
    "",
)

S1_STEP_11 = text(  # TN 216549 step 11, verbatim
    "Status                : Enabled",
    "",
    "Nodes:",
    "  10.106.85.75 (me)   : Connected Master",
    "Node in use           : 10.106.85.75",
    "",
    "Interface              : a",
    "",
    "Certificates",
    "  Server Key           : dbclusterserver.key",
    "  Server Certificate   : dbclusterserver.cer",
    "  Client Key           : dbclusterclient.key",
    "  Client Certificate   : dbclusterclient.cer",
    "  CA Certificate       : CAVD.cer",
    "",
    "Last command          : 'database cluster initialize' (Success)",
    "",
)

S1_STEP_12 = text(  # TN 216549 step 12, verbatim
    "WARNING!!!",
    "Are you sure you wish to join this node to an existing database cluster? (Y/n)",
    "The contents of this node's database will be destroyed!",
    "The callbridge and web administration will restart at the end of this procedure.",
    "NOTE: This node is already in a cluster.",
    "Knowledge of all nodes in the old cluster will be removed",
)

S1_STEP_13 = text(  # TN 216549 step 13, verbatim
    "Status                : Enabled",
    "",
    "Nodes:",
    "  10.106.85.73        : Connected Master",
    "  10.106.85.74        : Connected Slave ( In Sync )",
    "  10.106.85.75 (me)   : Connected Slave ( In Sync )",
    "Node in use           : 10.106.85.73",
    "",
    "Interface              : a",
    "",
    "Certificates",
    "  Server Key           : dbclusterserver.key",
    "  Server Certificate   : dbclusterserver.cer",
    "  Client Key           : dbclusterclient.key",
    "  Client Certificate   : dbclusterclient.cer",
    "  CA Certificate       : CAVD.cer",
    "",
    "Last command          : 'database cluster join 10.106.85.73' (Success)",
    "",
)


def test_technote_216549_transcripts_are_reproduced_on_a_cms2_lab(make_lab: Callable[..., SimLab]) -> None:
    addresses = ["10.106.85.73", "10.106.85.74", "10.106.85.75"]
    lab = make_lab(
        lab_file={
            "cms_version": "2",
            "timings": FAST,
            "nodes": [{"name": f"cms{i + 1}", "address": a} for i, a in enumerate(addresses)],
        }
    )
    assert lab.run("cms3", "database cluster remove", answer="Y").endswith("Please wait...\nRemove started...\n")
    wait_status(lab, "cms3", "Last command          : 'database cluster remove' (Success)")
    copy_file(lab, "cms3", "dbclusterca.cer", "CAVD.cer")
    out = lab.run(
        "cms3",
        "database cluster certs dbclusterserver.key dbclusterserver.cer dbclusterclient.key "
        "dbclusterclient.cer CAVD.cer",
    )
    assert out == "Certificates updated\n"
    lab.run("cms3", "database cluster initialize", answer="Y")
    assert wait_status(lab, "cms3", "Last command") == S1_STEP_11
    assert lab.run("cms3", "database cluster join 10.106.85.73", answer="n") == S1_STEP_12
    lab.run("cms3", "database cluster join 10.106.85.73", answer="Y")
    assert wait_status(lab, "cms3", "'database cluster join 10.106.85.73' (Success)") == S1_STEP_13


def test_disabled_status_marks_expired_certificates_like_step_1(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(lab_file={"cluster": {"formed": False, "cert_days": -1}})
    # [GUESS] nothing configured yet: the Interface line and Certificates block are left out.
    assert status(lab, "cms2") == text("Status                : Disabled", "Node in use           : None", "")
    copy_file(lab, "cms2", "dbclusterclient.cer", "EXPRSVR.cer")
    copy_file(lab, "cms2", "dbclusterca.cer", "CA.cer")
    assert lab.run("cms2", "database cluster localnode a") == ""
    certs = "database cluster certs dbclusterserver.key dbclusterserver.cer dbclusterclient.key EXPRSVR.cer CA.cer"
    assert lab.run("cms2", certs) == "Certificates updated\n"
    assert status(lab, "cms2") == S1_STEP_1


# ---- certs and the confirmation rule ------------------------------------------------------------------------
def test_certs_are_refused_while_clustering_is_enabled(lab: SimLab) -> None:
    # The TechNote's own command line (its files need not exist: the state check comes first).
    out = lab.run(
        "cms2", "database cluster certs dbclusterserver.key dbclusterserver.cer EXPRSVR.cer cmscore2.key CAVD.cer"
    )
    assert out == "ERROR: Cannot change certificates when clustering enabled.\nDisable clustering on this node first\n"
    assert lab.run("cms3", "database cluster certs a b c") == shapes.DB_CERTS_WHILE_ENABLED + "\n"


def test_certs_need_existing_files_and_take_three_or_five_names(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(lab_file={"cluster": {"formed": False}})
    out = lab.run(
        "cms1",
        "database cluster certs dbclusterserver.key nosuch.cer dbclusterclient.key dbclusterclient.cer dbclusterca.cer",
    )
    assert out == shapes.FILE_NOT_FOUND.format(name="nosuch.cer") + "\n"
    assert lab.run("cms1", "database cluster certs dbclusterclient.key dbclusterclient.cer") == shapes.DB_USAGE + "\n"
    out = lab.run("cms1", "database cluster certs dbclusterclient.key dbclusterclient.cer dbclusterca.cer")
    assert out == "Certificates updated\n"
    assert text(*cert_block(client_only=True)) in status(lab, "cms1")


def test_only_a_capital_y_proceeds(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(nodes=4, lab_file={"timings": FAST})
    before = {name: status(lab, name) for name in ("cms1", "cms2", "cms4")}
    cases = [
        ("cms2", "database cluster remove", shapes.DB_REMOVE_WARNING),
        ("cms1", "database cluster initialize", shapes.DB_INITIALIZE_WARNING),
        ("cms2", "database cluster join cms1", shapes.DB_JOIN_WARNING + "\n" + shapes.DB_ALREADY_CLUSTERED_NOTE),
        (
            "cms4",
            "database cluster connect 192.0.2.11",
            shapes.DB_CONNECT_WARNING + "\n" + shapes.DB_ALREADY_CLUSTERED_NOTE,
        ),
    ]
    for answer in ("y", "n", "yes", ""):
        for node, command, warning in cases:
            # [GUESS] nothing is printed after a refused answer; the prompt just comes back.
            assert lab.run(node, command, answer=answer) == warning + "\n", (command, answer)
    time.sleep(0.4)  # longer than any transition would take
    assert {name: status(lab, name) for name in before} == before
    assert not any(transitions(lab, name) for name in ("cms1", "cms2", "cms4"))
    refused = [e["answer"] for e in lab.events("cms2") if e["event"] == "confirmation"]
    assert refused == ["y", "y", "n", "n", "yes", "yes", "", ""]


def test_usage_and_argument_errors(lab: SimLab) -> None:
    for command in (
        "database",
        "database cluster",
        "database cluster frobnicate",
        "database cluster status now",
        "database cluster join",
        "database cluster remove now",
    ):
        assert lab.run("cms1", command) == shapes.DB_USAGE + "\n", command
    assert lab.run("cms1", "database cluster localnode z") == shapes.DB_LOCALNODE_BAD_IFACE.format(iface="z") + "\n"
    assert lab.run("cms1", "database cluster localnode a") == ""  # unchanged: fine while enabled
    assert lab.run("cms1", "database cluster localnode b") == shapes.DB_LOCALNODE_WHILE_ENABLED + "\n"


def test_join_to_an_unknown_primary_fails_at_once_and_changes_nothing(lab: SimLab) -> None:
    before = status(lab, "cms2")
    assert lab.run("cms2", "database cluster join 192.0.2.99") == "ERROR: Unable to contact 192.0.2.99\n"
    assert lab.run("cms2", "database cluster join cms2") == shapes.DB_JOIN_SELF + "\n"
    assert status(lab, "cms2") == before


def test_a_connect_only_node_cannot_initialize_or_join(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(lab_file={"nodes": [{"name": "cms1"}, {"name": "cms2"}, {"name": "cms3", "database": False}]})
    assert lab.run("cms3", "database cluster join cms1") == shapes.DB_NO_LOCAL_DATABASE + "\n"
    assert lab.run("cms3", "database cluster initialize") == shapes.DB_NO_LOCAL_DATABASE + "\n"


# ---- transitions ---------------------------------------------------------------------------------------------
def test_remove_shows_disabling_then_disabled_and_logs_timed_transitions(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(lab_file={"timings": {**FAST, "cluster_remove": 1.5}})
    out = lab.run("cms2", "database cluster remove", answer="Y")
    assert out == shapes.DB_REMOVE_WARNING + "\nPlease wait...\nRemove started...\n"
    assert status(lab, "cms2") == text(
        "Status                : Disabling (Started 0 seconds ago)",
        "",
        "Nodes:",
        "Node in use           : None",
        "",
        "Interface              : a",
        "",
        *cert_block(),
        "",
    )
    assert lab.run("cms2", "database cluster join cms1") == shapes.DB_BUSY + "\n"
    assert lab.run("cms2", "database cluster certs a b c d e") == shapes.DB_CERTS_WHILE_ENABLED + "\n"
    # The primary no longer reaches a node that is leaving.
    assert f"    192.0.2.12        : {shapes.DB_DISCONNECTED}\n" in status(lab, "cms1")
    time.sleep(1.8)  # nobody asks: the timer finishes the removal at its deadline
    started, finished = transitions(lab, "cms2")
    assert (started["phase"], finished["phase"], finished["result"]) == ("started", "finished", "Success")
    assert finished["deadline"] == pytest.approx(started["started"] + 1.5)
    assert 0 <= finished["ts"] - finished["deadline"] < 0.5
    assert status(lab, "cms2").startswith(text("Status                : Disabled", "Node in use           : None"))
    assert "Last command          : 'database cluster remove' (Success)\n" in status(lab, "cms2")
    primary = status(lab, "cms1")
    assert "192.0.2.12" not in primary and "    192.0.2.13        : Connected Replica ( In Sync )\n" in primary


def test_transition_state_survives_a_simulator_restart(make_lab: Callable[..., SimLab]) -> None:
    # Long enough that a restart on a loaded machine still finds the transition running.
    lab = make_lab(lab_file={"timings": {**FAST, "cluster_remove": 6.0}})
    lab.run("cms2", "database cluster remove", answer="Y")
    lab.restart()
    assert status(lab, "cms2").startswith("Status                : Disabling (Started ")
    out = wait_status(lab, "cms2", "'database cluster remove' (Success)", timeout=15)
    assert out.startswith("Status                : Disabled\n")
    phases = [(e["phase"], e.get("result")) for e in transitions(lab, "cms2")]
    assert phases == [("started", None), ("finished", "Success")]


def test_a_transition_due_while_the_simulator_was_down_is_finished_at_start(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(lab_file={"timings": {**FAST, "cluster_remove": 0.5}})
    lab.run("cms3", "database cluster remove", answer="Y")
    lab.stop()
    time.sleep(0.7)
    lab.restart()
    assert status(lab, "cms3").startswith("Status                : Disabled\n")


def test_removing_the_primary_first_leaves_the_replicas_listing_it_disconnected(
    make_lab: Callable[..., SimLab],
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    lab.run("cms1", "database cluster remove", answer="Y")
    wait_status(lab, "cms1", "'database cluster remove' (Success)")
    out = status(lab, "cms2")
    assert out.startswith("Status                : Enabled\n")
    assert f"    192.0.2.11        : {shapes.DB_DISCONNECTED}\n" in out
    assert f"    192.0.2.12 (me)   : Connected Replica {shapes.DB_OUT_OF_SYNC}\n" in out


def test_a_pending_prompt_and_parallel_statuses_do_not_stall_the_cluster(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    shell = lab.shell("cms2")
    try:
        # cms2 sits at its (Y/n) question (holding its node) while cms3 leaves and everybody polls.
        shell.chan.sendall(b"database cluster remove\r")
        seen = ""
        deadline = time.monotonic() + 5
        while "(Y/n)" not in seen and time.monotonic() < deadline:
            seen += shell._recv()
        assert "(Y/n)" in seen
        lab.run("cms3", "database cluster remove", answer="Y")
        results: dict[str, str] = {}

        def poll(node: str) -> None:
            for _ in range(5):
                results[node] = status(lab, node)

        threads = [threading.Thread(target=poll, args=(n,)) for n in ("cms1", "cms3", "cms1", "cms3")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert not any(t.is_alive() for t in threads)
        wait_status(lab, "cms3", "'database cluster remove' (Success)")
        assert "192.0.2.13" not in status(lab, "cms1")
        shell.chan.sendall(b"n\r")
        shell.read_until_prompt(5)
    finally:
        shell.close()
    assert "    192.0.2.12 (me)   : Connected Replica ( In Sync )\n" in status(lab, "cms2")
    assert lab.node_state("cms3")["dbcluster"]["role"] == "none"  # saved to disk, not only in memory


# ---- trust: expiry, foreign CA, overwritten key ---------------------------------------------------------------
def test_expired_certificates_split_the_cluster(lab: SimLab) -> None:
    lab.ctl(clock_offset_days=11)  # the default lab's DB certificates expire in ~10 days
    primary = status(lab, "cms1")
    assert primary.startswith("Status                : Enabled\n")
    assert (
        text(
            "    192.0.2.11 (me)   : Connected Primary",
            f"    192.0.2.12        : {shapes.DB_DISCONNECTED}",
            f"    192.0.2.13        : {shapes.DB_DISCONNECTED}",
        )
        in primary
    )
    assert text(*cert_block(expired=True)) in primary
    replica = status(lab, "cms2")
    assert (
        text(
            f"    192.0.2.11        : {shapes.DB_DISCONNECTED}",
            f"    192.0.2.12 (me)   : Connected Replica {shapes.DB_OUT_OF_SYNC}",
            f"    192.0.2.13        : {shapes.DB_DISCONNECTED}",
        )
        in replica
    )
    # Renewal is blocked until the node leaves the cluster (TN 216549).
    assert lab.run("cms2", "database cluster certs a b c d e") == shapes.DB_CERTS_WHILE_ENABLED + "\n"
    lab.ctl(clock_offset_days=0)
    assert "    192.0.2.12 (me)   : Connected Replica ( In Sync )\n" in status(lab, "cms2")


def test_a_replica_whose_key_was_overwritten_drops_out_of_sync(lab: SimLab) -> None:
    # What `pki csr dbclusterserver CN:...` does to a live node: a new key under the name in use.
    upload(lab, "cms2", {"dbclusterserver.key": x509.key_pem(x509.new_key())})
    primary = status(lab, "cms1")
    assert f"    192.0.2.12        : {shapes.DB_DISCONNECTED}\n" in primary
    assert "    192.0.2.13        : Connected Replica ( In Sync )\n" in primary


def test_certificates_from_another_ca_do_not_join(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    lab.run("cms3", "database cluster remove", answer="Y")
    wait_status(lab, "cms3", "'database cluster remove' (Success)")
    now = dt.datetime.now(dt.UTC)
    upload(lab, "cms3", new_db_pki(now, f"cms1.{DOMAIN}", [f"cms1.{DOMAIN}"]))
    out = lab.run("cms3", "database cluster certs dbserver.key dbserver.crt dbclient.key dbclient.crt dbca.crt")
    assert out == "Certificates updated\n"
    lab.run("cms3", "database cluster join 192.0.2.11", answer="Y")
    out = wait_status(lab, "cms3", "(Failed)")
    assert out.startswith(
        text(
            f"ERROR                 : {shapes.DB_ERROR_JOIN}",
            "Status                : Error",
            "",
            "Nodes:",
            "Node in use           : None",
        )
    )
    assert out.endswith("Last command          : 'database cluster join 192.0.2.11' (Failed)\n\n")
    assert "192.0.2.13" not in status(lab, "cms1")
    assert [e["result"] for e in transitions(lab, "cms3") if e["phase"] == "finished"] == ["Success", "Failed"]
    # An Error node leaves with `remove` like any other.
    lab.run("cms3", "database cluster remove", answer="Y")
    assert wait_status(lab, "cms3", "'database cluster remove' (Success)").startswith(
        "Status                : Disabled"
    )


def test_join_fails_when_the_given_node_is_not_an_initialized_primary(lab: SimLab) -> None:
    lab.ctl(timings=FAST)
    lab.run("cms3", "database cluster join cms2", answer="Y")
    out = wait_status(lab, "cms3", "(Failed)")
    assert "Last command          : 'database cluster join cms2' (Failed)\n" in out


# ---- docs/dev/mmp_reference.md#db-cluster-rebuild, by hand ---------------------------------
def test_ordered_rebuild_with_new_certificates_on_five_nodes(make_lab: Callable[..., SimLab]) -> None:
    # cms1 primary, cms2/cms3 replicas, cms4/cms5 connect-only; the DB certificates expired 1 day ago.
    lab = make_lab(nodes=5, lab_file={"timings": FAST})
    lab.ctl(clock_offset_days=11)
    names = [f"cms{i}" for i in range(1, 6)]
    # 1. status everywhere: the primary is the node that lists itself as `(me) : Connected Primary`.
    assert [n for n in names if "(me)   : Connected Primary" in status(lab, n)] == ["cms1"]
    # 2. a backup of every node, fetched over SFTP.
    for n in names:
        assert lab.run(n, "backup snapshot before_rebuild") == "before_rebuild.bak ready for download\n"
        assert download(lab, n, "before_rebuild.bak")
    # 3. remove: replicas and connect-only nodes first, the primary last.
    for n in ["cms2", "cms3", "cms4", "cms5", "cms1"]:
        lab.run(n, "database cluster remove", answer="Y")
        wait_status(lab, n, "'database cluster remove' (Success)")
    # 2 (docs/dev/mmp_reference.md#built-in-ca) new certificates made on cms1 and copied to the others over SFTP.
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=11)
    pki = new_db_pki(now, f"cms1.{DOMAIN}", [f"cms{i}.{DOMAIN}" for i in (1, 2, 3)])
    upload(lab, "cms1", pki)
    fetched = {name: download(lab, "cms1", name) for name in pki}
    upload(lab, "cms2", fetched)
    upload(lab, "cms3", fetched)
    client_only = {k: v for k, v in fetched.items() if not k.startswith("dbserver")}
    upload(lab, "cms4", client_only)
    upload(lab, "cms5", client_only)
    # 4. certs: five names on database nodes, three on connect-only nodes.
    for n in ["cms1", "cms2", "cms3"]:
        out = lab.run(n, "database cluster certs dbserver.key dbserver.crt dbclient.key dbclient.crt dbca.crt")
        assert out == "Certificates updated\n"
    for n in ["cms4", "cms5"]:
        assert lab.run(n, "database cluster certs dbclient.key dbclient.crt dbca.crt") == "Certificates updated\n"
    # 5. the primary: localnode a, initialize.
    assert lab.run("cms1", "database cluster localnode a") == ""
    assert lab.run("cms1", "database cluster initialize", answer="Y").endswith(
        "Please wait...\nInitialization started...\n"
    )
    assert "    192.0.2.11 (me)   : Connected Primary\n" in wait_status(lab, "cms1", "(Success)")
    # 6. the other database nodes join; 7. the others connect.
    for n in ["cms2", "cms3"]:
        lab.run(n, "database cluster localnode a")
        assert lab.run(n, f"database cluster join cms1.{DOMAIN}", answer="Y").endswith("Join started...\n")
    for n in ["cms4", "cms5"]:
        lab.run(n, "database cluster localnode a")
        lab.run(n, f"database cluster connect cms1.{DOMAIN}", answer="Y")
    # 8. done when every node is Enabled and the replicas are in sync.
    in_sync = text(
        "    192.0.2.11        : Connected Primary",
        "    192.0.2.12 (me)   : Connected Replica ( In Sync )",
        "    192.0.2.13        : Connected Replica ( In Sync )",
    )
    assert in_sync in wait_status(lab, "cms2", f"'database cluster join cms1.{DOMAIN}' (Success)")
    wait_status(lab, "cms3", f"'database cluster join cms1.{DOMAIN}' (Success)")
    for n in ["cms4", "cms5"]:
        # [GUESS] a connect-only node: the database nodes without a `(me)` line, only its client certificates.
        assert wait_status(lab, n, "(Success)") == text(
            "Status                : Enabled",
            "",
            "Nodes:",
            "    192.0.2.11        : Connected Primary",
            "    192.0.2.12        : Connected Replica ( In Sync )",
            "    192.0.2.13        : Connected Replica ( In Sync )",
            "Node in use           : 192.0.2.11",
            "",
            "Interface              : a",
            "",
            "Certificates",
            "  Client Key           : dbclient.key",
            "  Client Certificate   : dbclient.crt",
            "  CA Certificate       : dbca.crt",
            "",
            f"Last command          : 'database cluster connect cms1.{DOMAIN}' (Success)",
            "",
        )
    primary = status(lab, "cms1")
    assert (
        text(
            "    192.0.2.11 (me)   : Connected Primary",
            "    192.0.2.12        : Connected Replica ( In Sync )",
            "    192.0.2.13        : Connected Replica ( In Sync )",
        )
        in primary
    )
    assert "(expired)" not in primary
    finished = [e for n in names for e in transitions(lab, n) if e["phase"] == "finished"]
    assert len(finished) == 10 and all(e["result"] == "Success" for e in finished)


# ---- seeding (in process, no network) -------------------------------------------------------------------------
def test_seeded_db_pki_follows_the_built_in_ca_recipe(tmp_path: Path) -> None:
    spec = core.normalize_spec({"cluster": {"cert_days": 10}}, nodes=4)
    lab = core.create_lab(tmp_path / "lab", spec)
    n1, n4 = lab.nodes["cms1"], lab.nodes["cms4"]
    ca = x509.load_certs(n1.read_file("dbclusterca.cer"))[0]
    server = x509.load_certs(n1.read_file("dbclusterserver.cer"))[0]
    client = x509.load_certs(n1.read_file("dbclusterclient.cer"))[0]
    assert x509.rfc4514(server.subject) == f"CN=cms1.{DOMAIN}"
    assert x509.san_values(server) == [f"cms{i}.{DOMAIN}" for i in (1, 2, 3)]
    assert x509.rfc4514(client.subject) == "CN=postgres"
    assert x509.verify_chain(server, [ca], lab.now()).ok and x509.verify_chain(client, [ca], lab.now()).ok
    left = server.not_valid_after_utc - lab.now()
    assert dt.timedelta(days=9.9) < left < dt.timedelta(days=10.1)
    assert server.not_valid_after_utc - server.not_valid_before_utc == dt.timedelta(days=365)
    assert x509.key_matches_cert(x509.load_key(n4.read_file("dbclusterclient.key")), client)
    assert n4.read_file("dbclusterserver.cer") == n1.read_file("dbclusterserver.cer")  # the same files everywhere
    assert n1.has_file("dbclusterca.key") and not n4.has_file("dbclusterca.key")
    roles = {name: node.state["dbcluster"]["role"] for name, node in lab.nodes.items()}
    assert roles == {"cms1": "primary", "cms2": "replica", "cms3": "replica", "cms4": "client"}
    assert all(node.state["dbcluster"]["transition"] is None for node in lab.nodes.values())


def test_seeded_expired_certificates_are_already_expired(tmp_path: Path) -> None:
    lab = core.create_lab(tmp_path / "lab", core.normalize_spec({"cluster": {"formed": False, "cert_days": -3}}))
    node = lab.nodes["cms2"]
    cert = x509.load_certs(node.read_file("dbclusterclient.cer"))[0]
    assert cert.not_valid_after_utc < lab.now()
    assert node.state["dbcluster"]["role"] == "none" and node.state["dbcluster"]["certs"] is None
