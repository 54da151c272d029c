#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_api_info
short_description: Read live calls, alarms and the database view of a Cisco Meeting Server node through its REST API
version_added: 0.2.0
description:
  - Reads the node's REST API (served by Web Admin, HTTP Basic auth, XML) and returns its status, how many call
    legs and calls are active on it, its active alarms, its view of the database cluster and the clustered Call
    Bridges.
  - Each node counts only its own call legs, so ask every node you are about to restart.
  - Opens no SSH connection. The MMP connection options are accepted, so that C(module_defaults) for
    C(group/cisco_cms.mmp.cms) apply, and only O(host) is used, as the API address when O(api_host) is not set.
  - Read-only, in check mode too.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._api
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.INFO_MODULE
options:
  list_limit:
    description: Most alarms and Call Bridges returned (the API is read page by page).
    type: int
    default: 200
notes:
  - Bad API credentials fail with the name of the API user and the variables to set. A Web Admin that does not
    answer (disabled, restarting) fails with the address tried.
seealso:
  - module: cisco_cms.mmp.cms_db_cluster_info
"""

EXAMPLES = r"""
- name: How busy is each node?
  cisco_cms.mmp.cms_api_info:
  register: api

- name: Show the legs
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ api.call_legs_active }} legs, alarms {{ api.alarms | map(attribute='type') }}"

- name: A node reached by IP whose Web Admin certificate names its FQDN
  cisco_cms.mmp.cms_api_info:
    api_port: 445
    api_ca_file: files/corporate-ca.pem
    api_server_name: "{{ cms_fqdn }}"
"""

RETURN = r"""
status:
  description: C(/system/status) as returned, values typed (numbers, true/false).
  returned: success
  type: dict
  sample: {softwareVersion: 3.8.0, uptimeSeconds: 3600, clusterEnabled: true, callLegsActive: 3}
call_legs_active:
  description: Active call legs on this node (C(callLegsActive)); a restart of its Call Bridge drops them.
  returned: success
  type: int
idle:
  description: Whether the node carries no call leg.
  returned: success
  type: bool
call_legs_total:
  description: The C(total) of C(/callLegs).
  returned: success
  type: int
calls_total:
  description: The C(total) of C(/calls), calls with no legs included.
  returned: success
  type: int
alarms:
  description: Active alarms (C(/system/alarms)), each with C(id), C(type) and C(activeTimeSeconds).
  returned: success
  type: list
  elements: dict
database:
  description: C(/system/database) as this node sees it.
  returned: success
  type: dict
  contains:
    clustered:
      description: Whether the database is clustered, as the node says it.
      type: str
    nodes:
      description: One entry per database node, with C(hostname), C(master), C(up) and C(syncBehind).
      type: list
      elements: dict
call_bridges:
  description: The clustered Call Bridges (C(/callBridges)), each with C(id), C(name) and C(address).
  returned: success
  type: list
  elements: dict
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api_info import API_INFO_ARGS, run_info  # noqa: E402


def main() -> None:
    run_info(API_INFO_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
