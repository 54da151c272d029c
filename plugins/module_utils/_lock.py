# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A node lock that every controller sees: a small JSON file in the node's own file store, taken over SFTP.

Two runs that change one node at once break it (two database cluster rebuilds a few seconds apart left the cluster
down; a killed playbook's module finishes its swap detached).  A lock on the controller would not see a second
controller, an AWX job beside a laptop, or a re-run started before the killed one's module ended; a file on the node
does.  The node has nothing but its MMP and SFTP, so the lock is built from SFTP operations alone:

- Taking it: the content is written under a unique temporary name, then renamed onto ``cisco_cms_mmp.lock``
  (``LOCK_FILE``, kept with the other rules on store file names in ``_commands``).  A plain SFTP rename
  (SSH_FXP_RENAME, what paramiko's ``rename`` sends) fails when the target exists, and OpenSSH's sftp-server does it
  with ``link()`` + ``unlink()``, so of two runs renaming at once exactly one wins.  ``posix_rename`` is never used:
  it is an OpenSSH extension that overwrites the target, the one thing a lock must not do.
- Replacing it (the same run refreshing its expiry, or taking over an expired or broken lock): the lock seen is
  first renamed aside to a unique name, which only one run can do, and its content compared with what was read.  If
  another run replaced it in between, it is put back untouched and that run is named as the holder.
- Releasing it: the same move aside, so a run removes only the lock it holds.

Expiry is an absolute UTC time written by the controller that took the lock and compared with the clock of the
controller that reads it: controllers should keep their clocks in sync (NTP).  A run that died leaves its lock
until then, never longer than ``MAX_TTL``.

The cluster lock (``scope: cluster``) is the same lock under another name, ``cisco_cms_mmp.cluster.lock``, kept on
one node of a cluster (its lock node) for the whole cluster: it keeps two nodes of one cluster from being changed
at once, whether they are in one run (serial batches, a free strategy) or in two (AWX job slices, two controllers).
So its holder is a run *and a node*: the same run taking it for another of its nodes waits like any other run.
``wait`` polls a held lock until it is free or the time is up.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import CLUSTER_LOCK_FILE, LOCK_FILE
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpCommandError,
    MmpError,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import SessionRunner

DEFAULT_TTL = 3600
# A dead run's lock blocks the node for at most a day, whatever ttl was asked for.
MAX_TTL = 86400
MAX_TEXT = 200
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
FIELDS = ("owner", "run_id", "controller", "pid", "purpose", "started", "expires")
BREAK_HINT = (
    "break_lock: true on the cms_lock task (the roles' service_certs_break_lock or db_cluster_rebuild_break_lock "
    "variable)"
)
CLUSTER_BREAK_HINT = "break_lock: true on the cms_lock task (the service_certs role's service_certs_cluster_break_lock)"
# A wait for a held lock polls it this often: a lock is held for a node's change (seconds to minutes), so a second
# is lost at most, and one SFTP read per second is nothing to the lock node.
POLL_INTERVAL = 1.0


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime(ISO_FORMAT)


def parse_iso(text: str) -> datetime.datetime:
    """``2026-12-06T20:41:02Z`` -> an aware UTC datetime (Python 3.10's fromisoformat does not take ``Z``)."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no time zone in %r" % text)
    return moment.astimezone(datetime.timezone.utc)


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: what the lock file says."""

    owner: str
    run_id: str
    controller: str
    pid: int
    purpose: str
    started: str
    expires: str
    # The worker process that runs the module (0 in a lock file written before it was recorded): a module that
    # goes on after its ansible-playbook was killed still holds the node.
    worker_pid: int = 0
    # The run releases it before its processes end (a role, a module's own lock): when they ended without releasing
    # it, the run was killed. A lock taken to last beyond its command (an ad-hoc cms_lock) is not tied so.
    tied_to_process: bool = False
    # A cluster lock only: the cluster, and the node (inventory hostname) whose change holds it. A node lock has
    # neither, and its file keeps the fields it always had.
    cluster: str = ""
    node: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("cluster", "node"):
            if not data[name]:
                del data[name]
        return data

    def held_by(self, run_id: str, node: str = "") -> bool:
        """Held by this run (for this node, when it is a cluster lock): taking it again only refreshes it."""
        return self.run_id == run_id and self.node == node

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n").encode()

    def expired(self, now: datetime.datetime) -> bool:
        return now >= parse_iso(self.expires)

    def gone(self, controller: str) -> bool:
        """Its run died: the lock was taken on ``controller`` (this one), and none of its processes runs any more.

        Only a process of this controller can be looked at; a lock of another controller waits for its expiry.
        """
        if not self.tied_to_process or self.controller != controller:
            return False
        return not any(_process_runs(pid) for pid in (self.pid, self.worker_pid) if pid > 0)

    def describe(self) -> str:
        return "run %s (%s)%s of %s on %s (pid %s), since %s, until %s" % (
            self.run_id,
            self.purpose or "no purpose given",
            " for its node %s" % self.node if self.node else "",
            self.owner,
            self.controller,
            self.pid,
            self.started,
            self.expires,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Holder | None:
        """The holder a lock file names, ``None`` when the file is not a lock this collection wrote."""
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict):
                return None
            holder = cls(
                owner=str(doc["owner"]),
                run_id=str(doc["run_id"]),
                controller=str(doc["controller"]),
                pid=int(doc["pid"]),
                purpose=str(doc["purpose"]),
                started=str(doc["started"]),
                expires=str(doc["expires"]),
                worker_pid=int(doc.get("worker_pid", 0)),
                tied_to_process=bool(doc.get("tied_to_process", False)),
                cluster=str(doc.get("cluster", "")),
                node=str(doc.get("node", "")),
            )
            parse_iso(holder.started)
            parse_iso(holder.expires)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            return None
        return holder


@dataclass(frozen=True)
class Seen:
    """A lock file as read: its bytes (to tell later whether it is still the same lock) and its holder."""

    raw: bytes
    holder: Holder | None  # None: unreadable, held by no one known; only break_lock removes it

    def describe(self) -> str:
        if self.holder is None:
            return "an unreadable lock file (%d bytes, not written by this collection's lock)" % len(self.raw)
        return self.holder.describe()


@dataclass(frozen=True)
class Target:
    """Which lock: its file, what messages call it, and the node a cluster lock is taken for."""

    file: str = LOCK_FILE
    subject: str = ""  # "cms1" for a node lock; "cluster a (its lock node 10.0.0.1)" for a cluster lock
    node: str = ""  # the holder's node, for a cluster lock only
    cluster: str = ""
    break_hint: str = BREAK_HINT

    @classmethod
    def for_cluster(cls, cluster: str, node: str, lock_node: str) -> Target:
        return cls(
            CLUSTER_LOCK_FILE,
            "cluster %s (its lock node %s)" % (cluster, lock_node),
            node,
            cluster,
            CLUSTER_BREAK_HINT,
        )


def _target(session: Any, target: Target | None, break_hint: str) -> Target:
    """The node lock of ``session``'s node unless a target is given."""
    if target is not None:
        return target
    return Target(LOCK_FILE, str(session.name), break_hint=break_hint)


class MmpLockHeld(MmpError):
    """Another run holds the lock; nothing was changed."""

    def __init__(
        self,
        node: str,
        seen: Seen,
        break_hint: str = BREAK_HINT,
        waited: float | None = None,
        dead_for: str = "",
    ) -> None:
        wait = (
            "Wait for that run to end, or for the lock to expire at %s." % seen.holder.expires
            if seen.holder is not None
            else "The file does not say when it expires."
        )
        waited_text = " (waited %d s for it: the wait option)" % round(waited) if waited else ""
        if dead_for:
            # A cluster lock whose run died while it changed another node: that node may be left half changed (a
            # service disabled), so the cluster's other nodes wait for that node's own change to take it over.
            message = (
                "%s is held by a run that died while it changed %s: %s. %s may be left half changed, so only its own "
                "change takes this lock over; nothing was changed." % (node, dead_for, seen.describe(), dead_for)
            )
            hint = (
                "Run the rollout for %s too (it goes first, then frees the lock for the others), or, once %s serves "
                "again, break the lock with %s." % (dead_for, dead_for, break_hint)
            )
        else:
            message = "%s is locked by another run%s: %s. Nothing was changed." % (node, waited_text, seen.describe())
            hint = "%s If that run is dead (killed, its controller gone), break the lock with %s." % (wait, break_hint)
        super().__init__(message, node=node, hint=hint)
        self.seen = seen
        self.break_hint = break_hint
        self.dead_for = dead_for

    def to_fail_kwargs(self) -> dict[str, Any]:
        # The holder as data too, so that a role can show or act on it without parsing the message.
        kwargs = super().to_fail_kwargs()
        kwargs["holder"] = self.seen.holder.to_dict() if self.seen.holder is not None else None
        return kwargs


def controller_identity() -> dict[str, Any]:
    """Who is taking a lock: the local user, this controller's host name and the Ansible process's id.

    Modules run inside a worker that ``ansible``/``ansible-playbook`` forks per task, so the parent's pid is the one
    an operator can find on the controller.
    """
    try:
        owner = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        owner = "uid %d" % os.getuid()
    return {"owner": owner, "controller": socket.gethostname(), "pid": os.getppid(), "worker_pid": os.getpid()}


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # there, but another user's
        pass
    # A killed worker whose ansible-playbook is gone too stays a zombie until init reaps it (in a container, maybe
    # late or never): it still has a pid, and runs nothing. Linux says so in /proc; elsewhere the pid is the answer.
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return True
    # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ")".
    return stat.rpartition(")")[2].split()[:1] not in (["Z"], ["X"])


def validate(run_id: str, purpose: str | None = None, ttl: int = DEFAULT_TTL) -> None:
    """Bad lock options, found before anything is sent to the node."""
    for name, value in (("run_id", run_id), ("purpose", purpose or "")):
        if len(value) > MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise MmpValidationError(
                "%s must be one line of at most %d characters; give a shorter text" % (name, MAX_TEXT)
            )
    if not run_id.strip():
        raise MmpValidationError(
            "run_id is empty: give the id of this run, the same on every task of the run (for example "
            '\'{{ awx_job_id | default(lookup("ansible.builtin.pipe", "date -u +%Y%m%dT%H%M%S")) }}\')'
        )
    if not 0 < ttl <= MAX_TTL:
        raise MmpValidationError(
            "ttl is %d: give the lock's lifetime in seconds, more than 0 and at most %d (a day); a run that lasts "
            "longer takes the lock again to refresh it" % (ttl, MAX_TTL)
        )


# ------------------------------------------------------------------------------------------------------------
# SFTP steps
# ------------------------------------------------------------------------------------------------------------
def _temp_name(kind: str, file: str = LOCK_FILE) -> str:
    return "%s.%s.%s" % (file, secrets.token_hex(6), kind)


# Reads of a lock that other runs move aside and back at the same instant; past that, it counts as unreadable.
READ_ATTEMPTS = 5


def read_lock(session: Any, file: str = LOCK_FILE) -> Seen | None:
    """The lock ``file`` (the node lock by default) as it is now, ``None`` when there is none."""
    for _attempt in range(READ_ATTEMPTS):
        try:
            data = session.download(file)
        except MmpCommandError:
            # Never there, or gone between the look and the read; any other refusal is the node's to report.
            if not session.exists(file):
                return None
            # There again: another run moved it aside and back (a refresh, a take-over) while this one read it.
            continue
        return Seen(data, Holder.from_bytes(data))
    return Seen(b"", None) if session.exists(file) else None


def _remove_quietly(session: Any, name: str) -> None:
    # A temporary file left behind names itself as the lock's and is never taken for anything else.
    with contextlib.suppress(MmpCommandError):
        session.remove(name)


def _place(session: Any, holder: Holder, target: Target, replacing: Seen | None = None) -> None:
    """Write the lock under a temporary name, then rename it onto the lock file: the rename fails if one exists.

    ``replacing``: the lock seen before, taken off the node first (``_claim``).  The new content is on the node
    before that, so the lock's name is free only between two renames; a run that takes the lock in that instant
    wins, and this one is refused as any loser is.
    """
    temp = _temp_name("new", target.file)
    session.upload(temp, holder.to_bytes())
    placed = False
    try:
        aside = _claim(session, replacing, target) if replacing is not None else None
        try:
            session.rename(temp, target.file)
        except MmpCommandError:
            seen = read_lock(session, target.file)
            if seen is None:
                raise
            raise MmpLockHeld(target.subject, seen, target.break_hint) from None
        placed = True
        if aside is not None:
            _remove_quietly(session, aside)
    finally:
        if not placed:
            _remove_quietly(session, temp)


def _claim(session: Any, seen: Seen, target: Target) -> str | None:
    """Move the lock ``seen`` aside, and only that one: returns the name it now has, ``None`` when it was gone.

    Raises ``MmpLockHeld`` when another run replaced it since it was read (that lock is put back untouched).
    """
    aside = _temp_name("old", target.file)
    try:
        session.rename(target.file, aside)
    except MmpCommandError:
        if session.exists(target.file):
            raise
        return None
    moved = session.download(aside)
    if moved == seen.raw:
        return aside
    try:
        session.rename(aside, target.file)
    except MmpCommandError:
        raise MmpError(
            "%s: the lock changed hands while this run was taking it, and the other run's lock, moved aside to %s, "
            "could not be put back because a third run took the lock meanwhile" % (target.subject, aside),
            node=target.subject,
            hint="Nothing else was changed. Check which runs are active before running again; remove %s over SFTP "
            "when they have ended." % aside,
        ) from None
    raise MmpLockHeld(target.subject, Seen(moved, Holder.from_bytes(moved)), target.break_hint)


# ------------------------------------------------------------------------------------------------------------
# Acquire and release
# ------------------------------------------------------------------------------------------------------------
def _dead_for_another_node(seen: Seen, controller: str, node: str) -> str:
    """The node a cluster lock names when its run died here while changing a node other than ``node``, else ``""``."""
    holder = seen.holder
    if holder is not None and holder.node and holder.node != node and holder.gone(controller):
        return holder.node
    return ""


def _takeover_reason(
    seen: Seen, now: datetime.datetime, controller: str, break_lock: bool, dead_for: str = ""
) -> str | None:
    """Why another run's lock may be taken over (expired, its run is dead here, or broken on request), else None.

    A dead run's cluster lock is taken over at once only for the node it names: ``dead_for`` (see
    ``_dead_for_another_node``) is the node that run died changing when it is not this one, whose services may be left
    down, and another node of the cluster must not go down meanwhile.
    """
    holder = seen.holder
    if holder is not None and holder.expired(now):
        return "expired at %s" % holder.expires
    if dead_for:
        return "broken on request (break_lock)" if break_lock else None
    if holder is not None and holder.gone(controller):
        pids = " or ".join(str(pid) for pid in (holder.pid, holder.worker_pid) if pid > 0)
        return "its run ended without releasing it (no process %s runs on this controller any more)" % pids
    if break_lock:
        return "broken on request (break_lock)"
    return None


def acquire(
    session: Any,
    run_id: str,
    purpose: str = "",
    ttl: int = DEFAULT_TTL,
    *,
    now: datetime.datetime | None = None,
    break_lock: bool = False,
    check_mode: bool = False,
    identity: dict[str, Any] | None = None,
    break_hint: str = BREAK_HINT,
    tied_to_process: bool = False,
    target: Target | None = None,
) -> dict[str, Any]:
    """Take the lock for ``run_id`` (the node's own, or ``target``); the same holder taking it again refreshes it.

    Another run's lock refuses with ``MmpLockHeld`` unless it has expired or ``break_lock`` is set; then it is taken
    over with a warning naming that run.  Returns ``changed``, ``lock`` (the holder now, or that would be),
    ``previous`` (the lock found, or ``None``), ``refreshed``, ``taken_over`` (the other run's lock replaced, or
    ``None``) and ``warnings``.
    """
    validate(run_id, purpose, ttl)
    where = _target(session, target, break_hint)
    now = now or utcnow()
    who = identity or controller_identity()
    seen = read_lock(session, where.file)
    started = now
    warnings: list[str] = []
    taken_over: dict[str, Any] | None = None
    if seen is not None and seen.holder is not None and seen.holder.held_by(run_id, where.node):
        started = parse_iso(seen.holder.started)
    elif seen is not None:
        dead_for = _dead_for_another_node(seen, str(who["controller"]), where.node)
        why = _takeover_reason(seen, now, str(who["controller"]), break_lock, dead_for)
        if why is None:
            raise MmpLockHeld(where.subject, seen, where.break_hint, dead_for=dead_for)
        warnings.append(
            "%s: took over the lock of %s: %s. If that run is still going, stop it: two runs now change this %s."
            % (where.subject, seen.describe(), why, "cluster" if where.cluster else "node")
        )
        taken_over = seen.holder.to_dict() if seen.holder is not None else {"unreadable": True}
    mine = Holder(
        owner=str(who["owner"]),
        run_id=run_id,
        controller=str(who["controller"]),
        pid=int(who["pid"]),
        purpose=purpose or "",
        started=iso(started),
        expires=iso(now + datetime.timedelta(seconds=ttl)),
        worker_pid=int(who.get("worker_pid", 0)),
        tied_to_process=tied_to_process,
        cluster=where.cluster,
        node=where.node,
    )
    refreshed = seen is not None and taken_over is None
    if not check_mode:
        _place(session, mine, where, replacing=seen)
    return {
        "changed": True,
        "lock": mine.to_dict(),
        "previous": (seen.holder.to_dict() if seen.holder else {"unreadable": True}) if seen is not None else None,
        "refreshed": refreshed,
        "taken_over": taken_over,
        "warnings": warnings,
    }


def acquire_waiting(
    session: Any,
    run_id: str,
    purpose: str = "",
    ttl: int = DEFAULT_TTL,
    *,
    wait: float = 0,
    poll: float = POLL_INTERVAL,
    progress: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> dict[str, Any]:
    """``acquire``, waiting up to ``wait`` seconds while another live run holds the lock.

    The lock is read again every ``poll`` seconds; ``progress(message, elapsed)`` is told who holds it at each poll
    (the module shows it once a wait is long).  The lock is free for whoever renames first: waiters are not queued.
    When the time is up, ``MmpLockHeld`` names the holder and how long this run waited.  ``wait`` 0: one attempt.
    Returns what ``acquire`` returns, plus ``waited`` (seconds).
    """
    deadline = clock() + wait
    start = clock()
    while True:
        try:
            result = acquire(session, run_id, purpose, ttl, **kwargs)
        except MmpLockHeld as held:
            remaining = deadline - clock()
            if remaining <= 0:
                if not wait:
                    raise
                raise MmpLockHeld(
                    held.node or "", held.seen, held.break_hint, waited=clock() - start, dead_for=held.dead_for
                ) from None
            if progress is not None:
                elapsed = clock() - start
                progress(
                    "%s: held by %s; waiting for it (%d s of %d s)" % (held.node, held.seen.describe(), elapsed, wait),
                    elapsed,
                )
            sleep(min(poll, remaining))
            continue
        result["waited"] = round(clock() - start, 3)
        return result


def release(
    session: Any,
    run_id: str,
    *,
    break_lock: bool = False,
    check_mode: bool = False,
    break_hint: str = BREAK_HINT,
    target: Target | None = None,
    identity: dict[str, Any] | None = None,
    only_if_dead: bool = False,
) -> dict[str, Any]:
    """Remove the lock (the node's own, or ``target``) if ``run_id`` holds it (or any lock, with ``break_lock``).

    Another run's lock is left alone with a warning: a run that ends never frees a node another run is changing.
    One exception: a cluster lock that a dead run of this controller left for this very node (killed after the node's
    change, before it freed the cluster) is freed, with a warning: this node's run is done with it, and that run is
    gone. ``only_if_dead``: only that lock is removed; any other is left alone without a warning.
    Returns ``changed``, ``released``, ``holder`` (the lock found, or ``None``) and ``warnings``.
    """
    validate(run_id)
    where = _target(session, target, break_hint)
    seen = read_lock(session, where.file)
    holder = seen.holder.to_dict() if seen is not None and seen.holder is not None else None
    result: dict[str, Any] = {"changed": False, "released": False, "holder": holder, "warnings": []}
    if seen is None:
        return result
    ours = seen.holder is not None and seen.holder.held_by(run_id, where.node)
    left_for_me = (
        not ours
        and seen.holder is not None
        and bool(where.node)
        and seen.holder.node == where.node
        and seen.holder.gone(str((identity or controller_identity())["controller"]))
    )
    if only_if_dead and not left_for_me:
        return result
    if left_for_me:
        result["warnings"].append(
            "%s: freed the lock a dead run left for %s (%s): that run ended without freeing it"
            % (where.subject, where.node, seen.describe())
        )
    elif not ours and not break_lock:
        result["warnings"].append(
            "%s: the lock is held by another run (%s) and was left alone; to remove it anyway, set %s"
            % (where.subject, seen.describe(), where.break_hint)
        )
        return result
    if not ours and not left_for_me:
        result["warnings"].append("%s: broke the lock of %s (break_lock)" % (where.subject, seen.describe()))
    if not check_mode:
        aside = _claim(session, seen, where)
        if aside is None:
            return result  # gone meanwhile: released by its run, or taken by another
        session.remove(aside)
    result.update(changed=True, released=True)
    return result


# ------------------------------------------------------------------------------------------------------------
# cms_lock
# ------------------------------------------------------------------------------------------------------------
LOCK_ARGS = ArgumentSpec(
    {
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "run_id": {"type": "str", "required": True},
        "purpose": {"type": "str", "default": ""},
        "ttl": {"type": "int", "default": DEFAULT_TTL},
        "break_lock": {"type": "bool", "default": False},
        "tied_to_process": {"type": "bool", "default": False},
        "scope": {"type": "str", "default": "node", "choices": ["node", "cluster"]},
        "cluster": {"type": "str"},
        "wait": {"type": "int", "default": 0},
        "only_if_dead": {"type": "bool", "default": False},
    }
)


def validate_scope(scope: str, cluster: str | None, wait: int, node: str | None) -> None:
    """The cluster options: a cluster lock needs the cluster's name and the node it is taken for."""
    if not 0 <= wait <= MAX_TTL:
        raise MmpValidationError(
            "wait is %d: give the seconds to wait for a lock another run holds, from 0 (do not wait) to %d"
            % (wait, MAX_TTL)
        )
    if scope == "node":
        if cluster:
            raise MmpValidationError(
                "cluster is set (%s) but scope is node: give scope: cluster to take the cluster's lock, or leave "
                "cluster out" % cluster
            )
        return
    if not cluster or not cluster.strip():
        raise MmpValidationError(
            "scope: cluster needs cluster, the cluster's name (the cms_cluster inventory variable of the cluster's "
            "group)"
        )
    for name, value in (("cluster", cluster), ("the node's inventory name", node or "")):
        if len(value) > MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise MmpValidationError(
                "%s must be one line of at most %d characters; give a shorter text" % (name, MAX_TEXT)
            )
    if not node:
        raise MmpValidationError(
            "scope: cluster needs the node the lock is taken for: run cms_lock as a task of that node's play"
        )


def run_lock(module: Any) -> None:
    p = module.params
    node = getattr(module, "node_name", None)
    try:
        validate(p["run_id"], p["purpose"], p["ttl"])
        validate_scope(p["scope"], p["cluster"], p["wait"], node)
        if p["only_if_dead"] and (p["state"] != "absent" or p["scope"] != "cluster"):
            raise MmpValidationError(
                "only_if_dead releases a cluster lock a dead run left for this node: give it with state: absent and "
                "scope: cluster, or leave it out"
            )
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())

    runner = SessionRunner(module)
    if p["scope"] == "cluster":
        target = Target.for_cluster(p["cluster"], str(node), _address(p["host"], p["port"]))
        # Errors of the connection name the lock node, and an unreachable lock node fails this node's task: the
        # node itself was not the one that could not be reached.
        runner.node_name = target.subject
        _fail = module.fail_json

        def fail_json(msg: str, **kwargs: Any) -> None:
            kwargs.pop("unreachable", None)
            _fail(msg=msg, **kwargs)

        module.fail_json = fail_json
    else:
        target = None
    runner.execute(lambda session: _lock_or_unlock(module, session, target))


def _address(host: str, port: int | None) -> str:
    return "%s:%d" % (host, port) if port and port != 22 else host


def _lock_or_unlock(module: Any, session: Any, target: Target | None) -> dict[str, Any]:
    p = module.params
    if p["state"] == "present":
        result = acquire_waiting(
            session,
            p["run_id"],
            p["purpose"],
            p["ttl"],
            # Check mode writes nothing, so it has nothing to wait for: a held lock fails it at once.
            wait=0 if module.check_mode else p["wait"],
            progress=getattr(module, "progress", None),
            break_lock=p["break_lock"],
            tied_to_process=p["tied_to_process"],
            check_mode=module.check_mode,
            target=target,
        )
    else:
        result = release(
            session,
            p["run_id"],
            break_lock=p["break_lock"],
            check_mode=module.check_mode,
            target=target,
            only_if_dead=p["only_if_dead"],
        )
    for warning in result.pop("warnings"):
        module.warn(warning)
    result["file"] = target.file if target is not None else LOCK_FILE
    if module._diff:
        if p["state"] == "present":
            before, after = result["previous"], result["lock"]
        else:
            before = result["holder"]
            after = None if result["released"] else before
        result["diff"] = {"before": {"lock": before}, "after": {"lock": after}}
    return result
