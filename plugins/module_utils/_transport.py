# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The transport: one SSH connection per module call to a CMS node's MMP, an interactive shell on it, and SFTP.

The MMP is driven the way an admin drives it in PuTTY: one shell, a command per line, the output read up to the
next ``<hostname>> `` prompt, ``(Y/n)`` confirmations answered with a capital ``Y`` only when the caller means to
proceed.  Files move over SFTP on the same connection and are verified by SHA-256.  Every wait has a timeout whose
error shows the last output.  Nothing here logs: callers decide what reaches the user.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import os
import re
import time
import traceback
from collections.abc import Callable
from typing import Any

try:
    import paramiko

    HAS_PARAMIKO = True
    PARAMIKO_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by the module with missing_required_lib()
    paramiko = None
    HAS_PARAMIKO = False
    PARAMIKO_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.cisco_cms.mmp.plugins.module_utils._connection import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_KNOWN_HOSTS,
    DEFAULT_PORT,
    DEFAULT_USERNAME,
    Endpoint,
    Route,
    resolve_route,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpAuthError,
    MmpCommandError,
    MmpConnectError,
    MmpHostKeyError,
    MmpTimeout,
    MmpUnreachable,
    MmpValidationError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import (
    CONFIRM_ANSWER,
    CONFIRM_RE,
    PROMPT_RE,
    find_error,
    normalize_output,
    prompt_re_for,
)

SECRET_MARK = "(output withheld: it may contain secrets)"

# paramiko's transport thread logs a failed handshake with a traceback; with no handler Python would print it to
# stderr beside the module's own error, which already says what happened.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def fingerprint_sha256(key: Any) -> str:
    """OpenSSH-style fingerprint of a paramiko key: ``SHA256:<base64 without padding>``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _encrypted(data: bytes) -> bool | None:
    """Whether a private key file's content is encrypted: ``None`` when it is no private key this can read."""
    text = data.decode("ascii", "replace")
    if "BEGIN ENCRYPTED PRIVATE KEY" in text or "Proc-Type: 4,ENCRYPTED" in text:
        return True
    body = re.search(r"-----BEGIN OPENSSH PRIVATE KEY-----(.*?)-----END OPENSSH PRIVATE KEY-----", text, re.S)
    if body is None:
        return False if "PRIVATE KEY-----" in text else None
    try:
        blob = base64.b64decode("".join(body.group(1).split()))
    except ValueError:
        return None
    magic = b"openssh-key-v1\x00"
    if not blob.startswith(magic) or len(blob) < len(magic) + 4:
        return None
    # openssh-key-v1 NUL, then the cipher name as an SSH string: "none" when the key is not encrypted.
    size = int.from_bytes(blob[len(magic) : len(magic) + 4], "big")
    return blob[len(magic) + 4 : len(magic) + 4 + size] != b"none"


def key_file_problem(path: str, passphrase: str | None) -> str | None:
    """Why the private key file ``path`` cannot be used to log in, as a sentence naming the fix, or ``None``.

    Only what can be told for sure: an encrypted key without a passphrase, or one that the passphrase given does
    not decrypt. Anything else is left to paramiko, which says it in its own words.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if not _encrypted(data):
        return None
    if passphrase is None:
        return (
            "the key file %s is encrypted and no passphrase was given: set ansible_ssh_private_key_passphrase (or "
            "the private_key_passphrase option)" % path
        )
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
    except ImportError:  # paramiko needs cryptography; without it paramiko's own error says so
        return None
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            serialization.load_ssh_private_key(data, passphrase.encode())
        else:
            serialization.load_pem_private_key(data, passphrase.encode())
    except ValueError:
        return (
            "the key file %s could not be decrypted with the passphrase given (ansible_ssh_private_key_passphrase "
            "or the private_key_passphrase option): the passphrase is wrong" % path
        )
    except (TypeError, UnsupportedAlgorithm):  # a kind of key cryptography cannot read: paramiko will say more
        return None
    return None


class _PinnedKeyPolicy:
    """Accept exactly one host key, given as ``SHA256:...`` or as an OpenSSH public key line."""

    def __init__(self, expected: str, node: str) -> None:
        self.expected = expected.strip()
        self.node = node

    def matches(self, key: Any) -> bool:
        if self.expected.startswith("SHA256:"):
            return self.expected.rstrip("=") == fingerprint_sha256(key)
        parts = self.expected.split()
        if len(parts) >= 2:
            return parts[0] == key.get_name() and parts[1] == key.get_base64()
        return False

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if not self.matches(key):
            raise MmpHostKeyError(
                "%s: the host key of %s is %s %s, not the host_key given (%s). The node may have been reinstalled, "
                "or this is not the node you meant: check the fingerprint on the node before changing host_key "
                "(the cms_host_key variable)."
                % (self.node, hostname, key.get_name(), fingerprint_sha256(key), self.expected),
                node=self.node,
            )


def _host_and_port(hostname: str) -> tuple[str, str]:
    """``[10.0.0.1]:2222`` -> (``10.0.0.1``, ``2222``); a bare name is on port 22 (paramiko's known_hosts names)."""
    if hostname.startswith("[") and "]:" in hostname:
        host, _sep, port = hostname[1:].partition("]:")
        return host, port
    return hostname, "22"


def _keyscan_type(key_name: str) -> str:
    """The ``ssh-keyscan -t`` name of an SSH key type: ``ssh-ed25519`` -> ``ed25519``, ``ecdsa-sha2-*`` -> ``ecdsa``."""
    if key_name.startswith("ecdsa-"):
        return "ecdsa"
    return key_name[4:] if key_name.startswith("ssh-") else key_name


class _AcceptNewPolicy:
    """Opt-in trust on first use: an unknown key is added to the known_hosts file; a changed key still fails."""

    def __init__(self, path: str, node: str) -> None:
        self.path = path
        self.node = node
        self.added: str | None = None

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        line = "%s %s %s\n" % (hostname, key.get_name(), key.get_base64())
        directory = os.path.dirname(self.path)
        try:
            if directory and not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700)
            with open(self.path, "a") as fh:
                try:
                    import fcntl

                    fcntl.flock(fh, fcntl.LOCK_EX)
                except ImportError:  # pragma: no cover
                    pass
                fh.write(line)
            self.added = "%s %s" % (key.get_name(), fingerprint_sha256(key))
        except OSError as exc:
            raise MmpHostKeyError(
                "%s: cannot record the new host key of %s in %s (%s); nothing was sent to the node"
                % (self.node, hostname, self.path, exc),
                node=self.node,
            ) from None


class _RejectPolicy:
    def __init__(self, path: str, node: str, jump: bool = False) -> None:
        self.path = path
        self.node = node
        self.jump = jump

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        host, port = _host_and_port(hostname)
        if self.jump:
            raise MmpHostKeyError(
                "%s: the host key of the jump host %s (%s %s) is not in %s, so it cannot be verified and nothing "
                "was sent through it. Check that fingerprint on the jump host, then add the key to that file "
                "(ssh-keyscan -p %s %s >> %s) or name the known_hosts file that has it as UserKnownHostsFile in the "
                "jump host's OpenSSH client config entry."
                % (self.node, hostname, key.get_name(), fingerprint_sha256(key), self.path, port, host, self.path),
                node=self.node,
            )
        raise MmpHostKeyError(
            "%s: the host key of %s (%s %s) is not in %s, so the node cannot be verified and nothing was sent to "
            "it. Check that fingerprint on the node, then either add the key to that file (ssh-keyscan -p %s %s >> "
            "%s), or point the cms_known_hosts variable at a known_hosts file that has it, or pin it with the "
            "cms_host_key variable, or opt in to trust on first use with cms_host_key_checking: accept_new (module "
            "options known_hosts_file, host_key, host_key_checking)."
            % (self.node, hostname, key.get_name(), fingerprint_sha256(key), self.path, port, host, self.path),
            node=self.node,
        )


class MmpSession:
    """One SSH connection to one CMS node: ``run()`` MMP commands in its shell, move files over its SFTP channel.

    The connection goes where ``_connection.resolve_route`` says: directly, through jump hosts (each its own SSH
    connection, the next one carried in a ``direct-tcpip`` channel of the previous), or through a ProxyCommand.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        private_key_file: str | None = None,
        private_key_passphrase: str | None = None,
        known_hosts_file: str | None = None,
        host_key: str | None = None,
        host_key_checking: str = "strict",
        connect_timeout: float | None = None,
        command_timeout: float = 120,
        name: str | None = None,
        **route_options: Any,
    ) -> None:
        self.host = host
        self.port = int(port or DEFAULT_PORT)
        self.username = username or DEFAULT_USERNAME
        self._password = password
        self._key_file = private_key_file
        self._key_passphrase = private_key_passphrase
        self.known_hosts_file = os.path.expanduser(known_hosts_file or DEFAULT_KNOWN_HOSTS)
        self.host_key = host_key
        self.host_key_checking = host_key_checking
        self.connect_timeout = float(connect_timeout or DEFAULT_CONNECT_TIMEOUT)
        self.command_timeout = float(command_timeout or 120)
        self.name = name or ("%s:%s" % (host, self.port) if self.port != DEFAULT_PORT else host)
        # proxy_jump, proxy_command, ssh_config_file, ssh_args, ssh_common_args, ssh_extra_args
        self._route_options = {
            "host": host,
            "port": port,
            "username": username,
            "private_key_file": private_key_file,
            "known_hosts_file": known_hosts_file,
            "connect_timeout": connect_timeout,
            **route_options,
        }
        self.client: Any = None
        self._jumps: list[Any] = []
        self.shell: Any = None
        self._sftp: Any = None
        self.prompt_re: re.Pattern[str] | None = None
        self.hostname: str | None = None
        # (command, output) pairs, for callers that return what ran; output None when it was sensitive
        self.transcript: list[tuple[str, str | None]] = []
        self.host_key_added: str | None = (
            None  # set when host_key_checking=accept_new trusted a new key on this connection
        )
        # What the caller should tell the user (ssh arguments that were not honoured).
        self.warnings: list[str] = []
        # The node's key files that cannot be used (encrypted without a passphrase, or a wrong one), as sentences.
        self._key_problems: list[str] = []
        # Told, on every read, that a command is still running (a restart, a backup): CmsModule.progress, which
        # rate-limits, so that a long command shows the run is alive.
        self.progress: Callable[..., None] | None = None

    # ---- connecting -------------------------------------------------------------------------------------------
    def connect(self) -> MmpSession:
        if not HAS_PARAMIKO:
            raise MmpConnectError("the paramiko Python library is required on the controller", node=self.name)
        try:
            route = resolve_route(self._route_options)
        except (ValueError, OSError) as exc:
            # Bad connection options (an unreadable jump host, a missing -F file): the task fails, not unreachable.
            raise MmpValidationError(
                "%s: %s; nothing was sent to the node" % (self.name, exc), node=self.name
            ) from None
        self.warnings.extend(route.warnings)
        node = route.node
        self.host, self.port, self.username = node.hostname, node.port, node.username or DEFAULT_USERNAME
        self.known_hosts_file = node.known_hosts_file or self.known_hosts_file
        self.connect_timeout = route.connect_timeout
        kwargs = self._credentials(node)
        try:
            sock = self._open_route(route)
            client, policy = self._client(node, pin=self.host_key, label=self.name)
            self.client = client
            self._connect_client(client, node, kwargs, sock, label=self.name)
        except BaseException:
            self.close()
            raise
        if route.keepalive:
            client.get_transport().set_keepalive(route.keepalive)
        if isinstance(policy, _AcceptNewPolicy) and policy.added:
            self.host_key_added = "%s (%s), added to %s" % (policy.added, self.name, self.known_hosts_file)
        return self

    def _credentials(self, node: Endpoint) -> dict[str, Any]:
        """Login options for the node, checked before any network traffic."""
        kwargs: dict[str, Any] = {"allow_agent": False, "look_for_keys": False}
        if self._key_file and not os.path.isfile(os.path.expanduser(self._key_file)):
            raise MmpAuthError(
                "the private key file %s given for %s (ansible_ssh_private_key_file or the private_key_file option) "
                "does not exist on the controller" % (os.path.expanduser(self._key_file), self.name),
                node=self.name,
            )
        if self._password is not None:
            kwargs["password"] = self._password
        if node.key_files:
            kwargs["key_filename"] = node.key_files
            if self._key_passphrase is not None:
                kwargs["passphrase"] = self._key_passphrase
            self._key_problems = [
                problem
                for problem in (key_file_problem(path, self._key_passphrase) for path in node.key_files)
                if problem
            ]
            # No key that can be used and no password: paramiko would try anyway and end with "Invalid key", which
            # reads like a network fault. Say what is wrong with the key, before any traffic.
            if self._password is None and len(self._key_problems) == len(node.key_files):
                raise MmpAuthError(self._key_message(), node=self.name)
        # An ssh-agent (AWX hands a Machine credential's key over one) is asked only when no password and no key
        # file are given: a password or key login then never sees stray agent keys count against MaxAuthTries.
        if self._password is None and not node.key_files:
            if not os.environ.get("SSH_AUTH_SOCK"):
                raise MmpAuthError(
                    "no credentials for %s: set ansible_password or ansible_ssh_private_key_file for this host "
                    "(or the module's password / private_key_file options), or start an ssh-agent holding the key "
                    "(SSH_AUTH_SOCK)" % self.name,
                    node=self.name,
                )
            kwargs["allow_agent"] = True
        return kwargs

    def _client(self, endpoint: Endpoint, pin: str | None, label: str) -> tuple[Any, Any]:
        """An SSH client that verifies ``endpoint``'s host key: pinned, or by its known_hosts file."""
        client = paramiko.SSHClient()
        known_hosts = endpoint.known_hosts_file or self.known_hosts_file
        if pin:
            policy: Any = _PinnedKeyPolicy(pin, label)
        else:
            if os.path.exists(known_hosts):
                try:
                    client.load_host_keys(known_hosts)
                except (OSError, paramiko.SSHException) as exc:
                    raise MmpHostKeyError(
                        "cannot read known_hosts file %s: %s" % (known_hosts, exc), node=self.name
                    ) from None
            if self.host_key_checking == "accept_new":
                policy = _AcceptNewPolicy(known_hosts, label)
            else:
                policy = _RejectPolicy(known_hosts, label, jump=label != self.name)
        client.set_missing_host_key_policy(policy)
        return client, policy

    def _open_route(self, route: Route) -> Any:
        """The socket the node's SSH connection runs over: a ProxyCommand, the last jump host's channel, or None."""
        if route.proxy_command:
            try:
                return paramiko.ProxyCommand(route.proxy_command)
            except (OSError, paramiko.SSHException) as exc:
                raise MmpUnreachable(
                    "cannot start the ProxyCommand for %s (%s): %s" % (self.name, route.proxy_command, exc),
                    node=self.name,
                ) from None
        sock = None
        hops = [*route.jumps, route.node]
        for jump, following in itertools.pairwise(hops):
            label = "%s (jump host %s on the way to it)" % (self.name, jump.label)
            client, _policy = self._client(jump, pin=None, label=label)
            self._jumps.append(client)
            # A jump host's own login: its config entry's key files, the agent, ~/.ssh keys; never the node's
            # password, which belongs to the CMS admin.
            login = {"allow_agent": True, "look_for_keys": True, "key_filename": jump.key_files or None}
            self._connect_client(client, jump, login, sock, label=label)
            try:
                sock = client.get_transport().open_channel(
                    "direct-tcpip", (following.hostname, following.port), ("127.0.0.1", 0), timeout=self.connect_timeout
                )
            except (OSError, paramiko.SSHException, EOFError) as exc:
                raise MmpUnreachable(
                    "the jump host %s could not open a connection to %s port %d for %s: %s. Check that it may "
                    "forward TCP (AllowTcpForwarding) and that it reaches the node."
                    % (jump.label, following.hostname, following.port, self.name, str(exc) or type(exc).__name__),
                    node=self.name,
                ) from None
        return sock

    def _connect_client(self, client: Any, endpoint: Endpoint, login: dict[str, Any], sock: Any, label: str) -> None:
        """Connect ``client`` to ``endpoint``; every failure becomes an ``MmpError`` that says what to check."""
        try:
            client.connect(
                hostname=endpoint.hostname,
                port=endpoint.port,
                username=endpoint.username,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                sock=sock,
                **login,
            )
        except MmpHostKeyError:
            raise
        except paramiko.BadHostKeyException as exc:
            raise self._mismatch(exc, label, endpoint, endpoint.known_hosts_file or self.known_hosts_file) from None
        except paramiko.AuthenticationException as exc:
            raise self._auth_failed(exc, endpoint, label) from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise self._unreachable(exc, endpoint, label, client.get_transport()) from None

    def _mismatch(self, exc: Any, label: str, endpoint: Endpoint, known_hosts: str) -> MmpHostKeyError:
        offered, known = exc.key.get_name(), exc.expected_key.get_name()
        # The host's name in known_hosts: ``[host]:port`` off port 22, as OpenSSH and paramiko write it.
        entry = endpoint.hostname if endpoint.port == DEFAULT_PORT else "[%s]:%d" % (endpoint.hostname, endpoint.port)
        if offered != known:
            # paramiko compares the offered key with whatever key known_hosts has for the host; a key of another type
            # is no evidence of interception (OpenSSH treats it as unknown), but it cannot verify the node either.
            return MmpHostKeyError(
                "%s: %s has no %s key for %s, only a %s key (%s), and the node offered %s %s, so it cannot be "
                "verified and nothing was sent to it. Check that fingerprint on the node's console, then add the "
                "key: ssh-keyscan -t %s -p %d %s >> %s"
                % (
                    label,
                    known_hosts,
                    offered,
                    entry,
                    known,
                    fingerprint_sha256(exc.expected_key),
                    offered,
                    fingerprint_sha256(exc.key),
                    _keyscan_type(offered),
                    endpoint.port,
                    endpoint.hostname,
                    known_hosts,
                ),
                node=self.name,
            )
        return MmpHostKeyError(
            "HOST KEY MISMATCH for %s: %s holds %s for %s but the node offered %s %s. Someone may be "
            "intercepting the connection, or the node was reinstalled; nothing was sent to it. Verify the "
            "node's fingerprint on its console, then remove the old entry (ssh-keygen -R '%s' -f %s) and add "
            "the new one."
            % (
                label,
                known_hosts,
                fingerprint_sha256(exc.expected_key),
                entry,
                exc.key.get_name(),
                fingerprint_sha256(exc.key),
                entry,
                known_hosts,
            ),
            node=self.name,
        )

    def _key_message(self) -> str:
        return "cannot log in to %s with its private key: %s; nothing was sent to the node" % (
            self.name,
            "; ".join(self._key_problems),
        )

    def _auth_failed(self, exc: Exception, endpoint: Endpoint, label: str) -> MmpAuthError:
        if label == self.name and self._key_problems:
            # The password was refused as well; the key is the part the user can fix for sure.
            return MmpAuthError(
                "authentication failed for %s@%s: the password was refused and %s"
                % (self.username, self.name, "; ".join(self._key_problems)),
                node=self.name,
            )
        if label != self.name:
            return MmpAuthError(
                "authentication failed for %s@%s, the jump host on the way to %s: its login comes from its own "
                "OpenSSH config entry (User, IdentityFile), the ssh-agent or ~/.ssh keys, never from the node's "
                "password" % (endpoint.username, endpoint.label, self.name),
                node=self.name,
            )
        what = "ansible_password (or the private key)"
        if isinstance(exc, paramiko.PasswordRequiredException):
            what = "private_key_passphrase: the private key is encrypted"
        return MmpAuthError(
            "authentication failed for %s@%s: check ansible_user and %s of this host"
            % (self.username, self.name, what),
            node=self.name,
        )

    def _unreachable(self, exc: BaseException, endpoint: Endpoint, label: str, transport: Any) -> MmpUnreachable:
        text = str(exc) or type(exc).__name__
        where = "%s (%s port %d)" % (label, endpoint.hostname, endpoint.port)
        # paramiko stops waiting for the SSH handshake at banner_timeout without an error of its own, and the login
        # that follows finds "No existing session": that is the handshake that timed out.
        stalled = transport is not None and "no existing session" in text.lower()
        # paramiko words a banner that never came as "Error reading SSH protocol banner", raised from the timeout.
        timed_out = isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
        if timed_out or "timed out" in text.lower() or stalled:
            if stalled and transport.remote_version:
                what = "negotiating the SSH session with"
            elif stalled or "banner" in text.lower():
                what = "waiting for the SSH banner of"
            else:
                what = "connecting to"
            return MmpUnreachable(
                "timed out after %d s %s %s: it accepts no SSH session. Check that the node is up, that "
                "ansible_host/ansible_port point at its MMP (SSH) interface, and the route to it (a jump host, a "
                "firewall); ansible_ssh_timeout (the connect_timeout option) sets how long to wait."
                % (int(self.connect_timeout), what, where),
                node=self.name,
            )
        return MmpUnreachable(
            "cannot connect to %s: %s. Check that the node is up, ansible_host/ansible_port point at its MMP (SSH) "
            "interface, and that the controller can reach it." % (where, text),
            node=self.name,
        )

    def open_shell(self) -> Any:
        if self.shell is not None:
            return self.shell
        try:
            self.shell = self.client.invoke_shell(term="vt100", width=511, height=0)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise MmpConnectError("cannot open a shell on %s: %s" % (self.name, exc), node=self.name) from None
        # The first prompt after login tells the node's hostname: ``cms1> `` [H].
        raw = self._read("(login)", PROMPT_RE, self.connect_timeout)
        found = PROMPT_RE.search(raw)
        if found is None:  # pragma: no cover - _read returns only once PROMPT_RE matches
            raise MmpConnectError("no MMP prompt from %s after login" % self.name, node=self.name)
        self.hostname = found.group("hostname")
        self.prompt_re = prompt_re_for(found.group("hostname"))
        return self.shell

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        # The jump hosts' connections close last, nearest to the node first.
        for jump in reversed(self._jumps):
            jump.close()
        self._jumps = []
        self.client = self.shell = self._sftp = None

    def __enter__(self) -> MmpSession:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- commands ---------------------------------------------------------------------------------------------
    def _recv(self, timeout: float) -> str:
        self.shell.settimeout(max(0.01, min(timeout, 0.5)))
        try:
            data = self.shell.recv(65536)
        except TimeoutError:
            return ""
        if not data:
            raise EOFError()
        return data.decode("utf-8", "replace")

    def _read(
        self,
        command: str,
        end_re: re.Pattern[str],
        timeout: float,
        confirm: bool | None = None,
        sensitive: bool = False,
    ) -> str:
        """Read until ``end_re`` matches the end of the output; answer ``(Y/n)`` per ``confirm``."""
        raw = ""
        answered = False
        start = time.monotonic()
        deadline = start + timeout
        while True:
            left = deadline - time.monotonic()
            if self.progress is not None:
                self.progress(
                    "%s: waiting for %s to finish: running for %ds (command_timeout %ds)"
                    % (self.name, command if not sensitive else command.split()[0], timeout - left, timeout),
                    elapsed=timeout - left,
                )
            if left <= 0:
                shown = SECRET_MARK if sensitive else normalize_output(raw)[-2000:]
                raise MmpTimeout(
                    "timed out after %ss waiting for %s to finish on %s; last output:\n%s"
                    % (int(timeout), command, self.name, shown),
                    node=self.name,
                    command=command,
                    output=None if sensitive else normalize_output(raw),
                )
            try:
                raw += self._recv(left)
            except (OSError, EOFError, paramiko.SSHException):
                shown = SECRET_MARK if sensitive else normalize_output(raw)[-2000:]
                raise MmpConnectError(
                    "the connection to %s dropped while running %s; last output:\n%s\nWhat ran on the node is "
                    "unknown past that point: check its state before retrying." % (self.name, command, shown),
                    node=self.name,
                    command=command,
                    output=None if sensitive else normalize_output(raw),
                ) from None
            text = normalize_output(raw)
            if not answered and CONFIRM_RE.search(text):
                if confirm is None:
                    # Never say yes to a question the caller did not expect.
                    self.shell.sendall(b"n\r")
                    answered = True
                    raise MmpCommandError(
                        "%s asked for a confirmation this module did not expect; it was answered 'n' and nothing "
                        "was changed. Output:\n%s" % (command, text),
                        node=self.name,
                        command=command,
                        output=text,
                    )
                # The MMP proceeds only on a capital Y [H]; it prints the whole warning before reading it.
                self.shell.sendall((CONFIRM_ANSWER if confirm else "n").encode() + b"\r")
                answered = True
                continue
            if end_re.search(raw):
                return raw

    def run(
        self,
        command: str,
        confirm: bool | None = None,
        timeout: float | None = None,
        sensitive: bool = False,
        check: bool = True,
    ) -> str:
        """Run one MMP command and return its output (without the echo and the prompt).

        ``confirm``: ``True`` answers a ``(Y/n)`` with ``Y``, ``False`` answers ``n``, ``None`` (default) answers
        ``n`` and raises: a question the caller did not expect is never agreed to.  ``check``: raise
        ``MmpCommandError`` when the output carries an error.  ``sensitive``: never put the output in an error
        (``turn`` prints its password).
        """
        if "\n" in command or "\r" in command:
            raise ValueError("a command must be one line")
        self.open_shell()
        prompt_re = self.prompt_re
        if prompt_re is None:  # pragma: no cover - open_shell() sets it
            raise MmpConnectError("no shell open on %s" % self.name, node=self.name)
        self.shell.sendall((command + "\r").encode("utf-8"))
        raw = self._read(command, prompt_re, self.command_timeout if timeout is None else timeout, confirm, sensitive)
        text = normalize_output(prompt_re.sub("", raw))
        first, _sep, rest = text.partition("\n")
        output = rest if first.strip() == command.strip() else text
        self.transcript.append((command, None if sensitive else output))
        if check:
            error = find_error(output)
            if error:
                raise MmpCommandError(
                    "%s failed on %s: %s" % (command, self.name, SECRET_MARK if sensitive else error),
                    node=self.name,
                    command=command,
                    output=None if sensitive else output,
                )
        return output

    # ---- files ------------------------------------------------------------------------------------------------
    @property
    def sftp(self) -> Any:
        if self._sftp is None:
            try:
                self._sftp = self.client.open_sftp()
            except (OSError, paramiko.SSHException, EOFError) as exc:
                raise MmpConnectError("cannot open SFTP on %s: %s" % (self.name, exc), node=self.name) from None
        return self._sftp

    def _sftp_call(self, what: str, func: Callable[..., Any], *args: Any) -> Any:
        """Run one SFTP operation; a refusal by the node and a dropped connection both end as an ``MmpError``."""
        try:
            return func(*args)
        except OSError as exc:
            # paramiko reports a closed channel as an OSError without errno ("Socket is closed").
            if exc.errno is None and "closed" in str(exc).lower():
                raise self._sftp_dropped(what, exc) from None
            raise MmpCommandError(
                "%s failed on %s: %s" % (what, self.name, exc.strerror or exc), node=self.name, command=what
            ) from None
        except (paramiko.SSHException, EOFError) as exc:
            raise self._sftp_dropped(what, exc) from None

    def _sftp_dropped(self, what: str, exc: BaseException) -> MmpConnectError:
        return MmpConnectError(
            "the connection to %s dropped during %s (%s). What happened on the node is unknown past that point: "
            "check its state before retrying." % (self.name, what, str(exc) or type(exc).__name__),
            node=self.name,
            command=what,
        )

    def listdir(self) -> list[str]:
        return self._sftp_call("sftp ls", self.sftp.listdir, "/")

    def exists(self, name: str) -> bool:
        try:
            self.sftp.stat("/" + name)
        except OSError:
            return False
        except (paramiko.SSHException, EOFError) as exc:
            raise self._sftp_dropped("sftp stat " + name, exc) from None
        return True

    def size(self, name: str) -> int | None:
        """The size of ``name`` in the node's store, ``None`` when there is no such file."""
        try:
            return int(self.sftp.stat("/" + name).st_size)
        except OSError:
            return None
        except (paramiko.SSHException, EOFError) as exc:
            raise self._sftp_dropped("sftp stat " + name, exc) from None

    def download(self, name: str) -> bytes:
        """Fetch ``name``; the size must match what the node reports for it."""

        def get() -> tuple[int | None, bytes]:
            size = self.sftp.stat("/" + name).st_size
            with self.sftp.open("/" + name, "rb") as fh:
                fh.prefetch()
                return size, fh.read()

        size, data = self._sftp_call("sftp get " + name, get)
        if size is not None and len(data) != size:
            raise MmpCommandError(
                "download of %s from %s is incomplete (%d of %d bytes); retry" % (name, self.name, len(data), size),
                node=self.name,
                command="sftp get " + name,
            )
        return data

    def upload(self, name: str, data: bytes) -> str:
        """Write ``name`` through a temporary name, verify the SHA-256 on the node, then move it into place.

        A corrupt or partial transfer never takes the final name, so a half-written file cannot be used.
        """
        want = hashlib.sha256(data).hexdigest()
        part = name + ".part"

        def put() -> None:
            with self.sftp.open("/" + part, "wb") as fh:
                fh.set_pipelined(True)
                fh.write(data)

        self._sftp_call("sftp put " + name, put)
        got = hashlib.sha256(self.download(part)).hexdigest()
        if got != want:
            self.remove(part)
            raise MmpCommandError(
                "upload of %s to %s arrived corrupt: SHA-256 on the node is %s, expected %s. The corrupt copy was "
                "removed and nothing uses it; retry." % (name, self.name, got, want),
                node=self.name,
                command="sftp put " + name,
            )
        if self.exists(name):
            self.remove(name)
        self.rename(part, name)
        return want

    def remove(self, name: str) -> None:
        self._sftp_call("sftp rm " + name, self.sftp.remove, "/" + name)

    def rename(self, old: str, new: str) -> None:
        self._sftp_call("sftp rename %s %s" % (old, new), self.sftp.rename, "/" + old, "/" + new)
