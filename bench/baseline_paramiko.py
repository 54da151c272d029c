"""The baseline: the certificate rollout as an admin would script it by hand with paramiko.

One node after the other, one SSH login per node (an interactive MMP shell plus SFTP on the same connection), the
same commands the collection sends, typed in sequence: upload the signed certificate and the CA bundle (and the full
chain webbridge3 wants), check them with ``pki match`` and ``pki verify``, then for each service look at its status
and swap the certificate (disable, certs, enable; for the Call Bridge certs then restart). No parallelism, no
preflight across nodes, no TLS check, no rollback: the shortest correct script, to measure the collection against.

With ``--parallel-clusters`` it does what an admin with threads would do on a fleet: one thread per cluster, all
clusters at once, the nodes of each cluster still one after the other (so each cluster keeps its other nodes serving).
A cluster is the hosts sharing an inventory ``cms_cluster`` value; an inventory without it is read as the benchmark's
fleet layout, ``--clusters C`` clusters where cluster k holds hosts k, k+C, k+2C... in inventory order (default: a
third of the hosts, rounded up).

    .venv/bin/python bench/baseline_paramiko.py --lab-dir LAB --suffix base [--nodes cms1,cms2]
    .venv/bin/python bench/baseline_paramiko.py --lab-dir LAB --suffix base --parallel-clusters [--clusters 10]

It expects what ``playbooks/generate_csrs.yml`` leaves with ``cms_csr_suffix=<suffix>``: ``<node>-<suffix>.key``
on each node, ``<pki>/<node>/<node>-<suffix>.cer`` and ``<pki>/lab-ca/ca-bundle.cer`` on the controller.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko
import yaml

CONFIRM = re.compile(r"\(Y/n\)")
FAILED = re.compile(r"^(ERROR|FAILURE|Usage)", re.MULTILINE)


class Shell:
    def __init__(self, client: paramiko.SSHClient, hostname: str) -> None:
        self.chan = client.invoke_shell(term="vt100", width=511, height=0)
        self.chan.settimeout(60)
        self.prompt = f"\n{hostname}> "
        self.read()

    def read(self) -> str:
        buf = ""
        while not (buf.endswith(self.prompt) or buf == self.prompt[1:]):
            data = self.chan.recv(65536)
            if not data:
                raise EOFError("the node closed the connection")
            buf += data.decode("utf-8", "replace").replace("\r\n", "\n")
            if CONFIRM.search(buf):
                self.chan.sendall(b"Y\r")
                buf = CONFIRM.sub("", buf)
        return buf

    def run(self, command: str) -> str:
        self.chan.sendall(command.encode() + b"\r")
        out = self.read()
        if FAILED.search(out):
            raise RuntimeError(f"{command}: {out.strip()}")
        return out


def plan(node: str, suffix: str) -> list[str]:
    key, cert, bundle = f"{node}-{suffix}.key", f"{node}-{suffix}.cer", "ca-bundle.cer"
    chain = f"{node}-{suffix}-fullchain.cer"
    return [
        f"pki match {key} {cert}",
        f"pki verify {cert} {bundle}",
        "webadmin",
        "webadmin disable",
        f"webadmin certs {key} {cert} {bundle}",
        "webadmin enable",
        "callbridge",
        f"callbridge certs {key} {cert} {bundle}",
        "callbridge restart",
        "webbridge3",
        "webbridge3 disable",
        f"webbridge3 https certs {key} {chain}",
        "webbridge3 enable",
        "turn",
        "turn disable",
        f"turn certs {key} {cert} {bundle}",
        "turn enable",
    ]


def roll_node(lab_dir: Path, node: str, host: dict[str, Any], suffix: str) -> None:
    pki = lab_dir / "pki"
    cert = (pki / node / f"{node}-{suffix}.cer").read_bytes()
    bundle = (pki / "lab-ca" / "ca-bundle.cer").read_bytes()
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab_dir / "known_hosts"))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host["ansible_host"],
        port=int(host["ansible_port"]),
        username=host["ansible_user"],
        password=host["ansible_password"],
        look_for_keys=False,
        allow_agent=False,
    )
    try:
        sftp = client.open_sftp()
        for name, data in (
            (f"{node}-{suffix}.cer", cert),
            ("ca-bundle.cer", bundle),
            (f"{node}-{suffix}-fullchain.cer", cert + bundle),
        ):
            with sftp.open(name, "wb") as fh:
                fh.write(data)
        shell = Shell(client, node)
        for command in plan(node, suffix):
            shell.run(command)
    finally:
        client.close()


def hostvars(group: dict[str, Any], inherited: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every host under an inventory group (YAML layout), with its group variables merged down the tree, its own
    variables last. Hosts keep the order they are first listed in."""
    found: dict[str, dict[str, Any]] = {}
    scope = {**(inherited or {}), **(group.get("vars") or {})}
    for name, own in (group.get("hosts") or {}).items():
        found[name] = {**found.get(name, scope), **(own or {})}
    for child in (group.get("children") or {}).values():
        for name, merged in hostvars(child or {}, scope).items():
            found[name] = {**found.get(name, {}), **merged}
    return found


def inventory_hosts(lab_dir: Path) -> dict[str, dict[str, Any]]:
    """The CMS hosts of the lab's inventory (group ``cms`` and the groups under it), each with its variables."""
    inventory = yaml.safe_load((lab_dir / "inventory.yml").read_text())
    return hostvars(inventory["all"]["children"]["cms"])


def rollout(lab_dir: Path, suffix: str, nodes: list[str] | None = None) -> dict[str, float]:
    """Roll every node in turn; returns the seconds each node took (in order)."""
    hosts = inventory_hosts(lab_dir)
    took: dict[str, float] = {}
    for node in nodes or list(hosts):
        start = time.monotonic()
        roll_node(lab_dir, node, hosts[node], suffix)
        took[node] = time.monotonic() - start
    return took


def stride_clusters(hosts: list[str], count: int) -> list[list[str]]:
    """The benchmark's fleet layout: cluster k is hosts k, k+count, k+2*count... (a serial batch of ``count``
    consecutive hosts then takes one node of every cluster)."""
    return [hosts[k::count] for k in range(count) if hosts[k::count]]


def rollout_parallel(lab_dir: Path, suffix: str, clusters: list[list[str]]) -> dict[str, float]:
    """One thread per cluster, all at once; a cluster's nodes one after the other. Returns each node's seconds."""
    hosts = inventory_hosts(lab_dir)
    unknown = sorted({n for c in clusters for n in c} - set(hosts))
    if unknown:
        raise ValueError(f"clusters name hosts the inventory does not have: {unknown}")
    took: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=len(clusters)) as pool:
        # .result() re-raises a cluster's failure here: a baseline that failed measures nothing.
        for future in [pool.submit(rollout, lab_dir, suffix, nodes) for nodes in clusters]:
            took.update(future.result())
    return took


def inventory_clusters(lab_dir: Path, count: int | None = None) -> list[list[str]]:
    """The clusters of the lab: by the hosts' ``cms_cluster`` if set, else ``stride_clusters``."""
    hosts = inventory_hosts(lab_dir)
    named: dict[str, list[str]] = {}
    for name, host in hosts.items():
        if host.get("cms_cluster") is not None:
            named.setdefault(str(host["cms_cluster"]), []).append(name)
    if named and count is None:
        return list(named.values())
    return stride_clusters(list(hosts), count or -(-len(hosts) // 3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab-dir", required=True, type=Path)
    parser.add_argument("--suffix", required=True)
    parser.add_argument("--nodes", help="comma-separated (default: every host of the lab inventory, in order)")
    parser.add_argument(
        "--parallel-clusters", action="store_true", help="one thread per cluster, a cluster's nodes in sequence"
    )
    parser.add_argument("--clusters", type=int, help="with --parallel-clusters: the fleet layout's cluster count")
    args = parser.parse_args(argv)
    if args.nodes and args.parallel_clusters:
        parser.error("--nodes and --parallel-clusters exclude each other")
    if args.clusters is not None and (not args.parallel_clusters or args.clusters < 1):
        parser.error("--clusters takes a count of 1 or more, with --parallel-clusters")
    lab_dir = args.lab_dir.resolve()
    start = time.monotonic()
    if args.parallel_clusters:
        took = rollout_parallel(lab_dir, args.suffix, inventory_clusters(lab_dir, args.clusters))
    else:
        took = rollout(lab_dir, args.suffix, args.nodes.split(",") if args.nodes else None)
    for node, seconds in took.items():
        print(f"{node}: {seconds:.1f} s")
    print(f"total: {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
