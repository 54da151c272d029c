"""How every module of the collection reaches a CMS node: inventory, host keys, credentials, failures, defaults.

Each test runs ansible-playbook or ad-hoc ansible against a simulated lab, as a user would, and checks both what
Ansible reports and what reached the node (its event log).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import BIN, REPO_ROOT, Run, ansible_env

INFO_PLAY = """
- hosts: {hosts}
  gather_facts: false
  tasks:
    - name: info
      cisco_cms.mmp.cms_pki_info:
        usage: false
        files: ["{{{{ inventory_hostname }}}}-2025.cer"]
"""


def info_play(hosts: str = "cms1") -> str:
    return INFO_PLAY.format(hosts=hosts)


def commands(lab: SimLab, node: str) -> list[str]:
    """Every MMP command line that reached ``node`` (interactive or exec)."""
    return [e["command"] for e in lab.events(node) if e["event"] == "command"]


def auths(lab: SimLab, node: str) -> list[dict[str, Any]]:
    return [e for e in lab.events(node) if e["event"] == "auth"]


def write_inventory(
    lab: SimLab,
    path: Path,
    hostvars: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    groupvars: dict[str, Any] | None = None,
    drop_groupvars: tuple[str, ...] = (),
) -> str:
    """A copy of the lab inventory with host variables changed (``hostvars`` for every host) or left out."""
    inventory = yaml.safe_load((lab.dir / "inventory.yml").read_text())
    group = inventory["all"]["children"]["cms"]
    for host in group["hosts"].values():
        for name in drop:
            host.pop(name, None)
        host.update(hostvars or {})
    for name in drop_groupvars:
        group["vars"].pop(name, None)
    group["vars"].update(groupvars or {})
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def known_hosts_line(lab: SimLab, node: str) -> str:
    wanted = "[127.0.0.1]:%d " % lab.port(node)
    return next(line for line in (lab.dir / "known_hosts").read_text().splitlines() if line.startswith(wanted))


def sha256_fingerprint(line: str) -> str:
    blob = base64.b64decode(line.split()[2])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text[-3000:]
    assert "paramiko" not in text.lower() or "paramiko library" in text.lower(), text[-3000:]


# ------------------------------------------------------------------------------------------------------------
# Inventory: a plain inventory works; ad-hoc works
# ------------------------------------------------------------------------------------------------------------
def test_adhoc_pki_info_takes_every_connection_detail_from_inventory(
    lab: SimLab, adhoc: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    proc = adhoc(lab, "cms1", "cisco_cms.mmp.cms_pki_info")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cms1 | SUCCESS" in proc.stdout
    assert "cms1-2025.cer" in proc.stdout and "webadmin key" in proc.stdout
    # One SSH connection per module call, and the node saw only read-only commands.
    opened = [e for e in lab.events("cms1") if e["event"] == "connection_opened"]
    assert len(opened) == 1
    assert "pki list" in commands(lab, "cms1")
    assert not any(c.startswith(("pki csr", "pki sign", "pki selfsigned")) for c in commands(lab, "cms1"))


def test_password_only_inventory_works(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    inventory = write_inventory(lab, tmp_path / "hosts.yml", drop=("ansible_ssh_private_key_file",))
    run = playbook(lab, info_play(), inventories=(inventory,))
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert [a["method"] for a in auths(lab, "cms1")] == ["password"]


def test_key_only_inventory_works(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    inventory = write_inventory(lab, tmp_path / "hosts.yml", drop=("ansible_password",))
    run = playbook(lab, info_play(), inventories=(inventory,))
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert [a["method"] for a in auths(lab, "cms1")] == ["publickey"]


def test_missing_credentials_say_what_to_add(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    inventory = write_inventory(lab, tmp_path / "hosts.yml", drop=("ansible_password", "ansible_ssh_private_key_file"))
    run = playbook(lab, info_play(), inventories=(inventory,))
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "ansible_password" in msg and "ansible_ssh_private_key_file" in msg
    no_traceback(run.stdout + run.stderr)
    assert not auths(lab, "cms1")


# ------------------------------------------------------------------------------------------------------------
# Host keys: verified by default, trust on first use only when asked
# ------------------------------------------------------------------------------------------------------------
def test_host_key_mismatch_is_refused(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    # known_hosts holds another node's key for cms1's [127.0.0.1]:port: what a man in the middle looks like.
    other = known_hosts_line(lab, "cms2").split()
    forged = tmp_path / "known_hosts"
    forged.write_text("[127.0.0.1]:%d %s %s\n" % (lab.port("cms1"), other[1], other[2]))
    run = playbook(lab, info_play(), extra_vars={"cms_known_hosts": str(forged)})
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "HOST KEY MISMATCH" in msg
    assert sha256_fingerprint(known_hosts_line(lab, "cms2")) in msg  # what known_hosts expects
    assert sha256_fingerprint(known_hosts_line(lab, "cms1")) in msg  # what the node offered
    assert str(forged) in msg
    no_traceback(run.stdout + run.stderr)
    # The password was never sent to the impostor, and the file was not "fixed" behind the user's back.
    assert not auths(lab, "cms1")
    assert not commands(lab, "cms1")
    assert forged.read_text() == "[127.0.0.1]:%d %s %s\n" % (lab.port("cms1"), other[1], other[2])


def test_host_key_mismatch_is_refused_even_with_accept_new(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    other = known_hosts_line(lab, "cms2").split()
    forged = tmp_path / "known_hosts"
    forged.write_text("[127.0.0.1]:%d %s %s\n" % (lab.port("cms1"), other[1], other[2]))
    run = playbook(lab, info_play(), extra_vars={"cms_known_hosts": str(forged), "cms_host_key_checking": "accept_new"})
    assert run.rc != 0
    assert "HOST KEY MISMATCH" in run.task("cms1", "info")["msg"]
    assert not auths(lab, "cms1")
    assert len(forged.read_text().splitlines()) == 1


def test_unknown_host_key_is_refused_by_default(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    run = playbook(lab, info_play(), extra_vars={"cms_known_hosts": str(empty)})
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "is not in %s" % empty in msg
    assert sha256_fingerprint(known_hosts_line(lab, "cms1")) in msg  # so the user can compare it with the node's
    assert "accept_new" in msg and "cms_known_hosts" in msg
    no_traceback(run.stdout + run.stderr)
    assert not auths(lab, "cms1")
    assert empty.read_text() == ""


def test_a_known_hosts_entry_of_another_key_type_is_named_so_not_as_interception(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    # known_hosts has only an RSA key for the node, which offers its ed25519 key: no evidence of a man in the middle
    # (OpenSSH treats the key as unknown), but the node cannot be verified either. A changed key of the SAME type is
    # still the HOST KEY MISMATCH refusal (test_host_key_mismatch_is_refused).
    rsa = paramiko.RSAKey.generate(2048)
    other_type = tmp_path / "known_hosts"
    other_type.write_text("[127.0.0.1]:%d ssh-rsa %s\n" % (lab.port("cms1"), rsa.get_base64()))
    run = playbook(lab, info_play(), extra_vars={"cms_known_hosts": str(other_type)})
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "HOST KEY MISMATCH" not in msg and "intercept" not in msg, msg
    assert "%s has no ssh-ed25519 key for [127.0.0.1]:%d, only a ssh-rsa key" % (other_type, lab.port("cms1")) in msg
    assert sha256_fingerprint(known_hosts_line(lab, "cms1")) in msg  # what the node offered, to check on its console
    assert "ssh-keyscan -t ed25519 -p %d 127.0.0.1 >> %s" % (lab.port("cms1"), other_type) in msg
    no_traceback(run.stdout + run.stderr)
    assert not auths(lab, "cms1") and not commands(lab, "cms1")
    assert len(other_type.read_text().splitlines()) == 1


def test_plain_inventory_without_known_hosts_says_which_variable_to_add(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    # A plain inventory (ansible_host/user/password only) and an empty HOME: the default ~/.ssh/known_hosts is missing.
    home = tmp_path / "home"
    home.mkdir()
    inventory = write_inventory(
        lab, tmp_path / "hosts.yml", drop=("ansible_ssh_private_key_file",), drop_groupvars=("cms_known_hosts",)
    )
    run = playbook(lab, info_play(), inventories=(inventory,), env={"HOME": str(home)})
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "cms_known_hosts" in msg and "cms_host_key_checking: accept_new" in msg
    assert not (home / ".ssh").exists()


def test_accept_new_trusts_an_unknown_key_and_records_it(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    path = tmp_path / "new" / "known_hosts"  # not there yet: created with the first key
    run = playbook(
        lab, info_play("cms"), extra_vars={"cms_known_hosts": str(path), "cms_host_key_checking": "accept_new"}
    )
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    recorded = sorted(path.read_text().splitlines())
    assert recorded == sorted(known_hosts_line(lab, n) for n in ("cms1", "cms2", "cms3"))
    # Trust on first use is never silent: each host says which key it trusted and where it wrote it.
    for node in ("cms1", "cms2", "cms3"):
        warnings = " ".join(run.task(node, "info").get("warnings", []))
        assert sha256_fingerprint(known_hosts_line(lab, node)) in warnings and str(path) in warnings
    # From now on strict checking finds the key there.
    strict = playbook(lab, info_play(), extra_vars={"cms_known_hosts": str(path)})
    assert strict.rc == 0, strict.stdout[-3000:]
    assert not strict.task("cms1", "info").get("warnings")
    assert sorted(path.read_text().splitlines()) == recorded


def test_cms_service_certs_with_accept_new_says_which_unknown_key_it_trusted(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    path = tmp_path / "known_hosts"
    files = "key: cms1-2025.key\n        cert: cms1-2025.cer\n        bundle: ca-bundle-2025.cer"
    play = (
        "- hosts: cms1\n  gather_facts: false\n  tasks:\n    - name: certs\n      cisco_cms.mmp.cms_service_certs:\n"
        "        service: webadmin\n        state: validated\n        tls_check: false\n        %s\n" % files
    )
    run = playbook(lab, play, extra_vars={"cms_known_hosts": str(path), "cms_host_key_checking": "accept_new"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    warnings = " ".join(run.task("cms1", "certs").get("warnings", []))
    assert "trusted the unknown host key" in warnings
    assert sha256_fingerprint(known_hosts_line(lab, "cms1")) in warnings and str(path) in warnings
    assert path.read_text().splitlines() == [known_hosts_line(lab, "cms1")]


def test_pinned_host_key_fingerprint(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"  # a pin needs no known_hosts entry
    empty.write_text("")
    right = sha256_fingerprint(known_hosts_line(lab, "cms1"))
    good = playbook(lab, info_play(), extra_vars={"cms_known_hosts": str(empty), "cms_host_key": right})
    assert good.rc == 0, good.stdout[-3000:]
    wrong = sha256_fingerprint(known_hosts_line(lab, "cms2"))
    bad = playbook(lab, info_play(), extra_vars={"cms_known_hosts": str(empty), "cms_host_key": wrong})
    assert bad.rc != 0
    msg = bad.task("cms1", "info")["msg"]
    assert right in msg and wrong in msg and "not the host_key given" in msg
    no_traceback(bad.stdout + bad.stderr)
    assert len(auths(lab, "cms1")) == 1  # only the good run logged in
    assert empty.read_text() == ""


def test_pinned_host_key_as_a_public_key_line(lab: SimLab, playbook: Callable[..., Run]) -> None:
    _host, key_type, blob = known_hosts_line(lab, "cms1").split()
    good = playbook(lab, info_play(), extra_vars={"cms_host_key": "%s %s" % (key_type, blob)})
    assert good.rc == 0, good.stdout[-3000:]
    _h, other_type, other_blob = known_hosts_line(lab, "cms3").split()
    bad = playbook(lab, info_play(), extra_vars={"cms_host_key": "%s %s" % (other_type, other_blob)})
    assert bad.rc != 0 and "not the host_key given" in bad.task("cms1", "info")["msg"]


# ------------------------------------------------------------------------------------------------------------
# Credentials and secrets
# ------------------------------------------------------------------------------------------------------------
def test_wrong_password_is_reported_clearly_and_never_shown(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    wrong = "Wr0ng-Secret-4711"
    inventory = write_inventory(
        lab, tmp_path / "hosts.yml", hostvars={"ansible_password": wrong}, drop=("ansible_ssh_private_key_file",)
    )
    run = playbook(lab, info_play(), inventories=(inventory,), verbosity=4, json_output=False)
    out = run.stdout + run.stderr
    assert run.rc != 0
    assert "authentication failed for admin@cms1" in out
    assert "ansible_password" in out  # names what to fix
    assert wrong not in out
    assert lab.password not in out
    no_traceback(out)
    assert [a["result"] for a in auths(lab, "cms1")] == ["failure"]


def test_an_encrypted_key_with_a_wrong_or_no_passphrase_is_named_so_before_connecting(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    key = tmp_path / "id_encrypted"
    key.write_bytes((lab.dir / "id_ed25519").read_bytes())
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "open sesame", "-f", str(key)], check=True)
    for passphrase, wanted in (
        ("open sesamE", "could not be decrypted with the passphrase given (ansible_ssh_private_key_passphrase"),
        (None, "is encrypted and no passphrase was given: set ansible_ssh_private_key_passphrase"),
    ):
        hostvars = {"ansible_ssh_private_key_file": str(key)}
        if passphrase:
            hostvars["ansible_ssh_private_key_passphrase"] = passphrase
        inventory = write_inventory(lab, tmp_path / "hosts.yml", hostvars=hostvars, drop=("ansible_password",))
        run = playbook(lab, info_play(), inventories=(inventory,))
        assert run.rc != 0
        result = run.task("cms1", "info")
        msg = result["msg"]
        assert "the key file %s %s" % (key, wanted) in msg, msg
        # Not a network fault: the node is up, the host counts as failed, not unreachable.
        assert "Check that the node is up" not in msg and not result.get("unreachable")
        assert "open sesam" not in run.stdout + run.stderr
        no_traceback(run.stdout + run.stderr)
    # Told before any traffic: the node never saw a connection.
    assert not [e for e in lab.events("cms1") if e["event"] == "connection_opened"]
    # The right passphrase logs in with that key.
    inventory = write_inventory(
        lab,
        tmp_path / "hosts.yml",
        hostvars={"ansible_ssh_private_key_file": str(key), "ansible_ssh_private_key_passphrase": "open sesame"},
        drop=("ansible_password",),
    )
    run = playbook(lab, info_play(), inventories=(inventory,))
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert [a["method"] for a in auths(lab, "cms1")] == ["publickey"]


def test_password_never_appears_in_verbose_output_of_a_good_run(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    inventory = write_inventory(lab, tmp_path / "hosts.yml", drop=("ansible_ssh_private_key_file",))
    play = """
    - hosts: cms1
      gather_facts: false
      tasks:
        - name: info with an explicit password option
          cisco_cms.mmp.cms_pki_info:
            password: "{{ ansible_password }}"
            match: [{key: cms1-2025.key, cert: cms1-2025.cer}]
    """
    run = playbook(lab, play, inventories=(inventory,), verbosity=4, json_output=False)
    assert run.rc == 0, run.stdout[-3000:]
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.stdout  # the invocation was shown, masked
    assert lab.password not in run.stdout + run.stderr


# ------------------------------------------------------------------------------------------------------------
# Failures of the node or the network
# ------------------------------------------------------------------------------------------------------------
def test_unreachable_node_is_reported_clearly(lab: SimLab, playbook: Callable[..., Run]) -> None:
    lab.ctl(faults={"cms2": {"down": True}})
    run = playbook(lab, info_play("cms"))
    assert run.rc != 0
    assert run.task("cms1", "info").get("failed") is not True
    assert run.task("cms3", "info").get("failed") is not True
    msg = run.task("cms2", "info")["msg"]
    assert "cannot connect to cms2" in msg and "Check that the node is up" in msg
    assert "ansible_host/ansible_port" in msg
    no_traceback(run.stdout + run.stderr)


def test_unreachable_address_times_out_with_a_clear_message(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    # A port nobody listens on, the nearest thing to a node that is off.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    run = playbook(lab, info_play(), extra_vars={"ansible_port": free})
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "cannot connect to cms1" in msg and "ansible_host/ansible_port" in msg
    no_traceback(run.stdout + run.stderr)


def test_connection_dropped_after_a_command_is_reported_clearly(lab: SimLab, playbook: Callable[..., Run]) -> None:
    lab.ctl(faults={"cms1": {"drop_after_command": "pki csr"}})
    play = """
    - hosts: cms1
      gather_facts: false
      tasks:
        - name: csr
          cisco_cms.mmp.cms_pki_csr:
            name: webadmin-next
            cn: "{{ cms_fqdn }}"
    """
    run = playbook(lab, play)
    assert run.rc != 0
    msg = run.task("cms1", "csr")["msg"]
    assert "connection to cms1 dropped while running pki csr webadmin-next" in msg
    assert "check its state before retrying" in msg
    no_traceback(run.stdout + run.stderr)
    # The node ran it before the drop; a retry finds the files and changes nothing.
    assert (lab.files_dir("cms1") / "webadmin-next.csr").exists()
    again = playbook(lab, play)
    assert again.rc == 0, again.stdout[-3000:]
    assert again.task("cms1", "csr")["changed"] is False


def test_connection_dropped_before_a_command_is_reported_clearly(lab: SimLab, playbook: Callable[..., Run]) -> None:
    lab.ctl(faults={"cms1": {"drop_before_command": "pki csr"}})
    play = """
    - hosts: cms1
      gather_facts: false
      tasks:
        - name: csr
          cisco_cms.mmp.cms_pki_csr:
            name: webadmin-next
            cn: "{{ cms_fqdn }}"
    """
    run = playbook(lab, play)
    assert run.rc != 0
    msg = run.task("cms1", "csr")["msg"]
    assert "connection to cms1 dropped while running pki csr webadmin-next" in msg
    no_traceback(run.stdout + run.stderr)
    assert not (lab.files_dir("cms1") / "webadmin-next.csr").exists()
    again = playbook(lab, play)
    assert again.rc == 0 and again.task("cms1", "csr")["changed"] is True


def test_command_timeout_shows_the_last_output(lab: SimLab, playbook: Callable[..., Run]) -> None:
    lab.ctl(timings={"command": 3.0})
    play = """
    - hosts: cms1
      gather_facts: false
      module_defaults:
        group/cisco_cms.mmp.cms:
          command_timeout: 1
      tasks:
        - name: info
          cisco_cms.mmp.cms_pki_info:
            usage: false
    """
    run = playbook(lab, play)
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "timed out after 1s waiting for pki list to finish on cms1" in msg
    assert "last output" in msg
    no_traceback(run.stdout + run.stderr)


# ------------------------------------------------------------------------------------------------------------
# Precedence: task options > module_defaults for group/cisco_cms.mmp.cms > inventory > defaults
# ------------------------------------------------------------------------------------------------------------
def test_module_defaults_for_the_group_override_inventory(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    inventory = write_inventory(lab, tmp_path / "hosts.yml", hostvars={"ansible_port": 1})
    play = """
    - hosts: cms1
      gather_facts: false
      module_defaults:
        group/cisco_cms.mmp.cms:
          port: %d
      tasks:
        - name: info
          cisco_cms.mmp.cms_pki_info:
            usage: false
        - name: csr
          cisco_cms.mmp.cms_pki_csr:
            name: defaults-test
            cn: "{{ cms_fqdn }}"
        - name: selfsigned
          cisco_cms.mmp.cms_pki_sign:
            name: defaults-ca
    """ % lab.port("cms1")
    run = playbook(lab, play, inventories=(inventory,))
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    for task in ("info", "csr", "selfsigned"):
        assert run.task("cms1", task)["invocation"]["module_args"]["port"] == lab.port("cms1")
    # The inventory is what is wrong: without module_defaults the same task fails on port 1.
    broken = playbook(lab, info_play(), inventories=(inventory,))
    assert broken.rc != 0 and "cannot connect to cms1" in broken.task("cms1", "info")["msg"]


def test_task_options_override_module_defaults_and_inventory(
    lab: SimLab, playbook: Callable[..., Run], tmp_path: Path
) -> None:
    inventory = write_inventory(lab, tmp_path / "hosts.yml", hostvars={"ansible_port": 1, "ansible_user": "nobody"})
    play = """
    - hosts: cms1
      gather_facts: false
      module_defaults:
        group/cisco_cms.mmp.cms:
          port: 2
      tasks:
        - name: info
          cisco_cms.mmp.cms_pki_info:
            port: %d
            username: admin
            usage: false
    """ % lab.port("cms1")
    run = playbook(lab, play, inventories=(inventory,))
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    args = run.task("cms1", "info")["invocation"]["module_args"]
    assert args["port"] == lab.port("cms1") and args["username"] == "admin"


def test_connection_variables_are_templated(lab: SimLab, playbook: Callable[..., Run], tmp_path: Path) -> None:
    inventory = write_inventory(
        lab,
        tmp_path / "hosts.yml",
        hostvars={"ansible_password": "{{ vault_cms_password }}"},
        drop=("ansible_ssh_private_key_file",),
    )
    run = playbook(lab, info_play(), inventories=(inventory,), extra_vars={"vault_cms_password": lab.password})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert [a["result"] for a in auths(lab, "cms1")] == ["success"]


def test_bad_option_fails_before_connecting(lab: SimLab, playbook: Callable[..., Run]) -> None:
    play = """
    - hosts: cms1
      gather_facts: false
      tasks:
        - name: info
          cisco_cms.mmp.cms_pki_info:
            host_key_checking: off
    """
    run = playbook(lab, play)
    assert run.rc != 0
    msg = run.task("cms1", "info")["msg"]
    assert "host_key_checking" in msg and "accept_new" in msg
    assert not [e for e in lab.events("cms1") if e["event"] == "connection_opened"]


def test_a_timeout_of_zero_or_less_is_refused_by_name_before_connecting(
    lab: SimLab, playbook: Callable[..., Run]
) -> None:
    # 0 used to mean "the default" silently; a negative wait is no wait. Both are named, with the variable to set.
    play = """
    - hosts: cms1
      gather_facts: false
      tasks:
        - name: info
          cisco_cms.mmp.cms_pki_info:
            connect_timeout: 0
    """
    run = playbook(lab, play, extra_vars={"ansible_command_timeout": -1})
    assert run.rc != 0
    result = run.task("cms1", "info")
    assert not result.get("unreachable")
    msg = result["msg"]
    assert "connect_timeout is 0: it must be 1 or more (seconds); set ansible_ssh_timeout" in msg
    assert "command_timeout is -1: it must be 1 or more (seconds); set ansible_command_timeout" in msg
    no_traceback(run.stdout + run.stderr)
    assert not [e for e in lab.events("cms1") if e["event"] in ("connection_opened", "auth")]


# ------------------------------------------------------------------------------------------------------------
# Documentation
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["cms_pki_csr", "cms_pki_sign", "cms_pki_info"])
def test_ansible_doc_shows_complete_docs(module: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", "cisco_cms.mmp." + module],
        cwd=REPO_ROOT,
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)["cisco_cms.mmp." + module]
    options = doc["doc"]["options"]
    # The connection options come from the shared fragment, every option says what it is, secrets are no_log.
    for option in ("host", "port", "username", "password", "known_hosts_file", "host_key", "host_key_checking"):
        assert option in options, option
    assert all(o.get("description") for o in options.values())
    assert doc["examples"].strip() and doc["return"]
    assert doc["doc"]["attributes"]["check_mode"]["support"] == "full"
    assert "cisco_cms.mmp.cms" in doc["doc"]["attributes"]["action_group"]["membership"]
