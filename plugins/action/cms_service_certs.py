# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _services
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CmsActionBase


class ActionModule(CmsActionBase):
    """Runs cms_service_certs on the controller with connection options from inventory (see plugin_utils/_action_module).

    The ``*_src`` options name controller files; they are looked up like ``copy``'s ``src`` (the role's and the
    playbook's ``files/`` directories, then the path as given), so a role can ship or point at them.
    """

    module_args = _services.SERVICE_CERTS_ARGS
    runner = staticmethod(_services.run_service_certs)
    controller_sources = (
        *_services.SRC_OPTIONS.values(),
        *("services[]." + option for option in _services.SRC_OPTIONS.values()),
        "c2w_peer_chains[]",
        "api_ca_file",
    )
