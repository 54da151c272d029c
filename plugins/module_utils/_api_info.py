# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""cms_api_info: what a node's REST API says about it (live calls, alarms, the database view, the Call Bridges)."""

from __future__ import annotations

from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api import CmsApi, CmsApiError, with_api
from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError

# The MMP connection options are accepted (module_defaults of the action group apply); only host is used.
API_INFO_ARGS = ArgumentSpec(with_api({"list_limit": {"type": "int", "default": 200}}))


def read_all(api: CmsApi, list_limit: int = 200) -> dict[str, Any]:
    """Everything cms_api_info returns, read from one node."""
    status = api.status()
    legs = status.get("callLegsActive")
    return {
        "status": status,
        "call_legs_active": legs,
        "idle": legs == 0,
        "call_legs_total": api.total("/callLegs", "callLegs", "callLeg"),
        "calls_total": api.total("/calls", "calls", "call"),
        "alarms": api.collection("/system/alarms", "alarms", "alarm", list_limit)[1],
        "database": api.database(),
        "call_bridges": api.collection("/callBridges", "callBridges", "callBridge", list_limit)[1],
    }


def run_info(module: Any) -> None:
    params = module.params
    node = getattr(module, "node_name", None) or params.get("host")
    try:
        if params["list_limit"] < 1:
            raise CmsApiError("list_limit must be 1 or more", node=node)
        api = CmsApi.from_params(params, node=node)
        result = read_all(api, params["list_limit"])
    except MmpError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    module.exit_json(changed=False, **result)
