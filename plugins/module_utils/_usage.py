# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which service uses which files on a node, read from each service's status and ``database cluster status``.

The MMP has no "who uses this key" verb; an admin reads every status block.  This does the same, so modules can
refuse to overwrite or remove a key in use (``pki csr`` over a key in use breaks the service at once [H]).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import SERVICES, TLS_SERVICES, get_service
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import (
    db_cluster_status,
    service_status,
    tls_status,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpCommandError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import (
    parse_db_cluster_status,
    parse_service_status,
    parse_tls_status,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import find_error
from ansible_collections.cisco_cms.mmp.plugins.module_utils._transport import MmpSession

_UNKNOWN_WORDS = ("unknown command", "invalid command", "unrecognised command", "unrecognized command")


def _is_unknown_command(output: str) -> bool:
    error = find_error(output) or ""
    return any(word in error.lower() for word in _UNKNOWN_WORDS)


def service_files(status: dict[str, Any]) -> dict[str, str]:
    """``{role: file}`` for every file a parsed service status names (key, cert, bundle, https_key, c2w_trust...).

    The roles are the catalog's file fields of the service, so webbridge3's HTTPS key is named once, as
    ``https_key`` (its status shows it under the generic ``key`` too).
    """
    fields = get_service(status.get("service")).file_fields
    return {field: value for field, value in status.items() if field in fields and isinstance(value, str) and value}


def read_usage(session: MmpSession, services: list[str] | None = None, database: bool = True) -> dict[str, Any]:
    """Status of every service the node has (a service its CMS release lacks answers "unknown command") and of
    the database cluster and of the ``tls <name>`` trust stores (``tls``); ``files`` maps each file name to the users
    that name it, e.g. ``webadmin key``, ``callbridge ucm_trust``, ``tls sip trust``; ``major``
    is the CMS release the answers tell (3 when webbridge3 answers, 2 when it is an unknown command; None when
    ``services`` held no service of one release only)."""
    statuses: dict[str, Any] = {}
    files: dict[str, list[str]] = {}
    names = services or list(SERVICES)
    # Services of one CMS generation only (webbridge3 on 3.x; webbridge and xmpp on 2.x) tell the release: ask
    # those first, then skip what the release cannot have instead of paying a round trip for "unknown command".
    names = sorted(names, key=lambda n: SERVICES[n].majors != (3,))
    major: int | None = None
    for name in names:
        svc = SERVICES[name]
        if major is not None and major not in svc.majors:
            continue
        # turn prints its password in clear [H]: never let that output reach an error message.
        output = session.run(service_status(name), check=False, sensitive=bool(svc.secret_labels))
        if _is_unknown_command(output):
            if major is None and svc.majors == (3,):
                major = 2
            continue
        if major is None and len(svc.majors) == 1:
            major = svc.majors[0]
        if find_error(output):
            raise MmpCommandError(
                "reading the status of %s failed" % name,
                node=session.name,
                command=service_status(name),
                output=None if svc.secret_labels else output,
            )
        status = parse_service_status(name, output)
        statuses[name] = status
        for role, file_name in service_files(status).items():
            files.setdefault(file_name, []).append("%s %s" % (name, role))
    statuses = {name: statuses[name] for name in SERVICES if name in statuses}  # in the usual order
    cluster = None
    if database:
        output = session.run(db_cluster_status(), check=False)
        if not _is_unknown_command(output):
            cluster = parse_db_cluster_status(output)
            for role, cert in (cluster.get("certificates") or {}).items():
                if cert and cert.get("file"):
                    files.setdefault(cert["file"], []).append("database cluster %s" % role)
    tls = read_tls_trust(session, files, major)
    return {"services": statuses, "database_cluster": cluster, "tls": tls, "files": files, "major": major}


def read_tls_trust(session: MmpSession, files: dict[str, list[str]], major: int | None) -> dict[str, Any]:
    """``tls <name>`` of every TLS link the node's release has: ``{name: {tls, trust, verify, known}}``; each
    trust bundle is added to ``files`` as ``tls <name> trust``.  A name the node does not know, or that answers
    with an error, is left out: the shapes are [GUESS] but for ``tls sip`` (docs/dev/mmp_reference.md#trust-stores)."""
    stores: dict[str, Any] = {}
    for name, tls in TLS_SERVICES.items():
        if major is not None and major not in tls.majors:
            continue
        output = session.run(tls_status(name), check=False)
        if find_error(output):
            continue
        store = parse_tls_status(name, output)
        stores[name] = store
        if store["trust"]:
            files.setdefault(store["trust"], []).append("tls %s trust" % name)
    return stores
