# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The logic behind cms_lab_ca: a two-tier CA on the controller for labs, or a CA kept elsewhere, signing CSRs.

Every file goes through ``_files`` (atomic writes, keys 0600 in a 0700 directory). In check mode nothing is
written, not even the CA directory or its lock file: the answer is what a real run would do.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import PRIVATE_FILES_SPEC, ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError, MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import (
    PRIVATE_FILE_MODE,
    PUBLIC_FILE_MODE,
    check_private_dir,
    ensure_private_dir,
    read_controller_file,
    read_if_exists,
    write_atomic,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import require_libraries
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import (
    HAS_CRYPTOGRAPHY,
    EncryptedKeyError,
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
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = "root-ca"
ISSUING = "issuing-ca"
BUNDLE = "ca-bundle.cer"

LAB_CA_ARGS = ArgumentSpec(
    {
        "path": {"type": "path", "required": True},
        "name": {"type": "str", "default": "cisco_cms.mmp Lab"},
        "ca_days": {"type": "int", "default": 3650},
        "ca_key_src": {"type": "path", "no_log": False},
        "ca_key_passphrase": {"type": "str", "no_log": True},
        "ca_chain_src": {"type": "path"},
        "csr": {"type": "path"},
        "dest": {"type": "path"},
        "fullchain_dest": {"type": "path"},
        "days": {"type": "int", "default": 397},
        "renew_within_days": {"type": "int", "default": 30},
        **PRIVATE_FILES_SPEC,
    },
    connection=False,
    required_by={"csr": ("dest",), "fullchain_dest": ("csr",)},
    required_together=[("ca_key_src", "ca_chain_src")],
)


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


def _key_usage(*, ca: bool) -> Any:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _create_ca(path: str, name: str, days: int) -> None:
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "%s Root CA" % name)])
    root = (
        _builder(root_name, root_name, root_key.public_key(), root_key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    issuing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuing_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "%s Issuing CA" % name)])
    issuing = (
        _builder(issuing_name, root_name, issuing_key.public_key(), root_key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    write_atomic(os.path.join(path, ROOT + ".key"), _key_pem(root_key), PRIVATE_FILE_MODE, private=True)
    write_atomic(os.path.join(path, ISSUING + ".key"), _key_pem(issuing_key), PRIVATE_FILE_MODE, private=True)
    write_atomic(os.path.join(path, ROOT + ".cer"), certs_to_pem([root]))
    write_atomic(os.path.join(path, ISSUING + ".cer"), certs_to_pem([issuing]))
    # The CMS bundle layout: intermediates, then the root, one trailing newline [TechNote S2].
    write_atomic(os.path.join(path, BUNDLE), certs_to_pem([issuing, root]))


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
        .add_extension(_key_usage(ca=False), critical=True)
        # CMS services act as TLS servers and (Call Bridge to web bridge, clustering) as TLS clients.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(_san_entries(san)), critical=False)
    return builder.sign(issuing_key, hashes.SHA256())


def _up_to_date(dest: str, csr: Any, issuing: Any, renew_within_days: int) -> dict[str, Any] | None:
    data = read_if_exists(dest)
    if data is None:
        return None
    try:
        cert = load_certificates(data, dest)[0]
    except MmpError:
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


def _load_own_ca(path: str) -> tuple[Any, list[Any]]:
    def read(name: str) -> bytes:
        return read_controller_file(os.path.join(path, name), "path")

    issuing = load_certificates(read(ISSUING + ".cer"), ISSUING + ".cer")[0]
    issuing_key = load_private_key(read(ISSUING + ".key"), ISSUING + ".key")
    root = load_certificates(read(ROOT + ".cer"), ROOT + ".cer")[0]
    return issuing_key, [issuing, root]


def _own_ca(module: Any, path: str, p: dict[str, Any], result: dict[str, Any]) -> tuple[Any, list[Any]] | None:
    """The CA under ``path``, created on first use: its issuing key and chain (issuing CA, root CA).

    ``None`` in check mode when the CA is still to be created: there is nothing to sign with yet.
    """
    if module.check_mode:
        # No directory, no lock file: a check run leaves the controller as it found it.
        if not os.path.exists(os.path.join(path, ISSUING + ".key")):
            result["changed"] = result["ca_created"] = True
            return None
        return _load_own_ca(path)
    ensure_private_dir(path, bool(p.get("allow_keys_in_repo")), "path")
    # Several hosts sign at once (one task per host); one lock keeps them from creating two CAs.
    with open(os.path.join(path, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(path, ISSUING + ".key")):
            result["changed"] = result["ca_created"] = True
            _create_ca(path, p["name"], p["ca_days"])
        return _load_own_ca(path)


def _external_ca_problems(key: Any, chain: list[Any], key_src: str, chain_src: str) -> list[str]:
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
    return problems


def _external_ca(module: Any, path: str, key_src: str, chain_src: str, result: dict[str, Any]) -> tuple[Any, list[Any]]:
    """A CA kept elsewhere: its key read in place (never copied; an encrypted one opened with ca_key_passphrase), its
    chain checked; ``path`` gets the bundle and the root so that the rollout finds them where it finds the lab CA's."""
    data = read_controller_file(key_src, "ca_key_src")
    passphrase = module.params.get("ca_key_passphrase")
    try:
        key = load_private_key(data, "ca_key_src %s" % key_src, path=key_src, passphrase=passphrase)
    except EncryptedKeyError:
        if passphrase:
            raise
        # The lab CA signs on the controller: an encrypted CA key is fine, given its passphrase.
        raise MmpValidationError(
            "ca_key_src %s is encrypted: give its passphrase in ca_key_passphrase (cms_ca_key_passphrase for the csrs "
            "role). The key is decrypted in memory on the controller only, never written or sent anywhere." % key_src
        ) from None
    chain = load_certificates(read_controller_file(chain_src, "ca_chain_src"), "ca_chain_src %s" % chain_src)
    problems = _external_ca_problems(key, chain, key_src, chain_src)
    if problems:
        raise MmpValidationError("the CA of ca_key_src/ca_chain_src cannot sign: " + "; ".join(problems))
    wanted = {BUNDLE: certs_to_pem(chain), ROOT + ".cer": certs_to_pem(chain[-1:])}
    if not module.check_mode:
        # The same directory as the lab CA's, which holds keys.
        ensure_private_dir(path, bool(module.params.get("allow_keys_in_repo")), "path")
    for name, data in wanted.items():
        changed = write_atomic(os.path.join(path, name), data, check_mode=module.check_mode)
        result["changed"] = result["changed"] or changed
    return key, chain


def _sign_csr(module: Any, p: dict[str, Any], issuing_key: Any, chain: list[Any], result: dict[str, Any]) -> None:
    csr = load_csr(read_controller_file(p["csr"], "csr"), p["csr"])
    if not csr.is_signature_valid:
        raise MmpValidationError("%s: the CSR's signature does not verify; fetch it from the node again" % p["csr"])
    info = _up_to_date(p["dest"], csr, chain[0], p["renew_within_days"])
    result.update(dest=p["dest"], signed=info is None)
    if info is None:
        result["changed"] = True
        if module.check_mode:
            return
        cert = _sign(csr, chain[0], issuing_key, p["days"])
        write_atomic(p["dest"], certs_to_pem([cert]), PUBLIC_FILE_MODE, option="dest")
        info = cert_info(cert)
    cert = load_certificates(read_controller_file(p["dest"], "dest"), p["dest"])[0]
    if p["fullchain_dest"]:
        changed = write_atomic(
            p["fullchain_dest"], certs_to_pem([cert, *chain]), check_mode=module.check_mode, option="fullchain_dest"
        )
        result["changed"] = result["changed"] or changed
        result["fullchain_dest"] = p["fullchain_dest"]
    result.update({k: info[k] for k in ("subject", "san", "not_after", "fingerprint_sha256")})


def run_lab_ca(module: Any) -> None:
    require_libraries(module, cryptography=True, paramiko=False)
    p = module.params
    path = p["path"]
    result: dict[str, Any] = {
        "changed": False,
        "bundle": os.path.join(path, BUNDLE),
        "root_cert": os.path.join(path, ROOT + ".cer"),
        "ca_created": False,
    }
    ca: tuple[Any, list[Any]] | None
    try:
        # Keys go there (the lab CA's): refused where they must not be, in check mode too.
        check_private_dir(path, bool(p.get("allow_keys_in_repo")), "path")
        if p["ca_key_src"]:
            ca = _external_ca(module, path, p["ca_key_src"], p["ca_chain_src"], result)
        else:
            ca = _own_ca(module, path, p, result)
        if ca is None:  # check mode, CA still to be created: whatever there is to sign would be signed
            if p["csr"]:
                result.update(dest=p["dest"], signed=True)
        elif p["csr"]:
            _sign_csr(module, p, ca[0], ca[1], result)
    except MmpError as exc:
        module.fail_json(msg=exc.full_message())
    except OSError as exc:
        module.fail_json(msg="%s: %s" % (exc.filename or path, exc.strerror or exc))
    module.exit_json(**result)
