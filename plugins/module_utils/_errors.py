# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The errors of the collection: each one names the node, the command, what the node printed and what to do next.

Modules catch ``MmpError`` and end with ``module.fail_json(**exc.to_fail_kwargs())``.
"""

from __future__ import annotations

from typing import Any

# How much of the node's output goes into ``msg``; the whole output is returned as ``stdout``.
MSG_OUTPUT_LINES = 15


class MmpError(Exception):
    """Base class.  ``message`` says what went wrong; ``hint`` what to do next."""

    def __init__(
        self,
        message: str,
        node: str | None = None,
        command: str | None = None,
        output: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.node = node
        self.command = command
        self.output = output
        self.hint = hint

    def full_message(self) -> str:
        """One message for a human: node, command, what the node printed, and the hint.

        Parts the message already states (transport messages often name the node and the command) are not
        repeated.
        """
        text = self.message.rstrip()
        if self.node and self.node not in text:
            text = "%s: %s" % (self.node, text)
        if self.command and self.command not in text:
            text = "%s (command: %s)" % (text, self.command)
        excerpt = _excerpt(self.output)
        if excerpt and excerpt not in text:
            text = "%s\nThe node printed:\n%s" % (text, excerpt)
        if self.hint and self.hint not in text:
            text = "%s\n%s" % (text, self.hint.strip())
        return text

    def __str__(self) -> str:
        return self.full_message()

    def to_fail_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AnsibleModule.fail_json``."""
        return {"msg": self.full_message(), "command": self.command, "stdout": self.output}


class MmpConnectError(MmpError):
    """The SSH/SFTP connection could not be made or dropped."""


class MmpUnreachable(MmpConnectError):
    """The node (or a jump host on the way) could not be reached at all: Ansible counts the host as unreachable."""

    def to_fail_kwargs(self) -> dict[str, Any]:
        return {**super().to_fail_kwargs(), "unreachable": True}


class MmpAuthError(MmpConnectError):
    """The node refused the credentials."""


class MmpHostKeyError(MmpConnectError):
    """The node's host key is unknown or differs from the known one."""


class MmpCommandError(MmpError):
    """The node answered a command with an error (``ERROR:``, ``FAILURE:``, a usage text...)."""


class MmpTimeout(MmpError):
    """The node did not come back to its prompt in time."""


class MmpValidationError(MmpError):
    """Bad input, found before anything is sent to a node."""


class MmpParseError(MmpError):
    """The node's output is empty or does not have the shape a parser needs."""


def _excerpt(output: str | None) -> str:
    if not output:
        return ""
    lines = [line.rstrip() for line in output.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    if len(lines) > MSG_OUTPUT_LINES:
        skipped = len(lines) - MSG_OUTPUT_LINES
        lines = ["[... %d earlier lines, see stdout ...]" % skipped, *lines[-MSG_OUTPUT_LINES:]]
    return "\n".join(lines)
