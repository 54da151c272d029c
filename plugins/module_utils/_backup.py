# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``backup`` verb set: logic behind cms_backup.

``backup snapshot <name>`` writes ``<name>.bak`` and ``<name>.json`` [H, TN 215421]; both are fetched over SFTP. A
backup holds the node's configuration, certificates and **private keys** [H, TN 214620], so on the controller it is
written 0600 in a directory created 0700, and it counts as fetched only when the controller copy has the size and
SHA-256 of the node's file.  ``backup rollback`` overwrites the configuration and keys and reboots the node [H]: it
runs only with ``state: rollback``, and its ``(Y/n)`` is answered with a capital ``Y``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import PRIVATE_FILES_SPEC, ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    backup_files,
    backup_list,
    backup_rollback,
    backup_snapshot,
    validate_basename,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpCommandError,
    MmpConnectError,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import (
    check_private_dir,
    file_sha256,
    sha256_hex,
    write_private_file,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import parse_backup_list, parse_backup_snapshot
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import SessionRunner
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import CONFIRM_RE
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession

# Without a name, state present only lists the backups (a "list" state belongs in an info module, not here).
BACKUP_ARGS = ArgumentSpec(
    {
        "name": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "rollback"]},
        "dest": {"type": "path"},
        "force": {"type": "bool", "default": False},
        **PRIVATE_FILES_SPEC,
    },
    required_if=[("state", "rollback", ("name",))],
)

# How a controller copy compares with the node's file; PRESENT: there, not compared (a new snapshot is due).
MISSING, INTACT, DIFFERS, PRESENT = "missing", "intact", "differs", "present"


@dataclass(frozen=True)
class BackupRequest:
    """What the task asks for, checked before anything connects."""

    name: str = ""
    state: str = "present"
    dest: str = ""
    force: bool = False

    @property
    def files(self) -> tuple[str, str]:
        return backup_files(self.name) if self.name else ("", "")

    def path(self, file_name: str) -> str:
        return os.path.join(self.dest, file_name)


def backup_request(params: dict[str, Any]) -> BackupRequest:
    # ``name`` is required for rollback (BACKUP_ARGS); without it, state present only lists.
    name = validate_basename(params["name"], "name") if params.get("name") else ""
    if name:
        backup_snapshot(name)  # the builder validates the name the node will see
    if params["state"] == "present" and name and not params.get("dest"):
        raise MmpValidationError(
            "dest is required with a name: the controller directory the backup is fetched to (one per node, "
            "e.g. backups/{{ inventory_hostname }})"
        )
    if params.get("dest"):
        # Backups hold the node's private keys: the directory is checked before the node makes a snapshot.
        check_private_dir(params["dest"], bool(params.get("allow_keys_in_repo")), "dest")
    return BackupRequest(name, params["state"], params.get("dest") or "", params["force"])


@dataclass
class Copy:
    """A node file and its controller copy: ``status`` MISSING/INTACT/DIFFERS/PRESENT (``None``: not looked at)."""

    status: str | None = None
    size: int | None = None
    sha256: str | None = None


@dataclass
class BackupState:
    backups: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    copies: dict[str, Copy] = field(default_factory=dict)


def plan_backup(request: BackupRequest, state: BackupState) -> tuple[list[str], list[str]]:
    """``(commands, files to fetch)`` that bring the node and the controller to ``request``; pure.

    Raises ``MmpValidationError`` for what must not happen: a rollback to a backup the node lacks, and a forced
    snapshot whose controller copies would be replaced (a controller copy is never replaced).
    """
    if not request.name:
        return [], []
    bak, meta = request.files
    if request.state == "rollback":
        if bak not in state.files:
            raise MmpValidationError(
                "no %s on the node (backup list shows %s); upload the backup over SFTP first"
                % (bak, ", ".join(state.backups) or "nothing")
            )
        return [backup_rollback(request.name)], []
    if bak not in state.files or request.force:
        kept = [request.path(f) for f in (bak, meta) if state.copies.get(f, Copy()).status not in (None, MISSING)]
        if kept:
            why = "force replaces the node's snapshot only" if request.force else "the node has no %s" % bak
            raise MmpValidationError(
                "a new snapshot %s is to be taken (%s), but %s %s already on the controller and a backup copy is "
                "never replaced. Give another name, or move the old copy away first, then run again."
                % (request.name, why, " and ".join(kept), "is" if len(kept) == 1 else "are")
            )
        return [backup_snapshot(request.name)], [bak, meta]
    # A damaged or missing copy is fetched again from the same snapshot: that restores the copy, it replaces nothing.
    fetch = [f for f in (bak, meta) if f in state.files and state.copies.get(f, Copy()).status != INTACT]
    return [], fetch


class Backup:
    """cms_backup on one node: ``read_state`` -> ``plan`` -> ``apply`` -> ``dump`` (see ``SessionRunner``)."""

    def __init__(self, module: Any, session: MmpSession, request: BackupRequest) -> None:
        self.module = module
        self.session = session
        self.request = request
        self.state = BackupState()
        self.commands: list[str] = []
        self.fetch: list[str] = []
        self.fetched: dict[str, dict[str, Any]] = {}
        self.rebooting = False
        self.diff: dict[str, Any] | None = None

    def read_state(self) -> None:
        self.state.backups = parse_backup_list(self.session.run(backup_list()))
        if not self.request.name:
            return
        self.state.files = self.session.listdir()
        bak, meta = self.request.files
        if self.request.state == "rollback":
            return
        if bak in self.state.files and not self.request.force:
            # The MMP has no checksum verb: the node's copy is read over SFTP and hashed here.
            self.state.copies[bak] = self._compare(bak)
            if self.state.copies[bak].status == INTACT and meta in self.state.files:
                self.state.copies[meta] = self._compare(meta)
        else:
            for name in (bak, meta):
                self.state.copies[name] = Copy(PRESENT if os.path.exists(self.request.path(name)) else MISSING)

    def _compare(self, file_name: str) -> Copy:
        path = self.request.path(file_name)
        if not os.path.isfile(path):
            return Copy(MISSING)
        node_size = self.session.size(file_name)
        if node_size is None:
            return Copy(DIFFERS)
        if os.path.getsize(path) != node_size:
            return Copy(DIFFERS, node_size)
        remote = sha256_hex(self.session.download(file_name))
        return Copy(INTACT if file_sha256(path) == remote else DIFFERS, node_size, remote)

    def plan(self) -> list[str]:
        try:
            self.commands, self.fetch = plan_backup(self.request, self.state)
        except MmpValidationError as exc:
            raise MmpValidationError("%s: %s" % (self.session.name, exc.message)) from None
        if self.module._diff and self.commands:
            self.diff = self._diff()  # before the snapshot, which changes the list
        return self.commands

    def apply(self) -> None:
        if self.request.state == "rollback":
            self._rollback()
            return
        if self.commands:
            self._snapshot()
        for name in self.fetch:
            if name in self.state.files:
                self.fetched[name] = self._fetch(name)

    def _snapshot(self) -> None:
        command = self.commands[0]
        reported = parse_backup_snapshot(self.session.run(command))
        if reported != self.request.name:
            raise MmpCommandError(
                "backup snapshot %s reported %s.bak instead" % (self.request.name, reported),
                node=self.session.name,
                command=command,
            )
        self.state.files = self.session.listdir()
        self.state.backups = parse_backup_list(self.session.run(backup_list()))
        bak = self.request.files[0]
        if bak not in self.state.files:
            raise MmpCommandError(
                "%s is not in the node's file store after backup snapshot" % bak,
                node=self.session.name,
                command=command,
            )

    def _fetch(self, file_name: str) -> dict[str, Any]:
        """Download ``file_name`` and write it to ``dest`` (0600); size and SHA-256 checked on both sides."""
        data = self.session.download(file_name)  # the transport checks the size against the node's stat
        path = self.request.path(file_name)
        return {"path": path, "size": len(data), "sha256": write_private_file(path, data)}

    def _rollback(self) -> None:
        command = self.commands[0]
        try:
            self.session.run(command, confirm=True)
        except MmpConnectError as exc:
            # [H] rollback reboots the node (TN 214620): the connection drops once the Y is taken.
            if exc.output is None or not CONFIRM_RE.search(exc.output):
                raise
            self.rebooting = True
            return
        # The prompt came back: an answer without a reboot means the node did not roll back.
        raise MmpCommandError(
            "backup rollback %s returned to the prompt without rebooting the node; nothing is known to have changed"
            % self.request.files[0],
            node=self.session.name,
            command=command,
            output=self.session.transcript[-1][1] if self.session.transcript else None,
        )

    def dump(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "changed": bool(self.commands or self.fetch),
            "commands": self.commands,
            "name": self.request.name or None,
            "backups": self.state.backups,
        }
        if not self.request.name:
            return result
        result["file"] = self.request.files[0]
        if self.diff is not None:
            result["diff"] = self.diff
        if self.request.state == "rollback":
            if self.rebooting:
                result["rebooting"] = True
            return result
        return self._dump_present(result)

    def _dump_present(self, result: dict[str, Any]) -> dict[str, Any]:
        bak, meta = self.request.files
        result["snapshot_taken"] = bool(self.commands)
        result["fetched"] = bak in self.fetch
        if self.module.check_mode and bak in self.fetch:
            result["path"] = self.request.path(bak)
            return result
        copy = self.fetched.get(bak) or self._copy_facts(bak)
        result.update(path=copy["path"], size=copy["size"], sha256=copy["sha256"], checksum=copy["sha256"])
        if meta in self.fetched:
            result["json"] = self.fetched[meta]
        elif meta in self.fetch:
            result["json"] = self._copy_facts(meta)  # check mode: what the node's file is
        elif meta in self.state.files:
            result["json"] = {"path": self.request.path(meta)}
        return result

    def _copy_facts(self, file_name: str) -> dict[str, Any]:
        copy = self.state.copies[file_name]
        return {"path": self.request.path(file_name), "size": copy.size, "sha256": copy.sha256}

    def _diff(self) -> dict[str, Any]:
        if self.request.state == "rollback":
            return {
                "before": {"configuration": "current"},
                "after": {"configuration": self.request.files[0], "reboot": True},
            }
        return {
            "before": {"backups": self.state.backups},
            "after": {"snapshot": self.request.files[0], "dest": self.request.dest},
        }


def run_backup(module: Any) -> None:
    try:
        request = backup_request(module.params)
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    SessionRunner(module).run(lambda session: Backup(module, session, request))
