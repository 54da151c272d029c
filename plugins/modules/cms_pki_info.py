#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_pki_info
short_description: Inspect the keys, CSRs and certificates of a Cisco Meeting Server node
version_added: 0.1.0
description:
  - Lists the node's user files (C(pki list)), downloads them over SFTP and describes each on the controller with
    C(cryptography). Certificates are described by subject, issuer, SAN, serial, validity, days left, SHA-256
    fingerprint and key size. Private keys are described by type, size and a hash of their public part; no key
    material is ever returned.
  - Reports which service uses which files, read from each service's status and from C(database cluster status).
  - Checks key/certificate pairs (C(pki match) on the node, and again locally) and certificate chains
    (C(pki verify) on the node, and again locally).
  - Decides whether certificates in use should be renewed (O(renew_within_days), O(valid_at)).
  - Read-only. It runs the same in check mode.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.INFO_MODULE
options:
  files:
    description:
      - Describe only these files (default, every file C(pki list) shows). A name that is not on the node fails
        the task, as does a missing file named in O(match) or O(verify).
    type: list
    elements: str
  match:
    description: Key/certificate pairs to check.
    type: list
    elements: dict
    suboptions:
      key:
        description: Key file name on the node.
        type: str
        required: true
      cert:
        description: Certificate file name on the node.
        type: str
        required: true
  verify:
    description: Certificates to verify, against a bundle or root CA file when given.
    type: list
    elements: dict
    suboptions:
      cert:
        description: Certificate (or full chain) file name on the node.
        type: str
        required: true
      bundle:
        description: CA bundle or root certificate file name on the node.
        type: str
  usage:
    description: Read every service status and the database cluster status to tell which files are in use.
    type: bool
    default: true
  renew_within_days:
    description: A certificate in use that expires within this many days should be renewed.
    type: int
    default: 30
  valid_at:
    description:
      - Instead of O(renew_within_days), the time at which certificates in use must be valid. Either relative
        (V(+30d), V(+4w), V(+12h)) or an ISO 8601 date or date-time (UTC when no zone is given).
    type: str
"""

EXAMPLES = r"""
- name: What expires within 60 days on the node, and what uses it
  cisco_cms.mmp.cms_pki_info:
    renew_within_days: 60
  register: pki

- name: Show the certificates to renew
  ansible.builtin.debug:
    msg: "{{ pki.renew }}"

- name: Check a new pair and chain before applying it
  cisco_cms.mmp.cms_pki_info:
    files: [webadmin-2027.crt]
    match:
      - key: webadmin-2027.key
        cert: webadmin-2027.crt
    verify:
      - cert: webadmin-2027.crt
        bundle: ca-bundle.crt
"""

RETURN = r"""
files:
  description: Every file C(pki list) shows, in the node's order.
  returned: always
  type: list
  elements: str
certificates:
  description:
    - Per certificate file, its first (entity) certificate. The keys are C(subject), C(subject_dict), C(issuer),
      C(common_name), C(san), C(serial), C(not_before), C(not_after), C(days_left), C(expired),
      C(not_yet_valid), C(fingerprint_sha256), C(public_key_sha256), C(key_type), C(key_size), C(is_ca),
      C(self_signed), C(chain_length), C(chain) and C(used_by).
    - C(should_renew) is set for certificates in use.
  returned: always
  type: dict
  sample: {"webadmin.crt": {"subject": "CN=cms1.example.com", "not_after": "2027-01-31T12:00:00Z", "days_left": 60}}
keys:
  description:
    - Per private key file, C(encrypted), C(key_type), C(key_size), C(public_key_sha256) (never the key itself),
      C(used_by).
    - A key that cannot be read (an encrypted key, which CMS cannot use) has C(encrypted) and C(error) (how to fix
      it) instead; the rest of the report is unaffected.
  returned: always
  type: dict
csrs:
  description: Per CSR file, its subject, SAN and public key hash.
  returned: always
  type: dict
unreadable:
  description: File name to the reason, for files that look like a certificate or CSR but cannot be parsed.
  returned: always
  type: dict
other_files:
  description: Files that hold no key, CSR or certificate (backups, licence).
  returned: always
  type: list
  elements: str
match:
  description:
    - Per pair of O(match), C(match) (both checks say yes), C(node) (C(pki match)), C(local) (cryptography), and
      C(reason) when a check could not be made (C(node) or C(local) is then null).
  returned: always
  type: list
  elements: dict
verify:
  description: Per entry of O(verify), C(verified) (both checks say yes), C(node), C(local) and C(reason).
  returned: always
  type: list
  elements: dict
services:
  description:
    - Parsed status of every service the node has. Passwords are left out.
    - Every trust store a status shows is a field naming its file (callbridge C(c2w_trust), C(cluster_trust),
      C(branding_trust), C(ucm_trust), C(imps_trust); webbridge3 C(c2w_trust)), with the booleans C(ucm_verify)
      and C(imps_verify). Ports are numbers (turn C(tls_port), webadmin C(listen_port)).
    - Each listen list keeps the items the status prints (C(listen), webbridge3 C(https_listen) and C(c2w_listen),
      for example V(a:443)) and has a parsed twin, a list of C(interface) and C(port), the port a number or null
      when the status names an interface only (C(listeners), webbridge3 C(https_listeners) and C(c2w_listeners)).
  returned: always
  type: dict
  sample: {"webbridge3": {"https_listen": ["a:443"], "https_listeners": [{"interface": "a", "port": 443}]}}
database_cluster:
  description: Parsed C(database cluster status).
  returned: always
  type: dict
tls:
  description:
    - The C(tls <name>) trust stores (C(sip), C(ldap), C(dbclient), C(dbserver), C(webadmin)) the node answered
      for, each with C(trust) (the CA bundle file, null when none), C(verify) (C(enabled), C(disabled) or C(ocsp))
      and C(known) (false when the output had none of the expected lines).
    - Empty when O(usage) is false.
  returned: always
  type: dict
  sample: {"sip": {"tls": "sip", "trust": "ROOTCA.cer", "verify": "enabled", "known": true}}
files_in_use:
  description:
    - File name to the services (and roles) using it. Every file a status names is here, trust stores included
      (C(callbridge cluster_trust), C(callbridge ucm_trust), C(callbridge imps_trust), C(tls sip trust)...), so
      a file named only in a trust line is in use.
  returned: always
  type: dict
  sample: {"webadmin.key": ["webadmin key"], "ROOTCA.cer": ["tls sip trust"]}
should_renew:
  description: Whether any certificate in use should be renewed.
  returned: always
  type: bool
renew:
  description: The certificate files in use that should be renewed.
  returned: always
  type: list
  elements: str
checked_at:
  description: Controller time of the check, ISO 8601 UTC.
  returned: always
  type: str
valid_at:
  description: The time certificates in use must be valid at, ISO 8601 UTC.
  returned: always
  type: str
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._pki import PKI_INFO_ARGS, run_info  # noqa: E402


def main() -> None:
    run_info(PKI_INFO_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
