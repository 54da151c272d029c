# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller files: every read and every write a module makes on the controller goes through here.

One rule for all of them (the path rule itself, which directory a relative path means, is the action plugin's):

* a file that cannot be read is a ``MmpValidationError`` naming the option, the path and why, raised before
  anything changes on a node;
* a file is written under a temporary name in its own directory, flushed to disk, then renamed into place, so
  a reader (a browser, a textfile collector, the next run) never sees half a file, and the temporary file is gone
  on every path, failure included;
* private material (keys, backups) is created 0600 from the first byte, in directories this creates 0700;
* in check mode nothing is written, no directory is created, and the answer is what a real run would change;
* private material never goes to a directory others may write to, nor into a git work tree (where the next
  ``git add -A`` would commit it) unless the user opts in (``cms_allow_keys_in_repo``), and nothing is ever written
  inside an installed collection (``ansible-galaxy`` replaces it on the next install).
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tempfile

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError, MmpValidationError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644
PUBLIC_DIR_MODE = 0o755


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


def read_controller_file(path: str, option: str, hint: str = "") -> bytes:
    """The bytes of ``path``; a file that cannot be read names ``option``, the path, the reason and ``hint``."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise MmpValidationError(
            "%s %s cannot be read on the controller: %s%s"
            % (option, path, exc.strerror or exc, (". " + hint) if hint else "")
        ) from None


def read_if_exists(path: str) -> bytes | None:
    """The bytes of ``path``, or ``None`` when there is no readable file there (a file about to be written)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def ensure_dir(path: str, mode: int = PUBLIC_DIR_MODE) -> None:
    """Create ``path`` and its missing parents; every directory this creates gets ``mode`` (umask aside)."""
    if not path or os.path.isdir(path):
        return
    parent = os.path.dirname(os.path.abspath(path))
    if parent != os.path.abspath(path):
        ensure_dir(parent, mode)
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass  # another host of the same play made it first
    else:
        # mkdir's mode passes through the umask; a private directory must be 0700 whatever the umask.
        os.chmod(path, mode)


def ensure_private_dir(path: str, allow_in_repo: bool = False, option: str = "the destination") -> None:
    """Create ``path`` for files that hold private keys: every directory this creates is made 0700.

    Refused first (``MmpValidationError``) where keys must not go: see ``check_private_dir``.
    """
    check_private_dir(path, allow_in_repo, option)
    ensure_dir(path, PRIVATE_DIR_MODE)


def installed_collection_of(path: str) -> str | None:
    """The root of the installed collection ``path`` lies in (``.../ansible_collections/<ns>/<name>`` holding the
    ``MANIFEST.json`` that ``ansible-galaxy collection install`` writes), else ``None``. A source checkout has no
    MANIFEST.json, so working in one is not refused."""
    parts = os.path.abspath(os.path.expanduser(path)).split(os.sep)
    for index in range(len(parts) - 2):
        if parts[index] == "ansible_collections":
            root = os.sep.join(parts[: index + 3]) or os.sep
            if os.path.isfile(os.path.join(root, "MANIFEST.json")):
                return root
    return None


def git_work_tree_of(path: str) -> str | None:
    """The git work tree ``path`` (or where it would be created) lies in and is not ignored by, else ``None``."""
    probe = os.path.abspath(os.path.expanduser(path))
    here = probe
    while True:
        if os.path.exists(os.path.join(here, ".git")):
            break
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
    try:
        # A path the work tree ignores (/lab/, cms_output/ in .gitignore) is not committed by accident.
        ignored = subprocess.run(
            ["git", "-C", here, "check-ignore", "-q", "--no-index", probe],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return here
    return None if ignored.returncode == 0 else here


def check_private_dir(path: str, allow_in_repo: bool = False, option: str = "the destination") -> None:
    """Refuse a directory for private keys or backups that others may write to, that lies inside an installed
    collection, or (unless ``allow_in_repo``) inside a git work tree that does not ignore it."""
    collection = installed_collection_of(path)
    if collection:
        raise MmpValidationError(
            "%s %s lies inside the installed collection %s, which the next ansible-galaxy install replaces: private "
            "keys and backups would be lost or shipped with it. Give %s an absolute path outside it (cms_output_dir "
            "sets where the collection's playbooks write)." % (option, path, collection, option)
        )
    if os.path.isdir(path) and os.stat(path).st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise MmpValidationError(
            "%s %s is writable by its group or by everyone (mode %04o), so others could read or replace the private "
            "keys and backups put there. Make it private (chmod 700 %s) or choose another directory."
            % (option, path, stat.S_IMODE(os.stat(path).st_mode), path)
        )
    repo = None if allow_in_repo else git_work_tree_of(path)
    if repo:
        raise MmpValidationError(
            "%s %s lies inside the git work tree %s and is not ignored by it, so private keys and backups written "
            "there could be committed. Choose a directory outside it (cms_output_dir), add it to the work tree's "
            ".gitignore, or set cms_allow_keys_in_repo: true if that repository is meant to hold them."
            % (option, path, repo)
        )


def write_atomic(
    path: str,
    data: bytes | str,
    mode: int = PUBLIC_FILE_MODE,
    *,
    check_mode: bool = False,
    private: bool = False,
    always: bool = False,
    option: str = "the destination",
    name: str | None = None,
) -> bool:
    """Make ``path`` hold ``data`` with ``mode``; returns whether anything changed (or would, in check mode).

    A file that already holds ``data`` is left alone (a private one too loose is tightened to ``mode``), unless
    ``always`` (a caller that has decided to rewrite it, to refresh its mtime for instance). Missing
    directories are created, 0700 with ``private``. The temporary name starts with a dot and ends in ``.tmp``, so
    no collector that globs on an extension picks it up. A failure is a ``MmpValidationError`` naming ``name`` (the
    file's own name, when ``path`` is a destination chosen for it), the path and ``option`` to check.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not always and read_if_exists(path) == raw:
        # Tightening a copy of a key someone loosened is no change of content, so it does not count as changed.
        if private and os.stat(path).st_mode & 0o777 & ~mode and not check_mode:
            os.chmod(path, mode)
        return False
    if check_mode:
        return True
    try:
        _replace(path, raw, mode, private)
    except OSError as exc:
        what = "%s to %s" % (name, path) if name else path
        raise MmpValidationError(
            "cannot write %s on the controller: %s. Check %s." % (what, exc.strerror or exc, option)
        ) from None
    return True


def _replace(path: str, raw: bytes, mode: int, private: bool) -> None:
    directory = os.path.dirname(path) or "."
    ensure_dir(directory, PRIVATE_DIR_MODE if private else PUBLIC_DIR_MODE)
    # mkstemp creates the file 0600, so a key is never readable by others, not even for an instant.
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(raw)
            fh.flush()
            # Renamed only once on disk: after a crash the file is the old one or the new one, never a truncated one.
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_private_file(path: str, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically, mode 0600 in a 0700 directory, and read it back; returns its SHA-256.

    A copy that reads back differently is removed and reported: a backup that only looks fetched is worse than none.
    Callers check the directory (``check_private_dir``) before anything changes on a node.
    """
    want = sha256_hex(data)
    write_atomic(path, data, PRIVATE_FILE_MODE, private=True)
    got = file_sha256(path)
    if got != want:
        os.unlink(path)
        raise MmpError(
            "the copy written to %s reads back with SHA-256 %s instead of %s; it was removed" % (path, got, want),
            hint="Check the controller's disk (space, errors) and run again.",
        )
    return want
