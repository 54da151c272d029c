# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The MMP terminal: what its prompt, its ``(Y/n)`` questions and its error lines look like, and its output made plain.

The transport reads up to a prompt and answers questions with these; the parsers strip what a transcript carries
around an output with them.  Nothing here knows what a command means (that is the command builder's business).

Sources: docs/dev/mmp_reference.md (its #marks: [H] seen verbatim in a Cisco transcript, [M], [L], [GUESS]; its
#sources: the S ids).
"""

from __future__ import annotations

import re

# CSI sequences (colours, cursor moves), OSC titles, and two-byte escapes such as ``ESC =`` or ``ESC (B``.
ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>78cDEHM]")
_ANSI = r"(?:\x1b\[[0-?]*[ -/]*[@-~])*"
# The MMP prompt is the hostname, ``>`` and a space: ``cms2> `` [H].  It must be a whole line at the end of the
# output, so that a usage line ending in ``<name>`` is never taken for a prompt.
PROMPT_RE = re.compile(
    r"(?:\A|[\r\n])" + _ANSI + r"(?P<hostname>[A-Za-z0-9][A-Za-z0-9._-]*)>" + _ANSI + r" ?" + _ANSI + r"\Z"
)
# ``database cluster remove|initialize|join`` print the question inside a warning block and then wait [H]; only a
# capital ``Y`` proceeds, a lower-case ``y`` does not [H].
CONFIRM_RE = re.compile(r"\(Y/n\)")
CONFIRM_ANSWER = "Y"
# Lines in which the node reports a failure.  ``ERROR: ...`` [H] (the DB cluster certs refusal), ``FAILURE: ...``
# [H] (``enable`` checks), a usage text [H] (``backup`` without arguments), and an unknown-command message [GUESS].
# The padded ``ERROR                    : <text>`` label of ``database cluster status`` in its Error state [H] is
# state, not a command failure, so ``ERROR`` followed by spaces and a colon does not count.
ERROR_RE = re.compile(
    r"^(?:(?:ERROR|FAILURE)(?::|\b(?!\s*:))|Usage:|(?i:.*\b(?:unknown|invalid|unrecogni[sz]ed) command\b))",
    re.MULTILINE,
)
_PROMPT_LINE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*>(?: .*)?$")


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


def normalize_output(text: str) -> str:
    """ANSI escapes removed and every line ending turned into ``\\n`` (a PTY sends CRLF [GUESS])."""
    text = strip_ansi(text)
    text = re.sub(r"\r+\n", "\n", text)
    return text.replace("\r", "\n")


def output_lines(text: str) -> list[str]:
    """The lines of an output without the echoed command and prompts around it (transcripts carry both)."""
    lines = [line.rstrip() for line in normalize_output(text).split("\n")]
    while lines and (not lines[0].strip() or _PROMPT_LINE_RE.match(lines[0])):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _PROMPT_LINE_RE.match(lines[-1])):
        lines.pop()
    return lines


def prompt_re_for(hostname: str) -> re.Pattern[str]:
    """The prompt of one known node (stricter than ``PROMPT_RE``)."""
    return re.compile(r"(?:\A|[\r\n])" + _ANSI + re.escape(hostname) + ">" + _ANSI + r" ?" + _ANSI + r"\Z")


def find_error(output: str) -> str | None:
    """The node's own error text in ``output``, or ``None``.

    The first error line is returned with the lines that continue it (``Disable clustering on this node first``
    after the ``ERROR:`` line [H], the body of a usage text, several ``FAILURE:`` lines in a row), up to a blank
    line.  ``SUCCESS:`` lines among them are left out.  Whether an error is fatal is the caller's decision:
    ``FAILURE:`` is the normal answer of ``pki match`` on a mismatched pair.
    """
    lines = output_lines(output)
    for index, line in enumerate(lines):
        if ERROR_RE.match(line):
            found = [line.strip()]
            for following in lines[index + 1 :]:
                if not following.strip() or _PROMPT_LINE_RE.match(following):
                    break
                if following.startswith("SUCCESS:"):
                    continue
                found.append(following.rstrip() if following.startswith(" ") else following.strip())
            return "\n".join(found)
    return None


def expects_confirmation(command: str) -> bool:
    """Whether ``command`` asks a ``(Y/n)`` question before it acts.

    [H] for ``database cluster remove|initialize|join``; [GUESS] for ``database cluster connect`` and
    ``backup rollback`` (their prompts were never seen).
    """
    words = command.split()
    return words[:3] in (
        ["database", "cluster", "remove"],
        ["database", "cluster", "initialize"],
        ["database", "cluster", "join"],
        ["database", "cluster", "connect"],
    ) or words[:2] == ["backup", "rollback"]
