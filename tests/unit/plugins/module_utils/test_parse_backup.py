# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from collections.abc import Callable

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpParseError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import parse_backup_list, parse_backup_snapshot


@pytest.mark.parametrize("name", ["backup_snapshot_s1.txt", "tn216549_step03_backup.txt"])
def test_snapshot_name(name: str, transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    assert parse_backup_snapshot(variant(transcript(name))) == "jaihanuman"


@pytest.mark.parametrize("name", ["backup_usage_s1.txt", "db_certs_updated_s1.txt"])
def test_snapshot_without_its_ready_line_is_a_parse_error(name: str, transcript: Callable[[str], str]) -> None:
    with pytest.raises(MmpParseError, match="ready for download"):
        parse_backup_snapshot(transcript(name))


def test_snapshot_of_nothing_is_a_parse_error() -> None:
    with pytest.raises(MmpParseError, match="printed nothing"):
        parse_backup_snapshot("\r\n")


def test_backup_list_on_the_simulator_guess_shape(variant: Callable[[str], str]) -> None:
    # [GUESS] `backup list` output was never seen; the simulator prints a header and one `.bak` per line.
    text = "Backups:\n  before-renewal.bak\n  nightly_1.bak\n  nightly_1.json\n"
    assert parse_backup_list(variant(text)) == ["before-renewal", "nightly_1"]


def test_backup_list_tolerates_bare_names_extra_columns_and_no_backups() -> None:
    assert parse_backup_list("snap1   2026-01-01 10:00\nsnap2\n") == ["snap1", "snap2"]
    assert parse_backup_list("Backups:\n") == []
    assert parse_backup_list("") == []


def test_backup_list_that_reports_an_error_is_a_parse_error(transcript: Callable[[str], str]) -> None:
    with pytest.raises(MmpParseError):
        parse_backup_list(transcript("backup_usage_s1.txt"))
