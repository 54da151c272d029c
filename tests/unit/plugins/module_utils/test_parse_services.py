# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import SERVICES
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpParseError, MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import (
    REDACTED,
    parse_enable_output,
    parse_service_status,
    parse_status_block,
    parse_tls_status,
    redact_secrets,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._usage import service_files

# [H] S7 (CMS 3.9): callbridge with a bundle; the three padding groups of S6 kept.
CALLBRIDGE_WITH_BUNDLE = """\
Listening interfaces  : a
Preferred interface   : none
Key file              : core.key
Certificate file      : core.cer
Address               : none
CA Bundle file        : bundle.cer
C2W trusted certs                   : none
Callbridge cluster trusted certs    : none
"""

# [H] S6 labels of webbridge3, padded to one column.
WEBBRIDGE3_STATUS = """\
CMS> webbridge3
Enabled                              : true
HTTPS listening ports and interfaces : a:443 b:443
HTTPS Key file                       : edge.key
HTTPS Full chain certificate file    : cmsedge-fullchain.cer
HTTPS Frame-Ancestors                : none
HTTP redirect                        : Enabled
C2W listening ports and interfaces   : a:9999
C2W Key file                         : edge.key
C2W Full chain certificate file      : cmsedge-fullchain.cer
C2W Trust bundle                     : cmscore-fullchain.cer
Meetingapps address                  : none
Meetingapps port                     : none
Audio priority flag                  : Disabled
Beta options                         : none
"""

# [GUESS] the simulator's 2.x web bridge and xmpp blocks (tests/cmssim/shapes.py); no transcript shows them.
WEBBRIDGE_STATUS_GUESS = """\
Enabled                        : false
Listening interfaces and ports : a:443
Key file                       : wb.key
Certificate file               : wb.cer
CA Bundle file                 : none
Trust bundle                   : cb.cer
HTTP redirect                  : Disabled
"""
XMPP_STATUS_GUESS = """\
Enabled              : true
Domain               : example.com
Listening interfaces : a b
Key file             : xmpp.key
Certificate file     : xmpp.cer
CA Bundle file       : bundle.cer
"""


def test_status_block_splits_at_the_first_colon(
    transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    block = parse_status_block(variant(transcript("webadmin_status_s6.txt")))
    assert block == {
        "Enabled": "true",
        "TLS listening interface": "a",
        "TLS listening port": "443",
        "Key file": "core.key",
        "Certificate file": "cmscore-fullchain.cer",
        "HTTP redirect": "Disabled",
        "STATUS": "webadmin running",
    }


def test_status_block_keeps_colons_in_values() -> None:
    assert parse_status_block("HTTPS listening ports and interfaces : a:443 b:445\n") == {
        "HTTPS listening ports and interfaces": "a:443 b:445"
    }


def test_status_block_collects_colonless_lines_as_lists(
    transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    block = parse_status_block(variant(transcript("turn_status_s6.txt")))
    assert block["Listen interface"] == ["a", "b"]
    assert block["TLS port"] == "447"
    assert block["Relay address"] == "10.124.144.80"


def test_status_block_with_three_padding_groups(transcript: Callable[[str], str]) -> None:
    block = parse_status_block(transcript("callbridge_status_s6.txt"))
    assert block["Listening interfaces"] == "a"
    assert block["C2W trusted certs"] == "cmsedge-fullchain.cer"
    assert block["UCM verification mode"] == "disabled"
    assert block["WC3 JWT Expiry in hours"] == "24"
    assert len(block) == 13


def test_status_block_of_nothing_is_a_parse_error() -> None:
    with pytest.raises(MmpParseError):
        parse_status_block("CMS> webadmin\r\nCMS> ")
    with pytest.raises(MmpParseError):
        parse_status_block("Certificates\n")


def test_webadmin_status(transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    status = parse_service_status("webadmin", variant(transcript("webadmin_status_s6.txt")))
    assert status["service"] == "webadmin"
    assert status["enabled"] is True
    assert status["key"] == "core.key"
    assert status["cert"] == "cmscore-fullchain.cer"
    assert status["bundle"] is None
    assert status["listen"] == ["a:443"]
    assert status["http_redirect"] is False
    assert status["state"] == "webadmin running"
    assert status["raw"]["TLS listening port"] == "443"
    assert status["listen_port"] == 443  # a number, as the raw label dict keeps the printed text
    assert status["listeners"] == [{"interface": "a", "port": 443}]


def test_every_trusted_certificate_line_of_the_callbridge_status_is_read(
    transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    # S6 prints five trust lines (C2W, cluster, branding, UCM, IM&P) and two verification modes.
    status = parse_service_status("callbridge", variant(transcript("callbridge_status_s6.txt")))
    assert status["c2w_trust"] == "cmsedge-fullchain.cer"
    for field in ("cluster_trust", "branding_trust", "ucm_trust", "imps_trust"):
        assert status[field] is None  # `none` [H]
    assert status["ucm_verify"] is False and status["imps_verify"] is False  # `disabled` [H]


def test_every_file_a_callbridge_trust_line_names_is_in_use(
    transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    # S7 (CMS 3.9): cluster, UCM and IM&P trust set, both verification modes enabled.
    status = parse_service_status("callbridge", variant(transcript("callbridge_status_s7.txt")))
    assert status["bundle"] == "root.cer"
    assert status["ucm_verify"] is True and status["imps_verify"] is True
    assert status["branding_trust"] is None
    assert service_files(status) == {
        "key": "cms.key",
        "cert": "cms.cer",
        "bundle": "root.cer",
        "c2w_trust": "cms.cer",
        "cluster_trust": "cms.cer",
        "ucm_trust": "cucmtomcat.cer",
        "imps_trust": "impcup.cer",
    }


def test_files_named_only_in_a_callbridge_trust_line_are_its_files() -> None:
    text = (
        "UCM trusted certs         : ucm-bundle.cer\n"
        "UCM verification mode     : enabled\n"
        "IMPS trusted certs        : imps-bundle.cer\n"
        "Callbridge trust branding certs     : brand.cer\n"
        "Callbridge cluster trusted certs    : peers.cer\n"
    )
    status = parse_service_status("callbridge", text)
    assert status["ucm_verify"] is True and status["imps_verify"] is None
    assert service_files(status) == {
        "cluster_trust": "peers.cer",
        "branding_trust": "brand.cer",
        "ucm_trust": "ucm-bundle.cer",
        "imps_trust": "imps-bundle.cer",
    }


def test_callbridge_has_no_enabled_line(transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    status = parse_service_status("callbridge", variant(transcript("callbridge_status_s6.txt")))
    assert status["enabled"] is None
    assert status["key"] == "core.key"
    assert status["cert"] == "cmscore-fullchain.cer"
    assert status["bundle"] is None  # the line is absent without a bundle [H]
    assert status["listen"] == ["a"]
    assert status["listeners"] == [{"interface": "a", "port": None}]  # `Listening interfaces  : a` [H] names no port
    assert status["preferred_interface"] is None
    assert status["c2w_trust"] == "cmsedge-fullchain.cer"


def test_callbridge_with_a_bundle() -> None:
    status = parse_service_status("callbridge", CALLBRIDGE_WITH_BUNDLE.replace("\n", "\r\n"))
    assert status["bundle"] == "bundle.cer"
    assert status["cert"] == "core.cer"


def test_turn_status_never_returns_the_password(
    transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    status = parse_service_status("turn", variant(transcript("turn_status_s6.txt")))
    assert status["enabled"] is True
    assert status["key"] == "edge.key"
    assert status["cert"] == "cmsedge-fullchain.cer"
    assert status["bundle"] is None
    assert status["tls_port"] == 447
    assert status["listen"] == ["a", "b"]
    assert status["listeners"] == [{"interface": "a", "port": None}, {"interface": "b", "port": None}]
    assert "Password" not in status["raw"]
    assert "Shared secret" not in status["raw"]
    assert "Cisco.123" not in json.dumps(status)


def test_webbridge3_status_has_https_and_c2w_certificates() -> None:
    status = parse_service_status("webbridge3", WEBBRIDGE3_STATUS)
    assert status["enabled"] is True
    assert status["https_key"] == "edge.key"
    assert status["https_cert"] == "cmsedge-fullchain.cer"
    assert status["c2w_key"] == "edge.key"
    assert status["c2w_cert"] == "cmsedge-fullchain.cer"
    assert status["c2w_trust"] == "cmscore-fullchain.cer"
    assert status["https_listen"] == ["a:443", "b:443"]
    assert status["c2w_listen"] == ["a:9999"]
    assert status["http_redirect"] is True
    # The generic fields point at the HTTPS side; a full chain has no separate bundle.
    assert (status["key"], status["cert"], status["bundle"]) == ("edge.key", "cmsedge-fullchain.cer", None)
    assert status["listen"] == ["a:443", "b:443"]


def test_ports_of_webbridge3_listen_lists_are_numbers() -> None:
    status = parse_service_status("webbridge3", WEBBRIDGE3_STATUS.replace("\n", "\r\n"))
    # The printed items stay under their keys; each list has a parsed twin whose ports are integers.
    assert status["https_listeners"] == [{"interface": "a", "port": 443}, {"interface": "b", "port": 443}]
    assert status["c2w_listeners"] == [{"interface": "a", "port": 9999}]
    assert status["listeners"] == status["https_listeners"]
    assert all(
        isinstance(item["port"], int) and not isinstance(item["port"], bool)
        for item in status["https_listeners"] + status["c2w_listeners"]
    )
    # The TLS ports the module checks come from those numbers.
    service = SERVICES["webbridge3"]
    assert service.primary.status_port(status) == 443
    assert service.part("c2w").status_port(status) == 9999


def test_a_listen_item_of_another_shape_is_kept_whole_without_a_port() -> None:
    status = parse_service_status("webbridge3", "HTTPS listening ports and interfaces : a:443 b:https\n")
    assert status["https_listeners"] == [{"interface": "a", "port": 443}, {"interface": "b:https", "port": None}]
    assert status["c2w_listen"] == [] and status["c2w_listeners"] == []


def test_two_x_services_on_the_simulator_guess_shapes() -> None:
    webbridge = parse_service_status("webbridge", WEBBRIDGE_STATUS_GUESS)
    assert webbridge["enabled"] is False
    assert (webbridge["key"], webbridge["cert"], webbridge["bundle"]) == ("wb.key", "wb.cer", None)
    assert webbridge["trust"] == "cb.cer"
    assert webbridge["listen"] == ["a:443"]
    assert webbridge["listeners"] == [{"interface": "a", "port": 443}]
    assert SERVICES["webbridge"].primary.status_port(webbridge) == 443
    xmpp = parse_service_status("xmpp", XMPP_STATUS_GUESS)
    assert (xmpp["key"], xmpp["cert"], xmpp["bundle"]) == ("xmpp.key", "xmpp.cer", "bundle.cer")
    assert xmpp["listen"] == ["a", "b"]
    assert xmpp["domain"] == "example.com"


def test_labels_match_whatever_their_case_and_padding() -> None:
    status = parse_service_status("webadmin", "enabled: TRUE\nKEY FILE:a.key\ncertificate file :a.cer\n")
    assert (status["enabled"], status["key"], status["cert"]) == (True, "a.key", "a.cer")


def test_a_status_of_another_service_is_a_parse_error(transcript: Callable[[str], str]) -> None:
    with pytest.raises(MmpParseError, match="does not look like the status of turn"):
        parse_service_status("turn", transcript("callbridge_status_s6.txt"))


def test_turn_parse_error_does_not_carry_the_output() -> None:
    with pytest.raises(MmpParseError) as err:
        parse_service_status("turn", "Password : s3cret\nSomething : else\n")
    assert err.value.output is None
    assert "s3cret" not in str(err.value)


def test_unknown_service_is_a_validation_error() -> None:
    with pytest.raises(MmpValidationError):
        parse_service_status("streamer", "Enabled : true\n")


def test_redact_secrets_hides_passwords_and_secrets(
    transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    text = variant(transcript("turn_status_s6.txt") + "Secret     : kvgP1SRzWVabhiPVAb1\n")
    redacted = redact_secrets(text).replace("\r", "").replace("\x1b[0m", "").replace("\x1b[K", "")
    assert "Cisco.123" not in redacted
    assert "kvgP1SRzWVabhiPVAb1" not in redacted
    assert "Password                : " + REDACTED in redacted
    assert "Shared secret           : none" in redacted  # nothing to hide
    assert "TLS key                 : edge.key" in redacted


def test_enable_output_success_and_failure_lines(
    transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    result = parse_enable_output(variant(transcript("streamer_enable_s8.txt")))
    assert result == {
        "ok": False,
        "successes": ["Key and certificate pair match", "Streamer enabled", "uploader enabled"],
        "failures": ["TLS port set but no certificates configured", "Streamer configuration not complete"],
    }


def test_enable_output_all_success_and_silent_setters() -> None:
    assert parse_enable_output("SUCCESS: TLS interface and port configured\nSUCCESS: webadmin enabled\n")["ok"]
    assert parse_enable_output("") == {"ok": True, "successes": [], "failures": []}


def test_tls_status_in_the_simulator_shape_is_read() -> None:
    status = parse_tls_status("sip", "Trust bundle         : ROOTCA.cer\nVerification         : enabled\n")
    assert status == {"tls": "sip", "trust": "ROOTCA.cer", "verify": "enabled", "known": True}


@pytest.mark.parametrize("text", ["", "Something else : 1\n", "cms1> tls sip\n"])
def test_tls_status_of_another_shape_is_unknown_not_an_error(text: str) -> None:
    assert parse_tls_status("sip", text) == {"tls": "sip", "trust": None, "verify": None, "known": False}
