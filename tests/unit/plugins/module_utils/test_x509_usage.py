# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A certificate's key usage and extended key usage against the TLS role it is to play."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU

from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import usage_problems

# The simulator's certificate helpers make the test material; the installed collection (ansible-test units) has no
# simulator, so these tests run from the checkout only.
x509 = pytest.importorskip("tests.cmssim.x509")

NOW = dt.datetime.now(dt.UTC)
CA_KEY, CA = x509.make_ca("Usage CA", NOW)
KEY = x509.new_key()


def leaf(eku: list[Any] | None, key_usage: dict[str, bool] | None = None) -> cx509.Certificate:
    builder = (
        cx509.CertificateBuilder()
        .subject_name(x509.build_name({"CN": "cms1.example.com"}))
        .issuer_name(CA.subject)
        .public_key(KEY.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
    )
    if eku is not None:
        builder = builder.add_extension(cx509.ExtendedKeyUsage(eku), critical=False)
    if key_usage is not None:
        flags = dict.fromkeys(
            (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        builder = builder.add_extension(cx509.KeyUsage(**{**flags, **key_usage}), critical=True)
    return builder.sign(CA_KEY, hashes.SHA256())


@pytest.mark.parametrize(
    ("eku", "client", "problem"),
    [
        (None, True, None),  # no EKU: any purpose
        ([EKU.SERVER_AUTH, EKU.CLIENT_AUTH], True, None),
        ([EKU.SERVER_AUTH], False, None),
        ([EKU.SERVER_AUTH], True, "lacks clientAuth (TLS server and client)"),
        ([EKU.CLIENT_AUTH], False, "lacks serverAuth (TLS server)"),
        ([EKU.CODE_SIGNING], True, "lacks serverAuth and clientAuth"),
        ([EKU.ANY_EXTENDED_KEY_USAGE], True, None),
    ],
)
def test_the_extended_key_usage_must_allow_the_tls_role(
    eku: list[Any] | None, client: bool, problem: str | None
) -> None:
    problems = usage_problems(leaf(eku), client=client)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


def test_a_key_usage_without_signature_or_encipherment_is_refused() -> None:
    assert usage_problems(leaf(None, {"digital_signature": True})) == []
    assert usage_problems(leaf(None, {"key_encipherment": True})) == []
    assert "neither digitalSignature nor keyEncipherment" in usage_problems(leaf(None, {"key_cert_sign": True}))[0]
