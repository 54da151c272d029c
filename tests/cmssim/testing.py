"""Driving a simulated lab from tests: start/stop through the real command line, talk to nodes over real SSH.

lab = SimLab.start(tmp_path / "lab", nodes=3)
out = lab.run("cms1", "database cluster remove", answer="Y")
with lab.sftp("cms1") as sftp: ...
lab.ctl(clock_offset_days=400)
lab.stop()
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIRM_RE = re.compile(r"\(Y/n\)")
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class SimError(RuntimeError):
    pass


def cli(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tests.cmssim ARGS`` as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.cmssim", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise SimError(f"cmssim {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


class Shell:
    """An interactive MMP shell over one SSH connection (PTY, like PuTTY or an Ansible shell would use)."""

    def __init__(self, client: paramiko.SSHClient, hostname: str) -> None:
        self.client = client
        self.prompt = f"{hostname}> "
        self.chan = client.invoke_shell(term="vt100", width=200, height=50)
        self.chan.settimeout(0.2)
        self.banner = self.read_until_prompt(15)

    def _recv(self) -> str:
        try:
            data = self.chan.recv(65536)
        except TimeoutError:
            return ""
        if not data:
            raise EOFError("connection closed by the node")
        return data.decode("utf-8", "replace")

    def read_until_prompt(self, timeout: float, answer: str | None = None) -> str:
        buf = ""
        answered = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = self._recv()
            buf += chunk
            text = ANSI_RE.sub("", buf).replace("\r\n", "\n")
            if answer is not None and not answered and CONFIRM_RE.search(text):
                # The warning block follows the question; give the node a moment to print all of it.
                time.sleep(0.05)
                buf += self._recv() if self.chan.recv_ready() else ""
                self.chan.sendall((answer + "\r").encode())
                answered = True
                continue
            if text.endswith("\n" + self.prompt) or text == self.prompt:
                return text
        raise TimeoutError(f"no prompt {self.prompt!r} within {timeout}s; got {buf[-2000:]!r}")

    def run(self, command: str, answer: str | None = None, timeout: float = 15) -> str:
        """Type ``command``, answer its ``(Y/n)`` with ``answer`` if given, return the output (echo/prompt removed)."""
        self.chan.sendall((command + "\r").encode())
        text = self.read_until_prompt(timeout, answer)
        body = text[: -len(self.prompt)]
        first, _, rest = body.partition("\n")
        if first.strip() != command.strip():
            raise SimError(f"expected the echo of {command!r}, got {first!r}")
        return rest

    def close(self) -> None:
        self.client.close()


class SimLab:
    def __init__(self, lab_dir: Path) -> None:
        self.dir = Path(lab_dir).resolve()
        self.load()

    # ---- lifecycle ---------------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        lab_dir: Path,
        nodes: int | None = None,
        cms_version: str | None = None,
        lab_file: dict[str, Any] | Path | None = None,
    ) -> SimLab:
        lab_dir = Path(lab_dir)
        args = ["up", "--lab-dir", str(lab_dir)]
        if nodes is not None:
            args += ["--nodes", str(nodes)]
        if cms_version is not None:
            args += ["--cms-version", str(cms_version)]
        if isinstance(lab_file, dict):
            lab_dir.mkdir(parents=True, exist_ok=True)
            path = lab_dir.parent / f"{lab_dir.name}.labfile.yml"
            path.write_text(yaml.safe_dump(lab_file))
            lab_file = path
        if lab_file is not None:
            args += ["--lab-file", str(lab_file)]
        cli(*args)
        return cls(lab_dir)

    def load(self) -> None:
        self.inventory = yaml.safe_load((self.dir / "inventory.yml").read_text())
        self.hosts: dict[str, dict[str, Any]] = self.inventory["all"]["children"]["cms"]["hosts"]
        secret = json.loads((self.dir / "secrets.json").read_text())
        self.password = secret["password"]
        self.api_user, self.api_password = secret.get("api_user", ""), secret.get("api_password", "")

    def stop(self) -> None:
        cli("down", "--lab-dir", str(self.dir))

    def restart(self) -> None:
        self.stop()
        cli("up", "--lab-dir", str(self.dir))
        self.load()

    # ---- SSH ---------------------------------------------------------------------------------------------
    def port(self, node: str) -> int:
        return int(self.hosts[node]["ansible_port"])

    def client(
        self, node: str, password: str | None = None, key: bool = False, timeout: float = 10
    ) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.dir / "known_hosts"))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        kwargs: dict[str, Any] = {"look_for_keys": False, "allow_agent": False, "timeout": timeout}
        if key:
            kwargs["key_filename"] = str(self.dir / "id_ed25519")
        else:
            kwargs["password"] = self.password if password is None else password
        client.connect("127.0.0.1", port=self.port(node), username="admin", **kwargs)
        return client

    def shell(self, node: str) -> Shell:
        return Shell(self.client(node), node)

    def run(self, node: str, command: str, answer: str | None = None, timeout: float = 15) -> str:
        shell = self.shell(node)
        try:
            return shell.run(command, answer=answer, timeout=timeout)
        finally:
            shell.close()

    def exec(self, node: str, command: str, pty: bool = True, stdin: str | None = None, timeout: float = 15) -> str:
        client = self.client(node)
        try:
            chan = client.get_transport().open_session()
            if pty:
                chan.get_pty()
            chan.settimeout(timeout)
            chan.exec_command(command)
            if stdin is not None:
                chan.sendall(stdin.encode())
            out = b""
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                out += data
            return out.decode("utf-8", "replace").replace("\r\n", "\n")
        finally:
            client.close()

    @contextlib.contextmanager
    def sftp(self, node: str) -> Iterator[paramiko.SFTPClient]:
        client = self.client(node)
        try:
            yield client.open_sftp()
        finally:
            client.close()

    # ---- lab control and inspection ----------------------------------------------------------------------
    def ctl(
        self,
        clock_offset_days: float | None = None,
        timings: dict[str, float] | None = None,
        faults: dict[str, dict[str, Any]] | None = None,
        clear_faults: bool | str | None = None,
    ) -> dict[str, Any]:
        from . import cli as simcli

        request: dict[str, Any] = {"op": "set"}
        if clock_offset_days is not None:
            request["clock_offset_days"] = clock_offset_days
        if timings:
            request["timings"] = timings
        if faults:
            request["faults"] = faults
        if clear_faults:
            request["clear_faults"] = clear_faults
        return simcli.control(self.dir, request)["status"]

    def calls(
        self, node: str, legs: int, duration: float | None = None, idle_call: bool = False, kind: str = "sip"
    ) -> dict[str, Any]:
        """``calls --legs N`` (``kind="web"`` for legs through the Web Bridge, which the command line does not offer)."""
        from . import cli as simcli

        request: dict[str, Any] = {"op": "calls", "node": node, "legs": legs, "idle_call": idle_call, "kind": kind}
        if duration is not None:
            request["duration"] = duration
        return simcli.control(self.dir, request)

    def alarms(self, add: dict[str, list[str]] | None = None, clear: bool | str | None = None) -> None:
        from . import cli as simcli

        simcli.control(self.dir, {"op": "set", "alarms": add or {}, "clear_alarms": clear})

    def api_get(self, node: str, path: str, user: str | None = None, password: str | None = None) -> tuple[int, str]:
        """GET ``/api/v1<path>`` on the node's Web Admin over verified HTTPS; (HTTP status, body)."""
        import base64
        import http.client
        import ssl

        host = self.hosts[node]
        ctx = ssl.create_default_context(cafile=self.inventory["all"]["children"]["cms"]["vars"]["cms_api_ca_file"])
        conn = http.client.HTTPSConnection("127.0.0.1", int(host["cms_api_port"]), context=ctx, timeout=10)
        # The certificate names the node's FQDN, not the loopback address it is reached on.
        conn.sock = ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", int(host["cms_api_port"])), timeout=10),
            server_hostname=host["cms_api_server_name"],
        )
        auth = f"{user or self.api_user}:{self.api_password if password is None else password}"
        headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
        try:
            conn.request("GET", "/api/v1" + path, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def status(self) -> dict[str, Any]:
        return json.loads(cli("status", "--lab-dir", str(self.dir), "--json").stdout)

    def events(self, node: str) -> list[dict[str, Any]]:
        path = self.dir / "nodes" / node / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def wait_event(self, node: str, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        """The first event of ``node`` for which ``predicate(event)`` holds, waiting up to ``timeout`` seconds
        (connection_closed and cluster transitions are logged asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events(node):
                if predicate(event):
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching event on {node} within {timeout}s")
            time.sleep(0.05)

    def files_dir(self, node: str) -> Path:
        return self.dir / "nodes" / node / "files"

    def node_state(self, node: str) -> dict[str, Any]:
        return json.loads((self.dir / "nodes" / node / "state.json").read_text())
