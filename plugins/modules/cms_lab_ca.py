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
extends_documentation_fragment:
  - cisco_cms.mmp._private_files
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
      - Private key (PEM) of an existing issuing CA to sign with, instead of the CA under O(path).
      - Read in place, never copied. Goes with O(ca_chain_src). An encrypted key needs O(ca_key_passphrase).
    type: path
  ca_key_passphrase:
    description:
      - Passphrase of an encrypted O(ca_key_src). The key is decrypted in memory on the controller, where the lab CA
        signs; nothing decrypted is written. (Keys for CMS services stay unencrypted, the MMP has no passphrase
        prompt; this one never goes to a node.)
    type: str
    version_added: 0.2.0
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

from ansible_collections.cisco_cms.mmp.plugins.module_utils._lab_ca import LAB_CA_ARGS, run_lab_ca  # noqa: E402


def main() -> None:
    run_lab_ca(LAB_CA_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
