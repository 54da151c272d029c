# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The repository explains itself: every reference points at something inside it.

Code, docs and tests cite the MMP's behaviour by section of ``docs/dev/mmp_reference.md`` and by source id (``S6``,
``TN 216549``); these tests keep every such citation resolvable from a fresh clone, and keep the files free of paths
that only exist on somebody's machine.  They read the git checkout, so on the installed collection (where
``ansible-test units`` runs the tests of ``tests/unit``) there is nothing to check and they are skipped.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = "docs/dev/mmp_reference.md"
FIXTURES = "tests/unit/plugins/module_utils/fixtures"

# Built from pieces, so that this file does not name what it forbids.
FORBIDDEN = {
    "CLI_" + "REFERENCE.md": "a reference document that is not in the repository; cite " + REFERENCE,
    "PROCE" + "DURES.md": "a procedures document that is not in the repository; cite " + REFERENCE,
    "/wo" + "rk/": "an absolute path on a development machine",
    "/ro" + "ot/": "an absolute path on a development machine",
    "see" + "ds/": "a copy of a TechNote that is not in the repository; cite its source id from " + REFERENCE,
}
# `shared/<name>` is fine only where the repository has such a file (molecule's shared playbooks).
SHARED_RE = re.compile(r"(?<![\w-])shared/([\w.-]+)")
REFERENCE_LINK_RE = re.compile(r"mmp_reference\.md#([\w-]+)")
SOURCE_ID_RE = re.compile(r"\bS([0-9]{1,2})\b")
TECHNOTE_RE = re.compile(r"\b(?:TN|TechNote) ?([0-9]{6})\b")
FENCE_RE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def _git_files() -> list[str] | None:
    try:
        top = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if Path(top).resolve() != REPO_ROOT:
            return None
        listed = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "ls-files", "-z"], capture_output=True, check=True
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return None
    return [name for name in listed.split("\0") if name]


TRACKED = _git_files()
pytestmark = pytest.mark.skipif(TRACKED is None, reason="not a git checkout of the repository (installed collection)")


@cache
def text_files() -> dict[str, str]:
    """Every tracked text file (binary and vanished files left out), by path relative to the repository."""
    texts: dict[str, str] = {}
    for name in TRACKED or []:
        path = REPO_ROOT / name
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" not in data:
            texts[name] = data.decode("utf-8", errors="replace")
    return texts


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a page (lower case, punctuation dropped, spaces to hyphens)."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", FENCE_RE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def reference_text() -> str:
    return (REPO_ROOT / REFERENCE).read_text()


def sources_table() -> str:
    """The ``## Sources`` section of the reference."""
    found = re.search(r"^## Sources\n(.*?)(?=^## )", reference_text(), re.M | re.S)
    assert found, f"{REFERENCE} lost its '## Sources' section"
    return found.group(1)


def test_no_file_names_a_document_or_path_outside_the_repository() -> None:
    hits = [
        f"{name}:{text.count(chr(10), 0, text.find(word)) + 1}: {word!r} ({why})"
        for name, text in text_files().items()
        for word, why in FORBIDDEN.items()
        if word in text
    ]
    assert not hits, "files point outside the repository:\n" + "\n".join(hits)


def test_every_shared_path_names_a_file_the_repository_has() -> None:
    shared = {name.split("shared/", 1)[1] for name in TRACKED or [] if "shared/" in name}
    hits = [
        f"{name}: shared/{match.group(1)}"
        for name, text in text_files().items()
        for match in SHARED_RE.finditer(text)
        if match.group(1).rstrip(".") not in shared
    ]
    assert not hits, "`shared/` paths that are not in the repository:\n" + "\n".join(hits)


def markdown_links(text: str) -> list[str]:
    # Code is not a link: fenced blocks and inline code are dropped before looking.
    prose = re.sub(r"`[^`\n]*`", "", FENCE_RE.sub("", text))
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose)
    return targets + re.findall(r"^\s*\[[^]]+\]:\s*(\S+)", prose, re.M)


def test_every_relative_markdown_link_resolves_to_a_file_and_heading_of_the_repository() -> None:
    broken = []
    for name, text in text_files().items():
        if not name.endswith(".md"):
            continue
        page = REPO_ROOT / name
        for target in markdown_links(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
                continue
            path_part, _hash, anchor = target.partition("#")
            path = (page.parent / path_part).resolve() if path_part else page
            if not path.exists() or not path.is_relative_to(REPO_ROOT):
                broken.append(f"{name}: {target} (no such file in the repository)")
            elif anchor and path.suffix == ".md" and anchor not in github_anchors(path.read_text()):
                broken.append(f"{name}: {target} (no heading #{anchor} in {path.relative_to(REPO_ROOT)})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_cited_section_of_the_mmp_reference_exists() -> None:
    anchors = github_anchors(reference_text())
    missing = sorted(
        f"{name}: #{anchor}"
        for name, text in text_files().items()
        for anchor in REFERENCE_LINK_RE.findall(text)
        if anchor not in anchors
    )
    assert not missing, f"sections of {REFERENCE} that do not exist:\n" + "\n".join(missing)


def test_every_source_id_and_technote_cited_is_in_the_sources_table() -> None:
    table = sources_table()
    listed_ids = set(re.findall(r"^\| S([0-9]+) \|", table, re.M))
    listed_notes = set(re.findall(r"TechNote ([0-9]{6})", table))
    missing = sorted(
        {
            f"{name}: S{number}"
            for name, text in text_files().items()
            if name != "LICENSE" and not name.startswith("LICENSES/")
            for number in SOURCE_ID_RE.findall(text)
            if number not in listed_ids
        }
        | {
            f"{name}: TechNote {number}"
            for name, text in text_files().items()
            for number in TECHNOTE_RE.findall(text)
            if number not in listed_notes
        }
    )
    assert not missing, f"cited but not in the sources of {REFERENCE}:\n" + "\n".join(missing)


def test_every_verbatim_transcript_fixture_is_quoted_in_the_mmp_reference() -> None:
    # The fixtures named after a source id are copies of transcripts the reference quotes; the two must not drift.
    def lines(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")

    blocks = [lines(block) for _fence, block in re.findall(r"^(```)\n(.*?)^\1", reference_text(), re.M | re.S)]
    fixtures = sorted((REPO_ROOT / FIXTURES).glob("*_s[0-9]*.txt"))
    assert fixtures, f"no transcript fixtures found in {FIXTURES}"
    unquoted = [
        path.name
        for path in fixtures
        if "reconstructed" not in path.name and not any(lines(path.read_text()) in block for block in blocks)
    ]
    assert not unquoted, f"fixtures whose transcript {REFERENCE} does not quote: {unquoted}"
