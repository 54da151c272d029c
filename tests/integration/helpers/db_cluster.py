"""The database cluster side of the integration tests: certificate sets made on the controller, the nodes' event
logs read back, and the plays the cms_db_cluster tests run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._commands import is_lock_file
from tests.cmssim import x509
from tests.cmssim.testing import SimLab

FAST = {"cluster_remove": 0.3, "cluster_initialize": 0.3, "cluster_join": 0.3, "cluster_connect": 0.3}
DOMAIN = "lab.cms.example"
DB_FQDNS = [f"cms{i}.{DOMAIN}" for i in (1, 2, 3)]
STATUS = "database cluster status"


def commands(lab: SimLab, node: str, since: int = 0) -> list[str]:
    """The MMP commands ``node`` received, from its ``since``-th event on."""
    return [e["command"] for e in lab.events(node)[since:] if e["event"] == "command"]


def mark(lab: SimLab, *nodes: str) -> dict[str, int]:
    """Where each node's event log stands now (to look at one run's events only)."""
    return {n: len(lab.events(n)) for n in nodes}


def changing_events(lab: SimLab, node: str, since: int = 0) -> list[dict[str, Any]]:
    """Commands other than read-only ones, and SFTP writes, since ``since``.

    The node lock a run takes and releases (docs/concurrency.md) leaves the node as it was: its files are not counted.
    """
    read_only = (STATUS, "pki list", "backup list")
    return [
        e
        for e in lab.events(node)[since:]
        if (e["event"] == "command" and e["command"] not in read_only)
        or (
            e["event"] in ("sftp_put", "sftp_rename", "sftp_remove", "cluster_transition")
            and not is_lock_file(e.get("file", ""))
        )
    ]


def make_db_pki(
    directory: Path,
    server_cn: str,
    san: list[str],
    days: float = 365,
    ca: tuple[Any, Any] | None = None,
    client_cn: str = "postgres",
    prefix: str = "ext",
) -> dict[str, Path]:
    """A database cluster certificate set on the controller, as an external CA or the built-in one would make it."""
    now = dt.datetime.now(dt.UTC)
    # Already expired (days < 0): issued well before it ended.
    start = now + dt.timedelta(days=days - 30) if days < 0 else None
    ca_key, ca_cert = ca or x509.make_ca(DOMAIN, now, days=3650, not_before=now - dt.timedelta(days=60))
    server_key, client_key = x509.new_key(), x509.new_key()
    server = x509.sign(
        x509.build_name({"CN": server_cn}),
        server_key.public_key(),
        ca_cert,
        ca_key,
        now,
        days,
        x509.san_entries(san),
        not_before=start,
    )
    client = x509.sign(
        x509.build_name({"CN": client_cn}), client_key.public_key(), ca_cert, ca_key, now, days, not_before=start
    )
    contents = {
        "server_key": x509.key_pem(server_key),
        "server_cert": x509.cert_pem(server),
        "client_key": x509.key_pem(client_key),
        "client_cert": x509.cert_pem(client),
        "ca_cert": x509.cert_pem(ca_cert),
    }
    names = {
        "server_key": f"{prefix}server.key",
        "server_cert": f"{prefix}server.crt",
        "client_key": f"{prefix}client.key",
        "client_cert": f"{prefix}client.crt",
        "ca_cert": f"{prefix}ca.crt",
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, data in contents.items():
        paths[key] = directory / names[key]
        paths[key].write_bytes(data)
    return paths


def cluster_ca(lab: SimLab) -> tuple[Any, Any]:
    """The seeded cluster's CA (its key is on the primary, as `pki selfsigned dbca` leaves it)."""
    files = lab.files_dir("cms1")
    return x509.load_key((files / "dbclusterca.key").read_bytes()), x509.load_certs(
        (files / "dbclusterca.cer").read_bytes()
    )[0]


def play(tasks: str, hosts: str = "cms") -> str:
    return f"""
    - hosts: {hosts}
      gather_facts: false
      tasks:
{tasks}
    """


KEYS = ("server_key", "server_cert", "client_key", "client_cert", "ca_cert")


def src_args(
    paths: dict[str, Path],
    keys: tuple[str, ...] = KEYS,
    relative_to: Path | None = None,
) -> str:
    """The ``*_src`` lines of a task; with ``relative_to``, as paths relative to that directory."""
    shown = {k: paths[k].relative_to(relative_to) if relative_to else paths[k] for k in keys}
    return "\n".join(f"            {k}_src: {shown[k]}" for k in keys)
