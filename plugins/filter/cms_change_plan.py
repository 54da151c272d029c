# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cms_change_plan
short_description: A change plan or outcome record (JSON shape of docs/plans.md) of a role's run
version_added: 0.1.0
description:
  - The plan a run in check mode writes for a change board, or the outcome record the real run writes in the same
    shape, that is every step in execution order with the exact MMP commands per node, why, the backups, the call guard,
    and the outage (estimated in a plan, measured in an outcome). It reads nothing and changes nothing.
  - C(procedure=db_cluster_rebuild) predicts the rebuild's commands from the M(cisco_cms.mmp.cms_db_cluster_info)
    statuses and the P(cisco_cms.mmp.cms_db_rebuild_plan#filter) plan, with the command builders the modules use;
    C(procedure=service_certs) takes the commands M(cisco_cms.mmp.cms_service_certs) returned.
  - The companion filter C(cms_change_markdown) renders such a record as Markdown (headings, GFM tables, code spans);
    C(cms_change_timings) makes the timings record a finished rebuild keeps for the next plan from its outcome steps;
    C(cms_change_expiry) gives one node's old and new expiry per certificate.
options:
  _input:
    description:
      - For C(db_cluster_rebuild), C(kind) (C(plan) or C(outcome)), C(plan), C(statuses), and for an outcome
        C(results), C(after), C(measured_outage), C(estimate). For C(service_certs), C(kind), C(reports) (per node,
        its C(service_certs_report)), C(trust) and C(trust_cleanup) (per node, its M(cisco_cms.mmp.cms_trust)
        results of the role's trust phases, when they ran). Both take C(timings), C(basis), C(call_guard), C(created), C(check_mode).
    type: dict
    required: true
  procedure:
    description: Which role's run.
    type: str
    choices: [db_cluster_rebuild, service_certs]
    required: true
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
"""

EXAMPLES = r"""
- name: The plan of the rebuild
  ansible.builtin.set_fact:
    change: "{{ request | cisco_cms.mmp.cms_change_plan('db_cluster_rebuild') }}"
    change_md: "{{ request | cisco_cms.mmp.cms_change_plan('db_cluster_rebuild') | cisco_cms.mmp.cms_change_markdown }}"
"""

RETURN = r"""
_value:
  description: The record of docs/plans.md (C(schema), C(kind), C(procedure), C(steps), C(commands), C(nodes), ...).
  type: dict
"""

from typing import Any  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._change_plan import (  # noqa: E402
    expiry,
    markdown,
    measured_timings,
    rebuild_document,
    service_document,
)


def cms_change_plan(request: Any, procedure: str) -> dict[str, Any]:
    if not isinstance(request, dict) or request.get("kind") not in ("plan", "outcome"):
        raise AnsibleFilterError("cms_change_plan expects a dict with kind plan or outcome")
    if procedure == "db_cluster_rebuild":
        return rebuild_document(request)
    if procedure == "service_certs":
        return service_document(request)
    raise AnsibleFilterError("cms_change_plan: procedure is db_cluster_rebuild or service_certs, not %r" % procedure)


def cms_change_markdown(record: Any) -> str:
    if not isinstance(record, dict) or "steps" not in record:
        raise AnsibleFilterError("cms_change_markdown expects a record made by cms_change_plan")
    return markdown(record)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "cms_change_plan": cms_change_plan,
            "cms_change_markdown": cms_change_markdown,
            # Helpers of the roles' outcome tasks: the timings record a run keeps, a node's old/new expiry.
            "cms_change_timings": lambda steps, previous=None: measured_timings(list(steps or []), previous),
            "cms_change_expiry": expiry,
        }
