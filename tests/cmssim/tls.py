"""Real TLS listeners for the simulated services, one loopback port per node-service endpoint.

One selector thread per lab accepts on every listening socket; each accepted connection gets a short-lived thread
that builds (or reuses) an ``ssl.SSLContext`` from the endpoint's current files and does the handshake.  The key and
certificate files are re-read whenever they change on disk (inode, size or mtime), so ``pki csr`` overwriting a key
in use breaks the very next handshake, as S2 says it breaks the service at once.

The module knows nothing about services: ``services.py`` says which endpoints should listen (``ensure``/``remove``)
and supplies, per endpoint, a callback returning the file-store paths to serve (or None when it must not serve).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import x509

log = logging.getLogger("cmssim.tls")

HANDSHAKE_TIMEOUT = 10.0
MAX_CONNECTIONS = 64  # concurrent handshakes per lab; more are refused at once (keeps a 2-core box responsive)
HTTP_REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"


class MaterialError(Exception):
    """The endpoint's files cannot make a TLS server (missing, unreadable, key and certificate do not match)."""


@dataclass(frozen=True)
class Material:
    """What an endpoint serves: a private key, the certificate file (leaf first) and an optional bundle."""

    key: Path
    cert: Path
    bundle: Path | None = None
    work_dir: Path | None = None  # private scratch directory for the combined chain file


MaterialFn = Callable[[], "Material | None"]
EventFn = Callable[..., None]
AppFn = Callable[[ssl.SSLSocket], None]


def _signature(material: Material) -> tuple[object, ...]:
    out: list[object] = [material]
    for path in (material.key, material.cert, material.bundle):
        if path is None:
            continue
        try:
            st = path.stat()
        except OSError:
            out.append((str(path), None))
            continue
        out.append((str(path), st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def build_context(material: Material) -> tuple[ssl.SSLContext, str]:
    """An SSL server context serving exactly ``material``; also the SHA-256 fingerprint of the leaf."""
    try:
        key_data = material.key.read_bytes()
    except OSError as exc:
        raise MaterialError(f"key file {material.key.name} unreadable: {exc.strerror}") from None
    try:
        cert_data = material.cert.read_bytes()
    except OSError as exc:
        raise MaterialError(f"certificate file {material.cert.name} unreadable: {exc.strerror}") from None
    try:
        key = x509.load_key(key_data)
    except (ValueError, TypeError):
        raise MaterialError(f"private key {material.key.name} cannot be loaded (encrypted or not PEM)") from None
    certs = x509.load_certs(cert_data)
    if not certs:
        raise MaterialError(f"no certificate in {material.cert.name}")
    if material.bundle is not None:
        try:
            certs += x509.load_certs(material.bundle.read_bytes())
        except OSError as exc:
            raise MaterialError(f"bundle {material.bundle.name} unreadable: {exc.strerror}") from None
    if not x509.key_matches_cert(key, certs[0]):
        raise MaterialError(f"private key {material.key.name} does not match certificate {material.cert.name}")
    chain: list[bytes] = []
    seen: set[str] = set()
    for cert in certs:
        fp = x509.fingerprint(cert)
        if fp not in seen:  # a full chain plus a bundle repeats the CA certificates; send each once
            seen.add(fp)
            chain.append(x509.cert_pem(cert))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    work = material.work_dir or Path(tempfile.gettempdir())
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    # ssl only loads from files: write the chain and the key just read to private files, load, delete.
    fd, chain_path = tempfile.mkstemp(dir=work, suffix=".pem")
    fd2, key_path = tempfile.mkstemp(dir=work, suffix=".key")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"".join(chain))
        with os.fdopen(fd2, "wb") as fh:
            fh.write(x509.key_pem(key))
        ctx.load_cert_chain(chain_path, key_path)
    except ssl.SSLError as exc:
        raise MaterialError(f"TLS library refused the key/certificate: {exc}") from None
    finally:
        for path in (chain_path, key_path):
            with contextlib.suppress(OSError):
                os.unlink(path)
    return ctx, x509.fingerprint(certs[0])


@dataclass
class Listener:
    name: str
    port: int
    material_fn: MaterialFn
    event: EventFn
    sock: socket.socket | None = None
    app: AppFn | None = None  # answers the HTTP request on an accepted connection; None: one line naming the endpoint
    _cache_sig: tuple[object, ...] | None = None
    _cache_ctx: ssl.SSLContext | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def context(self) -> ssl.SSLContext | None:
        """The context for the next handshake, rebuilt when the files changed; None when nothing is served."""
        material = self.material_fn()
        if material is None:
            return None
        sig = _signature(material)
        with self._lock:
            if sig == self._cache_sig and self._cache_ctx is not None:
                return self._cache_ctx
            reloaded = self._cache_sig is not None
            self._cache_sig, self._cache_ctx = None, None
            ctx, fp = build_context(material)  # MaterialError propagates: the handshake fails
            self._cache_sig, self._cache_ctx = sig, ctx
        self.event("tls_loaded", endpoint=self.name, port=self.port, fingerprint=fp, reload=reloaded)
        return ctx


class TlsManager:
    """Every listening TLS socket of one lab, served by one selector thread."""

    def __init__(self, lab_name: str) -> None:
        self.lab_name = lab_name
        self.selector = selectors.DefaultSelector()
        self.listeners: dict[tuple[str, str], Listener] = {}
        self.lock = threading.RLock()
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"tls-{lab_name}", daemon=True)
        self.thread.start()

    # ---- listening sockets --------------------------------------------------------------------------------
    def ensure(
        self, key: tuple[str, str], port: int, material_fn: MaterialFn, event: EventFn, app: AppFn | None = None
    ) -> bool:
        """Listen on ``port`` for ``key`` (node, endpoint) unless already listening; False if the port is busy."""
        with self.lock:
            current = self.listeners.get(key)
            if current is not None and current.port == port and current.sock is not None:
                current.material_fn = material_fn
                current.app = app
                return True
            if current is not None:
                self._close(key)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen(64)
            except OSError as exc:
                sock.close()
                event("tls_error", endpoint=key[1], port=port, reason=f"cannot listen: {exc.strerror}")
                return False
            sock.setblocking(False)
            listener = Listener(name=key[1], port=port, material_fn=material_fn, event=event, sock=sock, app=app)
            self.listeners[key] = listener
            self.selector.register(sock, selectors.EVENT_READ, listener)
            event("tls_listening", endpoint=key[1], port=port)
            return True

    def remove(self, key: tuple[str, str]) -> None:
        with self.lock:
            if key in self.listeners:
                self._close(key)

    def _close(self, key: tuple[str, str]) -> None:
        listener = self.listeners.pop(key)
        if listener.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(listener.sock)
            listener.sock.close()
            listener.sock = None
            listener.event("tls_closed", endpoint=listener.name, port=listener.port)

    def listening(self) -> dict[tuple[str, str], int]:
        with self.lock:
            return {key: lst.port for key, lst in self.listeners.items() if lst.sock is not None}

    def close(self) -> None:
        with self.lock:
            for key in list(self.listeners):
                self._close(key)
        self.closed.set()
        self.thread.join(timeout=5)
        self.selector.close()

    # ---- accepting ----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.closed.is_set():
            try:
                ready = self.selector.select(timeout=0.25)
            except (OSError, ValueError):
                if self.closed.is_set():
                    return
                continue
            for key, _ in ready:
                listener: Listener = key.data
                sock = listener.sock
                if sock is None:
                    continue
                try:
                    conn, _addr = sock.accept()
                except OSError:  # closed by a concurrent remove(), or the client already gave up
                    continue
                if not self.slots.acquire(blocking=False):
                    conn.close()
                    continue
                threading.Thread(target=self._serve, args=(listener, conn), daemon=True).start()

    def _serve(self, listener: Listener, conn: socket.socket) -> None:
        try:
            # As the SSH server does: without it, a reply written after TLS 1.3's session tickets waits for the
            # client's delayed ACK (Nagle), 40 ms per API request that no real Web Admin adds.
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(HANDSHAKE_TIMEOUT)
            try:
                ctx = listener.context()
            except MaterialError as exc:
                # What a client sees when a service runs on a broken key pair: the handshake is cut off.
                listener.event("tls_error", endpoint=listener.name, port=listener.port, reason=str(exc))
                return
            if ctx is None:
                return
            try:
                tls = ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):  # the client rejected our chain or went away: its business
                return
            with tls:
                if listener.app is not None:
                    listener.app(tls)
                    with contextlib.suppress(ssl.SSLError, OSError):
                        tls.unwrap()
                else:
                    _answer(tls, listener.name)
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            self.slots.release()


def _answer(tls: ssl.SSLSocket, name: str) -> None:
    """Reply to an HTTP request with one line naming the endpoint; anything else just gets the close."""
    try:
        tls.settimeout(2.0)
        data = tls.recv(4096)
        if data[:4] in (b"GET ", b"HEAD", b"POST"):
            body = f"cmssim {name}\n".encode()
            tls.sendall(HTTP_REPLY % (len(body), body))
        with contextlib.suppress(ssl.SSLError, OSError):
            tls.unwrap()
    except (ssl.SSLError, OSError):
        pass


# ---- one manager per lab in this process ----------------------------------------------------------------------
_MANAGERS: dict[Path, TlsManager] = {}
_MANAGERS_LOCK = threading.Lock()


def start_manager(lab_dir: Path) -> TlsManager:
    with _MANAGERS_LOCK:
        mgr = _MANAGERS.get(lab_dir)
        if mgr is None:
            mgr = _MANAGERS[lab_dir] = TlsManager(lab_dir.name)
        return mgr


def manager(lab_dir: Path) -> TlsManager | None:
    return _MANAGERS.get(lab_dir)


def stop_manager(lab_dir: Path) -> None:
    with _MANAGERS_LOCK:
        mgr = _MANAGERS.pop(lab_dir, None)
    if mgr is not None:
        mgr.close()


# ---- client side, for tests and benchmarks ---------------------------------------------------------------------
def fetch_leaf(port: int, cafile: str | Path | None = None, hostname: str | None = None, timeout: float = 5.0) -> bytes:
    """Handshake with ``127.0.0.1:port`` and return the DER leaf certificate the endpoint served.

    With ``cafile`` the chain is verified (and ``hostname`` against the SAN when given); without, anything is
    accepted.  Raises ``OSError``/``ssl.SSLError`` when the endpoint refuses or breaks the handshake.
    """
    if cafile is not None:
        ctx = ssl.create_default_context(cafile=str(cafile))
        ctx.check_hostname = hostname is not None
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=hostname) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError("no peer certificate")
    return der
