# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cms_in_use_checks
short_description: The key and chain checks of every file a CMS node's services use
version_added: 0.1.0
description:
  - From a M(cisco_cms.mmp.cms_pki_info) result (with C(usage=true)), the C(files), C(match) and C(verify) options
    of a second M(cisco_cms.mmp.cms_pki_info) call that checks what each service presents. Each key is matched with
    its certificate (C(pki match)). Each certificate is verified against the service's CA bundle, or alone when
    it is a full chain such as webbridge3's (C(pki verify)).
  - Covers webadmin, callbridge, webbridge3, webbridge, xmpp, turn and the database cluster (server and client
    certificates verified against its CA certificate).
  - Files a service names that the node does not have are left out, so the second call does not fail on them;
    M(cisco_cms.mmp.cms_cert_report) reports them as missing.
options:
  _input:
    description: A registered M(cisco_cms.mmp.cms_pki_info) result.
    type: dict
    required: true
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
"""

EXAMPLES = r"""
- name: Read every file and who uses it
  cisco_cms.mmp.cms_pki_info:
  register: pki

- name: Check each key/certificate pair and chain the services use
  cisco_cms.mmp.cms_pki_info:
    files: "{{ checks.files }}"
    match: "{{ checks.match }}"
    verify: "{{ checks.verify }}"
    usage: false
  vars:
    checks: "{{ pki | cisco_cms.mmp.cms_in_use_checks }}"
  when: checks.match or checks.verify
"""

RETURN = r"""
_value:
  description:
    - C(files), the certificate and bundle files to describe; C(match), a list of C({key, cert}); C(verify), a list
      of C({cert, bundle}) (C(bundle) null for a full chain). Each appears once.
  type: dict
"""

from typing import Any  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._report import in_use_checks  # noqa: E402


def cms_in_use_checks(pki: Any) -> dict[str, list[Any]]:
    if not isinstance(pki, dict):
        raise AnsibleFilterError(
            "cms_in_use_checks expects a cms_pki_info result (a dict), got %s" % type(pki).__name__
        )
    if pki.get("failed") or pki.get("skipped") or pki.get("unreachable"):
        return {"files": [], "match": [], "verify": []}
    return in_use_checks(pki)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cms_in_use_checks": cms_in_use_checks}
