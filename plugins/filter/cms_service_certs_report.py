# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cms_service_certs_report
short_description: The service_certs role's report entries from one cms_service_certs call with services
version_added: 0.2.0
description:
  - From the result of a M(cisco_cms.mmp.cms_service_certs) call with O(cisco_cms.mmp.cms_service_certs#module:services),
    the C(service_certs_report) entries of the C(cisco_cms.mmp.service_certs) role, one per service the call worked
    on (C(phase), C(service), C(result), C(old_cert), C(new_cert), C(old_not_after), C(new_not_after),
    C(outage_seconds), C(trust), C(state), C(reasons), C(commands), C(call_guard), C(msg)).
  - A service the call did not reach (after a failure, or on a node the call guard skipped) has no entry.
options:
  _input:
    description: The call's result (registered), or the failed result.
    type: dict
    required: true
  phase:
    description: V(preflight) or V(rollout). A preflight result read as V(rollout) is the outcome of a node that was
      already in place (its services V(unchanged)).
    type: str
    required: true
  check_mode:
    description: Whether the run is in check mode (a change reads V(would change)).
    type: bool
    default: false
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
"""

EXAMPLES = r"""
- name: Record the outcome
  ansible.builtin.set_fact:
    service_certs_report: "{{ service_certs_report | default([]) + (result | cisco_cms.mmp.cms_service_certs_report('rollout')) }}"
"""

RETURN = r"""
_value:
  description: The report entries.
  type: list
  elements: dict
"""

from typing import Any  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._service_rollout import report_entries  # noqa: E402


def cms_service_certs_report(result: Any, phase: str, check_mode: bool = False) -> list[dict[str, Any]]:
    if not isinstance(result, dict) or phase not in ("preflight", "rollout"):
        raise AnsibleFilterError(
            "cms_service_certs_report expects a cms_service_certs result and phase preflight or rollout, got %s and %r"
            % (type(result).__name__, phase)
        )
    return report_entries(result, phase, bool(check_mode))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cms_service_certs_report": cms_service_certs_report}
