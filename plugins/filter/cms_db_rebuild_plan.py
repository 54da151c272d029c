# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cms_db_rebuild_plan
short_description: The plan of the database cluster rebuild (primary, certificates, what is due and why)
version_added: 0.1.0
description:
  - The decisions of the P(cisco_cms.mmp.db_cluster_rebuild#role) role, from the M(cisco_cms.mmp.cms_db_cluster_info)
    result of every node, the run record an earlier run left and the backups kept on the controller. It reads
    nothing and changes nothing.
  - It chooses the primary (the node whose status shows it primary, the one named, the primary of an unfinished
    run, or the node holding the new CA's key), the address the other nodes reach it at, and the certificates
    (V(provided) files; V(adopt), the generated ones a healthy cluster runs on while they are not due; or
    V(generate) new ones under a fresh serial). It says which nodes are not right yet and why, which backups are
    due, and whether an unfinished run is resumed (then C(force) does not count twice).
  - C(problems) lists every reason not to start (bad variables, no single primary, nodes missing from the play, a
    serial or backup name used before), each with the fix.
options:
  _input:
    description:
      - C(vars) (the role variables without their C(db_cluster_rebuild_) prefix), C(hosts) (a list, per node
        C(name), C(database), C(address), C(fqdn), C(domain), C(ansible_host) and C(status), its
        M(cisco_cms.mmp.cms_db_cluster_info) result), C(saved) (the run record), C(now) (UTC C(YYYYMMDDhhmm)),
        C(work_dir), C(controller_backups) (C(<host>/<file>) under C(<work_dir>/backups)), and optionally
        C(provided_checks) and C(certificate_checks) (per node, its C(check_certs) report).
    type: dict
    required: true
  variables_only:
    description: Check only C(vars) (before any node is read); the result then holds C(problems) only.
    type: bool
    default: false
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
"""

EXAMPLES = r"""
- name: Plan the rebuild
  ansible.builtin.set_fact:
    plan: "{{ request | cisco_cms.mmp.cms_db_rebuild_plan }}"
"""

RETURN = r"""
_value:
  description:
    - C(problems), C(primary), C(primary_address), C(mode), C(serial), C(target), C(server_cert_names), C(pki)
      (the subjects the built-in CA writes), C(nodes) (per node C(wanted), C(files), C(cert_args), C(right),
      C(why), C(backup)), C(pending), C(rebuild), C(reason), C(resumed), C(force), C(backup_name), C(record)
      (the run record to write), C(close_record), C(summary) and, with C(certificate_checks), C(certificates).
  type: dict
"""

from typing import Any  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._db_rebuild_plan import (  # noqa: E402
    check_variables,
    plan_rebuild,
)


def cms_db_rebuild_plan(request: Any, variables_only: bool = False) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise AnsibleFilterError(
            "cms_db_rebuild_plan expects a dict (vars, hosts, saved, now, ...), got %s" % type(request).__name__
        )
    if variables_only:
        return {"problems": [{"check": "variables", "msg": p} for p in check_variables(request.get("vars") or {})]}
    if not request.get("now"):
        raise AnsibleFilterError("cms_db_rebuild_plan needs now (the UTC time as YYYYMMDDhhmm)")
    return plan_rebuild(request)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cms_db_rebuild_plan": cms_db_rebuild_plan}
