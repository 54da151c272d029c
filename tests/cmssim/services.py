"""The certificate-bearing services of a CMS node (docs/dev/mmp_reference.md#services): webadmin, callbridge, turn, and
webbridge3 (3.x) or webbridge and xmpp (2.x), with their status outputs, setters, enable/disable/restart checks
and real TLS listeners.

State lives in ``node.state["services"][<service>]``.  Each service keeps what it is *configured* with (what the
status shows and ``certs`` changes) apart from what it *runs* with (``active``: the file names checked by the last
successful ``enable``/``restart``): on the real box a new ``certs`` setting takes effect only at the next
enable/restart (S2 sequences; S17 "changes need a callbridge restart").  The files themselves are re-read by the
TLS listener whenever they change, so overwriting an active key with ``pki csr`` breaks the service at once (S2).

Outage windows come from ``service_state`` events: ``disabled``, ``restarting`` and ``failed`` are logged the moment
a service stops serving, ``enabled`` and ``running`` the moment it serves again (after ``service_transition``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import core, pki, shapes, tls, x509

SERVICES_BY_MAJOR: dict[int, tuple[str, ...]] = {
    3: ("webadmin", "callbridge", "webbridge3", "turn"),
    2: ("webadmin", "callbridge", "webbridge", "xmpp", "turn"),
}
# Certificate slots: slot -> (key field, certificate field, bundle field or None).  webbridge3 takes full chains
# for its https and c2w sides and no separate bundle (S2, S29).
_MAIN_SLOT: dict[str, tuple[str, str, str | None]] = {"main": ("key", "cert", "bundle")}
SLOTS: dict[str, dict[str, tuple[str, str, str | None]]] = {
    "webadmin": _MAIN_SLOT,
    "callbridge": _MAIN_SLOT,
    "webbridge": _MAIN_SLOT,
    "xmpp": _MAIN_SLOT,
    "turn": _MAIN_SLOT,
    "webbridge3": {"https": ("https_key", "https_cert", None), "c2w": ("c2w_key", "c2w_cert", None)},
}
# TLS endpoints: endpoint name -> (service, slot, state field holding the loopback port).
C2W_ENDPOINT = "webbridge3-c2w"
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "webadmin": ("webadmin", "main", "tls_port"),
    "callbridge": ("callbridge", "main", "tls_port"),
    "webbridge3": ("webbridge3", "https", "tls_port"),
    C2W_ENDPOINT: ("webbridge3", "c2w", "c2w_tls_port"),
    "webbridge": ("webbridge", "main", "tls_port"),
    "xmpp": ("xmpp", "main", "tls_port"),
    "turn": ("turn", "main", "tls_port"),
}
LISTEN_RE = re.compile(r"([^:]+):(\d+)")
# Extensions registered by other simulator modules: an HTTP application per endpoint (api.py serves the REST API
# on webadmin), hooks called when a running service stops serving (calls.py drops the legs it carried), and hooks
# called on every start or stop.
HTTP_APPS: dict[str, Any] = {}
SERVICE_DOWN_HOOKS: list[Any] = []
# Hooks called after any service starts or stops, as ``(node, service, running)`` (trust.py re-judges peer links).
SERVICE_CHANGE_HOOKS: list[Any] = []

# Typical listen settings of a seeded node (S6, S10, S29): web bridge on 443, webadmin beside it on 445.
SEED_LISTEN: dict[str, dict[str, Any]] = {
    "webadmin": {"interface": "a", "port": 445},
    "callbridge": {"interfaces": ["a"]},
    "webbridge3": {"https_listen": ["a:443"], "c2w_listen": ["a:9999"]},
    "webbridge": {"listen": ["a:443"]},
    "xmpp": {"listen": ["a"]},
    "turn": {"listen": ["a"], "tls": 447},
}


def default_state(service: str) -> dict[str, Any]:
    """An unconfigured service: every value unset, not running."""
    common: dict[str, Any] = {"running": False, "active": {}, "tls_port": None}
    if service == "webadmin":
        return {
            **common,
            "enabled": False,
            "interface": None,
            "port": None,
            "key": None,
            "cert": None,
            "bundle": None,
            "http_redirect": False,
        }
    if service == "callbridge":
        return {
            **common,
            "interfaces": [],
            "preferred": None,
            "key": None,
            "cert": None,
            "bundle": None,
            "address": None,
            "c2w_trust": None,
            "cluster_trust": None,
            "branding_trust": None,
            "ucm_trust": None,
            "ucm_verify": False,
            "imps_trust": None,
            "imps_verify": False,
            "jwt_expiry": 24,
        }
    if service == "webbridge3":
        return {
            **common,
            "enabled": False,
            "https_listen": [],
            "https_key": None,
            "https_cert": None,
            "frame_ancestors": None,
            "http_redirect": False,
            "c2w_listen": [],
            "c2w_key": None,
            "c2w_cert": None,
            "c2w_trust": None,
            "meetingapps_address": None,
            "meetingapps_port": None,
            "audio_priority": False,
            "beta_options": None,
            "c2w_tls_port": None,
        }
    if service == "webbridge":
        return {
            **common,
            "enabled": False,
            "listen": [],
            "key": None,
            "cert": None,
            "bundle": None,
            "trust": None,
            "http_redirect": False,
        }
    if service == "xmpp":
        return {**common, "enabled": False, "domain": None, "listen": [], "key": None, "cert": None, "bundle": None}
    if service == "turn":
        return {
            **common,
            "enabled": False,
            "username": None,
            "password": None,
            "short_term": False,
            "shared_secret": None,
            "realm": None,
            "public_ip": None,
            "high_capacity": False,
            "tls": None,
            "key": None,
            "cert": None,
            "bundle": None,
            "listen": [],
        }
    raise KeyError(service)


def node_services(node: core.Node) -> tuple[str, ...]:
    return SERVICES_BY_MAJOR.get(node.major, ())


def all_state(node: core.Node) -> dict[str, dict[str, Any]]:
    """``node.state["services"]``, with a default entry for each service of the node's version."""
    services = node.state.setdefault("services", {})
    for name in node_services(node):
        if name not in services:
            services[name] = default_state(name)
    return services


def svc_state(node: core.Node, service: str) -> dict[str, Any]:
    return all_state(node)[service]


# ------------------------------------------------------------------------------------------------------------
# TLS endpoints
# ------------------------------------------------------------------------------------------------------------
def tls_ports(node: core.Node) -> dict[str, int]:
    """Every allocated loopback TLS port of the node: endpoint (service or ``webbridge3-c2w``) -> port."""
    services = node.state.get("services", {})
    out: dict[str, int] = {}
    for endpoint, (service, _slot, field) in ENDPOINTS.items():
        port = services.get(service, {}).get(field)
        if port:
            out[endpoint] = int(port)
    return out


def _endpoint_material(node: core.Node, endpoint: str) -> dict[str, str | None] | None:
    """The active files an endpoint serves, or None when it must not serve (node down, service stopped)."""
    service, slot, _field = ENDPOINTS[endpoint]
    st = node.state.get("services", {}).get(service)
    if not st or not st.get("running") or node.is_down():
        return None
    active = st.get("active", {}).get(slot)
    if not active or not active.get("key") or not active.get("cert"):
        return None
    return active


def tls_endpoints(node: core.Node) -> dict[str, int]:
    """Endpoints serving TLS right now (service enabled and running with certificates, node up) -> port."""
    return {ep: port for ep, port in tls_ports(node).items() if _endpoint_material(node, ep) is not None}


def _material(node: core.Node, endpoint: str) -> tls.Material | None:
    active = _endpoint_material(node, endpoint)
    if active is None:
        return None
    return tls.Material(
        key=node.files_dir / str(active["key"]),
        cert=node.files_dir / str(active["cert"]),
        bundle=node.files_dir / str(active["bundle"]) if active.get("bundle") else None,
        work_dir=node.dir / "tls",
    )


def refresh_listeners(node: core.Node) -> None:
    """Open or close the node's TLS sockets to match its state (no-op when no TLS manager runs here)."""
    mgr = tls.manager(node.lab.dir)
    if mgr is None:
        return
    want = tls_endpoints(node)
    for endpoint, port in tls_ports(node).items():
        key = (node.name, endpoint)
        if endpoint not in want:
            mgr.remove(key)
            continue
        material = functools.partial(_material, node, endpoint)
        app = HTTP_APPS.get(endpoint)
        app = functools.partial(app, node) if app is not None else None
        if not mgr.ensure(key, port, material, node.event, app=app):
            # Another process took the port while this lab was down: move the endpoint (status --json and the
            # inventory that `up` rewrites show the new port) rather than leave the service silently dark.
            service, _slot, field = ENDPOINTS[endpoint]
            taken = {p for n in node.lab.nodes.values() for p in tls_ports(n).values()}
            (new_port,) = core.allocate_ports(1, taken)
            all_state(node)[service][field] = new_port
            node.save()
            node.event("tls_port_moved", endpoint=endpoint, old=port, new=new_port)
            mgr.ensure(key, new_port, material, node.event, app=app)


def _assign_ports(nodes: list[core.Node], exclude: set[int]) -> bool:
    """Give every endpoint of every node a port if it has none; True when something changed."""
    missing = []
    for node in nodes:
        services = all_state(node)
        for _endpoint, (service, _slot, field) in ENDPOINTS.items():
            if service in services and not services[service].get(field):
                missing.append((services[service], field))
    taken = exclude | {port for node in nodes for port in tls_ports(node).values()}
    for (st, field), port in zip(missing, core.allocate_ports(len(missing), taken), strict=True):
        st[field] = port
    return bool(missing)


# ------------------------------------------------------------------------------------------------------------
# Status outputs
# ------------------------------------------------------------------------------------------------------------
def _v(value: Any) -> str:
    if value is None or value == [] or value == "":
        return shapes.STATUS_NONE
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def status_text(node: core.Node, service: str) -> str:
    st = svc_state(node, service)
    if service == "webadmin":
        return shapes.WEBADMIN_STATUS.format(
            enabled=shapes.STATUS_BOOL[bool(st["enabled"])],
            interface=_v(st["interface"]),
            port=_v(st["port"]),
            key=_v(st["key"]),
            cert=_v(st["cert"]),
            bundle_line=shapes.WEBADMIN_BUNDLE_LINE.format(bundle=st["bundle"]) if st["bundle"] else "",
            http_redirect=shapes.STATUS_FLAG[bool(st["http_redirect"])],
            status=shapes.WEBADMIN_RUN_STATE[bool(st["running"])],
        )
    if service == "callbridge":
        template = shapes.CALLBRIDGE_STATUS_3 if node.major >= 3 else shapes.CALLBRIDGE_STATUS_2
        return template.format(
            interfaces=_v(st["interfaces"]),
            preferred=_v(st["preferred"]),
            key=_v(st["key"]),
            cert=_v(st["cert"]),
            address=_v(st["address"]),
            bundle_line=shapes.CALLBRIDGE_BUNDLE_LINE.format(bundle=st["bundle"]) if st["bundle"] else "",
            c2w_trust=_v(st["c2w_trust"]),
            cluster_trust=_v(st["cluster_trust"]),
            branding_trust=_v(st["branding_trust"]),
            ucm_trust=_v(st["ucm_trust"]),
            ucm_verify=shapes.STATUS_MODE[bool(st["ucm_verify"])],
            imps_trust=_v(st["imps_trust"]),
            imps_verify=shapes.STATUS_MODE[bool(st["imps_verify"])],
            jwt_expiry=_v(st["jwt_expiry"]),
        )
    if service == "turn":
        return shapes.TURN_STATUS.format(
            enabled=shapes.STATUS_BOOL[bool(st["enabled"])],
            username=_v(st["username"]),
            password=_v(st["password"]),
            short_term=shapes.STATUS_MODE[bool(st["short_term"])],
            shared_secret=_v(st["shared_secret"]),
            realm=_v(st["realm"]),
            public_ip=_v(st["public_ip"]),
            high_capacity=shapes.STATUS_MODE[bool(st["high_capacity"])],
            relay=node.address if st["listen"] else shapes.STATUS_NONE,
            tls_port=_v(st["tls"]),
            cert=_v(st["cert"]),
            key=_v(st["key"]),
            bundle=_v(st["bundle"]),
            listen_lines="".join(shapes.TURN_LISTEN_LINE.format(iface=i) for i in st["listen"]),
        )
    rows_spec = {
        "webbridge3": shapes.WEBBRIDGE3_STATUS_ROWS,
        "webbridge": shapes.WEBBRIDGE_STATUS_ROWS,
        "xmpp": shapes.XMPP_STATUS_ROWS,
    }[service]
    rows = []
    for label, field in rows_spec:
        value = st[field]
        if field == "enabled":
            text = shapes.STATUS_BOOL[bool(value)]
        elif field in ("http_redirect", "audio_priority"):
            text = shapes.STATUS_FLAG[bool(value)]
        else:
            text = _v(value)
        rows.append((label, text))
    return shapes.status_rows(rows)


# ------------------------------------------------------------------------------------------------------------
# enable / disable / restart
# ------------------------------------------------------------------------------------------------------------
def _listen_check(service: str, st: dict[str, Any]) -> tuple[list[str], bool]:
    if service == "webadmin":
        ok = bool(st["interface"] and st["port"])
        return [shapes.SERVICE_ENABLE_TLS if ok else shapes.SERVICE_NO_TLS_LISTEN], ok
    if service in ("webbridge3", "webbridge"):
        ok = bool(st["https_listen"] if service == "webbridge3" else st["listen"])
        return [shapes.SERVICE_ENABLE_TLS if ok else shapes.SERVICE_NO_TLS_LISTEN], ok
    ok = bool(st["interfaces"] if service == "callbridge" else st["listen"])
    lines = [shapes.SERVICE_ENABLE_LISTEN if ok else shapes.SERVICE_NO_LISTEN]
    if service == "xmpp" and not st["domain"]:
        lines.append(shapes.SERVICE_NO_DOMAIN)
        ok = False
    return lines, ok


def _required_slots(service: str, st: dict[str, Any]) -> list[str]:
    if service == "webbridge3":
        # The c2w side is checked only when it is meant to listen.
        return ["https", "c2w"] if st["c2w_listen"] else ["https"]
    if service == "turn" and not st["tls"] and not (st["key"] or st["cert"]):
        return []  # TURN without TLS needs no certificate
    return ["main"]


def _slot_check(node: core.Node, st: dict[str, Any], fields: tuple[str, str, str | None]) -> tuple[list[str], bool]:
    key_name, cert_name = st[fields[0]], st[fields[1]]
    bundle_name = st[fields[2]] if fields[2] else None
    if not key_name or not cert_name:
        return [shapes.SERVICE_NO_CERTS], False
    for name in (key_name, cert_name, bundle_name):
        if name and not node.has_file(name):
            return [shapes.SERVICE_FILE_MISSING.format(name=name)], False
    key = pki.load_private_key(node.read_file(key_name))
    if key is None:
        return [shapes.SERVICE_KEY_UNREADABLE.format(name=key_name)], False
    certs = x509.load_certs(node.read_file(cert_name))
    if not certs:
        return [shapes.SERVICE_CERT_UNREADABLE.format(name=cert_name)], False
    if bundle_name and not x509.load_certs(node.read_file(bundle_name)):
        return [shapes.SERVICE_CERT_UNREADABLE.format(name=bundle_name)], False
    if not x509.key_matches_cert(key, certs[0]):
        return [shapes.SERVICE_CERTS_MISMATCH], False
    if certs[0].not_valid_after_utc < node.now():
        return [shapes.SERVICE_ENABLE_OK_MATCH, shapes.SERVICE_CERT_EXPIRED.format(name=cert_name)], False
    return [shapes.SERVICE_ENABLE_OK_MATCH], True


def run_checks(node: core.Node, service: str) -> tuple[list[str], bool, dict[str, dict[str, str | None]]]:
    """The SUCCESS/FAILURE lines of ``enable``/``restart``, whether all passed, and the snapshot to run with."""
    st = svc_state(node, service)
    lines, ok = _listen_check(service, st)
    active: dict[str, dict[str, str | None]] = {}
    for slot in _required_slots(service, st):
        fields = SLOTS[service][slot]
        slot_lines, slot_ok = _slot_check(node, st, fields)
        lines += slot_lines
        ok = ok and slot_ok
        active[slot] = {"key": st[fields[0]], "cert": st[fields[1]], "bundle": st[fields[2]] if fields[2] else None}
    lines.append((shapes.SERVICE_ENABLED if ok else shapes.SERVICE_NOT_COMPLETE).format(service=service))
    return lines, ok, active


def _set_serving(node: core.Node, service: str, running: bool, state: str, **updates: Any) -> None:
    st = svc_state(node, service)
    was_running = bool(st["running"])
    st.update(updates)
    st["running"] = running
    node.save()
    refresh_listeners(node)
    node.event("service_state", service=service, state=state)
    if was_running and not running:
        for hook in SERVICE_DOWN_HOOKS:
            hook(node, service, state)
    for change in SERVICE_CHANGE_HOOKS:
        change(node, service, running)


def start_service(node: core.Node, service: str, console: core.Console, restart: bool) -> None:
    """``enable`` (``restart=False``) or ``restart``: stop if running, wait the transition time, start if the
    checks pass.  A failed start leaves the service stopped (and, for services with an Enabled flag, disabled).

    [GUESS] ``restart`` of a stopped service starts it, and ``enable`` of a running one restarts it; neither case
    is shown in any transcript.
    """
    st = svc_state(node, service)
    lines, ok, active = run_checks(node, service)
    if st["running"]:
        _set_serving(node, service, False, "restarting")
    time.sleep(node.lab.timing("service_transition"))
    has_flag = "enabled" in st
    if ok:
        updates: dict[str, Any] = {"active": active}
        if has_flag:
            updates["enabled"] = True
        _set_serving(node, service, True, "running" if restart else "enabled", **updates)
    else:
        _set_serving(node, service, False, "failed", **({"enabled": False} if has_flag else {}))
    console.write("".join(line + "\n" for line in lines))


def stop_service(node: core.Node, service: str) -> None:
    _set_serving(node, service, False, "disabled", enabled=False)
    time.sleep(node.lab.timing("service_transition"))


# ------------------------------------------------------------------------------------------------------------
# Setters
# ------------------------------------------------------------------------------------------------------------
def _usage(service: str) -> core.CommandError:
    return core.CommandError(shapes.SERVICE_USAGES[service])


def _configure(node: core.Node, service: str, **updates: Any) -> None:
    svc_state(node, service).update(updates)
    node.save()
    shown = {k: ("<hidden>" if k == "password" else v) for k, v in updates.items()}
    node.event("service_config", service=service, **shown)


def _need_files(node: core.Node, names: list[str]) -> None:
    for name in names:
        if not node.has_file(name):
            raise core.CommandError(shapes.SERVICE_CERTS_MISSING_FILE.format(name=name))


def _interface(value: str, extra: tuple[str, ...] = ()) -> str:
    if value not in shapes.SERVICE_INTERFACES + extra:
        raise core.CommandError(shapes.SERVICE_BAD_INTERFACE.format(iface=value))
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise core.CommandError(shapes.SERVICE_BAD_PORT.format(port=value))
    return int(value)


def _listen_pairs(values: list[str]) -> list[str]:
    out = []
    for value in values:
        m = LISTEN_RE.fullmatch(value)
        if not m:
            raise core.CommandError(shapes.SERVICE_BAD_LISTEN.format(value=value))
        out.append(f"{_interface(m.group(1))}:{_port(m.group(2))}")
    return out


def _certs(node: core.Node, service: str, args: list[str], fields: tuple[str, str, str | None]) -> None:
    max_args = 3 if fields[2] else 2
    if not 2 <= len(args) <= max_args:
        raise _usage(service)
    _need_files(node, args)
    updates: dict[str, Any] = {fields[0]: args[0], fields[1]: args[1]}
    if fields[2]:
        updates[fields[2]] = args[2] if len(args) == 3 else None
    _configure(node, service, **updates)


def _on_off(service: str, args: list[str]) -> bool:
    if len(args) != 1 or args[0] not in ("enable", "disable"):
        raise _usage(service)
    return args[0] == "enable"


def _trust(node: core.Node, service: str, field: str, args: list[str]) -> None:
    if len(args) != 1:
        raise _usage(service)
    if args[0] == shapes.TRUST_CLEAR:
        _configure(node, service, **{field: None})
        return
    _need_files(node, args)
    _configure(node, service, **{field: args[0]})


def _lifecycle(node: core.Node, service: str, word: str, console: core.Console, allowed: tuple[str, ...]) -> bool:
    if word not in allowed:
        return False
    if word == "disable":
        stop_service(node, service)
    else:
        start_service(node, service, console, restart=word == "restart")
    return True


def _handle(node: core.Node, service: str, args: list[str], console: core.Console) -> None:
    if not args:
        console.write(status_text(node, service) + "\n")
        return
    sub, rest = args[0], args[1:]
    if sub in ("enable", "disable", "restart") and not rest:
        allowed = {
            "webadmin": ("enable", "disable", "restart"),
            "webbridge3": ("enable", "disable", "restart"),
            "callbridge": ("restart",),
        }.get(service, ("enable", "disable"))
        if _lifecycle(node, service, sub, console, allowed):
            return
        raise _usage(service)
    handler = _SETTERS.get((service, sub))
    if handler is None:
        raise _usage(service)
    handler(node, rest)


def _webadmin_listen(node: core.Node, args: list[str]) -> None:
    if len(args) != 2:
        raise _usage("webadmin")
    _configure(node, "webadmin", interface=_interface(args[0]), port=_port(args[1]))


def _callbridge_listen(node: core.Node, args: list[str]) -> None:
    if not args:
        raise _usage("callbridge")
    _configure(node, "callbridge", interfaces=[_interface(a) for a in args])


def _callbridge_trust(node: core.Node, args: list[str]) -> None:
    fields = {"cluster": "cluster_trust"}
    if node.major >= 3:
        # `callbridge trust c2w` arrived with Web Bridge 3 (docs/dev/mmp_reference.md#cms-2x-and-3x); the
        # branding line is seen on 3.x only.
        fields.update(c2w="c2w_trust", branding="branding_trust")
    if not args or args[0] not in fields:
        raise _usage("callbridge")
    _trust(node, "callbridge", fields[args[0]], args[1:])


def _callbridge_peer(kind: str) -> Any:
    """``callbridge ucm|imps certs <bundle>`` and ``... verify enable|disable`` [H, S12; CMS 3.8+]."""

    def handler(node: core.Node, args: list[str]) -> None:
        if node.major < 3 or not args:
            raise _usage("callbridge")
        if args[0] == "certs":
            _trust(node, "callbridge", f"{kind}_trust", args[1:])
        elif args[0] == "verify":
            _configure(node, "callbridge", **{f"{kind}_verify": _on_off("callbridge", args[1:])})
        else:
            raise _usage("callbridge")

    return handler


def _webbridge3_side(side: str) -> Any:
    def handler(node: core.Node, args: list[str]) -> None:
        if not args:
            raise _usage("webbridge3")
        sub, rest = args[0], args[1:]
        if sub == "listen" and rest:
            _configure(node, "webbridge3", **{f"{side}_listen": _listen_pairs(rest)})
        elif sub == "certs":
            _certs(node, "webbridge3", rest, SLOTS["webbridge3"][side])
        elif sub == "trust" and side == "c2w":
            _trust(node, "webbridge3", "c2w_trust", rest)
        else:
            raise _usage("webbridge3")

    return handler


def _redirect(service: str) -> Any:
    return lambda node, args: _configure(node, service, http_redirect=_on_off(service, args))


def _certs_of(service: str) -> Any:
    return lambda node, args: _certs(node, service, args, SLOTS[service]["main"])


def _webbridge_listen(node: core.Node, args: list[str]) -> None:
    if not args:
        raise _usage("webbridge")
    _configure(node, "webbridge", listen=_listen_pairs(args))


def _xmpp_domain(node: core.Node, args: list[str]) -> None:
    if len(args) != 1:
        raise _usage("xmpp")
    _configure(node, "xmpp", domain=args[0])


def _xmpp_listen(node: core.Node, args: list[str]) -> None:
    if not args:
        raise _usage("xmpp")
    _configure(node, "xmpp", listen=[_interface(a) for a in args])


def _turn_listen(node: core.Node, args: list[str]) -> None:
    if not args:
        raise _usage("turn")
    _configure(node, "turn", listen=[_interface(a, shapes.TURN_EXTRA_INTERFACES) for a in args])


def _turn_tls(node: core.Node, args: list[str]) -> None:
    if len(args) != 1:
        raise _usage("turn")
    _configure(node, "turn", tls=None if args[0] == "none" else _port(args[0]))


def _turn_credentials(node: core.Node, args: list[str]) -> None:
    if len(args) != 3:
        raise _usage("turn")
    _configure(node, "turn", username=args[0], password=args[1], realm=args[2])


def _turn_public_ip(node: core.Node, args: list[str]) -> None:
    if len(args) != 1:
        raise _usage("turn")
    _configure(node, "turn", public_ip=args[0])


_SETTERS: dict[tuple[str, str], Any] = {
    ("webadmin", "listen"): _webadmin_listen,
    ("webadmin", "certs"): _certs_of("webadmin"),
    ("webadmin", "http-redirect"): _redirect("webadmin"),
    ("callbridge", "listen"): _callbridge_listen,
    ("callbridge", "certs"): _certs_of("callbridge"),
    ("callbridge", "trust"): _callbridge_trust,
    ("callbridge", "ucm"): _callbridge_peer("ucm"),
    ("callbridge", "imps"): _callbridge_peer("imps"),
    ("webbridge3", "https"): _webbridge3_side("https"),
    ("webbridge3", "c2w"): _webbridge3_side("c2w"),
    ("webbridge3", "http-redirect"): _redirect("webbridge3"),
    ("webbridge", "listen"): _webbridge_listen,
    ("webbridge", "certs"): _certs_of("webbridge"),
    ("webbridge", "trust"): lambda node, args: _trust(node, "webbridge", "trust", args),
    ("webbridge", "http-redirect"): _redirect("webbridge"),
    ("xmpp", "domain"): _xmpp_domain,
    ("xmpp", "listen"): _xmpp_listen,
    ("xmpp", "certs"): _certs_of("xmpp"),
    ("turn", "listen"): _turn_listen,
    ("turn", "tls"): _turn_tls,
    ("turn", "credentials"): _turn_credentials,
    ("turn", "public-ip"): _turn_public_ip,
    ("turn", "certs"): _certs_of("turn"),
}


def _register(service: str) -> None:
    def handler(node: core.Node, args: list[str], console: core.Console) -> None:
        if service not in node_services(node):
            raise core.CommandError(shapes.UNKNOWN_COMMAND.format(line=" ".join([service, *args])))
        _handle(node, service, args, console)

    core.verb(service)(handler)


for _service in ("webadmin", "callbridge", "webbridge3", "webbridge", "xmpp", "turn"):
    _register(_service)


# ------------------------------------------------------------------------------------------------------------
# Seeding, start and stop
# ------------------------------------------------------------------------------------------------------------
def _seed(lab: core.Lab, spec: dict[str, Any]) -> None:
    """An enterprise CA, one service key and certificate per node, services configured and enabled on them."""
    now = lab.now()
    domain = str(spec["domain"])
    ca = pki.create_seed_ca(lab.dir, now, domain)
    specs = {n["name"]: n for n in spec["nodes"]}
    nodes = [lab.nodes[name] for name in specs]
    for node in nodes:
        all_state(node)
        unknown = [s for s in specs[node.name]["services"] if s not in node_services(node)]
        if unknown:
            raise ValueError(f"node {node.name} (CMS {node.version}) has no service(s) {unknown}")
    serving = [node for node in nodes if specs[node.name]["services"]]
    # RSA generation dominates seeding; two workers keep a 30-node lab within a few seconds on 2 cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        keys = list(pool.map(lambda _n: x509.new_key(shapes.PKI_CSR_KEY_BITS), serving))
    # `callbridge_cluster: true`: the Call Bridges form a Call Bridge cluster, each trusting the others by the seed CA.
    clustered = bool(spec.get("callbridge_cluster"))
    for node, key in zip(serving, keys, strict=True):
        _seed_node(node, {**specs[node.name], "callbridge_cluster": clustered}, key, ca, now, domain)
    # SSH ports a lab file fixes must not be handed to a TLS listener.
    _assign_ports(nodes, {int(n["ssh_port"]) for n in spec["nodes"] if n.get("ssh_port")})


def _seed_node(node: core.Node, nspec: dict[str, Any], key: Any, ca: pki.SeedCA, now: dt.datetime, domain: str) -> None:
    days = float(nspec["service_cert_days"])
    not_after = now + dt.timedelta(days=days)
    # Issued about a year before it expires, but never in the future (a lab may ask for long-lived certs).
    not_before = min(not_after - dt.timedelta(days=365), now - dt.timedelta(days=1))
    names = [node.fqdn, f"join.{domain}", node.hostname]
    if node.major < 3:
        names.append(domain)  # the XMPP domain must be in the certificate (S2)
    san = x509.san_entries(list(dict.fromkeys(names)))
    leaf = ca.issue(x509.build_name({"CN": node.fqdn}), key.public_key(), now, days, san, not_before=not_before)
    stem = f"{node.hostname}-{not_before.year}"
    files = {
        "key": f"{stem}.key",
        "cert": f"{stem}.cer",
        "fullchain": f"{stem}-fullchain.cer",
        "bundle": f"ca-bundle-{not_before.year}.cer",
    }
    leaf_pem = x509.cert_pem(leaf)
    bundle_pem = ca.bundle_pem()
    contents = {
        "key": x509.key_pem(key),
        "cert": leaf_pem,
        "fullchain": (leaf_pem + bundle_pem).rstrip(b"\n") + b"\n",  # one trailing newline (S2)
        "bundle": bundle_pem,
    }
    for what, name in files.items():
        core.atomic_write(node.files_dir / name, contents[what], mode=0o600 if what == "key" else 0o644)
    services = all_state(node)
    main = {"key": files["key"], "cert": files["cert"], "bundle": files["bundle"]}
    for service in nspec["services"]:
        st = services[service]
        st.update(SEED_LISTEN[service])
        if service == "webbridge3":
            chain = {"key": files["key"], "cert": files["fullchain"], "bundle": None}
            st.update(
                https_key=files["key"],
                https_cert=files["fullchain"],
                c2w_key=files["key"],
                c2w_cert=files["fullchain"],
                c2w_trust=files["bundle"],
            )
            st["active"] = {"https": dict(chain), "c2w": dict(chain)}
        else:
            st.update(main)
            st["active"] = {"main": dict(main)}
        if service == "callbridge" and node.major >= 3:
            st["c2w_trust"] = files["fullchain"]  # as S6: the web bridge's full chain as the C2W trust store
        if service == "callbridge" and nspec.get("callbridge_cluster"):
            st["cluster_trust"] = files["bundle"]  # the peers' CA: every Call Bridge certificate chains to it
        if service == "webbridge":
            st["trust"] = files["cert"]  # the 2.x web bridge trusts the Call Bridge certificate itself (S10, S31)
        if service == "xmpp":
            st["domain"] = domain
        if service == "turn":
            st.update(username="turnuser", password=secrets.token_urlsafe(12), realm=domain, high_capacity=True)
        if "enabled" in st:
            st["enabled"] = True
        st["running"] = True
        node.event("service_state", service=service, state="enabled", seeded=True)
    node.event("service_seeded", files=list(files.values()), expires=not_after.isoformat())


def _start(lab: core.Lab) -> None:
    tls.start_manager(lab.dir)
    nodes = list(lab.nodes.values())
    ssh_ports = {int(p) for p in lab.config.get("ssh_ports", {}).values()}
    if _assign_ports(nodes, ssh_ports):  # a lab seeded before a service existed: allocate now, keep for later runs
        for node in nodes:
            node.save()
    for node in nodes:
        refresh_listeners(node)


def _stop(lab: core.Lab) -> None:
    tls.stop_manager(lab.dir)


core.SEED_HOOKS.append(_seed)
core.START_HOOKS.append(_start)
core.STOP_HOOKS.append(_stop)
