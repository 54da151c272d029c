# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cms_service_certs_entries
short_description: The services option of cisco_cms.mmp.cms_service_certs from the service_certs role's variables
version_added: 0.2.0
description:
  - Each entry of C(service_certs_services) over C(service_certs_defaults), with every name it must cover (the
    role's C(service_certs_names), the entry's own, the names peers dial the service by) and its TLS ports (see
    the C(cisco_cms.mmp.cms_tls_ports) filter), as the O(cisco_cms.mmp.cms_service_certs#module:services) option
    takes it.
options:
  _input:
    description: The service entries (C(service_certs_services)).
    type: list
    elements: dict
    required: true
  defaults:
    description: What every entry shares (C(service_certs_defaults)).
    type: dict
    required: true
  settings:
    description: C(names), C(tls_check), C(tls_ports), C(webadmin_fqdn), C(c2w_name), C(join_names).
    type: dict
    required: true
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
"""

EXAMPLES = r"""
- name: Every service of this node in one call
  cisco_cms.mmp.cms_service_certs:
    services: "{{ service_certs_services | cisco_cms.mmp.cms_service_certs_entries({}, {'names': [inventory_hostname]}) }}"
"""

RETURN = r"""
_value:
  description: The entries of the services option.
  type: list
  elements: dict
"""

from typing import Any  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError  # noqa: E402
from ansible_collections.cisco_cms.mmp.plugins.module_utils._service_rollout import call_entries  # noqa: E402


def cms_service_certs_entries(services: Any, defaults: Any, settings: Any) -> list[dict[str, Any]]:
    if not isinstance(services, list) or not isinstance(defaults, dict) or not isinstance(settings, dict):
        raise AnsibleFilterError(
            "cms_service_certs_entries expects a list of service entries, then two dicts, got %s, %s and %s"
            % (type(services).__name__, type(defaults).__name__, type(settings).__name__)
        )
    try:
        return call_entries(services, defaults, settings)
    except MmpError as exc:
        raise AnsibleFilterError(exc.message) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cms_service_certs_entries": cms_service_certs_entries}
