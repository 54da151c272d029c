# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from collections.abc import Callable

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpParseError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import parse_db_cluster_status

EXPIRED_CERTS = {
    "server_key": {"file": "dbclusterserver.key", "expired": False},
    "server_cert": {"file": "dbclusterserver.cer", "expired": True},
    "client_key": {"file": "dbclusterclient.key", "expired": False},
    "client_cert": {"file": "EXPRSVR.cer", "expired": True},
    "ca_cert": {"file": "CA.cer", "expired": False},
}
RENEWED_CERTS = {
    "server_key": {"file": "dbclusterserver.key", "expired": False},
    "server_cert": {"file": "dbclusterserver.cer", "expired": False},
    "client_key": {"file": "dbclusterclient.key", "expired": False},
    "client_cert": {"file": "dbclusterclient.cer", "expired": False},
    "ca_cert": {"file": "CAVD.cer", "expired": False},
}


@pytest.mark.parametrize("name", ["db_status_disabled_expired_s1.txt", "tn216549_step01_db_status.txt"])
def test_disabled_node_with_expired_certificates(
    name: str, transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    status = parse_db_cluster_status(variant(transcript(name)))
    assert status["status"] == "disabled"
    assert status["status_text"] == "Disabled"
    assert status["transition"] is None
    assert status["nodes"] == []
    assert status["node_in_use"] is None
    assert status["interface"] == "a"
    assert status["certificates"] == EXPIRED_CERTS
    assert status["last_command"] is None  # absent until a cluster command has run [H]
    assert status["error"] is None


def test_disabling_in_the_flattened_capture(transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    status = parse_db_cluster_status(variant(transcript("tn216549_step07_db_status_disabling.txt")))
    assert status["status"] == "disabling"
    assert status["transition"] == "disabling"
    assert status["started_seconds_ago"] == 19
    assert status["nodes"] == []  # the empty `Nodes:` header, then `Node in use : None`
    assert status["node_in_use"] is None
    assert status["interface"] == "a"
    assert status["certificates"] == EXPIRED_CERTS


def test_removed_node_shows_the_last_command(transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    status = parse_db_cluster_status(variant(transcript("tn216549_step08_db_status_removed.txt")))
    assert status["status"] == "disabled"
    assert status["certificates"] == EXPIRED_CERTS
    assert status["last_command"] == {"command": "database cluster remove", "result": "Success"}


def test_freshly_initialized_primary(transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    status = parse_db_cluster_status(variant(transcript("tn216549_step11_db_status_initialized.txt")))
    assert status["status"] == "enabled"
    assert status["nodes"] == [
        {
            "address": "10.106.85.75",
            "me": True,
            "connected": True,
            "role": "primary",
            "in_sync": None,
            "state": "Connected Master",
        }
    ]
    assert status["node_in_use"] == "10.106.85.75"
    assert (status["primary_address"], status["local_address"], status["local_role"]) == (
        "10.106.85.75",
        "10.106.85.75",
        "primary",
    )
    assert status["certificates"] == RENEWED_CERTS
    assert status["last_command"] == {"command": "database cluster initialize", "result": "Success"}


@pytest.mark.parametrize("name", ["db_status_enabled_master_slave_s1.txt", "tn216549_step13_db_status_joined.txt"])
def test_master_slave_cluster(name: str, transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    status = parse_db_cluster_status(variant(transcript(name)))
    assert status["status"] == "enabled"
    assert [(n["address"], n["me"], n["connected"], n["role"], n["in_sync"]) for n in status["nodes"]] == [
        ("10.106.85.73", False, True, "primary", None),
        ("10.106.85.74", False, True, "replica", True),
        ("10.106.85.75", True, True, "replica", True),
    ]
    assert status["node_in_use"] == "10.106.85.73"
    assert status["primary_address"] == "10.106.85.73"
    assert status["local_address"] == "10.106.85.75"
    assert status["local_role"] == "replica"
    assert status["certificates"] == RENEWED_CERTS
    assert status["last_command"] == {"command": "database cluster join 10.106.85.73", "result": "Success"}


def test_primary_replica_error_state(transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    # Reconstructed from the description of S3 in docs/dev/mmp_reference.md#db-cluster-status (see fixtures/README.md).
    status = parse_db_cluster_status(variant(transcript("db_status_error_s3_reconstructed.txt")))
    assert status["status"] == "error"
    assert status["error"] == "Couldn't upgrade the schema"
    assert [(n["address"], n["me"], n["role"], n["in_sync"]) for n in status["nodes"]] == [
        ("10.48.36.61", False, "primary", None),
        ("10.48.36.118", True, "replica", True),
        ("10.48.36.143", False, "replica", True),
    ]
    assert status["local_role"] == "replica"
    assert status["last_command"] == {"command": "database cluster upgrade_schema", "result": "Failed"}
    assert status["certificates"]["ca_cert"] == {"file": "dbca.crt", "expired": False}


# [GUESS] states and wordings no transcript shows (tests/cmssim/shapes.py DB_* entries), plus IPv6 addresses.
GUESSED = """\
Status                : Joining (Started 3 minutes ago)

Nodes:
    2001:db8::11 (me)   : Connected Replica ( Out Of Sync )
    2001:db8::12        : Disconnected
    cms3.example.com    : Connected Primary
Node in use           : cms3.example.com

Interface              : b

Certificates
  Client Key           : dbclient.key
  Client Certificate   : dbclient.crt
  CA Certificate       : dbca.crt
"""


def test_guessed_states_ipv6_and_a_connect_only_certificate_set(variant: Callable[[str], str]) -> None:
    status = parse_db_cluster_status(variant(GUESSED))
    assert status["status"] == "joining"
    assert status["transition"] == "joining"
    assert status["started_seconds_ago"] == 180
    assert [(n["address"], n["me"], n["connected"], n["role"], n["in_sync"]) for n in status["nodes"]] == [
        ("2001:db8::11", True, True, "replica", False),
        ("2001:db8::12", False, False, None, None),
        ("cms3.example.com", False, True, "primary", None),
    ]
    assert status["primary_address"] == "cms3.example.com"
    assert status["interface"] == "b"
    # Lines a connect-only node does not show are "not set", not an error.
    assert status["certificates"]["server_key"] is None
    assert status["certificates"]["server_cert"] is None
    assert status["certificates"]["client_cert"] == {"file": "dbclient.crt", "expired": False}


def test_never_configured_node_has_only_status_and_node_in_use() -> None:
    status = parse_db_cluster_status("Status                : Disabled\nNode in use           : None\n\n")
    assert status["status"] == "disabled"
    assert status["interface"] is None
    assert all(value is None for value in status["certificates"].values())


@pytest.mark.parametrize(
    "text", ["", "cms2> database cluster status\ncms2> ", "Nodes:\n  10.0.0.1 : Connected Master\n"]
)
def test_output_without_a_status_line_is_a_parse_error(text: str) -> None:
    with pytest.raises(MmpParseError) as err:
        parse_db_cluster_status(text)
    assert err.value.command == "database cluster status"
