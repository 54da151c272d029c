"""The transport of a simulated CMS node: a real SSH server (paramiko) with the MMP shell, exec requests and SFTP.

One ``NodeServer`` per node listens on its own loopback port.  Each accepted connection gets a paramiko
``Transport`` (its own threads); a session channel runs either the interactive MMP shell (prompt ``<hostname>> ``,
terminal echo and line editing when a PTY was requested) or one command per exec request, and an ``sftp`` subsystem
channel serves the node's flat file store.  Commands are interpreted by ``core.Lab.execute`` only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import posixpath
import socket
import threading
import time
from pathlib import Path
from typing import Any

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

from . import core, shapes

log = logging.getLogger("cmssim.server")

CHANNEL_REQUEST_TIMEOUT = 30.0


class _Requests:
    """What each session channel asked for (pty, shell, exec), keyed by channel id."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.kind: dict[int, str] = {}
        self.command: dict[int, str] = {}
        self.pty: dict[int, bool] = {}

    def set(self, chanid: int, kind: str, command: str = "") -> None:
        with self.cond:
            self.kind[chanid] = kind
            self.command[chanid] = command
            self.cond.notify_all()

    def wait(self, chanid: int, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while chanid not in self.kind:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.kind[chanid]


class MmpServerInterface(paramiko.ServerInterface):
    def __init__(self, node_server: NodeServer, peer: str) -> None:
        self.ns = node_server
        self.peer = peer
        self.requests = _Requests()

    # ---- authentication: password and public key for the lab's admin user --------------------------------
    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        creds = self.ns.credentials
        ok = hmac.compare_digest(username.encode(), creds["username"].encode()) and hmac.compare_digest(
            password.encode(), creds["password"].encode()
        )
        self.ns.node.event("auth", method="password", user=username, result="success" if ok else "failure")
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        creds = self.ns.credentials
        ok = username == creds["username"] and any(
            key.get_name() == k.get_name() and key.asbytes() == k.asbytes() for k in self.ns.authorized_keys
        )
        self.ns.node.event("auth", method="publickey", user=username, result="success" if ok else "failure")
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    # ---- channels ----------------------------------------------------------------------------------------
    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(
        self,
        channel: paramiko.Channel,
        term: bytes,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
        modes: bytes,
    ) -> bool:
        self.requests.pty[channel.get_id()] = True
        return True

    def check_channel_window_change_request(
        self, channel: paramiko.Channel, width: int, height: int, pixelwidth: int, pixelheight: int
    ) -> bool:
        return True

    def check_channel_env_request(self, channel: paramiko.Channel, name: bytes, value: bytes) -> bool:
        return False

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.requests.set(channel.get_id(), "shell")
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.requests.set(channel.get_id(), "exec", command.decode("utf-8", "replace"))
        return True

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        ok = super().check_channel_subsystem_request(channel, name)
        if ok:
            self.requests.set(channel.get_id(), "subsystem:" + name)
        return ok


# ------------------------------------------------------------------------------------------------------------
# The MMP terminal
# ------------------------------------------------------------------------------------------------------------
class ChannelConsole:
    """``core.Console`` over an SSH channel, with a tiny line discipline (echo, backspace, ^C) for PTY shells."""

    def __init__(self, channel: paramiko.Channel, *, interactive: bool, pty: bool) -> None:
        self.channel = channel
        self.interactive = interactive
        self.pty = pty
        self.buffer = ""
        self.eof = False

    def write(self, text: str) -> None:
        if self.pty:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        data = text.encode("utf-8", "replace")
        try:
            self.channel.sendall(data)
        except (OSError, EOFError):
            self.eof = True

    def _fill(self, timeout: float | None) -> bool:
        self.channel.settimeout(timeout)
        try:
            data = self.channel.recv(4096)
        except TimeoutError:
            return False
        except (OSError, EOFError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data.decode("utf-8", "replace")
        return True

    def read_line(self, *, echo: bool, timeout: float | None = None) -> str | None:
        """One line typed by the user. Echoes what is typed when ``echo`` (a PTY shell does)."""
        line = ""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            while self.buffer:
                ch, self.buffer = self.buffer[0], self.buffer[1:]
                if ch in "\r\n":
                    if ch == "\r" and self.buffer.startswith("\n"):
                        self.buffer = self.buffer[1:]
                    if echo:
                        self.write("\n")
                    return line
                if ch in ("\x7f", "\x08"):
                    if line:
                        line = line[:-1]
                        if echo:
                            self.write("\b \b")
                    continue
                if ch == "\x03":  # ^C abandons the line
                    if echo:
                        self.write("^C\n")
                    return ""
                if ch == "\x04" and not line:  # ^D on an empty line ends the session
                    self.eof = True
                    return None
                if ch == "\x1b":  # drop escape sequences (arrow keys)
                    self.buffer = self.buffer.lstrip("[0123456789;ABCDHF~")
                    continue
                if ord(ch) < 32:
                    continue
                line += ch
                if echo:
                    self.write(ch)
            if self.eof:
                return line if line else None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            if not self._fill(left) and self.eof:
                return line if line else None

    def read_answer(self, timeout: float | None = None) -> str | None:
        # [GUESS] The TechNote transcript does not show the typed Y: the MMP reads the answer without echo.
        return self.read_line(echo=False, timeout=timeout)


class NodeServer:
    """The SSH server of one node."""

    def __init__(
        self, lab: core.Lab, node: core.Node, port: int, credentials: dict[str, str], authorized: list[paramiko.PKey]
    ) -> None:
        self.lab = lab
        self.node = node
        self.port = port
        self.credentials = credentials
        self.authorized_keys = authorized
        self.host_key = paramiko.Ed25519Key.from_private_key_file(str(node.dir / "ssh_host_ed25519_key"))
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None
        self.transports: set[paramiko.Transport] = set()
        self.tlock = threading.Lock()
        self.stopping = False

    # ---- listening ---------------------------------------------------------------------------------------
    def listen(self) -> None:
        if self.sock is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError:
            # Another process took the port while this lab was down (or between allocation and this bind): move
            # the node to a free port; `up` rewrites inventory.yml and known_hosts once every node listens.
            with self.lab.lock:
                taken = {int(p) for p in self.lab.config["ssh_ports"].values()}
                (port,) = core.allocate_ports(1, taken)
                self.node.event("ssh_port_moved", old=self.port, new=port)
                self.port = port
                self.lab.config["ssh_ports"][self.node.name] = port
                self.lab.save_config()
            sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.sock = sock
        self.thread = threading.Thread(
            target=self._accept_loop, args=(sock,), name=f"ssh-{self.node.name}", daemon=True
        )
        self.thread.start()

    def close_listener(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def drop_all(self) -> None:
        with self.tlock:
            transports = list(self.transports)
        for t in transports:
            t.close()

    def stop(self) -> None:
        self.stopping = True
        self.close_listener()
        self.drop_all()

    def _accept_loop(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, addr = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn, addr), name=f"conn-{self.node.name}", daemon=True).start()

    # ---- one connection ----------------------------------------------------------------------------------
    def _handle(self, conn: socket.socket, addr: Any) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, StoreSFTPServer, self)
        iface = MmpServerInterface(self, peer)
        with self.tlock:
            self.transports.add(transport)
        self.node.event("connection_opened", peer=peer)
        try:
            try:
                transport.start_server(server=iface)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.node.event("connection_failed", peer=peer, reason=str(exc) or type(exc).__name__)
                return
            while transport.is_active():
                chan = transport.accept(timeout=1.0)
                if chan is None:
                    continue
                threading.Thread(target=self._session, args=(transport, iface, chan), daemon=True).start()
        finally:
            with self.tlock:
                self.transports.discard(transport)
            transport.close()
            self.node.event("connection_closed", peer=peer)

    def _session(self, transport: paramiko.Transport, iface: MmpServerInterface, chan: paramiko.Channel) -> None:
        kind = iface.requests.wait(chan.get_id(), CHANNEL_REQUEST_TIMEOUT)
        if kind is None or kind.startswith("subsystem:"):
            return  # paramiko runs the SFTP subsystem in its own thread
        pty = iface.requests.pty.get(chan.get_id(), False)
        try:
            if kind == "shell":
                self._shell(chan, pty)
            else:
                self._exec(chan, iface.requests.command.get(chan.get_id(), ""), pty)
        except core.DropConnection:
            # A fault or a reboot: the TCP connection goes away without an SSH goodbye.
            self.node.event("connection_dropped")
            with contextlib.suppress(OSError):
                transport.sock.shutdown(socket.SHUT_RDWR)
            transport.close()
        except Exception:
            log.exception("session on %s failed", self.node.name)
            chan.close()

    def _shell(self, chan: paramiko.Channel, pty: bool) -> None:
        console = ChannelConsole(chan, interactive=True, pty=pty)
        prompt = shapes.PROMPT.format(hostname=self.node.hostname)
        while True:
            console.write(prompt)
            line = console.read_line(echo=pty)
            if line is None:
                break
            self.lab.execute(self.node, line, console)
            if console.eof:
                break
        chan.send_exit_status(0)
        chan.close()

    def _exec(self, chan: paramiko.Channel, command: str, pty: bool) -> None:
        console = ChannelConsole(chan, interactive=False, pty=pty)
        self.lab.execute(self.node, command, console)
        # [L] Working automation judges MMP commands by their text; the exit status looks like 0 even for errors.
        chan.send_exit_status(0)
        chan.shutdown_write()
        chan.close()


# ------------------------------------------------------------------------------------------------------------
# SFTP: one flat directory, the node's file store
# ------------------------------------------------------------------------------------------------------------
def _flat_name(path: str) -> str | None:
    """``/CMS.key``, ``CMS.key`` or ``./CMS.key`` -> ``CMS.key``; the root -> ``""``; anything deeper -> None."""
    norm = posixpath.normpath("/" + path.lstrip("/"))
    if norm == "/":
        return ""
    name = norm[1:]
    return name if shapes.is_plain_file_name(name) else None


class StoreHandle(paramiko.SFTPHandle):
    def __init__(self, server: StoreSFTPServer, name: str, path: Path, flags: int, writing: bool) -> None:
        super().__init__(flags)
        self.server = server
        self.name = name
        self.path = path
        self.writing = writing
        self.digest = hashlib.sha256()
        self.size = 0

    def stat(self) -> paramiko.SFTPAttributes:
        return paramiko.SFTPAttributes.from_stat(os.stat(self.path), self.name)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK

    def write(self, offset: int, data: bytes) -> int:
        rc = super().write(offset, data)
        self.size = max(self.size, offset + len(data))
        return rc

    def close(self) -> None:
        super().close()
        node = self.server.ns.node
        if self.writing:
            faults = node.lab.faults_for(node.name)
            corrupt = faults.get("corrupt_upload")
            if corrupt is True or (isinstance(corrupt, str) and self.name.startswith(corrupt)):
                # Flip one byte of what arrived: the client's checksum check must catch it.
                corrupted = bytearray(self.path.read_bytes())
                if corrupted:
                    corrupted[len(corrupted) // 2] ^= 0x01
                    self.path.write_bytes(bytes(corrupted))
                node.lab.consume_fault(node.name, "corrupt_upload")
                node.event("fault", kind="corrupt_upload", file=self.name)
            if self.name.endswith(".key"):
                os.chmod(self.path, 0o600)
            data = self.path.read_bytes()
            node.event("sftp_put", file=self.name, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        else:
            node.event("sftp_get", file=self.name)


class StoreSFTPServer(paramiko.SFTPServerInterface):
    def __init__(self, server: MmpServerInterface, ns: NodeServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.ns = ns

    @property
    def root(self) -> Path:
        return self.ns.node.files_dir

    def _attrs(self, path: Path) -> paramiko.SFTPAttributes:
        attrs = paramiko.SFTPAttributes.from_stat(path.stat(), path.name)
        return attrs

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath("/" + path.lstrip("/"))

    def list_folder(self, path: str) -> Any:
        if _flat_name(path) != "":
            return SFTP_NO_SUCH_FILE
        return [self._attrs(self.root / name) for name in self.ns.node.list_files()]

    def stat(self, path: str) -> Any:
        name = _flat_name(path)
        if name == "":
            return paramiko.SFTPAttributes.from_stat(self.root.stat(), "/")
        if name is None or not (self.root / name).is_file():
            return SFTP_NO_SUCH_FILE
        return self._attrs(self.root / name)

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> Any:
        name = _flat_name(path)
        if not name:
            return SFTP_PERMISSION_DENIED if name == "" else SFTP_NO_SUCH_FILE
        target = self.root / name
        writing = bool(flags & (os.O_WRONLY | os.O_RDWR))
        if not writing and not target.is_file():
            return SFTP_NO_SUCH_FILE
        if not writing:
            mode = "rb"
        elif flags & os.O_EXCL:
            mode = "x+b" if flags & os.O_RDWR else "xb"  # exclusive create in one step, as open(2) does it
        elif flags & os.O_APPEND:
            mode = "ab"
        elif flags & os.O_TRUNC or not target.exists():
            mode = "w+b" if flags & os.O_RDWR else "wb"
        else:
            mode = "r+b"
        try:
            fh = open(target, mode)  # noqa: SIM115 - paramiko closes it through the handle
        except OSError:
            return SFTP_FAILURE
        handle = StoreHandle(self, name, target, flags, writing)
        if "r" in mode or "+" in mode:
            handle.readfile = fh
        if writing:
            handle.writefile = fh
        return handle

    def remove(self, path: str) -> int:
        name = _flat_name(path)
        if not name or not (self.root / name).is_file():
            return SFTP_NO_SUCH_FILE
        (self.root / name).unlink()
        self.ns.node.event("sftp_remove", file=name)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        old, new = _flat_name(oldpath), _flat_name(newpath)
        if not old or not (self.root / old).is_file():
            return SFTP_NO_SUCH_FILE
        if not new:
            return SFTP_PERMISSION_DENIED
        # SFTP v3 rename does not overwrite.  Like OpenSSH's sftp-server, link then unlink: the check that the target
        # is free and the move are one step, so of two clients renaming onto one name at once exactly one wins (the
        # collection's node lock relies on it).
        try:
            os.link(self.root / old, self.root / new)
        except OSError:
            return SFTP_FAILURE
        (self.root / old).unlink()
        self.ns.node.event("sftp_rename", file=old, to=new)
        return SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        old, new = _flat_name(oldpath), _flat_name(newpath)
        if not old or not (self.root / old).is_file():
            return SFTP_NO_SUCH_FILE
        if not new:
            return SFTP_PERMISSION_DENIED
        os.replace(self.root / old, self.root / new)
        self.ns.node.event("sftp_rename", file=old, to=new)
        return SFTP_OK

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        name = _flat_name(path)
        if name is None or (name and not (self.root / name).is_file()):
            return SFTP_NO_SUCH_FILE
        return SFTP_OK  # the MMP store keeps its own modes; accept and ignore (OpenSSH `put -p` sends these)

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_OP_UNSUPPORTED

    def readlink(self, path: str) -> Any:
        return SFTP_OP_UNSUPPORTED
