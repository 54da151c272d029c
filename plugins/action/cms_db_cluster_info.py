# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _dbcluster
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CmsActionBase


class ActionModule(CmsActionBase):
    """Runs cms_db_cluster_info on the controller with connection options from inventory (see plugin_utils/_action_module)."""

    module_args = _dbcluster.DB_CLUSTER_INFO_ARGS
    runner = staticmethod(_dbcluster.run_info)
    controller_paths = ("fetch_dest",)  # relative to the playbook's directory, like dest everywhere else
    # The set check_certs checks is looked up as cms_db_cluster looks up the same set before it uploads it.
    controller_sources = tuple("check_certs.%s_src" % key for key in _dbcluster.CERT_KEYS)
