"""Where the collection writes on the controller: one output root beside where ansible-playbook runs, nothing in the
inventory directory nor in the collection; and what an inventory directory holds stays inventory."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import BIN, REPO_ROOT, Run, ansible_env, parse_json_callback
from tests.integration.helpers.db_cluster import FAST
from tests.integration.test_connection import info_play

# What a run must leave as it found it: the collection's own content and the repository's inventories.
COLLECTION_DIRS = ("inventory", "playbooks", "roles", "plugins", "meta")


def snapshot(*roots: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[str(path)] = path.read_bytes()
    return files


def run_in(project: Path, lab: SimLab, playbook: str, inventory: Path) -> Run:
    """``ansible-playbook`` run from ``project`` as a user runs it: the playbook by its FQCN, a directory inventory."""
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), playbook, "-i", str(inventory)],
        cwd=project,
        env=ansible_env(
            lab.dir,
            ANSIBLE_STDOUT_CALLBACK="results_json",
            ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).parent / "callback_plugins"),
        ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results, stats = parse_json_callback(proc.stdout) if "{" in proc.stdout else ({}, {})
    return Run(proc.returncode, proc.stdout, proc.stderr, results, stats)


def inventory_list(inventory: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
        cwd=cwd,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_main_playbooks_write_under_the_output_root_and_nothing_into_the_inventory_or_the_collection(
    make_lab: Callable[..., SimLab], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    project = tmp_path / "project"
    inventory = project / "inventory" / "site"
    (inventory / "group_vars").mkdir(parents=True)
    shutil.copy(lab.dir / "inventory.yml", inventory / "hosts.yml")
    (inventory / "group_vars" / "cms.yml").write_text(
        yaml.safe_dump({"cms_csr_lab_ca": True, "cms_csr_suffix": "renewal", "ansible_facts_modules": []})
    )
    before = snapshot(inventory, *(REPO_ROOT / name for name in COLLECTION_DIRS))
    for name in ("generate_csrs", "cert_report", "db_cluster_certs"):
        run = run_in(project, lab, f"cisco_cms.mmp.{name}", inventory)
        assert run.rc == 0, (name, run.stdout[-3000:], run.stderr[-2000:])
    assert snapshot(inventory, *(REPO_ROOT / name for name in COLLECTION_DIRS)) == before

    out = project / "cms_output"
    assert sorted(p.name for p in out.iterdir()) == ["cert_report", "db_cluster_rebuild", "pki"]
    assert json.loads((out / "cert_report" / "cert_report.json").read_text())
    assert (out / "pki" / "cms1" / "cms1-renewal.csr").exists()
    assert json.loads((out / "db_cluster_rebuild" / "state.json").read_text())["finished"] is True
    # Keys and backups: private directories and files.
    for private in (out / "pki" / "lab-ca", out / "db_cluster_rebuild", out / "db_cluster_rebuild" / "backups"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700, private
    for key in (out / "pki" / "lab-ca").glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    # The next run reads the inventory directory as it was: hosts and variables, no report parsed as groups.
    listed = inventory_list(inventory, project)
    assert listed.returncode == 0, listed.stderr
    groups = set(json.loads(listed.stdout)) - {"_meta"}
    assert "cms" in groups and groups <= {"all", "ungrouped", "cms"}, groups


def test_the_example_inventory_lists_only_hosts_and_variables(tmp_path: Path) -> None:
    listed = inventory_list(REPO_ROOT / "inventory" / "example", tmp_path)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    groups = set(data) - {"_meta"}
    assert "cms" in groups and groups <= {"all", "ungrouped", "cms"}, groups
    assert sorted(data["cms"]["hosts"]) == ["cms-a.example.com", "cms-b.example.com", "cms-c.example.com"]
    # Ansible read every file of the directory as inventory, and none of them was something else.
    assert "Unable to parse" not in listed.stderr and "Skipping" not in listed.stderr, listed.stderr
    known_hosts = data["_meta"]["hostvars"]["cms-a.example.com"]["cms_known_hosts"]
    assert "inventory_dir }}/known_hosts" not in known_hosts


def test_a_play_that_forgets_gather_facts_false_gathers_nothing_and_runs(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    # inventory/lab (with the lab's inventory) sets ansible_facts_modules: [] for the cms group, as the example does.
    run = playbook(lab, info_play().replace("  gather_facts: false\n", ""))
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert run.task("cms1", "Gathering Facts").get("failed") is not True
    # Only the module's own connection reached the node: nothing was run through a shell.
    opened = [e for e in lab.events("cms1") if e["event"] == "connection_opened"]
    assert len(opened) == 1
