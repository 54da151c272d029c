#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_pki_sign
short_description: Use the built-in CA of a Cisco Meeting Server node (pki selfsigned, pki sign)
version_added: 0.1.0
description:
  - Without O(ca), runs C(pki selfsigned <name> [CN:<cn>]), creating C(<name>.key) and a self-signed
    C(<name>.crt) (the database cluster CA C(dbca), or a self-signed certificate).
  - With O(ca), runs C(pki sign <name> <ca>) (CMS 2.7 and later), signing C(<name>.csr) with C(<ca>.key) and
    C(<ca>.crt) into C(<name>.crt).
  - Idempotent. A certificate that exists, has not expired, matches its key (C(pki match)) and is signed by that
    CA for the key of C(<name>.csr) (or is self-signed with that CN) is not issued again unless O(force=true).
  - C(pki selfsigned) writes C(<name>.key) and C(<name>.crt). Replacing files that a service uses is refused
    unless O(force=true). C(pki sign) keeps the key, so re-signing a certificate in use only warns.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.CHECK_MODE_FULL
  - cisco_cms.mmp._attributes.DIFF_FULL
options:
  name:
    description: Basename of the certificate (and of its key and CSR).
    type: str
    required: true
  ca:
    description:
      - Basename of the CA (C(<ca>.key), C(<ca>.crt)) that signs C(<name>.csr). Omit it to create a self-signed
        certificate.
    type: str
  cn:
    description:
      - Common name of a self-signed certificate (the domain, for the database cluster CA). Only used without
        O(ca). The same characters as the subject values of M(cisco_cms.mmp.cms_pki_csr) are refused.
    type: str
  force:
    description: Issue the certificate again even when a valid one exists; allow replacing a key in use.
    type: bool
    default: false
  dest:
    description:
      - Controller path to fetch the certificate to. A directory when it exists or ends with C(/), else a file
        name. A relative path is relative to the playbook's directory.
    type: path
seealso:
  - module: cisco_cms.mmp.cms_pki_csr
"""

EXAMPLES = r"""
- name: The database cluster CA on the primary
  cisco_cms.mmp.cms_pki_sign:
    name: dbca
    cn: example.com

- name: Sign the database server and client CSRs with it
  cisco_cms.mmp.cms_pki_sign:
    name: "{{ item }}"
    ca: dbca
  loop: [dbserver, dbclient]
"""

RETURN = r"""
commands:
  description: The MMP commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: ["pki sign dbserver dbca"]
cert_file:
  description: Name of the certificate file on the node.
  returned: always
  type: str
  sample: dbserver.crt
key_file:
  description: Name of its key file on the node.
  returned: always
  type: str
certificate:
  description: The certificate in PEM form.
  returned: unless in check mode with a change pending
  type: str
subject:
  description: Subject of the certificate.
  returned: unless in check mode with a change pending
  type: str
  sample: CN=cms1.example.com
issuer:
  description: Issuer of the certificate.
  returned: unless in check mode with a change pending
  type: str
san:
  description: Subject alternative names.
  returned: unless in check mode with a change pending
  type: list
  elements: str
serial:
  description: Serial number, upper-case hex without separators.
  returned: unless in check mode with a change pending
  type: str
not_before:
  description: Start of validity, ISO 8601 UTC.
  returned: unless in check mode with a change pending
  type: str
not_after:
  description: End of validity, ISO 8601 UTC.
  returned: unless in check mode with a change pending
  type: str
days_left:
  description: Whole days until O(name) expires.
  returned: unless in check mode with a change pending
  type: int
fingerprint_sha256:
  description: SHA-256 fingerprint of the certificate, colon-separated hex.
  returned: unless in check mode with a change pending
  type: str
in_use_by:
  description: Services (and roles) using the files the command writes, when a certificate is issued.
  returned: when a certificate is (or would be) issued
  type: list
  elements: str
diff:
  description:
    - In diff mode, C(before) (subject, issuer, SAN, serial, validity, fingerprint of the current certificate)
      and C(after) (the C(commands), then the same figures of the new certificate once issued).
  returned: when a change is pending and diff mode is on
  type: dict
dest:
  description: Controller path the certificate was fetched to.
  returned: when O(dest) is set
  type: str
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._pki import PKI_SIGN_ARGS, run_sign  # noqa: E402


def main() -> None:
    run_sign(PKI_SIGN_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
