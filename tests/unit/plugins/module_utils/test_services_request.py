"""request_files: what cms_service_certs refuses in its controller files before it connects to any node."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import get_service
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._services import request_files

CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY_BLOCKS = (
    b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
    b"-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n",
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----\n",
)


@pytest.mark.parametrize("block", KEY_BLOCKS, ids=["pkcs8", "rsa", "ec", "encrypted"])
@pytest.mark.parametrize("option", ["cert_src", "bundle_src"])
def test_a_private_key_block_in_a_certificate_or_bundle_source_is_refused_naming_the_file(
    tmp_path: Path, option: str, block: bytes
) -> None:
    combined = tmp_path / "combined.cer"
    combined.write_bytes(CERT + block)
    params = {"key": "cms1.key", "cert": "cms1.cer", option: str(combined)}
    with pytest.raises(MmpValidationError) as err:
        request_files(params, get_service("webadmin"))
    assert f"{option} {combined} holds a private key block" in err.value.message
    assert "MIIE" not in err.value.message and "MHcC" not in err.value.message


def test_a_c2w_trust_source_with_a_private_key_is_refused_too(tmp_path: Path) -> None:
    trust = tmp_path / "trust.cer"
    trust.write_bytes(CERT + KEY_BLOCKS[0])
    with pytest.raises(MmpValidationError, match=r"c2w_trust_src .* holds a private key block"):
        request_files({"key": "a.key", "cert": "a.cer", "c2w_trust_src": str(trust)}, get_service("callbridge"))
