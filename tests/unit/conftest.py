# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make ``ansible_collections.cisco_cms.mmp`` importable when pytest runs on the checkout.

ansible-test units runs these tests on an installed copy of the collection, where that import path is native; on
the checkout the repository root holds ``ansible_collections/cisco_cms/mmp`` (a symlink back to the root), so
putting the root on ``sys.path`` is enough.  Nothing is changed when the collection is importable already.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _collection_importable() -> bool:
    try:
        return importlib.util.find_spec("ansible_collections.cisco_cms.mmp.plugins.module_utils") is not None
    except ImportError:
        return False


if not _collection_importable():
    REPO_ROOT = Path(__file__).resolve().parents[2]
    if (REPO_ROOT / "ansible_collections" / "cisco_cms" / "mmp").is_dir():
        sys.path.insert(0, str(REPO_ROOT))
