# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The transport's shell dialogue, host key policies and input checks, without a node: a scripted fake channel
plays the MMP's side (echo, output, ``(Y/n)`` questions, prompt, a dropped connection)."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _pki
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpAuthError,
    MmpCommandError,
    MmpConnectError,
    MmpHostKeyError,
    MmpTimeout,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import prompt_re_for
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import (
    SECRET_MARK,
    MmpSession,
    _AcceptNewPolicy,
    _host_and_port,
    _PinnedKeyPolicy,
    _RejectPolicy,
    fingerprint_sha256,
)

# ansible-test units installs only tests/unit/requirements.txt; the checkout's pytest run has paramiko.
paramiko = pytest.importorskip("paramiko")

KEY = paramiko.RSAKey.generate(1024)
OTHER_KEY = paramiko.RSAKey.generate(1024)


class FakeShell:
    """The MMP side of an interactive shell: ``script(line) -> list of chunks`` answers each line sent.

    A chunk ``None`` closes the connection; the prompt is appended by the script itself, as the node prints it.
    """

    def __init__(self, script: Callable[[str], list[str | None]]) -> None:
        self.script = script
        self.sent: list[str] = []
        self.pending: list[str | None] = []

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def sendall(self, data: bytes) -> None:
        line = data.decode().rstrip("\r")
        self.sent.append(line)
        self.pending.extend(self.script(line))

    def recv(self, size: int) -> bytes:
        if not self.pending:
            raise TimeoutError()
        chunk = self.pending.pop(0)
        if chunk is None:
            return b""
        return chunk.encode()


def session_with(script: Callable[[str], list[str | None]], **kwargs: Any) -> tuple[MmpSession, FakeShell]:
    session = MmpSession("192.0.2.11", password="x", name="cms1", **kwargs)
    shell = FakeShell(script)
    session.shell = shell
    session.prompt_re = prompt_re_for("cms1")
    return session, shell


PROMPT = "\r\ncms1> "


# ------------------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------------------
def test_run_returns_the_output_without_echo_and_prompt() -> None:
    session, shell = session_with(
        lambda line: [line + "\r\n", "User supplied certificates and keys:\r\n", "a.key\r\nb.cer", PROMPT]
    )
    # Every line the node printed, each with its line end; CRLF becomes LF.
    assert session.run("pki list") == "User supplied certificates and keys:\na.key\nb.cer\n"
    assert shell.sent == ["pki list"]
    assert session.transcript == [("pki list", "User supplied certificates and keys:\na.key\nb.cer\n")]


def test_node_error_raises_with_the_nodes_words() -> None:
    session = session_with(lambda line: [line + "\r\nERROR: File x.key not found" + PROMPT])[0]
    with pytest.raises(MmpCommandError) as caught:
        session.run("pki match x.key y.cer")
    assert "pki match x.key y.cer failed on cms1: ERROR: File x.key not found" in str(caught.value)
    # check=False hands the output back for the caller to judge (FAILURE is pki match's normal "no").
    session = session_with(lambda line: [line + "\r\nFAILURE: Key and certificate pair do not match" + PROMPT])[0]
    assert session.run("pki match a.key b.cer", check=False) == "FAILURE: Key and certificate pair do not match\n"


def test_a_command_is_one_line() -> None:
    session, shell = session_with(lambda line: [])
    with pytest.raises(ValueError):
        session.run("pki list\nwebadmin disable")
    assert shell.sent == []


QUESTION = "WARNING!!!\r\nAre you sure you wish to remove this node from the current cluster? (Y/n) "


def cluster_remove(line: str) -> list[str | None]:
    if line == "database cluster remove":
        return [line + "\r\n", QUESTION]
    if line == "Y":
        return ["Y\r\nRemoving node from cluster" + PROMPT]
    return [line + "\r\nAborted" + PROMPT]


def test_confirmation_is_answered_with_a_capital_y_only_when_meant() -> None:
    session, shell = session_with(cluster_remove)
    assert "Removing node from cluster" in session.run("database cluster remove", confirm=True)
    assert shell.sent == ["database cluster remove", "Y"]


def test_confirmation_can_be_declined() -> None:
    session, shell = session_with(cluster_remove)
    assert "Aborted" in session.run("database cluster remove", confirm=False)
    assert shell.sent == ["database cluster remove", "n"]


def test_an_unexpected_question_is_answered_no_and_fails() -> None:
    session, shell = session_with(cluster_remove)
    with pytest.raises(MmpCommandError) as caught:
        session.run("database cluster remove")
    assert shell.sent == ["database cluster remove", "n"]
    assert "did not expect" in str(caught.value) and "nothing was changed" in str(caught.value)


def test_timeout_shows_the_last_output() -> None:
    session = session_with(lambda line: [line + "\r\nWorking on it...\r\n"])[0]
    with pytest.raises(MmpTimeout) as caught:
        session.run("backup snapshot nightly", timeout=0.3)
    message = str(caught.value)
    assert "timed out after 0s waiting for backup snapshot nightly to finish on cms1" in message
    assert "Working on it..." in message


def test_sensitive_output_never_reaches_an_error() -> None:
    secret = "Password    : s3cr3t-turn"
    session = session_with(lambda line: [line + "\r\n" + secret + "\r\n"])[0]
    with pytest.raises(MmpTimeout) as caught:
        session.run("turn", timeout=0.3, sensitive=True)
    assert "s3cr3t" not in str(caught.value) and SECRET_MARK in str(caught.value)
    assert caught.value.output is None
    session = session_with(lambda line: [line + "\r\n" + secret + "\r\nERROR: boom" + PROMPT])[0]
    with pytest.raises(MmpCommandError) as refused:
        session.run("turn", sensitive=True)
    assert "s3cr3t" not in str(refused.value) and refused.value.output is None
    assert session.transcript[-1] == ("turn", None)


def test_dropped_connection_says_the_state_is_unknown() -> None:
    session = session_with(lambda line: [line + "\r\n", "Created key file a.key and CSR a.csr\r\n", None])[0]
    with pytest.raises(MmpConnectError) as caught:
        session.run("pki csr a CN:a.example.com")
    message = str(caught.value)
    assert "connection to cms1 dropped while running pki csr a CN:a.example.com" in message
    assert "Created key file a.key and CSR a.csr" in message and "check its state before retrying" in message


# ------------------------------------------------------------------------------------------------------------
# Host keys
# ------------------------------------------------------------------------------------------------------------
def test_fingerprint_is_openssh_style() -> None:
    expected = "SHA256:" + base64.b64encode(hashlib.sha256(KEY.asbytes()).digest()).decode().rstrip("=")
    assert fingerprint_sha256(KEY) == expected


def test_pinned_key_accepts_its_fingerprint_or_key_line_and_nothing_else() -> None:
    for pin in (
        fingerprint_sha256(KEY),
        fingerprint_sha256(KEY) + "=",
        "%s %s" % (KEY.get_name(), KEY.get_base64()),
        "%s %s comment" % (KEY.get_name(), KEY.get_base64()),
    ):
        _PinnedKeyPolicy(pin, "cms1").missing_host_key(None, "[192.0.2.11]:22", KEY)
    policy = _PinnedKeyPolicy(fingerprint_sha256(OTHER_KEY), "cms1")
    with pytest.raises(MmpHostKeyError) as caught:
        policy.missing_host_key(None, "[192.0.2.11]:2222", KEY)
    assert fingerprint_sha256(KEY) in str(caught.value) and fingerprint_sha256(OTHER_KEY) in str(caught.value)
    assert str(caught.value).startswith("cms1: ")
    with pytest.raises(MmpHostKeyError):
        _PinnedKeyPolicy("not-a-fingerprint", "cms1").missing_host_key(None, "x", KEY)


def test_unknown_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = str(tmp_path / "known_hosts")
    with pytest.raises(MmpHostKeyError) as caught:
        _RejectPolicy(path, "cms1").missing_host_key(None, "[192.0.2.11]:2222", KEY)
    message = str(caught.value)
    assert fingerprint_sha256(KEY) in message
    assert "ssh-keyscan -p 2222 192.0.2.11 >> %s" % path in message
    for variable in ("cms_known_hosts", "cms_host_key", "cms_host_key_checking: accept_new"):
        assert variable in message
    assert not os.path.exists(path)


def test_accept_new_appends_the_key_in_known_hosts_format(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "known_hosts"
    policy = _AcceptNewPolicy(str(path), "cms1")
    policy.missing_host_key(None, "[192.0.2.11]:2222", KEY)
    policy.missing_host_key(None, "cms2.example.com", OTHER_KEY)
    assert path.read_text().splitlines() == [
        "[192.0.2.11]:2222 %s %s" % (KEY.get_name(), KEY.get_base64()),
        "cms2.example.com %s %s" % (OTHER_KEY.get_name(), OTHER_KEY.get_base64()),
    ]
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert policy.added is not None and policy.added.endswith(fingerprint_sha256(OTHER_KEY))
    # What paramiko itself reads back.
    keys = paramiko.HostKeys(str(path))
    assert keys.lookup("[192.0.2.11]:2222")[KEY.get_name()] == KEY


def test_accept_new_that_cannot_write_fails_before_login(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MmpHostKeyError) as caught:
        _AcceptNewPolicy(str(blocker / "known_hosts"), "cms1").missing_host_key(None, "h", KEY)
    assert "cannot record the new host key" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("[10.0.0.1]:2222", ("10.0.0.1", "2222")),
        ("cms1.example.com", ("cms1.example.com", "22")),
        ("[2001:db8::1]:22", ("2001:db8::1", "22")),
    ],
)
def test_host_and_port_of_a_known_hosts_name(name: str, expected: tuple[str, str]) -> None:
    assert _host_and_port(name) == expected


# ------------------------------------------------------------------------------------------------------------
# Credentials: checked before any network traffic
# ------------------------------------------------------------------------------------------------------------
def test_no_credentials_names_the_inventory_variables() -> None:
    with pytest.raises(MmpAuthError) as caught:
        MmpSession("127.0.0.1", port=1, name="cms1", host_key=fingerprint_sha256(KEY)).connect()
    assert "ansible_password" in str(caught.value) and "ansible_ssh_private_key_file" in str(caught.value)


def test_a_missing_private_key_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "id_missing"
    with pytest.raises(MmpAuthError) as caught:
        MmpSession(
            "127.0.0.1", port=1, name="cms1", private_key_file=str(missing), host_key=fingerprint_sha256(KEY)
        ).connect()
    assert str(missing) in str(caught.value) and "does not exist" in str(caught.value)


def test_nothing_listening_is_a_clear_connect_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MmpConnectError) as caught:
        MmpSession(
            "127.0.0.1", port=port, password="x", name="cms1", connect_timeout=5, host_key=fingerprint_sha256(KEY)
        ).connect()
    assert "cannot connect to cms1 (127.0.0.1 port %d)" % port in str(caught.value)


# ------------------------------------------------------------------------------------------------------------
# Files fetched to the controller, and inputs of the pki verb set
# ------------------------------------------------------------------------------------------------------------
class FakeModule:
    def __init__(self, check_mode: bool = False) -> None:
        self.check_mode = check_mode


def test_write_dest_writes_atomically_and_reports_change(tmp_path: Path) -> None:
    module = FakeModule()
    assert _pki._write_dest(module, None, "a.csr", b"x") == (None, False)
    path, changed = _pki._write_dest(module, str(tmp_path / "out") + "/", "a.csr", b"CSR")
    assert (path, changed) == (str(tmp_path / "out" / "a.csr"), True)
    assert _pki._write_dest(module, str(tmp_path / "out"), "a.csr", b"CSR") == (path, False)  # existing directory
    assert _pki._write_dest(module, str(tmp_path / "named.pem"), "a.csr", b"CSR") == (str(tmp_path / "named.pem"), True)
    assert sorted(os.listdir(tmp_path / "out")) == ["a.csr"]  # no temporary file left behind


def test_write_dest_in_check_mode_writes_nothing(tmp_path: Path) -> None:
    assert _pki._write_dest(FakeModule(check_mode=True), str(tmp_path / "d") + "/", "a.csr", b"CSR") == (
        str(tmp_path / "d" / "a.csr"),
        True,
    )
    assert not (tmp_path / "d").exists()


def test_write_dest_keeps_private_keys_private(tmp_path: Path) -> None:
    path = _pki._write_dest(FakeModule(), str(tmp_path / "a.key"), "a.key", b"KEY", mode=0o600)[0]
    assert path is not None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o644)
    assert _pki._write_dest(FakeModule(), path, "a.key", b"KEY", mode=0o600) == (path, False)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_write_dest_failure_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MmpValidationError) as caught:
        _pki._write_dest(FakeModule(), str(blocker / "sub") + "/", "a.csr", b"CSR")
    assert "cannot write a.csr" in str(caught.value) and "Check dest" in str(caught.value)


@pytest.mark.parametrize("value", ["a;b", "a|b", "a&b", "$(x)", "`x`", "a>b", "a<b", "a\\b", "a/b"])
def test_subject_values_that_could_start_a_command_are_refused(value: str) -> None:
    with pytest.raises(MmpValidationError) as caught:
        _pki._wanted_subject({"cn": value})
    assert "cn" in str(caught.value)


def test_wanted_subject_is_what_the_node_writes() -> None:
    assert _pki._wanted_subject({"cn": "a.example.com", "o": "Example Corp", "c": "gb", "ou": None}) == {
        "CN": "a.example.com",
        "O": "Example Corp",
        "C": "GB",
    }


def test_suggested_basename_is_a_new_one() -> None:
    assert _pki.suggest_basename("webadmin-2025") != "webadmin-2025"
    assert _pki.suggest_basename("webadmin-2025").startswith("webadmin-")
    assert _pki.suggest_basename("core").startswith("core-")
