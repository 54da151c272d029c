#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_backup
short_description: Take, fetch, list and roll back backups of a Cisco Meeting Server node (backup snapshot|list|rollback)
version_added: 0.1.0
description:
  - V(present) makes sure the snapshot O(name) exists on the node (C(backup snapshot <name>)) and that
    C(<name>.bak) and C(<name>.json) are kept on the controller in O(dest). The copy counts only when it has the
    size and SHA-256 of the node's file. A backup holds the node's configuration, certificates and private keys,
    so the copies are written 0600 in a directory created 0700.
  - Idempotent. When the snapshot exists on the node and the controller copy is intact, nothing runs. When the copy
    is missing or differs, it is fetched again from the same snapshot. O(force=true) takes a new snapshot under
    the same name.
  - Backups are never overwritten on the controller. When a new snapshot is to be taken (O(force=true), or the
    node has no snapshot of that name) and O(dest) already holds a copy of that name, the task fails before
    anything changes on the node, naming the file.
  - Without O(name), only lists the node's backups (C(backup list)); nothing changes.
  - V(rollback) runs C(backup rollback <name>.bak) and answers its C((Y/n)) with a capital C(Y). It overwrites the
    node's configuration, licence, certificates and private keys with the backup's, then reboots the node. It
    runs only when asked for, is not idempotent, and needs a backup taken on the same CMS version. The
    P(cisco_cms.mmp.db_cluster_rebuild#role) role takes and fetches a backup of every node before it changes
    anything.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._private_files
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.CHECK_MODE_FULL
  - cisco_cms.mmp._attributes.DIFF_FULL
options:
  name:
    description:
      - Snapshot name (letters, digits, C(-) and C(_)). The node writes C(<name>.bak) and C(<name>.json).
      - Required for V(rollback). Without it, V(present) only lists the backups.
    type: str
  state:
    description: V(present) (snapshot and fetch) or V(rollback).
    type: str
    choices: [present, rollback]
    default: present
  dest:
    description:
      - Controller directory for the copies, one per node (for example C(backups/{{ inventory_hostname }})).
        Created 0700 when missing. Required for V(present) with a O(name).
    type: path
  force:
    description:
      - Take a new snapshot even when one of that name exists on the node (the node's snapshot is replaced).
      - A controller copy is never replaced. When O(dest) already holds C(<name>.bak) or C(<name>.json), the task
        fails before anything changes on the node; give another O(name), or move the old copy away first.
    type: bool
    default: false
notes:
  - The outputs of C(backup list) and C(backup rollback) are not shown in any public Cisco material. The module
    reads the list leniently and treats the connection dropping right after the confirmation as the reboot.
  - The MMP has no checksum command. The node's file is read over SFTP and hashed on the controller.
seealso:
  - module: cisco_cms.mmp.cms_db_cluster
"""

EXAMPLES = r"""
- name: Snapshot every node and keep the backups on the controller
  cisco_cms.mmp.cms_backup:
    name: before-dbcerts-2026
    dest: "backups/{{ inventory_hostname }}"
  register: backup

- name: Show where each backup is, with its SHA-256
  ansible.builtin.debug:
    msg: "{{ backup.path }} {{ backup.sha256 }}"

- name: List the backups on a node
  cisco_cms.mmp.cms_backup: {}
  register: listed

- name: Roll a node back (it reboots)
  cisco_cms.mmp.cms_backup:
    name: before-dbcerts-2026
    state: rollback
"""

RETURN = r"""
name:
  description: The snapshot name.
  returned: always
  type: str
file:
  description: The backup file on the node, C(<name>.bak).
  returned: when O(name) is set
  type: str
path:
  description: Controller path of the C(.bak) copy.
  returned: when O(state=present) with a O(name)
  type: str
size:
  description: Size of the C(.bak) in bytes (the node's and the copy's).
  returned: when O(state=present) with a O(name), except in check mode when a snapshot or fetch is pending
  type: int
sha256:
  description: SHA-256 of the C(.bak) (the node's and the copy's).
  returned: when O(state=present) with a O(name), except in check mode when a snapshot or fetch is pending
  type: str
checksum:
  description: Same as RV(sha256).
  returned: when O(state=present) with a O(name), except in check mode when a snapshot or fetch is pending
  type: str
json:
  description: The C(<name>.json) copy (C(path), and C(size) and C(sha256) when fetched by this run).
  returned: when the node has the C(.json) file
  type: dict
snapshot_taken:
  description: Whether a snapshot was taken (or would be, in check mode).
  returned: when O(state=present) with a O(name)
  type: bool
fetched:
  description: Whether the C(.bak) was fetched by this run (or would be).
  returned: when O(state=present) with a O(name)
  type: bool
backups:
  description: The backups C(backup list) shows, without extension.
  returned: always
  type: list
  elements: str
commands:
  description: The MMP commands run (or, in check mode, that would run), apart from C(backup list).
  returned: always
  type: list
  elements: str
rebooting:
  description: The node took the rollback and is rebooting.
  returned: when O(state=rollback) ran
  type: bool
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._backup import BACKUP_ARGS, run_backup  # noqa: E402


def main() -> None:
    run_backup(BACKUP_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
