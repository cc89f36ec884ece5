"""Use-cases of agentless hosts and migration, over the Store, the Keyring and a
:class:`Hypervisors` port (``remote/service.py`` talks libvirt; tests use a fake).

* the appliance's credentials, made on first use and kept encrypted (``core/keyring.py``): its
  SSH key pair (the public half is what an admin appends to ``/root/.ssh/authorized_keys``, the
  guide's ``ssh-copy-id`` step), its CA, and its libvirt client certificate, renewed when
  :func:`pki.cert_status` says so;
* ``add``: an admin's URI is checked (``uri.check_host_uri``), the host probed over libvirt with
  a deadline, and only then recorded (URI, recorded SSH host key, facts, capacity, a token for
  the agent loop the appliance runs for it); any failure records nothing;
* ``check`` / ``migrate``: the guide's pre-flight, then a managed live migration; the order's
  host changes only when libvirt reports success, and the timeline says what happened either
  way (where the guest runs after a failure included).

This package, not ``core/``, holds these: the pre-flight evaluates the core's A1 rules, so the
core cannot import it back (the layering contract forbids the cycle).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets as pysecrets
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from provisioner.core.doctor_reports import xend_settings
from provisioner.core.events import record
from provisioner.core.keyring import (
    CA_CERT,
    CA_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    SSH_KEY,
    Keyring,
    host_token_name,
)
from provisioner.core.ports import Store
from provisioner.core.tokens import hash_token
from provisioner.errors import Conflict, Invalid, NotFound
from provisioner.models import EventKind, Host, Order, check_name
from provisioner.models.events import order_subject, system_subject
from provisioner.remote import pki
from provisioner.remote.credentials import (
    Credentials,
    known_hosts_line,
    new_ssh_key,
    public_ssh_key,
)
from provisioner.remote.errors import MigrationRefused
from provisioner.remote.migration import Options, Outcome, Progress
from provisioner.remote.preflight import Check, blocking, report, with_reported_xend
from provisioner.remote.uri import check_host_uri, parse

CLIENT_CN = "provisioner appliance"


def issued_name(host: str) -> str:
    """Keyring name of the certificate last issued to ``host`` (public, kept with the rest)."""
    return f"host-cert/{host}"
ENDED = ("failed", "cancelled", "deleted")
PROGRESS_EVERY = 1.0  # s between migration:progress events of one migration


class Hypervisors(Protocol):
    """The libvirt side (``remote/service.py``); every call bounded by its timeout."""

    def probe(self, uri: str, creds: Credentials) -> tuple[dict[str, Any], dict[str, Any]]:
        """(facts, capacity) of the host; ConnectError naming the cause."""
        ...

    def scan_host_key(self, host: str, port: int) -> str:
        """The SSH host key the host presents (trust on first use)."""
        ...

    def connect_uri(self, uri: str, creds: Credentials) -> str:
        """The URI a libvirt client (the agent loop) opens: the credentials written to the
        runtime directory and named by the URI's parameters."""
        ...

    def preflight(self, src: str, dst: str, guest: str, creds: Credentials, *,
                  copy_storage: bool, force: bool) -> list[Check]: ...

    def push_tls(self, uri: str, creds: Credentials, script: str) -> str:
        """Run ``script`` (``rotation.push_script``) with ``sh`` on the host over SSH."""
        ...

    def migrate(self, src: str, dst: str, guest: str, opts: Options, creds: Credentials,
                on_progress: Callable[[Progress], None] | None) -> Outcome: ...


class RemoteHosts:
    def __init__(self, store: Store, keyring: Keyring, backend: Hypervisors,
                 clock: Callable[[], float], *, allow_insecure: bool = False) -> None:
        self.store, self.keyring, self.backend, self.clock = store, keyring, backend, clock
        self.allow_insecure = allow_insecure

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    # ---- the appliance's own credentials ---------------------------------------------------
    def _ssh_private(self) -> str:
        key = self.keyring.get(SSH_KEY)
        if key is None:
            key, _ = new_ssh_key()
            self.keyring.put(SSH_KEY, key)
        return key

    def public_key(self) -> str:
        """The line an admin appends to ``/root/.ssh/authorized_keys`` on a host."""
        return public_ssh_key(self._ssh_private())

    def _ca(self) -> pki.KeyPair:
        cert, key = self.keyring.get(CA_CERT), self.keyring.get(CA_KEY)
        if cert is None or key is None:
            ca = pki.create_ca(self._now())
            self.keyring.put(CA_KEY, ca.key_pem)
            self.keyring.put(CA_CERT, ca.cert_pem)
            return ca
        return pki.KeyPair(cert, key)

    def ca_certificate(self) -> str:
        return self._ca().cert_pem

    def _client(self, ca: pki.KeyPair) -> pki.KeyPair:
        cert, key = self.keyring.get(CLIENT_CERT), self.keyring.get(CLIENT_KEY)
        status, _ = pki.cert_status(cert, ca.cert_pem, (), self._now())
        if cert is None or key is None or status is not pki.Status.OK:
            pair = pki.issue_client(ca, CLIENT_CN, self._now())
            self.keyring.put(CLIENT_KEY, pair.key_pem)
            self.keyring.put(CLIENT_CERT, pair.cert_pem)
            return pair
        return pki.KeyPair(cert, key)

    def renew_client(self) -> pki.CertInfo:
        self.keyring.delete(CLIENT_CERT)
        return pki.info(self._client(self._ca()).cert_pem)

    def credentials(self, extra_known: Sequence[str] = ()) -> Credentials:
        ca = self._ca()
        client = self._client(ca)
        known = [self._known_line(h) for h in self.store.list_hosts() if h.ssh_host_key]
        return Credentials(self._ssh_private(), tuple(known) + tuple(extra_known),
                           ca.cert_pem, client.cert_pem, client.key_pem)

    @staticmethod
    def _known_line(h: Host) -> str:
        u = parse(h.uri)
        return known_hosts_line(u.host, h.ssh_host_key, u.effective_port or 22)

    def host_bundle(self, name: str, names: Sequence[str] = (), days: int = 365, *,
                    record: bool = True) -> dict[str, str]:
        """A certificate for host ``name`` (its URI host and probed host name, plus ``names``)
        with its key: the agent's ``tls`` plan installs it. The key is never stored here."""
        host = self.store.get_host(name)
        want = list(names)
        if host is not None and host.uri:
            want.insert(0, parse(host.uri).host.strip("[]"))
        if host is not None and host.facts.get("hostname"):
            want.append(str(host.facts["hostname"]))
        want = list(dict.fromkeys(n for n in want if n))
        if not want:
            raise Invalid(f"name the host's names or addresses for {name!r} (--name)", "names")
        ca = self._ca()
        pair = pki.issue_host(ca, want, self._now(), days=days)
        if record:
            self.record_issued(name, pair.cert_pem)
        return {"ca_cert": ca.cert_pem, "cert": pair.cert_pem, "key": pair.key_pem}

    def record_issued(self, name: str, cert_pem: str) -> None:
        self.keyring.put(issued_name(name), cert_pem)

    def issued(self, name: str) -> str | None:
        """The certificate the appliance last issued to host ``name`` (what rotation watches)."""
        return self.keyring.get(issued_name(name))

    def sign_request(self, name: str, csr_pem: str, days: int = 365) -> dict[str, str]:
        """Sign host ``name``'s own request (``tls.rotate``: its new key stays on the host) for
        the names of the certificate issued to it before, and record the new one."""
        before = self.issued(name)
        if before is None:
            raise NotFound(f"no certificate was issued to host {name!r}: an admin starts with "
                           "provisioner host cert")
        ca = self._ca()
        cert = pki.sign_host_request(ca, csr_pem, pki.info(before).names, self._now(),
                                     days=days)
        self.record_issued(name, cert)
        return {"ca_cert": ca.cert_pem, "cert": cert,
                "not_after": pki.info(cert).not_after.isoformat(timespec="seconds")}

    # ---- hosts -----------------------------------------------------------------------------
    def add(self, name: str, uri: str, *, ssh_host_key: str = "") -> Host:
        check_name(name, "host")
        if self.store.get_host(name) is not None:
            raise Conflict(f"host {name!r} exists; remove it first")
        u = check_host_uri(parse(uri), allow_insecure=self.allow_insecure)
        extra: list[str] = []
        if u.effective_transport == "ssh":
            if not ssh_host_key:
                raise Invalid("an ssh URI needs the host's SSH key (ssh-keyscan output, "
                              "'ssh-ed25519 AAAA...'), or ask the CLI to scan it", "ssh_host_key")
            extra.append(known_hosts_line(u.host, ssh_host_key, u.effective_port or 22))
            ssh_host_key = " ".join(ssh_host_key.split()[:2])
        facts, capacity = self.backend.probe(str(u), self.credentials(extra))
        token = pysecrets.token_urlsafe(32)
        self.keyring.put(host_token_name(name), token)
        host = Host(name=name, token_hash=hash_token(token), facts=facts, capacity=capacity,
                    last_seen=self.clock(), uri=str(u), ssh_host_key=ssh_host_key)
        self.store.put_host(host)
        return host

    def scan(self, uri: str) -> str:
        u = check_host_uri(parse(uri), allow_insecure=self.allow_insecure)
        return self.backend.scan_host_key(u.host, u.effective_port or 22)

    def agentless(self) -> list[Host]:
        return [h for h in self.store.list_hosts() if h.agentless]

    def loop_token(self, name: str) -> str | None:
        return self.keyring.get(host_token_name(name))

    def loop_spec(self, name: str) -> tuple[str, str, str]:
        """(connect URI, token, domain type) of the agent loop the appliance runs for ``name``:
        ``qemu`` where the host offers no KVM (TCG), else the order's own choice (``""``)."""
        host = self.store.get_host(name)
        token = self.loop_token(name)
        if host is None or not host.uri or token is None:
            raise NotFound(f"no agentless host {name!r}")
        types = set(host.capacity.get("domain_types") or ())
        virt_type = "qemu" if types and "kvm" not in types and "xen" not in types else ""
        return self.backend.connect_uri(host.uri, self.credentials()), token, virt_type

    def remove(self, name: str) -> None:
        if not self.store.delete_host(name):
            raise NotFound(f"no host {name!r}")
        self.keyring.delete(host_token_name(name))
        self.keyring.delete(issued_name(name))

    # ---- migration -------------------------------------------------------------------------
    def _route(self, guest: str, to: str) -> tuple[Order, Host, Host]:
        order = next((o for o in self.store.list_orders() if o.name == guest
                      and o.state not in ENDED and o.host), None)
        if order is None:
            raise NotFound(f"no placed guest named {guest!r}")
        src, dst = self.store.get_host(str(order.host)), self.store.get_host(to)
        if dst is None:
            raise NotFound(f"no host {to!r}")
        if src is None:
            raise NotFound(f"the guest's host {order.host!r} is not known any more")
        if src.name == dst.name:
            raise Invalid(f"{guest!r} already runs on {to!r}", "to")
        for h in (src, dst):
            if not h.uri:
                raise Invalid(f"host {h.name!r} has no libvirt URI: the appliance migrates "
                              "between agentless hosts (provisioner host add NAME --uri ...)",
                              "to")
        return order, src, dst

    def check(self, guest: str, to: str, *, copy_storage: bool = False,
              force: bool = False) -> list[Check]:
        _, src, dst = self._route(guest, to)
        return self._reported(self.backend.preflight(
            src.uri, dst.uri, guest, self.credentials(), copy_storage=copy_storage,
            force=force), src, dst)

    @staticmethod
    def _reported(checks: list[Check], src: Host, dst: Host) -> list[Check]:
        """What the hosts' own agents reported (``provisioner-agent doctor --send``): the
        xend-config.sxp settings libvirt cannot show."""
        names = (str(src.facts.get("hostname") or ""), parse(src.uri).host.strip("[]"))
        return with_reported_xend(checks, xend_settings(src.facts), xend_settings(dst.facts),
                                  names)

    def migrate(self, guest: str, to: str, opts: Options | None = None,
                on_progress: Callable[[Progress], None] | None = None, *,
                record_refusal: bool = False) -> Outcome:
        """Pre-flight, then the migration; the order's timeline gets migration:started, a
        migration:progress at most every :data:`PROGRESS_EVERY` seconds, then done/failed
        (``record_refusal``: a refused pre-flight too, for callers nobody waits on)."""
        opts = opts or Options()
        order, src, dst = self._route(guest, to)
        subjects = (order_subject(order.id), system_subject(order.system or guest))
        creds = self.credentials()
        checks = self._reported(self.backend.preflight(
            src.uri, dst.uri, guest, creds, copy_storage=opts.copy_storage, force=opts.force),
            src, dst)
        if blocking(checks):
            if record_refusal:
                self._record(subjects, EventKind.MIGRATION_FAILED, {
                    "from": src.name, "to": dst.name, "running_on": src.name,
                    "error": "pre-flight failed: " + ", ".join(
                        c.name for c in checks if c.status == "fail")})
            raise MigrationRefused(f"pre-flight failed:\n{report(checks)}")
        shared = next((c for c in checks if c.name == "shared_storage"), None)
        opts = dataclasses.replace(
            opts, data_address=opts.data_address or parse(dst.uri).host.strip("[]"),
            p2p_uri=opts.p2p_uri or (dst.uri if opts.p2p or opts.tunnelled else None),
            unsafe=opts.unsafe or bool(shared and shared.status == "pass"
                                       and not opts.copy_storage))
        self._record(subjects, EventKind.MIGRATION_STARTED, {"from": src.name, "to": dst.name,
                                                     "live": opts.live})
        outcome = self.backend.migrate(src.uri, dst.uri, guest, opts, creds,
                                       self._progress(order_subject(order.id), dst.name,
                                                      on_progress))
        if outcome.ok:
            self.store.put_order(dataclasses.replace(order, host=dst.name,
                                                     updated=self.clock()))
            self._record(subjects, EventKind.MIGRATION_DONE, {
                "from": src.name, "to": dst.name, "total_s": round(outcome.total_s, 3),
                "downtime_ms": outcome.downtime_ms})
        else:
            where = {"source": src.name, "destination": dst.name}.get(outcome.running_on,
                                                                      outcome.running_on)
            self._record(subjects, EventKind.MIGRATION_FAILED, {
                "from": src.name, "to": dst.name, "error": outcome.error,
                "running_on": where})
        return outcome

    def _progress(self, subject: str, to: str, then: Callable[[Progress], None] | None
                  ) -> Callable[[Progress], None]:
        last = [float("-inf")]

        def seen(p: Progress) -> None:
            now = self.clock()
            if now - last[0] >= PROGRESS_EVERY:
                last[0] = now
                record(self.store, subject, EventKind.MIGRATION_PROGRESS, {
                    "to": to, "elapsed_ms": p.elapsed_ms, "sent_bytes": p.data_processed,
                    "memory_remaining_bytes": p.memory_remaining}, now)
            if then is not None:
                then(p)
        return seen

    def _record(self, subjects: Sequence[str], kind: str, detail: dict[str, Any]) -> None:
        for s in subjects:
            record(self.store, s, kind, detail, self.clock())
