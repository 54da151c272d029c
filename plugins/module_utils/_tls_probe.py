# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a TLS endpoint serves, with the standard library only: the SHA-256 fingerprint of the leaf it presents.

The fleet report (``_report``) compares that fingerprint with the certificate files a service is configured with,
so it needs neither the chain nor a trusted root: the handshake does not verify. cms_service_certs has its own,
verifying probe over the same ``handshake`` (``_services.tls_probe``, which needs cryptography).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any

DEFAULT_TIMEOUT = 5
MAX_PARALLEL = 16  # handshakes at once: a fleet's endpoints in a few seconds, without flooding a small controller


def der_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, colon-separated upper-case hex (as ``openssl x509 -fingerprint`` and
    cms_pki_info write it)."""
    return ":".join("%02X" % byte for byte in hashlib.sha256(der).digest())


def handshake(host: str, port: int, context: ssl.SSLContext, timeout: float) -> bytes:
    """The DER leaf certificate ``host:port`` presents in a handshake under ``context``. Raises ``OSError``
    (``ssl.SSLError`` included) when the endpoint cannot be reached, refuses the handshake or presents no
    certificate."""
    with socket.create_connection((host, port), timeout=timeout) as raw, context.wrap_socket(raw) as conn:
        der = conn.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the endpoint presented no certificate")
    return der


def served_leaf(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The DER leaf certificate ``host:port`` presents, whatever its chain (see ``handshake``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Only the fingerprint is compared: an expired or untrusted certificate is still the one served.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return handshake(host, port, context, timeout)


def probe(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """``{host, port, fingerprint_sha256}`` of what ``host:port`` serves, or ``{host, port, error}``."""
    try:
        return {"host": host, "port": port, "fingerprint_sha256": der_fingerprint(served_leaf(host, port, timeout))}
    except (OSError, ValueError) as exc:
        # "Connection refused", "timed out", an SSL alert's reason: shorter than str(exc), which adds errno noise.
        reason = (getattr(exc, "reason", None) or exc.strerror) if isinstance(exc, OSError) else None
        return {"host": host, "port": port, "error": str(reason or exc) or type(exc).__name__}


def probe_all(targets: list[tuple[str, int]], timeout: float = DEFAULT_TIMEOUT) -> dict[tuple[str, int], Any]:
    """``probe`` of every ``(host, port)``, in parallel; each endpoint once."""
    unique = list(dict.fromkeys(targets))
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(unique))) as pool:
        results = pool.map(lambda target: probe(target[0], target[1], timeout), unique)
        return dict(zip(unique, results, strict=True))
