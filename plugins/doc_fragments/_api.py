# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The CMS REST API (served by Web Admin), shared by every module that reads live calls, alarms or the database.
    DOCUMENTATION = r"""
options:
  api_host:
    description:
      - Address of the node's Web Admin, which serves the REST API. Filled from the C(cms_api_host) variable.
      - Defaults to O(host).
    type: str
  api_port:
    description:
      - Web Admin's HTTPS port (C(webadmin listen)), often 443, or 445 when the Web Bridge has 443. Filled from
        C(cms_api_port).
    type: int
    default: 443
  api_user:
    description:
      - API user, an account apart from the MMP admin used over SSH. Filled from C(cms_api_user).
    type: str
  api_password:
    description:
      - Password of O(api_user). Filled from C(cms_api_password). Never logged nor returned.
    type: str
  api_ca_file:
    description:
      - PEM file of the CA certificates Web Admin's certificate is verified against. Filled from C(cms_api_ca_file).
      - Several PEM files separated by V(:) are all trusted, for example the old and the new root while Web Admin's
        certificate moves to another CA (ansible-core 2.17 or later; 2.16 takes one file).
      - Defaults to the controller's system trust store.
    type: path
  api_validate_certs:
    description:
      - Verify Web Admin's certificate (chain and name). Filled from C(cms_api_validate_certs).
      - V(false) sends the API password to whatever answers on O(api_host); use it only in a lab.
    type: bool
    default: true
  api_server_name:
    description:
      - The name Web Admin's certificate is checked against, when O(api_host) is an address the certificate
        does not name (a node reached by IP whose certificate names its FQDN). Filled from C(cms_api_server_name).
      - Defaults to O(api_host). Needs ansible-core 2.17 or later on the controller (2.16's URL client always
        checks the name dialled).
    type: str
  api_timeout:
    description: Seconds to wait for one API reply.
    type: int
    default: 10
"""

    # The call guard: for modules whose steps restart the Call Bridge or stop the Web Bridge or Web Admin.
    CALL_GUARD = r"""
options:
  on_active_calls:
    description:
      - What to do when the node about to restart carries more than O(max_active_legs) active call legs, read from
        its REST API (C(callLegsActive)). Calls with no legs (a scheduled meeting nobody joined) never count.
      - V(wait) polls the node every O(calls_poll_interval) seconds and proceeds the moment it is idle; at
        O(calls_wait_timeout) it fails, or skips the node (O(on_calls_timeout)), before anything changed.
      - V(fail) fails at once, before any change, naming the node and its legs. V(skip) leaves a busy node for the
        next run and says so in the summary. V(force) restarts regardless.
      - Without O(api_user) and O(api_password) the guard is off, with one warning.
    type: str
    choices: [wait, fail, skip, force]
    default: wait
  max_active_legs:
    description: Most active call legs a node may carry and still be restarted.
    type: int
    default: 0
  calls_wait_timeout:
    description: Seconds O(on_active_calls=wait) waits for a node's calls to end.
    type: int
    default: 3600
  calls_poll_interval:
    description: Seconds between two reads of a busy node's call legs.
    type: float
    default: 15
  on_calls_timeout:
    description: What O(on_active_calls=wait) does at O(calls_wait_timeout) when the node is still busy.
    type: str
    choices: [fail, skip]
    default: fail
"""
