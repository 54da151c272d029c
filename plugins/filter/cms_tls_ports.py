# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cms_tls_ports
short_description: The TLS port options of cisco_cms.mmp.cms_service_certs for one service
version_added: 0.1.0
description:
  - From a service entry of the C(cisco_cms.mmp.service_certs) role and a map of TLS endpoints to ports, the
    C(tls_port) (and, for webbridge3, C(c2w_tls_port)) options of M(cisco_cms.mmp.cms_service_certs).
  - An endpoint is named after its service, and a service's other certificate after the service and that
    certificate (C(webbridge3-c2w)), as the simulated lab's C(cms_tls_ports) names them. Which service has which
    endpoints comes from the collection's service catalog.
  - A port the entry gives itself wins; an option without a port is left out (the module then reads the port from
    the service's status).
options:
  _input:
    description: The service entry, with C(service) and optionally C(tls_port), C(c2w_tls_port).
    type: dict
    required: true
  ports:
    description: "C({endpoint: port}), the TLS endpoints of the nodes."
    type: dict
    required: true
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
"""

EXAMPLES = r"""
- name: Apply a certificate, checked on the port the lab's endpoint map gives
  cisco_cms.mmp.cms_service_certs:
    service: webbridge3
    key: cms1-2027.key
    cert_src: certs/cms1-2027-fullchain.cer
    tls_port: "{{ ports.tls_port | default(omit) }}"
    c2w_tls_port: "{{ ports.c2w_tls_port | default(omit) }}"
  vars:
    ports: "{{ {'service': 'webbridge3'} | cisco_cms.mmp.cms_tls_ports(cms_tls_ports) }}"
"""

RETURN = r"""
_value:
  description: C(tls_port) and C(c2w_tls_port), each only when a port is known.
  type: dict
"""

from typing import Any  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import tls_port_options  # noqa: E402
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError  # noqa: E402


def cms_tls_ports(entry: Any, ports: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or not isinstance(ports, dict):
        raise AnsibleFilterError(
            "cms_tls_ports expects a service entry and a {endpoint: port} map, got %s and %s"
            % (type(entry).__name__, type(ports).__name__)
        )
    try:
        return tls_port_options(entry, ports)
    except MmpError as exc:
        raise AnsibleFilterError(exc.message) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cms_tls_ports": cms_tls_ports}
