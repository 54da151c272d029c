# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a cisco_cms.mmp module on the controller, inside its action plugin.

A CMS node has no Python, so nothing may ever execute on it.  Every module of this collection has an action plugin
of the same name built on ``CmsActionBase``: it fills the module's connection options from the host's inventory
variables (``ansible_host``, ``ansible_port``, ``ansible_user``, ``ansible_password``,
``ansible_ssh_private_key_file`` and their aliases, resolved by the host's connection plugin exactly as an SSH task
would resolve them), validates the arguments against the module's own argument spec, and runs the module's logic
in-process with ``CmsModule``, an ``AnsibleModule`` look-alike.  So a plain inventory works as it is, ad-hoc calls
work, one SSH connection is made per module call, and no Python process is started per task.

Precedence: task arguments (including ``module_defaults: group/cisco_cms.mmp.cms``) > host variables > defaults.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, ClassVar

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.validation import check_type_bool
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api import API_VARS
from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._connection import CONNECTION_OPTIONS
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import installed_collection_of

# module option -> (connection plugin option, inventory variables in order of preference): the connection options'
# table (module_utils/_connection.py), plus the REST API options of the modules with the _api doc fragment (whose
# table is module_utils/_api.py).
CONNECTION_VARS = {
    **{option.name: (option.plugin_option, option.variables) for option in CONNECTION_OPTIONS},
    **{option: (None, names) for option, names in API_VARS.items()},
    # Modules that write private keys or backups on the controller (doc fragment _private_files).
    "allow_keys_in_repo": (None, ("cms_allow_keys_in_repo",)),
}


# A wait longer than this shows a progress line at least this often (the operator, and AWX, must see the run is alive);
# a shorter wait prints nothing, so default verbosity is not flooded.
PROGRESS_INTERVAL = 10.0


class _ModuleExit(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


class CmsModule:
    """What module logic needs of ``AnsibleModule`` (params, check/diff mode, exit/fail, warnings), in-process."""

    def __init__(
        self,
        action: CmsActionBase,
        argument_spec: dict[str, Any],
        args: dict[str, Any],
        supports_check_mode: bool = True,
        **rules: Any,
    ) -> None:
        self._name = action._task.action
        self.node_name = action._task_vars_hostname
        validator = ArgumentSpecValidator(argument_spec, **rules)
        result = validator.validate(args)
        self.no_log_values = set(result._no_log_values)
        self.params = result.validated_parameters
        self.check_mode = bool(action._task.check_mode)
        self._diff = bool(action._task.diff)
        self._verbosity = action._display.verbosity
        self._warnings: list[str] = []
        self._deprecations: list[dict[str, Any]] = []
        self.supports_check_mode = supports_check_mode
        self.invalid = "; ".join(result.errors.messages) if result.errors else None
        self._progress_last: float | None = None

    def progress(self, msg: str, elapsed: float | None = None) -> None:
        """Show ``msg`` (node, what is awaited, the state seen, the time so far) while a long wait goes on.

        Wait loops call this on every poll with ``elapsed``, the seconds the current wait has lasted: a line shows
        once a wait has lasted ``PROGRESS_INTERVAL`` and then at most once per interval, so short waits print
        nothing.  Without ``elapsed`` (a one-off notice, such as the start of a call-guard wait) the line shows unless
        one was shown less than an interval ago.  In a forked worker, Display proxies the line to the main process, so
        it shows in ansible-playbook and in AWX job output while the task still runs.
        """
        if elapsed is not None and elapsed < PROGRESS_INTERVAL:
            return
        now = time.monotonic()
        if self._progress_last is not None and now - self._progress_last < PROGRESS_INTERVAL:
            return
        self._progress_last = now
        Display().display(remove_values(msg, self.no_log_values))

    def warn(self, warning: str) -> None:
        self._warnings.append(warning)

    def deprecate(
        self, msg: str, version: str | None = None, date: str | None = None, collection_name: str | None = None
    ) -> None:
        self._deprecations.append({"msg": msg, "version": version, "date": date, "collection_name": collection_name})

    def boolean(self, value: Any) -> bool:
        return bool(check_type_bool(value))

    def log(self, msg: str, log_args: dict[str, Any] | None = None) -> None:
        """Modules of this collection never write logs: secrets could land in them."""

    def exit_json(self, **kwargs: Any) -> None:
        kwargs.setdefault("changed", False)
        raise _ModuleExit(kwargs)

    def fail_json(self, msg: str, **kwargs: Any) -> None:
        kwargs["failed"] = True
        kwargs["msg"] = msg
        raise _ModuleExit(kwargs)

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        if self._warnings:
            result["warnings"] = result.get("warnings", []) + self._warnings
        if self._deprecations:
            result["deprecations"] = result.get("deprecations", []) + self._deprecations
        result["invocation"] = {"module_args": self.params}
        # Whatever a module returned, no secret option value leaves it (AnsibleModule does the same).
        cleaned: dict[str, Any] = remove_values(result, self.no_log_values)
        return cleaned


class CmsActionBase(ActionBase):
    """Subclasses set ``module_args`` (the module's ``_argspec.ArgumentSpec``, the object its ``main()`` uses) and
    ``runner`` (the module logic: ``runner(module) -> None``, which ends with ``module.exit_json``/``fail_json``)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    module_args: ClassVar[ArgumentSpec]
    supports_check_mode = True
    # One rule for controller files, the rule of the builtin modules, whatever the module:
    # - Options a module writes to (controller_paths): a relative path is relative to the playbook's directory (the
    #   ad-hoc working directory), as ansible.builtin.fetch resolves its dest, not to wherever ansible was started.
    # - Options naming a file to read and upload (controller_sources): looked up as ansible.builtin.copy looks up its
    #   src (the role's files/ and the role, the playbook's files/ and the playbook's directory), so a role can ship
    #   its files; a path found nowhere stays as given and the module names it in its error. A suboption is named
    #   with a dot (``check_certs.server_key_src``), one of every entry of a list of dicts with ``[]``
    #   (``services[].key_src``), and an option that is a list of paths ends in ``[]`` (``c2w_peer_chains[]``).
    controller_paths: ClassVar[tuple[str, ...]] = ("dest",)
    controller_sources: ClassVar[tuple[str, ...]] = ()

    # Every subclass names its module's own runner (``staticmethod(_verbs.run_x)``); this stand-in only gives the
    # type a checker holds the subclasses to.
    @staticmethod
    def runner(module: Any) -> None:
        raise NotImplementedError("an action plugin built on CmsActionBase sets runner")

    def _plugin_value(self, option: str) -> Any:
        """The connection plugin's value of ``option`` when something set it (a variable, the config, the
        environment), not its default: the ssh plugin's defaults (a 10 s timeout, ControlPersist arguments) are
        for OpenSSH, not for this collection's own defaults."""
        try:
            getter = getattr(self._connection, "get_option_and_origin", None)
            if getter is None:  # pragma: no cover - older ansible-core
                return self._connection.get_option(option)
            value, origin = getter(option)
        except (KeyError, AnsibleError):
            return None
        return None if origin == "default" else value

    def _inventory_value(self, task_vars: dict[str, Any], plugin_option: str | None, names: tuple[str, ...]) -> Any:
        if plugin_option and self._connection is not None:
            value = self._plugin_value(plugin_option)
            if value not in (None, ""):
                return value
        for name in names:
            if name in task_vars and task_vars[name] not in (None, ""):
                return self._templar.template(task_vars[name])
        return None

    def connection_args(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        spec = type(self).module_args.argument_spec
        filled: dict[str, Any] = {}
        for option, (plugin_option, names) in CONNECTION_VARS.items():
            if option not in spec or self._task.args.get(option) is not None:
                continue
            value = self._inventory_value(task_vars, plugin_option, names)
            if value is not None:
                filled[option] = value
        if "host" in spec and "host" not in filled and self._task.args.get("host") is None:
            filled["host"] = task_vars.get("inventory_hostname")
        return filled

    def _resolve_controller_paths(self, args: dict[str, Any]) -> str | None:
        """Make the relative ``controller_paths`` absolute; what that puts inside an installed collection is refused
        (a playbook run by its FQCN has its directory there, and the next install would replace what was written)."""
        for option in self.controller_paths:
            value = args.get(option)
            if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                # path_dwim normalises the path; a trailing slash means "into this directory" and must stay.
                args[option] = self._loader.path_dwim(value) + ("/" if value.endswith("/") else "")
                collection = installed_collection_of(args[option])
                if collection:
                    return (
                        "%s %s is relative to the playbook's directory, which lies inside the installed collection %s "
                        "(the playbook runs by its FQCN): give an absolute path, or set cms_output_dir (or cms_pki_dir) "
                        "to a directory of your own" % (option, value, collection)
                    )
        return None

    def _find_sources(self, option: str) -> None:
        """Look up one ``controller_sources`` option in the task's arguments (see there for the syntax)."""
        parent, _dot, name = option.rpartition(".")
        if parent.endswith("[]"):
            entries = self._task.args.get(parent[:-2])
            holders = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
        else:
            holder = self._task.args.get(parent) if parent else self._task.args
            holders = [holder] if isinstance(holder, dict) else []
        for holder in holders:
            many = name.endswith("[]")
            key = name[:-2] if many else name
            value = holder.get(key)
            values = value if many and isinstance(value, list) else [value]
            found = []
            for item in values:
                if isinstance(item, str) and item:
                    with contextlib.suppress(AnsibleError):
                        item = self._find_needle("files", item)
                found.append(item)
            if value is not None:
                holder[key] = found if many and isinstance(value, list) else found[0]

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        self._task_vars_hostname = task_vars.get("inventory_hostname")
        result = super().run(tmp, task_vars)
        del tmp
        for option in self.controller_sources:
            self._find_sources(option)
        args = dict(self.connection_args(task_vars))
        args.update({k: v for k, v in self._task.args.items() if v is not None})
        refused = self._resolve_controller_paths(args)
        cls = type(self)
        module_args = cls.module_args
        module = CmsModule(self, module_args.argument_spec, args, cls.supports_check_mode, **module_args.rules)
        if module.invalid or refused:
            out = {"failed": True, "msg": "%s: %s" % (self._task.action, module.invalid or refused)}
        elif module.check_mode and not cls.supports_check_mode:
            out = {"skipped": True, "msg": "this module does not support check mode"}
        else:
            try:
                cls.runner(module)
                raise AnsibleError("module %s ended without a result" % self._task.action)
            except _ModuleExit as done:
                out = done.result
        out = module.finish(out)
        if out.get("unreachable"):
            # A module that could not reach its node says so; Ansible counts the host unreachable, not failed.
            out.pop("failed", None)
        result.update(out)
        return result
