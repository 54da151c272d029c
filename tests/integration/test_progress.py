"""Progress during long waits: a module that waits shows, at default verbosity, which node, what it waits for, the
state seen and the time so far, while it waits (through a real ansible-playbook run with forked workers)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cmssim.testing import SimLab
from tests.integration.helpers.db_cluster import DB_FQDNS, FAST, cluster_ca, make_db_pki, play, src_args


def test_a_minute_long_join_shows_a_progress_line_at_least_every_fifteen_seconds(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    lab.run("cms3", "database cluster remove", answer="Y")
    paths = make_db_pki(tmp_path / "new", DB_FQDNS[0], DB_FQDNS, ca=cluster_ca(lab))
    lab.ctl(timings={"cluster_join": 60})
    run = playbook(
        lab,
        play(
            f"""
        - name: join
          cisco_cms.mmp.cms_db_cluster:
            state: joined
            primary: 192.0.2.11
{src_args(paths)}
""",
            "cms3",
        ),
        json_output=False,
    )
    assert run.rc == 0, run.stdout[-3000:]
    lines = [line for line in run.stdout.splitlines() if "waiting for database cluster join" in line]
    assert len(lines) >= 4, run.stdout[-3000:]
    seconds = [int(re.search(r"after (\d+)s", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert all(line.startswith("cms3: ") and "joining" in line for line in lines), lines
    assert seconds == sorted(seconds) and seconds[0] <= 15
    assert all(b - a <= 15 for a, b in itertools.pairwise(seconds)), seconds
    # Nothing else waited long enough to print: the short waits of the same run stay quiet.
    assert len([line for line in run.stdout.splitlines() if ": waiting for " in line]) == len(lines)
