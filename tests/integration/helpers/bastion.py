"""A real OpenSSH server as a bastion (jump host) for the tests: Debian's sshd, started by the tests themselves.

It runs in the foreground as a child of the test process (never as a system service) on a loopback port, with its
own host key, config, authorized key and log. ``AllowTcpForwarding yes`` lets it carry connections to the lab's
nodes; at ``LogLevel DEBUG1`` its log names every ``direct-tcpip`` target, which is how a test proves that a
connection to a node went through it.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
# sshd refuses to start as root without its privilege separation directory (compiled in as /run/sshd on Debian).
PRIVSEP_DIR = Path("/run/sshd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


class Bastion:
    """An sshd on 127.0.0.1; log in as the user running the tests with ``client_key``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.user = getpass.getuser()
        self.port = free_port()
        self.host_key = keygen(self.dir / "host_ed25519")
        self.client_key = keygen(self.dir / "client_ed25519")
        shutil.copy(self.dir / "client_ed25519.pub", self.dir / "authorized_keys")
        self.log = self.dir / "sshd.log"
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
                    "AllowTcpForwarding yes",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",
                    "LogLevel DEBUG1",
                    "",
                ]
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def known_hosts_line(self) -> str:
        kind, blob = (self.dir / "host_ed25519.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def start(self) -> Bastion:
        if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(self.config), "-E", str(self.log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("sshd did not start:\n" + (self.log.read_text() if self.log.exists() else ""))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def mark(self) -> int:
        """Where the log ends now: ``forwarded_to(since=...)`` reads only what came after."""
        return self.log.stat().st_size if self.log.exists() else 0

    def forwarded_to(self, since: int = 0) -> list[int]:
        """The ports of every ``direct-tcpip`` connection the bastion opened on 127.0.0.1, in order."""
        text = self.log.read_bytes()[since:].decode("utf-8", "replace")
        return [int(p) for p in re.findall(r"server_request_direct_tcpip: .* target 127\.0\.0\.1 port (\d+)", text)]

    def logins(self, since: int = 0) -> int:
        text = self.log.read_bytes()[since:].decode("utf-8", "replace")
        return len(re.findall(r"Accepted publickey for ", text))
