# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Argument specs shared by every module: the connection options (documented in doc_fragments/_connection.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import (
    HAS_PARAMIKO,
    PARAMIKO_IMPORT_ERROR,
    MmpSession,
)

CONNECTION_SPEC = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int", "default": 22},
    "username": {"type": "str", "default": "admin"},
    "password": {"type": "str", "no_log": True},
    "private_key_file": {"type": "path"},
    "private_key_passphrase": {"type": "str", "no_log": True},
    "known_hosts_file": {"type": "path"},
    "host_key": {"type": "str", "no_log": False},
    "host_key_checking": {"type": "str", "default": "strict", "choices": ["strict", "accept_new"]},
    "connect_timeout": {"type": "int", "default": 30},
    "command_timeout": {"type": "int", "default": 120},
}


def with_connection(spec: dict) -> dict:
    """A module's own options plus the connection options."""
    merged = dict(CONNECTION_SPEC)
    merged.update(spec)
    return merged


def session_from_params(params: dict, name: str | None = None) -> MmpSession:
    return MmpSession(
        name=name,
        host=params["host"],
        port=params["port"],
        username=params["username"],
        password=params.get("password"),
        private_key_file=params.get("private_key_file"),
        private_key_passphrase=params.get("private_key_passphrase"),
        known_hosts_file=params.get("known_hosts_file"),
        host_key=params.get("host_key"),
        host_key_checking=params["host_key_checking"],
        connect_timeout=params["connect_timeout"],
        command_timeout=params["command_timeout"],
    )


def run_with_session(module: Any, logic: Callable[[Any, MmpSession], dict[str, Any]]) -> None:
    """Open one SSH connection for the module call, run ``logic(module, session) -> result dict``, exit.

    Every ``MmpError`` becomes a ``fail_json`` naming the node, the command and what the node printed.  The
    connection is closed on every path.
    """
    if not HAS_PARAMIKO:
        module.fail_json(
            msg="the paramiko Python library is required on the controller (pip install paramiko)",
            exception=PARAMIKO_IMPORT_ERROR,
        )
    # The action plugin names the node by its inventory hostname; errors read better with it than with an address.
    session = session_from_params(module.params, getattr(module, "node_name", None))
    failure = None
    try:
        session.connect()
        if session.host_key_added:
            # Trust on first use is opt-in (host_key_checking: accept_new), and never silent.
            module.warn("trusted the unknown host key %s" % session.host_key_added)
        result = logic(module, session)
    except MmpError as exc:
        failure = exc.to_fail_kwargs()
    finally:
        session.close()
    if failure is not None:
        module.fail_json(**failure)
    module.exit_json(**result)
