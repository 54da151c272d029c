# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _dbcluster
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CmsActionBase


class ActionModule(CmsActionBase):
    """Runs cms_db_cluster on the controller with connection options from inventory (see plugin_utils/_action_module)."""

    module_args = _dbcluster.DB_CLUSTER_ARGS
    runner = staticmethod(_dbcluster.run_cluster)
    # The certificate files to upload are looked up like copy's src (role/playbook files/, then as given).
    controller_sources = (*(key + "_src" for key in _dbcluster.CERT_KEYS), "api_ca_file")
