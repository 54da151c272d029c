"""Core of the CMS MMP simulator: the lab, its nodes, the verb registry and command dispatch.

Everything a verb module needs is here:

* ``Node``: one simulated CMS node (name, version, flat file store, persistent ``state`` dict, event log).
* ``Lab``: every node of one lab, the lab clock (real time plus a configurable offset), latencies and faults.
* ``verb(name)``: registers the handler of an MMP top-level word (``pki``, ``webadmin``, ``database`` ...).
* ``Console``: what a handler talks to: ``write()`` output, ``read_answer()`` for ``(Y/n)`` prompts.
* ``CommandError``: raise it with the node's exact text; the dispatcher prints it and the prompt returns.

Verb modules (``pki``, ``services``, ``dbcluster``, ``backup``) register themselves on import; ``load_verbs()``
imports them all.  Each owns one key of ``Node.state`` and may register seed/start/stop hooks.

The transport (``server.py``) never interprets commands: it reads a line, calls ``Lab.execute()``, and honours
``DropConnection`` by closing the SSH connection.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from . import shapes

UTC = dt.UTC

# Verb modules, imported by load_verbs(); each registers its verbs and hooks.
VERB_MODULES = ("pki", "services", "trust", "dbcluster", "backup", "calls", "api")


class Console(Protocol):
    """The terminal a command runs in (an interactive shell or an exec channel)."""

    interactive: bool

    def write(self, text: str) -> None:
        """Write output; use ``\\n`` line ends, the transport converts them for a PTY."""

    def read_answer(self, timeout: float | None = None) -> str | None:
        """Wait for the user to type one line (a ``(Y/n)`` answer). ``None`` on EOF or timeout."""


class CommandError(Exception):
    """A command failed; ``str(exc)`` is printed verbatim (it should end without a newline)."""


class DropConnection(Exception):
    """Raised (by fault injection or ``backup rollback``) to close the SSH connection at once."""


Handler = Callable[["Node", list[str], Console], None]
VERBS: dict[str, Handler] = {}
# Hooks: seed(lab, spec) when a new lab is created; start(lab) when the simulator process starts or resumes;
# stop(lab) when it stops.  Verb modules append to these lists.
SEED_HOOKS: list[Callable[[Lab, dict[str, Any]], None]] = []
START_HOOKS: list[Callable[[Lab], None]] = []
STOP_HOOKS: list[Callable[[Lab], None]] = []


def verb(name: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        VERBS[name] = func
        return func

    return register


def _module_rank(hook: Callable[..., Any]) -> int:
    name = hook.__module__.rsplit(".", 1)[-1]
    return VERB_MODULES.index(name) if name in VERB_MODULES else len(VERB_MODULES)


def load_verbs() -> None:
    for mod in VERB_MODULES:
        importlib.import_module(f"{__package__}.{mod}")


PORT_FLOOR = 20000  # listener ports start here: below the ephemeral range, above common services


def _port_pool() -> range | None:
    """Loopback ports for the simulator's SSH and TLS listeners, outside the kernel's ephemeral range.

    Every client socket's source port comes from the ephemeral range; a listener port taken from it could be held
    by a client (or handed to another lab) between allocation and bind, or while a lab is down.  Below (or above)
    that range neither can happen.
    """
    try:
        low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low - PORT_FLOOR >= 4096:
        return range(PORT_FLOOR, low)
    if 65535 - high >= 4096:
        return range(high + 1, 65536)
    return None


def allocate_ports(count: int, exclude: set[int]) -> list[int]:
    """Distinct free loopback ports, each held open until all are chosen so that none repeats."""
    socks: list[socket.socket] = []
    pool = _port_pool()
    try:
        tries = 0
        while len(socks) < count:
            tries += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            port = random.choice(pool) if pool is not None and tries < count * 20 else 0
            if port in exclude:
                s.close()
                continue
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Node:
    """One CMS node. Its files live in ``<lab>/nodes/<name>/files`` (the SFTP root), its state in
    ``<lab>/nodes/<name>/state.json`` and its event log in ``<lab>/nodes/<name>/events.jsonl``."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.dir = lab.dir / "nodes" / name
        self.files_dir = self.dir / "files"
        self.state_path = self.dir / "state.json"
        self.events_path = self.dir / "events.jsonl"
        # One command at a time per node mutates state; cross-node work (the DB cluster) takes lab.lock.
        self.lock = threading.RLock()
        self._event_lock = threading.Lock()
        self.state: dict[str, Any] = {}

    # ---- identity --------------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        """Full version string, e.g. ``3.8`` or ``2.9``."""
        return str(self.state["version"])

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def hostname(self) -> str:
        return str(self.state["hostname"])

    @property
    def fqdn(self) -> str:
        return str(self.state["fqdn"])

    @property
    def address(self) -> str:
        """The node's interface ``a`` address, used by the database cluster (a documentation-range IP)."""
        return str(self.state["address"])

    @property
    def holds_database(self) -> bool:
        return bool(self.state.get("database", True))

    # ---- persistence -----------------------------------------------------------------------------------
    def load(self) -> None:
        self.state = json.loads(self.state_path.read_text())

    def save(self) -> None:
        with self.lock:
            atomic_write(self.state_path, json.dumps(self.state, indent=1, sort_keys=True).encode())

    # ---- flat file store (what SFTP and the MMP see) ---------------------------------------------------
    def file_path(self, name: str) -> Path:
        if not shapes.is_plain_file_name(name):
            raise CommandError(shapes.FILE_NOT_FOUND.format(name=name))
        return self.files_dir / name

    def has_file(self, name: str) -> bool:
        return shapes.is_plain_file_name(name) and (self.files_dir / name).is_file()

    def read_file(self, name: str) -> bytes:
        return self.file_path(name).read_bytes()

    def write_file(self, name: str, data: bytes) -> None:
        atomic_write(self.file_path(name), data, mode=0o600 if name.endswith(".key") else 0o644)
        self.event("file_written", file=name, size=len(data), by="mmp")

    def list_files(self) -> list[str]:
        """Files in directory order as the MMP shows them: oldest first (creation order)."""
        entries = [p for p in self.files_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
        entries.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.name for p in entries]

    # ---- event log -------------------------------------------------------------------------------------
    def event(self, name: str, /, **fields: Any) -> None:
        record = {"ts": time.time(), "node": self.name, "event": name, **fields}
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._event_lock, open(self.events_path, "a") as fh:
            fh.write(line)

    # ---- helpers for verb modules ----------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self.lab.now()

    def is_down(self) -> bool:
        return bool(self.lab.faults_for(self.name).get("down"))


class Lab:
    """Every node of one lab directory, plus lab-wide settings (clock offset, latencies, faults)."""

    def __init__(self, lab_dir: Path) -> None:
        self.dir = Path(lab_dir).resolve()
        self.lock = threading.RLock()
        self.nodes: dict[str, Node] = {}
        self.config: dict[str, Any] = {}
        self.config_path = self.dir / "lab.json"
        # Takes a node down as `ctl --down` does (its ports closed, its connections dropped): set by the daemon, which
        # owns the servers, for the ``down_after_command`` fault.
        self.take_down: Callable[[str], None] | None = None

    # ---- loading and saving ----------------------------------------------------------------------------
    def load(self) -> None:
        self.config = json.loads(self.config_path.read_text())
        self.nodes = {}
        for name in self.config["node_order"]:
            node = Node(self, name)
            node.load()
            self.nodes[name] = node

    def save_config(self) -> None:
        with self.lock:
            atomic_write(self.config_path, json.dumps(self.config, indent=1, sort_keys=True).encode())

    # ---- clock -----------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """The lab clock: real UTC time shifted by ``clock_offset_days`` (tests use it to make certs expire)."""
        offset = float(self.config.get("clock_offset_days", 0) or 0)
        return dt.datetime.now(UTC) + dt.timedelta(days=offset)

    # ---- latencies and transition times (seconds) ------------------------------------------------------
    def timing(self, key: str) -> float:
        """``command`` (every command), ``service_transition`` (enable/disable/restart), ``cluster_remove``,
        ``cluster_initialize``, ``cluster_join``, ``cluster_connect``, ``cluster_sync`` (see shapes.DEFAULT_TIMINGS)."""
        timings = self.config.get("timings", {})
        return float(timings.get(key, shapes.DEFAULT_TIMINGS[key]))

    # ---- faults ----------------------------------------------------------------------------------------
    def faults_for(self, node_name: str) -> dict[str, Any]:
        return self.config.get("faults", {}).get(node_name, {})

    # ---- lookups ---------------------------------------------------------------------------------------
    def node_by_address(self, addr: str) -> Node | None:
        """Resolve an address as the MMP would: the node's IP, FQDN or hostname."""
        for node in self.nodes.values():
            if addr in (node.address, node.fqdn, node.hostname):
                return node
        return None

    # ---- command dispatch ------------------------------------------------------------------------------
    def execute(self, node: Node, line: str, console: Console) -> None:
        """Run one MMP command line on ``node``. Raises ``DropConnection`` when a fault says so."""
        line = line.strip()
        if not line:
            return
        node.event("command", command=line, interactive=console.interactive)
        faults = self.faults_for(node.name)
        delay = self.timing("command")
        if delay:
            time.sleep(delay)
        if _fault_matches(faults.get("drop_before_command"), line):
            node.event("fault", kind="drop_before_command", command=line)
            self.consume_fault(node.name, "drop_before_command")
            raise DropConnection(line)
        result = self._dispatch(node, line, console, faults)
        node.event("command_done", command=line, result=result)
        drop_after = faults.get("drop_after_command")
        if _fault_matches(drop_after, line):
            node.event("fault", kind="drop_after_command", command=line)
            self.consume_fault(node.name, "drop_after_command")
            raise DropConnection(line)
        if _fault_matches(faults.get("down_after_command"), line):
            # A node that crashes or reboots right after the command: the connection drops and the node stays down
            # (until `ctl --up`), so a client's reconnect never beats the outage to it.
            node.event("fault", kind="down_after_command", command=line)
            self.consume_fault(node.name, "down_after_command")
            if self.take_down is not None:
                self.take_down(node.name)
            raise DropConnection(line)
        if faults.get("drop_after_commands"):
            # A countdown from when the fault was set: the Nth command from then on drops the connection.
            with self.lock:
                faults["drop_after_commands"] = int(faults["drop_after_commands"]) - 1
                remaining = faults["drop_after_commands"]
            if remaining <= 0:
                node.event("fault", kind="drop_after_commands", command=line)
                self.consume_fault(node.name, "drop_after_commands")
                raise DropConnection(line)

    def _dispatch(self, node: Node, line: str, console: Console, faults: dict[str, Any]) -> str:
        failing = faults.get("fail_command")
        if failing and _fault_matches(failing.get("match"), line):
            node.event("fault", kind="fail_command", command=line)
            console.write(str(failing.get("output", shapes.INJECTED_FAILURE)) + "\n")
            if failing.get("once", True):
                self.consume_fault(node.name, "fail_command")
            return "fault"
        try:
            argv = shapes.split_command(line)
        except ValueError:
            console.write(shapes.UNKNOWN_COMMAND.format(line=line) + "\n")
            return "unknown"
        handler = VERBS.get(argv[0])
        majors = shapes.VERB_MAJORS.get(argv[0])
        if handler is None or (majors is not None and node.major not in majors):
            console.write(shapes.UNKNOWN_COMMAND.format(line=line) + "\n")
            return "unknown"
        try:
            with node.lock:
                handler(node, argv[1:], console)
        except CommandError as exc:
            console.write(str(exc).rstrip("\n") + "\n")
            return "error"
        return "ok"

    def consume_fault(self, node_name: str, key: str) -> None:
        with self.lock:
            self.config.get("faults", {}).get(node_name, {}).pop(key, None)
            self.save_config()


def _fault_matches(pattern: Any, line: str) -> bool:
    """A fault's command pattern matches a command line when the line starts with it (words normalised)."""
    if not pattern:
        return False
    want = " ".join(str(pattern).split())
    have = " ".join(line.split())
    return have == want or have.startswith(want + " ")


# ---- creating a lab ------------------------------------------------------------------------------------
DEFAULT_SERVICES = {
    3: ["webadmin", "callbridge", "webbridge3", "turn"],
    2: ["webadmin", "callbridge", "webbridge", "xmpp", "turn"],
}
DEFAULT_VERSIONS = {"3": "3.8", "2": "2.9"}
# Only three nodes can join a database cluster (S3, docs/dev/mmp_reference.md#db-cluster-verbs); more connect.
MAX_JOINED_DATABASE_NODES = 3


def normalize_spec(
    raw: dict[str, Any] | None, nodes: int | None = None, cms_version: str | None = None
) -> dict[str, Any]:
    """Merge a lab file (``raw``) and the ``up`` flags into the full lab spec every seed hook reads.

    The lab file format is documented in ``tests/cmssim/README.md``; command-line flags win over the file.
    """
    raw = dict(raw or {})
    version_default = DEFAULT_VERSIONS.get(str(cms_version or raw.get("cms_version", "3")), str(cms_version or "3.8"))
    node_specs = raw.get("nodes")
    if nodes is not None or not isinstance(node_specs, list):
        count = int(nodes if nodes is not None else (node_specs if isinstance(node_specs, int) else 3))
        node_specs = [{"name": f"cms{i}"} for i in range(1, count + 1)]
    domain = str(raw.get("domain", "lab.cms.example"))
    spec_nodes: list[dict[str, Any]] = []
    for i, given in enumerate(node_specs):
        n = dict(given)
        n.setdefault("name", f"cms{i + 1}")
        n["version"] = str(n.get("version", version_default))
        if n["version"] in DEFAULT_VERSIONS:
            n["version"] = DEFAULT_VERSIONS[n["version"]]
        major = int(n["version"].split(".")[0])
        n.setdefault("hostname", n["name"])
        n.setdefault("fqdn", f"{n['name']}.{domain}")
        # Documentation-range (RFC 5737) addresses: shown by the DB cluster, never contacted.
        n.setdefault("address", f"192.0.2.{11 + i}")
        n.setdefault("database", i < MAX_JOINED_DATABASE_NODES)
        n.setdefault("services", list(DEFAULT_SERVICES[major]))
        n.setdefault("service_cert_days", raw.get("service_cert_days", 20))
        spec_nodes.append(n)
    cluster = dict(raw.get("cluster") or {})
    cluster.setdefault("formed", True)
    cluster.setdefault("primary", spec_nodes[0]["name"] if spec_nodes else None)
    cluster.setdefault("cert_days", 10)
    return {
        "domain": domain,
        "clock_offset_days": float(raw.get("clock_offset_days", 0)),
        "timings": {**shapes.DEFAULT_TIMINGS, **(raw.get("timings") or {})},
        "username": str(raw.get("username", "admin")),
        "password": raw.get("password"),
        "nodes": spec_nodes,
        "cluster": cluster,
        "faults": dict(raw.get("faults") or {}),
        "seed": dict(raw.get("seed") or {}),
        "callbridge_cluster": bool(raw.get("callbridge_cluster", False)),
    }


def create_lab(lab_dir: Path, spec: dict[str, Any]) -> Lab:
    """Lay out a new lab directory from a normalized spec and run every seed hook. No network is opened."""
    load_verbs()
    lab = Lab(lab_dir)
    (lab.dir / "nodes").mkdir(parents=True, exist_ok=True)
    lab.config = {
        "domain": spec["domain"],
        "clock_offset_days": spec["clock_offset_days"],
        "timings": spec["timings"],
        "username": spec["username"],
        "node_order": [n["name"] for n in spec["nodes"]],
        "faults": spec["faults"],
    }
    for n in spec["nodes"]:
        node = Node(lab, n["name"])
        node.files_dir.mkdir(parents=True, exist_ok=True)
        node.state = {
            "name": n["name"],
            "version": n["version"],
            "hostname": n["hostname"],
            "fqdn": n["fqdn"],
            "address": n["address"],
            "database": bool(n["database"]),
        }
        lab.nodes[n["name"]] = node
    # In the order of VERB_MODULES, whatever order the modules were imported in: the files each seeds are listed by
    # `pki list` oldest first, so the order of seeding is what a test of that list sees.
    for hook in sorted(SEED_HOOKS, key=_module_rank):
        hook(lab, spec)
    for node in lab.nodes.values():
        node.save()
    lab.save_config()
    return lab


class BufferConsole:
    """A console that collects output and answers prompts from a list: for in-process tests and for verbs
    that run other verbs internally."""

    interactive = True

    def __init__(self, answers: list[str] | tuple[str, ...] = ()) -> None:
        self.chunks: list[str] = []
        self.answers = list(answers)

    def write(self, text: str) -> None:
        self.chunks.append(text)

    def read_answer(self, timeout: float | None = None) -> str | None:
        return self.answers.pop(0) if self.answers else None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


_T = TypeVar("_T")


class LabRuntimes(Generic[_T]):
    """What a verb module keeps per running lab beyond its saved state (timers, unsaved nodes), made on first use.

    Keyed weakly by the lab, so a stopped lab's runtime goes with it; ``factory(lab)`` builds one.
    """

    def __init__(self, factory: Callable[[Lab], _T]) -> None:
        self._factory = factory
        self._runtimes: weakref.WeakKeyDictionary[Lab, _T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, lab: Lab) -> _T:
        with self._lock:
            runtime = self._runtimes.get(lab)
            if runtime is None:
                runtime = self._runtimes[lab] = self._factory(lab)
            return runtime
