"""The appliance's only libvirt importer: open a host's URI within a deadline and, when it fails,
say which of the known causes it was (unreachable, nothing listening, SSH key refused, host key
changed, certificate expired / not for this host / not from our CA, libvirt too old).

* A TCP probe of the transport's port comes first, bounded by ``timeout``: an unreachable host
  fails in seconds with its own message instead of libvirt's kernel-timeout hang.
* ``libvirt.open`` then runs in a worker thread joined with the remaining time; a connection
  that has not answered by then is reported as a timeout (the thread is left to die with its
  socket: libvirt calls cannot be cancelled).
* libvirt's keepalive runs on its default event loop (one daemon thread per process), so a
  peer that disappears while we wait on it (a migration, a long call) is noticed in about
  15 s instead of never.

:func:`classify` maps libvirt's and ssh's error text to a :class:`ConnectError` kind; it is a
table (:data:`CAUSES`), tested with the messages real libvirtd/sshd produce in
``tests/integration/test_remote_hosts.py``.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt

from provisioner.remote import pki
from provisioner.remote.credentials import ClientFiles
from provisioner.remote.errors import ConnectError
from provisioner.remote.pki import PKIPATH_FILES
from provisioner.remote.uri import LibvirtUri

#: The oldest libvirt the appliance manages: migrateToURI3/migrate3 parameters (1.1),
#: domain capabilities (1.2.7), compareHypervisorCPU/baselineHypervisorCPU (4.4).
MIN_LIBVIRT = (4, 4, 0)
KEEPALIVE = (5, 3)  # interval (s), count: a silent peer is dropped after ~15-20 s


@dataclass(frozen=True)
class Cause:
    kind: str
    pattern: str
    explain: str  # may use {host}, {port}


#: First match wins; order matters (host-key before the generic "recv" errors).
CAUSES: tuple[Cause, ...] = (
    Cause("ssh-host-key", r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED"
          r"|No \S+ host key is known",
          "the host's SSH key is not the one recorded for it (reinstalled, or not that host?): "
          "check it and record the new key"),
    Cause("ssh-auth", r"Permission denied \(publickey",
          "the host refused the appliance's SSH key: append the appliance's public key "
          "(`provisioner host key`) to /root/.ssh/authorized_keys on {host}"),
    Cause("client-cert", r"(?i)Our own certificate|client certificate \S+ has expired",
          "the appliance's own client certificate is not usable (expired, or not from its "
          "CA): renew it with `provisioner ca client`"),
    Cause("cert-expired", r"(?i)certificate[^\n]*(has )?expired|expired[^\n]*certificate",
          "a TLS certificate has expired: reissue the host's certificate "
          "(`provisioner host cert`) and install it with the agent's `tls` plan"),
    Cause("cert-not-yet-valid", r"(?i)not yet (activated|valid)",
          "a TLS certificate is not valid yet: check the clocks of the appliance and {host}"),
    Cause("cert-name", r"(?i)does not match the hostname|owner does not match",
          "the host's TLS certificate does not name '{host}': reissue it with this name or "
          "address"),
    Cause("cert-untrusted", r"(?i)not trusted|signer not found|unknown issuer|issuer",
          "the host's TLS certificate is not issued by the appliance's CA: install the "
          "appliance-issued certificate (`provisioner host cert` + the agent's `tls` plan)"),
    Cause("cert-server", r"(?i)Failed to verify peer's certificate",
          "the certificate {host} presents is not acceptable (expired, not for this name, or "
          "not from the appliance's CA)"),
    Cause("cert-rejected", r"(?i)handshake|tls.*(alert|failed)|authentication failed",
          "the TLS handshake with {host} failed: the host does not accept the appliance's "
          "client certificate (is /etc/pki/CA/cacert.pem on the host the appliance's CA?)"),
    Cause("unreachable", r"(?i)no route to host|network is unreachable|timed out|"
          r"could not resolve|name or service not known",
          "cannot reach {host}:{port} (no route, or no answer within the timeout)"),
    Cause("refused", r"(?i)connection refused",
          "nothing listens on {host}:{port}: is libvirtd running (with --listen and "
          "listen_tls for TLS) or sshd (for SSH)?"),
    Cause("no-libvirtd", r"(?i)failed to connect socket|no such file or directory.*libvirt-sock"
          r"|virt-ssh-helper|nc: ",
          "{host} answered but libvirtd is not running there (or not at its usual socket)"),
)
KINDS = tuple(c.kind for c in CAUSES) + ("too-old", "timeout", "libvirt")


def classify(message: str, host: str, port: int | None) -> ConnectError:
    for c in CAUSES:
        if re.search(c.pattern, message):
            return ConnectError(c.kind, host, f"{c.explain.format(host=host, port=port)} "
                                              f"(libvirt: {_short(message)})")
    return ConnectError("libvirt", host, f"libvirt: {_short(message)}")


def _short(message: str) -> str:
    return " ".join(message.split())[:300]


def version_tuple(v: int) -> tuple[int, int, int]:
    return v // 1_000_000, v // 1000 % 1000, v % 1000


def version_problem(found: int, minimum: tuple[int, int, int] = MIN_LIBVIRT) -> str | None:
    have = version_tuple(found)
    if have >= minimum:
        return None
    return (f"libvirt {'.'.join(map(str, have))} is older than {'.'.join(map(str, minimum))}, "
            "the oldest the appliance manages (CPU comparison and migration parameters need it)")


def _quiet(_ctx: Any, _err: Any) -> None:
    """libvirt prints every error to stderr by default; we raise them instead."""


_loop_lock = threading.Lock()
_loop_started = False


def ensure_event_loop() -> None:
    """libvirt's default event loop in one daemon thread (needed for keepalive)."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.registerErrorHandler(_quiet, None)
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


def tcp_probe(host: str, port: int, timeout: float) -> None:
    """Raise ConnectError unless something accepts TCP on ``host:port`` within ``timeout``."""
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout):
            return
    except OSError as exc:
        raise classify(str(exc) or type(exc).__name__, host, port) from None


_STATUS_KIND = {pki.Status.EXPIRED: "cert-expired", pki.Status.WRONG_CA: "cert-untrusted",
                pki.Status.NAMES_CHANGED: "cert-name",
                pki.Status.NOT_YET_VALID: "cert-not-yet-valid",
                pki.Status.UNREADABLE: "cert-server"}


def server_certificate(host: str, port: int, pki_dir: Path, timeout: float) -> str:
    """The PEM certificate a TLS listener presents (our client certificate offered, nothing
    verified: this only looks)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(str(pki_dir / PKIPATH_FILES["clientcert"]),
                        str(pki_dir / PKIPATH_FILES["clientkey"]))
    with socket.create_connection((host.strip("[]"), port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("no certificate presented")
    return ssl.DER_cert_to_PEM_cert(der)


def diagnose_server_cert(host: str, port: int, pki_dir: Path, timeout: float,
                         now: dt.datetime) -> ConnectError | None:
    """libvirt only says "Failed to verify peer's certificate"; fetch the certificate and
    say what is wrong with it (expired, other names, other CA)."""
    try:
        pem = server_certificate(host, port, pki_dir, timeout)
        ca = (pki_dir / PKIPATH_FILES["cacert"]).read_text()
    except (OSError, ssl.SSLError):
        return None
    status, reason = pki.cert_status(pem, ca, [host], now, margin=dt.timedelta(0))
    kind = _STATUS_KIND.get(status)
    if kind is None:
        return None
    cause = next(c for c in CAUSES if c.kind == kind)
    return ConnectError(kind, host, f"{cause.explain.format(host=host, port=port)} "
                                    f"(its certificate: {reason})")


def diagnose_ssh(u: LibvirtUri, command: str, timeout: float) -> ConnectError | None:
    """libvirt sometimes reports an ssh failure as garbage on the wire ("Value too large for
    defined data type"); ask ssh itself (same wrapper, same options) and read its stderr."""
    argv = [command, "-p", str(u.effective_port), *(["-l", u.user] if u.user else []),
            u.host.strip("[]"), "true"]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode == 0:
        return None
    err = classify(res.stderr, u.host, u.effective_port)
    return None if err.kind == "libvirt" else err


def _open_within(opener: Callable[[], Any], timeout: float, host: str, port: int | None) -> Any:
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["conn"] = opener()
        except libvirt.libvirtError as exc:
            box["error"] = exc

    t = threading.Thread(target=work, name=f"libvirt-open {host}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise ConnectError("timeout", host, f"no libvirt answer from {host} within {timeout:g}s")
    if "error" in box:
        raise classify(str(box["error"]), host, port)
    return box["conn"]


def open_uri(u: LibvirtUri, files: ClientFiles | None = None, *, timeout: float = 15.0,
             min_version: tuple[int, int, int] = MIN_LIBVIRT, read_only: bool = False,
             now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> Any:
    """A live connection to ``u`` with the appliance's client ``files`` (its key, known hosts
    and PKI directory; None: libvirt's defaults), or :class:`ConnectError` naming the cause,
    within ``timeout``."""
    connect_uri = files.connect_uri(u) if files else str(u)
    ensure_event_loop()
    t0 = time.monotonic()
    port = u.effective_port
    if u.host and port:
        tcp_probe(u.host, port, timeout)
    left = max(1.0, timeout - (time.monotonic() - t0))
    opener = libvirt.openReadOnly if read_only else libvirt.open
    try:
        conn = _open_within(lambda: opener(connect_uri), left, u.host or "localhost", port)
    except ConnectError as exc:
        better = None
        if files is not None and u.host and port:
            left = max(1.0, timeout - (time.monotonic() - t0))
            if exc.kind == "cert-server":
                better = diagnose_server_cert(u.host, port, files.pki_dir, left, now())
            elif exc.kind == "libvirt" and u.effective_transport == "ssh":
                better = diagnose_ssh(u, str(files.wrapper), left)
        if better is not None:
            raise better from None
        raise
    try:
        problem = version_problem(conn.getLibVersion(), min_version)
        if problem:
            raise ConnectError("too-old", u.host or "localhost", problem)
        conn.setKeepAlive(*KEEPALIVE)
    except BaseException:
        conn.close()
        raise
    return conn
