"""The node lock's decisions on a fake file store: content, expiry, the same run, other runs, races, release."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _lock
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    CLUSTER_LOCK_FILE,
    LOCK_FILE,
    is_lock_file,
    validate_file_name,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpCommandError, MmpValidationError

T0 = datetime.datetime(2026, 12, 6, 20, 0, 0, tzinfo=datetime.UTC)
# The test process stands for the run holding the lock: its processes run, so its lock is not taken for a dead run's.
LIVE = os.getpid()
ME = {"owner": "alice", "controller": "ctl-a", "pid": LIVE, "worker_pid": LIVE}
OTHER = {"owner": "bob", "controller": "awx-ee-7f9c", "pid": 77}


class FakeStore:
    """The SFTP operations the lock uses, with the semantics of an SFTP v3 server: rename never overwrites."""

    name = "cms1"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        # Called before each rename with (old, new): a test makes another run act at that instant.
        self.before_rename: Callable[[str, str], None] | None = None

    def _refuse(self, what: str, why: str) -> MmpCommandError:
        return MmpCommandError("%s failed on cms1: %s" % (what, why), node="cms1", command=what)

    def exists(self, name: str) -> bool:
        return name in self.files

    def download(self, name: str) -> bytes:
        if name not in self.files:
            raise self._refuse("sftp get " + name, "No such file")
        return self.files[name]

    def upload(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return "sha"

    def rename(self, old: str, new: str) -> None:
        if self.before_rename is not None:
            hook, self.before_rename = self.before_rename, None
            hook(old, new)
        if old not in self.files:
            raise self._refuse("sftp rename %s %s" % (old, new), "No such file")
        if new in self.files:
            raise self._refuse("sftp rename %s %s" % (old, new), "Failure")
        self.files[new] = self.files.pop(old)

    def remove(self, name: str) -> None:
        if name not in self.files:
            raise self._refuse("sftp rm " + name, "No such file")
        del self.files[name]

    def holder(self) -> dict[str, object]:
        return json.loads(self.files[LOCK_FILE])


def take(
    store: FakeStore, run_id: str = "run-a", *, at: datetime.datetime = T0, who: dict | None = None, **kwargs: Any
) -> Any:
    purpose = kwargs.pop("purpose", "service_certs webadmin")
    return _lock.acquire(store, run_id, purpose, now=at, identity=who or ME, **kwargs)


def test_a_free_node_is_locked_with_owner_run_controller_pid_purpose_start_and_expiry() -> None:
    store = FakeStore()
    result = take(store, ttl=600)
    assert result["changed"] and not result["refreshed"] and result["taken_over"] is None
    assert result["previous"] is None and result["warnings"] == []
    assert store.holder() == {
        "owner": "alice",
        "run_id": "run-a",
        "controller": "ctl-a",
        "pid": LIVE,
        "worker_pid": LIVE,
        "tied_to_process": False,
        "purpose": "service_certs webadmin",
        "started": "2026-12-06T20:00:00Z",
        "expires": "2026-12-06T20:10:00Z",
    }
    assert result["lock"] == store.holder()
    assert list(store.files) == [LOCK_FILE]  # no temporary file left behind


def test_the_same_run_taking_the_lock_again_refreshes_the_expiry_and_keeps_the_start() -> None:
    store = FakeStore()
    take(store, ttl=600)
    later = T0 + datetime.timedelta(minutes=9)
    result = take(store, at=later, ttl=600)
    assert result["refreshed"] and result["taken_over"] is None and result["warnings"] == []
    assert result["previous"]["expires"] == "2026-12-06T20:10:00Z"
    assert store.holder()["started"] == "2026-12-06T20:00:00Z"
    assert store.holder()["expires"] == "2026-12-06T20:19:00Z"
    assert list(store.files) == [LOCK_FILE]


def test_another_runs_live_lock_refuses_naming_holder_since_until_and_how_to_break_it() -> None:
    store = FakeStore()
    take(store, "run-a", ttl=3600)
    before = dict(store.files)
    with pytest.raises(_lock.MmpLockHeld) as caught:
        take(store, "run-b", at=T0 + datetime.timedelta(minutes=5), who=OTHER)
    message = caught.value.full_message()
    for part in ("cms1", "run run-a", "service_certs webadmin", "alice", "ctl-a", "pid %d" % LIVE):
        assert part in message
    assert "since 2026-12-06T20:00:00Z" in message and "until 2026-12-06T21:00:00Z" in message
    assert "break_lock: true" in message and "service_certs_break_lock" in message
    assert "Nothing was changed" in message
    assert caught.value.to_fail_kwargs()["holder"]["run_id"] == "run-a"
    assert store.files == before


def test_an_expired_lock_is_taken_over_with_a_warning_naming_the_dead_run() -> None:
    store = FakeStore()
    take(store, "run-a", ttl=60)
    result = take(store, "run-b", at=T0 + datetime.timedelta(seconds=60), who=OTHER, purpose="db_cluster_rebuild")
    assert result["taken_over"]["run_id"] == "run-a" and not result["refreshed"]
    assert len(result["warnings"]) == 1
    assert "run run-a" in result["warnings"][0] and "expired at 2026-12-06T20:01:00Z" in result["warnings"][0]
    assert store.holder()["run_id"] == "run-b" and store.holder()["owner"] == "bob"
    assert list(store.files) == [LOCK_FILE]


def test_break_lock_takes_over_a_live_lock_with_a_warning() -> None:
    store = FakeStore()
    take(store, "run-a")
    result = take(store, "run-b", who=OTHER, break_lock=True)
    assert result["taken_over"]["run_id"] == "run-a"
    assert "broken on request" in result["warnings"][0]
    assert store.holder()["run_id"] == "run-b"


def test_an_unreadable_lock_file_is_held_until_broken() -> None:
    store = FakeStore()
    store.files[LOCK_FILE] = b"not json\n"
    with pytest.raises(_lock.MmpLockHeld, match="unreadable lock file"):
        take(store)
    result = take(store, break_lock=True)
    assert result["taken_over"] == {"unreadable": True}
    assert store.holder()["run_id"] == "run-a"


def test_check_mode_reads_and_reports_but_writes_nothing() -> None:
    store = FakeStore()
    result = take(store, check_mode=True)
    assert result["changed"] and result["lock"]["run_id"] == "run-a"
    assert store.files == {}
    take(store, "run-a")
    with pytest.raises(_lock.MmpLockHeld):
        take(store, "run-b", check_mode=True)  # the real run would be refused: so is its prediction


def test_two_runs_racing_for_a_free_node_one_wins_and_the_loser_names_the_winner() -> None:
    store = FakeStore()

    def other_run_wins(old: str, new: str) -> None:
        take(store, "run-b", who=OTHER)  # run-b renames its lock into place first

    store.before_rename = other_run_wins
    with pytest.raises(_lock.MmpLockHeld, match="run run-b"):
        take(store, "run-a")
    assert store.holder()["run_id"] == "run-b"
    assert list(store.files) == [LOCK_FILE]  # the loser's temporary file is gone


def test_a_lock_replaced_between_the_read_and_the_takeover_is_put_back_untouched() -> None:
    store = FakeStore()
    take(store, "run-a", ttl=60)
    late = T0 + datetime.timedelta(seconds=61)

    def run_c_takes_over_first(old: str, new: str) -> None:
        take(store, "run-c", at=late, who=OTHER)

    # run-b's upload of its new lock comes first, then the rename aside: run-c gets in just before it.
    store.before_rename = run_c_takes_over_first
    with pytest.raises(_lock.MmpLockHeld, match="run run-c"):
        take(store, "run-b", at=late)
    assert store.holder()["run_id"] == "run-c"
    assert list(store.files) == [LOCK_FILE]


def test_release_removes_the_lock_this_run_holds() -> None:
    store = FakeStore()
    take(store, "run-a")
    result = _lock.release(store, "run-a")
    assert result["changed"] and result["released"] and result["holder"]["run_id"] == "run-a"
    assert store.files == {}


def test_release_by_another_run_leaves_the_lock_and_warns() -> None:
    store = FakeStore()
    take(store, "run-a")
    result = _lock.release(store, "run-b")
    assert not result["changed"] and not result["released"]
    assert "held by another run" in result["warnings"][0] and "run run-a" in result["warnings"][0]
    assert store.holder()["run_id"] == "run-a"


def test_release_with_break_lock_removes_another_runs_lock() -> None:
    store = FakeStore()
    take(store, "run-a")
    result = _lock.release(store, "run-b", break_lock=True)
    assert result["released"] and "broke the lock" in result["warnings"][0]
    assert store.files == {}


def test_release_of_a_free_node_and_release_in_check_mode_change_nothing() -> None:
    store = FakeStore()
    assert _lock.release(store, "run-a") == {"changed": False, "released": False, "holder": None, "warnings": []}
    take(store, "run-a")
    result = _lock.release(store, "run-a", check_mode=True)
    assert result["changed"] and result["released"] and LOCK_FILE in store.files


def test_release_does_not_remove_a_lock_another_run_took_meanwhile() -> None:
    store = FakeStore()
    take(store, "run-a", ttl=60)
    late = T0 + datetime.timedelta(seconds=61)

    def run_b_takes_over(old: str, new: str) -> None:
        take(store, "run-b", at=late, who=OTHER)

    store.before_rename = run_b_takes_over
    with pytest.raises(_lock.MmpLockHeld, match="run run-b"):
        _lock.release(store, "run-a")
    assert store.holder()["run_id"] == "run-b"


@pytest.mark.parametrize(
    ("run_id", "ttl", "problem"),
    [
        ("", 60, "run_id is empty"),
        ("a\nb", 60, "run_id must be one line"),
        ("x" * 201, 60, "at most 200"),
        ("run-a", 0, "ttl is 0"),
        ("run-a", -5, "ttl is -5"),
        ("run-a", _lock.MAX_TTL + 1, "at most 86400"),
    ],
)
def test_bad_run_id_or_ttl_is_refused_before_anything_is_sent(run_id: str, ttl: int, problem: str) -> None:
    store = FakeStore()
    with pytest.raises(MmpValidationError, match=problem):
        take(store, run_id, ttl=ttl)
    assert store.files == {}


def test_a_lock_file_name_is_refused_as_a_certificate_or_key_name() -> None:
    for name in (LOCK_FILE, LOCK_FILE + ".1a2b.new"):
        with pytest.raises(MmpValidationError, match="node lock"):
            validate_file_name(name, "cert")
    assert validate_file_name("cisco_cms_mmp.cer", "cert") == "cisco_cms_mmp.cer"


def test_controller_identity_names_a_user_a_host_and_a_process() -> None:
    who = _lock.controller_identity()
    assert who["owner"] and who["controller"] and isinstance(who["pid"], int)


def test_a_lock_whose_processes_ended_on_this_controller_is_taken_over_with_a_warning() -> None:
    # What a kill -9 of ansible-playbook and its worker leaves: a lock naming processes that no longer run.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(dead.stdout)
    store = FakeStore()
    take(store, "killed-run", who={**ME, "pid": dead_pid, "worker_pid": dead_pid}, tied_to_process=True)
    result = take(store, "relaunch")
    assert store.holder()["run_id"] == "relaunch"
    assert result["taken_over"]["run_id"] == "killed-run"
    assert "no process %d or %d runs on this controller" % (dead_pid, dead_pid) in result["warnings"][0]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="zombies are told apart through /proc")
def test_a_lock_whose_killed_worker_is_a_zombie_not_yet_reaped_is_taken_over() -> None:
    # A killed worker whose ansible-playbook died too waits as a zombie for init to reap it (late, in a container):
    # it keeps its pid but runs nothing. Here the test process is the parent that has not reaped its child yet.
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = "/proc/%d/stat" % zombie.pid
    for _attempt in range(500):
        with open(stat) as fh:
            if fh.read().rpartition(")")[2].split()[0] == "Z":
                break
        time.sleep(0.01)
    else:
        pytest.fail("the child never became a zombie")
    try:
        store = FakeStore()
        take(store, "killed-run", who={**ME, "pid": zombie.pid, "worker_pid": zombie.pid}, tied_to_process=True)
        result = take(store, "relaunch")
        assert store.holder()["run_id"] == "relaunch"
        assert result["taken_over"]["run_id"] == "killed-run"
    finally:
        zombie.wait()


def test_a_lock_whose_worker_still_runs_is_refused_though_its_playbook_process_ended() -> None:
    # The kill -9 observation: a module goes on after its ansible-playbook was killed, and still changes the node.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    store = FakeStore()
    take(store, "detached", who={**ME, "pid": int(dead.stdout), "worker_pid": LIVE}, tied_to_process=True)
    with pytest.raises(_lock.MmpLockHeld):
        take(store, "relaunch")


def test_a_dead_run_of_another_controller_waits_for_its_expiry() -> None:
    # Processes of another machine cannot be looked at: its lock holds until it expires.
    store = FakeStore()
    take(store, "elsewhere", who={**OTHER, "worker_pid": 1}, tied_to_process=True)
    with pytest.raises(_lock.MmpLockHeld):
        take(store, "relaunch")


def test_a_lock_meant_to_outlast_its_command_holds_after_its_process_ended() -> None:
    # An ad-hoc cms_lock holding a node for maintenance: its `ansible` process ends at once, the lock stays.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    store = FakeStore()
    take(store, "maintenance", who={**ME, "pid": int(dead.stdout), "worker_pid": int(dead.stdout)})
    with pytest.raises(_lock.MmpLockHeld):
        take(store, "relaunch")


# ---- the cluster lock (scope: cluster) and waiting for a held lock ---------------------------------------------------
def cluster(node: str) -> _lock.Target:
    """The lock of cluster ``a`` kept on its lock node 10.0.0.1, taken for ``node``."""
    return _lock.Target.for_cluster("a", node, "10.0.0.1")


def test_a_cluster_lock_is_its_own_file_naming_the_cluster_and_the_node_it_is_held_for() -> None:
    store = FakeStore()
    take(store, "run-a")  # the lock node's own node lock is another file, untouched by the cluster lock
    result = take(store, "run-a", target=cluster("cms2"), tied_to_process=True)
    assert set(store.files) == {LOCK_FILE, CLUSTER_LOCK_FILE}
    held = json.loads(store.files[CLUSTER_LOCK_FILE])
    assert held["cluster"] == "a" and held["node"] == "cms2" and held["run_id"] == "run-a"
    assert result["lock"] == held and "cluster" not in store.holder() and "node" not in store.holder()


def test_the_same_run_taking_the_cluster_lock_for_another_node_is_refused_naming_the_node_that_holds_it() -> None:
    store = FakeStore()
    take(store, "run-a", target=cluster("cms1"))
    with pytest.raises(_lock.MmpLockHeld) as caught:
        take(store, "run-a", target=cluster("cms2"))
    message = caught.value.full_message()
    assert message.startswith("cluster a (its lock node 10.0.0.1) is locked by another run: run run-a")
    assert "for its node cms1" in message and "Nothing was changed" in message
    assert "service_certs_cluster_break_lock" in message
    refreshed = take(store, "run-a", at=T0 + datetime.timedelta(minutes=1), target=cluster("cms1"))
    assert refreshed["refreshed"] and json.loads(store.files[CLUSTER_LOCK_FILE])["node"] == "cms1"


def test_a_cluster_lock_is_released_only_for_the_node_that_holds_it() -> None:
    store = FakeStore()
    take(store, "run-a", target=cluster("cms1"))
    other = _lock.release(store, "run-a", target=cluster("cms2"))
    assert not other["released"] and "run run-a (service_certs webadmin) for its node cms1" in other["warnings"][0]
    assert CLUSTER_LOCK_FILE in store.files
    assert _lock.release(store, "run-a", target=cluster("cms1"))["released"]
    assert store.files == {}


def dead_pid() -> int:
    """A process id that ran a moment ago and runs no more: what a kill -9 leaves in a lock."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(dead.stdout)


def killed_while_changing(store: FakeStore, node: str) -> dict[str, Any]:
    """A cluster lock a killed run left while it changed ``node``; its processes are gone."""
    pid = dead_pid()
    who = {**ME, "pid": pid, "worker_pid": pid}
    return take(store, "killed", who=who, target=cluster(node), tied_to_process=True)


def test_a_dead_runs_cluster_lock_is_taken_over_at_once_only_for_the_node_it_died_changing() -> None:
    store = FakeStore()
    killed_while_changing(store, "cms1")
    # cms1 may be left half changed (a service disabled): another node of the cluster must not go down meanwhile.
    with pytest.raises(_lock.MmpLockHeld) as caught:
        take(store, "relaunch", target=cluster("cms3"))
    message = caught.value.full_message()
    assert message.startswith("cluster a (its lock node 10.0.0.1) is held by a run that died while it changed cms1")
    assert "only its own change takes this lock over" in message and "Run the rollout for cms1 too" in message
    assert (
        "service_certs_cluster_break_lock" in message and json.loads(store.files[CLUSTER_LOCK_FILE])["node"] == "cms1"
    )
    # cms1's own change takes it over, with a warning naming the dead run.
    result = take(store, "relaunch", target=cluster("cms1"))
    assert result["taken_over"]["node"] == "cms1" and result["taken_over"]["run_id"] == "killed"
    assert result["warnings"][0].startswith("cluster a (its lock node 10.0.0.1): took over the lock of run killed")
    assert "two runs now change this cluster" in result["warnings"][0]


def test_a_dead_runs_cluster_lock_for_another_node_is_taken_after_its_expiry_or_when_broken() -> None:
    store = FakeStore()
    killed_while_changing(store, "cms1")
    broken = take(store, "relaunch", target=cluster("cms3"), break_lock=True)
    assert broken["taken_over"]["node"] == "cms1" and "broken on request" in broken["warnings"][0]
    store = FakeStore()
    killed_while_changing(store, "cms1")
    later = take(store, "relaunch", at=T0 + datetime.timedelta(hours=2), target=cluster("cms3"))
    assert later["taken_over"]["node"] == "cms1" and "expired at" in later["warnings"][0]


def test_a_node_in_place_frees_the_cluster_lock_a_dead_run_left_for_it_and_no_other() -> None:
    # Killed after cms1's change, before it freed the cluster: cms1's relaunch finds it in place and frees the lock.
    store = FakeStore()
    killed_while_changing(store, "cms1")
    assert not _lock.release(store, "relaunch", target=cluster("cms2"), identity=ME)["released"]
    freed = _lock.release(store, "relaunch", target=cluster("cms1"), identity=ME)
    assert freed["released"] and store.files == {}
    assert freed["warnings"][0].startswith(
        "cluster a (its lock node 10.0.0.1): freed the lock a dead run left for cms1"
    )
    # A live run's lock for the node, or a dead one of another controller, is left alone.
    take(store, "other-run", target=cluster("cms1"))
    assert not _lock.release(store, "relaunch", target=cluster("cms1"), identity=ME)["released"]
    store = FakeStore()
    pid = dead_pid()
    take(store, "killed", who={**OTHER, "pid": pid, "worker_pid": pid}, target=cluster("cms1"), tied_to_process=True)
    assert not _lock.release(store, "relaunch", target=cluster("cms1"), identity=ME)["released"]


class Clock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.on_sleep: Callable[[float], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self.now)


def wait_for(store: FakeStore, clock: Clock, node: str, wait: float, progress: list[Any]) -> dict[str, Any]:
    return _lock.acquire_waiting(
        store,
        "run-b",
        "service_certs",
        600,
        wait=wait,
        poll=1.0,
        progress=lambda msg, elapsed: progress.append((msg, elapsed)),
        sleep=clock.sleep,
        clock=clock,
        now=T0,
        identity=OTHER,
        target=cluster(node),
    )


def test_a_wait_polls_a_held_lock_and_takes_it_once_its_holder_releases_it() -> None:
    store, clock = FakeStore(), Clock()
    progress: list[tuple[str, float]] = []
    take(store, "run-a", target=cluster("cms1"))

    def release_at_103(now: float) -> None:
        if now >= 103:
            _lock.release(store, "run-a", target=cluster("cms1"))

    clock.on_sleep = release_at_103
    result = wait_for(store, clock, "cms2", 30, progress)
    assert result["waited"] == 3.0 and clock.slept == [1.0, 1.0, 1.0]
    assert json.loads(store.files[CLUSTER_LOCK_FILE])["node"] == "cms2"
    assert [elapsed for _msg, elapsed in progress] == [0.0, 1.0, 2.0]
    assert "held by run run-a (service_certs webadmin) for its node cms1" in progress[0][0]
    assert "waiting for it (0 s of 30 s)" in progress[0][0]


def test_a_wait_that_runs_out_fails_naming_the_holder_and_how_long_it_waited() -> None:
    store, clock = FakeStore(), Clock()
    progress: list[tuple[str, float]] = []
    take(store, "run-a", target=cluster("cms1"))
    with pytest.raises(_lock.MmpLockHeld) as caught:
        wait_for(store, clock, "cms2", 2.5, progress)
    message = caught.value.full_message()
    assert "cluster a (its lock node 10.0.0.1) is locked by another run (waited 2 s for it" in message
    assert "run run-a (service_certs webadmin) for its node cms1" in message
    assert clock.slept == [1.0, 1.0, 0.5]  # the last poll falls on the deadline
    assert caught.value.to_fail_kwargs()["holder"]["node"] == "cms1"
    assert json.loads(store.files[CLUSTER_LOCK_FILE])["node"] == "cms1"


def test_no_wait_refuses_at_once_without_sleeping() -> None:
    store, clock = FakeStore(), Clock()
    progress: list[tuple[str, float]] = []
    take(store, "run-a", target=cluster("cms1"))
    with pytest.raises(_lock.MmpLockHeld) as caught:
        wait_for(store, clock, "cms2", 0, progress)
    assert clock.slept == [] and progress == [] and "waited" not in caught.value.full_message()


@pytest.mark.parametrize(
    ("scope", "name", "wait", "node", "problem"),
    [
        ("cluster", None, 0, "cms1", "scope: cluster needs cluster, the cluster's name"),
        ("cluster", " ", 0, "cms1", "scope: cluster needs cluster"),
        ("cluster", "a\nb", 0, "cms1", "cluster must be one line"),
        ("cluster", "a", 0, None, "needs the node the lock is taken for"),
        ("node", "a", 0, "cms1", "cluster is set .a. but scope is node"),
        ("node", None, -1, "cms1", "wait is -1"),
        ("cluster", "a", 86401, "cms1", "wait is 86401"),
    ],
)
def test_bad_cluster_lock_options_are_refused_before_anything_is_sent(
    scope: str, name: str | None, wait: int, node: str | None, problem: str
) -> None:
    with pytest.raises(MmpValidationError, match=problem):
        _lock.validate_scope(scope, name, wait, node)


def test_the_cluster_lock_file_and_its_temporary_files_are_lock_files_never_certificates() -> None:
    for name in (CLUSTER_LOCK_FILE, CLUSTER_LOCK_FILE + ".1a2b.old"):
        assert is_lock_file(name)
        with pytest.raises(MmpValidationError, match="cluster lock"):
            validate_file_name(name, "cert")
    assert not is_lock_file("cisco_cms_mmp.cluster.cer")
