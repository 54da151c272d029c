"""The CMS REST API, served by each node's Web Admin TLS listener (docs/dev/mmp_reference.md#rest-api).

Real HTTPS on the webadmin port, HTTP Basic against the lab's API user (kept apart from the MMP admin:
``secrets.json`` keys ``api_user``/``api_password``), XML replies, 401 on bad credentials, 404 on unknown paths.
Read-only: GET only.  Consistent with the node: ``clusterEnabled`` and ``/system/database`` follow the database
cluster state machine, legs and calls come from ``calls.py``, alarms from ``ctl --alarm``.  The API is down
whenever Web Admin is (the listener is closed), and during a database cluster transition, which restarts Web Admin
(S1): a connection is then closed without a reply.

Every element name and fixed text lives in ``shapes.py`` (marks there).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import secrets
import ssl
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from . import calls, core, dbcluster, services, shapes

MAX_REQUEST = 16384
# A stable id per node and call bridge (the API names objects by GUID).
_NAMESPACE = uuid.UUID("6f1c1a52-3c1e-4a61-9a4e-2f6a7c2b9e10")


def credentials(lab: core.Lab) -> tuple[str, str]:
    data = json.loads((lab.dir / "secrets.json").read_text())
    return str(data.get("api_user", "")), str(data.get("api_password", ""))


def _authorized(lab: core.Lab, header: str | None) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    want_user, want_password = credentials(lab)
    # Both compared, always: no early exit telling a wrong user from a wrong password.
    ok_user = secrets.compare_digest(user.encode(), want_user.encode())
    ok_password = secrets.compare_digest(password.encode(), want_password.encode())
    return bool(want_user) and ok_user and ok_password


# ---- XML ---------------------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _element(tag: str, fields: dict[str, Any], attrs: dict[str, str] | None = None) -> str:
    attr = "".join(f" {k}={quoteattr(v)}" for k, v in (attrs or {}).items())
    inner = "".join(f"<{k}>{_text(v)}</{k}>" for k, v in fields.items() if v is not None)
    return f"<{tag}{attr}>{inner}</{tag}>"


def _collection(tag: str, item: str, items: list[tuple[str, dict[str, Any]]], query: dict[str, list[str]]) -> str:
    offset = _int_param(query, "offset", 0)
    limit = min(_int_param(query, "limit", shapes.API_PAGE_LIMIT), shapes.API_PAGE_LIMIT)
    page = items[offset : offset + limit]
    body = "".join(_element(item, fields, {"id": ident}) for ident, fields in page)
    return f'<{tag} total="{len(items)}">{body}</{tag}>'


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return max(0, int(query[name][0]))
    except (KeyError, ValueError, IndexError):
        return default


# ---- resources ---------------------------------------------------------------------------------------------------
def _status(node: core.Node) -> str:
    nc = calls.snapshot(node)
    active = len(nc.legs)
    values: dict[str, Any] = {
        "softwareVersion": shapes.API_SOFTWARE_VERSION.format(version=node.version),
        "uptimeSeconds": calls.uptime(node.lab),
        "activated": True,
        "clusterEnabled": dbcluster.api_view(node)["enabled"],
        "cdrTime": node.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "callLegsActive": active,
        "callLegsMaxActive": nc.max_active,
        "callLegsCompleted": nc.completed,
        "audioBitRateOutgoing": active * 64000,
        "audioBitRateIncoming": active * 64000,
        "videoBitRateOutgoing": active * 1500000,
        "videoBitRateIncoming": active * 1500000,
    }
    return _element("status", {k: values[k] for k in shapes.API_STATUS_FIELDS})


def _calls(node: core.Node) -> list[tuple[str, dict[str, Any]]]:
    nc = calls.snapshot(node)
    return [(c.id, {"name": c.name}) for c in nc.calls]


def _legs(node: core.Node) -> list[tuple[str, dict[str, Any]]]:
    nc = calls.snapshot(node)
    return [
        (leg.id, {"name": "", "remoteParty": f"participant{i + 1}@{node.lab.config['domain']}", "call": leg.call})
        for i, leg in enumerate(nc.legs)
    ]


def _call_bridges(node: core.Node) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for other in node.lab.nodes.values():
        if "callbridge" not in services.node_services(other):
            continue
        port = services.svc_state(other, "webadmin").get("port") or 443
        ident = str(uuid.uuid5(_NAMESPACE, other.name))
        out.append((ident, {"name": other.name, "address": f"https://{other.fqdn}:{port}"}))
    return out


def _alarms(node: core.Node) -> list[tuple[str, dict[str, Any]]]:
    now = dt.datetime.now(dt.UTC).timestamp()
    return [
        (a["id"], {"type": a["type"], "activeTimeSeconds": int(now - float(a["since"]))}) for a in calls.alarms(node)
    ]


def _database(node: core.Node) -> str:
    view = dbcluster.api_view(node)
    nodes = "".join(_element("node", n) for n in view["nodes"])
    clustered = shapes.API_DATABASE_CLUSTERED[view["enabled"]]
    return f"<database><clustered>{clustered}</clustered><cluster>{nodes}</cluster></database>"


_LISTS = {"/calls": _calls, "/callLegs": _legs, "/callBridges": _call_bridges, "/system/alarms": _alarms}


def respond(node: core.Node, method: str, target: str, headers: dict[str, str]) -> tuple[int, str]:
    """HTTP status and XML body for one request (no body on errors)."""
    if not _authorized(node.lab, headers.get("authorization")):
        return 401, shapes.API_ERROR_BODY
    url = urlsplit(target)
    path = url.path.rstrip("/")
    if not path.startswith(shapes.API_PREFIX + "/"):
        return 404, shapes.API_ERROR_BODY
    resource = path[len(shapes.API_PREFIX) :]
    query = parse_qs(url.query)
    if resource == "/system/status":
        body = _status(node)
    elif resource == "/system/database":
        body = _database(node)
    elif resource in _LISTS:
        tag, item = shapes.API_COLLECTIONS[resource]
        body = _collection(tag, item, _LISTS[resource](node), query)
    else:
        return 404, shapes.API_ERROR_BODY
    if method != "GET":
        return 405, shapes.API_ERROR_BODY  # the simulator's API is read-only
    return 200, shapes.API_XML_DECLARATION + "\n" + body


# ---- the HTTP exchange on an accepted TLS connection ---------------------------------------------------------------
_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request"}


def _read_head(conn: ssl.SSLSocket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
        if len(data) > MAX_REQUEST:
            return None
    return data.split(b"\r\n\r\n", 1)[0]


def serve(node: core.Node, conn: ssl.SSLSocket) -> None:
    """Answer one HTTP request on ``conn`` (the TLS manager closes it afterwards)."""
    with contextlib.suppress(ssl.SSLError, OSError):
        conn.settimeout(5.0)
        head = _read_head(conn)
        if head is None:
            return
        if dbcluster.config(node)["transition"]:
            # Web Admin restarts with the database cluster: the connection goes away unanswered.
            node.event("api_request", path=None, status=None, reason="webadmin restarting")
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(parts) != 3:
            code, body = 400, ""
        else:
            code, body = respond(node, parts[0], parts[1], headers)
        node.event(
            "api_request", method=parts[0] if parts else None, path=parts[1] if len(parts) > 1 else None, status=code
        )
        payload = body.encode()
        extra = f"WWW-Authenticate: {shapes.API_UNAUTHORIZED_REALM}\r\n" if code == 401 else ""
        content_type = "Content-Type: text/xml\r\n" if payload else ""
        reply = (
            f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}\r\n{extra}{content_type}"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        ).encode() + payload
        conn.sendall(reply)


services.HTTP_APPS["webadmin"] = serve
