#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_pki_csr
short_description: Generate a private key and CSR on a Cisco Meeting Server node (pki csr)
version_added: 0.1.0
description:
  - Runs C(pki csr) on the node's MMP to create C(<name>.key) and C(<name>.csr) in its file store, optionally
    fetches the CSR to the controller, or removes both files.
  - Idempotent by content. When both files exist and the CSR carries the requested subject and subject alternative
    names, nothing runs.
  - C(pki csr) overwrites an existing key without asking, and a service using that key breaks at once. The module
    refuses to do that (and to remove a key in use) unless O(force=true). The check covers webadmin, callbridge,
    webbridge, webbridge3, xmpp, turn and the database cluster.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.CHECK_MODE_FULL
  - cisco_cms.mmp._attributes.DIFF_FULL
options:
  name:
    description:
      - Basename of the key and CSR files (C(<name>.key), C(<name>.csr)). Letters, digits, C(-) and C(_) only.
      - On a live node use a new basename for each renewal (for example C(webadmin-2027)).
    type: str
    required: true
  cn:
    description:
      - Common name, usually the FQDN the service answers on (the cluster FQDN for clustered call bridges).
      - Required when O(state=present).
      - Subject values (O(cn), O(ou), O(o), O(st)) may hold spaces (they are sent in double quotes) but no double
        quote, control character or newline, and none of C(;) C(|) C(&) C($) C(`) C(<) C(>) C(\) C(/). Such values
        are refused before anything is sent to the node.
    type: str
  ou:
    description: Organizational unit.
    type: str
  o:
    description: Organization.
    type: str
  st:
    description: State or province.
    type: str
  c:
    description: Country, a two-letter ISO 3166 code.
    type: str
  subject_alt_name:
    description:
      - DNS names, IP addresses and e-mail addresses for the subjectAltName extension, without C(DNS:) prefixes.
      - CMS requires the CN in the list; it is added when missing.
    type: list
    elements: str
  state:
    description:
      - V(present) makes sure the key and a CSR with this subject exist.
      - V(absent) removes C(<name>.key) and C(<name>.csr) over SFTP (refused while a service uses the key).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Regenerate even when the CSR already matches, and allow replacing or removing a key that a service uses
        (that service breaks until it gets a certificate for the new key).
    type: bool
    default: false
  dest:
    description:
      - Controller path to fetch the CSR to, for signing by a CA. A directory when it exists or ends with C(/)
        (created when missing), else a file name.
      - A relative path is relative to the playbook's directory, as with M(ansible.builtin.fetch).
      - The copy is rewritten only when it differs from the node's file.
    type: path
seealso:
  - module: cisco_cms.mmp.cms_pki_sign
  - module: cisco_cms.mmp.cms_pki_info
"""

EXAMPLES = r"""
- name: Key and CSR for the web admin, fetched for the corporate CA
  cisco_cms.mmp.cms_pki_csr:
    name: webadmin-2027
    cn: cms1.example.com
    o: Example Corp
    c: US
    subject_alt_name:
      - cms1.example.com
    dest: csr/

- name: Clustered call bridge, one certificate for the cluster FQDN and every peer
  cisco_cms.mmp.cms_pki_csr:
    name: callbridge-2027
    cn: cms.example.com
    subject_alt_name: [cms1.example.com, cms2.example.com, cms3.example.com]

- name: Remove a CSR and key that are no longer needed
  cisco_cms.mmp.cms_pki_csr:
    name: webadmin-2025
    state: absent
"""

RETURN = r"""
commands:
  description: The MMP commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: ["pki csr webadmin-2027 CN:cms1.example.com C:US subjectAltName:cms1.example.com"]
name:
  description: The basename.
  returned: always
  type: str
key_file:
  description: Name of the key file on the node.
  returned: always
  type: str
  sample: webadmin-2027.key
csr_file:
  description: Name of the CSR file on the node.
  returned: always
  type: str
  sample: webadmin-2027.csr
csr:
  description: The CSR in PEM form.
  returned: when O(state=present) and not in check mode with a change pending
  type: str
subject:
  description: Subject attributes of the CSR (CN, OU, O, ST, C).
  returned: when O(state=present) and not in check mode with a change pending
  type: dict
  sample: {CN: cms1.example.com, C: US}
subject_alt_name:
  description: Subject alternative names of the CSR.
  returned: when O(state=present) and not in check mode with a change pending
  type: list
  elements: str
public_key_sha256:
  description: SHA-256 of the CSR's public key (colon-separated hex); equal to that of the certificate issued for it.
  returned: when O(state=present) and not in check mode with a change pending
  type: str
in_use_by:
  description: Services (and roles) that use C(<name>.key) on the node; empty when none or when the key is new.
  returned: always
  type: list
  elements: str
  sample: ["webadmin key"]
diff:
  description:
    - In diff mode, C(before) (files, subject, SAN, public key hash) and C(after) (the same, the C(commands) to run,
      and C(breaks), the services that lose their key).
  returned: when a change is pending and diff mode is on
  type: dict
dest:
  description: Controller path the CSR was fetched to.
  returned: when O(dest) is set
  type: str
removed:
  description: Files removed.
  returned: when O(state=absent)
  type: list
  elements: str
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._pki import PKI_CSR_ARGS, run_csr  # noqa: E402


def main() -> None:
    run_csr(PKI_CSR_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
