#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_lock
short_description: Take or release the lock of a Cisco Meeting Server node, seen by every controller
version_added: 0.1.0
description:
  - A run that changes a node (a service certificate swap, a database cluster rebuild) takes the node's lock first
    and releases it at the end, so that a second run on that node, from this controller or any other (an AWX
    schedule, a colleague's laptop, a re-run after a kill), is refused at once instead of changing the node at the
    same time.
  - The lock is a small JSON file, C(cisco_cms_mmp.lock), in the node's file store (the SFTP root). It names its
    holder - the local user, the run id, the controller's host name, the process id of Ansible on that controller,
    the purpose, when it was taken and until when it holds (UTC).
  - V(present) takes the lock for O(run_id). It is taken atomically (written under a temporary name, then renamed
    onto the lock file, which an SFTP rename refuses to overwrite), so of two runs at once exactly one gets it.
    Taken again by the same O(run_id), its expiry is moved to O(ttl) seconds from now. Held by another run, the
    task fails with the holder, since when and until when, and how to break it; nothing changes on the node.
  - A lock whose expiry has passed belongs to a run that died. It is taken over with a warning naming that run.
    Expiry is compared with the clock of the controller that reads the lock, so keep controllers' clocks in sync.
  - V(absent) removes the lock if O(run_id) holds it. Another run's lock is left alone, with a warning.
  - O(break_lock=true) takes over (V(present)) or removes (V(absent)) another run's lock, with a warning. Only for a
    run known to be dead.
  - The lock file is never taken for a certificate or key by the other modules, and no module accepts its name as a
    file name.
  - O(scope=cluster) takes the lock of a whole cluster instead, C(cisco_cms_mmp.cluster.lock), kept on one node of the
    cluster (its lock node, given by O(host) and O(port); the roles read the C(cms_cluster_lock_host) and
    C(cms_cluster_lock_port) variables of the cluster's group). It keeps two nodes of one cluster from being changed
    at once, by one run or by several (AWX job slices, two controllers). Its holder is a run and a node (the task's
    inventory host); the same run taking it for another of its nodes waits like any other run.
  - O(wait) waits, polling every second, for a lock another live run holds, and fails with the holder when the time
    is up. A long wait shows a progress line about every 10 seconds.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.CHECK_MODE_FULL
  - cisco_cms.mmp._attributes.DIFF_FULL
options:
  state:
    description: V(present) takes (or refreshes) the lock; V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description:
      - The id of this run, the same on every node and every task of the run, and different from any other run's.
        For example C({{ awx_job_id }}) under AWX, or a time stamp and a random suffix set once per playbook run.
      - One line of at most 200 characters.
    type: str
    required: true
  purpose:
    description: What the run does, shown to whoever is refused (for example C(service_certs webadmin)).
    type: str
    default: ""
  ttl:
    description:
      - Seconds the lock holds from now, more than 0 and at most 86400 (a day). A run that dies leaves the node
        locked this long at most.
      - A run longer than that takes the lock again (same O(run_id)) before it expires.
    type: int
    default: 3600
  break_lock:
    description:
      - Take over or remove the lock even when another run holds it and it has not expired. A warning names the
        run whose lock was broken. Use it only when that run is known to be dead.
    type: bool
    default: false
  tied_to_process:
    description:
      - The run releases this lock before its C(ansible-playbook) ends (the roles set this). When those processes ended
        without releasing it (the run was killed), the next run on the same controller takes it over at once, with a
        warning, instead of waiting for O(ttl) to pass.
      - Leave it V(false) for a lock meant to outlast the command that takes it (a node held for maintenance by an
        ad-hoc call), which then holds until it is released, broken or expired.
    type: bool
    default: false
  scope:
    description:
      - V(node) locks the node the task runs for (C(cisco_cms_mmp.lock) in its file store).
      - V(cluster) locks the cluster O(cluster) (C(cisco_cms_mmp.cluster.lock) in the file store of its lock node,
        O(host) and O(port), which must be given on the task), for the task's inventory host. The connection's
        other options (user, password or key, known_hosts) are the task's own.
    type: str
    choices: [node, cluster]
    default: node
  cluster:
    description:
      - The cluster's name, with O(scope=cluster) (the C(cms_cluster) variable of the cluster's group). It is written
        in the lock and shown to whoever waits for it. One line of at most 200 characters.
    type: str
  wait:
    description:
      - With O(state=present), seconds to wait for a lock that another live run holds (polled every second), from 0
        (fail at once, the default) to 86400. When the time is up the task fails, naming the holder. The locks are
        not queued; of several runs waiting, whichever takes the lock first after it is released gets it.
      - Check mode never waits.
    type: int
    default: 0
  only_if_dead:
    description:
      - With O(state=absent) and O(scope=cluster), release only a lock that a dead run of this controller left for
        this task's host (killed after the host's change, before it freed its cluster); any other lock, or none, is
        left alone without a warning. The C(service_certs) role sets it for a node already in place, which is not
        rolled out and so would never take that lock over.
    type: bool
    default: false
    version_added: 0.2.0
notes:
  - A dead run's cluster lock (O(tied_to_process=true), its processes ended on this controller) is taken over at once
    only for the node it names, the node that run was changing, whose services may be left half changed; the
    cluster's other nodes wait for that node's change (or the lock's expiry, or O(break_lock)).
  - Check mode reads the lock and reports what would happen; a lock held by another run fails the task as the real
    run would. Nothing is written.
  - "A run that ends early leaves its lock until its expiry. To free the node at once: run this module with
    O(state=absent), the same O(run_id), or O(break_lock=true)."
seealso:
  - module: cisco_cms.mmp.cms_service_certs
  - module: cisco_cms.mmp.cms_db_cluster
"""

EXAMPLES = r"""
- name: Lock the node for this run
  cisco_cms.mmp.cms_lock:
    run_id: "{{ awx_job_id | default(my_run_id) }}"
    purpose: service_certs webadmin
    ttl: 3600

- name: Release it at the end
  cisco_cms.mmp.cms_lock:
    run_id: "{{ awx_job_id | default(my_run_id) }}"
    state: absent

- name: Take the cluster's lock for this node, waiting up to 10 minutes for the node of another run to finish
  cisco_cms.mmp.cms_lock:
    run_id: "{{ awx_job_id | default(my_run_id) }}"
    scope: cluster
    cluster: "{{ cms_cluster }}"
    host: "{{ cms_cluster_lock_host }}"
    port: "{{ cms_cluster_lock_port | default(22) }}"
    wait: 600
    purpose: service_certs

- name: Break the lock of a run known to be dead
  cisco_cms.mmp.cms_lock:
    run_id: manual-cleanup
    state: absent
    break_lock: true
"""

RETURN = r"""
file:
  description: The lock file in the node's store (the lock node's, with O(scope=cluster)).
  returned: success
  type: str
  sample: cisco_cms_mmp.lock
lock:
  description: The lock this run now holds (or would hold, in check mode).
  returned: O(state=present)
  type: dict
  contains:
    owner:
      description: The local user on the controller that took the lock.
      type: str
    run_id:
      description: The run that holds it.
      type: str
    controller:
      description: The host name of that controller.
      type: str
    pid:
      description: The process id of Ansible on that controller.
      type: int
    purpose:
      description: What the run does.
      type: str
    started:
      description: When the run first took the lock (UTC, ISO 8601).
      type: str
    expires:
      description: When the lock stops holding (UTC, ISO 8601).
      type: str
    cluster:
      description: The cluster, for a cluster lock (O(scope=cluster)) only.
      type: str
      returned: O(scope=cluster)
    node:
      description: The inventory host whose change holds the cluster lock, for a cluster lock only.
      type: str
      returned: O(scope=cluster)
waited:
  description: Seconds this task waited for another run's lock (O(wait)) before taking it.
  returned: O(state=present)
  type: float
  sample: 12.5
previous:
  description: The lock found on the node before, the same fields as RV(lock), or C(null).
  returned: O(state=present)
  type: dict
refreshed:
  description: The run already held the lock; only its expiry moved.
  returned: O(state=present)
  type: bool
taken_over:
  description: The other run's lock that was replaced (expired, or broken with O(break_lock)), or C(null).
  returned: O(state=present)
  type: dict
released:
  description: The lock was removed (or would be, in check mode).
  returned: O(state=absent)
  type: bool
holder:
  description:
    - With O(state=absent), the lock found on the node (the same fields as RV(lock)), or C(null).
    - When the task fails because another run holds the lock, that run's lock.
  returned: O(state=absent), and on failure for a lock held by another run
  type: dict
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._lock import LOCK_ARGS, run_lock  # noqa: E402


def main() -> None:
    run_lock(LOCK_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
