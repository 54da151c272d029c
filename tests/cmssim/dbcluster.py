"""`database cluster`: one state machine across every node of a lab.

Each node keeps its own part in ``node.state["dbcluster"]`` (interface, certificate file names, role, the cluster it
belongs to, the last command, a running transition).  What ``status`` prints is derived from the state of every node
and from the certificate files at the moment of the call, so an expired or foreign certificate splits the cluster
the way TechNote 216549 describes ("database nodes in cluster stops talking to each other").

Transitions (``remove``, ``initialize``, ``join``, ``connect``) run in the background like on the real box: they store
their start time (wall clock, so they survive a simulator restart) and finish ``lab.timing("cluster_<kind>")`` seconds
later.  A timer thread (start hook) finishes them at their deadline and logs ``cluster_transition`` events; every
``database`` command also finishes any transition that is due before it looks at the state.

Locking: ``Lab.execute`` holds the node's lock while a handler runs (also while a prompt waits for its answer), and
cross-node changes take ``lab.lock``.  So this module never blocks on another node's lock while holding ``lab.lock``:
it replaces a node's ``dbcluster`` dict as a whole (never mutating a published one, so a concurrent ``json.dumps`` of
the state stays consistent) and saves a node when its lock is free, else the timer saves it shortly after.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import core, shapes, x509

log = logging.getLogger("cmssim.dbcluster")

KEY = "dbcluster"
DB_CERT_KEYS = ("server_key", "server_cert", "client_key", "client_cert", "ca_cert")
CLIENT_CERT_KEYS = ("client_key", "client_cert", "ca_cert")
# Seeded file names, as in TechNote 216549.
SEED_FILES = {
    "server_key": "dbclusterserver.key",
    "server_cert": "dbclusterserver.cer",
    "client_key": "dbclusterclient.key",
    "client_cert": "dbclusterclient.cer",
    "ca_cert": "dbclusterca.cer",
}
SEED_CA_KEY = "dbclusterca.key"
# The client certificate's CN must contain "postgres" (TN 210530, CMS 2.1+).
CLIENT_CN_WORD = "postgres"
ENABLED_ROLES = ("primary", "replica", "client")


# ------------------------------------------------------------------------------------------------------------
# Per-node configuration (copy-on-write)
# ------------------------------------------------------------------------------------------------------------
def default_config() -> dict[str, Any]:
    return {
        "interface": None,  # `localnode`
        "certs": None,  # {server_key, server_cert, client_key, client_cert, ca_cert} or the 3 client keys
        "role": "none",  # none | primary | replica | client | error
        "cluster_id": None,  # set by `initialize` on the primary, copied by join/connect
        "primary": None,  # node name of the primary this node belongs to
        "error": None,  # text of the ERROR line in the Error state
        "last_command": None,  # {"command": ..., "result": "Success"|"Failed"}
        "transition": None,  # {"kind", "command", "target", "started", "duration"}
    }


def config(node: core.Node) -> dict[str, Any]:
    """The node's cluster configuration. Treat it as read-only: changes go through ``_publish``."""
    cfg = node.state.get(KEY)
    if not isinstance(cfg, dict):
        return default_config()
    return {**default_config(), **cfg}


class _Runtime:
    """What one running lab needs beyond its saved state: unsaved nodes and the transition timer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dirty: set[str] = set()
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None


_runtime = core.LabRuntimes(lambda lab: _Runtime()).get


def _publish(node: core.Node, **changes: Any) -> None:
    """Replace the node's configuration (call with ``lab.lock`` held for cross-node consistency)."""
    node.state[KEY] = {**config(node), **changes}
    rt = _runtime(node.lab)
    with rt.lock:
        rt.dirty.add(node.name)
    _flush(node.lab)


def _flush(lab: core.Lab, wait: float = 0.0) -> None:
    """Save changed nodes whose lock is free (the current thread's own node always is)."""
    rt = _runtime(lab)
    with rt.lock:
        names = sorted(rt.dirty)
    for name in names:
        node = lab.nodes.get(name)
        if node is None:
            with rt.lock:
                rt.dirty.discard(name)
            continue
        got = node.lock.acquire(timeout=wait) if wait > 0 else node.lock.acquire(blocking=False)
        if not got:
            continue
        try:
            with rt.lock:
                rt.dirty.discard(name)
            node.save()
        finally:
            node.lock.release()


def poke(lab: core.Lab) -> None:
    """Wake the timer (a transition started, or a node's state was replaced by a rollback)."""
    _runtime(lab).wake.set()


# ------------------------------------------------------------------------------------------------------------
# Transitions
# ------------------------------------------------------------------------------------------------------------
def _deadline(t: dict[str, Any]) -> float:
    return float(t["started"]) + float(t["duration"])


def settle(lab: core.Lab) -> None:
    """Finish every transition whose deadline has passed, in deadline order (a join due after its primary's
    initialize sees the initialized primary)."""
    now = time.time()
    with lab.lock:
        due = []
        for name, node in lab.nodes.items():
            t = config(node)["transition"]
            if t and _deadline(t) <= now:
                due.append((_deadline(t), name))
        for deadline, name in sorted(due):
            _finish(lab.nodes[name], deadline)
    _flush(lab)


def _next_deadline(lab: core.Lab) -> float | None:
    deadlines = [_deadline(t) for node in lab.nodes.values() if (t := config(node)["transition"])]
    return min(deadlines) if deadlines else None


def _finish(node: core.Node, deadline: float) -> None:
    cfg = config(node)
    t = cfg["transition"]
    kind = t["kind"]
    changes: dict[str, Any] = {"transition": None, "error": None}
    result = "Success"
    reason = None
    if kind == "remove":
        changes.update(role="none", cluster_id=None, primary=None)
    elif kind == "initialize":
        changes.update(role="primary", cluster_id=uuid.uuid4().hex, primary=node.name)
    else:
        target = node.lab.nodes.get(t.get("target") or "")
        reason = _join_problem(node, target, server=(kind == "join"))
        if reason is None and target is not None:
            role = "replica" if kind == "join" else "client"
            changes.update(role=role, cluster_id=config(target)["cluster_id"], primary=target.name)
        else:
            result = "Failed"
            error = shapes.DB_ERROR_JOIN if kind == "join" else shapes.DB_ERROR_CONNECT
            changes.update(role="error", cluster_id=None, primary=None, error=error)
    changes["last_command"] = {"command": t["command"], "result": result}
    _publish(node, **changes)
    node.event(
        "cluster_transition",
        kind=kind,
        phase="finished",
        result=result,
        command=t["command"],
        target=t.get("target"),
        started=t["started"],
        deadline=deadline,
        reason=reason,
    )


def _join_problem(node: core.Node, target: core.Node | None, *, server: bool) -> str | None:
    """Why ``node`` cannot join (``server``) or connect to the cluster whose primary is ``target``; None if it can."""
    if target is None:
        return "primary unknown"
    tcfg = config(target)
    if tcfg["role"] != "primary" or tcfg["transition"] or not tcfg["cluster_id"]:
        return f"{target.name} is not an initialized primary"
    if target.is_down():
        return f"{target.name} is down"
    mats: dict[str, Material] = {}
    if not _trusts(node, target, server=server, mats=mats):
        return "certificates not valid or not from the primary's CA"
    return None


def _timer(lab: core.Lab, rt: _Runtime) -> None:
    while not rt.stop.is_set():
        rt.wake.clear()
        try:
            settle(lab)
        except Exception:  # a simulator bug must not stop the timer; it is logged
            log.exception("settling cluster transitions failed")
        nxt = _next_deadline(lab)
        timeout = 1.0 if nxt is None else min(1.0, max(0.0, nxt - time.time()))
        with rt.lock:
            if rt.dirty:
                timeout = min(timeout, 0.05)
        rt.wake.wait(timeout)


def start_hook(lab: core.Lab) -> None:
    rt = _runtime(lab)
    if rt.thread is not None and rt.thread.is_alive():
        return
    rt.stop.clear()
    # A restart after a transition's deadline finishes it at once (its start time is wall-clock time).
    settle(lab)
    rt.thread = threading.Thread(target=_timer, args=(lab, rt), name="dbcluster-timer", daemon=True)
    rt.thread.start()


def stop_hook(lab: core.Lab) -> None:
    rt = _runtime(lab)
    rt.stop.set()
    rt.wake.set()
    if rt.thread is not None:
        rt.thread.join(timeout=5)
        rt.thread = None
    settle(lab)
    _flush(lab, wait=2.0)


core.START_HOOKS.append(start_hook)
core.STOP_HOOKS.append(stop_hook)


# ------------------------------------------------------------------------------------------------------------
# Certificates and trust
# ------------------------------------------------------------------------------------------------------------
@dataclass
class Material:
    """What a node's configured certificate files are worth at the lab clock's now."""

    client_ok: bool = False
    server_ok: bool = False
    ca_id: str | None = None
    expired: set[str] = field(default_factory=set)


_PARSED: dict[tuple[str, int, int, int, int], Any] = {}
_PARSED_LOCK = threading.Lock()


def _parsed(node: core.Node, name: str | None, kind: str) -> Any:
    """The first certificate or the private key in a store file, cached by (path, mtime, size); None if unusable."""
    if not name or not node.has_file(name):
        return None
    path = node.files_dir / name
    try:
        st = path.stat()
    except OSError:
        return None
    # Inode and ctime too: SFTP can rewrite a file in place within one coarse mtime tick.
    cache_key = (f"{kind}:{path}", st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    with _PARSED_LOCK:
        if cache_key in _PARSED:
            return _PARSED[cache_key]
    try:
        data = path.read_bytes()
        if kind == "key":
            value: Any = x509.load_key(data)
        else:
            certs = x509.load_certs(data)
            value = certs[0] if certs else None
    except Exception:  # noqa: BLE001 - any unreadable or foreign file is just "not usable"
        value = None
    with _PARSED_LOCK:
        if len(_PARSED) > 512:
            _PARSED.clear()
        _PARSED[cache_key] = value
    return value


def material(node: core.Node, now: dt.datetime | None = None) -> Material:
    now = now or node.now()
    certs = config(node)["certs"] or {}
    mat = Material()
    for key in ("server_cert", "client_cert", "ca_cert"):
        cert = _parsed(node, certs.get(key), "cert")
        if cert is not None and cert.not_valid_after_utc < now:
            mat.expired.add(certs[key])
    ca = _parsed(node, certs.get("ca_cert"), "cert")
    if ca is None or not x509.issued_by(ca, ca):
        return mat
    if not (ca.not_valid_before_utc <= now <= ca.not_valid_after_utc):
        return mat
    mat.ca_id = x509.public_key_sha256(ca.public_key()) + "|" + x509.rfc4514(ca.subject)

    def pair_ok(key_name: str, cert_name: str) -> bool:
        cert = _parsed(node, certs.get(cert_name), "cert")
        key = _parsed(node, certs.get(key_name), "key")
        if cert is None or key is None:
            return False
        try:
            if not x509.key_matches_cert(key, cert):
                return False
        except Exception:  # noqa: BLE001 - a key of another type
            return False
        chain = x509.verify_chain(cert, [ca], now)
        return chain.ok and chain.root is not None and chain.root == ca

    client = _parsed(node, certs.get("client_cert"), "cert")
    client_cn = ""
    if client is not None:
        client_cn = " ".join(str(a.value) for a in client.subject if a.oid == x509.NAME_ATTRS["CN"])
    mat.client_ok = pair_ok("client_key", "client_cert") and CLIENT_CN_WORD in client_cn
    mat.server_ok = mat.client_ok and pair_ok("server_key", "server_cert")
    return mat


def _mat(node: core.Node, mats: dict[str, Material]) -> Material:
    if node.name not in mats:
        mats[node.name] = material(node)
    return mats[node.name]


def _trusts(node: core.Node, primary: core.Node, *, server: bool, mats: dict[str, Material]) -> bool:
    """Can ``node`` talk to ``primary``: both sides' certificates valid now, keys matching, one CA."""
    if node.is_down() or primary.is_down():
        return False
    mine, theirs = _mat(node, mats), _mat(primary, mats)
    own_ok = mine.server_ok if server else mine.client_ok
    return own_ok and theirs.server_ok and mine.ca_id is not None and mine.ca_id == theirs.ca_id


def _active_primary(lab: core.Lab, name: str | None, cluster_id: str | None) -> core.Node | None:
    node = lab.nodes.get(name or "")
    if node is None or node.is_down():
        return None
    cfg = config(node)
    if cfg["role"] != "primary" or cfg["transition"] or not cluster_id or cfg["cluster_id"] != cluster_id:
        return None
    return node


def _linked(node: core.Node, mats: dict[str, Material]) -> bool:
    """A replica or connect-only node currently talking to its primary."""
    cfg = config(node)
    if cfg["role"] not in ("replica", "client") or cfg["transition"] or node.is_down():
        return False
    primary = _active_primary(node.lab, cfg["primary"], cfg["cluster_id"])
    if primary is None:
        return False
    return _trusts(node, primary, server=(cfg["role"] == "replica"), mats=mats)


# ------------------------------------------------------------------------------------------------------------
# status
# ------------------------------------------------------------------------------------------------------------
def _line(label: str, value: str, width: int) -> str:
    return label.ljust(max(width, len(label) + 1)) + ": " + value


def _address_key(node: core.Node) -> tuple[int, Any]:
    try:
        return (0, ipaddress.ip_address(node.address))
    except ValueError:
        return (1, node.address)


def _members(node: core.Node) -> tuple[core.Node | None, list[core.Node]]:
    """The cluster's primary as this node knows it, and the database nodes it lists (sorted by address)."""
    cfg = config(node)
    lab = node.lab
    primary = node if cfg["role"] == "primary" else lab.nodes.get(cfg["primary"] or "")
    members = {
        n.name: n
        for n in lab.nodes.values()
        if config(n)["role"] == "replica" and config(n)["cluster_id"] == cfg["cluster_id"]
    }
    if primary is not None:
        members[primary.name] = primary
    return primary, sorted(members.values(), key=_address_key)


def _node_value(viewer: core.Node, member: core.Node, mats: dict[str, Material]) -> str:
    words = shapes.DB_ROLE_WORDS[viewer.major]
    in_sync = shapes.DB_CONNECTED.format(role=words["replica"]) + " " + shapes.DB_IN_SYNC
    vcfg = config(viewer)
    if member is viewer:
        if vcfg["role"] == "primary":
            return shapes.DB_CONNECTED.format(role=words["primary"])
        return (
            in_sync
            if _linked(viewer, mats)
            else shapes.DB_CONNECTED.format(role=words["replica"]) + " " + shapes.DB_OUT_OF_SYNC
        )
    if vcfg["role"] != "primary" and not _linked(viewer, mats):
        return shapes.DB_DISCONNECTED
    if _active_primary(viewer.lab, member.name, vcfg["cluster_id"]) is member:
        return shapes.DB_CONNECTED.format(role=words["primary"])
    mcfg = config(member)
    if mcfg["role"] == "replica" and mcfg["cluster_id"] == vcfg["cluster_id"] and _linked(member, mats):
        return in_sync
    return shapes.DB_DISCONNECTED


def render_status(node: core.Node) -> str:
    cfg = config(node)
    layout = shapes.DB_STATUS_LAYOUT[node.major]
    width, block, indent = layout["label_width"], layout["block_width"], layout["node_indent"]
    labels = shapes.DB_LABELS
    t = cfg["transition"]
    enabled = cfg["role"] in ENABLED_ROLES and not t
    head: list[str] = []
    if cfg["role"] == "error" and not t:
        head.append(_line(labels["error"], str(cfg["error"]), width))
    if t:
        seconds = max(0, int(time.time() - float(t["started"])))
        state = shapes.DB_TRANSITION_STATUS[t["kind"]].format(seconds=seconds)
    elif enabled:
        state = shapes.DB_STATE_ENABLED
    elif cfg["role"] == "error":
        state = shapes.DB_STATE_ERROR
    else:
        state = shapes.DB_STATE_DISABLED
    head.append(_line(labels["status"], state, width))
    in_use = shapes.DB_NONE
    if state != shapes.DB_STATE_DISABLED:
        head += ["", labels["nodes"]]
        if enabled:
            mats: dict[str, Material] = {}
            primary, members = _members(node)
            for member in members:
                label = member.address + (shapes.DB_ME if member is node else "")
                head.append(" " * indent + _line(label, _node_value(node, member, mats), width - indent))
            if primary is not None:
                in_use = primary.address
    head.append(_line(labels["node_in_use"], in_use, width))
    blocks = [head]
    if cfg["interface"]:
        blocks.append([_line(labels["interface"], cfg["interface"], block)])
    certs = cfg["certs"]
    if certs:
        expired = material(node).expired
        lines = [labels["certificates"]]
        for key, label in shapes.DB_CERT_LABELS:
            if certs.get(key):
                name = certs[key] + (shapes.DB_EXPIRED_MARK if certs[key] in expired and key.endswith("cert") else "")
                lines.append(_line("  " + label, name, block))
        blocks.append(lines)
    if cfg["last_command"] and not t:
        value = shapes.DB_LAST_COMMAND.format(**cfg["last_command"])
        blocks.append([_line(labels["last_command"], value, width)])
    return "\n\n".join("\n".join(b) for b in blocks) + "\n\n"


def api_view(node: core.Node) -> dict[str, Any]:
    """What ``GET /api/v1/system/database`` shows on ``node`` (api.py writes it as XML): whether the database
    cluster is enabled, and each database node as this node sees it (``hostname`` is its address, as in the status).
    """
    cfg = node.state.get(KEY) or {}
    cfg = {**default_config(), **cfg}
    enabled = cfg["role"] in ENABLED_ROLES and not cfg["transition"]
    nodes: list[dict[str, Any]] = []
    if enabled:
        mats: dict[str, Material] = {}
        words = shapes.DB_ROLE_WORDS[node.major]
        in_sync = shapes.DB_CONNECTED.format(role=words["replica"]) + " " + shapes.DB_IN_SYNC
        primary_word = shapes.DB_CONNECTED.format(role=words["primary"])
        for member in _members(node)[1]:
            value = _node_value(node, member, mats)
            up = value != shapes.DB_DISCONNECTED
            behind = 0 if value in (in_sync, primary_word) else shapes.API_SYNC_BEHIND_OUT_OF_SYNC
            nodes.append(
                {
                    "hostname": member.address,
                    "master": value == primary_word,
                    "up": up,
                    "syncBehind": behind if up else -1,
                }
            )
    return {"enabled": enabled, "nodes": nodes}


# ------------------------------------------------------------------------------------------------------------
# The verb
# ------------------------------------------------------------------------------------------------------------
def _is_disabled(cfg: dict[str, Any]) -> bool:
    return cfg["role"] == "none" and not cfg["transition"]


def _status(node: core.Node, args: list[str], console: core.Console) -> None:
    if args:
        raise core.CommandError(shapes.DB_USAGE)
    console.write(render_status(node))


def _certs(node: core.Node, args: list[str], console: core.Console) -> None:
    keys: tuple[str, ...]
    if len(args) == 5:
        keys = DB_CERT_KEYS
    elif len(args) == 3:
        keys = CLIENT_CERT_KEYS
    else:
        raise core.CommandError(shapes.DB_USAGE)
    if not _is_disabled(config(node)):
        raise core.CommandError(shapes.DB_CERTS_WHILE_ENABLED)
    for name in args:
        if not node.has_file(name):
            raise core.CommandError(shapes.FILE_NOT_FOUND.format(name=name))
    # [H] The files are not checked here: the real box takes expired certificates (TN 216549 step 1).
    certs = dict(zip(keys, args, strict=True))
    # The box reads the files as it takes them: parse them now, in this command's time and outside lab.lock. Left to
    # the first `status` or join check, loading the private keys (~35 ms each idle, far more on a loaded host,
    # holding the GIL) would land inside the next transition's wait and stall every node's status reads.
    for key, name in certs.items():
        _parsed(node, name, "key" if key.endswith("_key") else "cert")
    with node.lab.lock:
        _publish(node, certs=certs)
    console.write(shapes.DB_CERTS_UPDATED + "\n")


def _localnode(node: core.Node, args: list[str], console: core.Console) -> None:
    if len(args) != 1:
        raise core.CommandError(shapes.DB_USAGE)
    iface = args[0]
    if iface not in shapes.DB_LOCAL_INTERFACES:
        raise core.CommandError(shapes.DB_LOCALNODE_BAD_IFACE.format(iface=iface))
    cfg = config(node)
    if iface != cfg["interface"] and not _is_disabled(cfg):
        raise core.CommandError(shapes.DB_LOCALNODE_WHILE_ENABLED)
    with node.lab.lock:
        _publish(node, interface=iface)


WARNINGS = {
    "remove": shapes.DB_REMOVE_WARNING,
    "initialize": shapes.DB_INITIALIZE_WARNING,
    "join": shapes.DB_JOIN_WARNING,
    "connect": shapes.DB_CONNECT_WARNING,
}


def _transition_command(kind: str) -> Any:
    def handler(node: core.Node, args: list[str], console: core.Console) -> None:
        _start_transition(node, kind, args, console)

    return handler


def _start_transition(node: core.Node, kind: str, args: list[str], console: core.Console) -> None:
    wants_target = kind in ("join", "connect")
    if len(args) != (1 if wants_target else 0):
        raise core.CommandError(shapes.DB_USAGE)
    command = " ".join(["database", "cluster", kind, *args])
    cfg = config(node)
    if cfg["transition"]:
        raise core.CommandError(shapes.DB_BUSY)
    certs = cfg["certs"] or {}
    if kind in ("initialize", "join"):
        if not node.holds_database:
            raise core.CommandError(shapes.DB_NO_LOCAL_DATABASE)
        if not all(certs.get(k) for k in DB_CERT_KEYS):
            raise core.CommandError(shapes.DB_NO_CERTS)
    if kind == "connect" and not all(certs.get(k) for k in CLIENT_CERT_KEYS):
        raise core.CommandError(shapes.DB_NO_CERTS)
    if kind != "remove" and not cfg["interface"]:
        raise core.CommandError(shapes.DB_NO_LOCALNODE)
    target: core.Node | None = None
    if wants_target:
        target = node.lab.node_by_address(args[0])
        if target is None:
            raise core.CommandError(shapes.DB_UNKNOWN_PRIMARY.format(address=args[0]))
        if target is node:
            raise core.CommandError(shapes.DB_JOIN_SELF)
    warning = WARNINGS[kind]
    if wants_target and cfg["role"] in ENABLED_ROLES:
        warning += "\n" + shapes.DB_ALREADY_CLUSTERED_NOTE
    console.write(warning + "\n")
    answer = console.read_answer()
    if answer != "Y":
        # [H] only a capital Y proceeds (TN 216549); [GUESS] nothing is printed otherwise.
        node.event("confirmation", command=command, answer=answer, proceeded=False)
        return
    with node.lab.lock:
        started = time.time()
        transition = {
            "kind": kind,
            "command": command,
            "target": target.name if target else None,
            "started": started,
            "duration": node.lab.timing(f"cluster_{kind}"),
        }
        _publish(node, transition=transition)
    node.event(
        "cluster_transition",
        kind=kind,
        phase="started",
        command=command,
        target=transition["target"],
        started=started,
        deadline=_deadline(transition),
    )
    for hook in TRANSITION_HOOKS:
        hook(node, kind)
    poke(node.lab)
    console.write(shapes.DB_PLEASE_WAIT + "\n" + shapes.DB_STARTED[kind] + "\n")


# Called as a transition starts: calls.py drops the legs of a Call Bridge that the transition restarts.
TRANSITION_HOOKS: list[Any] = []

SUBCOMMANDS = {
    "status": _status,
    "certs": _certs,
    "localnode": _localnode,
    "remove": _transition_command("remove"),
    "initialize": _transition_command("initialize"),
    "join": _transition_command("join"),
    "connect": _transition_command("connect"),
}


@core.verb("database")
def database(node: core.Node, args: list[str], console: core.Console) -> None:
    if len(args) < 2 or args[0] != "cluster" or args[1] not in SUBCOMMANDS:
        raise core.CommandError(shapes.DB_USAGE)
    settle(node.lab)
    SUBCOMMANDS[args[1]](node, args[2:], console)


# ------------------------------------------------------------------------------------------------------------
# Seeding a new lab
# ------------------------------------------------------------------------------------------------------------
def seed(lab: core.Lab, spec: dict[str, Any]) -> None:
    """A built-in-CA style PKI shared by every node, and a formed cluster when asked.

    The PKI is what docs/dev/mmp_reference.md#built-in-ca leaves behind.
    """
    nodes = list(lab.nodes.values())
    if not nodes:
        return
    cluster = spec.get("cluster") or {}
    primary = lab.nodes.get(str(cluster.get("primary") or "")) or nodes[0]
    days = float(cluster.get("cert_days", 10))
    now = lab.now()
    expiry = now + dt.timedelta(days=days)
    issued = min(now - dt.timedelta(minutes=5), expiry - dt.timedelta(days=365))
    ca_days = (issued + dt.timedelta(days=3650) - now).total_seconds() / 86400
    ca_key, ca_cert = x509.make_ca(str(spec.get("domain", "lab.cms.example")), now, days=ca_days, not_before=issued)
    db_fqdns = [primary.fqdn] + [n.fqdn for n in nodes if n.holds_database and n is not primary]
    server_key, client_key = x509.new_key(), x509.new_key()
    server_cert = x509.sign(
        x509.build_name({"CN": primary.fqdn}),
        server_key.public_key(),
        ca_cert,
        ca_key,
        now,
        days=days,
        san=x509.san_entries(db_fqdns),
        not_before=issued,
    )
    client_cert = x509.sign(
        x509.build_name({"CN": CLIENT_CN_WORD}),
        client_key.public_key(),
        ca_cert,
        ca_key,
        now,
        days=days,
        not_before=issued,
    )
    contents = {
        "server_key": x509.key_pem(server_key),
        "server_cert": x509.cert_pem(server_cert),
        "client_key": x509.key_pem(client_key),
        "client_cert": x509.cert_pem(client_cert),
        "ca_cert": x509.cert_pem(ca_cert),
    }
    # TN 210530: the same client/server certificates may be copied to every node.
    for node in nodes:
        for key, data in contents.items():
            node.write_file(SEED_FILES[key], data)
    primary.write_file(SEED_CA_KEY, x509.key_pem(ca_key))

    formed = bool(cluster.get("formed", True))
    configured = formed or bool(cluster.get("configured", False))
    cluster_id = uuid.uuid4().hex
    for node in nodes:
        cfg = default_config()
        is_db = node.holds_database or node is primary
        if configured:
            cfg["interface"] = "a"
            keys = DB_CERT_KEYS if is_db else CLIENT_CERT_KEYS
            cfg["certs"] = {k: SEED_FILES[k] for k in keys}
        if formed:
            cfg["cluster_id"] = cluster_id
            cfg["primary"] = primary.name
            if node is primary:
                cfg["role"] = "primary"
                command = "database cluster initialize"
            elif is_db:
                cfg["role"] = "replica"
                command = f"database cluster join {primary.address}"
            else:
                cfg["role"] = "client"
                command = f"database cluster connect {primary.address}"
            cfg["last_command"] = {"command": command, "result": "Success"}
        node.state[KEY] = cfg


core.SEED_HOOKS.append(seed)
