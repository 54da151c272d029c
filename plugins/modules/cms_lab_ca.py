#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_lab_ca
short_description: A small two-tier CA on the controller that signs CMS CSRs, for labs and tests
version_added: 0.1.0
description:
  - Stands in for the enterprise CA in a lab, so the whole certificate flow runs end to end (C(pki csr) on the node,
    the CSR fetched, signed here, the certificate and the bundle rolled out with M(cisco_cms.mmp.cms_service_certs)).
  - Creates, once, a root CA and an issuing CA under O(path) (keys mode 0600) and the CA bundle CMS wants
    (C(ca-bundle.cer), the issuing CA then the root CA, one trailing newline).
  - With O(csr), signs that CSR into O(dest) (subject and SAN copied from the CSR; a CSR without SAN gets its CN as
    SAN, since TLS clients match the SAN only), and optionally writes the full chain to O(fullchain_dest).
  - Or, with O(ca_key_src) and O(ca_chain_src), signs with a CA you keep elsewhere (for example the CA key of the
    AWX credential of this collection, which a job gets as C(cms_ca_key_file)). That key is read where it is and
    never copied; O(path) then only receives the bundle (C(ca-bundle.cer)) and the root (C(root-ca.cer)).
  - Idempotent. An existing O(dest) signed by this CA for the CSR's key, subject and SAN, with more than
    O(renew_within_days) days left, is kept.
  - B(Not a production CA.) It has no revocation, no policy and keeps its keys in plain files. Run it where the
    files are meant to be, normally delegated to C(localhost).
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
attributes:
  check_mode:
    description: Reports what would be created or signed without writing anything.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  path:
    description: Directory of the CA (created when missing).
    type: path
    required: true
  name:
    description: Name of the CA; the root is C(<name> Root CA), the issuing CA C(<name> Issuing CA).
    type: str
    default: cisco_cms.mmp Lab
  ca_days:
    description: Validity of the CA certificates when they are created.
    type: int
    default: 3650
  ca_key_src:
    description:
      - Private key (PEM, unencrypted) of an existing issuing CA to sign with, instead of the CA under O(path).
      - Read in place, never copied. Goes with O(ca_chain_src).
    type: path
  ca_chain_src:
    description:
      - The certificate of that issuing CA, then its issuers up to the root CA (the CMS bundle layout). It must
        match O(ca_key_src), be a CA certificate and be valid now.
    type: path
  csr:
    description: PEM CSR file to sign.
    type: path
  dest:
    description: Where to write the signed certificate (PEM). Required with O(csr).
    type: path
  fullchain_dest:
    description: Also write the certificate followed by the bundle (the full chain webbridge3 takes) there.
    type: path
  days:
    description: Validity of the certificates it signs.
    type: int
    default: 397
  renew_within_days:
    description: Sign again when O(dest) expires within this many days.
    type: int
    default: 30
requirements:
  - cryptography (on the host the module runs on)
seealso:
  - module: cisco_cms.mmp.cms_pki_csr
  - module: cisco_cms.mmp.cms_service_certs
"""

EXAMPLES = r"""
- name: Sign a CSR fetched from the node with the lab CA
  cisco_cms.mmp.cms_lab_ca:
    path: "{{ playbook_dir }}/pki/lab-ca"
    csr: "{{ playbook_dir }}/pki/cms1/cms1-2027.csr"
    dest: "{{ playbook_dir }}/pki/cms1/cms1-2027.cer"
  delegate_to: localhost
"""

RETURN = r"""
bundle:
  description: Path of the CA bundle (issuing CA, root CA).
  returned: always
  type: str
root_cert:
  description: Path of the root CA certificate.
  returned: always
  type: str
ca_created:
  description: Whether the CA was created by this call (never with O(ca_key_src)).
  returned: always
  type: bool
dest:
  description: Path of the signed certificate.
  returned: with O(csr)
  type: str
signed:
  description: Whether the certificate was (or, in check mode, would be) signed by this call.
  returned: with O(csr)
  type: bool
subject:
  description: Subject of the certificate.
  returned: with O(csr), unless in check mode with a certificate still to sign
  type: str
san:
  description: Its subject alternative names.
  returned: with O(csr), unless in check mode with a certificate still to sign
  type: list
  elements: str
not_after:
  description: Its end of validity, ISO 8601 UTC.
  returned: with O(csr), unless in check mode with a certificate still to sign
  type: str
fingerprint_sha256:
  description: Its SHA-256 fingerprint.
  returned: with O(csr), unless in check mode with a certificate still to sign
  type: str
"""

import datetime  # noqa: E402
import fcntl  # noqa: E402 - the controller is POSIX
import os  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError  # noqa: E402
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    cert_info,
    certs_to_pem,
    check_chain_order,
    csr_info,
    describe,
    issued_by,
    key_matches_cert,
    load_certificates,
    load_csr,
    load_private_key,
    san_values,
)

if HAS_CRYPTOGRAPHY:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = "root-ca"
ISSUING = "issuing-ca"
BUNDLE = "ca-bundle.cer"


def _write(path: str, data: bytes, mode: int) -> None:
    """Write through a temporary file so a reader never sees half a key or certificate."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _builder(subject: Any, issuer: Any, public_key: Any, issuer_key: Any, days: int) -> Any:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A few minutes back, so that a node whose clock is slightly behind does not see "not yet valid".
        .not_valid_before(now - datetime.timedelta(minutes=10))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )


def _ca_usage() -> Any:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _create_ca(path: str, name: str, days: int) -> None:
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "%s Root CA" % name)])
    root = (
        _builder(root_name, root_name, root_key.public_key(), root_key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    issuing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuing_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "%s Issuing CA" % name)])
    issuing = (
        _builder(issuing_name, root_name, issuing_key.public_key(), root_key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    _write(os.path.join(path, ROOT + ".key"), _key_pem(root_key), 0o600)
    _write(os.path.join(path, ISSUING + ".key"), _key_pem(issuing_key), 0o600)
    _write(os.path.join(path, ROOT + ".cer"), certs_to_pem([root]), 0o644)
    _write(os.path.join(path, ISSUING + ".cer"), certs_to_pem([issuing]), 0o644)
    # The CMS bundle layout: intermediates, then the root, one trailing newline [TechNote S2].
    _write(os.path.join(path, BUNDLE), certs_to_pem([issuing, root]), 0o644)


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _san_entries(values: list[str]) -> list[Any]:
    entries: list[Any] = []
    for value in values:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            entries.append(x509.RFC822Name(value) if "@" in value else x509.DNSName(value))
    return entries


def _sign(csr: Any, issuing: Any, issuing_key: Any, days: int) -> Any:
    info = csr_info(csr)
    san = san_values(csr) or ([info["common_name"]] if info["common_name"] else [])
    builder = (
        _builder(csr.subject, issuing.subject, csr.public_key(), issuing_key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # CMS services act as TLS servers and (Call Bridge to web bridge, clustering) as TLS clients.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(_san_entries(san)), critical=False)
    return builder.sign(issuing_key, hashes.SHA256())


def _up_to_date(dest: str, csr: Any, issuing: Any, renew_within_days: int) -> dict[str, Any] | None:
    try:
        cert = load_certificates(_read(dest), dest)[0]
    except (OSError, MmpError):
        return None
    info, wanted = cert_info(cert), csr_info(csr)
    wanted_san = wanted["san"] or ([wanted["common_name"]] if wanted["common_name"] else [])
    if (
        issued_by(cert, issuing)
        and info["public_key_sha256"] == wanted["public_key_sha256"]
        and info["subject"] == wanted["subject"]
        and sorted(info["san"]) == sorted(wanted_san)
        and info["days_left"] > renew_within_days
        and not info["not_yet_valid"]
    ):
        return info
    return None


def _own_ca(module: Any, path: str, p: dict[str, Any], result: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The CA under ``path``, created on first use: its issuing key and chain (issuing CA, root CA)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    # Several hosts sign at once (one task per host); one lock keeps them from creating two CAs.
    with open(os.path.join(path, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(path, ISSUING + ".key")):
            result["changed"] = result["ca_created"] = True
            if module.check_mode:
                if p["csr"]:
                    result.update(dest=p["dest"], signed=True)
                module.exit_json(**result)
            _create_ca(path, p["name"], p["ca_days"])
        issuing = load_certificates(_read(os.path.join(path, ISSUING + ".cer")), ISSUING + ".cer")[0]
        issuing_key = load_private_key(_read(os.path.join(path, ISSUING + ".key")), ISSUING + ".key")
        root = load_certificates(_read(os.path.join(path, ROOT + ".cer")), ROOT + ".cer")[0]
    return issuing_key, [issuing, root]


def _external_ca(module: Any, path: str, key_src: str, chain_src: str, result: dict[str, Any]) -> tuple[Any, list[Any]]:
    """A CA kept elsewhere: its key read in place (never copied), its chain checked; ``path`` gets the bundle and
    the root so that the rollout finds them where it finds the lab CA's."""
    key = load_private_key(_read(key_src), "ca_key_src %s" % key_src)
    chain = load_certificates(_read(chain_src), "ca_chain_src %s" % chain_src)
    problems = []
    order = check_chain_order(chain, require_root=True)
    if order is not None:
        problems.append("ca_chain_src %s is not the CA certificate followed by its issuers: %s" % (chain_src, order))
    if not key_matches_cert(key, chain[0]):
        problems.append(
            "ca_key_src %s is not the key of %s, the first certificate of ca_chain_src: give the CA's own key"
            % (key_src, describe(chain[0]))
        )
    try:
        is_ca = chain[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        problems.append("%s is not a CA certificate (no basicConstraints CA:TRUE): it cannot sign" % describe(chain[0]))
    info = cert_info(chain[0])
    if info["expired"] or info["not_yet_valid"]:
        problems.append("%s is not valid now (%s to %s)" % (describe(chain[0]), info["not_before"], info["not_after"]))
    if problems:
        module.fail_json(msg="the CA of ca_key_src/ca_chain_src cannot sign: " + "; ".join(problems))
    wanted = {BUNDLE: certs_to_pem(chain), ROOT + ".cer": certs_to_pem(chain[-1:])}
    if not module.check_mode:
        os.makedirs(path, mode=0o700, exist_ok=True)
    for name, data in wanted.items():
        _keep_written(module, os.path.join(path, name), data, result)
    return key, chain


def _keep_written(module: Any, target: str, data: bytes, result: dict[str, Any]) -> None:
    """Write a public file (0644) unless it already holds ``data``."""
    try:
        if _read(target) == data:
            return
    except OSError:
        pass
    result["changed"] = True
    if not module.check_mode:
        _write(target, data, 0o644)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "name": {"type": "str", "default": "cisco_cms.mmp Lab"},
            "ca_days": {"type": "int", "default": 3650},
            "ca_key_src": {"type": "path", "no_log": False},
            "ca_chain_src": {"type": "path"},
            "csr": {"type": "path"},
            "dest": {"type": "path"},
            "fullchain_dest": {"type": "path"},
            "days": {"type": "int", "default": 397},
            "renew_within_days": {"type": "int", "default": 30},
        },
        required_by={"csr": ("dest",), "fullchain_dest": ("csr",)},
        required_together=[("ca_key_src", "ca_chain_src")],
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    path = p["path"]
    result: dict[str, Any] = {
        "changed": False,
        "bundle": os.path.join(path, BUNDLE),
        "root_cert": os.path.join(path, ROOT + ".cer"),
        "ca_created": False,
    }
    try:
        if p["ca_key_src"]:
            issuing_key, chain = _external_ca(module, path, p["ca_key_src"], p["ca_chain_src"], result)
        else:
            issuing_key, chain = _own_ca(module, path, p, result)
        issuing = chain[0]
        if not p["csr"]:
            module.exit_json(**result)
        csr = load_csr(_read(p["csr"]), p["csr"])
        if not csr.is_signature_valid:
            module.fail_json(msg="%s: the CSR's signature does not verify; fetch it from the node again" % p["csr"])
        info = _up_to_date(p["dest"], csr, issuing, p["renew_within_days"])
        result.update(dest=p["dest"], signed=info is None)
        if info is None:
            result["changed"] = True
            if module.check_mode:
                module.exit_json(**result)
            cert = _sign(csr, issuing, issuing_key, p["days"])
            os.makedirs(os.path.dirname(os.path.abspath(p["dest"])), exist_ok=True)
            _write(p["dest"], certs_to_pem([cert]), 0o644)
            info = cert_info(cert)
        cert = load_certificates(_read(p["dest"]), p["dest"])[0]
        if p["fullchain_dest"]:
            _keep_written(module, p["fullchain_dest"], certs_to_pem([cert, *chain]), result)
            result["fullchain_dest"] = p["fullchain_dest"]
        result.update({k: info[k] for k in ("subject", "san", "not_after", "fingerprint_sha256")})
    except MmpError as exc:
        module.fail_json(msg=exc.full_message())
    except OSError as exc:
        module.fail_json(msg="%s: %s" % (exc.filename or path, exc.strerror or exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
