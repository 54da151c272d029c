# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from typing import ClassVar

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _run_record
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CmsActionBase


class ActionModule(CmsActionBase):
    """Runs cms_run_record on the controller, in-process (see plugin_utils/_action_module): no Python process
    per file, no node contacted."""

    module_args = _run_record.RECORD_ARGS
    runner = staticmethod(_run_record.run_record)
    controller_paths: ClassVar[tuple[str, ...]] = ("path",)
