"""cms_backup against the simulator: snapshot and fetch verified by SHA-256, idempotency, list, rollback on request."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cmssim.testing import SimLab
from tests.integration.helpers.db_cluster import commands, mark, play


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def backup_task(dest: Path, name: str = "before-change", extra: str = "") -> str:
    return play(
        f"""
        - name: backup
          cisco_cms.mmp.cms_backup:
            name: {name}
            dest: "{dest}/{{{{ inventory_hostname }}}}"{extra}
"""
    )


def test_snapshot_of_every_node_is_fetched_intact_and_private(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    dest = tmp_path / "backups"
    run = playbook(lab, backup_task(dest))
    assert run.rc == 0, run.stdout[-3000:]
    for node in ("cms1", "cms2", "cms3"):
        result = run.task(node, "backup")
        on_node = lab.files_dir(node) / "before-change.bak"
        copy = dest / node / "before-change.bak"
        assert result["changed"] and result["snapshot_taken"] and result["fetched"]
        assert result["commands"] == ["backup snapshot before-change"]
        assert result["path"] == str(copy)
        # The controller copy is the node's file, byte for byte, and the module says so.
        assert sha256(copy) == sha256(on_node) == result["sha256"] == result["checksum"]
        assert copy.stat().st_size == on_node.stat().st_size == result["size"]
        assert (dest / node / "before-change.json").read_bytes() == (
            lab.files_dir(node) / "before-change.json"
        ).read_bytes()
        # A backup holds the node's private keys.
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert stat.S_IMODE((dest / node).stat().st_mode) == 0o700
        assert result["backups"] == ["before-change"]


def test_second_run_changes_nothing_and_a_damaged_copy_is_fetched_again(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    dest = tmp_path / "backups"
    assert playbook(lab, backup_task(dest), limit="cms1").rc == 0
    snapshot = (lab.files_dir("cms1") / "before-change.bak").read_bytes()
    before = mark(lab, "cms1")["cms1"]
    again = playbook(lab, backup_task(dest), limit="cms1")
    assert again.rc == 0 and again.changed("cms1") == 0
    assert again.task("cms1", "backup")["snapshot_taken"] is False
    assert commands(lab, "cms1", before) == ["backup list"]

    copy = dest / "cms1" / "before-change.bak"
    copy.write_bytes(copy.read_bytes()[:-10] + b"0123456789")  # same size, other content
    repaired = playbook(lab, backup_task(dest), limit="cms1")
    result = repaired.task("cms1", "backup")
    assert result["changed"] and result["fetched"] and not result["snapshot_taken"]
    assert copy.read_bytes() == snapshot == (lab.files_dir("cms1") / "before-change.bak").read_bytes()
    assert "backup snapshot before-change" not in commands(lab, "cms1", before)


def test_force_takes_a_new_snapshot_under_the_same_name_once_the_old_copy_is_moved_away(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    dest = tmp_path / "backups"
    assert playbook(lab, backup_task(dest), limit="cms2").rc == 0
    first = sha256(dest / "cms2" / "before-change.bak")
    (dest / "cms2").rename(tmp_path / "kept")
    run = playbook(lab, backup_task(dest, extra="\n            force: true"), limit="cms2")
    result = run.task("cms2", "backup")
    assert result["snapshot_taken"] and result["sha256"] != first
    assert sha256(dest / "cms2" / "before-change.bak") == sha256(lab.files_dir("cms2") / "before-change.bak")
    assert sha256(tmp_path / "kept" / "before-change.bak") == first


def test_force_never_replaces_a_controller_copy_and_leaves_the_node_alone(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    dest = tmp_path / "backups"
    assert playbook(lab, backup_task(dest), limit="cms2").rc == 0
    copy = dest / "cms2" / "before-change.bak"
    kept, on_node = copy.read_bytes(), (lab.files_dir("cms2") / "before-change.bak").read_bytes()
    before = mark(lab, "cms2")["cms2"]
    run = playbook(lab, backup_task(dest, extra="\n            force: true"), limit="cms2")
    assert run.rc != 0
    msg = run.task("cms2", "backup")["msg"]
    assert str(copy) in msg and "never replaced" in msg and "another name" in msg and "move the old copy" in msg
    assert copy.read_bytes() == kept
    assert (lab.files_dir("cms2") / "before-change.bak").read_bytes() == on_node
    assert commands(lab, "cms2", before) == ["backup list"]


def test_a_copy_left_on_the_controller_is_not_replaced_by_a_new_snapshot(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    """The node has no snapshot of that name, but dest holds an older copy of it (another node's, or an old one)."""
    dest = tmp_path / "backups"
    (dest / "cms3").mkdir(parents=True)
    (dest / "cms3" / "before-change.json").write_text("{}")
    before = mark(lab, "cms3")["cms3"]
    run = playbook(lab, backup_task(dest), limit="cms3")
    assert run.rc != 0
    assert "before-change.json is already on the controller" in run.task("cms3", "backup")["msg"]
    assert (dest / "cms3" / "before-change.json").read_text() == "{}"
    assert not (lab.files_dir("cms3") / "before-change.bak").exists()
    assert commands(lab, "cms3", before) == ["backup list"]


def test_check_mode_takes_no_snapshot(lab: SimLab, playbook: Callable[..., Any], tmp_path: Path) -> None:
    before = mark(lab, "cms3")["cms3"]
    run = playbook(lab, backup_task(tmp_path / "b"), limit="cms3", check=True)
    result = run.task("cms3", "backup")
    assert result["changed"] and result["commands"] == ["backup snapshot before-change"]
    assert commands(lab, "cms3", before) == ["backup list"]
    assert not (lab.files_dir("cms3") / "before-change.bak").exists()
    assert not (tmp_path / "b").exists()


def test_list_and_a_rollback_only_when_asked(lab: SimLab, playbook: Callable[..., Any], tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    assert playbook(lab, backup_task(dest, name="good"), limit="cms2").rc == 0
    # After the backup the node loses a key; the rollback brings it back and reboots the node.
    with lab.sftp("cms2") as sftp:
        sftp.remove("cms2-2025.key")
    listed = playbook(lab, play("        - name: list\n          cisco_cms.mmp.cms_backup: {}\n"), limit="cms2")
    assert listed.task("cms2", "list")["backups"] == ["good"] and not listed.task("cms2", "list")["changed"]
    rollback = play(
        "        - name: rollback\n          cisco_cms.mmp.cms_backup:\n            name: good\n"
        "            state: rollback\n"
    )
    planned = playbook(lab, rollback, limit="cms2", check=True)
    assert planned.task("cms2", "rollback")["commands"] == ["backup rollback good.bak"]
    assert not (lab.files_dir("cms2") / "cms2-2025.key").exists()
    run = playbook(lab, rollback, limit="cms2")
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task("cms2", "rollback")
    assert result["changed"] and result["rebooting"] is True
    # The simulator only rolls back on a capital Y: the reboot event proves it was sent.
    assert [e["backup"] for e in lab.events("cms2") if e["event"] == "reboot"] == ["good.bak"]
    assert not [e for e in lab.events("cms2") if e["event"] == "confirmation"]
    assert (lab.files_dir("cms2") / "cms2-2025.key").exists()


def test_rollback_of_a_missing_backup_is_refused(lab: SimLab, playbook: Callable[..., Any]) -> None:
    run = playbook(
        lab,
        play(
            "        - name: rollback\n          cisco_cms.mmp.cms_backup:\n            name: nosuch\n"
            "            state: rollback\n"
        ),
        limit="cms1",
    )
    assert run.rc != 0
    assert "no nosuch.bak on the node" in run.task("cms1", "rollback")["msg"]
    assert not [c for c in commands(lab, "cms1") if c.startswith("backup rollback")]
