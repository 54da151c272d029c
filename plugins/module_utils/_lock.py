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
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import LOCK_FILE
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n").encode()

    def expired(self, now: datetime.datetime) -> bool:
        return now >= parse_iso(self.expires)

    def gone(self, controller: str) -> bool:
        """Its run died: the lock was taken on ``controller`` (this one), and none of its processes runs any more.

        Only a process of this controller can be looked at; a lock of another controller waits for its expiry.
        """
        if self.controller != controller:
            return False
        return not any(_process_runs(pid) for pid in (self.pid, self.worker_pid) if pid > 0)

    def describe(self) -> str:
        return "run %s (%s) of %s on %s (pid %s), since %s, until %s" % (
            self.run_id,
            self.purpose or "no purpose given",
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


class MmpLockHeld(MmpError):
    """Another run holds the node's lock; nothing was changed."""

    def __init__(self, node: str, seen: Seen, break_hint: str = BREAK_HINT) -> None:
        wait = (
            "Wait for that run to end, or for the lock to expire at %s." % seen.holder.expires
            if seen.holder is not None
            else "The file does not say when it expires."
        )
        super().__init__(
            "%s is locked by another run: %s. Nothing was changed." % (node, seen.describe()),
            node=node,
            hint="%s If that run is dead (killed, its controller gone), break the lock with %s." % (wait, break_hint),
        )
        self.seen = seen

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
        return True
    return True


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
def _temp_name(kind: str) -> str:
    return "%s.%s.%s" % (LOCK_FILE, secrets.token_hex(6), kind)


# Reads of a lock that other runs move aside and back at the same instant; past that, it counts as unreadable.
READ_ATTEMPTS = 5


def read_lock(session: Any) -> Seen | None:
    """The node's lock as it is now, ``None`` when there is none."""
    for _attempt in range(READ_ATTEMPTS):
        try:
            data = session.download(LOCK_FILE)
        except MmpCommandError:
            # Never there, or gone between the look and the read; any other refusal is the node's to report.
            if not session.exists(LOCK_FILE):
                return None
            # There again: another run moved it aside and back (a refresh, a take-over) while this one read it.
            continue
        return Seen(data, Holder.from_bytes(data))
    return Seen(b"", None) if session.exists(LOCK_FILE) else None


def _remove_quietly(session: Any, name: str) -> None:
    # A temporary file left behind names itself as the lock's and is never taken for anything else.
    with contextlib.suppress(MmpCommandError):
        session.remove(name)


def _place(session: Any, holder: Holder, break_hint: str, replacing: Seen | None = None) -> None:
    """Write the lock under a temporary name, then rename it onto the lock file: the rename fails if one exists.

    ``replacing``: the lock seen before, taken off the node first (``_claim``).  The new content is on the node
    before that, so the lock's name is free only between two renames; a run that takes the lock in that instant
    wins, and this one is refused as any loser is.
    """
    temp = _temp_name("new")
    session.upload(temp, holder.to_bytes())
    placed = False
    try:
        aside = _claim(session, replacing, break_hint) if replacing is not None else None
        try:
            session.rename(temp, LOCK_FILE)
        except MmpCommandError:
            seen = read_lock(session)
            if seen is None:
                raise
            raise MmpLockHeld(session.name, seen, break_hint) from None
        placed = True
        if aside is not None:
            _remove_quietly(session, aside)
    finally:
        if not placed:
            _remove_quietly(session, temp)


def _claim(session: Any, seen: Seen, break_hint: str) -> str | None:
    """Move the lock ``seen`` aside, and only that one: returns the name it now has, ``None`` when it was gone.

    Raises ``MmpLockHeld`` when another run replaced it since it was read (that lock is put back untouched).
    """
    aside = _temp_name("old")
    try:
        session.rename(LOCK_FILE, aside)
    except MmpCommandError:
        if session.exists(LOCK_FILE):
            raise
        return None
    moved = session.download(aside)
    if moved == seen.raw:
        return aside
    try:
        session.rename(aside, LOCK_FILE)
    except MmpCommandError:
        raise MmpError(
            "%s: the lock changed hands while this run was taking it, and the other run's lock, moved aside to %s, "
            "could not be put back because a third run took the lock meanwhile" % (session.name, aside),
            node=session.name,
            hint="Nothing else was changed. Check which runs are active before running again; remove %s over SFTP "
            "when they have ended." % aside,
        ) from None
    raise MmpLockHeld(session.name, Seen(moved, Holder.from_bytes(moved)), break_hint)


# ------------------------------------------------------------------------------------------------------------
# Acquire and release
# ------------------------------------------------------------------------------------------------------------
def _takeover_reason(seen: Seen, now: datetime.datetime, controller: str, break_lock: bool) -> str | None:
    """Why another run's lock may be taken over (expired, its run is dead here, or broken on request), else None."""
    holder = seen.holder
    if holder is not None and holder.expired(now):
        return "expired at %s" % holder.expires
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
) -> dict[str, Any]:
    """Take the node's lock for ``run_id``; the same run taking it again refreshes its expiry.

    Another run's lock refuses with ``MmpLockHeld`` unless it has expired or ``break_lock`` is set; then it is taken
    over with a warning naming that run.  Returns ``changed``, ``lock`` (the holder now, or that would be),
    ``previous`` (the lock found, or ``None``), ``refreshed``, ``taken_over`` (the other run's lock replaced, or
    ``None``) and ``warnings``.
    """
    validate(run_id, purpose, ttl)
    now = now or utcnow()
    who = identity or controller_identity()
    seen = read_lock(session)
    started = now
    warnings: list[str] = []
    taken_over: dict[str, Any] | None = None
    if seen is not None and seen.holder is not None and seen.holder.run_id == run_id:
        started = parse_iso(seen.holder.started)
    elif seen is not None:
        why = _takeover_reason(seen, now, str(who["controller"]), break_lock)
        if why is None:
            raise MmpLockHeld(session.name, seen, break_hint)
        warnings.append(
            "%s: took over the lock of %s: %s. If that run is still going, stop it: two runs now change this node."
            % (session.name, seen.describe(), why)
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
    )
    refreshed = seen is not None and taken_over is None
    if not check_mode:
        _place(session, mine, break_hint, replacing=seen)
    return {
        "changed": True,
        "lock": mine.to_dict(),
        "previous": (seen.holder.to_dict() if seen.holder else {"unreadable": True}) if seen is not None else None,
        "refreshed": refreshed,
        "taken_over": taken_over,
        "warnings": warnings,
    }


def release(
    session: Any,
    run_id: str,
    *,
    break_lock: bool = False,
    check_mode: bool = False,
    break_hint: str = BREAK_HINT,
) -> dict[str, Any]:
    """Remove the node's lock if ``run_id`` holds it (or any lock, with ``break_lock``).

    Another run's lock is left alone with a warning: a run that ends never frees a node another run is changing.
    Returns ``changed``, ``released``, ``holder`` (the lock found, or ``None``) and ``warnings``.
    """
    validate(run_id)
    seen = read_lock(session)
    holder = seen.holder.to_dict() if seen is not None and seen.holder is not None else None
    result: dict[str, Any] = {"changed": False, "released": False, "holder": holder, "warnings": []}
    if seen is None:
        return result
    ours = seen.holder is not None and seen.holder.run_id == run_id
    if not ours and not break_lock:
        result["warnings"].append(
            "%s: the lock is held by another run (%s) and was left alone; to remove it anyway, set %s"
            % (session.name, seen.describe(), break_hint)
        )
        return result
    if not ours:
        result["warnings"].append("%s: broke the lock of %s (break_lock)" % (session.name, seen.describe()))
    if not check_mode:
        aside = _claim(session, seen, break_hint)
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
    }
)


def run_lock(module: Any) -> None:
    p = module.params
    try:
        validate(p["run_id"], p["purpose"], p["ttl"])
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())

    SessionRunner(module).execute(lambda session: _lock_or_unlock(module, session))


def _lock_or_unlock(module: Any, session: Any) -> dict[str, Any]:
    p = module.params
    if p["state"] == "present":
        result = acquire(
            session,
            p["run_id"],
            p["purpose"],
            p["ttl"],
            break_lock=p["break_lock"],
            check_mode=module.check_mode,
        )
    else:
        result = release(session, p["run_id"], break_lock=p["break_lock"], check_mode=module.check_mode)
    for warning in result.pop("warnings"):
        module.warn(warning)
    result["file"] = LOCK_FILE
    if module._diff:
        if p["state"] == "present":
            before, after = result["previous"], result["lock"]
        else:
            before = result["holder"]
            after = None if result["released"] else before
        result["diff"] = {"before": {"lock": before}, "after": {"lock": after}}
    return result
