# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Argument specs: the connection options every node module shares (declared in module_utils/_connection.py),
and ``ArgumentSpec``, one object per module holding its options and the rules between them.

A module names its ``ArgumentSpec`` once in ``main()`` (``ARGS.create_ansible_module()``) and once in its action
plugin (``module_args = ARGS``); both build the same validation from it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cisco_cms.mmp.plugins.module_utils._connection import CONNECTION_SPEC

__all__ = ["CONNECTION_SPEC", "PRIVATE_FILES_SPEC", "ArgumentSpec", "with_connection"]

# Modules that write private keys or backups on the controller (documented in doc_fragments/_private_files.py).
PRIVATE_FILES_SPEC: dict[str, Any] = {"allow_keys_in_repo": {"type": "bool", "default": False}}


def with_connection(spec: dict[str, Any]) -> dict[str, Any]:
    """A module's own options plus the connection options."""
    merged = copy.deepcopy(CONNECTION_SPEC)
    merged.update(spec)
    return merged


@dataclass(frozen=True)
class ArgumentSpec:
    """A module's options and the rules between them (``required_if`` and the rest, as ``AnsibleModule`` takes them).

    ``connection``: the module talks to a node, so the connection options are added.
    """

    options: dict[str, Any]
    connection: bool = True
    mutually_exclusive: list[Any] = field(default_factory=list)
    required_together: list[Any] = field(default_factory=list)
    required_one_of: list[Any] = field(default_factory=list)
    required_if: list[Any] = field(default_factory=list)
    required_by: dict[str, Any] = field(default_factory=dict)

    @property
    def argument_spec(self) -> dict[str, Any]:
        """A fresh copy each time: validation may add to the dicts it is given."""
        spec = copy.deepcopy(self.options)
        return with_connection(spec) if self.connection else spec

    @property
    def rules(self) -> dict[str, Any]:
        rules = {
            "mutually_exclusive": self.mutually_exclusive,
            "required_together": self.required_together,
            "required_one_of": self.required_one_of,
            "required_if": self.required_if,
            "required_by": self.required_by,
        }
        return {name: copy.deepcopy(value) for name, value in rules.items() if value}

    def create_ansible_module(self, supports_check_mode: bool = True) -> AnsibleModule:
        return AnsibleModule(argument_spec=self.argument_spec, supports_check_mode=supports_check_mode, **self.rules)
