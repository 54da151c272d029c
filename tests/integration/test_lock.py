"""The node lock against the simulator over real SSH/SFTP: races, refusals naming the holder, expiry, break, release."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _lock
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import CLUSTER_LOCK_FILE, LOCK_FILE
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import BIN, REPO_ROOT, ansible_env
from tests.integration.helpers.db_cluster import mark, play


def session(lab: SimLab, node: str) -> MmpSession:
    return MmpSession(
        "127.0.0.1",
        port=lab.port(node),
        password=lab.password,
        known_hosts_file=str(lab.dir / "known_hosts"),
        name=node,
    ).connect()


def lock_on(lab: SimLab, node: str) -> dict[str, Any] | None:
    path = lab.files_dir(node) / LOCK_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _held(lab: SimLab, node: str) -> dict[str, Any]:
    holder = lock_on(lab, node)
    assert holder is not None, "%s holds no lock" % node
    return holder


def leftovers(lab: SimLab, node: str) -> list[str]:
    """Temporary lock files left in the store: there must never be any."""
    return sorted(p.name for p in lab.files_dir(node).iterdir() if p.name.startswith(LOCK_FILE + "."))


def lock_task(name: str, args: str, extra: str = "") -> str:
    return f"""
        - name: {name}
          cisco_cms.mmp.cms_lock:
{args}{extra}
"""


def race(sessions: list[MmpSession], prefix: str) -> tuple[list[str], list[_lock.MmpLockHeld]]:
    """Every session takes the lock for its own run at the same instant: (runs that got it, refusals)."""
    barrier = threading.Barrier(len(sessions))
    won: list[str] = []
    refused: list[_lock.MmpLockHeld] = []

    def take(index: int, s: MmpSession) -> None:
        run_id = f"{prefix}-{index}"
        barrier.wait()
        try:
            _lock.acquire(s, run_id, "race", 600)
        except _lock.MmpLockHeld as exc:
            refused.append(exc)
            return
        won.append(run_id)

    threads = [threading.Thread(target=take, args=pair) for pair in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return won, refused


def test_runs_locking_one_node_at_the_same_instant_exactly_one_wins_and_the_others_name_it(lab: SimLab) -> None:
    for round_ in range(3):
        sessions = [session(lab, "cms1") for _ in range(3)]
        try:
            won, refused = race(sessions, f"race{round_}")
            assert len(won) == 1 and len(refused) == 2, (won, [str(e) for e in refused])
            assert _held(lab, "cms1")["run_id"] == won[0]
            for exc in refused:
                assert "run %s (race)" % won[0] in exc.full_message()
                assert "break_lock: true" in exc.full_message()
            assert leftovers(lab, "cms1") == []
            assert _lock.release(sessions[0], won[0])["released"]
        finally:
            for s in sessions:
                s.close()
    assert lock_on(lab, "cms1") is None


def test_two_ansible_runs_at_once_one_locks_the_node_and_the_other_is_refused_with_the_holder(lab: SimLab) -> None:
    procs = [
        subprocess.Popen(
            [
                str(BIN / "ansible"),
                "cms2",
                "-i",
                str(lab.dir / "inventory.yml"),
                "-m",
                "cisco_cms.mmp.cms_lock",
                "-a",
                f"run_id=operator-{who} purpose='service_certs webadmin'",
            ],
            cwd=REPO_ROOT,
            env=ansible_env(lab.dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        outputs.append((proc.returncode, out, err))
    assert sorted(rc for rc, _out, _err in outputs) == [0, 2], outputs
    holder = lock_on(lab, "cms2")
    assert holder is not None and holder["purpose"] == "service_certs webadmin"
    loser = next(out for rc, out, _err in outputs if rc != 0)
    assert "run %s" % holder["run_id"] in loser, outputs
    assert "cms2 is locked by another run: run %s (service_certs webadmin)" % holder["run_id"] in loser
    assert "Nothing was changed" in loser and "break_lock: true" in loser
    assert leftovers(lab, "cms2") == []


def test_same_run_refreshes_another_is_refused_and_may_not_release_it_break_lock_frees_the_node(
    lab: SimLab, playbook: Callable[..., Any]
) -> None:
    tasks = (
        lock_task("take", "            run_id: run-a\n            purpose: db_cluster_rebuild\n            ttl: 600")
        + lock_task("again", "            run_id: run-a\n            purpose: db_cluster_rebuild\n            ttl: 900")
        + lock_task("other", "            run_id: run-b", "\n          ignore_errors: true")
        + lock_task("other releases", "            run_id: run-b\n            state: absent")
        + lock_task(
            "check release", "            run_id: run-a\n            state: absent", "\n          check_mode: true"
        )
        + lock_task("break", "            run_id: run-b\n            state: absent\n            break_lock: true")
    )
    run = playbook(lab, play(tasks, hosts="cms3"), diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    first, again = run.task("cms3", "take"), run.task("cms3", "again")
    assert first["changed"] and first["lock"]["run_id"] == "run-a" and first["file"] == LOCK_FILE
    assert again["refreshed"] and again["lock"]["started"] == first["lock"]["started"]
    assert again["diff"]["before"]["lock"]["expires"] == first["lock"]["expires"]

    other = run.task("cms3", "other")
    assert other["failed"] and other["holder"]["run_id"] == "run-a"
    assert "run run-a (db_cluster_rebuild)" in other["msg"] and "until %s" % again["lock"]["expires"] in other["msg"]

    refused = run.task("cms3", "other releases")
    assert not refused["changed"] and not refused["released"]
    assert any("held by another run" in w for w in refused["warnings"])

    predicted = run.task("cms3", "check release")
    assert predicted["changed"] and predicted["released"]

    broken = run.task("cms3", "break")
    assert broken["released"] and any("broke the lock of run run-a" in w for w in broken["warnings"])
    assert lock_on(lab, "cms3") is None and leftovers(lab, "cms3") == []


def test_a_lock_left_by_a_dead_run_is_taken_over_after_its_expiry_with_a_warning(
    lab: SimLab, playbook: Callable[..., Any]
) -> None:
    dead = _lock.Holder(
        owner="bob",
        run_id="killed-run",
        controller="old-ctl",
        pid=999,
        purpose="service_certs callbridge",
        started="2026-01-01T10:00:00Z",
        expires=_lock.iso(_lock.utcnow() - datetime.timedelta(seconds=5)),
    )
    (lab.files_dir("cms1") / LOCK_FILE).write_bytes(dead.to_bytes())
    run = playbook(lab, play(lock_task("take", "            run_id: run-new"), hosts="cms1"))
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms1", "take")
    assert result["taken_over"] == dead.to_dict() and not result["refreshed"]
    (warning,) = result["warnings"]
    assert "took over the lock of run killed-run (service_certs callbridge) of bob on old-ctl" in warning
    assert "expired at %s" % dead.expires in warning
    assert _held(lab, "cms1")["run_id"] == "run-new"


def test_check_mode_reports_the_lock_it_would_take_and_writes_nothing(
    lab: SimLab, playbook: Callable[..., Any]
) -> None:
    before = mark(lab, "cms2")["cms2"]
    run = playbook(lab, play(lock_task("take", "            run_id: run-dry"), hosts="cms2"), check=True)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.task("cms2", "take")["lock"]["run_id"] == "run-dry"
    writes = [e for e in lab.events("cms2")[before:] if e["event"] in ("sftp_put", "sftp_rename", "sftp_remove")]
    assert writes == [] and lock_on(lab, "cms2") is None


def test_pki_info_lists_a_held_lock_as_another_file_never_as_a_certificate_or_key(
    lab: SimLab, playbook: Callable[..., Any]
) -> None:
    with session(lab, "cms1") as s:
        _lock.acquire(s, "run-a", "service_certs webadmin", 600)
    before = mark(lab, "cms1")["cms1"]
    run = playbook(lab, play("        - name: info\n          cisco_cms.mmp.cms_pki_info: {}\n", hosts="cms1"))
    assert run.rc == 0, run.stdout[-3000:]
    info = run.task("cms1", "info")
    assert LOCK_FILE in info["files"] and LOCK_FILE in info["other_files"]
    for kind in ("certificates", "keys", "csrs", "unreadable"):
        assert LOCK_FILE not in info[kind]
    assert not [e for e in lab.events("cms1")[before:] if e["event"] == "sftp_get" and e["file"] == LOCK_FILE]


def docs_example(name: str) -> str:
    """A marked block of docs/concurrency.md, as the guide shows it."""
    text = (REPO_ROOT / "docs" / "concurrency.md").read_text()
    found = re.search(r"^<!-- example: %s\b[^\n]*-->\n```\w*\n(?P<body>.*?)^```$" % name, text, re.M | re.S)
    assert found, name
    return found["body"]


def test_the_guides_playbook_locks_every_node_and_frees_it_and_stops_where_another_run_holds_it(
    lab: SimLab, playbook: Callable[..., Any]
) -> None:
    example = docs_example("lock-playbook")
    run = playbook(lab, example)
    assert run.rc == 0, run.stdout[-3000:]
    ids = {run.task(node, "Lock the node")["lock"]["run_id"] for node in ("cms1", "cms2", "cms3")}
    assert len(ids) == 1  # one run id for the whole run
    assert all(lock_on(lab, node) is None for node in ("cms1", "cms2", "cms3"))

    with session(lab, "cms2") as s:
        _lock.acquire(s, "awx-4711", "db_cluster_rebuild", 600)
    blocked = playbook(lab, example)
    assert blocked.rc == 2
    refused = blocked.task("cms2", "Lock the node")
    assert refused["failed"] and refused["holder"]["run_id"] == "awx-4711"
    assert "run awx-4711 (db_cluster_rebuild)" in refused["msg"]
    assert "The change" not in [r["_task"] for r in blocked.results["cms2"]]
    # The always: release of the refused run leaves the holder's lock alone; the other nodes are freed.
    assert _held(lab, "cms2")["run_id"] == "awx-4711"
    assert lock_on(lab, "cms1") is None and lock_on(lab, "cms3") is None


# ---- the cluster lock: held on the cluster's lock node, waited for -------------------------------------------------
def cluster_lock_on(lab: SimLab, node: str) -> dict[str, Any] | None:
    path = lab.files_dir(node) / CLUSTER_LOCK_FILE
    return json.loads(path.read_text()) if path.exists() else None


def cluster_lock_cmd(lab: SimLab, node: str, args: str) -> list[str]:
    """``ansible NODE -m cms_lock`` for the lock of cluster ``a``, kept on cms1 (its lock node)."""
    return [
        str(BIN / "ansible"),
        node,
        "-i",
        str(lab.dir / "inventory.yml"),
        "-m",
        "cisco_cms.mmp.cms_lock",
        "-a",
        f"scope=cluster cluster=a host=127.0.0.1 port={lab.port('cms1')} {args}",
    ]


def test_a_second_holder_of_a_cluster_lock_waits_for_the_first_then_a_third_times_out_naming_the_holder(
    lab: SimLab,
) -> None:
    env = ansible_env(lab.dir)
    first = subprocess.run(
        cluster_lock_cmd(lab, "cms1", "run_id=run-a purpose=first"),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stdout
    assert cluster_lock_on(lab, "cms1") is not None and lock_on(lab, "cms1") is None  # a file of its own
    since = mark(lab, "cms1")["cms1"]
    second = subprocess.Popen(
        cluster_lock_cmd(lab, "cms2", "run_id=run-b purpose=second wait=120"),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The second run is waiting once it has read the held lock twice (one poll a second).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        reads = [
            e for e in lab.events("cms1")[since:] if e["event"] == "sftp_get" and e.get("file") == CLUSTER_LOCK_FILE
        ]
        if len(reads) >= 2:
            break
        time.sleep(0.2)
    assert second.poll() is None and (cluster_lock_on(lab, "cms1") or {}).get("node") == "cms1"
    released = subprocess.run(
        cluster_lock_cmd(lab, "cms1", "run_id=run-a state=absent"),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert released.returncode == 0, released.stdout
    out, _err = second.communicate(timeout=120)
    assert second.returncode == 0, out
    holder = cluster_lock_on(lab, "cms1")
    assert holder is not None and holder["run_id"] == "run-b" and holder["node"] == "cms2" and holder["cluster"] == "a"
    assert re.search(r"waited: [1-9]", out), out

    third = subprocess.run(
        cluster_lock_cmd(lab, "cms3", "run_id=run-c wait=2"),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert third.returncode != 0
    message = " ".join(third.stdout.split())
    assert (
        "cluster a (its lock node 127.0.0.1:%d) is locked by another run (waited 2 s for it" % lab.port("cms1")
        in message
    )
    assert "run run-b (second) for its node cms2" in message and "Nothing was changed" in message
    assert (cluster_lock_on(lab, "cms1") or {}).get("run_id") == "run-b"
    assert leftovers(lab, "cms1") == [] and not [
        p.name for p in lab.files_dir("cms1").iterdir() if p.name.startswith(CLUSTER_LOCK_FILE + ".")
    ]


def test_a_cluster_lock_task_without_the_lock_nodes_address_is_refused(lab: SimLab) -> None:
    # Filled from the inventory, each node's own address would give every node a cluster lock of its own.
    proc = subprocess.run(
        [
            str(BIN / "ansible"),
            "cms2",
            "-i",
            str(lab.dir / "inventory.yml"),
            "-m",
            "cisco_cms.mmp.cms_lock",
            "-a",
            "run_id=r scope=cluster cluster=a",
        ],
        cwd=REPO_ROOT,
        env=ansible_env(lab.dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "scope: cluster needs host" in " ".join(proc.stdout.split())
    assert cluster_lock_on(lab, "cms2") is None and cluster_lock_on(lab, "cms1") is None
