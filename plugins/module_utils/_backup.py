# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``backup`` verb set: logic behind cms_backup, and the controller-side file writes other verb sets share.

``backup snapshot <name>`` writes ``<name>.bak`` and ``<name>.json`` [H, TN 215421]; both are fetched over SFTP. A
backup holds the node's configuration, certificates and **private keys** [H, TN 214620], so on the controller it is
written 0600 in a directory created 0700, and it counts as fetched only when the controller copy has the size and
SHA-256 of the node's file.  ``backup rollback`` overwrites the configuration and keys and reboots the node [H]: it
runs only with ``state: rollback``, and its ``(Y/n)`` is answered with a capital ``Y``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import run_with_session, with_connection
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
    MmpError,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import parse_backup_list, parse_backup_snapshot
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import CONFIRM_RE

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


# ------------------------------------------------------------------------------------------------------------
# Controller files
# ------------------------------------------------------------------------------------------------------------
def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str) -> str | None:
    """SHA-256 of a controller file, ``None`` when it does not exist."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def ensure_private_dir(path: str) -> None:
    """Create ``path`` for files that hold private keys: every directory this creates is made 0700."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(os.path.abspath(path))
    if parent != path:
        ensure_private_dir(parent)
    os.mkdir(path, PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)


def write_private_file(path: str, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically, mode 0600, and read it back; returns its SHA-256.

    The file appears under its final name only when complete, so a half-written copy is never mistaken for a
    good one; a copy that reads back differently is removed and reported.
    """
    ensure_private_dir(os.path.dirname(path) or ".")
    want = sha256_hex(data)
    tmp = "%s.part%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, PRIVATE_FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    got = file_sha256(path)
    if got != want:
        os.unlink(path)
        raise MmpError(
            "the copy written to %s reads back with SHA-256 %s instead of %s; it was removed" % (path, got, want),
            hint="Check the controller's disk (space, errors) and run again.",
        )
    return want


# ------------------------------------------------------------------------------------------------------------
# cms_backup
# ------------------------------------------------------------------------------------------------------------
def backup_argument_spec() -> dict[str, Any]:
    return with_connection(
        {
            "name": {"type": "str"},
            "state": {"type": "str", "default": "present", "choices": ["present", "rollback"]},
            "dest": {"type": "path"},
            "force": {"type": "bool", "default": False},
        }
    )


# Without a name, state present only lists the backups (a "list" state belongs in an info module, not here).
BACKUP_RULES: dict[str, Any] = {"required_if": [("state", "rollback", ("name",))]}


def _fetch(session: Any, module: Any, file_name: str, path: str) -> dict[str, Any]:
    """Download ``file_name`` and write it to ``path`` (0600); size and SHA-256 checked on both sides."""
    data = session.download(file_name)  # the transport checks the size against the node's stat
    digest = sha256_hex(data)
    if not module.check_mode:
        write_private_file(path, data)
    return {"path": path, "size": len(data), "sha256": digest}


def _intact(session: Any, file_name: str, path: str) -> dict[str, Any] | None:
    """The controller copy's facts when it matches the node's file byte for byte, else ``None``."""
    if not os.path.isfile(path):
        return None
    try:
        node_size = session.sftp.stat("/" + file_name).st_size
    except OSError:
        return None
    if os.path.getsize(path) != node_size:
        return None
    local = file_sha256(path)
    # The MMP has no checksum verb: the node's copy is read over SFTP and hashed here.
    remote = sha256_hex(session.download(file_name))
    if local != remote:
        return None
    return {"path": path, "size": node_size, "sha256": local}


def run_backup(module: Any) -> None:
    p = module.params
    try:
        # ``name`` and ``dest`` are required for present and rollback (BACKUP_RULES); "" only with state list.
        name = validate_basename(p["name"], "name") if p.get("name") else ""
        snapshot_cmd = backup_snapshot(name) if name else ""
        bak, meta = backup_files(name) if name else ("", "")
        if p["state"] == "present" and name and not p.get("dest"):
            raise MmpValidationError(
                "dest is required with a name: the controller directory the backup is fetched to (one per node, "
                "e.g. backups/{{ inventory_hostname }})"
            )
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    dest: str = p.get("dest") or ""

    def logic(module: Any, session: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"changed": False, "commands": [], "name": name or None}
        result["backups"] = parse_backup_list(session.run(backup_list()))
        if not name:
            return result
        files = session.listdir()
        result["file"] = bak
        if p["state"] == "rollback":
            return _rollback(module, session, result, files)

        bak_path = os.path.join(dest, bak)
        meta_path = os.path.join(dest, meta)
        have = bak in files and not p["force"]
        fetched = _intact(session, bak, bak_path) if have else None
        if have and fetched is not None:
            result.update(fetched=False, snapshot_taken=False)
            if meta in files and _intact(session, meta, meta_path) is None:
                result["json"] = _fetch(session, module, meta, meta_path)
                result["changed"] = True
            elif meta in files:
                result["json"] = {"path": meta_path}
            return _summary(result, fetched)
        result["changed"] = True
        if not have:
            result["commands"] = [snapshot_cmd]
            if module._diff:
                result["diff"] = {"before": {"backups": result["backups"]}, "after": {"snapshot": bak, "dest": dest}}
            if module.check_mode:
                result.update(snapshot_taken=True, fetched=True, path=bak_path)
                return result
            reported = parse_backup_snapshot(session.run(snapshot_cmd))
            if reported != name:
                raise MmpCommandError(
                    "backup snapshot %s reported %s.bak instead" % (name, reported),
                    node=session.name,
                    command=snapshot_cmd,
                )
            files = session.listdir()
            result["backups"] = parse_backup_list(session.run(backup_list()))
        result["snapshot_taken"] = not have
        if module.check_mode:
            result.update(fetched=True, path=bak_path)
            return result
        if bak not in files:
            raise MmpCommandError(
                "%s is not in the node's file store after backup snapshot" % bak,
                node=session.name,
                command=snapshot_cmd,
            )
        fetched = _fetch(session, module, bak, bak_path)
        if meta in files:
            result["json"] = _fetch(session, module, meta, meta_path)
        result["fetched"] = True
        return _summary(result, fetched)

    run_with_session(module, logic)


def _summary(result: dict[str, Any], fetched: dict[str, Any]) -> dict[str, Any]:
    result.update(path=fetched["path"], size=fetched["size"], sha256=fetched["sha256"], checksum=fetched["sha256"])
    return result


def _rollback(module: Any, session: Any, result: dict[str, Any], files: list[str]) -> dict[str, Any]:
    bak = result["file"]
    command = backup_rollback(result["name"])
    if bak not in files:
        raise MmpValidationError(
            "%s: no %s on the node (backup list shows %s); upload the backup over SFTP first"
            % (session.name, bak, ", ".join(result["backups"]) or "nothing")
        )
    result.update(changed=True, commands=[command])
    if module._diff:
        result["diff"] = {"before": {"configuration": "current"}, "after": {"configuration": bak, "reboot": True}}
    if module.check_mode:
        return result
    try:
        session.run(command, confirm=True)
    except MmpConnectError as exc:
        # [H] rollback reboots the node (TN 214620): the connection drops once the Y is taken.
        if exc.output is None or not CONFIRM_RE.search(exc.output):
            raise
        result["rebooting"] = True
        return result
    # The prompt came back: an answer without a reboot means the node did not roll back.
    raise MmpCommandError(
        "backup rollback %s returned to the prompt without rebooting the node; nothing is known to have changed" % bak,
        node=session.name,
        command=command,
        output=session.transcript[-1][1] if session.transcript else None,
    )
