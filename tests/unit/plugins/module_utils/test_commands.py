# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import importlib
import re
from types import ModuleType

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _commands as cmd
from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import SERVICES
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError

INJECTIONS = ["a\nwebadmin disable", "a\rb", "a\x00b", "a\x1b[2Jb", "a\tb", "a\u2028b", "a\x85b", "a\x7fb"]


def _shapes() -> ModuleType:
    """The simulator's shape table, when the checkout's tests/cmssim is there (not in the installed collection)."""
    try:
        return importlib.import_module("tests.cmssim.shapes")
    except ImportError:
        pytest.skip("tests/cmssim (the simulator) is not part of the installed collection")


# ---------------------------------------------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["webadmin", "cms1-2025", "db_server_2", "A", "tac"])
def test_basename_accepts_letters_digits_dash_underscore(name: str) -> None:
    assert cmd.validate_basename(name) == name


@pytest.mark.parametrize("name", ["web.key", "web admin", "a/b", "", "tac!", "wébadmin", "web-admin.old"])
def test_basename_refuses_anything_else(name: str) -> None:
    with pytest.raises(MmpValidationError):
        cmd.validate_basename(name)


def test_basename_error_names_value_rule_and_fix() -> None:
    with pytest.raises(MmpValidationError) as err:
        cmd.validate_basename("webadmin 2026.key")
    message = str(err.value)
    assert "'webadmin 2026.key'" in message
    assert "letters, digits, '-' and '_'" in message
    assert "'webadmin_2026'" in message


@pytest.mark.parametrize("value", INJECTIONS)
def test_control_characters_are_refused_everywhere(value: str) -> None:
    for validator in (cmd.validate_basename, cmd.validate_file_name, cmd.validate_common_name, cmd.validate_address):
        with pytest.raises(MmpValidationError, match=r"control character|not valid|not an IP"):
            validator(value)
    with pytest.raises(MmpValidationError):
        cmd.validate_san_entry(value)
    with pytest.raises(MmpValidationError):
        cmd.pki_inspect(value)


def test_newline_error_says_why() -> None:
    with pytest.raises(MmpValidationError) as err:
        cmd.validate_common_name("cms1.example.com\nwebadmin disable")
    assert "control character '\\n'" in str(err.value)
    assert "second command" in str(err.value)


@pytest.mark.parametrize("name", ["cms1-2025.cer", "dbca.crt", "CMS.key", "ca-bundle22.cer", "a", "x.tar.gz"])
def test_file_name_accepts_flat_store_names(name: str) -> None:
    assert cmd.validate_file_name(name) == name


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("/CMS.key", "'CMS.key'"),
        ("certs/server.cer", "'server.cer'"),
        (".hidden.key", "leading dot"),
        ("..", "leading dot"),
        ("my cert.cer", "'my_cert.cer'"),
        ("", "empty"),
        ("a:b.cer", "letters, digits"),
    ],
)
def test_file_name_refusals_say_how_to_fix(name: str, fragment: str) -> None:
    with pytest.raises(MmpValidationError) as err:
        cmd.validate_file_name(name)
    assert fragment in str(err.value)


@pytest.mark.parametrize("given, sent", [("GB", "GB"), ("us", "US"), ("Fr", "FR")])
def test_country_is_two_letters_sent_upper_case(given: str, sent: str) -> None:
    assert cmd.validate_country(given) == sent


@pytest.mark.parametrize("country", ["USA", "U", "U1", "", " G", "ÜS"])
def test_country_refuses_anything_but_two_ascii_letters(country: str) -> None:
    with pytest.raises(MmpValidationError, match="two-letter ISO 3166"):
        cmd.validate_country(country)


@pytest.mark.parametrize("cn", [None, "", "   "])
def test_common_name_is_required(cn: str | None) -> None:
    with pytest.raises(MmpValidationError, match="required"):
        cmd.validate_common_name(cn)


@pytest.mark.parametrize(
    "cn, fragment",
    [
        ('My "CA"', "double quote"),
        (" cms1.example.com", "leading or trailing spaces"),
        ("a" * 65, "at most 64"),
    ],
)
def test_common_name_refusals(cn: str, fragment: str) -> None:
    with pytest.raises(MmpValidationError, match=fragment):
        cmd.validate_common_name(cn)


@pytest.mark.parametrize(
    "entry, normalized",
    [
        ("cms1.example.com", "cms1.example.com"),
        ("*.example.com", "*.example.com"),
        ("join", "join"),
        ("_sip.example.com", "_sip.example.com"),
        ("10.106.85.73", "10.106.85.73"),
        ("2001:0DB8:0000::0001", "2001:db8::1"),
        ("admin@example.com", "admin@example.com"),
        ("Join.Example.COM", "Join.Example.COM"),
    ],
)
def test_san_entries_dns_wildcard_ip_email(entry: str, normalized: str) -> None:
    assert cmd.validate_san_entry(entry) == normalized


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ("join example.com", "contains a space"),
        ("a.example.com,b.example.com", "comma"),
        ("a.example.com;reboot", "semicolon"),
        ('"a.example.com"', "double quote"),
        ("'a.example.com'", "quote"),
        ("*.com", "at least two labels"),
        ("w*.example.com", "whole first label"),
        ("a.*.example.com", "whole first label"),
        ("a..example.com", "empty label"),
        (".example.com", "empty label"),
        ("-a.example.com", "not starting or ending with '-'"),
        ("example.com.", "trailing dot"),
        ("DNS:example.com", "without a DNS:/IP: prefix"),
        ("fe80::1%eth0", "without a DNS:/IP: prefix"),
        ("user@", "e-mail"),
        ("@example.com", "e-mail"),
        ("a" * 64 + ".example.com", "at most 63"),
        ("", "empty entry"),
    ],
)
def test_san_entry_refusals_name_the_problem(entry: str, fragment: str) -> None:
    with pytest.raises(MmpValidationError) as err:
        cmd.validate_san_entry(entry)
    assert fragment in str(err.value)
    assert "subjectAltName entries are DNS names" in str(err.value)


def test_san_gets_the_cn_first_when_missing() -> None:
    assert cmd.normalize_san("cms.example.com", ["join.example.com", "example.com"]) == [
        "cms.example.com",
        "join.example.com",
        "example.com",
    ]


def test_san_keeps_its_order_when_it_holds_the_cn_in_another_case() -> None:
    assert cmd.normalize_san("CMS.example.com", ["join.example.com", "cms.example.com"]) == [
        "join.example.com",
        "cms.example.com",
    ]


def test_san_drops_duplicates_and_takes_a_comma_string() -> None:
    assert cmd.normalize_san("a.example.com", "a.example.com, b.example.com,B.example.com,,") == [
        "a.example.com",
        "b.example.com",
    ]


@pytest.mark.parametrize("san", [None, [], "", ()])
def test_no_san_stays_no_san(san: list[str] | str | None) -> None:
    # The TechNote's `pki csr dbclient CN:postgres` carries no SAN at all.
    assert cmd.normalize_san("postgres", san) == []


def test_san_cn_that_cannot_be_a_san_entry_is_explained() -> None:
    with pytest.raises(MmpValidationError) as err:
        cmd.normalize_san("Example CA", ["ca.example.com"])
    assert "must also be in subjectAltName" in str(err.value)
    assert "Use the FQDN as CN" in str(err.value)


def test_san_ip_cn_matches_its_canonical_form() -> None:
    assert cmd.normalize_san("2001:db8::0:1", ["2001:db8::1"]) == ["2001:db8::1"]


@pytest.mark.parametrize("iface", ["a", "b", "c", "d"])
def test_interfaces_a_to_d(iface: str) -> None:
    assert cmd.validate_interface(iface) == iface


@pytest.mark.parametrize("iface", ["A", "e", "lo", "a b", ""])
def test_other_interfaces_are_refused(iface: str) -> None:
    with pytest.raises(MmpValidationError, match="use one of a, b, c, d"):
        cmd.validate_interface(iface)


@pytest.mark.parametrize(
    "address, normalized",
    [("10.106.85.73", "10.106.85.73"), ("cms1.example.com", "cms1.example.com"), ("2001:db8:0::1", "2001:db8::1")],
)
def test_addresses_are_ips_or_host_names(address: str, normalized: str) -> None:
    assert cmd.validate_address(address) == normalized


@pytest.mark.parametrize("address", ["10.0.0.1;reboot", "cms1 example", "", "*.example.com", "10.0.0.1/24"])
def test_bad_addresses_are_refused_with_an_example(address: str) -> None:
    with pytest.raises(MmpValidationError, match=re.escape("e.g. 10.0.0.11 or cms1.example.com")):
        cmd.validate_address(address)


@pytest.mark.parametrize("version, major", [(3, 3), ("3", 3), ("3.8", 3), ("2.9.1", 2), (" 2.9 ", 2)])
def test_cms_major(version: object, major: int) -> None:
    assert cmd.cms_major(version) == major


@pytest.mark.parametrize("version", ["4.0", "1.9", "latest", "", None])
def test_cms_major_refuses_unknown_releases(version: object) -> None:
    with pytest.raises(MmpValidationError, match=re.escape("not a CMS 2.x or 3.x version")):
        cmd.cms_major(version)


def test_values_with_spaces_are_double_quoted_and_quotes_refused() -> None:
    assert cmd.quote_value("Example Org") == '"Example Org"'
    assert cmd.quote_value("Example") == "Example"
    with pytest.raises(MmpValidationError, match="double quote"):
        cmd.quote_value('Example "Org"')


# ---------------------------------------------------------------------------------------------------------------
# pki builders
# ---------------------------------------------------------------------------------------------------------------
def test_pki_read_commands() -> None:
    assert cmd.pki_list() == "pki list"
    assert cmd.pki_inspect("EXPRSVR.cer") == "pki inspect EXPRSVR.cer"
    assert cmd.pki_match("tac.key", "tac.cer") == "pki match tac.key tac.cer"
    assert cmd.pki_verify("tac.cer", "ROOTCA.cer") == "pki verify tac.cer ROOTCA.cer"
    assert cmd.pki_verify("dbca.crt") == "pki verify dbca.crt"


def test_pki_csr_puts_every_attribute_in_documented_order() -> None:
    assert (
        cmd.pki_csr(
            "webadmin_2026",
            "cms1.example.com",
            organizational_unit="IT",
            organization="Example Org",
            state="Buckinghamshire California",
            country="gb",
            subject_alt_name=["join.example.com"],
        )
        == 'pki csr webadmin_2026 CN:cms1.example.com OU:IT O:"Example Org" ST:"Buckinghamshire California" C:GB '
        "subjectAltName:cms1.example.com,join.example.com"
    )


def test_pki_csr_technote_forms() -> None:
    assert cmd.pki_csr("dbclient", "postgres") == "pki csr dbclient CN:postgres"
    assert (
        cmd.pki_csr(
            "dbserver", "cmscore1.example.com", subject_alt_name=["cmscore2.example.com", "cmscore3.example.com"]
        )
        == "pki csr dbserver CN:cmscore1.example.com "
        "subjectAltName:cmscore1.example.com,cmscore2.example.com,cmscore3.example.com"
    )


def test_pki_csr_refuses_bad_input_before_building() -> None:
    with pytest.raises(MmpValidationError, match="basename"):
        cmd.pki_csr("tac.key", "cms.example.com")
    with pytest.raises(MmpValidationError, match="common_name is required"):
        cmd.pki_csr("tac", "")
    with pytest.raises(MmpValidationError, match="country"):
        cmd.pki_csr("tac", "cms.example.com", country="USA")
    with pytest.raises(MmpValidationError, match="organization"):
        cmd.pki_csr("tac", "cms.example.com", organization='Example "Org"')
    with pytest.raises(MmpValidationError, match="organizational_unit is empty"):
        cmd.pki_csr("tac", "cms.example.com", organizational_unit="")


@pytest.mark.parametrize("char", list(cmd.UNSAFE_SUBJECT_CHARS))
def test_subject_values_with_shell_or_subj_characters_are_refused_by_every_builder(char: str) -> None:
    value = f"Example{char}Org"
    with pytest.raises(MmpValidationError, match=r"organization .* contains '.*'; subject values sent to the MMP"):
        cmd.pki_csr("tac", "cms.example.com", organization=value)
    with pytest.raises(MmpValidationError, match=r"common_name .* may not hold any of"):
        cmd.pki_csr("tac", f"cms{char}example.com")
    with pytest.raises(MmpValidationError, match="may not hold any of"):
        cmd.pki_selfsigned("tac", f"cms{char}example.com")
    assert cmd.validate_subject_value("O", "Example Org, Ltd.", "organization") == "Example Org, Ltd."


def test_pki_csr_quoting_is_what_the_simulator_splits() -> None:
    shapes = _shapes()
    line = cmd.pki_csr("tac", "cms.example.com", organization="Example Org", state="Greater London")
    assert shapes.split_command(line) == [
        "pki",
        "csr",
        "tac",
        "CN:cms.example.com",
        "O:Example Org",
        "ST:Greater London",
    ]


def test_pki_selfsigned_and_sign() -> None:
    assert cmd.pki_selfsigned("dbca", "tplab.local") == "pki selfsigned dbca CN:tplab.local"
    assert cmd.pki_selfsigned("allinone") == "pki selfsigned allinone"
    assert cmd.pki_sign("dbserver", "dbca") == "pki sign dbserver dbca"
    with pytest.raises(MmpValidationError):
        cmd.pki_sign("dbserver.csr", "dbca")


def test_files_each_pki_verb_writes() -> None:
    assert cmd.csr_files("tac") == ("tac.key", "tac.csr")
    assert cmd.selfsigned_files("dbca") == ("dbca.key", "dbca.crt")
    assert cmd.signed_cert_file("dbserver") == "dbserver.crt"


# ---------------------------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_status_command_is_the_bare_service_name(service: str) -> None:
    assert cmd.service_status(service) == service


@pytest.mark.parametrize(
    "service, expected",
    [
        ("webadmin", ["webadmin disable", "webadmin certs k.key c.cer b.cer", "webadmin enable"]),
        ("callbridge", ["callbridge certs k.key c.cer b.cer", "callbridge restart"]),
        ("webbridge", ["webbridge disable", "webbridge certs k.key c.cer b.cer", "webbridge enable"]),
        ("xmpp", ["xmpp disable", "xmpp certs k.key c.cer b.cer", "xmpp enable"]),
        ("turn", ["turn disable", "turn certs k.key c.cer b.cer", "turn enable"]),
    ],
)
def test_outage_sequence_follows_the_technote(service: str, expected: list[str]) -> None:
    assert cmd.apply_certs_sequence(service, "k.key", "c.cer", "b.cer") == expected


def test_webbridge3_takes_full_chains_for_https_and_c2w() -> None:
    assert cmd.apply_certs_sequence("webbridge3", "wb.key", "wb-fullchain.cer", parts=["https", "c2w"]) == [
        "webbridge3 disable",
        "webbridge3 https certs wb.key wb-fullchain.cer",
        "webbridge3 c2w certs wb.key wb-fullchain.cer",
        "webbridge3 enable",
    ]
    assert cmd.service_certs("webbridge3", "wb.key", "wb.cer", part="c2w") == "webbridge3 c2w certs wb.key wb.cer"


def test_webbridge3_refuses_a_separate_bundle_or_a_missing_part() -> None:
    with pytest.raises(MmpValidationError, match="full chain"):
        cmd.service_certs("webbridge3", "wb.key", "wb.cer", "bundle.cer", part="https")
    with pytest.raises(MmpValidationError, match="https or c2w"):
        cmd.service_certs("webbridge3", "wb.key", "wb.cer")
    with pytest.raises(MmpValidationError, match="parts"):
        cmd.apply_certs_sequence("webbridge3", "wb.key", "wb.cer")


def test_single_certificate_services_refuse_a_part() -> None:
    with pytest.raises(MmpValidationError, match="one certificate"):
        cmd.service_certs("webadmin", "k.key", "c.cer", part="https")
    with pytest.raises(MmpValidationError, match="one certificate"):
        cmd.apply_certs_sequence("turn", "k.key", "c.cer", parts=["https"])


def test_certs_without_bundle() -> None:
    assert cmd.service_certs("webadmin", "CMS.key", "Server.cer") == "webadmin certs CMS.key Server.cer"


def test_callbridge_is_never_disabled() -> None:
    # [H] S2: callbridge takes certs then restart; it has no enable/disable.
    with pytest.raises(MmpValidationError, match="callbridge has no 'disable'"):
        cmd.service_disable("callbridge")
    assert cmd.service_restart("callbridge") == "callbridge restart"
    with pytest.raises(MmpValidationError, match="turn has no 'restart'"):
        cmd.service_restart("turn")


def test_lifecycle_commands() -> None:
    assert cmd.service_enable("webadmin") == "webadmin enable"
    assert cmd.service_disable("webbridge3") == "webbridge3 disable"
    assert cmd.service_restart("webbridge3") == "webbridge3 restart"


@pytest.mark.parametrize(
    "service, expected",
    [
        ("callbridge", ["callbridge restart"]),
        ("webadmin", ["webadmin restart"]),
        ("webbridge3", ["webbridge3 restart"]),
        ("turn", ["turn disable", "turn enable"]),
        ("xmpp", ["xmpp disable", "xmpp enable"]),
    ],
)
def test_renewal_under_the_same_names_needs_only_a_reload(service: str, expected: list[str]) -> None:
    assert cmd.reload_sequence(service) == expected


def test_outage_sequence_needs_a_certs_command() -> None:
    with pytest.raises(MmpValidationError, match="no certs command"):
        cmd.outage_sequence("webadmin", [])


# ---------------------------------------------------------------------------------------------------------------
# database cluster and backup
# ---------------------------------------------------------------------------------------------------------------
def test_db_cluster_certs_five_files_in_the_nodes_order() -> None:
    assert (
        cmd.db_cluster_certs(
            client_key="dbclusterclient.key",
            client_cert="dbclusterclient.cer",
            ca_cert="CAVD.cer",
            server_key="dbclusterserver.key",
            server_cert="dbclusterserver.cer",
        )
        == "database cluster certs dbclusterserver.key dbclusterserver.cer dbclusterclient.key dbclusterclient.cer "
        "CAVD.cer"
    )


def test_db_cluster_certs_three_files_for_a_connect_only_node() -> None:
    assert (
        cmd.db_cluster_certs("dbclient.key", "dbclient.crt", "dbca.crt")
        == "database cluster certs dbclient.key dbclient.crt dbca.crt"
    )


def test_db_cluster_certs_server_pair_goes_together() -> None:
    with pytest.raises(MmpValidationError, match="server_key and server_cert go together"):
        cmd.db_cluster_certs("c.key", "c.crt", "ca.crt", server_key="s.key")


def test_db_cluster_commands() -> None:
    assert cmd.db_cluster_status() == "database cluster status"
    assert cmd.db_cluster_localnode("a") == "database cluster localnode a"
    assert cmd.db_cluster_initialize() == "database cluster initialize"
    assert cmd.db_cluster_join("10.106.85.73") == "database cluster join 10.106.85.73"
    assert cmd.db_cluster_connect("cms1.example.com") == "database cluster connect cms1.example.com"
    assert cmd.db_cluster_remove() == "database cluster remove"
    with pytest.raises(MmpValidationError, match="primary address"):
        cmd.db_cluster_join("10.106.85.73 ; database cluster remove")
    with pytest.raises(MmpValidationError, match="interface"):
        cmd.db_cluster_localnode("eth0")


def test_backup_commands() -> None:
    assert cmd.backup_snapshot("jaihanuman") == "backup snapshot jaihanuman"
    assert cmd.backup_list() == "backup list"
    # [H] TN 214620 passes the name with its extension.
    assert cmd.backup_rollback("backup.bak") == "backup rollback backup.bak"
    assert cmd.backup_rollback("backup") == "backup rollback backup.bak"
    assert cmd.backup_files("jaihanuman") == ("jaihanuman.bak", "jaihanuman.json")
    with pytest.raises(MmpValidationError):
        cmd.backup_snapshot("before renewal")
    with pytest.raises(MmpValidationError):
        cmd.backup_rollback("../x.bak")


@pytest.mark.parametrize(
    ("service", "store", "bundle", "command"),
    [
        ("callbridge", "c2w", "edge.cer", "callbridge trust c2w edge.cer"),
        ("callbridge", "cluster", "peers.cer", "callbridge trust cluster peers.cer"),
        ("callbridge", "cluster", None, "callbridge trust cluster none"),
        ("callbridge", "branding", "brand.cer", "callbridge trust branding brand.cer"),
        ("callbridge", "ucm", "cucmtomcat.cer", "callbridge ucm certs cucmtomcat.cer"),
        ("callbridge", "imps", "impcup.cer", "callbridge imps certs impcup.cer"),
        ("webbridge3", "c2w", "core.cer", "webbridge3 c2w trust core.cer"),
        ("webbridge", "trust", "cb.cer", "webbridge trust cb.cer"),
    ],
)
def test_every_trust_store_has_its_command(service: str, store: str, bundle: str | None, command: str) -> None:
    assert cmd.trust_store(service, store, bundle) == command


def test_verification_modes_of_the_ucm_and_imps_stores() -> None:
    assert cmd.trust_verify("callbridge", "ucm", True) == "callbridge ucm verify enable"
    assert cmd.trust_verify("callbridge", "imps", False) == "callbridge imps verify disable"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cmd.trust_store("webadmin", "c2w", "a.cer"), "webadmin has no trust store 'c2w'"),
        (lambda: cmd.trust_store("callbridge", "ucm", "a b.cer"), "ucm trust bundle"),
        (lambda: cmd.trust_verify("callbridge", "cluster", True), "has no verification mode"),
        (lambda: cmd.tls_trust("smtp", "a.cer"), "tls service 'smtp' is not one of sip"),
        (lambda: cmd.tls_trust("sip", "../a.cer"), "tls sip trust bundle"),
        (lambda: cmd.tls_verify("sip", "on"), "tls verify mode 'on' is not one of enable, disable, ocsp"),
    ],
)
def test_trust_commands_refuse_bad_input_before_anything_runs(call: object, message: str) -> None:
    with pytest.raises(MmpValidationError, match=re.escape(message)):
        call()  # type: ignore[operator]


def test_tls_commands_as_cisco_writes_them() -> None:
    # TN 217320 (S8): `tls sip trust ROOTCA.cer`, `tls sip verify enable`.
    assert cmd.tls_trust("sip", "ROOTCA.cer") == "tls sip trust ROOTCA.cer"
    assert cmd.tls_verify("sip", "enable") == "tls sip verify enable"
    assert cmd.tls_trust("ldap", None) == "tls ldap trust none"
    assert cmd.tls_status("dbclient") == "tls dbclient"


# ---- lengths and characters the collection keeps to (reliability review F16) -------------------------------------
def test_a_basename_or_file_name_too_long_is_refused_before_it_reaches_the_node() -> None:
    with pytest.raises(MmpValidationError, match="is 300 characters long; basenames are kept to 100"):
        cmd.pki_csr("a" * 300, "cms1.example.com")
    with pytest.raises(MmpValidationError, match="node file names are kept to 128"):
        cmd.validate_file_name("b" * 129 + ".cer")
    assert cmd.validate_basename("c" * 100) == "c" * 100


@pytest.mark.parametrize(
    "value",
    ["moc.elpmaxe\u202e", "Soci\u00e9t\u00e9", "\u0430dmin", "zero\u200bwidth"],
    ids=["bidi-override", "accents", "cyrillic-look-alike", "zero-width-space"],
)
def test_non_ascii_and_bidi_characters_in_a_subject_are_refused_naming_the_code_point(value: str) -> None:
    with pytest.raises(MmpValidationError, match=r"non-ASCII character\(s\) U\+"):
        cmd.pki_csr("cms1-2027", "cms1.example.com", organization=value)


def test_a_san_list_beyond_the_limits_is_refused() -> None:
    many = ["n%d.example.com" % i for i in range(101)]
    with pytest.raises(MmpValidationError, match="has 102 entries; at most 100"):
        cmd.pki_csr("cms1-2027", "cms1.example.com", subject_alt_name=many)
    long_names = ["%s%d.example.com" % ("x" * 60, i) for i in range(80)]
    with pytest.raises(MmpValidationError, match="at most 4096 are sent on one MMP command line"):
        cmd.pki_csr("cms1-2027", "cms1.example.com", subject_alt_name=long_names)
