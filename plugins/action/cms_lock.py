# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _lock
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CmsActionBase


class ActionModule(CmsActionBase):
    """Runs cms_lock on the controller with connection options from inventory (see plugin_utils/_action_module)."""

    module_args = _lock.LOCK_ARGS
    runner = staticmethod(_lock.run_lock)
    controller_paths = ()  # no controller files

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        # A cluster lock filled with this node's own address would give every node of the cluster a lock of its
        # own, which keeps no two nodes apart: the lock node's address must be given on the task.
        if self._task.args.get("scope") == "cluster" and self._task.args.get("host") in (None, ""):
            return {
                "failed": True,
                "msg": "cisco_cms.mmp.cms_lock: scope: cluster needs host (and port, if not 22): the address of the "
                "cluster's lock node, the cms_cluster_lock_host variable of the cluster's group. This node's own "
                "address would give each node of the cluster a lock of its own.",
            }
        return super().run(tmp, task_vars)
