# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The logic behind cms_run_record: the controller-side files of a role's run.

The database cluster rebuild's run record (``state.json``), the roles' plan and outcome records, their timings files,
and the removal of the copies fetched for distribution, written in the action plugin's process:
``ansible.builtin.copy`` delegated to localhost starts a Python process per file (and a ``stat`` before it), which
made these writes most of a rebuild's time outside the cluster's own transitions, and about a third of a no-op
service_certs run.  Every write goes through ``_files.write_atomic`` (a reader never sees half
a file); names are relative to ``path`` and may not leave it.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._argspec import ArgumentSpec
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._files import ensure_dir, write_atomic

MODES = {"0600": 0o600, "0644": 0o644}
DIR_MODES = {"0700": 0o700, "0755": 0o755}

RECORD_ARGS = ArgumentSpec(
    {
        "path": {"type": "path", "required": True},
        "dir_mode": {"type": "str", "default": "0700", "choices": sorted(DIR_MODES)},
        "files": {"type": "dict", "default": {}},
        "mode": {"type": "str", "default": "0600", "choices": sorted(MODES)},
        "absent": {"type": "list", "elements": "str", "default": []},
    },
    connection=False,
)


def inside(path: str, name: str, option: str) -> str:
    """``path``/``name`` for a relative ``name`` that stays under ``path``; anything else is refused by name."""
    parts = name.replace("\\", "/").split("/")
    if not name or os.path.isabs(name) or ".." in parts or "" in parts:
        raise MmpValidationError(
            "%s: %r is not a plain relative name under %s (no leading /, no .., no empty part); give names like "
            "state.json or plans/run.plan.json" % (option, name, path)
        )
    return os.path.join(path, *parts)


def write_records(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """Create ``path`` (``dir_mode``), write ``files`` (``mode``), remove ``absent``; returns what changed."""
    path, dir_mode = params["path"], DIR_MODES[params["dir_mode"]]
    targets = {name: inside(path, name, "files") for name in params["files"]}
    gone = [inside(path, name, "absent") for name in params["absent"]]
    # Only a call that writes makes the directory: removing from a directory that is not there changes nothing.
    changed = bool(targets) and not os.path.isdir(path)
    if targets and not check_mode:
        ensure_dir(path, dir_mode)
        # The work directory holds backups with private keys: a private one made looser by hand is tightened.
        if dir_mode == 0o700 and stat.S_IMODE(os.stat(path).st_mode) & 0o077:
            os.chmod(path, dir_mode)
            changed = True
    written = []
    for name, target in targets.items():
        if not check_mode:
            ensure_dir(os.path.dirname(target), dir_mode)
        content = params["files"][name]
        text = content if isinstance(content, str) else str(content)
        if write_atomic(target, text, MODES[params["mode"]], check_mode=check_mode, private=dir_mode == 0o700):
            written.append(target)
    removed = [target for target in gone if os.path.lexists(target)]
    if not check_mode:
        for target in removed:
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)
    return {"changed": changed or bool(written or removed), "path": path, "written": written, "removed": removed}


def run_record(module: Any) -> None:
    try:
        result = write_records(module.params, module.check_mode)
    except MmpValidationError as exc:
        module.fail_json(**exc.to_fail_kwargs())
    except OSError as exc:
        module.fail_json(
            msg="cannot write under %s on the controller: %s (%s). Check the directory (space, permissions) and run "
            "again." % (module.params["path"], exc.strerror or exc, exc.filename or module.params["path"])
        )
    module.exit_json(**result)
