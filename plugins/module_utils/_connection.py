# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The connection options of every node module, in one table, and how they become an SSH route to a node.

``CONNECTION_OPTIONS`` is the one place a connection option is declared: its type, default and ``no_log`` (from
which the argument spec ``CONNECTION_SPEC`` is built), where the action plugin finds its value (the host's
connection plugin option, then the inventory variables, in order) and the ``MmpSession`` keyword it is handed to.
The doc fragment ``doc_fragments/_connection.py`` documents exactly these options (a unit test holds them equal).

``resolve_route()`` turns the options into where to connect and through what, the way OpenSSH would: the module
options (task, then inventory) first, then what the ssh command-line arguments of the inventory say
(``ansible_ssh_common_args`` and friends), then the host's entry in the OpenSSH client config, then defaults.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError

try:
    from paramiko.config import SSHConfig
except ImportError:  # pragma: no cover - the runner reports a missing paramiko first
    SSHConfig = None

DEFAULT_PORT = 22
DEFAULT_USERNAME = "admin"
DEFAULT_CONNECT_TIMEOUT = 30
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_SSH_CONFIG = "~/.ssh/config"


@dataclass(frozen=True)
class ConnectionOption:
    """One connection option: its argument spec, where the action plugin reads it, and who receives it.

    ``plugin_option``: the option of the host's connection plugin (``ssh``) that holds it, so Ansible's own
    precedence (host var > group var > config/env) applies; it is read only when set somewhere, never its default.
    ``variables``: inventory variables read, in order, when the connection plugin has no such option (``-c local``)
    or the option is the collection's own.  ``session``: the ``MmpSession`` keyword (``None``: the option's name).
    """

    name: str
    type: str
    default: Any = None
    no_log: bool = False
    required: bool = False
    choices: tuple[str, ...] | None = None
    plugin_option: str | None = None
    variables: tuple[str, ...] = ()
    session: str | None = None
    # The least value allowed (a number of seconds): 0 or less would mean "wait forever" or "fail at once", which
    # no user wants; before, 0 silently meant the default.
    minimum: int | None = None
    # What the user sets it with, for the error message.
    set_with: str = ""

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.type}
        if self.required:
            spec["required"] = True
        if self.default is not None:
            spec["default"] = self.default
        if self.choices:
            spec["choices"] = list(self.choices)
        # host_key is a public key: say so, or Ansible warns that an option named *key* is not no_log.
        if self.no_log or "key" in self.name or "pass" in self.name:
            spec["no_log"] = self.no_log
        return spec

    @property
    def session_keyword(self) -> str:
        return self.session or self.name


CONNECTION_OPTIONS: tuple[ConnectionOption, ...] = (
    ConnectionOption(
        "host", "str", required=True, plugin_option="host", variables=("ansible_host", "ansible_ssh_host")
    ),
    ConnectionOption("port", "int", plugin_option="port", variables=("ansible_port", "ansible_ssh_port")),
    ConnectionOption("username", "str", plugin_option="remote_user", variables=("ansible_user", "ansible_ssh_user")),
    ConnectionOption(
        "password",
        "str",
        no_log=True,
        plugin_option="password",
        variables=("ansible_password", "ansible_ssh_pass", "ansible_ssh_password"),
    ),
    ConnectionOption(
        "private_key_file",
        "path",
        plugin_option="private_key_file",
        variables=("ansible_ssh_private_key_file", "ansible_private_key_file"),
    ),
    ConnectionOption(
        "private_key_passphrase",
        "str",
        no_log=True,
        variables=("ansible_ssh_private_key_passphrase", "cms_private_key_passphrase"),
    ),
    ConnectionOption("known_hosts_file", "path", variables=("cms_known_hosts",)),
    ConnectionOption("host_key", "str", variables=("cms_host_key",)),
    ConnectionOption(
        "host_key_checking",
        "str",
        default="strict",
        choices=("strict", "accept_new"),
        variables=("cms_host_key_checking",),
    ),
    ConnectionOption(
        "connect_timeout",
        "int",
        plugin_option="timeout",
        variables=("ansible_ssh_timeout",),
        minimum=1,
        set_with="ansible_ssh_timeout (or the connect_timeout option); leave it unset for the default, %d"
        % DEFAULT_CONNECT_TIMEOUT,
    ),
    ConnectionOption(
        "command_timeout",
        "int",
        default=120,
        variables=("ansible_command_timeout",),
        minimum=1,
        set_with="ansible_command_timeout (or the command_timeout option); leave it unset for the default, 120",
    ),
    ConnectionOption("proxy_jump", "str", variables=("cms_proxy_jump",)),
    ConnectionOption("proxy_command", "str", variables=("cms_proxy_command", "ansible_paramiko_proxy_command")),
    ConnectionOption("ssh_config_file", "path", variables=("cms_ssh_config_file",)),
    ConnectionOption("ssh_args", "str", plugin_option="ssh_args", variables=("ansible_ssh_args",)),
    ConnectionOption("ssh_common_args", "str", plugin_option="ssh_common_args", variables=("ansible_ssh_common_args",)),
    ConnectionOption("ssh_extra_args", "str", plugin_option="ssh_extra_args", variables=("ansible_ssh_extra_args",)),
)

CONNECTION_SPEC: dict[str, dict[str, Any]] = {option.name: option.spec for option in CONNECTION_OPTIONS}


def option_problems(params: dict[str, Any]) -> list[str]:
    """What is wrong with the connection options in ``params`` (one sentence each, naming the option and the fix)."""
    problems = []
    for option in CONNECTION_OPTIONS:
        value = params.get(option.name)
        if option.minimum is not None and isinstance(value, int) and value < option.minimum:
            problems.append(
                "%s is %d: it must be %d or more (seconds); set %s"
                % (option.name, value, option.minimum, option.set_with)
            )
    return problems


def session_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """The ``MmpSession`` keywords for a module's validated parameters.

    Every module opens its sessions through here, so a bad connection option is refused here, once for all of
    them, before any connection: raises ``MmpValidationError``.
    """
    problems = option_problems(params)
    if problems:
        raise MmpValidationError("; ".join(problems) + "; nothing was sent to the node")
    return {option.session_keyword: params.get(option.name) for option in CONNECTION_OPTIONS}


# ---- ssh command-line arguments ----------------------------------------------------------------------------------
# OpenSSH keywords understood from ``-o`` (lower case, as ssh_config keywords are case-insensitive).
SSH_KEYWORDS = (
    "proxyjump",
    "proxycommand",
    "port",
    "user",
    "identityfile",
    "connecttimeout",
    "serveraliveinterval",
    "userknownhostsfile",
    "hostname",
)
# What tunes OpenSSH's own connection reuse and compression: meaningless for one paramiko connection per module
# call, and in Ansible's default ssh_args, so ignored without a warning.
SSH_IGNORED_QUIETLY = ("controlmaster", "controlpersist", "controlpath", "compression")
_WHY_IGNORED = {
    "stricthostkeychecking": "host keys are always verified (see the host_key_checking option)",
}
# Command-line flags that take a value -> the keyword they set (None: ignored with a warning).
_FLAG_KEYWORDS = {"-J": "proxyjump", "-p": "port", "-l": "user", "-i": "identityfile", "-F": "configfile"}
_FLAGS_WITH_VALUE = "BbcDEeFIiJLlmOoPpQRSWw"


def parse_ssh_args(*texts: str | None) -> tuple[dict[str, str], list[str]]:
    """The OpenSSH settings that ssh command-line arguments give, and the warnings for what is not honoured.

    As with ``ssh``, the first value of a keyword wins.  ``configfile`` is the ``-F`` file.
    """
    settings: dict[str, str] = {}
    warnings: list[str] = []
    words: list[str] = []
    for text in texts:
        if text:
            words.extend(shlex.split(text))
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        flag, value = word[:2], word[2:]
        if not word.startswith("-") or len(word) < 2:
            warnings.append("ignored the ssh argument %r: it is not an option" % word)
            continue
        if flag[1] not in _FLAGS_WITH_VALUE:
            if flag != "-C" or value:
                warnings.append("ignored the ssh option %s: not supported by cisco_cms.mmp" % word)
            continue
        if not value:
            if index >= len(words):
                warnings.append("ignored the ssh option %s: it has no value" % word)
                continue
            value = words[index]
            index += 1
        shown = "%s %s" % (flag, value)
        if flag == "-o":
            keyword, _sep, value = value.replace("=", " ", 1).partition(" ")
            keyword = keyword.strip().lower()
            value = value.strip()
        else:
            keyword = _FLAG_KEYWORDS.get(flag, "")
        if keyword in SSH_KEYWORDS or keyword == "configfile":
            settings.setdefault(keyword, value)
        elif keyword not in SSH_IGNORED_QUIETLY:
            why = _WHY_IGNORED.get(keyword, "not supported by cisco_cms.mmp")
            warnings.append("ignored the ssh option %s: %s" % (shown, why))
    return settings, warnings


# ---- where to connect -----------------------------------------------------------------------------------------
@dataclass
class Endpoint:
    """One SSH server on the way: a jump host or the node itself."""

    hostname: str
    port: int
    username: str | None
    key_files: list[str] = field(default_factory=list)
    known_hosts_file: str | None = None

    @property
    def label(self) -> str:
        return "%s:%d" % (self.hostname, self.port) if self.port != DEFAULT_PORT else self.hostname


@dataclass
class Route:
    """The node, and how to reach it: through a ProxyCommand, or through jump hosts in order (or directly)."""

    node: Endpoint
    jumps: list[Endpoint] = field(default_factory=list)
    proxy_command: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    keepalive: int = 0
    warnings: list[str] = field(default_factory=list)


def _first(*values: Any) -> Any:
    for value in values:
        if value not in (None, ""):
            return value
    return None


def _config_path(option: str | None, from_args: str | None) -> str | None:
    """The OpenSSH client config to read: the option, ``-F``, else ``~/.ssh/config`` when it exists."""
    chosen = _first(option, from_args)
    if chosen is not None:
        return None if chosen == "none" else os.path.expanduser(chosen)
    default = os.path.expanduser(DEFAULT_SSH_CONFIG)
    return default if os.path.isfile(default) else None


def load_ssh_config(path: str | None) -> Any:
    if path is None or SSHConfig is None:
        return None
    if not os.path.isfile(path):
        raise ValueError("the OpenSSH client config %s does not exist on the controller" % path)
    return SSHConfig.from_path(path)


def _lookup(config: Any, host: str) -> dict[str, Any]:
    return dict(config.lookup(host)) if config is not None else {}


def _key_files(*candidates: Any) -> list[str]:
    """The first candidate given (a path or a list of them), expanded; files that do not exist are skipped, as
    OpenSSH skips a missing IdentityFile."""
    for candidate in candidates:
        if candidate:
            paths = [candidate] if isinstance(candidate, str) else list(candidate)
            return [p for p in (os.path.expanduser(p) for p in paths) if os.path.isfile(p)]
    return []


def _known_hosts(value: str | None) -> str | None:
    # UserKnownHostsFile may name several files; the first is the one that is read and written.
    return os.path.expanduser(value.split()[0]) if value else None


_JUMP_RE = re.compile(r"^(?:ssh://)?(?:(?P<user>[^@]+)@)?(?P<host>\[[^\]]+\]|[^:]+)(?::(?P<port>\d+))?$")


def parse_jump(text: str, config: Any, known_hosts_file: str) -> Endpoint:
    """``[user@]host[:port]`` (or ``ssh://...``), completed from the jump host's own OpenSSH config entry."""
    found = _JUMP_RE.match(text.strip())
    if found is None:
        raise ValueError("cannot read the jump host %r: write it as [user@]host[:port]" % text)
    host = found.group("host").strip("[]")
    entry = _lookup(config, host)
    return Endpoint(
        hostname=entry.get("hostname", host),
        port=int(_first(found.group("port"), entry.get("port"), DEFAULT_PORT)),
        username=_first(found.group("user"), entry.get("user")),
        key_files=_key_files(entry.get("identityfile")),
        known_hosts_file=_first(_known_hosts(entry.get("userknownhostsfile")), known_hosts_file),
    )


def expand_proxy_command(command: str, node: Endpoint) -> str:
    tokens = {"%h": node.hostname, "%p": str(node.port), "%r": node.username or "", "%n": node.hostname, "%%": "%"}
    return re.sub(r"%[hprn%]", lambda m: tokens[m.group(0)], command)


def _proxy(jump: str | None, command: str | None) -> tuple[str, str] | None:
    if jump:
        return ("jump", jump)
    return ("command", command) if command else None


def resolve_route(options: dict[str, Any]) -> Route:
    """Where and through what to connect, from the session's options (``MmpSession`` keywords).

    Raises ``ValueError`` with what to fix when the options cannot be read.
    """
    args, warnings = parse_ssh_args(
        options.get("ssh_args"), options.get("ssh_common_args"), options.get("ssh_extra_args")
    )
    config = load_ssh_config(_config_path(options.get("ssh_config_file"), args.get("configfile")))
    entry = _lookup(config, options["host"])
    known_hosts = os.path.expanduser(
        _first(
            options.get("known_hosts_file"),
            _known_hosts(args.get("userknownhostsfile")),
            _known_hosts(entry.get("userknownhostsfile")),
            DEFAULT_KNOWN_HOSTS,
        )
    )
    node = Endpoint(
        hostname=_first(args.get("hostname"), entry.get("hostname"), options["host"]),
        port=int(_first(options.get("port"), args.get("port"), entry.get("port"), DEFAULT_PORT)),
        username=_first(options.get("username"), args.get("user"), entry.get("user"), DEFAULT_USERNAME),
        key_files=_key_files(options.get("private_key_file"), args.get("identityfile"), entry.get("identityfile")),
        known_hosts_file=known_hosts,
    )
    route = Route(node=node, warnings=warnings)
    route.connect_timeout = float(
        _first(options.get("connect_timeout"), args.get("connecttimeout"), entry.get("connecttimeout"), 0)
        or DEFAULT_CONNECT_TIMEOUT
    )
    route.keepalive = int(_first(args.get("serveraliveinterval"), entry.get("serveraliveinterval"), 0))
    # The first of ProxyJump and ProxyCommand that is set wins, as in OpenSSH; "none" means a direct connection.
    kind, value = _first(
        _proxy(options.get("proxy_jump"), options.get("proxy_command")),
        _proxy(args.get("proxyjump"), args.get("proxycommand")),
        _proxy(entry.get("proxyjump"), entry.get("proxycommand")),
    ) or (None, None)
    if value and value.strip().lower() != "none":
        if kind == "jump":
            route.jumps = [parse_jump(hop, config, known_hosts) for hop in value.split(",")]
        else:
            route.proxy_command = expand_proxy_command(value, node)
    return route
