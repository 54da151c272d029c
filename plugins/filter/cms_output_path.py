# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cms_output_path
short_description: A directory under the collection's output root (cms_output_dir)
version_added: 0.1.0
description:
  - The absolute path of a named subdirectory of the output root, where the collection's roles write reports, run
    state and backups by default (C(cms_output_dir), default C(cms_output) in the directory C(ansible-playbook) is
    run from).
  - A relative root resolves against the directory Ansible was started from, never against the playbook's directory
    (which is inside the installed collection when a playbook runs by its FQCN) nor the inventory's.
  - A path inside an installed collection is refused; the next C(ansible-galaxy collection install) would replace it.
options:
  _input:
    description: The output root, C(cms_output_dir).
    type: path
    required: true
  name:
    description: The subdirectory (C(cert_report), C(db_cluster_rebuild), C(pki)).
    type: str
    required: false
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
"""

EXAMPLES = r"""
- name: Where the certificate report goes by default
  ansible.builtin.debug:
    msg: "{{ cms_output_dir | default('cms_output', true) | cisco_cms.mmp.cms_output_path('cert_report') }}"
"""

RETURN = r"""
_value:
  description: The absolute path.
  type: path
"""

import os  # noqa: E402
from typing import Any  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import installed_collection_of  # noqa: E402


def cms_output_path(root: Any, name: str | None = None) -> str:
    if not isinstance(root, str) or not root:
        raise AnsibleFilterError("cms_output_dir must be a directory path, not %r" % (root,))
    path = os.path.abspath(os.path.join(os.getcwd(), os.path.expanduser(root), name or ""))
    collection = installed_collection_of(path)
    if collection:
        raise AnsibleFilterError(
            "the output directory %s lies inside the installed collection %s (a relative cms_output_dir resolves "
            "against the directory ansible-playbook runs in): set cms_output_dir to a directory of your own"
            % (path, collection)
        )
    return path


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cms_output_path": cms_output_path}
