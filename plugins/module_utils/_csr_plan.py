# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The CSR plan of a node: which keys and CSRs to make, with which CN and SAN, for which services.

The logic behind the ``cms_csr_plan`` filter and the ``csrs`` role, after the TechNote "Generate CSR and apply
certificates to CMS" (its section on keys and CSRs).  Three layouts:

* ``node``: one key and CSR for all the node's services: CN the node FQDN, SAN the node FQDN plus the join names
  (with a web bridge) and the XMPP domain (on a node that runs XMPP);
* ``service``: one per service, the TechNote's standalone table;
* ``cluster``: the node's own identity for the services that present the node (webadmin, the web bridge), and one
  cluster identity (CN the cluster FQDN, SAN the cluster FQDN and every peer's FQDN) for the services a cluster
  shares (callbridge, turn, xmpp).

Which service is which comes from the catalog.  Pure: no I/O, no Ansible; bad input raises
``MmpValidationError`` naming the variable and the fix.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import SERVICES, services_for
from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import cms_major
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError

LAYOUTS = ("node", "service", "cluster")


def names_list(value: Any, variable: str) -> list[str]:
    """A list variable as a list of strings: a list, a JSON list in a string (``-e 'x=["a", "b"]'`` passes a
    string) or a comma-separated string (``a,b``); ``None`` and ``""`` are empty.  Anything else is refused."""
    example = '["join.example.com"] or join.example.com,join2.example.com'
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            raise MmpValidationError(
                "%s must be a list of names, got the mapping %r; e.g. %s" % (variable, value, example)
            )
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise MmpValidationError(
                    "%s %r looks like a list but is not one: give it as a YAML/JSON list or as comma-separated names, "
                    "e.g. %s" % (variable, value, example)
                ) from None
        else:
            value = [item.strip() for item in text.split(",") if item.strip()]
    if not isinstance(value, (list, tuple)):
        raise MmpValidationError(
            "%s must be a list of names, got %s %r; e.g. %s" % (variable, type(value).__name__, value, example)
        )
    items = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise MmpValidationError("%s holds %r, which is not a name; every entry is a string" % (variable, item))
        items.append(item.strip())
    return items


def _unique(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _text(value: Any, variable: str, host: str, fix: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MmpValidationError("%s is not set for %s: %s" % (variable, host, fix))
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise MmpValidationError("%s of %s must be a name, got %s %r" % (variable, host, type(value).__name__, value))
    return str(value).strip()


def node_services(services: Any, cms_version: Any) -> list[str]:
    """The services to make CSRs for: ``cms_csr_services``, else every service of the node's CMS release."""
    if services is None:
        return services_for(cms_major("3" if cms_version is None else cms_version))
    names = names_list(services, "cms_csr_services")
    unknown = [name for name in names if name not in SERVICES]
    if unknown:
        raise MmpValidationError(
            "cms_csr_services holds %s, which is not a CMS service; use some of %s"
            % (", ".join(repr(n) for n in unknown), ", ".join(SERVICES))
        )
    return _unique(names)


def _sans(first: list[str], services: list[str], join: list[str], domain: str, extra: list[str]) -> list[str]:
    """The SAN of one CSR for ``services``: ``first``, the join names when one of them is a web bridge, the XMPP
    domain when one of them names it (``domain`` is empty when the node runs no XMPP), then ``extra``."""
    takes_join = any(SERVICES[name].csr_join_names for name in services)
    takes_domain = bool(domain) and any(SERVICES[name].csr_xmpp_domain for name in services)
    return _unique(first + (join if takes_join else []) + ([domain] if takes_domain else []) + extra)


def _entry(basename: str, cn: str, san: list[str], services: list[str]) -> dict[str, Any]:
    return {"basename": basename, "cn": cn, "san": san, "services": services}


def csr_plan(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The CSRs of one node, each ``{basename, cn, san, services}``.

    ``request`` holds ``node`` (the inventory name, the basenames' prefix), ``fqdn``, and the role's variables
    without their ``cms_csr_`` prefix: ``layout``, ``suffix`` (default: next year), ``services``, ``join_names``,
    ``cluster_fqdn``, ``xmpp_domain``, ``extra_names``; ``cms_version`` picks the default services; ``peers`` are the
    FQDNs of every node of the play (the cluster layout names them all).
    """
    host = _text(request.get("node"), "inventory_hostname", "this node", "run the plan for a host of the inventory")
    fqdn = _text(request.get("fqdn"), "cms_fqdn", host, "set it to the node's FQDN (a host variable)")
    layout = request.get("layout") or "node"
    if layout not in LAYOUTS:
        raise MmpValidationError("cms_csr_layout %r is not one of %s" % (layout, ", ".join(LAYOUTS)))
    suffix = request.get("suffix")
    suffix = str(datetime.datetime.now(datetime.timezone.utc).year + 1) if suffix in (None, "") else str(suffix)
    services = node_services(request.get("services"), request.get("cms_version"))
    join = names_list(request.get("join_names"), "cms_csr_join_names")
    extra = names_list(request.get("extra_names"), "cms_csr_extra_names")
    runs_xmpp = any(SERVICES[name].xmpp_server for name in services)
    domain = str(request.get("xmpp_domain") or "").strip() if runs_xmpp else ""
    if layout == "node":
        return [_entry("%s-%s" % (host, suffix), fqdn, _sans([fqdn], services, join, domain, extra), services)]
    if layout == "service":
        return [
            _entry("%s-%s-%s" % (host, name, suffix), fqdn, _sans([fqdn], [name], join, domain, extra), [name])
            for name in services
        ]
    return _cluster_plan(request, host, fqdn, suffix, services, join, domain, extra)


def _cluster_plan(
    request: dict[str, Any],
    host: str,
    fqdn: str,
    suffix: str,
    services: list[str],
    join: list[str],
    domain: str,
    extra: list[str],
) -> list[dict[str, Any]]:
    cluster_fqdn = _text(
        request.get("cluster_fqdn"),
        "cms_csr_cluster_fqdn",
        host,
        "the cluster layout needs the cluster FQDN (the CN every node's callbridge, turn and xmpp share)",
    )
    own = [name for name in services if not SERVICES[name].cluster_identity]
    shared = [name for name in services if SERVICES[name].cluster_identity]
    plan = []
    if own:
        # The XMPP domain belongs to the cluster identity (the TechNote's clustered XMPP certificate names it).
        plan.append(_entry("%s-%s" % (host, suffix), fqdn, _sans([fqdn], own, join, "", extra), own))
    if shared:
        peers = request.get("peers") or []
        if not isinstance(peers, (list, tuple)) or not all(isinstance(p, str) and p for p in peers):
            raise MmpValidationError(
                "the cluster layout names every node of the play in its SAN, so cms_fqdn must be set for each of "
                "them (got %r)" % (peers,)
            )
        san = _sans([cluster_fqdn, *peers], shared, join, domain, extra)
        plan.append(_entry("%s-cluster-%s" % (host, suffix), cluster_fqdn, san, shared))
    return plan
