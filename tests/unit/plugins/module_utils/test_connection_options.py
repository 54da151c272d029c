"""The connection options' one table, its documentation, and how ssh arguments and ssh_config become a route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.cisco_cms.mmp.plugins.doc_fragments._connection import ModuleDocFragment
from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import CONNECTION_SPEC
from ansible_collections.cisco_cms.mmp.plugins.module_utils._connection import (
    CONNECTION_OPTIONS,
    parse_ssh_args,
    resolve_route,
    session_kwargs,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CONNECTION_VARS

DOCUMENTED: dict[str, Any] = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]


# ---- one table ---------------------------------------------------------------------------------------------------
def test_the_doc_fragment_documents_exactly_the_options_of_the_table() -> None:
    assert list(DOCUMENTED) == [option.name for option in CONNECTION_OPTIONS]


@pytest.mark.parametrize("option", CONNECTION_OPTIONS, ids=lambda option: option.name)
def test_each_option_is_documented_with_the_type_default_and_choices_of_the_table(option: Any) -> None:
    doc = DOCUMENTED[option.name]
    assert doc["type"] == option.type
    assert doc.get("default") == option.default
    assert doc.get("required", False) == option.required
    assert doc.get("choices") == (list(option.choices) if option.choices else None)
    # A secret says so in its documentation; what is not a secret does not claim to be.
    assert ("Never logged" in " ".join(doc["description"])) == option.no_log


@pytest.mark.parametrize("option", CONNECTION_OPTIONS, ids=lambda option: option.name)
def test_each_option_names_where_its_value_comes_from_in_its_documentation(option: Any) -> None:
    text = " ".join(DOCUMENTED[option.name]["description"])
    for variable in option.variables[:1]:
        assert variable in text, (option.name, variable)


def test_the_argument_spec_and_the_action_plugin_derive_from_the_table() -> None:
    assert list(CONNECTION_SPEC) == [option.name for option in CONNECTION_OPTIONS]
    assert CONNECTION_SPEC["password"]["no_log"] is True and CONNECTION_SPEC["host_key"]["no_log"] is False
    for option in CONNECTION_OPTIONS:
        assert CONNECTION_VARS[option.name] == (option.plugin_option, option.variables)


def test_a_session_is_built_with_every_option_of_the_table() -> None:
    params = {option.name: None for option in CONNECTION_OPTIONS} | {"host": "cms1", "host_key_checking": "strict"}
    session = MmpSession(**session_kwargs(params))
    assert (session.host, session.port, session.username, session.connect_timeout) == ("cms1", 22, "admin", 30.0)


# ---- ssh arguments ---------------------------------------------------------------------------------------------
def test_ssh_arguments_give_the_settings_openssh_would_take_first_value_wins() -> None:
    settings, warnings = parse_ssh_args(
        "-C -o ControlMaster=auto -o ControlPersist=60s",
        "-J admin@bastion:2222 -o ProxyJump=other -F /etc/cms_ssh -p 2200 -l ops -i ~/.ssh/id_cms",
        '-oConnectTimeout=7 -o "ServerAliveInterval 15" -o UserKnownHostsFile=/x/kh -o Port=1',
    )
    assert settings == {
        "proxyjump": "admin@bastion:2222",
        "configfile": "/etc/cms_ssh",
        "port": "2200",
        "user": "ops",
        "identityfile": "~/.ssh/id_cms",
        "connecttimeout": "7",
        "serveraliveinterval": "15",
        "userknownhostsfile": "/x/kh",
    }
    assert warnings == []


def test_a_proxycommand_keeps_its_own_arguments() -> None:
    settings, _warnings = parse_ssh_args("-o ProxyCommand='ssh -W %h:%p -q bastion'")
    assert settings == {"proxycommand": "ssh -W %h:%p -q bastion"}


def test_ssh_arguments_that_are_not_honoured_are_named_in_a_warning() -> None:
    _settings, warnings = parse_ssh_args("-o StrictHostKeyChecking=no -A -o ForwardAgent=yes -L 80:x:80")
    assert warnings == [
        "ignored the ssh option -o StrictHostKeyChecking=no: host keys are always verified (see the "
        "host_key_checking option)",
        "ignored the ssh option -A: not supported by cisco_cms.mmp",
        "ignored the ssh option -o ForwardAgent=yes: not supported by cisco_cms.mmp",
        "ignored the ssh option -L 80:x:80: not supported by cisco_cms.mmp",
    ]


# ---- routes ------------------------------------------------------------------------------------------------------
def options(**given: Any) -> dict[str, Any]:
    return {"host": "cms1", "ssh_config_file": "none", **given}


def test_module_options_win_over_ssh_arguments_which_win_over_ssh_config(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host cms1\n  HostName 10.0.0.1\n  Port 2022\n  User cfg\n  ProxyJump cfgjump\n")
    route = resolve_route(options(ssh_config_file=str(config), ssh_common_args="-o User=argsuser -J argsjump"))
    assert (route.node.hostname, route.node.port, route.node.username) == ("10.0.0.1", 2022, "argsuser")
    assert [jump.hostname for jump in route.jumps] == ["argsjump"]
    route = resolve_route(options(ssh_config_file=str(config), port=22, username="admin", proxy_jump="none"))
    assert (route.node.port, route.node.username, route.jumps, route.proxy_command) == (22, "admin", [], None)


def test_a_chain_of_jump_hosts_is_completed_from_each_one_s_config_entry(tmp_path: Path) -> None:
    key = tmp_path / "jump_key"
    key.write_text("")
    config = tmp_path / "config"
    config.write_text(f"Host b1\n  HostName 198.51.100.1\n  User j\n  IdentityFile {key}\n  UserKnownHostsFile /j/kh\n")
    route = resolve_route(options(ssh_config_file=str(config), proxy_jump="b1,ops@[2001:db8::2]:2222"))
    first, second = route.jumps
    assert (first.hostname, first.port, first.username, first.key_files, first.known_hosts_file) == (
        "198.51.100.1",
        22,
        "j",
        [str(key)],
        "/j/kh",
    )
    assert (second.hostname, second.port, second.username) == ("2001:db8::2", 2222, "ops")


def test_a_proxycommand_gets_the_node_s_address_and_port() -> None:
    route = resolve_route(options(port=2201, proxy_command="ssh -W %h:%p bastion", host="192.0.2.11"))
    assert route.proxy_command == "ssh -W 192.0.2.11:2201 bastion"
    assert route.jumps == []


def test_timeouts_come_from_the_option_then_connecttimeout_then_the_default() -> None:
    assert resolve_route(options(connect_timeout=5, ssh_args="-o ConnectTimeout=9")).connect_timeout == 5
    assert resolve_route(options(ssh_args="-o ConnectTimeout=9")).connect_timeout == 9
    assert resolve_route(options()).connect_timeout == 30


def test_a_missing_ssh_config_file_is_named() -> None:
    with pytest.raises(ValueError, match="/nonexistent/ssh_config"):
        resolve_route(options(ssh_config_file="/nonexistent/ssh_config"))


def test_a_jump_host_that_cannot_be_read_says_how_to_write_it() -> None:
    with pytest.raises(ValueError, match=r"\[user@\]host\[:port\]"):
        resolve_route(options(proxy_jump="a@b:c:d"))


def test_a_listener_that_never_sends_a_banner_is_unreachable_with_a_message_that_says_so() -> None:
    import socket

    from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpUnreachable

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        for _attempt in range(3):  # paramiko reports it two ways, depending on which of its threads notices first
            with pytest.raises(MmpUnreachable) as caught:
                MmpSession(
                    "127.0.0.1", port=port, password="x", name="cms1", connect_timeout=1, ssh_config_file="none"
                ).connect()
            assert caught.value.to_fail_kwargs()["unreachable"] is True
            assert "timed out after 1 s waiting for the SSH banner of cms1" in str(caught.value)


@pytest.mark.parametrize(
    ("option", "value", "variable"),
    [
        ("connect_timeout", 0, "ansible_ssh_timeout"),
        ("connect_timeout", -5, "ansible_ssh_timeout"),
        ("command_timeout", 0, "ansible_command_timeout"),
        ("command_timeout", -1, "ansible_command_timeout"),
    ],
)
def test_a_timeout_of_zero_or_less_is_refused_naming_the_option_and_the_fix(
    option: str, value: int, variable: str
) -> None:
    params = {o.name: None for o in CONNECTION_OPTIONS} | {"host": "cms1", "host_key_checking": "strict"}
    with pytest.raises(MmpValidationError) as raised:
        session_kwargs(params | {option: value})
    message = raised.value.message
    assert "%s is %d: it must be 1 or more (seconds)" % (option, value) in message
    assert variable in message and "nothing was sent to the node" in message
    # 1 is the least accepted, and both problems are named at once.
    assert session_kwargs(params | {option: 1})[option] == 1
    both = {"connect_timeout": 0, "command_timeout": 0}
    with pytest.raises(MmpValidationError) as raised:
        session_kwargs(params | both)
    assert "connect_timeout is 0" in raised.value.message and "command_timeout is 0" in raised.value.message
