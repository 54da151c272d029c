# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import functools
from typing import ClassVar

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _report
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CmsActionBase
from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._report_html import RENDERERS


class ActionModule(CmsActionBase):
    """Runs cms_cert_report on the controller (see plugin_utils/_action_module): the HTML page is rendered from a
    Jinja2 template shipped with the collection, which only the controller has."""

    module_args = _report.REPORT_ARGS
    runner = staticmethod(functools.partial(_report.run_report, renderers=RENDERERS))
    # The output paths are taken as given, relative to where ansible-playbook runs, as they were when the module
    # ran delegated to localhost; the role builds absolute ones.
    controller_paths: ClassVar[tuple[str, ...]] = ()
