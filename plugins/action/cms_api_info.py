# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _api_info
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CmsActionBase


class ActionModule(CmsActionBase):
    """Runs cms_api_info on the controller with connection and API options from inventory (see plugin_utils/_action_module)."""

    module_args = _api_info.API_INFO_ARGS
    runner = staticmethod(_api_info.run_info)
    controller_paths = ()
    controller_sources = ("api_ca_file",)  # a CA bundle shipped in a role's or playbook's files/
