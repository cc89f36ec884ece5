"""The DHCP transport: sockets per served interface, the sans-IO core, and crash-safe leases.

Public entry points (run in a worker process by ``net/roles.py``)::

    server = await start_dhcp(settings, lookup=core.dhcp_lookup,
                              record_event=core.record_event,
                              reserved=lambda: [ip for _, ip in core.dns_records()])
    server.leases()          # active leases as dicts (API/UI)
    server.close()
    read_leases(settings)    # the same listing from the journal on disk (CLI, no server needed)

Sockets: one UDP socket on port 67 and one on 4011 per served interface, pinned with
``SO_BINDTODEVICE`` (``net/udp.py``), so the receiving interface is known and broadcasts leave
through it. Replies go where the core says (relay on 67, ciaddr, broadcast, or unicast to the
new address after installing a neighbour entry with pyroute2; if that fails, broadcast).

Crash safety (journal + group commit): lease changes are appended to
``<data_dir>/dhcp-leases.journal``, one line per change. The reader takes every datagram that
is waiting (``net/udp.py``), the core answers them all, the OFFERs and NAKs (which persist
nothing) go out at once, then the batch's changes are written and ``fdatasync``'ed in one call,
and only then are the batch's ACKs sent. Under load more datagrams wait per wake-up, so one
fsync covers more ACKs (group commit). The sync runs on the event loop: a worker thread for
it was tried and cost about 40% more CPU per exchange in side-by-side perfdhcp runs here
(thread hand-offs), on a machine where CPU is the limit. A lease that was ACKed is therefore on
disk; an OFFER is never persisted (after a crash the REQUEST is checked again). If the write
fails, that batch's ACKs are withheld (fail closed). On start the journal is replayed (a torn
last line from a crash is skipped) and compacted (written to a temporary file, fsync'ed,
renamed); while running it is compacted again whenever it holds more than :data:`COMPACT_MIN`
records and four times the table size. After ``kill -9``, restart and continue: no
acknowledged lease is lost and no address is handed to two clients.

Standalone (tests, benchmark, or DHCP/DNS without the web appliance): ``python -m
provisioner.net.standalone CONFIG.json`` (see that module).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from provisioner.bootloaders.scan import installed_loaders
from provisioner.leasestate import STATE_FILE
from provisioner.metrics import DHCP_POOL_SIZE, DHCP_POOL_USED, DHCP_RECEIVED, DHCP_REPLIES
from provisioner.models import DhcpRecord
from provisioner.net.ifaces import Neighbours, served_addresses
from provisioner.net.leasedb import (
    SharedLeaseBatches,
    appliance_id,
    cursor_seed,
    lease_rows,
    open_shared,
    shared_leases_enabled,
)
from provisioner.net.udp import BatchReader, Datagram, open_socket, send
from provisioner.proto.dhcp.codec import ACK, TYPE_NAMES, message_type
from provisioner.proto.dhcp.config import IfaceAddr, build_subnets
from provisioner.proto.dhcp.core import PXE_PORT, BootSettings, DhcpCore, Meta, Reply
from provisioner.proto.dhcp.leases import Lease, LeaseTable, decode_record, encode_record
from provisioner.settings import Settings

log = logging.getLogger("provisioner.dhcp")
POOL_EVERY = 2.0  # seconds between pool utilisation updates (metrics)
# the metrics' per-type children, looked up once: ``labels()`` costs ~6 us, ``inc()`` on a
# child ~2 us, and each 4-way exchange counts four datagrams
_received = functools.cache(DHCP_RECEIVED.labels)
_replied = functools.cache(DHCP_REPLIES.labels)
JOURNAL = "dhcp-leases.journal"
COMPACT_MIN = 200_000  # journal records before a compaction while running
RESERVED_TTL = 1.0  # seconds the reserved-address set is cached (one store query per second)


class JournalLeaseStore:
    """Append-only lease journal; ``append`` returns only after the data is on disk."""

    def __init__(self, path: str | os.PathLike[str],
                 encode: Callable[[Lease], str] = encode_record,
                 decode: Callable[[str], Lease | None] = decode_record) -> None:
        self.path = Path(path)
        self.encode, self.decode = encode, decode  # the DHCPv6 journal passes its line format
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None

    def load(self) -> list[Lease]:
        """Every intact record in the journal, oldest first (torn/corrupt lines skipped)."""
        try:
            text = self.path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        out, bad = [], 0
        for line in text.splitlines(keepends=True):
            lease = self.decode(line)
            if lease is None:
                bad += 1
            else:
                out.append(lease)
        if bad:
            log.warning("lease journal %s: skipped %d torn or corrupt line(s)", self.path, bad)
        return out

    def compact(self, leases: Iterable[Lease]) -> None:
        """Atomically replace the journal with ``leases`` and open it for appending."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write("".join(self.encode(x) for x in leases).encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self.close()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def append(self, leases: list[Lease]) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        data = "".join(self.encode(x) for x in leases).encode()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_leases(settings: Settings, now: float | None = None) -> list[dict[str, Any]]:
    """Active leases from the journal on disk, or of every appliance from the shared database
    (read-only; for ``provisioner leases``, the API and the UI)."""
    if shared_leases_enabled(settings.db_url):
        return sorted(lease_rows(settings.db_url, now),
                      key=lambda d: ipaddress.IPv4Address(d["ip"]))
    table = LeaseTable()
    table.load(JournalLeaseStore(Path(settings.data_dir) / JOURNAL).load())
    now = time.time() if now is None else now
    return sorted((x.as_row() for x in table.active(now)),
                  key=lambda d: ipaddress.IPv4Address(d["ip"]))


class _Iface:
    """One served interface: its sockets and addresses."""

    def __init__(self, name: str, addrs: list[IfaceAddr]) -> None:
        self.name = name
        self.addrs = addrs
        self.nets = [ipaddress.IPv4Network(f"{a.ip}/{a.prefixlen}", strict=False) for a in addrs]

    def server_ip(self, local_ip: str) -> str:
        """Our address as the client sees it: the one it sent to, else the first one."""
        if local_ip and any(a.ip == local_ip for a in self.addrs):
            return local_ip
        return self.addrs[0].ip


class DhcpServer:
    """A running DHCP server (see the module docstring); create it with :func:`start_dhcp`."""

    def __init__(self, core: DhcpCore, store: JournalLeaseStore | None,
                 clock: Callable[[], float] = time.time,
                 before_batch: Callable[[], None] | None = None,
                 shared: SharedLeaseBatches | None = None) -> None:
        self.core = core
        self.before_batch = before_batch  # e.g. refresh the inventory snapshot (net/worker.py)
        self.store = store  # the journal (SQLite), or None when ``shared`` holds the leases
        self.shared = shared  # leases in the shared PostgreSQL database (net/leasedb.py)
        self.clock = clock
        self.readers: list[BatchReader] = []
        self._ifaces: dict[int, _Iface] = {}
        self._ports: dict[int, int] = {}  # socket fd -> the port it is bound to
        self._neigh: Neighbours | None = None
        self._tasks: set[asyncio.Task] = set()
        self._journal_records = 0
        self._metas: dict[tuple, Meta] = {}
        self._pool_timer: asyncio.TimerHandle | None = None
        self.stats = {"received": 0, "replied": 0, "dropped": 0, "errors": 0, "fsyncs": 0}

    def listen(self, loop: asyncio.AbstractEventLoop, iface: _Iface, port: int,
               pxe_port: int) -> None:
        for p in (port, pxe_port):
            sock = open_socket(p, ifname=iface.name, broadcast=True)
            self._ifaces[sock.fileno()] = iface
            self._ports[sock.fileno()] = p
            self.readers.append(BatchReader(loop, sock, self._on_batch))

    def _answer(self, dg: Datagram, sock: socket.socket, iface: _Iface, port: int,
                now: float) -> Reply | None:
        key = (dg.peer, dg.local_ip, sock.fileno())  # a relay or 0.0.0.0:68: few distinct
        metas = self._metas
        meta = metas.get(key)
        if meta is None:
            if len(metas) > 4096:
                metas.clear()
            meta = metas[key] = Meta(iface.name, iface.server_ip(dg.local_ip), dg.peer[0],
                                     dg.peer[1], PXE_PORT if port == PXE_PORT else 67)
        try:
            reply = self.core.handle(dg.data, meta, now)
        except Exception:  # a bug or a broken inventory: drop this one, keep serving
            self.stats["errors"] += 1
            log.exception("DHCP request from %s:%d failed", *dg.peer)
            return None
        if reply is None:
            self.stats["dropped"] += 1
            log.debug("dropped DHCP packet from %s: %s", dg.peer[0], self.core.last_drop)
        return reply

    def _on_batch(self, sock: socket.socket, batch: list[Datagram]) -> None:
        iface = self._ifaces[sock.fileno()]
        port = self._ports.get(sock.fileno(), 67)
        if self.before_batch is not None:
            self.before_batch()
        now = self.clock()
        self.stats["received"] += len(batch)
        for dg in batch:
            _received(message_type(dg.data)).inc()
        if self.shared is not None:  # claims committed (or refused) before any reply leaves
            for reply in self.shared.run(batch, lambda dg: self._answer(dg, sock, iface, port,
                                                                       now), now):
                self._dispatch(sock, reply, iface)
            return
        replies = [r for dg in batch if (r := self._answer(dg, sock, iface, port, now))]
        changes = self.core.leases.drain()
        held = [r for r in replies if changes and r.packet is not None
                and r.packet.msg_type == ACK]
        waiting = {id(r) for r in held}
        for reply in replies:  # OFFERs/NAKs depend on nothing persisted: send them now
            if id(reply) not in waiting:
                self._dispatch(sock, reply, iface)
        if not changes or self.store is None:
            return
        try:  # group commit: one write + fdatasync for the whole batch, before its ACKs
            self._journal_records += len(changes)
            if self._journal_records > max(COMPACT_MIN, 4 * len(self.core.leases.by_ip)):
                snapshot = self.core.leases.snapshot(now)  # contains this batch's changes
                self.store.compact(snapshot)
                self._journal_records = len(snapshot)
            else:
                self.store.append(changes)
        except OSError as exc:  # fail closed: an ACK whose lease is not on disk is never sent
            self.stats["errors"] += 1
            log.error("lease journal write failed (%s): %d ACK(s) withheld", exc, len(held))
            return
        self.stats["fsyncs"] += 1
        for reply in held:
            self._dispatch(sock, reply, iface)

    def _dispatch(self, sock: socket.socket, reply: Reply, iface: _Iface) -> None:
        if reply.packet is not None:
            _replied(TYPE_NAMES.get(reply.packet.msg_type or 0, "other")).inc()
        if reply.neigh_mac:
            task = asyncio.get_running_loop().create_task(
                self._send_after_neighbour(sock, reply, iface.name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif send(sock, reply.data, (reply.dest_ip, reply.dest_port)):
            self.stats["replied"] += 1

    async def drain(self) -> None:
        """Wait until replies waiting for a neighbour entry are sent (tests)."""
        while self._tasks:
            await asyncio.sleep(0.005)

    async def _send_after_neighbour(self, sock: socket.socket, reply: Reply, ifname: str) -> None:
        if self._neigh is None:
            self._neigh = Neighbours()
        ok = await self._neigh.install(reply.dest_ip, reply.neigh_mac or "", ifname)
        dest = reply.dest_ip if ok else "255.255.255.255"
        if send(sock, reply.data, (dest, reply.dest_port)):
            self.stats["replied"] += 1

    def leases(self) -> list[dict[str, Any]]:
        """Active (bound, unexpired) leases, sorted by address."""
        now = self.clock()
        return sorted((x.as_row() for x in self.core.leases.active(now)),
                      key=lambda d: ipaddress.IPv4Address(d["ip"]))

    def lease_records(self) -> list[tuple[str, str]]:
        """``(hostname, ip)`` of active leases that have a hostname (for DNS)."""
        now = self.clock()
        return [(x.hostname, x.address) for x in self.core.leases.active(now) if x.hostname]

    def pool_gauges(self, loop: asyncio.AbstractEventLoop) -> None:
        """Pool utilisation per range into the metrics, now and every :data:`POOL_EVERY` s."""
        now = self.clock()
        ranges = [r for sub in self.core.subnets for r in sub.ranges]
        used = [0] * len(ranges)
        for ip, lease in self.core.leases.by_ip.items():
            if lease.active(now):
                for i, r in enumerate(ranges):
                    if r.start <= ip <= r.end:
                        used[i] += 1
                        break
        for r, n in zip(ranges, used, strict=True):
            name = f"{ipaddress.IPv4Address(r.start)}-{ipaddress.IPv4Address(r.end)}"
            DHCP_POOL_SIZE.labels(name).set(r.size)
            DHCP_POOL_USED.labels(name).set(n)
        self._pool_timer = loop.call_later(POOL_EVERY, self.pool_gauges, loop)

    def close(self) -> None:
        if self._pool_timer is not None:
            self._pool_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        for r in self.readers:
            r.close()
        self.readers.clear()
        if self._neigh is not None:
            self._neigh.close()
        if self.store is not None:
            self.store.close()
        if self.shared is not None:
            self.shared.close()


def _cached_reserved(fn: Callable[[], Iterable[str]] | None,
                     clock: Callable[[], float],
                     ttl: float = RESERVED_TTL) -> Callable[[], frozenset[int]]:
    if fn is None:
        return frozenset
    state: dict[str, Any] = {"at": -1e18, "value": frozenset(), "src": None}

    def reserved() -> frozenset[int]:
        now = clock()
        if now - state["at"] >= ttl:
            try:
                src = fn()
                if src is not state["src"]:  # the same object again: the same set
                    # inet_aton: 10,000 addresses in ~3 ms (the store validated them already)
                    state["value"] = frozenset(int.from_bytes(socket.inet_aton(ip), "big")
                                               for ip in src if ip and ":" not in ip)
                    state["src"] = src
                state["at"] = now
            except Exception:  # keep the last known set; the pool stays conservative
                log.exception("cannot read reserved addresses")
        return state["value"]

    return reserved


def _safe_events(fn: Callable[[str, str, dict], None] | None) -> Callable[[str, str, dict], None]:
    def record(subject: str, kind: str, detail: dict) -> None:
        if fn is None:
            return
        try:
            fn(subject, kind, detail)
        except Exception:
            log.exception("cannot record %s event for %s", kind, subject)

    return record


def _lease_table(settings: Settings, shared_url: str | None, server_id: str,
                 lease_path: str | os.PathLike[str] | None,
                 clock: Callable[[], float]) -> tuple[LeaseTable, JournalLeaseStore | None]:
    """The lease table and its journal: in PostgreSQL when shared (no journal), else on disk."""
    if shared_url:  # several appliances: the leases live in PostgreSQL (net/leasedb.py)
        return LeaseTable(shared=True, cursor_seed=cursor_seed(server_id)), None
    store = JournalLeaseStore(lease_path or Path(settings.data_dir) / JOURNAL)
    table = LeaseTable()
    table.load(store.load())
    store.compact(table.snapshot(clock()))
    return table, store


def _listen_all(server: DhcpServer, loop: asyncio.AbstractEventLoop, addrs: list[IfaceAddr],
                port: int, pxe_port: int) -> dict[str, list[IfaceAddr]]:
    """Bind every served interface (closing all on the first failure); the addresses by name."""
    by_name: dict[str, list[IfaceAddr]] = {}
    for a in addrs:
        by_name.setdefault(a.ifname, []).append(a)
    try:
        for name, its in by_name.items():
            server.listen(loop, _Iface(name, its), port, pxe_port)
    except BaseException:
        server.close()
        raise
    return by_name


async def start_dhcp(settings: Settings, lookup: Callable[[str], DhcpRecord | None],
                     record_event: Callable[[str, str, dict], None] | None = None,
                     lease_path: str | os.PathLike[str] | None = None, *,
                     reserved: Callable[[], Iterable[str]] | None = None,
                     addrs: list[IfaceAddr] | None = None, port: int = 67,
                     pxe_port: int = PXE_PORT,
                     clock: Callable[[], float] = time.time,
                     before_batch: Callable[[], None] | None = None,
                     reserved_ttl: float = RESERVED_TTL) -> DhcpServer:
    """Bind the DHCP sockets on ``settings.interfaces`` and start serving (mode from settings).

    ``lookup`` is ``Core.dhcp_lookup``; ``record_event`` is ``Core.record_event``;
    ``reserved`` returns the addresses reserved for systems (never given from the pool), read
    again after ``reserved_ttl`` seconds (0: every batch, for a ``reserved`` that is itself
    cheap and returns the same list object while nothing changed);
    ``before_batch`` runs before each batch of requests is answered.
    """
    if addrs is None:  # pyroute2's synchronous API must not run inside the event loop
        addrs = await asyncio.to_thread(served_addresses, settings.interfaces)
    subnets = build_subnets(addrs, settings.dhcp_ranges if settings.dhcp_mode == "full" else (),
                            settings.dhcp_options, dns_enabled=settings.dns_enabled,
                            domain=settings.domain or None)
    if settings.dhcp_mode == "full" and not any(s.ranges for s in subnets):
        log.warning("DHCP full mode without dhcp_ranges: only reserved systems get addresses")
    shared_url = settings.db_url if shared_leases_enabled(settings.db_url) else None
    server_id = appliance_id(settings.appliance_id, addrs)
    table, store = _lease_table(settings, shared_url, server_id, lease_path, clock)
    now = clock()
    core = DhcpCore(subnets, table, lookup, mode=settings.dhcp_mode,
                    boot=BootSettings(settings.http_port, settings.public_url,
                                      settings.efi_loader, settings.unknown_policy,
                                      installed_loaders(settings)),
                    reserved=_cached_reserved(reserved, clock, reserved_ttl),
                    record_event=_safe_events(record_event))
    shared = await asyncio.to_thread(open_shared, core, shared_url, server_id,
                                     str(Path(settings.data_dir) / STATE_FILE)) \
        if shared_url else None
    server = DhcpServer(core, store, clock, before_batch, shared)
    loop = asyncio.get_running_loop()
    by_name = _listen_all(server, loop, addrs, port, pxe_port)
    server.pool_gauges(loop)
    log.info("DHCP (%s mode) serving %s; %d lease(s) loaded from %s", settings.dhcp_mode,
             ", ".join(by_name), sum(1 for _ in table.active(now)),
             f"the shared database as {server_id}" if shared else "the journal")
    return server
