# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The session runner: the one life cycle of a module call that talks to a node.

It checks the controller's libraries, opens the SSH session (saying so when it trusted an unknown host key, which
is opt-in and never silent), runs a verb set through ``read_state -> plan -> (check mode returns) -> apply -> dump``,
hands the verb set fresh sessions when it needs one (a rollback after a drop), closes every session it opened, and
turns an ``MmpError`` into ``fail_json`` naming the node, the command and what the node printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ansible_collections.cisco_cms.mmp.plugins.module_utils._connection import session_kwargs
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpAuthError,
    MmpConnectError,
    MmpError,
    MmpHostKeyError,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import (
    HAS_PARAMIKO,
    PARAMIKO_IMPORT_ERROR,
    MmpSession,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY


class VerbSet(Protocol):
    """What the runner needs of a verb set (``session`` is the one it was built with)."""

    def read_state(self) -> None:
        """Read what is on the node now."""

    def plan(self) -> list[str]:
        """The MMP commands that bring the node to the wanted state (none: nothing to do)."""

    def apply(self) -> None:
        """Send the planned commands (not in check mode)."""

    def dump(self) -> dict[str, Any]:
        """The module result."""


def require_libraries(module: Any, *, cryptography: bool = False, paramiko: bool = True) -> None:
    """Fail the task, saying what to install, when a library the module needs is missing on the controller."""
    if cryptography and not HAS_CRYPTOGRAPHY:
        module.fail_json(
            msg="the cryptography Python library is required on the controller (pip install cryptography)",
            exception=CRYPTOGRAPHY_IMPORT_ERROR,
        )
    if paramiko and not HAS_PARAMIKO:
        module.fail_json(
            msg="the paramiko Python library is required on the controller (pip install paramiko)",
            exception=PARAMIKO_IMPORT_ERROR,
        )


def session_from_params(params: dict[str, Any], name: str | None = None) -> MmpSession:
    """The session for a module's validated parameters: every connection option, by the table's keyword."""
    return MmpSession(name=name, **session_kwargs(params))


class SessionRunner:
    """One module call against one node. Build it, then ``run(build_verb_set)`` or ``execute(logic)``."""

    def __init__(self, module: Any, *, cryptography: bool = False) -> None:
        require_libraries(module, cryptography=cryptography)
        self.module = module
        # The action plugin names the node by its inventory hostname; errors read better with it than with an address.
        self.node_name: str | None = getattr(module, "node_name", None)
        self._opened: list[MmpSession] = []

    def open_session(self, min_command_timeout: float | None = None) -> MmpSession:
        """A fresh, connected session to the node; every one is closed when the call ends.

        ``min_command_timeout``: a rollback must outlast what made the change fail, so it may wait longer per
        command than the task asked for.
        """
        session = session_from_params(self.module.params, self.node_name)
        if min_command_timeout is not None:
            session.command_timeout = max(session.command_timeout, min_command_timeout)
        session.progress = getattr(self.module, "progress", None)
        self._opened.append(session)
        try:
            session.connect()
        finally:
            # What of the ssh arguments was not honoured is said whether or not the node was reached.
            for warning in session.warnings:
                self.module.warn(warning)
        if session.host_key_added:
            # Trust on first use is opt-in (host_key_checking: accept_new), and never silent.
            self.module.warn("trusted the unknown host key %s" % session.host_key_added)
        return session

    def execute(self, logic: Callable[[MmpSession], dict[str, Any]]) -> None:
        """Run ``logic(session) -> result`` on a fresh session and end the module call with its result.

        An ``MmpError`` that carries a ``result`` (what was done before it failed) keeps it in the failed result.
        """
        failure = None
        try:
            try:
                session = self.open_session()
            except (MmpAuthError, MmpHostKeyError):
                raise  # a node that answered and refused: the task failed, the host was reached
            except MmpConnectError as exc:
                # Nothing was done on a node that could not be reached: Ansible counts such a host as unreachable.
                failure = {"unreachable": True, "changed": False, **exc.to_fail_kwargs()}
            else:
                result = logic(session)
        except MmpError as exc:
            failure = {**getattr(exc, "result", {}), **exc.to_fail_kwargs()}
        finally:
            self.close()
        if failure is not None:
            self.module.fail_json(**failure)
        self.module.exit_json(**result)

    def run(self, build: Callable[[MmpSession], VerbSet]) -> None:
        """``read_state``, ``plan``; in check mode ``dump`` what would happen, else ``apply`` and ``dump`` what did."""
        self.execute(lambda session: self.drive(build(session), self.module.check_mode))

    @staticmethod
    def drive(verb: VerbSet, check_mode: bool) -> dict[str, Any]:
        verb.read_state()
        verb.plan()
        if not check_mode:
            # apply() may have controller work left with no MMP command (fetching a backup that exists).
            verb.apply()
        return verb.dump()

    def close(self) -> None:
        for session in self._opened:
            session.close()
        self._opened = []
