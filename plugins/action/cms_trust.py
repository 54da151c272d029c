# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _trust
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CmsActionBase


class ActionModule(CmsActionBase):
    """Runs cms_trust on the controller with connection options from inventory (see plugin_utils/_action_module)."""

    module_args = _trust.TRUST_ARGS
    controller_sources = ("bundle_src", "remove_src", "api_ca_file")
    runner = staticmethod(_trust.run_trust)
