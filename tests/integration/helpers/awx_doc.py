"""The examples of docs/awx.md, taken from the guide itself, so that an example that stops working fails a test."""

from __future__ import annotations

import re

from tests.integration.helpers.ansible_cli import REPO_ROOT

AWX_DOC = REPO_ROOT / "docs" / "awx.md"


def doc_block(first_line: str) -> str:
    """The fenced YAML block of docs/awx.md that starts with ``first_line``: the examples the tests run."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", AWX_DOC.read_text(), re.M | re.S)
    found = [block for block in blocks if block.startswith(first_line)]
    assert len(found) == 1, f"docs/awx.md needs exactly one yaml block starting with {first_line!r}"
    return found[0]
