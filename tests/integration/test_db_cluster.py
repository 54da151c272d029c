"""cms_db_cluster and cms_db_cluster_info against the simulator: states, capital Y, waits, refusals, file checks."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cmssim.testing import SimLab
from tests.integration.helpers.db_cluster import (
    DB_FQDNS,
    DOMAIN,
    FAST,
    KEYS,
    STATUS,
    changing_events,
    cluster_ca,
    commands,
    make_db_pki,
    mark,
    play,
    src_args,
)


@pytest.fixture
def fast_lab(make_lab: Callable[..., SimLab]) -> SimLab:
    return make_lab(lab_file={"timings": FAST})


# ---- cms_db_cluster_info -----------------------------------------------------------------------------------------
def test_info_reads_each_node_of_the_formed_cluster(lab: SimLab, playbook: Callable[..., Any]) -> None:
    run = playbook(
        lab,
        play(
            """
        - name: info
          cisco_cms.mmp.cms_db_cluster_info:
            describe_certificates: true
"""
        ),
    )
    assert run.rc == 0, run.stdout[-3000:]
    primary = run.task("cms1", "info")
    assert (primary["state"], primary["healthy"], primary["local_address"]) == ("primary", True, "192.0.2.11")
    assert sorted(primary["in_sync_replicas"]) == ["192.0.2.12", "192.0.2.13"]
    replica = run.task("cms2", "info")
    assert (replica["state"], replica["healthy"], replica["primary_address"]) == ("replica", True, "192.0.2.11")
    assert replica["certificates"]["server_cert"] == "dbclusterserver.cer"
    details = replica["certificate_details"]
    assert details["client_cert"]["common_name"] == "postgres"
    assert 8 <= details["server_cert"]["days_left"] <= 10  # the default lab's DB certificates expire in ~10 days
    assert (
        details["server_cert"]["sha256"]
        == hashlib.sha256((lab.files_dir("cms2") / "dbclusterserver.cer").read_bytes()).hexdigest()
    )
    assert "server_key" not in details  # keys are never downloaded to be described
    assert run.changed("cms1") == 0


def test_info_understands_master_slave_wording(make_lab: Callable[..., SimLab], playbook: Callable[..., Any]) -> None:
    lab = make_lab(cms_version="2")
    run = playbook(lab, play("        - name: info\n          cisco_cms.mmp.cms_db_cluster_info: {}\n"))
    assert run.rc == 0, run.stdout[-3000:]
    assert [run.task(n, "info")["state"] for n in ("cms1", "cms2", "cms3")] == ["primary", "replica", "replica"]
    assert all(run.task(n, "info")["healthy"] for n in ("cms1", "cms2", "cms3"))
    assert "Connected Slave ( In Sync )" in str(run.task("cms2", "info")["cluster_status"]["nodes"])


def test_info_fetches_files_0600_into_a_0700_directory(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    # A relative fetch_dest is relative to the playbook's directory (the playbook is written to tmp_path and runs
    # from the repository), as ansible.builtin.fetch resolves its dest.
    dest = tmp_path / "fetched" / "deeper"
    run = playbook(
        lab,
        play(
            """
        - name: fetch
          cisco_cms.mmp.cms_db_cluster_info:
            fetch: [dbclusterca.key, dbclusterca.cer]
            fetch_dest: fetched/deeper
""",
            hosts="cms1",
        ),
    )
    assert run.rc == 0, run.stdout[-3000:]
    for name in ("dbclusterca.key", "dbclusterca.cer"):
        assert (dest / name).read_bytes() == (lab.files_dir("cms1") / name).read_bytes()
        assert stat.S_IMODE((dest / name).stat().st_mode) == 0o600
        assert (
            run.task("cms1", "fetch")["fetched"][name]["sha256"]
            == hashlib.sha256((dest / name).read_bytes()).hexdigest()
        )
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700


def test_info_check_certs_reports_every_problem_of_a_bad_set(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    # Named relative to the playbook's files/ (the playbook is written to tmp_path), as cms_db_cluster finds them.
    good = make_db_pki(tmp_path / "files" / "good", DB_FQDNS[0], DB_FQDNS, prefix="good")
    other = make_db_pki(
        tmp_path / "files" / "other", DB_FQDNS[0], DB_FQDNS[:1], client_cn="pgclient", days=-1, prefix="bad"
    )
    # A key of another set, a client certificate without postgres in its CN and expired, a server SAN short of
    # cms2/cms3, all against the CA of the good set.
    paths = {
        "server_key": good["client_key"],
        "server_cert": other["server_cert"],
        "client_key": other["client_key"],
        "client_cert": other["client_cert"],
        "ca_cert": good["ca_cert"],
    }
    run = playbook(
        lab,
        play(
            f"""
        - name: check
          cisco_cms.mmp.cms_db_cluster_info:
            check_certs:
{src_args(paths, relative_to=tmp_path / "files").replace("            ", "              ")}
              server_cert_names: {DB_FQDNS}
""",
            hosts="cms2",
        ),
    )
    assert run.rc == 0, run.stdout[-3000:]
    report = run.task("cms2", "check")["check_certs"]
    assert report["ok"] is False
    problems = "\n".join(report["problems"])
    assert "server certificate badserver.crt does not belong to server key goodclient.key" in problems
    assert "server certificate badserver.crt does not chain to the CA certificate goodca.crt" in problems
    assert "client certificate badclient.crt does not chain to the CA certificate goodca.crt" in problems
    assert "client certificate badclient.crt expired on" in problems
    assert (
        "client certificate badclient.crt has CN 'pgclient'; the client certificate's CN must contain 'postgres'"
        in (problems)
    )
    assert "does not cover cms2.lab.cms.example, cms3.lab.cms.example" in problems
    assert report["uploads_needed"] == [
        "goodclient.key",
        "badserver.crt",
        "badclient.key",
        "badclient.crt",
        "goodca.crt",
    ]
    assert report["configured"] is False


# ---- cms_db_cluster: the states -------------------------------------------------------------------------------
def test_remove_answers_capital_y_waits_and_is_idempotent(fast_lab: SimLab, playbook: Callable[..., Any]) -> None:
    lab = fast_lab
    task = play("        - name: remove\n          cisco_cms.mmp.cms_db_cluster:\n            state: absent\n", "cms3")
    first = playbook(lab, task)
    assert first.rc == 0, first.stdout[-3000:]
    result = first.task("cms3", "remove")
    assert result["changed"] and result["commands"] == ["database cluster remove"]
    assert (result["previous_state"], result["state"]) == ("replica", "disabled")
    # The module returns once the node is Disabled, within a poll interval of the simulated 0.3 s transition.
    assert 0.25 <= result["waited"] < 1.0
    assert lab.run("cms3", STATUS).startswith("Status                : Disabled\n")
    # Only a capital Y starts the transition on the simulator, and no question went unanswered or refused.
    started = [e for e in lab.events("cms3") if e["event"] == "cluster_transition" and e["phase"] == "started"]
    assert [e["kind"] for e in started] == ["remove"]
    assert not [e for e in lab.events("cms3") if e["event"] == "confirmation"]
    before = mark(lab, "cms3")["cms3"]
    second = playbook(lab, task)
    assert second.rc == 0 and not second.task("cms3", "remove")["changed"]
    assert commands(lab, "cms3", before) == [STATUS]


def test_certs_are_refused_while_clustering_is_enabled(lab: SimLab, playbook: Callable[..., Any]) -> None:
    before = mark(lab, "cms2")["cms2"]
    run = playbook(
        lab,
        play(
            """
        - name: certs
          cisco_cms.mmp.cms_db_cluster:
            state: certs
            server_key: dbserver-2027.key
            server_cert: dbserver-2027.crt
            client_key: dbclient-2027.key
            client_cert: dbclient-2027.crt
            ca_cert: dbca-2027.crt
""",
            "cms2",
        ),
    )
    assert run.rc != 0
    msg = run.task("cms2", "certs")["msg"]
    assert "cms2 is a replica of 192.0.2.11" in msg
    assert "Remove it from the cluster first with state: absent" in msg
    assert "Nothing was changed" in msg
    assert commands(lab, "cms2", before) == [STATUS]


def test_a_healthy_replica_is_already_joined(lab: SimLab, playbook: Callable[..., Any]) -> None:
    before = mark(lab, "cms2")["cms2"]
    run = playbook(
        lab,
        play(
            """
        - name: join
          cisco_cms.mmp.cms_db_cluster:
            state: joined
            primary: 192.0.2.11
            server_key: dbclusterserver.key
            server_cert: dbclusterserver.cer
            client_key: dbclusterclient.key
            client_cert: dbclusterclient.cer
            ca_cert: dbclusterca.cer
""",
            "cms2",
        ),
    )
    assert run.rc == 0, run.stdout[-3000:]
    assert run.task("cms2", "join")["changed"] is False and run.task("cms2", "join")["commands"] == []
    assert commands(lab, "cms2", before) == [STATUS]


def test_a_replica_rejoins_on_new_files_uploaded_from_the_controller(
    fast_lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = fast_lab
    # New files from the cluster's own CA: cms3 can rejoin the running primary with them. They are named relative
    # to the playbook (written to tmp_path; ansible runs from the repository) and found as copy finds its src: the
    # four new ones in the playbook's files/, the CA certificate in the playbook's directory.
    paths = make_db_pki(tmp_path / "files", DB_FQDNS[0], DB_FQDNS, ca=cluster_ca(lab), prefix="renewed")
    paths["ca_cert"] = tmp_path / "dbclusterca.cer"
    paths["ca_cert"].write_bytes((lab.files_dir("cms1") / "dbclusterca.cer").read_bytes())
    # Two of them saved as on Windows (CRLF, blank lines after): uploaded normalised, exactly as their clean copies.
    clean = {key: paths[key].read_bytes() for key in ("server_cert", "client_key")}
    for key, data in clean.items():
        paths[key].write_bytes(data.replace(b"\n", b"\r\n") + b"\r\n\r\n")
    remove = """
        - name: remove
          cisco_cms.mmp.cms_db_cluster:
            state: absent
"""
    join_task = f"""
        - name: join
          cisco_cms.mmp.cms_db_cluster:
            state: joined
            primary: cms1.{DOMAIN}
{src_args(paths, KEYS[:4], relative_to=tmp_path / "files")}
            ca_cert_src: dbclusterca.cer
            server_cert_names: {DB_FQDNS}
"""
    first = playbook(lab, play(remove + join_task, "cms3"), diff=True)
    assert first.rc == 0, first.stdout[-3000:]
    join = first.task("cms3", "join")
    assert join["commands"] == [
        "database cluster certs renewedserver.key renewedserver.crt renewedclient.key renewedclient.crt "
        "dbclusterca.cer",
        f"database cluster join cms1.{DOMAIN}",
    ]
    # dbclusterca.cer is already on the node with that content: only the four new files travel.
    assert join["uploaded"] == ["renewedserver.key", "renewedserver.crt", "renewedclient.key", "renewedclient.crt"]
    assert join["state"] == "replica" and join["certificates"]["server_cert"]["san"] == DB_FQDNS
    assert join["diff"]["before"]["certificates"]["server_key"] == "dbclusterserver.key"
    assert join["diff"]["after"]["certificates"]["server_key"] == "renewedserver.key"
    for key in ("server_key", "client_cert"):
        assert (lab.files_dir("cms3") / paths[key].name).read_bytes() == paths[key].read_bytes()
    for key, data in clean.items():
        assert (lab.files_dir("cms3") / paths[key].name).read_bytes() == data
    assert "    192.0.2.13 (me)   : Connected Replica ( In Sync )\n" in lab.run("cms3", STATUS)
    assert "    192.0.2.13        : Connected Replica ( In Sync )\n" in lab.run("cms1", STATUS)
    # Joined by FQDN: the status shows the primary's address, the last command names the FQDN; still a no-op.
    before = mark(lab, "cms3")["cms3"]
    second = playbook(lab, play(join_task, "cms3"))
    assert second.rc == 0 and second.changed("cms3") == 0
    assert commands(lab, "cms3", before) == [STATUS]


def test_remove_first_takes_a_replica_out_and_back_onto_new_files_in_one_session(
    fast_lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = fast_lab
    paths = make_db_pki(tmp_path / "new", DB_FQDNS[0], DB_FQDNS, ca=cluster_ca(lab))
    task = play(
        f"""
        - name: rejoin
          cisco_cms.mmp.cms_db_cluster:
            state: joined
            primary: 192.0.2.11
            remove_first: true
{src_args(paths)}
""",
        "cms3",
    )
    plan = [
        "database cluster remove",
        "database cluster certs extserver.key extserver.crt extclient.key extclient.crt extca.crt",
        "database cluster join 192.0.2.11",
    ]
    # Check mode: the remove is in the plan, nothing is sent.
    before = mark(lab, "cms3")["cms3"]
    dry = playbook(lab, task, check=True)
    assert dry.rc == 0, dry.stdout[-3000:]
    assert dry.task("cms3", "rejoin")["commands"] == plan
    assert set(commands(lab, "cms3", before)) == {STATUS}
    # For real: one session, the remove waited for before the certificates, then the join.
    run = playbook(lab, task)
    assert run.rc == 0, run.stdout[-3000:]
    rejoin = run.task("cms3", "rejoin")
    assert rejoin["commands"] == plan and (rejoin["previous_state"], rejoin["state"]) == ("replica", "replica")
    assert rejoin["waited"] >= FAST["cluster_remove"] + FAST["cluster_join"] - 0.05
    assert [c for c in commands(lab, "cms3", before) if c != STATUS] == plan
    opened = [e for e in lab.events("cms3")[before:] if e["event"] == "connection_opened"]
    assert len(opened) == 2  # the check-mode run and the real one: one session each
    assert "    192.0.2.13 (me)   : Connected Replica ( In Sync )\n" in lab.run("cms3", STATUS)
    # Once there, nothing to do, with or without remove_first.
    again = playbook(lab, task)
    assert again.rc == 0 and again.changed("cms3") == 0


def test_check_mode_plans_without_touching_the_node(
    fast_lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = fast_lab
    lab.run("cms3", "database cluster remove", answer="Y")
    paths = make_db_pki(tmp_path / "new", DB_FQDNS[0], DB_FQDNS, ca=cluster_ca(lab))
    before = mark(lab, "cms3")["cms3"]
    run = playbook(
        lab,
        play(
            f"""
        - name: join
          cisco_cms.mmp.cms_db_cluster:
            state: joined
            primary: 192.0.2.11
{src_args(paths)}
""",
            "cms3",
        ),
        check=True,
        diff=True,
    )
    assert run.rc == 0, run.stdout[-3000:]
    join = run.task("cms3", "join")
    assert join["changed"] is True
    assert join["commands"] == [
        "database cluster certs extserver.key extserver.crt extclient.key extclient.crt extca.crt",
        "database cluster join 192.0.2.11",
    ]
    assert join["diff"]["after"]["state"] == "replica"
    assert join["diff"]["after"]["uploads"] == [p.name for p in paths.values()]
    # The running remove was waited for (read-only), then nothing but status reads and SFTP listing.
    assert set(commands(lab, "cms3", before)) == {STATUS}
    assert not [e for e in changing_events(lab, "cms3", before) if e["event"] != "cluster_transition"]
    assert not any(name.startswith("ext") for name in os.listdir(lab.files_dir("cms3")))


def test_bad_files_are_refused_before_anything_changes(
    fast_lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = fast_lab
    lab.run("cms3", "database cluster remove", answer="Y")
    foreign = make_db_pki(tmp_path / "foreign", DB_FQDNS[0], DB_FQDNS)
    paths = make_db_pki(tmp_path / "new", DB_FQDNS[0], DB_FQDNS, ca=cluster_ca(lab))
    paths["ca_cert"] = foreign["ca_cert"]  # the certificates do not chain to this CA
    before = mark(lab, "cms3")["cms3"]
    run = playbook(
        lab,
        play(
            f"        - name: certs\n          cisco_cms.mmp.cms_db_cluster:\n            state: certs\n{src_args(paths)}\n",
            "cms3",
        ),
    )
    assert run.rc != 0
    msg = run.task("cms3", "certs")["msg"]
    assert "the database cluster certificate files are not usable, nothing was changed" in msg
    assert "server certificate extserver.crt does not chain to the CA certificate extca.crt" in msg
    assert "client certificate extclient.crt does not chain" in msg
    assert not [e for e in changing_events(lab, "cms3", before) if e["event"] != "cluster_transition"]


def test_a_join_that_fails_reports_the_failed_status(
    fast_lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = fast_lab
    lab.run("cms3", "database cluster remove", answer="Y")
    # Valid files, but from another CA than the primary's: the simulator refuses the join, as CMS would.
    paths = make_db_pki(tmp_path / "foreign", DB_FQDNS[0], DB_FQDNS)
    run = playbook(
        lab,
        play(
            f"""
        - name: join
          cisco_cms.mmp.cms_db_cluster:
            state: joined
            primary: 192.0.2.11
{src_args(paths)}
""",
            "cms3",
        ),
    )
    assert run.rc != 0
    msg = run.task("cms3", "join")["msg"]
    assert (
        "database cluster join 192.0.2.11 failed on cms3 (the status reports it Failed: Couldn't join the database "
        "cluster; status Error)" in msg
    )
    assert "issued by the same CA" in msg


def test_a_slow_transition_times_out_with_the_last_status_and_a_rerun_waits_for_it(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any]
) -> None:
    lab = make_lab(lab_file={"timings": {**FAST, "cluster_remove": 8}})
    task = "        - name: remove\n          cisco_cms.mmp.cms_db_cluster:\n            state: absent\n            timeout: {}\n"
    run = playbook(lab, play(task.format(1), "cms2"))
    assert run.rc != 0
    msg = run.task("cms2", "remove")["msg"]
    assert "database cluster remove reaching removed from the cluster (Disabled) did not happen within 1s" in msg
    assert "Status                : Disabling (Started " in msg
    # The re-run finds the removal still running, waits for it, and sends nothing more.
    rerun = playbook(lab, play(task.format(30), "cms2"))
    assert rerun.rc == 0, rerun.stdout[-3000:]
    result = rerun.task("cms2", "remove")
    assert result["changed"] is False and result["state"] == "disabled" and result["waited"] > 0
    assert commands(lab, "cms2").count("database cluster remove") == 1


def test_primary_and_connected_states_on_a_rebuilt_five_node_cluster(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any]
) -> None:
    nodes = [{"name": f"cms{i}"} for i in (1, 2, 3)] + [
        {"name": "cms4", "database": False},
        {"name": "cms5", "database": False},
    ]
    lab = make_lab(lab_file={"nodes": nodes, "timings": FAST})
    files5 = """
            server_key: dbclusterserver.key
            server_cert: dbclusterserver.cer
            client_key: dbclusterclient.key
            client_cert: dbclusterclient.cer
            ca_cert: dbclusterca.cer"""
    files3 = "\n" + "\n".join(files5.splitlines()[3:])
    run = playbook(
        lab,
        play(
            f"""
        - name: remove others
          cisco_cms.mmp.cms_db_cluster:
            state: absent
          when: inventory_hostname != 'cms1'
        - name: remove primary
          cisco_cms.mmp.cms_db_cluster:
            state: absent
          when: inventory_hostname == 'cms1'
        - name: primary
          cisco_cms.mmp.cms_db_cluster:
            state: primary{files5}
          when: inventory_hostname == 'cms1'
        - name: join
          cisco_cms.mmp.cms_db_cluster:
            state: joined
            primary: 192.0.2.11{files5}
          when: cms_database and inventory_hostname != 'cms1'
        - name: connect
          cisco_cms.mmp.cms_db_cluster:
            state: connected
            primary: 192.0.2.11{files3}
          when: not cms_database
"""
        ),
    )
    assert run.rc == 0, run.stdout[-3000:]
    primary = run.task("cms1", "primary")
    # The seeded nodes keep their certificate configuration through remove: only initialize runs.
    assert primary["commands"] == ["database cluster initialize"] and primary["state"] == "primary"
    assert run.task("cms4", "connect")["commands"] == ["database cluster connect 192.0.2.11"]
    assert run.task("cms5", "connect")["state"] == "client"
    assert run.task("cms2", "join")["state"] == "replica"
    status = lab.run("cms5", STATUS)
    assert "    192.0.2.11        : Connected Primary\n" in status
    assert "'database cluster connect 192.0.2.11' (Success)" in status
