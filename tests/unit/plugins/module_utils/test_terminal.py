# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The MMP terminal: prompt, confirmation and error regexes, and output normalising, on transcripts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _terminal as term


@pytest.mark.parametrize(
    "command, asks",
    [
        ("database cluster remove", True),
        ("database cluster initialize", True),
        ("database cluster join 10.0.0.1", True),
        ("database cluster connect 10.0.0.1", True),
        ("backup rollback x.bak", True),
        ("database cluster status", False),
        ("database cluster certs a b c", False),
        ("backup snapshot x", False),
        ("pki csr tac CN:x", False),
    ],
)
def test_commands_that_ask_for_confirmation(command: str, asks: bool) -> None:
    assert term.expects_confirmation(command) is asks


# ---------------------------------------------------------------------------------------------------------------
# Terminal regexes
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, hostname",
    [
        ("cms2> ", "cms2"),
        ("Certificates updated\ncms2> ", "cms2"),
        ("Certificates updated\r\ncms2> ", "cms2"),
        ("CMS> ", "CMS"),
        ("streamer>", "streamer"),
        ("x\r\n\x1b[1mcms01>\x1b[0m ", "cms01"),
        ("\r\ncb1.example> \x1b[K", "cb1.example"),
    ],
)
def test_prompt_re_finds_the_prompt_at_the_end(text: str, hostname: str) -> None:
    match = term.PROMPT_RE.search(text)
    assert match is not None
    assert match.group("hostname") == hostname


@pytest.mark.parametrize(
    "text",
    [
        "Usage:\n  backup snapshot <name>",  # a usage line ending in '>' is not a prompt
        "cms2> database cluster status",  # the echo of a command
        "cms2> \nStatus : Enabled\n",
        "Are you sure you wish to remove this node from the current cluster? (Y/n)\n",
        "a line> ",
        "",
    ],
)
def test_prompt_re_ignores_what_is_not_a_prompt(text: str) -> None:
    assert term.PROMPT_RE.search(text) is None


def test_prompt_re_for_one_node() -> None:
    assert term.prompt_re_for("cms2").search("Certificates updated\r\ncms2> ")
    assert not term.prompt_re_for("cms2").search("Certificates updated\r\ncms1> ")
    assert not term.prompt_re_for("cms.2").search("cmsX2> ")


@pytest.mark.parametrize(
    "name",
    [
        "db_remove_s1.txt",
        "db_initialize_s1.txt",
        "db_join_s1.txt",
        "tn216549_step06_remove_unanswered.txt",
        "tn216549_step06_remove.txt",
        "tn216549_step10_initialize.txt",  # the TechNote's 80-column wrap
        "tn216549_step12_join.txt",
    ],
)
def test_confirm_re_sees_the_question_inside_the_warning(name: str, transcript: Callable[[str], str]) -> None:
    assert term.CONFIRM_RE.search(transcript(name))
    assert term.CONFIRM_ANSWER == "Y"  # lower-case y does not proceed [H]


def test_confirm_re_does_not_fire_on_status(transcript: Callable[[str], str]) -> None:
    assert not term.CONFIRM_RE.search(transcript("db_status_enabled_master_slave_s1.txt"))


@pytest.mark.parametrize(
    "name, error",
    [
        (
            "db_certs_enabled_error_s1.txt",
            "ERROR: Cannot change certificates when clustering enabled.\nDisable clustering on this node first",
        ),
        (
            "tn216549_step02_certs_refused.txt",
            "ERROR: Cannot change certificates when clustering enabled.\nDisable clustering on this node first",
        ),
        (
            "backup_usage_s1.txt",
            "Usage:\n  backup snapshot <name>\n  backup rollback <name>\n  backup list",
        ),
        (
            "streamer_enable_s8.txt",
            "FAILURE: TLS port set but no certificates configured\nFAILURE: Streamer configuration not complete",
        ),
    ],
)
def test_find_error_returns_the_nodes_own_text(
    name: str, error: str, transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    assert term.find_error(variant(transcript(name))) == error


@pytest.mark.parametrize(
    "name",
    [
        "db_status_error_s3_reconstructed.txt",  # the padded `ERROR : ...` label is state, not a failure
        "db_status_enabled_master_slave_s1.txt",
        "db_remove_s1.txt",
        "db_certs_updated_s1.txt",
        "tn216549_step09_certs_updated.txt",
        "tn216549_step06_remove.txt",
        "tn216549_step10_initialize.txt",
        "tn216549_step12_join.txt",
        "pki_csr_s8.txt",
        "pki_inspect_s1.txt",
        "license_s8.txt",
        "turn_status_s6.txt",
    ],
)
def test_find_error_is_quiet_on_normal_output(
    name: str, transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    assert term.find_error(variant(transcript(name))) is None


@pytest.mark.parametrize(
    "output, error",
    [
        ('ERROR: Unknown command "pki rename a b"\n', 'ERROR: Unknown command "pki rename a b"'),
        ("% Invalid command at '^' marker.\n", "% Invalid command at '^' marker."),
        ("unknown command: frobnicate\n", "unknown command: frobnicate"),
        ("FAILURE: Key and certificate pair do not match\n", "FAILURE: Key and certificate pair do not match"),
        ("ERROR bad thing\n", "ERROR bad thing"),
    ],
)
def test_find_error_on_other_error_shapes(output: str, error: str) -> None:
    assert term.find_error(output) == error


def test_find_error_leaves_success_lines_out() -> None:
    output = "FAILURE: TLS port set but no certificates configured\nSUCCESS: listen interface configured\nFAILURE: x"
    assert term.find_error(output) == "FAILURE: TLS port set but no certificates configured\nFAILURE: x"


def test_error_re_shape_is_anchored_at_line_start() -> None:
    assert not term.ERROR_RE.search("    Subject: CN=ERROR-server\n")
    assert not term.ERROR_RE.search("Status                   : Error\n")
    assert not term.ERROR_RE.search("ERROR                    : Couldn't upgrade the schema\n")
    assert term.ERROR_RE.search("ok\nERROR: File x.cer not found\n")


def test_normalize_output_handles_crlf_lone_cr_and_ansi() -> None:
    assert term.normalize_output("a\r\nb\r\r\nc\rd\x1b[1;32me\x1b[0m\x1b[K") == "a\nb\nc\nde"


def test_output_lines_drop_the_echo_and_prompts(transcript: Callable[[str], str]) -> None:
    assert term.output_lines(transcript("backup_snapshot_s1.txt")) == ["jaihanuman.bak ready for download"]
    assert term.output_lines("\r\ncms2>\r\ncms2> pki list\r\nUser supplied certificates and keys:\r\ncms2> ") == [
        "User supplied certificates and keys:"
    ]
