"""Fixtures shared by every test suite: simulated CMS labs over real SSH."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cmssim.testing import SimLab


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Callable[..., SimLab]]:
    """Start labs on demand (``make_lab(nodes=5, cms_version="2", lab_file={...})``); all stop at teardown."""
    labs: list[SimLab] = []

    def factory(
        nodes: int | None = None,
        cms_version: str | None = None,
        lab_file: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> SimLab:
        lab = SimLab.start(
            tmp_path / (name or f"lab{len(labs) + 1}"), nodes=nodes, cms_version=cms_version, lab_file=lab_file
        )
        labs.append(lab)
        return lab

    yield factory
    for lab in labs:
        lab.stop()


@pytest.fixture
def lab(make_lab: Callable[..., SimLab]) -> SimLab:
    """A fresh default lab: 3 CMS 3.x nodes, services on certs near expiry, a formed DB cluster (cms1 primary)."""
    return make_lab()
