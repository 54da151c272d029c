"""Command line of the simulator (an interface the docs, tests, demo and benchmarks rely on).

python -m tests.cmssim up     --lab-dir DIR [--nodes N] [--cms-version 3|2] [--lab-file FILE]
python -m tests.cmssim down   --lab-dir DIR
python -m tests.cmssim status --lab-dir DIR [--json]
python -m tests.cmssim ctl    --lab-dir DIR [--clock-offset-days D] [--timing KEY=SECONDS]...
                              [--fault NODE:KEY=VALUE]... [--clear-faults [NODE]] [--down NODE] [--up NODE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from . import core, daemon, pki, services

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0
SEED_CA_ROOT = f"{pki.SEED_CA_DIR}/root.crt"  # the root the seeded service certificates chain to


class CliError(Exception):
    pass


# ------------------------------------------------------------------------------------------------------------
# Creating a lab directory
# ------------------------------------------------------------------------------------------------------------
def _write_ed25519(path: Path, comment: str) -> str:
    """Write a new OpenSSH ed25519 private key at ``path`` (0600); return the public key line."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    core.atomic_write(path, pem, mode=0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{pub} {comment}"


def load_lab_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read lab file {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CliError(f"lab file {path} must hold a mapping (see tests/cmssim/README.md)")
    return data


def create(lab_dir: Path, raw: dict[str, Any], nodes: int | None, cms_version: str | None) -> core.Lab:
    spec = core.normalize_spec(raw, nodes=nodes, cms_version=cms_version)
    names = [n["name"] for n in spec["nodes"]]
    if len(set(names)) != len(names):
        raise CliError(f"node names must be unique: {names}")
    lab_dir.mkdir(parents=True, exist_ok=True)
    lab = core.create_lab(lab_dir, spec)
    password = spec["password"] or secrets.token_urlsafe(12)
    api = {"api_user": str(raw.get("api_user", API_USER)), "api_password": raw.get("api_password") or _api_password()}
    core.atomic_write(lab.dir / "secrets.json", json.dumps({"password": password, **api}).encode(), mode=0o600)
    client_pub = _write_ed25519(lab.dir / "id_ed25519", f"{spec['username']}@cmssim")
    core.atomic_write(lab.dir / "id_ed25519.pub", (client_pub + "\n").encode())
    core.atomic_write(lab.dir / "authorized_keys", (client_pub + "\n").encode())
    taken = {p for node in lab.nodes.values() for p in services.tls_ports(node).values()}
    fresh = iter(core.allocate_ports(len(lab.nodes), taken))
    lab.config["ssh_ports"] = {}
    for name, node in lab.nodes.items():
        _write_ed25519(node.dir / "ssh_host_ed25519_key", f"root@{name}")
        lab.config["ssh_ports"][name] = int(spec_node_port(spec, name) or next(fresh))
    lab.config["clusters"] = cluster_groups(raw.get("clusters"), names)
    lab.save_config()
    return lab


_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def cluster_groups(given: Any, names: list[str]) -> list[dict[str, Any]]:
    """The lab file's ``clusters``: the CMS clusters the inventory groups the nodes into (none by default).

    A number N: N clusters interleaved as the benchmark's fleet is, cluster k holding nodes k, k+N, k+2N... (so that
    a serial batch of N consecutive hosts takes one node of each).  A list: ``{name, nodes}`` per cluster.
    """
    if given is None or given == 0:
        return []
    if isinstance(given, int) and not isinstance(given, bool):
        if not 0 < given <= len(names):
            raise CliError(f"clusters must be between 1 and the number of nodes ({len(names)}), not {given}")
        return [{"name": f"cluster{k + 1}", "nodes": names[k::given]} for k in range(given)]
    if not isinstance(given, list):
        raise CliError("clusters must be a number or a list of {name, nodes} (see tests/cmssim/README.md)")
    clusters, seen = [], set()
    for entry in given:
        name, members = (entry.get("name"), entry.get("nodes")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str) or not _GROUP_NAME.fullmatch(name) or not isinstance(members, list):
            raise CliError(f"each cluster needs a name (letters, digits, _) and a list of nodes, not {entry!r}")
        for member in members:
            if member not in names or member in seen:
                raise CliError(f"cluster {name}: {member!r} is not a node of the lab or is in two clusters")
            seen.add(member)
        clusters.append({"name": name, "nodes": list(members)})
    return clusters


API_USER = "apiadmin"  # the REST API user, an account apart from the MMP admin (docs/dev/mmp_reference.md#rest-api)


def _api_password() -> str:
    return secrets.token_urlsafe(12)


def ensure_api_secrets(lab_dir: Path) -> None:
    """A lab created before the simulator served the REST API gets its API user on the next ``up``."""
    path = lab_dir / "secrets.json"
    data = json.loads(path.read_text())
    if data.get("api_user") and data.get("api_password"):
        return
    data.setdefault("api_user", API_USER)
    data["api_password"] = data.get("api_password") or _api_password()
    core.atomic_write(path, json.dumps(data).encode(), mode=0o600)


def spec_node_port(spec: dict[str, Any], name: str) -> int | None:
    for n in spec["nodes"]:
        if n["name"] == name:
            return n.get("ssh_port")
    return None


def host_public_key(node: core.Node) -> str:
    key = serialization.load_ssh_private_key((node.dir / "ssh_host_ed25519_key").read_bytes(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def write_access_files(lab: core.Lab) -> None:
    """``known_hosts`` (OpenSSH format) and ``inventory.yml`` (Ansible) for the lab's current ports."""
    ports = lab.config["ssh_ports"]
    lines = [f"[127.0.0.1]:{ports[name]} {host_public_key(node)}" for name, node in lab.nodes.items()]
    core.atomic_write(lab.dir / "known_hosts", ("\n".join(lines) + "\n").encode())
    secret = json.loads((lab.dir / "secrets.json").read_text())
    password = secret["password"]
    hosts: dict[str, Any] = {}
    for name, node in lab.nodes.items():
        hosts[name] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": int(ports[name]),
            "ansible_user": lab.config.get("username", "admin"),
            "ansible_password": password,
            "ansible_ssh_private_key_file": str(lab.dir / "id_ed25519"),
            "cms_version": node.version,
            "cms_fqdn": node.fqdn,
            "cms_address": node.address,
            "cms_database": node.holds_database,
            "cms_tls_ports": _tls_ports(node),
        }
        webadmin_port = _tls_ports(node).get("webadmin")
        if webadmin_port:
            # The REST API is served by Web Admin: reach it on the loopback port, verify the name in the certificate.
            hosts[name].update(cms_api_port=webadmin_port, cms_api_server_name=node.fqdn)
    inventory: dict[str, Any] = {
        "all": {
            "children": {
                "cms": {
                    "hosts": hosts,
                    "vars": {
                        "cms_known_hosts": str(lab.dir / "known_hosts"),
                        "cms_domain": lab.config["domain"],
                        "cms_api_user": secret.get("api_user"),
                        "cms_api_password": secret.get("api_password"),
                        "cms_api_ca_file": str(lab.dir / SEED_CA_ROOT),
                    },
                }
            }
        }
    }
    if lab.config.get("clusters"):
        inventory["all"]["children"]["cms"]["children"] = _cluster_children(lab.config["clusters"], ports)
    header = "# Written by `python -m tests.cmssim up`; the simulated CMS lab in this directory.\n"
    core.atomic_write(
        lab.dir / "inventory.yml", (header + yaml.safe_dump(inventory, sort_keys=False)).encode(), mode=0o600
    )


def _cluster_children(clusters: list[dict[str, Any]], ports: dict[str, Any]) -> dict[str, Any]:
    """One group per cluster, with what survives AWX job slicing (group variables): the cluster's name and the
    address of its lock node, the cluster's first node (docs/awx.md#sliced-job-template-large-fleets)."""
    return {
        cluster["name"]: {
            "hosts": dict.fromkeys(cluster["nodes"]),
            "vars": {
                "cms_cluster": cluster["name"],
                "cms_cluster_lock_host": "127.0.0.1",
                "cms_cluster_lock_port": int(ports[cluster["nodes"][0]]),
            },
        }
        for cluster in clusters
        if cluster["nodes"]
    }


def _tls_ports(node: core.Node) -> dict[str, int]:
    return dict(services.tls_ports(node))


# ------------------------------------------------------------------------------------------------------------
# Talking to the running simulator
# ------------------------------------------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by a PID 1 that never reaps) counts as gone."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def run_info(lab_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((lab_dir / daemon.RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    try:
        return info if pid_alive(int(info["pid"])) else None
    except (ValueError, KeyError):
        return None


def control(lab_dir: Path, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    info = run_info(lab_dir)
    if info is None:
        raise CliError(
            f"no simulator is running for {lab_dir} (start it with `python -m tests.cmssim up --lab-dir {lab_dir}`)"
        )
    with socket.create_connection(("127.0.0.1", int(info["control_port"])), timeout=timeout) as sock:
        fh = sock.makefile("rwb")
        fh.write(json.dumps({**request, "token": info["token"]}).encode() + b"\n")
        fh.flush()
        reply = json.loads(fh.readline() or b"{}")
    if not reply.get("ok"):
        raise CliError(f"simulator refused the request: {reply.get('error')}")
    return reply


# ------------------------------------------------------------------------------------------------------------
# Sub-commands
# ------------------------------------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    lab_dir = Path(args.lab_dir).resolve()
    if (lab_dir / "lab.json").exists():
        if args.nodes is not None or args.cms_version is not None or args.lab_file:
            print(
                f"lab {lab_dir} exists: resuming its saved state (--nodes/--cms-version/--lab-file ignored)",
                file=sys.stderr,
            )
        lab = core.Lab(lab_dir)
        core.load_verbs()
        lab.load()
        ensure_api_secrets(lab_dir)
    else:
        raw = load_lab_file(args.lab_file)
        lab = create(lab_dir, raw, args.nodes, args.cms_version)
        print(f"created lab {lab_dir} with {len(lab.nodes)} nodes")
    if run_info(lab_dir) is None:
        log_path = lab_dir / "simulator.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.cmssim", "_serve", "--lab-dir", str(lab_dir)],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        _wait_ready(lab, proc, log_path)
    lab.load()  # the simulator may have moved a port that another process took while the lab was down
    write_access_files(lab)
    _print_status(control(lab_dir, {"op": "status"})["status"])
    print(f"inventory: {lab_dir / 'inventory.yml'}")
    return 0


def _wait_ready(lab: core.Lab, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    """The simulator writes its run file only once every node that is not down listens on its SSH port."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise CliError(f"the simulator exited with status {proc.returncode}; log {log_path}:\n{tail}")
        if run_info(lab.dir) is not None:
            return
        time.sleep(0.05)
    raise CliError(f"the simulator did not come up within {READY_TIMEOUT:.0f}s; see {log_path}")


def cmd_down(args: argparse.Namespace) -> int:
    lab_dir = Path(args.lab_dir).resolve()
    info = run_info(lab_dir)
    if info is None:
        print(f"lab {lab_dir}: not running")
        return 0
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    print(f"lab {lab_dir}: stopped (state kept)")
    return 0


def offline_status(lab_dir: Path) -> dict[str, Any]:
    lab = core.Lab(lab_dir)
    lab.load()
    nodes = {
        name: {
            "name": name,
            "version": node.version,
            "hostname": node.hostname,
            "fqdn": node.fqdn,
            "address": node.address,
            "database": node.holds_database,
            "ssh_port": int(lab.config["ssh_ports"][name]),
            "up": False,
            "services": {},
        }
        for name, node in lab.nodes.items()
    }
    return {
        "lab_dir": str(lab.dir),
        "running": False,
        "clock_offset_days": lab.config.get("clock_offset_days", 0),
        "nodes": nodes,
    }


def cmd_status(args: argparse.Namespace) -> int:
    lab_dir = Path(args.lab_dir).resolve()
    if not (lab_dir / "lab.json").exists():
        raise CliError(f"no lab in {lab_dir} (create one with `python -m tests.cmssim up --lab-dir {lab_dir}`)")
    status = control(lab_dir, {"op": "status"})["status"] if run_info(lab_dir) else offline_status(lab_dir)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        _print_status(status)
    return 0


def _print_status(status: dict[str, Any]) -> None:
    state = f"running (pid {status['pid']})" if status["running"] else "stopped"
    print(f"lab {status['lab_dir']}: {state}, clock offset {status['clock_offset_days']:g} days")
    for node in status["nodes"].values():
        services = ", ".join(f"{svc}:{info['tls_port']}" for svc, info in sorted(node["services"].items())) or "-"
        print(
            f"  {node['name']:<8} CMS {node['version']:<5} ssh 127.0.0.1:{node['ssh_port']:<6} "
            f"{'up' if node['up'] else 'down':<5} {'database' if node['database'] else 'connect-only':<13} tls {services}"
        )


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_ctl(args: argparse.Namespace) -> int:
    lab_dir = Path(args.lab_dir).resolve()
    request: dict[str, Any] = {"op": "set"}
    if args.clock_offset_days is not None:
        request["clock_offset_days"] = args.clock_offset_days
    timings: dict[str, float] = {}
    for item in args.timing or []:
        key, _, value = item.partition("=")
        if key not in core.shapes.DEFAULT_TIMINGS or not value:
            raise CliError(
                f"--timing {item!r}: expected KEY=SECONDS with KEY one of {sorted(core.shapes.DEFAULT_TIMINGS)}"
            )
        timings[key] = float(value)
    if timings:
        request["timings"] = timings
    faults: dict[str, dict[str, Any]] = {}
    for item in args.fault or []:
        node, _, rest = item.partition(":")
        key, _, value = rest.partition("=")
        if not node or not key:
            raise CliError(
                f"--fault {item!r}: expected NODE:KEY=VALUE, e.g. cms2:drop_after_command='webadmin disable'"
            )
        faults.setdefault(node, {})[key] = _parse_value(value) if value else True
    for node in args.down or []:
        faults.setdefault(node, {})["down"] = True
    for node in args.up or []:
        faults.setdefault(node, {})["down"] = False
    if faults:
        request["faults"] = faults
    if args.clear_faults is not None:
        request["clear_faults"] = args.clear_faults or True
    alarms: dict[str, list[str]] = {}
    for item in args.alarm or []:
        node, _, kind = item.partition(":")
        if not node or not kind:
            raise CliError(f"--alarm {item!r}: expected NODE:TYPE, e.g. cms2:callBridgeNotConfigured")
        alarms.setdefault(node, []).append(kind)
    if alarms:
        request["alarms"] = alarms
    if args.clear_alarms is not None:
        request["clear_alarms"] = args.clear_alarms or True
    reply = control(lab_dir, request)
    _print_status(reply["status"])
    return 0


def cmd_calls(args: argparse.Namespace) -> int:
    lab_dir = Path(args.lab_dir).resolve()
    if args.legs < 0:
        raise CliError("--legs must be 0 or more (0 ends every call leg and call of the node)")
    if args.duration is not None and args.duration <= 0:
        raise CliError("--duration must be more than 0 seconds (leave it out for legs that stay until --legs 0)")
    request: dict[str, Any] = {"op": "calls", "node": args.node, "legs": args.legs, "idle_call": args.idle_call}
    if args.duration is not None:
        request["duration"] = args.duration
    reply = control(lab_dir, request)
    print(f"{reply['node']}: {reply['legs']} active call legs in {reply['calls']} calls")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.cmssim", description="Cisco Meeting Server MMP lab simulator"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create (or resume) a lab and start it in the background")
    up.add_argument("--lab-dir", required=True)
    up.add_argument("--nodes", type=int, help="number of nodes cms1..cmsN for a new lab (default 3)")
    up.add_argument(
        "--cms-version", choices=["3", "2"], help="CMS major version of every node of a new lab (default 3)"
    )
    up.add_argument("--lab-file", help="YAML lab description (see tests/cmssim/README.md)")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop the lab's simulator (its state stays in the lab directory)")
    down.add_argument("--lab-dir", required=True)
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="print each node's state")
    status.add_argument("--lab-dir", required=True)
    status.add_argument("--json", action="store_true", help="machine-readable: SSH port and TLS ports per node")
    status.set_defaults(func=cmd_status)
    ctl = sub.add_parser("ctl", help="change a running lab: clock, timings, faults")
    ctl.add_argument("--lab-dir", required=True)
    ctl.add_argument("--clock-offset-days", type=float)
    ctl.add_argument("--timing", action="append", metavar="KEY=SECONDS")
    ctl.add_argument("--fault", action="append", metavar="NODE:KEY=VALUE")
    ctl.add_argument("--clear-faults", nargs="?", const="", metavar="NODE")
    ctl.add_argument("--down", action="append", metavar="NODE", help="take a node down (SSH and TLS refuse)")
    ctl.add_argument("--up", action="append", metavar="NODE", help="bring a node back")
    ctl.add_argument("--alarm", action="append", metavar="NODE:TYPE", help="raise an alarm the REST API reports")
    ctl.add_argument("--clear-alarms", nargs="?", const="", metavar="NODE")
    ctl.set_defaults(func=cmd_ctl)
    calls_p = sub.add_parser("calls", help="start or end simulated call legs on a node")
    calls_p.add_argument("--lab-dir", required=True)
    calls_p.add_argument("--node", required=True)
    calls_p.add_argument("--legs", type=int, required=True, help="start N legs in one call; 0 ends every leg")
    calls_p.add_argument("--duration", type=float, help="seconds until the new legs end (default: until --legs 0)")
    calls_p.add_argument("--idle-call", action="store_true", help="also add a call with no legs")
    calls_p.set_defaults(func=cmd_calls)
    serve = sub.add_parser("_serve", help=argparse.SUPPRESS)
    serve.add_argument("--lab-dir", required=True)
    serve.set_defaults(func=lambda a: daemon.serve(Path(a.lab_dir).resolve()))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
