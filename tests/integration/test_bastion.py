"""Reaching CMS nodes the way production networks do: through a real OpenSSH bastion, by ssh_config, with an
ssh-agent, and within a timeout.

One sshd (tests/integration/helpers/bastion.py) serves every test of this module as the jump host; its log proves
which node each connection was forwarded to. The OpenSSH client config is the one in ``$HOME/.ssh/config`` of a
home directory the tests make, as a user's would be.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import REPO_ROOT, Run
from tests.integration.helpers.bastion import SSHD, Bastion
from tests.integration.helpers.db_cluster import FAST
from tests.integration.test_connection import auths, info_play, no_traceback, write_inventory

pytestmark = pytest.mark.skipif(not SSHD.exists(), reason="needs Debian's openssh-server (scripts/setup.sh)")


@pytest.fixture(scope="module")
def bastion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bastion]:
    server = Bastion(tmp_path_factory.mktemp("bastion")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, bastion: Bastion) -> Path:
    """A home directory whose ~/.ssh/config names the bastion twice (``bastion``, ``bastion2``: a two-hop chain)
    with its key, and whose ~/.ssh/known_hosts holds the bastion's host key."""
    home = tmp_path_factory.mktemp("home")
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "known_hosts").write_text(bastion.known_hosts_line)
    entries = []
    for alias in ("bastion", "bastion2"):
        entries += [
            f"Host {alias}",
            "  HostName 127.0.0.1",
            f"  Port {bastion.port}",
            f"  User {bastion.user}",
            f"  IdentityFile {bastion.client_key}",
            f"  UserKnownHostsFile {ssh / 'known_hosts'}",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
        ]
    (ssh / "config").write_text("\n".join(entries) + "\n")
    return home


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimLab]:
    """One small lab for the read-only calls of this module."""
    lab = SimLab.start(tmp_path_factory.mktemp("lab") / "lab", nodes=1)
    yield lab
    lab.stop()


def through(
    playbook: Callable[..., Run], lab: SimLab, home: Path, tmp_path: Path, play: str | None = None, **inv: Any
) -> Run:
    """Run ``play`` (pki_info on cms1) with the lab inventory changed by ``inv`` (write_inventory's arguments)."""
    inventory = write_inventory(lab, tmp_path / "hosts.yml", **inv)
    return playbook(lab, play or info_play(), inventories=(inventory,), env={"HOME": str(home)})


def test_proxyjump_in_ansible_ssh_common_args_reaches_the_node_through_the_bastion(
    shared_lab: SimLab, bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    since = bastion.mark()
    args = "-o ProxyJump=bastion -o StrictHostKeyChecking=no -C -o ControlMaster=auto -o ControlPersist=60s"
    run = through(playbook, shared_lab, home, tmp_path, groupvars={"ansible_ssh_common_args": args})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert bastion.forwarded_to(since) == [shared_lab.port("cms1")]
    # One SSH connection to the node per module call, carried by one login on the bastion.
    assert bastion.logins(since) == 1
    assert [a["method"] for a in auths(shared_lab, "cms1")][-1:] == ["publickey"]
    # What is not honoured is said by name; what only tunes OpenSSH's own connection reuse is not.
    warnings = run.task("cms1", "info").get("warnings", [])
    assert any("StrictHostKeyChecking" in w and "ignored" in w for w in warnings), warnings
    assert not any("ControlMaster" in w or "ControlPersist" in w or "-C" in w for w in warnings), warnings


def test_ssh_arguments_from_the_environment_are_honoured_like_the_ssh_connection_does(
    shared_lab: SimLab, bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    # ANSIBLE_SSH_ARGS is what [ssh_connection] ssh_args sets; Ansible's default for it (ControlPersist...) is not.
    inventory = write_inventory(shared_lab, tmp_path / "hosts.yml")
    since = bastion.mark()
    run = playbook(
        shared_lab, info_play(), inventories=(inventory,), env={"HOME": str(home), "ANSIBLE_SSH_ARGS": "-J bastion"}
    )
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert bastion.forwarded_to(since) == [shared_lab.port("cms1")]


def test_proxycommand_with_ssh_w_reaches_the_node_through_the_bastion(
    shared_lab: SimLab, bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    since = bastion.mark()
    command = f"ssh -F {home / '.ssh' / 'config'} -W %h:%p bastion"
    args = f'-o ProxyCommand="{command}"'
    run = through(playbook, shared_lab, home, tmp_path, hostvars={"ansible_ssh_extra_args": args})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert bastion.forwarded_to(since) == [shared_lab.port("cms1")]


def test_a_two_hop_chain_of_jump_hosts_goes_through_each_in_order(
    shared_lab: SimLab, bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    since = bastion.mark()
    run = through(playbook, shared_lab, home, tmp_path, hostvars={"cms_proxy_jump": "bastion,bastion2"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    # The first hop forwarded to the second (the bastion itself, by its other name), the second to the node.
    assert bastion.forwarded_to(since) == [bastion.port, shared_lab.port("cms1")]
    assert bastion.logins(since) == 2


def test_an_ssh_config_alone_says_where_the_node_is_and_how_to_reach_it(
    shared_lab: SimLab, bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    # The inventory names only the host; ~/.ssh/config has its address, port, user, key, known_hosts and jump host.
    own_home = tmp_path / "home"
    (own_home / ".ssh").mkdir(parents=True)
    config = (home / ".ssh" / "config").read_text() + "\n".join(
        [
            "Host cms1",
            "  HostName 127.0.0.1",
            f"  Port {shared_lab.port('cms1')}",
            "  User admin",
            f"  IdentityFile {shared_lab.dir / 'id_ed25519'}",
            f"  UserKnownHostsFile {shared_lab.dir / 'known_hosts'}",
            "  ProxyJump bastion",
            "",
        ]
    )
    (own_home / ".ssh" / "config").write_text(config)
    inventory = write_inventory(
        shared_lab,
        tmp_path / "hosts.yml",
        drop=("ansible_host", "ansible_port", "ansible_user", "ansible_password", "ansible_ssh_private_key_file"),
        drop_groupvars=("cms_known_hosts",),
    )
    since = bastion.mark()
    run = playbook(shared_lab, info_play(), inventories=(inventory,), env={"HOME": str(own_home)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert bastion.forwarded_to(since) == [shared_lab.port("cms1")]
    assert [a["method"] for a in auths(shared_lab, "cms1")][-1:] == ["publickey"]


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A running ssh-agent: its environment (SSH_AUTH_SOCK); it is killed at teardown."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.run(["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True)
    pid = int(proc.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    yield {"SSH_AUTH_SOCK": str(sock)}
    os.kill(pid, signal.SIGTERM)


def test_keys_held_only_by_an_ssh_agent_log_in_to_the_bastion_and_the_node(
    shared_lab: SimLab,
    bastion: Bastion,
    home: Path,
    agent: dict[str, str],
    playbook: Callable[..., Run],
    tmp_path: Path,
) -> None:
    # What an AWX Machine credential with an SSH key does: the key is in an agent, no key file, no password.
    for key in (shared_lab.dir / "id_ed25519", bastion.client_key):
        subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, **agent}, check=True, capture_output=True)
    # No OpenSSH config: the jump host is verified against the node's known_hosts file (cms_known_hosts).
    own_home = tmp_path / "home"
    own_home.mkdir()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text((shared_lab.dir / "known_hosts").read_text() + bastion.known_hosts_line)
    inventory = write_inventory(
        shared_lab,
        tmp_path / "hosts.yml",
        drop=("ansible_password", "ansible_ssh_private_key_file"),
        groupvars={"cms_proxy_jump": f"{bastion.user}@127.0.0.1:{bastion.port}", "cms_known_hosts": str(known_hosts)},
    )
    since = bastion.mark()
    run = playbook(shared_lab, info_play(), inventories=(inventory,), env={"HOME": str(own_home), **agent})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert bastion.forwarded_to(since) == [shared_lab.port("cms1")]
    assert [a["method"] for a in auths(shared_lab, "cms1")][-1:] == ["publickey"]


def test_an_encrypted_key_file_with_its_passphrase_logs_in_through_the_bastion(
    shared_lab: SimLab, bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    key = tmp_path / "id_encrypted"
    key.write_bytes((shared_lab.dir / "id_ed25519").read_bytes())
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "open sesame", "-f", str(key)], check=True)
    run = through(
        playbook,
        shared_lab,
        home,
        tmp_path,
        drop=("ansible_password",),
        hostvars={
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_private_key_passphrase": "open sesame",
            "ansible_ssh_common_args": "-J bastion",
        },
    )
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert [a["method"] for a in auths(shared_lab, "cms1")][-1:] == ["publickey"]
    assert "open sesame" not in run.stdout + run.stderr


def test_a_jump_host_with_an_unknown_host_key_is_refused_like_a_node(
    shared_lab: SimLab, bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    # The jump host's known_hosts has no entry for it; the password of the node must not be tried on it either.
    own_home = tmp_path / "home"
    (own_home / ".ssh").mkdir(parents=True)
    (own_home / ".ssh" / "known_hosts").write_text("")
    (own_home / ".ssh" / "config").write_text(
        (home / ".ssh" / "config").read_text().replace(str(home / ".ssh" / "known_hosts"), "~/.ssh/known_hosts")
    )
    inventory = write_inventory(shared_lab, tmp_path / "hosts.yml", hostvars={"cms_proxy_jump": "bastion"})
    since = bastion.mark()
    run = playbook(shared_lab, info_play(), inventories=(inventory,), env={"HOME": str(own_home)})
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert f"the host key of the jump host [127.0.0.1]:{bastion.port}" in msg and "is not in" in msg, msg
    assert bastion.logins(since) == 0 and bastion.forwarded_to(since) == []
    no_traceback(run.stdout + run.stderr)


def test_a_node_that_accepts_tcp_but_never_answers_is_unreachable_within_the_timeout(
    shared_lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        started = time.monotonic()
        run = through(
            playbook,
            shared_lab,
            tmp_path,
            tmp_path,
            hostvars={"ansible_port": silent.getsockname()[1], "ansible_ssh_timeout": 2},
        )
        elapsed = time.monotonic() - started
    result = run.task("cms1", "info")
    assert result.get("unreachable") is True and result.get("failed") is not True, result
    assert run.stats["cms1"]["unreachable"] == 1 and run.stats["cms1"]["failures"] == 0
    assert "timed out after 2 s waiting for the SSH banner of cms1" in result["msg"], result["msg"]
    # It gave up after the configured 2 s, not after the 30 s default.
    assert elapsed < 25
    no_traceback(run.stdout + run.stderr)


# ---- the main procedures through the bastion ------------------------------------------------------------------
def demo_inventories(lab: SimLab, tmp_path: Path) -> tuple[str, ...]:
    """The demo's inventories (inventory/lab), with every node behind the bastion (a group variable)."""
    inventory = write_inventory(lab, tmp_path / "hosts.yml", groupvars={"ansible_ssh_common_args": "-J bastion"})
    return (inventory, str(REPO_ROOT / "inventory" / "lab"))


def test_the_service_certificate_rollout_runs_through_the_bastion(
    make_lab: Callable[..., SimLab], bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    lab = make_lab(nodes=2)
    inventories = demo_inventories(lab, tmp_path)
    since = bastion.mark()
    for name in ("generate_csrs", "service_certs"):
        run = playbook(lab, REPO_ROOT / "playbooks" / f"{name}.yml", inventories=inventories, env={"HOME": str(home)})
        assert run.rc == 0, run.stdout[-3000:] + run.stderr
    forwarded = set(bastion.forwarded_to(since))
    assert forwarded == {lab.port("cms1"), lab.port("cms2")}
    for node in ("cms1", "cms2"):
        assert f"{node}-renewal.cer" in lab.run(node, "webadmin")


def test_the_database_cluster_rebuild_runs_through_the_bastion(
    make_lab: Callable[..., SimLab], bastion: Bastion, home: Path, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    since = bastion.mark()
    run = playbook(
        lab,
        REPO_ROOT / "playbooks" / "db_cluster_certs.yml",
        inventories=demo_inventories(lab, tmp_path)[:1],
        env={"HOME": str(home)},
    )
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert set(bastion.forwarded_to(since)) == {lab.port(n) for n in ("cms1", "cms2", "cms3")}
    assert "database cluster join 192.0.2.11" in [e["command"] for e in lab.events("cms2") if e["event"] == "command"]
