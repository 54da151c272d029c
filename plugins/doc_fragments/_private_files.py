# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Modules that write private keys or backups on the controller (module_utils/_argspec.py PRIVATE_FILES_SPEC).
    DOCUMENTATION = r"""
options:
  allow_keys_in_repo:
    description:
      - Private keys and backups are written 0600 in 0700 directories, and refused, before anything changes on a
        node, in a directory its group or everyone may write to, inside an installed collection, or inside a git
        work tree that does not ignore it (the next C(git add) would commit them).
      - V(true) allows the git work tree (a repository meant to hold them, encrypted for instance). Filled from the
        C(cms_allow_keys_in_repo) variable.
    type: bool
    default: false
"""
