# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpParseError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import (
    normalize_dn,
    normalize_serial,
    parse_csr_output,
    parse_match,
    parse_openssl_date,
    parse_pki_inspect,
    parse_pki_list,
    parse_selfsigned_output,
    parse_sign_output,
    parse_verify,
    to_iso_utc,
)

# [GUESS] shapes the simulator prints for what no transcript shows (tests/cmssim/shapes.py), with OpenSSL's
# usual SAN and basic-constraints wording.
INSPECT_CHAIN_GUESS = """\
Checking ssh public keys...not found
Checking user configured certificates and keys...found
File contains 2 PEM encoded certificates
Certificate:
  Data:
    Version: 3 (0x2)
    Serial Number:
      00:a1:b2
    Signature Algorithm: sha256WithRSAEncryption
    Issuer: CN = Lab Issuing CA
    Validity:
      Not Before: Jan  2 03:04:05 2026 GMT
      Not After : Dec 31 23:59:59 2026 GMT
    Subject: C = GB, O = Example Org, CN = cms1.example.com
    Subject Public Key Info:
      Public Key Algorithm: rsaEncryption
      Public-Key: (2048 bit)
      Modulus:
        00:c3:...
      Exponent: 65537 (0x10001)
    X509v3 extensions:
      X509v3 Basic Constraints: critical
        CA:FALSE
      X509v3 Subject Alternative Name:
        DNS:cms1.example.com, DNS:join.example.com, IP Address:2001:DB8:0:0:0:0:0:1, email:admin@example.com
  Signature Algorithm: sha256WithRSAEncryption
  Signature Value:
    12:34
Certificate:
  Data:
    Version: 3 (0x2)
    Serial Number: 4660 (0x1234)
    Signature Algorithm: sha256WithRSAEncryption
    Issuer: CN = Lab Root CA
    Validity:
      Not Before: Jan  1 00:00:00 2020 GMT
      Not After : Jan  1 00:00:00 2030 GMT
    Subject: CN = Lab Issuing CA
    Subject Public Key Info:
      Public Key Algorithm: rsaEncryption
      Public-Key: (4096 bit)
    X509v3 extensions:
      X509v3 Basic Constraints: critical
        CA:TRUE
  Signature Algorithm: sha256WithRSAEncryption
"""

INSPECT_CSR_GUESS = """\
Checking ssh public keys...not found
Checking user configured certificates and keys...found
File contains a PEM encoded certificate signing request
Certificate Request:
  Data:
    Version: 1 (0x0)
    Subject: CN=tac.example.com
    Subject Public Key Info:
      Public Key Algorithm: rsaEncryption
      Public-Key: (2048 bit)
    Attributes:
      Requested Extensions:
        X509v3 Subject Alternative Name:
          DNS:tac.example.com, DNS:streamer.example.com
  Signature Algorithm: sha256WithRSAEncryption
"""


def test_pki_list_returns_files_in_node_order(transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    assert parse_pki_list(variant(transcript("pki_list_s8.txt"))) == [
        "tac.key",
        "tac.cer",
        "ROOTCA.cer",
        "example.key",
        "example.csr",
        "tac.csr",
    ]


def test_pki_list_of_an_empty_store_is_empty() -> None:
    assert parse_pki_list("User supplied certificates and keys:\r\n") == []


@pytest.mark.parametrize("text", ["", "\r\n", "cms2> pki list\r\ncms2> ", 'ERROR: Unknown command "pki lst"\n'])
def test_pki_list_without_its_header_is_a_parse_error(text: str) -> None:
    with pytest.raises(MmpParseError) as err:
        parse_pki_list(text)
    assert err.value.command == "pki list"


def test_pki_inspect_of_the_technote_certificate(
    transcript: Callable[[str], str], variant: Callable[[str], str]
) -> None:
    info = parse_pki_inspect(variant(transcript("pki_inspect_s1.txt")))
    assert info["found"] is True
    assert info["ssh_key_found"] is False
    assert info["kind"] == "certificate"
    assert info["count"] == 1
    assert info["serial"] == "1102CE3B0006000000A7"
    assert info["signature_algorithm"] == "sha1WithRSAEncryption"
    assert info["issuer"] == "DC=com, DC=uctplab, CN=uctplab-TPWIN2008R2DC-CA"
    assert info["subject"] == "C=IN, ST=KA, L=BLR, O=Siigo, OU=AC, CN=VCScMRA.S.com"
    assert info["not_before"] == "2015-03-09T08:47:17Z"
    assert info["not_after"] == "2017-03-09T08:57:17Z"
    assert info["key_algorithm"] == "rsaEncryption"
    assert info["key_bits"] == 4096
    # The transcript is cut before the extensions: no SAN shown, CA flag unknown.
    assert info["san"] == []
    assert info["is_ca"] is None
    assert len(info["certificates"]) == 1


def test_pki_inspect_seed_copy_parses_the_same(transcript: Callable[[str], str]) -> None:
    assert parse_pki_inspect(transcript("tn216549_step02_pki_inspect.txt")) == parse_pki_inspect(
        transcript("pki_inspect_s1.txt")
    )


def test_pki_inspect_of_a_chain_lists_every_certificate(variant: Callable[[str], str]) -> None:
    info = parse_pki_inspect(variant(INSPECT_CHAIN_GUESS))
    assert info["count"] == 2
    assert info["subject"] == "C=GB, O=Example Org, CN=cms1.example.com"
    assert info["issuer"] == "CN=Lab Issuing CA"
    assert info["serial"] == "A1B2"
    assert info["san"] == ["cms1.example.com", "join.example.com", "2001:db8::1", "admin@example.com"]
    assert info["is_ca"] is False
    assert info["not_before"] == "2026-01-02T03:04:05Z"
    intermediate = info["certificates"][1]
    assert intermediate["subject"] == "CN=Lab Issuing CA"
    assert intermediate["serial"] == "1234"
    assert intermediate["is_ca"] is True
    assert intermediate["key_bits"] == 4096


def test_pki_inspect_of_a_csr() -> None:
    info = parse_pki_inspect(INSPECT_CSR_GUESS)
    assert info["kind"] == "csr"
    assert info["subject"] == "CN=tac.example.com"
    assert info["san"] == ["tac.example.com", "streamer.example.com"]
    assert info["key_bits"] == 2048
    assert info["certificates"] == []
    assert info["not_after"] is None


def test_pki_inspect_of_a_key_gives_only_its_size() -> None:
    info = parse_pki_inspect(
        "Checking ssh public keys...not found\n"
        "Checking user configured certificates and keys...found\n"
        "File contains a PEM encoded private key\n"
        "Private-Key: (2048 bit)\n"
    )
    assert info["kind"] == "private_key"
    assert info["key_bits"] == 2048
    assert info["subject"] is None


def test_pki_inspect_of_an_encrypted_key() -> None:
    info = parse_pki_inspect(
        "Checking ssh public keys...not found\n"
        "Checking user configured certificates and keys...found\n"
        "File contains an encrypted PEM private key\n"
    )
    assert info["kind"] == "encrypted_private_key"


def test_pki_inspect_of_a_missing_file() -> None:
    info = parse_pki_inspect(
        "Checking ssh public keys...not found\r\nChecking user configured certificates and keys...not found\r\n"
    )
    assert info["found"] is False
    assert info["kind"] is None
    assert info["count"] == 0


@pytest.mark.parametrize("text", ["", "garbage\nmore garbage\n", "ERROR: File x.cer not found\n"])
def test_pki_inspect_of_garbled_output_is_a_parse_error(text: str) -> None:
    with pytest.raises(MmpParseError):
        parse_pki_inspect(text)


def test_pki_inspect_with_an_unreadable_date_is_a_parse_error() -> None:
    with pytest.raises(MmpParseError, match="cannot read the date"):
        parse_pki_inspect("File contains a PEM encoded certificate\nCertificate:\n  Not After : someday\n")


def test_csr_output_names_key_and_csr(transcript: Callable[[str], str], variant: Callable[[str], str]) -> None:
    assert parse_csr_output(variant(transcript("pki_csr_s8.txt"))) == {"key_file": "tac.key", "csr_file": "tac.csr"}


def test_csr_output_without_the_created_line_is_a_parse_error() -> None:
    with pytest.raises(MmpParseError, match="Created key file"):
        parse_csr_output("ERROR: Invalid key/cert basename: a.b\n")


def test_selfsigned_and_sign_outputs_guess_shapes() -> None:
    assert parse_selfsigned_output("......\nCreated key file dbca.key and certificate dbca.crt\n") == {
        "key_file": "dbca.key",
        "cert_file": "dbca.crt",
    }
    assert parse_selfsigned_output("something else\n") == {"key_file": None, "cert_file": None}
    assert parse_sign_output("Signed certificate dbserver.crt with dbca\n") == {"cert_file": "dbserver.crt"}
    assert parse_sign_output("") == {"cert_file": None}


@pytest.mark.parametrize(
    "text, matches",
    [
        ("SUCCESS: Key and certificate pair match\n", True),
        ("FAILURE: Key and certificate pair do not match\n", False),
        ("\x1b[0mFAILURE: key does not match certificate\x1b[K\r\n", False),
        ("ERROR: Key and certificate mismatch\n", False),
    ],
)
def test_match(text: str, matches: bool) -> None:
    assert parse_match(text) is matches


@pytest.mark.parametrize("text", ["", "ERROR: File tac.cer not found\n", "hello\n"])
def test_match_without_an_answer_is_a_parse_error(text: str) -> None:
    with pytest.raises(MmpParseError):
        parse_match(text)


@pytest.mark.parametrize(
    "text, result",
    [
        ("SUCCESS: Certificate verified against ROOTCA.cer\n", (True, "Certificate verified against ROOTCA.cer")),
        ("SUCCESS: Certificate is self-signed and valid\r\n", (True, "Certificate is self-signed and valid")),
        (
            "FAILURE: Certificate verification failed: unable to get local issuer certificate\n",
            (False, "unable to get local issuer certificate"),
        ),
        ("FAILURE: certificate has expired\n", (False, "certificate has expired")),
        ("tac.cer: OK\n", (True, "OK")),
        (
            "CN = tac\nerror 20 at 0 depth lookup: unable to get local issuer certificate\nerror tac.cer: verification "
            "failed\n",
            (False, "unable to get local issuer certificate"),
        ),
    ],
)
def test_verify(text: str, result: tuple[bool, str]) -> None:
    assert parse_verify(text) == result


def test_verify_without_an_answer_is_a_parse_error() -> None:
    with pytest.raises(MmpParseError):
        parse_verify("Checking...\n")


def test_openssl_dates() -> None:
    assert parse_openssl_date("Mar  9 08:47:17 2015 GMT") == datetime.datetime(
        2015, 3, 9, 8, 47, 17, tzinfo=datetime.UTC
    )
    assert to_iso_utc(parse_openssl_date("Dec 31 23:59:59.123 2049 UTC")) == "2049-12-31T23:59:59Z"
    with pytest.raises(MmpParseError):
        parse_openssl_date("Feb 30 00:00:00 2020 GMT")


def test_iso_utc_converts_other_zones() -> None:
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert to_iso_utc(datetime.datetime(2026, 1, 1, 1, 0, 0, tzinfo=paris)) == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "given, serial",
    [
        ("11:02:ce:3b:00:06:00:00:00:a7", "1102CE3B0006000000A7"),
        ("00:a1:b2", "A1B2"),
        ("4660 (0x1234)", "1234"),
        ("0x0abc", "0ABC"),
        (2748, "0ABC"),
    ],
)
def test_serials_have_one_form(given: str | int, serial: str) -> None:
    assert normalize_serial(given) == serial


def test_distinguished_names_have_one_spacing() -> None:
    assert normalize_dn("C = GB, O = Example Org, CN = a + OU = b") == "C=GB, O=Example Org, CN=a+OU=b"
    assert normalize_dn("C=IN,ST=KA") == "C=IN, ST=KA"
