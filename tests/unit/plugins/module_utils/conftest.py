# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Transcript fixtures, and the line-ending/terminal variants every parser must accept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def read_transcript(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _crlf(text: str) -> str:
    # A PTY turns every LF into CRLF [GUESS for the MMP, the usual terminal behaviour].
    return text.replace("\n", "\r\n")


def _ansi(text: str) -> str:
    # Colour resets at line starts and erase-to-end-of-line codes at line ends, as some terminals send them.
    return "\r\n".join("\x1b[0m" + line + "\x1b[K" if line else line for line in text.split("\n"))


VARIANTS: dict[str, Callable[[str], str]] = {"lf": lambda text: text, "crlf": _crlf, "ansi": _ansi}


@pytest.fixture
def transcript() -> Callable[[str], str]:
    """``transcript("pki_list_s8.txt")``: the text of a fixture file (see fixtures/README.md)."""
    return read_transcript


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Each test using it runs on LF, CRLF and ANSI-decorated CRLF text."""
    return VARIANTS[request.param]
