"""Trust stores the simulator keeps and enforces (docs/dev/mmp_reference.md#trust-stores).

* the ``tls <name>`` verb: ``tls sip trust <bundle>``, ``tls sip verify enable`` [H, S8] and the same words for
  ``ldap``, ``dbclient``, ``dbserver``, ``webadmin`` [GUESS]; ``tls <name>`` alone prints a [GUESS] status block.
* peer links, judged again whenever a service starts or stops on any node: a Call Bridge links to every running
  Web Bridge 3 C2W side (``c2w``), to every other Call Bridge when both have a cluster trust store (``cluster``:
  they form a Call Bridge cluster), and, with ``tls sip verify`` on, calls every other Call Bridge over SIP TLS
  (``sip``).  A link is *untrusted* when the peer's certificate does not chain to a certificate of the Call
  Bridge's store.  The Call Bridge reads its stores when it starts (a trust change needs ``callbridge restart``
  [H, S6, S12, S17]), so the stores it judges by are the ones it started with.

Each change of a link's verdict is an event on the Call Bridge's node: ``peer_link_down`` (``kind``: ``c2w``,
``cluster`` or ``sip``; ``peer``; ``reason``; ``effect``) when a link becomes untrusted, ``peer_link_up`` when it is
trusted again.  The verdicts are in ``state.json`` as ``peer_links`` (``"<kind> <peer>": "up" | "untrusted"``).
"""

from __future__ import annotations

import weakref
from typing import Any

from cryptography import x509 as cx509

from . import core, services, shapes, x509

_EFFECTS = {  # what an untrusted link does, as the sources describe it
    "c2w": "C2W link to the web bridge down; web app joins through it fail",  # [H] S6 "WebRTC failed"
    "cluster": "Call Bridge cluster peer link down",  # [L]
    "sip": "SIP TLS falls back to an unencrypted control connection",  # [H] S8 log line
}
# The verdicts last judged per lab, to log only changes: {(kind, node, peer): "up" | "untrusted"}.
_VERDICTS: weakref.WeakKeyDictionary[core.Lab, dict[tuple[str, str, str], str]] = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------------------------------------------------
# The tls verb
# ------------------------------------------------------------------------------------------------------------
def tls_state(node: core.Node) -> dict[str, dict[str, Any]]:
    stores = node.state.setdefault("tls", {})
    for name in shapes.TLS_NAMES:
        stores.setdefault(name, {"trust": None, "verify": "disabled"})
    return stores


@core.verb("tls")
def _tls(node: core.Node, args: list[str], console: core.Console) -> None:
    if not args or args[0] not in shapes.TLS_NAMES:
        raise core.CommandError(shapes.TLS_USAGE)
    store = tls_state(node)[args[0]]
    if len(args) == 1:
        rows = [(label, store[field] or shapes.STATUS_NONE) for label, field in shapes.TLS_STATUS_ROWS]
        console.write(shapes.status_rows(rows) + "\n")
        return
    if len(args) != 3:
        raise core.CommandError(shapes.TLS_USAGE)
    word, value = args[1], args[2]
    if word == "trust":
        if value != shapes.TRUST_CLEAR and not node.has_file(value):
            raise core.CommandError(shapes.SERVICE_TRUST_MISSING_FILE.format(name=value))
        store["trust"] = None if value == shapes.TRUST_CLEAR else value
    elif word == "verify" and value in shapes.TLS_VERIFY_MODES:
        store["verify"] = shapes.TLS_VERIFY_MODES[value]
    else:
        raise core.CommandError(shapes.TLS_USAGE)
    node.save()
    node.event("tls_config", tls=args[0], **{word: store[word]})


# ------------------------------------------------------------------------------------------------------------
# Peer links
# ------------------------------------------------------------------------------------------------------------
# Every service start or stop judges every link of the lab again, and a fleet lab has hundreds: the certificates of
# a file content are parsed once, and a verdict for one store and one chain (by fingerprints) is reached once, for
# the life of the simulator (both bounded). Judging a 30-node lab without them took most of the simulator's CPU and
# stretched service transitions under a fleet rollout.
_PARSED: dict[bytes, list[cx509.Certificate]] = {}
_FINGERPRINTS: dict[int, str] = {}  # id() of a certificate _PARSED keeps alive -> its fingerprint
_VERDICT_OF: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[bool, str]] = {}
_CACHE_LIMIT = 4096


def _parse(data: bytes) -> list[cx509.Certificate]:
    if data not in _PARSED:
        if len(_PARSED) >= _CACHE_LIMIT:
            _PARSED.clear()
            _FINGERPRINTS.clear()
        _PARSED[data] = x509.load_certs(data)
    return _PARSED[data]


def _fingerprint(cert: cx509.Certificate) -> str:
    found = _FINGERPRINTS.get(id(cert))
    if found is None:
        found = _FINGERPRINTS[id(cert)] = x509.fingerprint(cert)
    return found


class _Certs:
    """Certificates of the files judged in one pass, each file read once."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], list[cx509.Certificate]] = {}

    def of(self, node: core.Node, name: str | None) -> list[cx509.Certificate]:
        if not name:
            return []
        key = (node.name, name)
        if key not in self.cache:
            try:
                self.cache[key] = _parse(node.read_file(name))
            except (OSError, ValueError):
                self.cache[key] = []
        return self.cache[key]


def _trusted(store: list[cx509.Certificate], chain: list[cx509.Certificate]) -> tuple[bool, str]:
    """Whether the peer's ``chain`` (its certificate first) reaches a certificate of ``store``."""
    key = (tuple(_fingerprint(c) for c in store), tuple(_fingerprint(c) for c in chain))
    if key not in _VERDICT_OF:
        if len(_VERDICT_OF) >= _CACHE_LIMIT:
            _VERDICT_OF.clear()
        _VERDICT_OF[key] = _judge_chain(store, chain)
    return _VERDICT_OF[key]


def _judge_chain(store: list[cx509.Certificate], chain: list[cx509.Certificate]) -> tuple[bool, str]:
    if not store:
        return False, "no trust store configured"
    if not chain:
        return False, "the peer presents no certificate"
    anchors = {_fingerprint(c) for c in store}
    pool = chain[1:] + store
    current = chain[0]
    for _ in range(10):
        if _fingerprint(current) in anchors:
            return True, ""
        issuer = next((c for c in pool if c is not current and x509.issued_by(current, c)), None)
        if issuer is None or issuer is current:
            break
        current = issuer
    return False, "%s does not chain to the trust store" % x509.rfc4514(chain[0].subject)


def _running(node: core.Node, service: str) -> dict[str, Any] | None:
    st = node.state.get("services", {}).get(service)
    return st if st and st.get("running") and not node.is_down() else None


def _presented(node: core.Node, service: str, slot: str, certs: _Certs) -> list[cx509.Certificate]:
    active = (_running(node, service) or {}).get("active", {}).get(slot) or {}
    return certs.of(node, active.get("cert")) + certs.of(node, active.get("bundle"))


def _links_of(node: core.Node, nodes: list[core.Node], certs: _Certs) -> dict[tuple[str, str], tuple[bool, str]]:
    """``{(kind, peer): (trusted, reason)}`` for every link of the Call Bridge of ``node``."""
    bridge = _running(node, "callbridge")
    if bridge is None:
        return {}
    # A Call Bridge seeded (or started before this module existed) judges by what it has configured.
    stores = bridge.get("active_trust") or _stores(node, bridge)
    links: dict[tuple[str, str], tuple[bool, str]] = {}
    for peer in nodes:
        c2w = _presented(peer, "webbridge3", "c2w", certs)
        if node.major >= 3 and c2w and (_running(peer, "webbridge3") or {}).get("c2w_listen"):
            links[("c2w", peer.name)] = _trusted(certs.of(node, stores.get("c2w")), c2w)
        other = _running(peer, "callbridge") if peer is not node else None
        if other is None:
            continue
        presented = _presented(peer, "callbridge", "main", certs)
        if stores.get("cluster") and (other.get("active_trust") or _stores(peer, other)).get("cluster"):
            links[("cluster", peer.name)] = _trusted(certs.of(node, stores["cluster"]), presented)
        if stores.get("sip_verify") in ("enabled", "ocsp"):
            links[("sip", peer.name)] = _trusted(certs.of(node, stores.get("sip")), presented)
    return links


def _ends_running(lab: core.Lab, kind: str, name: str, peer: str) -> bool:
    node, other = lab.nodes.get(name), lab.nodes.get(peer)
    service = "webbridge3" if kind == "c2w" else "callbridge"
    return bool(node and other and _running(node, "callbridge") and _running(other, service))


def judge(lab: core.Lab, changed: core.Node | None = None) -> None:
    """Judge the peer links of the lab again; log each change of verdict and keep the verdicts in state.

    ``changed``: the node a service just started or stopped on. Only links with that node at one end can change
    verdict then (its Call Bridge's links, and every Call Bridge's link to it), so only those are judged again:
    judging every link on every change grew with the cube of the lab (a 100-node fleet rollout spent minutes there,
    holding the lab's lock). Without ``changed`` (the simulator starting) every link is judged.
    """
    with lab.lock:
        nodes = list(lab.nodes.values())
        certs = _Certs()
        before = _VERDICTS.setdefault(lab, {})
        # A link with an end that is not running (a restart in progress) keeps its last verdict, so that a restart
        # neither forgets an untrusted link nor reports it down twice.
        if changed is None:
            after = {key: verdict for key, verdict in before.items() if not _ends_running(lab, *key)}
            pairs = [(node, nodes) for node in nodes]
        else:
            after = {
                key: verdict
                for key, verdict in before.items()
                if changed.name not in (key[1], key[2]) or not _ends_running(lab, *key)
            }
            pairs = [(changed, nodes)] + [(node, [changed]) for node in nodes if node is not changed]
        for node, peers in pairs:
            links = _links_of(node, peers, certs)
            for (kind, peer), (ok, reason) in sorted(links.items()):
                verdict = "up" if ok else "untrusted"
                after[(kind, node.name, peer)] = verdict
                old = before.get((kind, node.name, peer))
                if verdict == "untrusted" and old != "untrusted":
                    extra = {"log": shapes.SIP_TLS_FALLBACK_LOG.format(call=len(after))} if kind == "sip" else {}
                    node.event("peer_link_down", kind=kind, peer=peer, reason=reason, effect=_EFFECTS[kind], **extra)
                elif verdict == "up" and old == "untrusted":
                    node.event("peer_link_up", kind=kind, peer=peer)
        _VERDICTS[lab] = after
        shown: dict[str, dict[str, str]] = {node.name: {} for node in nodes}
        for (kind, name, peer), verdict in after.items():
            shown.setdefault(name, {})[f"{kind} {peer}"] = verdict
        for node in nodes:
            # Never wait for a node's lock while holding the lab's: a command on that node (a restart) may hold it
            # and be waiting for the lab's lock in this very hook (two nodes restarting at once deadlocked). A node
            # busy now shows its new links at the next judgement.
            if node.state.get("peer_links", {}) != shown[node.name] and node.lock.acquire(blocking=False):
                try:
                    node.state["peer_links"] = shown[node.name]
                    node.save()
                finally:
                    node.lock.release()


def _stores(node: core.Node, bridge: dict[str, Any]) -> dict[str, Any]:
    """The trust stores a Call Bridge has configured now (and judges by once it restarts)."""
    sip = tls_state(node)["sip"]
    return {
        "c2w": bridge.get("c2w_trust"),
        "cluster": bridge.get("cluster_trust"),
        "sip": sip["trust"],
        "sip_verify": sip["verify"],
    }


def _on_change(node: core.Node, service: str, running: bool) -> None:
    if service == "callbridge" and running:
        st = services.svc_state(node, "callbridge")
        st["active_trust"] = _stores(node, st)
        node.save()
    judge(node.lab, node)


services.SERVICE_CHANGE_HOOKS.append(_on_change)
core.START_HOOKS.append(judge)
