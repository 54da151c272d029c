"""The simulator's command line: up / down / status / ctl, the files `up` writes, resume, lab files, scale."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest
import yaml

from tests.cmssim.cli import CliError, cluster_groups
from tests.cmssim.testing import SimLab, cli


def test_up_writes_inventory_known_hosts_and_client_key(lab: SimLab) -> None:
    inv = yaml.safe_load((lab.dir / "inventory.yml").read_text())
    hosts = inv["all"]["children"]["cms"]["hosts"]
    assert sorted(hosts) == ["cms1", "cms2", "cms3"]
    for name, host in hosts.items():
        assert host["ansible_host"] == "127.0.0.1"
        assert {"ansible_port", "ansible_user", "ansible_password", "ansible_ssh_private_key_file"} <= set(host)
        assert host["cms_fqdn"] == f"{name}.lab.cms.example"
    known = (lab.dir / "known_hosts").read_text().splitlines()
    assert len(known) == 3 and all(line.startswith("[127.0.0.1]:") and " ssh-ed25519 " in line for line in known)
    # The key parses as OpenSSH and is private to its owner.
    paramiko.Ed25519Key.from_private_key_file(str(lab.dir / "id_ed25519"))
    assert stat.S_IMODE((lab.dir / "id_ed25519").stat().st_mode) == 0o600
    assert stat.S_IMODE((lab.dir / "inventory.yml").stat().st_mode) == 0o600
    assert "children" not in inv["all"]["children"]["cms"]  # no cluster groups unless the lab file asks


def test_status_json_lists_ports_and_state_per_node(lab: SimLab) -> None:
    status = lab.status()
    assert status["running"] is True
    assert set(status["nodes"]) == {"cms1", "cms2", "cms3"}
    ports = {n["ssh_port"] for n in status["nodes"].values()}
    assert len(ports) == 3
    for node in status["nodes"].values():
        assert node["up"] is True and node["version"].startswith("3.")
        for service in node["services"].values():
            assert isinstance(service["tls_port"], int)


def test_status_human_output_names_every_node(lab: SimLab) -> None:
    out = cli("status", "--lab-dir", str(lab.dir)).stdout
    assert "running" in out
    for name in ("cms1", "cms2", "cms3"):
        assert f"  {name} " in out


def test_down_then_status_reports_stopped_and_up_resumes_same_ports(lab: SimLab) -> None:
    before = lab.status()
    lab.stop()
    stopped = json.loads(cli("status", "--lab-dir", str(lab.dir), "--json").stdout)
    assert stopped["running"] is False
    assert cli("down", "--lab-dir", str(lab.dir)).stdout.strip().endswith("not running")
    cli("up", "--lab-dir", str(lab.dir))
    after = lab.status()
    assert {n: v["ssh_port"] for n, v in after["nodes"].items()} == {
        n: v["ssh_port"] for n, v in before["nodes"].items()
    }
    lab.client("cms1").close()


def test_up_twice_does_not_start_a_second_simulator(lab: SimLab) -> None:
    pid = lab.status()["pid"]
    cli("up", "--lab-dir", str(lab.dir))
    assert lab.status()["pid"] == pid


def test_lab_file_sets_nodes_versions_and_database_roles(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(
        lab_file={
            "nodes": [
                {"name": "core1", "version": "3.9"},
                {"name": "edge1", "version": "2.9", "database": False},
            ],
            "clock_offset_days": 5,
        }
    )
    status = lab.status()
    assert status["nodes"]["core1"]["version"] == "3.9"
    assert status["nodes"]["edge1"]["version"] == "2.9"
    assert status["nodes"]["edge1"]["database"] is False
    assert status["clock_offset_days"] == 5
    assert lab.run("edge1", "webbridge3").startswith("ERROR: Unknown command")


def test_cms_version_flag_makes_2x_nodes(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(nodes=2, cms_version="2")
    assert all(n["version"].startswith("2.") for n in lab.status()["nodes"].values())


def test_bad_lab_file_is_reported_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("- just\n- a list\n")
    proc = cli("up", "--lab-dir", str(tmp_path / "lab"), "--lab-file", str(bad), check=False)
    assert proc.returncode == 1
    assert "must hold a mapping" in proc.stderr


def test_ctl_rejects_unknown_nodes_and_timings(lab: SimLab) -> None:
    proc = cli("ctl", "--lab-dir", str(lab.dir), "--fault", "cms9:down=true", check=False)
    assert proc.returncode == 1 and "no node 'cms9'" in proc.stderr
    proc = cli("ctl", "--lab-dir", str(lab.dir), "--timing", "warp=1", check=False)
    assert proc.returncode == 1 and "KEY=SECONDS" in proc.stderr


def test_ctl_command_line_takes_a_node_down_and_up(lab: SimLab) -> None:
    cli("ctl", "--lab-dir", str(lab.dir), "--down", "cms2")
    assert lab.status()["nodes"]["cms2"]["up"] is False
    cli("ctl", "--lab-dir", str(lab.dir), "--up", "cms2")
    assert lab.status()["nodes"]["cms2"]["up"] is True


def test_ctl_clock_offset_persists_across_restart(lab: SimLab) -> None:
    lab.ctl(clock_offset_days=400)
    lab.restart()
    assert lab.status()["clock_offset_days"] == 400


@pytest.mark.timeout(300)
def test_thirty_node_lab_starts_and_every_node_answers(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(nodes=30)
    status = lab.status()
    assert len(status["nodes"]) == 30
    for name in ("cms1", "cms15", "cms30"):
        assert lab.run(name, "frobnicate").startswith("ERROR")


def test_lab_clusters_interleave_as_the_benchmark_fleet_or_follow_the_lab_file() -> None:
    names = [f"cms{i}" for i in range(1, 7)]
    assert cluster_groups(None, names) == []
    assert cluster_groups(2, names) == [
        {"name": "cluster1", "nodes": ["cms1", "cms3", "cms5"]},
        {"name": "cluster2", "nodes": ["cms2", "cms4", "cms6"]},
    ]
    given = [{"name": "a", "nodes": ["cms1", "cms2", "cms3"]}]
    assert cluster_groups(given, names) == given
    for bad, problem in (
        (7, "between 1 and the number of nodes"),
        ([{"name": "a", "nodes": ["cms9"]}], "'cms9' is not a node of the lab"),
        ([{"name": "a", "nodes": ["cms1"]}, {"name": "b", "nodes": ["cms1"]}], "is in two clusters"),
        ([{"name": "a-b", "nodes": ["cms1"]}], "needs a name"),
        ("two", "must be a number or a list"),
    ):
        with pytest.raises(CliError, match=problem):
            cluster_groups(bad, names)


def test_a_lab_with_clusters_writes_one_group_per_cluster_naming_its_lock_node(
    make_lab: Callable[..., SimLab],
) -> None:
    lab = make_lab(lab_file={"nodes": 4, "clusters": 2})
    inv = yaml.safe_load((lab.dir / "inventory.yml").read_text())
    cms = inv["all"]["children"]["cms"]
    assert sorted(cms["hosts"]) == ["cms1", "cms2", "cms3", "cms4"]  # the hosts and their variables as before
    assert cms["children"] == {
        "cluster1": {
            "hosts": {"cms1": None, "cms3": None},
            "vars": {
                "cms_cluster": "cluster1",
                "cms_cluster_lock_host": "127.0.0.1",
                "cms_cluster_lock_port": lab.port("cms1"),
            },
        },
        "cluster2": {
            "hosts": {"cms2": None, "cms4": None},
            "vars": {
                "cms_cluster": "cluster2",
                "cms_cluster_lock_host": "127.0.0.1",
                "cms_cluster_lock_port": lab.port("cms2"),
            },
        },
    }
