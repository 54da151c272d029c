#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_run_record
short_description: Write the controller-side records of a role's run
version_added: 0.1.0
description:
  - The files the roles keep on the controller are written by this module, in one task. For
    C(cisco_cms.mmp.db_cluster_rebuild) these are the run record C(state.json), the plan and outcome records and the
    timings file (and it removes the certificates fetched for distribution); for C(cisco_cms.mmp.service_certs), the
    change plan or outcome record and the timings file.
  - Runs inside its action plugin on the controller, whatever host the task names. It starts no process per file
    and contacts no node.
  - Each file is written under a temporary name, then renamed into place, so a reader never sees half a file. A
    file that already holds the content is left alone.
  - Names are relative to O(path) and may not leave it.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
attributes:
  check_mode:
    description: Reports what would be written or removed without writing anything.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  path:
    description:
      - The directory of the files, created when missing. A relative path is relative to the playbook's directory.
    type: path
    required: true
  dir_mode:
    description:
      - Mode of the directories this creates. With C(0700), an existing O(path) that others may read is
        tightened to C(0700) (the rebuild's work directory holds backups with private keys).
    type: str
    choices: ["0700", "0755"]
    default: "0700"
  files:
    description: File name under O(path) (subdirectories allowed, such as C(plans/x.json)) to its text content.
    type: dict
    default: {}
  mode:
    description: Mode of the files written.
    type: str
    choices: ["0600", "0644"]
    default: "0600"
  absent:
    description: Names under O(path) to remove (a directory with everything in it).
    type: list
    elements: str
    default: []
seealso:
  - module: cisco_cms.mmp.cms_db_cluster
  - module: cisco_cms.mmp.cms_service_certs
  - module: cisco_cms.mmp.cms_backup
"""

EXAMPLES = r"""
- name: Record the run, then remove the copies fetched for distribution
  cisco_cms.mmp.cms_run_record:
    path: "{{ db_cluster_rebuild_work_dir }}"
    files:
      state.json: "{{ record | to_nice_json }}\n"
    absent: [transfer]
  run_once: true
"""

RETURN = r"""
path:
  description: The directory.
  returned: always
  type: str
written:
  description: Paths of the files written (in check mode, that would be written).
  returned: always
  type: list
  elements: str
removed:
  description: Paths removed (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._run_record import RECORD_ARGS, run_record  # noqa: E402


def main() -> None:
    run_record(RECORD_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
