"""The simulator process: one background process serves every node of a lab.

``serve(lab_dir)`` loads the lab, runs the start hooks (TLS listeners, cluster timers), starts one SSH server per
node and a small control server (JSON lines on a loopback TCP port, guarded by a token kept in the lab directory),
then waits for SIGTERM.  The control server is how ``ctl`` and ``status`` change or read the running lab.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import paramiko

from . import calls, core, services
from .server import NodeServer

log = logging.getLogger("cmssim")

RUN_FILE = "run.json"  # pid, control port and token of the running simulator


def load_authorized_keys(lab: core.Lab) -> list[paramiko.PKey]:
    keys: list[paramiko.PKey] = []
    path = lab.dir / "authorized_keys"
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            keys.append(paramiko.PKey.from_type_string(parts[0], __import__("base64").b64decode(parts[1])))
    return keys


class Simulator:
    def __init__(self, lab_dir: Path) -> None:
        core.load_verbs()
        self.lab = core.Lab(lab_dir)
        self.lab.load()
        self.lab.take_down = lambda name: self.apply({"faults": {name: {"down": True}}})
        self.secrets = json.loads((self.lab.dir / "secrets.json").read_text())
        self.servers: dict[str, NodeServer] = {}
        self.stop_event = threading.Event()
        self.control_sock: socket.socket | None = None
        self.token = secrets.token_hex(16)

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        for hook in core.START_HOOKS:
            hook(self.lab)
        authorized = load_authorized_keys(self.lab)
        creds = {"username": self.lab.config.get("username", "admin"), "password": self.secrets["password"]}
        for name, node in self.lab.nodes.items():
            port = int(self.lab.config["ssh_ports"][name])
            server = NodeServer(self.lab, node, port, creds, authorized)
            self.servers[name] = server
            if not node.is_down():
                server.listen()
            node.event("node_started", ssh_port=port, down=node.is_down())
        self._start_control()

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        for hook in core.STOP_HOOKS:
            try:
                hook(self.lab)
            except Exception:
                log.exception("stop hook failed")
        for node in self.lab.nodes.values():
            node.save()
            node.event("node_stopped")
        if self.control_sock is not None:
            self.control_sock.close()
        self.lab.save_config()

    # ---- control server ----------------------------------------------------------------------------------
    def _start_control(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        self.control_sock = sock
        run = {"pid": os.getpid(), "control_port": sock.getsockname()[1], "token": self.token}
        core.atomic_write(self.lab.dir / RUN_FILE, json.dumps(run).encode(), mode=0o600)
        threading.Thread(target=self._control_loop, args=(sock,), daemon=True, name="control").start()

    def _control_loop(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._control_conn, args=(conn,), daemon=True).start()

    def _control_conn(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as fh:
            try:
                request = json.loads(fh.readline() or b"{}")
                if not secrets.compare_digest(str(request.get("token", "")), self.token):
                    reply: dict[str, Any] = {"ok": False, "error": "bad token"}
                else:
                    reply = {"ok": True, **self.handle(request)}
            except Exception as exc:
                log.exception("control request failed")
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            fh.write(json.dumps(reply).encode() + b"\n")
            fh.flush()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            return {"status": self.status()}
        if op == "set":
            self.apply(request)
            return {"status": self.status()}
        if op == "calls":
            return calls.control(self.lab, request)
        if op == "stop":
            self.stop_event.set()
            return {}
        raise ValueError(f"unknown op {op!r}")

    def apply(self, request: dict[str, Any]) -> None:
        lab = self.lab
        with lab.lock:
            if request.get("clock_offset_days") is not None:
                lab.config["clock_offset_days"] = float(request["clock_offset_days"])
            if request.get("timings"):
                lab.config.setdefault("timings", {}).update({k: float(v) for k, v in request["timings"].items()})
            faults = lab.config.setdefault("faults", {})
            clear = request.get("clear_faults")
            if clear is True:
                faults.clear()
            elif clear:
                for name in [clear] if isinstance(clear, str) else clear:
                    faults.pop(name, None)
            for name, node_faults in (request.get("faults") or {}).items():
                if name not in lab.nodes:
                    raise ValueError(f"no node {name!r} in this lab")
                faults.setdefault(name, {}).update(node_faults)
            if request.get("alarms") or request.get("clear_alarms"):
                calls.set_alarms(lab, request.get("alarms") or {}, request.get("clear_alarms"))
            lab.save_config()
        # A node that is down refuses TCP connections (its port is closed), drops what it had and stops serving TLS.
        for name, server in self.servers.items():
            node = lab.nodes[name]
            changed = False
            if node.is_down() and server.sock is not None:
                server.close_listener()
                server.drop_all()
                node.event("node_down")
                calls.drop(node, "node down")
                changed = True
            elif not node.is_down() and server.sock is None:
                server.listen()
                node.event("node_up")
                changed = True
            if changed:
                services.refresh_listeners(node)

    def status(self) -> dict[str, Any]:
        nodes = {}
        for name, node in self.lab.nodes.items():
            endpoints = services.tls_endpoints(node)
            nodes[name] = {
                "name": name,
                "version": node.version,
                "hostname": node.hostname,
                "fqdn": node.fqdn,
                "address": node.address,
                "database": node.holds_database,
                "ssh_port": int(self.lab.config["ssh_ports"][name]),
                "up": not node.is_down(),
                "services": {svc: {"tls_port": port} for svc, port in endpoints.items()},
            }
        return {
            "lab_dir": str(self.lab.dir),
            "running": True,
            "pid": os.getpid(),
            "clock_offset_days": self.lab.config.get("clock_offset_days", 0),
            "nodes": nodes,
        }


def serve(lab_dir: Path) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # paramiko logs a traceback for every client that goes away mid-handshake; the event log records those.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    sim = Simulator(lab_dir)
    signal.signal(signal.SIGTERM, lambda *_: sim.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: sim.stop_event.set())
    sim.start()
    log.info("lab %s serving %d nodes", sim.lab.dir, len(sim.lab.nodes))
    try:
        while not sim.stop_event.wait(0.1):
            pass
    finally:
        sim.stop()
        with contextlib.suppress(FileNotFoundError):
            (sim.lab.dir / RUN_FILE).unlink()
        log.info("lab %s stopped", sim.lab.dir)
    return 0
