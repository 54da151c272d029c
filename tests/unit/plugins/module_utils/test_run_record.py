"""cms_run_record's writes on the controller (plugins/module_utils/_run_record.py)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._run_record import write_records


def params(path: Path, **kwargs: Any) -> dict[str, Any]:
    return {"path": str(path), "dir_mode": "0700", "files": {}, "mode": "0600", "absent": [], **kwargs}


def test_files_are_written_private_in_a_private_directory_and_a_rewrite_of_the_same_content_changes_nothing(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    result = write_records(params(work, files={"state.json": "{}\n", "plans/a.json": "[]"}), check_mode=False)
    assert result["changed"] and sorted(result["written"]) == [str(work / "plans/a.json"), str(work / "state.json")]
    assert (work / "state.json").read_text() == "{}\n"
    assert stat.S_IMODE(work.stat().st_mode) == 0o700 and stat.S_IMODE((work / "plans").stat().st_mode) == 0o700
    assert stat.S_IMODE((work / "state.json").stat().st_mode) == 0o600
    again = write_records(params(work, files={"state.json": "{}\n"}), check_mode=False)
    assert again["changed"] is False and again["written"] == []
    # A private directory loosened by hand is tightened.
    work.chmod(0o755)
    assert write_records(params(work, files={"state.json": "{}\n"}), check_mode=False)["changed"]
    assert stat.S_IMODE(work.stat().st_mode) == 0o700


def test_absent_removes_a_tree_and_never_creates_the_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert write_records(params(work, absent=["transfer"]), check_mode=False) == {
        "changed": False,
        "path": str(work),
        "written": [],
        "removed": [],
    }
    assert not work.exists()
    (work / "transfer").mkdir(parents=True)
    (work / "transfer" / "k.key").write_text("x")
    assert write_records(params(work, absent=["transfer"]), check_mode=True)["removed"] == [str(work / "transfer")]
    assert (work / "transfer" / "k.key").exists()  # check mode writes and removes nothing
    assert write_records(params(work, absent=["transfer"]), check_mode=False)["changed"]
    assert not (work / "transfer").exists()


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a//b", ""])
def test_a_name_that_leaves_the_directory_is_refused_before_anything_is_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(MmpValidationError, match="is not a plain relative name under"):
        write_records(params(tmp_path / "w", files={"ok.json": "{}", name: "x"}), check_mode=False)
    assert not (tmp_path / "w").exists()


def test_public_records_are_0644(tmp_path: Path) -> None:
    write_records(params(tmp_path / "out", dir_mode="0755", mode="0644", files={"plans/p.md": "# p"}), False)
    assert stat.S_IMODE((tmp_path / "out" / "plans" / "p.md").stat().st_mode) == 0o644
