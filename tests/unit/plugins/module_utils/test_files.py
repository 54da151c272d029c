# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller files: atomic writes with fsync, modes, check mode, and clear errors on read and write."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _files
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_write_replaces_the_file_in_one_step_after_it_is_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.prom"
    target.write_text("old")
    synced: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        synced.append(os.readlink("/proc/self/fd/%d" % fd))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        # Until the rename, the old content is what a reader sees, and the new one is already flushed to disk.
        assert target.read_text() == "old" and synced == [src]
        assert Path(src).name.startswith(".report.prom.") and src.endswith(".tmp")  # no collector picks it up
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    assert _files.write_atomic(str(target), "new") is True
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["report.prom"]


def test_the_same_content_is_no_change_and_always_rewrites_it_anyway(tmp_path: Path) -> None:
    target = tmp_path / "a.cer"
    assert _files.write_atomic(str(target), b"CERT") is True
    before = target.stat().st_ino
    assert _files.write_atomic(str(target), b"CERT") is False
    assert target.stat().st_ino == before
    assert _files.write_atomic(str(target), b"CERT", always=True) is True
    assert target.stat().st_ino != before


def test_private_files_are_0600_from_the_first_byte_in_a_0700_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "keys" / "sub" / "a.key"
    modes: list[int] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        modes.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    old_umask = os.umask(0)  # the modes must not depend on a permissive umask
    try:
        _files.write_atomic(str(target), b"KEY", _files.PRIVATE_FILE_MODE, private=True)
    finally:
        os.umask(old_umask)
    assert modes == [0o600] and mode(target) == 0o600
    assert mode(tmp_path / "keys") == 0o700 and mode(tmp_path / "keys" / "sub") == 0o700


def test_a_loosened_private_copy_is_tightened_without_counting_as_a_change(tmp_path: Path) -> None:
    target = tmp_path / "a.key"
    _files.write_atomic(str(target), b"KEY", 0o600, private=True)
    target.chmod(0o644)
    assert _files.write_atomic(str(target), b"KEY", 0o600, private=True) is False
    assert mode(target) == 0o600


def test_public_files_get_the_mode_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    _files.write_atomic(str(target), "<html>", 0o640)
    assert mode(target) == 0o640 and mode(tmp_path / "out") == 0o755


def test_check_mode_writes_nothing_and_creates_no_directory(tmp_path: Path) -> None:
    target = tmp_path / "new" / "a.cer"
    assert _files.write_atomic(str(target), b"CERT", check_mode=True, private=True) is True
    assert not (tmp_path / "new").exists()
    (tmp_path / "b.cer").write_bytes(b"CERT")
    assert _files.write_atomic(str(tmp_path / "b.cer"), b"CERT", check_mode=True) is False


def test_a_failed_write_leaves_no_temporary_file_and_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.cer"
    target.write_bytes(b"OLD")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(MmpValidationError) as caught:
        _files.write_atomic(str(target), b"NEW", option="dest", name="web.crt")
    assert (
        caught.value.message
        == "cannot write web.crt to %s on the controller: No space left on device. Check dest." % target
    )
    assert target.read_bytes() == b"OLD" and os.listdir(tmp_path) == ["a.cer"]


def test_a_write_into_a_path_that_cannot_be_a_directory_names_the_option(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MmpValidationError, match="Check json_path"):
        _files.write_atomic(str(blocker / "report.json"), "{}", option="json_path")


def test_a_private_copy_is_read_back_and_its_sha256_returned(tmp_path: Path) -> None:
    target = tmp_path / "backups" / "pre.bak"
    assert _files.write_private_file(str(target), b"BACKUP") == _files.sha256_hex(b"BACKUP")
    assert _files.file_sha256(str(target)) == _files.sha256_hex(b"BACKUP")
    assert mode(target) == 0o600 and mode(tmp_path / "backups") == 0o700
    assert _files.file_sha256(str(tmp_path / "nothing")) is None


@pytest.mark.parametrize(
    ("make", "reason"),
    [(lambda p: None, "No such file or directory"), (lambda p: p.mkdir(), "Is a directory")],
)
def test_a_file_that_cannot_be_read_names_the_option_the_path_the_reason_and_the_fix(
    tmp_path: Path, make: object, reason: str
) -> None:
    path = tmp_path / "cert.cer"
    make(path)  # type: ignore[operator]
    with pytest.raises(MmpValidationError) as caught:
        _files.read_controller_file(str(path), "cert_src", "Give the path of the file to upload.")
    assert (
        caught.value.message
        == "cert_src %s cannot be read on the controller: %s. Give the path of the file to upload."
        % (
            path,
            reason,
        )
    )
    assert _files.read_if_exists(str(path)) is None


# ---- where private keys and backups may go ---------------------------------------------------------------------
def test_keys_are_refused_in_a_directory_others_may_write_to(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    with pytest.raises(MmpValidationError, match=r"writable by its group or by everyone \(mode 0775\).*chmod 700"):
        _files.ensure_private_dir(str(shared), option="dest")


def test_keys_are_refused_in_a_git_work_tree_unless_ignored_or_allowed(tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "inventory-repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/ignored/\n")
    with pytest.raises(MmpValidationError, match=r"inside the git work tree .*cms_allow_keys_in_repo: true") as caught:
        _files.ensure_private_dir(str(repo / "site" / "backups"), option="dest")
    assert str(repo) in str(caught.value)
    assert not (repo / "site").exists()  # refused before anything was created
    _files.ensure_private_dir(str(repo / "ignored" / "backups"))
    _files.ensure_private_dir(str(repo / "site" / "backups"), allow_in_repo=True)
    assert mode(repo / "site" / "backups") == 0o700


def test_nothing_private_goes_inside_an_installed_collection(tmp_path: Path) -> None:
    installed = tmp_path / "collections" / "ansible_collections" / "cisco_cms" / "mmp"
    (installed / "playbooks").mkdir(parents=True)
    (installed / "MANIFEST.json").write_text("{}")
    assert _files.installed_collection_of(str(installed / "playbooks" / "pki")) == str(installed)
    with pytest.raises(MmpValidationError, match=r"inside the installed collection .*cms_output_dir"):
        _files.ensure_private_dir(str(installed / "playbooks" / "pki" / "lab-ca"), option="path")
    # A source checkout (no MANIFEST.json) is someone's work tree, not an installed collection.
    (installed / "MANIFEST.json").unlink()
    assert _files.installed_collection_of(str(installed / "playbooks" / "pki")) is None


def test_the_output_root_resolves_against_where_ansible_runs_and_never_into_a_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible.errors import AnsibleFilterError

    from ansible_collections.cisco_cms.mmp.plugins.filter.cms_output_path import cms_output_path

    monkeypatch.chdir(tmp_path)
    assert cms_output_path("cms_output", "cert_report") == str(tmp_path / "cms_output" / "cert_report")
    assert cms_output_path("/srv/out", "pki") == "/srv/out/pki"
    installed = tmp_path / "ansible_collections" / "cisco_cms" / "mmp"
    installed.mkdir(parents=True)
    (installed / "MANIFEST.json").write_text("{}")
    monkeypatch.chdir(installed)
    with pytest.raises(AnsibleFilterError, match="inside the installed collection"):
        cms_output_path("cms_output", "cert_report")
