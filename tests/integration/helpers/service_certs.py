"""The service side of the integration tests: a CA on the controller, what a node serves and runs, its event log
read back (commands, service outages), and the plays the cms_service_certs tests run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509 as cx509

from tests.cmssim import tls, x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import Run

UTC = dt.UTC
LIFECYCLE_WORDS = ("disable", "enable", "restart", "certs", "trust")
DOWN, UP = ("disabled", "restarting", "failed"), ("enabled", "running")


# ---- certificate material made on the "controller" --------------------------------------------------------------
@dataclass
class Leaf:
    key: Path
    cert: Path
    fingerprint: str


class TestCA:
    """A two-tier CA on the controller side (the enterprise CA of the tests), writing PEM files under ``directory``."""

    __test__ = False  # not a test class

    def __init__(self, directory: Path, name: str = "Test") -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(UTC)
        self.root_key, self.root = x509.make_ca(f"{name} Root CA", now)
        self.issuing_key = x509.new_key()
        self.issuing = x509.sign(
            x509.build_name({"CN": f"{name} Issuing CA"}),
            self.issuing_key.public_key(),
            self.root,
            self.root_key,
            now,
            1000,
            is_ca=True,
        )
        self.bundle = self.write(
            f"ca-bundle-{name.lower()}.cer", x509.cert_pem(self.issuing) + x509.cert_pem(self.root)
        )

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path

    def leaf(
        self,
        stem: str,
        names: list[str],
        days: float = 365,
        now: dt.datetime | None = None,
        not_before: dt.datetime | None = None,
        key: Any = None,
    ) -> Leaf:
        key = key or x509.new_key()
        cert = x509.sign(
            x509.build_name({"CN": names[0]}),
            key.public_key(),
            self.issuing,
            self.issuing_key,
            now or dt.datetime.now(UTC),
            days,
            x509.san_entries(names),
            not_before,
        )
        return Leaf(
            self.write(stem + ".key", x509.key_pem(key)),
            self.write(stem + ".cer", x509.cert_pem(cert)),
            x509.fingerprint(cert),
        )


# ---- reading the node ----------------------------------------------------------------------------------------------
def fqdn(node: str) -> str:
    return f"{node}.lab.cms.example"


def seeded_names(node: str) -> list[str]:
    """The SAN of the certificates the lab seeds on ``node``: a new certificate keeps them all, or it is refused."""
    return [fqdn(node), "join.lab.cms.example", node]


def port(lab: SimLab, node: str, endpoint: str) -> int:
    return int(lab.hosts[node]["cms_tls_ports"][endpoint])


def served(lab: SimLab, node: str, endpoint: str) -> str:
    return x509.fingerprint(cx509.load_der_x509_certificate(tls.fetch_leaf(port(lab, node, endpoint))))


def file_fingerprint(lab: SimLab, node: str, name: str) -> str:
    return x509.fingerprint(x509.load_certs((lab.files_dir(node) / name).read_bytes())[0])


def config(lab: SimLab, node: str, service: str) -> dict[str, Any]:
    return lab.node_state(node)["services"][service]


def snapshot(lab: SimLab, node: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in lab.files_dir(node).iterdir() if p.is_file()}


def events_since(lab: SimLab, node: str, since: float, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in lab.events(node) if e["ts"] >= since and (kind is None or e["event"] == kind)]


def service_commands_since(lab: SimLab, node: str, since: float) -> list[str]:
    """Commands that change a service (disable/enable/restart/certs/trust) the node received since ``since``."""
    return [
        e["command"]
        for e in events_since(lab, node, since, "command")
        if any(word in e["command"].split()[1:] for word in LIFECYCLE_WORDS)
    ]


def outage_windows(lab: SimLab, node: str, service: str, since: float) -> list[float]:
    """Seconds between each stop (disabled/restarting/failed) and the next start, from the node's event log."""
    windows, down_at = [], None
    for event in events_since(lab, node, since, "service_state"):
        if event["service"] != service:
            continue
        if event["state"] in DOWN and down_at is None:
            down_at = event["ts"]
        elif event["state"] in UP and down_at is not None:
            windows.append(event["ts"] - down_at)
            down_at = None
    assert down_at is None, f"{service} on {node} is still down according to its event log"
    return windows


def play(tasks: list[dict[str, Any]], hosts: str = "cms1") -> str:
    """A play with one cms_service_certs task per argument dict, named t0, t1, ...; failures are kept going."""
    return yaml.safe_dump(
        [
            {
                "hosts": hosts,
                "gather_facts": False,
                "tasks": [
                    {"name": f"t{i}", "cisco_cms.mmp.cms_service_certs": args, "ignore_errors": True}
                    for i, args in enumerate(tasks)
                ],
            }
        ],
        sort_keys=False,
    )


def ok(run: Run, host: str, name: str) -> dict[str, Any]:
    result = run.task(host, name)
    assert not result.get("failed"), result.get("msg")
    return result


def failed(run: Run, host: str, name: str) -> dict[str, Any]:
    result = run.task(host, name)
    assert result.get("failed"), f"{name} did not fail: {result}"
    return result
