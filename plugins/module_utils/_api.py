# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The CMS REST API client (docs/dev/mmp_reference.md#rest-api): live calls, alarms and the database view.

Web Admin serves the API at ``https://<webadmin address>:<port>/api/v1/...`` with HTTP Basic auth and XML replies.
HTTP goes through ansible-core's own ``ansible.module_utils.urls.Request`` (no new dependency); TLS is verified
against ``api_ca_file`` (or the system store) by default, and the certificate's name may differ from the address
dialled (``api_server_name``), as when a node is reached by IP but its certificate names its FQDN.  XML is parsed
with the standard library after refusing any DTD, so no entity can expand.

Each node must be asked about itself: ``callLegsActive`` in ``/system/status`` counts the legs on the node that
answers.  The guard that decides whether a restart may go ahead is in ``_calls.py``.
"""

from __future__ import annotations

import inspect
import os
import re
import socket
import ssl
import urllib.error
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, SSLValidationError

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpError

# ansible-core 2.17 and later take an SSL context (needed for api_server_name); 2.16 takes ca_path/validate_certs.
REQUEST_TAKES_CONTEXT = "context" in inspect.signature(Request.open).parameters
API_PREFIX = "/api/v1"
PAGE_LIMIT = 10  # items asked for per page; a node may return fewer, `total` tells how many exist

# Module options of every module that talks to the API (documented in doc_fragments/_api.py).  The action plugin
# fills them from the inventory variables in API_VARS.
API_SPEC: dict[str, dict[str, Any]] = {
    "api_host": {"type": "str"},
    "api_port": {"type": "int", "default": 443},
    "api_user": {"type": "str"},
    "api_password": {"type": "str", "no_log": True},
    "api_ca_file": {"type": "path"},
    "api_validate_certs": {"type": "bool", "default": True},
    "api_server_name": {"type": "str"},
    "api_timeout": {"type": "int", "default": 10},
}
API_VARS: dict[str, tuple[str, ...]] = {
    "api_host": ("cms_api_host",),
    "api_port": ("cms_api_port",),
    "api_user": ("cms_api_user",),
    "api_password": ("cms_api_password",),
    "api_ca_file": ("cms_api_ca_file",),
    "api_validate_certs": ("cms_api_validate_certs",),
    "api_server_name": ("cms_api_server_name",),
}
CREDENTIALS_HINT = (
    "Set api_user and api_password (inventory variables cms_api_user and cms_api_password) to an account the node "
    "allows on its REST API; the MMP admin used over SSH is a separate account."
)


class CmsApiError(MmpError):
    """The REST API answered with an error, or with something that is not the XML it should be."""


class CmsApiAuthError(CmsApiError):
    """HTTP 401: the node refused the API user."""


class CmsApiUnavailable(CmsApiError):
    """No answer: connection refused or reset, timeout, TLS failure (Web Admin down or restarting)."""


def with_api(spec: dict[str, Any]) -> dict[str, Any]:
    """A module's own options plus the API options."""
    merged = dict(API_SPEC)
    merged.update(spec)
    return merged


def api_configured(params: dict[str, Any]) -> bool:
    """Whether the module has what it needs to ask the API (the guard is off without it)."""
    return bool(params.get("api_user") and params.get("api_password"))


# ---- XML -----------------------------------------------------------------------------------------------------------
_DTD_RE = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_xml(text: str, what: str) -> ET.Element:
    """Parse a reply; a DTD is refused (CMS sends none, and only a DTD can declare an entity to expand)."""
    if _DTD_RE.search(text):
        raise CmsApiError("the reply to %s declares a DTD, which the API never sends; refused" % what)
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise CmsApiError("the reply to %s is not XML (%s)" % (what, exc), output=text[:2000]) from None


def element_dict(elem: ET.Element) -> dict[str, Any]:
    """``<x id="1"><a>1</a><b>t</b></x>`` -> ``{"id": "1", "a": 1, "b": "t"}`` (numbers and true/false typed)."""
    out: dict[str, Any] = dict(elem.attrib)
    for child in elem:
        out[child.tag] = element_dict(child) if len(child) else typed(child.text)
    return out


def typed(text: str | None) -> Any:
    value = (text or "").strip()
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def parse_status(root: ET.Element) -> dict[str, Any]:
    if root.tag != "status":
        raise CmsApiError("GET /system/status returned <%s>, not <status>" % root.tag)
    return element_dict(root)


def parse_collection(root: ET.Element, tag: str, item: str) -> tuple[int, list[dict[str, Any]]]:
    """The ``total`` attribute and the items of one page of a list (``<calls total="N"><call id>...``)."""
    if root.tag != tag:
        raise CmsApiError("expected <%s>, got <%s>" % (tag, root.tag))
    items = [element_dict(e) for e in root.findall(item)]
    try:
        total = int(root.get("total", len(items)))
    except ValueError:
        raise CmsApiError("<%s total=%r> is not a number" % (tag, root.get("total"))) from None
    return total, items


def parse_database(root: ET.Element) -> dict[str, Any]:
    """``/system/database``: ``clustered`` and one entry per database node (hostname, master, up, syncBehind)."""
    if root.tag != "database":
        raise CmsApiError("GET /system/database returned <%s>, not <database>" % root.tag)
    nodes = [element_dict(n) for n in root.iter("node")]
    return {"clustered": typed(root.findtext("clustered")), "nodes": nodes}


# ---- TLS -----------------------------------------------------------------------------------------------------------
class _NamedContext(ssl.SSLContext):
    """Verifies the peer against a fixed name, whatever address was dialled (http.client passes the host)."""

    server_name: str | None = None

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> Any:
        if self.server_name:
            kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(sock, *args, **kwargs)


def tls_context(
    ca_file: str | None, validate: bool, server_name: str | None, extra_roots_pem: str | None = None
) -> ssl.SSLContext:
    ctx = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not validate:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca_file:
        # Several PEM files may be given, separated like PATH (the old and the new root while Web Admin moves CA).
        for path in [part for part in ca_file.split(os.pathsep) if part]:
            ctx.load_verify_locations(cafile=path)
    else:
        ctx.load_default_certs()
    if extra_roots_pem:
        ctx.load_verify_locations(cadata=extra_roots_pem)
    ctx.server_name = server_name
    return ctx


# ---- the client ------------------------------------------------------------------------------------------------------
Opener = Callable[..., Any]


@dataclass
class CmsApi:
    """One node's REST API.  ``node`` names it in errors (the inventory hostname)."""

    node: str
    host: str
    port: int
    user: str
    password: str
    ca_file: str | None = None
    validate_certs: bool = True
    server_name: str | None = None
    timeout: float = 10.0
    opener: Opener | None = None  # tests may replace the HTTP layer; production uses ansible's Request
    # Roots trusted besides api_ca_file: the one a Web Admin certificate swap just deployed (ansible-core 2.17+).
    extra_roots_pem: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any], node: str | None = None) -> CmsApi:
        host = params.get("api_host") or params.get("host")
        if not host:
            raise CmsApiError("no API address: set api_host (inventory cms_api_host) or host", node=node)
        if not api_configured(params):
            raise CmsApiError("no API credentials", node=node, hint=CREDENTIALS_HINT)
        return cls(
            node=node or str(host),
            host=str(host),
            port=int(params.get("api_port") or 443),
            user=str(params["api_user"]),
            password=str(params["api_password"]),
            ca_file=params.get("api_ca_file"),
            validate_certs=bool(params.get("api_validate_certs", True)),
            server_name=params.get("api_server_name"),
            timeout=float(params.get("api_timeout") or 10),
        )

    @property
    def base_url(self) -> str:
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "https://%s:%d%s" % (host, self.port, API_PREFIX)

    def _tls_args(self) -> dict[str, Any]:
        if not REQUEST_TAKES_CONTEXT:
            if self.validate_certs and self.server_name and self.server_name != self.host:
                raise CmsApiError(
                    "api_server_name needs ansible-core 2.17 or later on the controller",
                    node=self.node,
                    hint="Set api_host (cms_api_host) to the name Web Admin's certificate carries instead.",
                )
            return {"validate_certs": self.validate_certs, "ca_path": self.ca_file}
        try:
            return {"context": tls_context(self.ca_file, self.validate_certs, self.server_name, self.extra_roots_pem)}
        except (OSError, ssl.SSLError) as exc:
            raise CmsApiError(
                "cannot load the CA bundle %s: %s" % (self.ca_file, exc),
                node=self.node,
                hint="Point api_ca_file (cms_api_ca_file) at a readable PEM file of the CA that signed Web Admin.",
            ) from None

    def _open(self, url: str) -> Any:
        if self.opener is not None:
            return self.opener(url, self)
        request = Request(timeout=self.timeout, follow_redirects="none", use_proxy=False)
        return request.open(
            "GET",
            url,
            url_username=self.user,
            url_password=self.password,
            force_basic_auth=True,
            headers={"Accept": "application/xml"},
            **self._tls_args(),
        )

    def get(self, path: str, **query: Any) -> ET.Element:
        """GET ``/api/v1<path>`` and parse the XML; errors name the node, the path and what to do."""
        url = self.base_url + path + ("?" + urlencode(query) if query else "")
        what = "GET %s%s" % (API_PREFIX, path)
        try:
            response = self._open(url)
            body = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc.code, what) from None
        except (urllib.error.URLError, OSError, ssl.SSLError, UrlsConnectionError) as exc:
            raise self._unavailable(exc, what) from None
        return parse_xml(body.decode("utf-8", "replace"), what)

    def _http_error(self, code: int, what: str) -> CmsApiError:
        if code == 401:
            return CmsApiAuthError(
                "the REST API refused the API user %r (HTTP 401) on port %d" % (self.user, self.port),
                node=self.node,
                command=what,
                hint=CREDENTIALS_HINT,
            )
        return CmsApiError(
            "%s answered HTTP %d" % (what, code),
            node=self.node,
            command=what,
            hint="Check api_port (cms_api_port): it must be the Web Admin port of the node (webadmin listen).",
        )

    def _unavailable(self, exc: BaseException, what: str) -> CmsApiUnavailable:
        reason = getattr(exc, "reason", exc)
        verify_failed = isinstance(reason, (ssl.SSLCertVerificationError, SSLValidationError))
        if verify_failed or "CERTIFICATE_VERIFY_FAILED" in str(reason):
            hint = (
                "Web Admin's certificate did not verify: set api_ca_file (cms_api_ca_file) to the CA that signed it "
                "and, when api_host is an address the certificate does not name, api_server_name "
                "(cms_api_server_name) to the name it does."
            )
        elif isinstance(reason, (socket.timeout, TimeoutError)):
            hint = "No answer within api_timeout seconds: is Web Admin enabled, and api_port its port?"
        else:
            hint = "Is Web Admin enabled on the node (webadmin) and api_host/api_port its address and port?"
        return CmsApiUnavailable(
            "the REST API at %s:%d did not answer %s: %s" % (self.host, self.port, what, reason),
            node=self.node,
            command=what,
            hint=hint,
        )

    # ---- resources ---------------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return parse_status(self.get("/system/status"))

    def legs_active(self) -> int:
        """Active call legs on this node (``callLegsActive``): what a restart of its Call Bridge would drop."""
        value = self.status().get("callLegsActive")
        if not isinstance(value, int):
            raise CmsApiError("/system/status has no callLegsActive number (got %r)" % (value,), node=self.node)
        return value

    def total(self, path: str, tag: str, item: str) -> int:
        return parse_collection(self.get(path, limit=1), tag, item)[0]

    def collection(self, path: str, tag: str, item: str, limit: int = 200) -> tuple[int, list[dict[str, Any]]]:
        """Every item of a list, page by page (``offset``/``limit``), up to ``limit`` items; and the total."""
        total, items = parse_collection(self.get(path, limit=PAGE_LIMIT), tag, item)
        while len(items) < min(total, limit):
            _t, page = parse_collection(self.get(path, offset=len(items), limit=PAGE_LIMIT), tag, item)
            if not page:
                break
            items += page
        return total, items[:limit]

    def alarms(self) -> list[dict[str, Any]]:
        return self.collection("/system/alarms", "alarms", "alarm")[1]

    def database(self) -> dict[str, Any]:
        return parse_database(self.get("/system/database"))

    def call_bridges(self) -> list[dict[str, Any]]:
        return self.collection("/callBridges", "callBridges", "callBridge")[1]
