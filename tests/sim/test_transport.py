"""The simulator's transport over real SSH: logins, the MMP shell, exec requests, SFTP, faults, event log."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest

from tests.cmssim import shapes
from tests.cmssim.testing import SimLab


def _openssh_options(lab: SimLab) -> list[str]:
    """The lab's client key and known_hosts, strict host key checking, no prompts: as an admin's ssh config."""
    return [
        "-i", str(lab.dir / "id_ed25519"),
        "-o", f"UserKnownHostsFile={lab.dir / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
    ]  # fmt: skip


def openssh(
    lab: SimLab, node: str, *args: str, stdin: str | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Run the OpenSSH client (Debian's openssh-client) against a node, with the lab's key and known_hosts."""
    cmd = ["ssh", *_openssh_options(lab), "-p", str(lab.port(node)), "admin@127.0.0.1", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)


def openssh_sftp(lab: SimLab, node: str, batch: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run OpenSSH's sftp in batch mode (commands from ``batch``) against a node."""
    cmd = ["sftp", "-b", "-", *_openssh_options(lab), "-P", str(lab.port(node)), "admin@127.0.0.1"]
    return subprocess.run(cmd, input=batch, capture_output=True, text=True, timeout=timeout, check=False)


needs_openssh = pytest.mark.skipif(
    shutil.which("ssh") is None, reason="openssh-client is installed by scripts/setup.sh"
)


# ---- logins -------------------------------------------------------------------------------------------------
def test_password_and_public_key_logins_work_for_admin(lab: SimLab) -> None:
    lab.client("cms1").close()
    lab.client("cms2", key=True).close()
    auths = [e for e in lab.events("cms1") if e["event"] == "auth"]
    assert auths[-1]["result"] == "success" and auths[-1]["method"] == "password"


def test_wrong_password_fails_authentication_like_sshd(lab: SimLab) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        lab.client("cms1", password="not-the-password")
    assert any(e["event"] == "auth" and e["result"] == "failure" for e in lab.events("cms1"))


def test_unknown_host_key_is_rejected_by_a_verifying_client(lab: SimLab) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(
            "127.0.0.1",
            port=lab.port("cms1"),
            username="admin",
            password=lab.password,
            look_for_keys=False,
            allow_agent=False,
        )
    client.close()


def test_each_node_has_its_own_persistent_host_key(lab: SimLab) -> None:
    keys = {}
    for node in ("cms1", "cms2", "cms3"):
        client = lab.client(node)
        keys[node] = client.get_transport().get_remote_server_key().asbytes()
        client.close()
    assert len(set(keys.values())) == 3
    lab.restart()
    client = lab.client("cms1")  # RejectPolicy + the old known_hosts: the key must be unchanged
    assert client.get_transport().get_remote_server_key().asbytes() == keys["cms1"]
    client.close()


# ---- the interactive shell ----------------------------------------------------------------------------------
def test_shell_prints_the_hostname_prompt_and_echoes_typed_text(lab: SimLab) -> None:
    shell = lab.shell("cms2")
    try:
        assert shell.banner.endswith("cms2> ")
        shell.chan.sendall(b"\r")
        assert shell.read_until_prompt(5) == "\ncms2> "  # an empty line just reprints the prompt [H]
        out = shell.run("frobnicate now")
        assert out == shapes.UNKNOWN_COMMAND.format(line="frobnicate now") + "\n"
    finally:
        shell.close()


def test_shell_line_editing_handles_backspace(lab: SimLab) -> None:
    shell = lab.shell("cms1")
    try:
        shell.chan.sendall(b"pkx\x7fi\r")
        text = shell.read_until_prompt(5)
        assert "pki" in text and "pkx" not in text.replace("pkx\b \b", "")
        assert shapes.PKI_USAGE.splitlines()[0] in text or "pki" in text
    finally:
        shell.close()


def test_commands_use_crlf_in_a_pty_and_lf_without(lab: SimLab) -> None:
    client = lab.client("cms1")
    try:
        for pty, ending in ((True, b"\r\n"), (False, b"\n")):
            chan = client.get_transport().open_session()
            if pty:
                chan.get_pty()
            chan.exec_command("no such verb")
            data = b""
            while chunk := chan.recv(4096):
                data += chunk
            assert data.endswith(ending) and (pty or b"\r" not in data)
            assert chan.recv_exit_status() == 0  # [L] failures are judged by text, not exit status
    finally:
        client.close()


def test_type_ahead_answer_in_one_packet_reaches_the_confirmation(lab: SimLab) -> None:
    """A client that sends the command and its `Y` at once must still have the `Y` read as the answer."""
    client = lab.client("cms1")
    try:
        chan = client.invoke_shell()
        chan.settimeout(10)
        chan.sendall(b"frobnicate\rfrobnicate2\r")
        data = b""
        while data.count(b"cms1> ") < 3:
            data += chan.recv(4096)
        assert b"frobnicate2" in data
    finally:
        client.close()


# ---- OpenSSH client ----------------------------------------------------------------------------------------
@needs_openssh
def test_openssh_client_runs_one_command_per_exec(lab: SimLab) -> None:
    proc = openssh(lab, "cms1", "-tt", "no such verb")
    assert proc.returncode == 0, proc.stderr
    assert shapes.UNKNOWN_COMMAND.format(line="no such verb") in proc.stdout


@needs_openssh
def test_openssh_sftp_put_get_rename_remove_and_no_traversal(lab: SimLab, tmp_path: Path) -> None:
    src = tmp_path / "upload.cer"
    src.write_bytes(b"-----BEGIN CERTIFICATE-----\nxyz\n-----END CERTIFICATE-----\n")
    batch = (
        "\n".join(
            [
                f"put {src} upload.cer",
                f"get upload.cer {tmp_path / 'back.cer'}",
                "rename upload.cer renamed.cer",
                "ls -1",
                "-get ../../etc/passwd " + str(tmp_path / "passwd"),
                "-mkdir sub",
                f"get renamed.cer {tmp_path / 'renamed.cer'}",
                "rm renamed.cer",
            ]
        )
        + "\n"
    )
    proc = openssh_sftp(lab, "cms2", batch)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "back.cer").read_bytes() == src.read_bytes()
    assert (tmp_path / "renamed.cer").read_bytes() == src.read_bytes()
    assert not (tmp_path / "passwd").exists()
    assert not (lab.files_dir("cms2") / "renamed.cer").exists()
    assert not (lab.files_dir("cms2") / "sub").exists()
    kinds = [e["event"] for e in lab.events("cms2")]
    assert {"sftp_put", "sftp_get", "sftp_rename", "sftp_remove"} <= set(kinds)


# ---- SFTP with paramiko -------------------------------------------------------------------------------------
def test_sftp_files_persist_across_a_simulator_restart(lab: SimLab) -> None:
    payload = b"persist me\n" * 100
    with lab.sftp("cms3") as sftp:
        with sftp.open("/keep.cer", "wb") as fh:
            fh.write(payload)
        assert "keep.cer" in sftp.listdir(".")
        assert sftp.stat("keep.cer").st_size == len(payload)
    lab.restart()
    with lab.sftp("cms3") as sftp:
        with sftp.open("keep.cer", "rb") as fh:
            assert fh.read() == payload
        with pytest.raises(OSError):
            sftp.mkdir("dir")
        with pytest.raises(FileNotFoundError):
            sftp.stat("sub/keep.cer")


def test_sftp_and_shell_share_one_connection(lab: SimLab) -> None:
    client = lab.client("cms1")
    try:
        sftp = client.open_sftp()
        with sftp.open("same.txt", "wb") as fh:
            fh.write(b"x")
        chan = client.invoke_shell()
        chan.settimeout(10)
        buf = b""
        while not buf.endswith(b"cms1> "):
            buf += chan.recv(4096)
        assert "same.txt" in sftp.listdir()
    finally:
        client.close()
    opened = [e for e in lab.events("cms1") if e["event"] == "connection_opened"]
    assert len(opened) == 1


def test_sftp_rename_onto_an_existing_file_fails_and_changes_neither_file(lab: SimLab) -> None:
    with lab.sftp("cms1") as sftp:
        for name, body in (("a.txt", b"a"), ("b.txt", b"b")):
            with sftp.open(name, "wb") as fh:
                fh.write(body)
        with pytest.raises(OSError):
            sftp.rename("a.txt", "b.txt")  # SSH_FXP_RENAME never overwrites
        with pytest.raises(OSError):
            sftp.open("b.txt", "wx")  # exclusive create: refused when the file exists
    assert (lab.files_dir("cms1") / "a.txt").read_bytes() == b"a"
    assert (lab.files_dir("cms1") / "b.txt").read_bytes() == b"b"


def _rename_race(sftps: list[paramiko.SFTPClient], target: str) -> list[int]:
    """Every client renames its own ``take<i>.tmp`` onto ``target`` at the same instant; the indexes that won."""
    barrier = threading.Barrier(len(sftps))
    won: list[int] = []

    def rename(index: int, sftp: paramiko.SFTPClient) -> None:
        barrier.wait()
        try:
            sftp.rename(f"take{index}.tmp", target)
        except OSError:
            return
        won.append(index)

    threads = [threading.Thread(target=rename, args=pair) for pair in enumerate(sftps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return won


def test_two_clients_renaming_onto_one_name_at_once_exactly_one_wins(lab: SimLab) -> None:
    clients = [lab.client("cms2") for _ in range(4)]
    try:
        sftps = [client.open_sftp() for client in clients]
        for rounds in range(5):
            for index, sftp in enumerate(sftps):
                with sftp.open(f"take{index}.tmp", "wb") as fh:
                    fh.write(b"%d" % index)
            won = _rename_race(sftps, "taken")
            assert len(won) == 1, f"round {rounds}: {won}"
            assert (lab.files_dir("cms2") / "taken").read_bytes() == b"%d" % won[0]
            sftps[0].remove("taken")
            for index, sftp in enumerate(sftps):
                if index != won[0]:
                    sftp.remove(f"take{index}.tmp")
    finally:
        for client in clients:
            client.close()


# ---- faults -------------------------------------------------------------------------------------------------
def test_drop_after_command_runs_the_command_then_drops_the_connection(lab: SimLab) -> None:
    lab.ctl(faults={"cms2": {"drop_after_command": "frobnicate"}})
    shell = lab.shell("cms2")
    shell.chan.sendall(b"frobnicate\r")
    with pytest.raises(EOFError):
        shell.read_until_prompt(10)
    shell.close()
    events = lab.events("cms2")
    assert [e["command"] for e in events if e["event"] == "command"][-1] == "frobnicate"
    assert any(e["event"] == "fault" and e["kind"] == "drop_after_command" for e in events)
    # One-shot: the next connection works again.
    assert lab.run("cms2", "frobnicate").startswith("ERROR")


def test_drop_after_n_commands_counts_from_when_it_is_set(lab: SimLab) -> None:
    lab.run("cms1", "one")
    lab.ctl(faults={"cms1": {"drop_after_commands": 2}})
    shell = lab.shell("cms1")
    shell.run("two")
    shell.chan.sendall(b"three\r")
    with pytest.raises(EOFError):
        shell.read_until_prompt(10)
    shell.close()


def test_fail_command_prints_the_injected_failure(lab: SimLab) -> None:
    lab.ctl(faults={"cms1": {"fail_command": {"match": "frobnicate", "output": "FAILURE: injected"}}})
    assert lab.run("cms1", "frobnicate now") == "FAILURE: injected\n"
    assert lab.run("cms1", "frobnicate now").startswith("ERROR: Unknown command")


def test_node_down_refuses_connections_and_comes_back(lab: SimLab) -> None:
    lab.ctl(faults={"cms3": {"down": True}})
    with pytest.raises((ConnectionRefusedError, paramiko.SSHException, socket.error)):
        lab.client("cms3", timeout=3)
    assert lab.status()["nodes"]["cms3"]["up"] is False
    lab.ctl(faults={"cms3": {"down": False}})
    lab.client("cms3").close()
    assert lab.status()["nodes"]["cms3"]["up"] is True


def test_corrupt_upload_fault_changes_what_was_uploaded(lab: SimLab) -> None:
    data = b"0123456789" * 50
    lab.ctl(faults={"cms1": {"corrupt_upload": True}})
    with lab.sftp("cms1") as sftp:
        with sftp.open("bad.cer", "wb") as fh:
            fh.write(data)
        with sftp.open("bad.cer", "rb") as fh:
            first = fh.read()
        with sftp.open("good.cer", "wb") as fh:
            fh.write(data)
        with sftp.open("good.cer", "rb") as fh:
            second = fh.read()
    assert hashlib.sha256(first).hexdigest() != hashlib.sha256(data).hexdigest()
    assert second == data


def test_command_latency_applies_to_every_command(lab: SimLab) -> None:
    lab.ctl(timings={"command": 0.3})
    shell = lab.shell("cms1")
    try:
        started = time.monotonic()
        shell.run("frobnicate")
        assert time.monotonic() - started >= 0.3
    finally:
        shell.close()


# ---- event log ----------------------------------------------------------------------------------------------
def test_event_log_records_connections_and_commands_with_timestamps(lab: SimLab) -> None:
    lab.run("cms1", "frobnicate")
    lab.wait_event("cms1", lambda e: e["event"] == "connection_closed")
    events = lab.events("cms1")
    kinds = [e["event"] for e in events]
    opened = kinds.index("connection_opened")
    assert kinds.index("command", opened) < kinds.index("connection_closed", opened)
    stamps = [e["ts"] for e in events]
    assert stamps == sorted(stamps) and all(isinstance(t, float) for t in stamps)


@needs_openssh
def test_openssh_user_generates_a_csr_and_downloads_it_with_sftp(lab: SimLab, tmp_path: Path) -> None:
    """The issue's "done when": log in with OpenSSH, run `pki csr`, fetch the CSR with `sftp`, read it with openssl."""
    proc = openssh(lab, "cms2", "-tt", "pki csr handmade CN:cms2.lab.cms.example subjectAltName:cms2.lab.cms.example")
    assert proc.returncode == 0, proc.stderr
    assert "Created key file handmade.key and CSR handmade.csr" in proc.stdout
    assert "CSR file handmade.csr ready for download via SFTP" in proc.stdout
    got = openssh_sftp(lab, "cms2", f"get handmade.csr {tmp_path / 'handmade.csr'}\n")
    assert got.returncode == 0, got.stdout + got.stderr
    text = subprocess.run(
        ["openssl", "req", "-in", str(tmp_path / "handmade.csr"), "-noout", "-subject", "-verify"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "CN = cms2.lab.cms.example" in text.stdout
    assert "verify OK" in text.stdout + text.stderr
