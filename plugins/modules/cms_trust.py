#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_trust
short_description: Set what a Cisco Meeting Server trust store trusts, and its verification mode
version_added: 0.2.0
description:
  - Manages one trust store of an MMP node, the CA bundle a service checks its peers by. The stores are the Call
    Bridge's C(c2w), C(cluster), C(branding), C(ucm) and C(imps) stores (C(callbridge trust c2w|cluster|branding
    <bundle>), C(callbridge ucm|imps certs <bundle>)), Web Bridge 3's C(c2w) store (C(webbridge3 c2w trust)), the 2.x
    Web Bridge's C(trust) store (C(webbridge trust)), and the C(tls <name>) stores (C(tls sip trust <bundle>)).
  - V(present) (the default) adds the CAs of O(bundle_src) to what the store trusts now, so a CA change can add the
    new CA everywhere before any certificate is swapped; the new bundle holds the old and the new CAs. O(remove_src)
    removes the CAs it holds.
  - V(exact) makes O(bundle_src) the whole store. A CA it leaves out is removed only with O(allow_remove=true).
  - A CA is never removed while a certificate the node presents (a service certificate and its bundle, a database
    cluster certificate) still chains to it. The task fails before anything changes, naming the certificate.
  - The bundle is uploaded normalised (PEM blocks only, LF line ends, one trailing newline). A file in use is never
    overwritten; when the content differs from the file of the chosen name, the bundle goes to a name derived from its
    content, so a second run finds it and changes nothing.
  - A trust change takes effect when the service restarts. When something changed and the service runs, the module
    runs C(callbridge restart) (C(webbridge3 restart) for Web Bridge 3's store); O(restart=false) leaves it for
    later. With API credentials, the call guard decides before the restart, as in
    M(cisco_cms.mmp.cms_service_certs); without them the module warns that the guard is off.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._api
  - cisco_cms.mmp._api.CALL_GUARD
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.CHECK_MODE_FULL
  - cisco_cms.mmp._attributes.DIFF_FULL
options:
  service:
    description:
      - The service that keeps the store (V(callbridge), V(webbridge3), V(webbridge)), or V(tls) for a
        C(tls <name>) store.
    type: str
    required: true
  store:
    description:
      - The store's name. V(callbridge) has V(c2w), V(cluster), V(branding), V(ucm) and V(imps); V(webbridge3) has
        V(c2w); V(webbridge) (CMS 2.x) has V(trust); V(tls) has V(sip), V(ldap), V(dbclient), V(dbserver) and
        V(webadmin).
    type: str
    required: true
  state:
    description:
      - V(present) adds the CAs of O(bundle_src) to the store (and removes those of O(remove_src)); V(exact) makes
        O(bundle_src) the store.
    type: str
    choices: [present, exact]
    default: present
  bundle_src:
    description:
      - Controller path of a PEM file with the CA certificate(s) to trust (a path relative to the role's or
        playbook's C(files/) works too). Required for V(exact).
    type: path
  bundle:
    description:
      - The node file name of the new bundle. Default for V(exact) is the file name of O(bundle_src), for V(present)
        C(<service>-<store>-trust.cer). A name in use with other content is refused when given, and replaced by a
        name derived from the content when not.
    type: str
  remove_src:
    description:
      - Controller path of a PEM file with CA certificate(s) to remove from the store (V(present) only). Refused
        while a certificate of the node still chains to one of them.
    type: path
  allow_remove:
    description:
      - With V(exact), let the CAs the store trusts now and O(bundle_src) leaves out be removed. Without it such a
        task fails, naming the CAs.
    type: bool
    default: false
  verify:
    description:
      - The store's verification mode, where it has one. V(enable) or V(disable) for the C(ucm) and C(imps) stores;
        also V(ocsp) for C(tls) stores.
    type: str
    choices: [enable, disable, ocsp]
  restart:
    description:
      - Restart the service after a change so that it takes effect. With V(false) the change waits for the next
        restart (the summary of a rollout does that once per node).
    type: bool
    default: true
  only_if_set:
    description:
      - With V(present), leave a store that trusts nothing, or that this node's CMS release lacks, as it is (the
        task reports RV(skipped_store) and changes nothing). A role adding a new CA to every store in use sets this -
        setting an empty store would turn on checks (a Call Bridge cluster store, for one) nobody asked for.
    type: bool
    default: false
notes:
  - The C(tls <name>) status block, the names besides C(sip), C(verify disable|ocsp) and the C(branding) command are
    not shown in public Cisco material; the module reads an unknown answer as unknown and fails instead of guessing.
seealso:
  - module: cisco_cms.mmp.cms_service_certs
  - module: cisco_cms.mmp.cms_pki_info
"""

EXAMPLES = r"""
- name: Before a CA change, trust the new CA beside the old one on every Call Bridge cluster store
  cisco_cms.mmp.cms_trust:
    service: callbridge
    store: cluster
    bundle_src: files/new-issuing-ca.cer

- name: SIP TLS verification against the enterprise root
  cisco_cms.mmp.cms_trust:
    service: tls
    store: sip
    state: exact
    bundle_src: files/ROOTCA.cer
    verify: enable

- name: After every node presents certificates of the new CA, stop trusting the old one
  cisco_cms.mmp.cms_trust:
    service: callbridge
    store: cluster
    remove_src: files/old-issuing-ca.cer
"""

RETURN = r"""
store:
  description: The store, as C(<service> <store>).
  returned: always
  type: str
  sample: callbridge cluster
commands:
  description: The MMP commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: [callbridge trust cluster callbridge-cluster-trust-1a2b3c4d.cer, callbridge restart]
bundle:
  description: The file the store names after the task (C(null) for an empty store).
  returned: always
  type: str
previous_bundle:
  description: The file the store named before.
  returned: always
  type: str
uploaded:
  description: Whether the bundle was uploaded by this run.
  returned: always
  type: bool
trusted:
  description: The CAs the store trusts after the task, each with C(subject) and C(fingerprint_sha256).
  returned: always
  type: list
  elements: dict
added:
  description: The CAs added, as in RV(trusted).
  returned: always
  type: list
  elements: dict
removed:
  description: The CAs removed, as in RV(trusted).
  returned: always
  type: list
  elements: dict
already_trusted:
  description: The CAs of O(bundle_src) the store trusted before the task, as in RV(trusted). A certificate whose chain
    holds one of them was trusted already (the role's preflight asks it in check mode).
  returned: always
  type: list
  elements: dict
verify:
  description: The verification mode after the task (V(enable), V(disable), V(ocsp)); C(null) when the store has
    none.
  returned: always
  type: str
restarted:
  description: Whether the service was restarted so that the change took effect.
  returned: always
  type: bool
outage_seconds:
  description: Seconds the service was down for the change to take effect, from the restart (or the 2.x Web Bridge's
    C(disable)) until the command that brings it back returned; C(0) when nothing restarted (check mode included).
  returned: always
  type: float
  sample: 2.04
call_guard:
  description: The call guard's decision before the restart (C(node), C(decision), C(legs_at_decision),
    C(waited_s), C(reason)); C(null) when no restart ran or the guard is off.
  returned: always
  type: dict
skipped_store:
  description: Why O(only_if_set=true) left the store alone.
  returned: when O(only_if_set=true) skipped the store
  type: str
skipped_busy:
  description: The node carried calls and O(on_active_calls=skip) left it for a later run; nothing changed.
  returned: when the guard skipped the node
  type: bool
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._trust import TRUST_ARGS, run_trust  # noqa: E402


def main() -> None:
    run_trust(TRUST_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
