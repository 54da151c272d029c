# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/cisco_cms.mmp.cms) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - cisco_cms.mmp.cms
"""

    CHECK_MODE_FULL = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the node.
    support: full
"""

    DIFF_FULL = r"""
options: {}
attributes:
  diff_mode:
    description: Will return details on what has changed (or would change in check mode) when in diff mode.
    support: full
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    description: This is a read-only module; it runs the same in check mode.
    support: full
  diff_mode:
    description: Read-only; nothing to diff.
    support: N/A
"""
