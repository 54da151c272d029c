"""`backup snapshot|list|rollback`: whole-node snapshots in the file store.

``backup snapshot <name>`` writes ``<name>.bak`` (a tar.gz of the node's state and every file of its store except
other backups) and ``<name>.json`` (metadata with the archive's sha256), as TN 215421 says: two files to fetch over
SFTP.  ``backup rollback <name>`` restores configuration, certificates and keys and reboots the node (TN 214620): the
simulator drops the SSH connection.  The ``.json`` files and other backups are left alone [H: the json is not
overwritten].
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from typing import Any

from . import core, dbcluster, services, shapes

ARCHIVE_FORMAT = 1
MANIFEST = "manifest.json"
STATE = "state.json"
FILES_PREFIX = "files/"
# Node identity survives a rollback: the software version is not part of a backup, the node name is the lab's.
KEPT_STATE_KEYS = ("name", "version")


def _is_backup_file(name: str) -> bool:
    return name.endswith(".bak")


def _kept_on_rollback(name: str) -> bool:
    return name.endswith(".bak") or name.endswith(".json")


def _archive(node: core.Node, members: list[str]) -> bytes:
    buf = io.BytesIO()
    mtime = time.time()

    def add(name: str, data: bytes, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = mtime
        info.mode = mode
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        manifest = {
            "format": ARCHIVE_FORMAT,
            "node": node.name,
            "hostname": node.hostname,
            "version": node.version,
            "time": node.now().isoformat(),
            "files": members,
        }
        add(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        add(STATE, json.dumps(node.state, indent=1, sort_keys=True).encode())
        for name in members:
            add(FILES_PREFIX + name, node.read_file(name), 0o600 if name.endswith(".key") else 0o644)
    return buf.getvalue()


def read_archive(data: bytes) -> tuple[dict[str, Any], dict[str, Any], dict[str, bytes]]:
    """(manifest, state, files) of a ``.bak``; raises ``ValueError`` when it is not one of ours."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            manifest = json.loads(_member(tar, MANIFEST))
            state = json.loads(_member(tar, STATE))
            files: dict[str, bytes] = {}
            for info in tar.getmembers():
                if info.isfile() and info.name.startswith(FILES_PREFIX):
                    name = info.name[len(FILES_PREFIX) :]
                    if shapes.is_plain_file_name(name):
                        files[name] = _member(tar, info.name)
    except (tarfile.TarError, OSError, EOFError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT or not isinstance(state, dict):
        raise ValueError("not a cmssim backup")
    return manifest, state, files


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    fh = tar.extractfile(name)
    if fh is None:
        raise KeyError(name)
    return fh.read()


def _snapshot(node: core.Node, name: str, console: core.Console) -> None:
    if not re.fullmatch(shapes.BACKUP_NAME_RE, name) or name in (".", ".."):
        raise core.CommandError(shapes.BACKUP_BAD_NAME.format(name=name))
    dbcluster.settle(node.lab)  # snapshot the cluster as it is now, not with a transition already due
    bak, meta = f"{name}.bak", f"{name}.json"
    files = node.list_files()
    backups = {f for f in files if _is_backup_file(f)}
    metas = {f[: -len(".bak")] + ".json" for f in backups} | {meta}
    members = [f for f in files if f not in backups and f not in metas]
    data = _archive(node, members)
    digest = hashlib.sha256(data).hexdigest()
    node.write_file(bak, data)
    metadata = {
        "name": name,
        "node": node.name,
        "hostname": node.hostname,
        "version": node.version,
        "time": node.now().isoformat(),
        "file": bak,
        "size": len(data),
        "sha256": digest,
    }
    node.write_file(meta, (json.dumps(metadata, indent=1, sort_keys=True) + "\n").encode())
    node.event("backup_snapshot", name=name, sha256=digest, files=len(members))
    console.write(shapes.BACKUP_READY.format(name=name) + "\n")


def _list(node: core.Node, console: core.Console) -> None:
    lines = [shapes.BACKUP_LIST_HEADER]
    lines += [shapes.BACKUP_LIST_ENTRY.format(file=f) for f in node.list_files() if _is_backup_file(f)]
    console.write("\n".join(lines) + "\n")


def _rollback(node: core.Node, given: str, console: core.Console) -> None:
    # [H] TN 214620 passes the name with its extension (`backup rollback backup.bak`); the bare name works too.
    name = given[: -len(".bak")] if given.endswith(".bak") else given
    bak = f"{name}.bak"
    if not name or not node.has_file(bak):
        raise core.CommandError(shapes.BACKUP_NOT_FOUND.format(name=given))
    try:
        manifest, state, files = read_archive(node.read_file(bak))
    except ValueError as exc:
        raise core.CommandError(shapes.BACKUP_CORRUPT.format(name=bak)) from exc
    backup_version = str(manifest.get("version", ""))
    # [H] TN 214620: a backup can only be rolled back on the CMS version that made it.
    if backup_version.split(".")[0] != node.version.split(".")[0]:
        raise core.CommandError(
            shapes.BACKUP_WRONG_VERSION.format(name=bak, backup_version=backup_version, version=node.version)
        )
    console.write(shapes.BACKUP_ROLLBACK_WARNING.format(name=bak) + "\n")
    answer = console.read_answer()
    if answer != "Y":
        node.event("confirmation", command=f"backup rollback {given}", answer=answer, proceeded=False)
        return
    console.write(shapes.BACKUP_ROLLBACK_STARTED + "\n")
    lab = node.lab
    with lab.lock:
        restored = dict(state)
        for key in KEPT_STATE_KEYS:
            restored[key] = node.state[key]
        node.state = restored
        for current in node.list_files():
            if current not in files and not _kept_on_rollback(current):
                (node.files_dir / current).unlink(missing_ok=True)
                node.event("file_removed", file=current, by="rollback")
        for fname, data in files.items():
            if _kept_on_rollback(fname) and node.has_file(fname):
                continue
            node.write_file(fname, data)
        node.save()
    dbcluster.poke(lab)
    services.refresh_listeners(node)
    node.event("reboot", reason="backup rollback", backup=bak, files=len(files))
    raise core.DropConnection(f"backup rollback {given}")


@core.verb("backup")
def backup(node: core.Node, args: list[str], console: core.Console) -> None:
    if len(args) == 2 and args[0] == "snapshot":
        _snapshot(node, args[1], console)
    elif len(args) == 1 and args[0] == "list":
        _list(node, console)
    elif len(args) == 2 and args[0] == "rollback":
        _rollback(node, args[1], console)
    else:
        raise core.CommandError(shapes.BACKUP_USAGE)
