# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cms_csr_plan
short_description: The keys and CSRs to make on a CMS node, with the CN and SAN of each
version_added: 0.1.0
description:
  - From a node's name, FQDN and the C(cms_csr_*) settings, the list of CSRs the C(cisco_cms.mmp.csrs) role makes with
    M(cisco_cms.mmp.cms_pki_csr), one C({basename, cn, san, services}) each.
  - Layout V(node) makes one CSR for all the node's services; V(service) one per service (the TechNote's standalone
    table); V(cluster) one for the node's own identity (webadmin, the web bridge) and one cluster identity (CN the
    cluster FQDN, SAN the cluster FQDN and every peer) for callbridge, turn and xmpp.
  - The web bridges' CSRs name the join names; on a node that runs XMPP, the XMPP server's and the 2.x web bridge's
    name the XMPP domain. Which service does what comes from the collection's service catalog.
  - A list may also be given as a string, as C(-e) passes it, a JSON list or comma-separated names; anything else is
    refused with a message that names the variable.
options:
  _input:
    description:
      - C(node) (the inventory name, prefix of every basename), C(fqdn), C(cms_version) (picks the default
        services), C(peers) (the FQDNs of every node of the play), and the role's variables without their
        C(cms_csr_) prefix, C(layout), C(suffix), C(services), C(join_names), C(cluster_fqdn), C(xmpp_domain),
        C(extra_names). A missing or null value takes the role's default.
    type: dict
    required: true
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
"""

EXAMPLES = r"""
- name: One CSR per service of the node
  ansible.builtin.debug:
    msg: "{{ {'node': inventory_hostname, 'fqdn': cms_fqdn, 'layout': 'service', 'suffix': '2027'} | cisco_cms.mmp.cms_csr_plan }}"
"""

RETURN = r"""
_value:
  description:
    - One entry per CSR, C(basename) (C(<node>-<suffix>), C(<node>-<service>-<suffix>) or C(<node>-cluster-<suffix>)),
      C(cn), C(san) (the CN first, each name once) and C(services).
  type: list
  elements: dict
"""

from typing import Any  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._csr_plan import csr_plan  # noqa: E402
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError  # noqa: E402


def cms_csr_plan(request: Any) -> list[dict[str, Any]]:
    if not isinstance(request, dict):
        raise AnsibleFilterError(
            "cms_csr_plan expects a dict of the node's CSR settings, got %s" % type(request).__name__
        )
    try:
        return csr_plan(dict(request))
    except MmpError as exc:
        raise AnsibleFilterError(exc.message) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cms_csr_plan": cms_csr_plan}
