"""Change plans and outcome records (docs/plans.md): check mode of both roles writes the ordered per-node plan with
every MMP command the real run then sends; the real run writes an outcome of the same shape; the Markdown renders in
a browser."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import REPO_ROOT, Run
from tests.integration.helpers.db_cluster import FAST, changing_events, commands, mark
from tests.integration.helpers.service_certs import events_since, service_commands_since
from tests.integration.test_cert_report import render

NODES = ("cms1", "cms2", "cms3")
READ_ONLY = ("database cluster status", "pki list", "backup list")
SERIAL = "202612010000"


def last_message(run: Run) -> str:
    """The message of the last task that printed one (the default callback's YAML output)."""
    lines = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("msg: ")]
    assert lines, run.stdout[-3000:]
    return lines[-1][len("msg: ") :].strip("'\"")


def record(path_md: str) -> dict[str, Any]:
    assert path_md.endswith(".md") and Path(path_md).is_file(), path_md
    data: dict[str, Any] = json.loads(Path(path_md[: -len(".md")] + ".json").read_text())
    return data


def shape(doc: dict[str, Any]) -> list[tuple[int, str, str, list[str]]]:
    """What a plan and its outcome must share: every step, in order, with its node and exact commands."""
    return [(s["order"], s["phase"], s["node"], s["commands"]) for s in doc["steps"]]


def test_rebuild_check_mode_writes_the_plan_of_every_command_the_real_run_then_sends_in_order(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    out = tmp_path / "out"
    extra = {"cms_output_dir": str(out), "db_cluster_rebuild_serial": SERIAL}
    since = mark(lab, *NODES)
    check = playbook(lab, "playbooks/db_cluster_certs.yml", check=True, extra_vars=extra, json_output=False)
    assert check.rc == 0, check.stdout[-3000:]
    assert all(not changing_events(lab, n, since[n]) for n in NODES)
    message = last_message(check)
    assert message.startswith("plan: ")
    plan = record(message[len("plan: ") :])
    assert (plan["schema"], plan["kind"], plan["check_mode"]) == ("cisco_cms.mmp/change/1", "plan", True)
    assert [s["phase"] for s in plan["steps"]][:4] == ["backup", "backup", "backup", "certificates"]
    assert (
        plan["outage"]["cluster"] == 30.0
    )  # remove, then the primary's remove and initialize, join: the benchmark's times
    assert "dbclusterserver.cer expires in" in plan["summary"]
    assert [b["node"] for b in plan["backups"]] == list(NODES)

    since = mark(lab, *NODES)
    real = playbook(lab, "playbooks/db_cluster_certs.yml", extra_vars=extra, json_output=False)
    assert real.rc == 0, real.stdout[-3000:]
    for node in NODES:
        sent = [c for c in commands(lab, node, since[node]) if c not in READ_ONLY]
        assert sent == plan["commands"][node], node
    assert last_message(real) == message
    outcome = record(message[len("plan: ") :].replace(".plan.md", ".outcome.md"))
    assert outcome["kind"] == "outcome" and shape(outcome) == shape(plan)
    assert 0 < outcome["outage"]["cluster"] < 30 and outcome["outage"]["cluster_estimate"] == 30.0
    assert all(v["not_after"] for n in NODES for k, v in outcome["nodes"][n]["after"].items() if k.endswith("_cert"))
    assert "Cluster outage %s s (plan: 30.0 s)" % outcome["outage"]["cluster"] in real.stdout

    # The next plan estimates from this run's own timings, kept under the output root.
    timings = json.loads((out / "timings" / "db_cluster_rebuild.json").read_text())
    assert set(timings) == {"remove", "initialize", "join"} and all(t < 5 for t in timings.values())
    again = playbook(
        lab,
        "playbooks/db_cluster_certs.yml",
        check=True,
        extra_vars={**extra, "db_cluster_rebuild_serial": "202612020000", "db_cluster_rebuild_force": True},
        json_output=False,
    )
    assert again.rc == 0, again.stdout[-3000:]
    forced = record(last_message(again)[len("plan: ") :])
    assert forced["basis"].startswith("the previous run") and forced["outage"]["cluster"] < 5


def test_the_plan_markdown_renders_cleanly_in_a_browser(
    make_lab: Callable[..., SimLab], playbook: Callable[..., Any], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    extra = {"cms_output_dir": str(tmp_path / "out"), "db_cluster_rebuild_serial": SERIAL}
    run = playbook(lab, "playbooks/db_cluster_certs.yml", check=True, extra_vars=extra, json_output=False)
    assert run.rc == 0, run.stdout[-3000:]
    md = Path(last_message(run)[len("plan: ") :]).read_text()
    body = MarkdownIt("commonmark").enable("table").render(md)
    page = tmp_path / "plan.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>plan</title></head><body>%s</body></html>' % body
    )
    assert body.count("<table>") == 4 and "<code>database cluster join 192.0.2.11</code>" in body
    text = render(page, tmp_path, tmp_path / "plan.png")
    assert "Change plan: db cluster rebuild %s" % SERIAL in text and "Steps, in order" in text
    for raw in ("|---", "`", "<br>", "**", "\\|"):
        assert raw not in text, raw


def test_service_certs_check_mode_writes_the_plan_and_the_real_run_its_outcome(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    inventories = (str(lab.dir / "inventory.yml"), str(REPO_ROOT / "inventory" / "lab"))
    assert playbook(lab, REPO_ROOT / "playbooks" / "generate_csrs.yml", inventories=inventories).rc == 0
    extra = {"cms_output_dir": str(tmp_path / "out")}
    start = time.time()
    check = playbook(
        lab,
        REPO_ROOT / "playbooks" / "service_certs.yml",
        inventories=inventories,
        check=True,
        extra_vars=extra,
        json_output=False,
    )
    assert check.rc == 0, check.stdout[-3000:]
    assert all(service_commands_since(lab, n, start) == [] for n in NODES)
    assert all(events_since(lab, n, start, "sftp_put") == [] for n in NODES)
    message = last_message(check)
    assert message.startswith("plan: ")
    plan = record(message[len("plan: ") :])
    # The lab inventory's rollout is a CA change (service_certs_trust_ca_src): first each node's trust stores in use
    # take the new CA (one step per store, with the restart that applies it), then the 12 swaps.
    phases = [s["phase"] for s in plan["steps"]]
    trust_steps = [s for s in plan["steps"] if s["phase"] == "trust"]
    assert phases == ["trust"] * len(trust_steps) + [p for p in phases if p != "trust"], phases
    assert {s["node"] for s in trust_steps} == set(NODES) and len(plan["steps"]) - len(trust_steps) == 12
    assert all(any(" trust " in c for c in s["commands"]) and "new CA" in s["why"] for s in trust_steps), trust_steps
    assert "trust store(s) (the new CA added, before any swap), then 12 service(s) would change" in plan["summary"]
    swaps = [o for o in plan["outage"]["services"] if o["service"] == "webadmin"]
    assert swaps[0]["seconds"] == 4.1  # the benchmark's restart: no earlier run measured

    start = time.time()
    real = playbook(
        lab, REPO_ROOT / "playbooks" / "service_certs.yml", inventories=inventories, extra_vars=extra, json_output=False
    )
    real_seconds = time.time() - start
    assert real.rc == 0, real.stdout[-3000:]
    for node in NODES:
        # Every command that changes a service or a trust store, and only those, in the plan's order.
        assert service_commands_since(lab, node, start) == plan["commands"][node], node
    message = last_message(real)
    assert message.startswith("outcome: ")
    outcome = record(message[len("outcome: ") :])
    assert shape(outcome) == shape(plan)
    # A trust store's restart is an outage too, measured (the Call Bridge's restart), never the plan's estimate.
    restarts = [s for s in outcome["steps"] if s["phase"] == "trust" and "callbridge restart" in s["commands"]]
    assert {s["node"] for s in restarts} == set(NODES) and all(s["seconds"] > 0 for s in restarts), restarts
    assert len(outcome["outage"]["services"]) == 12 + len(
        [
            s
            for s in outcome["steps"]
            if s["phase"] == "trust" and any(c.split()[1:] in (["restart"], ["disable"]) for c in s["commands"])
        ]
    )
    # Measured in this run (the lab's 0.2 s transitions make about 0.4 s each; a loaded machine stretches that, so the
    # bound is the run itself), not the plan's estimate from the benchmark.
    assert all(0 < s["seconds"] < real_seconds for s in outcome["outage"]["services"]), outcome["outage"]
    assert [s["seconds"] for s in outcome["outage"]["services"]] != [s["seconds"] for s in plan["outage"]["services"]]
