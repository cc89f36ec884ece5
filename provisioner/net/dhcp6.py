"""The DHCPv6 transport: one socket per served interface, the sans-IO core, crash-safe bindings.

    server = await start_dhcp6(settings, lookup=core.dhcp_lookup,
                               lookup_duid=core.dhcp_lookup_duid,
                               record_event=core.record_event, reserved=...)
    server.leases(); server.close()

Sockets: UDP port 547 on ``::`` per served interface, pinned with ``SO_BINDTODEVICE`` and joined
to All_DHCP_Relay_Agents_and_Servers (``ff02::1:2``) there; ``IPV6_RECVPKTINFO`` says whether a
datagram came by multicast (clients) or unicast (relays, or a client the core tells to use
multicast). Replies go to the client's link-local address on the receiving interface (port 546),
or back to the relay (port 547).

Crash safety is DHCPv4's (``net/dhcp.py``): the core's binding changes go to
``<data_dir>/dhcp6-leases.journal`` (one line per change, :mod:`provisioner.proto.dhcp6.leases`),
one ``fdatasync`` per batch of datagrams, and a Reply that bound or released anything leaves
only after that write (withheld if it fails). Advertise messages persist nothing and go at once.

The server's DUID is a DUID-LL of the first served interface's MAC (stable across restarts
without state).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from provisioner.bootloaders.scan import installed_loaders
from provisioner.models import DhcpRecord
from provisioner.net.dhcp import COMPACT_MIN, JournalLeaseStore, _safe_events
from provisioner.net.ifaces import ifindex
from provisioner.net.ifaces6 import served_ifaces6
from provisioner.net.udp import BatchReader, Datagram, open_socket, send
from provisioner.proto.dhcp.core import BootSettings
from provisioner.proto.dhcp.leases import FOREVER, LeaseTable
from provisioner.proto.dhcp6 import leases as leases6
from provisioner.proto.dhcp6.config import Iface6, build_subnets
from provisioner.proto.dhcp6.core import Dhcp6Core, Meta6, Params6, Reply6
from provisioner.proto.dhcp6.options import duid_ll
from provisioner.settings import Settings

log = logging.getLogger("provisioner.dhcp6")
JOURNAL = "dhcp6-leases.journal"
ALL_SERVERS = "ff02::1:2"
SERVER_PORT = 547
RESERVED_TTL = 1.0


def lease_dict(lease: leases6.Lease) -> dict[str, Any]:
    duid, iaid, mac = leases6.split_key(lease.mac)
    return {"ip": leases6.address(lease), "mac": mac, "duid": duid, "iaid": iaid,
            "hostname": lease.hostname, "state": lease.state,
            "expires": None if lease.expires == FOREVER else int(lease.expires)}


def journal(settings: Settings) -> JournalLeaseStore:
    return JournalLeaseStore(Path(settings.data_dir) / JOURNAL, leases6.encode_record,
                             leases6.decode_record)


def read_leases(settings: Settings, now: float | None = None) -> list[dict[str, Any]]:
    """Active bindings from the journal on disk (read-only)."""
    table = LeaseTable()
    table.load(journal(settings).load())
    now = time.time() if now is None else now
    return sorted((lease_dict(x) for x in table.active(now)),
                  key=lambda d: ipaddress.IPv6Address(d["ip"]))


class Dhcp6Server:
    """A running DHCPv6 server; create it with :func:`start_dhcp6`."""

    def __init__(self, core: Dhcp6Core, store: JournalLeaseStore,
                 clock: Callable[[], float] = time.time,
                 before_batch: Callable[[], None] | None = None) -> None:
        self.core, self.store, self.clock = core, store, clock
        self.before_batch = before_batch  # refresh the inventory snapshot (net/worker.py)
        self.readers: list[BatchReader] = []
        self._ifaces: dict[int, tuple[str, int]] = {}  # socket fd -> (ifname, ifindex)
        self._records = 0
        self._metas: dict[tuple[Any, ...], Meta6] = {}
        self.stats = {"received": 0, "replied": 0, "dropped": 0, "errors": 0, "fsyncs": 0}

    def listen(self, loop: asyncio.AbstractEventLoop, ifname: str, port: int) -> None:
        sock = open_socket(port, "::", ifname=ifname)
        idx = ifindex(ifname)
        mreq = socket.inet_pton(socket.AF_INET6, ALL_SERVERS) + struct.pack("=I", idx)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        except BaseException:
            sock.close()
            raise
        self._ifaces[sock.fileno()] = (ifname, idx)
        self.readers.append(BatchReader(loop, sock, self._on_batch))

    def _on_batch(self, sock: socket.socket, batch: list[Datagram]) -> None:
        ifname, idx = self._ifaces[sock.fileno()]
        if self.before_batch is not None:
            self.before_batch()
        now = self.clock()
        self.stats["received"] += len(batch)
        replies: list[Reply6] = []
        metas = self._metas
        for dg in batch:
            key = (dg.peer, dg.local_ip, ifname)  # a relay, or a client's link-local: few
            meta = metas.get(key)
            if meta is None:
                if len(metas) > 4096:
                    metas.clear()
                meta = metas[key] = Meta6(ifname, dg.peer[0].split("%", 1)[0], dg.peer[1],
                                          multicast=dg.local_ip == ALL_SERVERS or not dg.local_ip)
            try:
                reply = self.core.handle(dg.data, meta, now)
            except Exception:  # a bug or a broken inventory: drop this one, keep serving
                self.stats["errors"] += 1
                log.exception("DHCPv6 request from %s failed", dg.peer[0])
                continue
            if reply is None:
                self.stats["dropped"] += 1
                log.debug("dropped DHCPv6 packet from %s: %s", dg.peer[0], self.core.last_drop)
            else:
                replies.append(reply)
        for reply in replies:
            if not reply.commit:
                self._send(sock, reply, idx)
        changes = self.core.leases.drain()
        held = [r for r in replies if r.commit]
        if changes:
            try:
                self._persist(changes, now)
            except OSError as exc:  # fail closed: no Reply whose binding is not on disk
                self.stats["errors"] += 1
                log.error("DHCPv6 lease journal write failed (%s): %d Reply(s) withheld", exc,
                          len(held))
                return
            self.stats["fsyncs"] += 1
        for reply in held:
            self._send(sock, reply, idx)

    def _persist(self, changes: list[leases6.Lease], now: float) -> None:
        self._records += len(changes)
        if self._records > max(COMPACT_MIN, 4 * len(self.core.leases.by_ip)):
            snapshot = self.core.leases.snapshot(now)
            self.store.compact(snapshot)
            self._records = len(snapshot)
        else:
            self.store.append(changes)

    def _send(self, sock: socket.socket, reply: Reply6, idx: int) -> None:
        scope = idx if reply.dest_ip.startswith("fe80") else 0
        if send(sock, reply.data, (reply.dest_ip, reply.dest_port, 0, scope)):
            self.stats["replied"] += 1

    def leases(self) -> list[dict[str, Any]]:
        now = self.clock()
        return sorted((lease_dict(x) for x in self.core.leases.active(now)),
                      key=lambda d: ipaddress.IPv6Address(d["ip"]))

    def lease_records(self) -> list[tuple[str, str]]:
        """``(hostname, address)`` of active bindings with a host name (AAAA/PTR in DNS)."""
        now = self.clock()
        return [(x.hostname, leases6.address(x)) for x in self.core.leases.active(now)
                if x.hostname]

    def close(self) -> None:
        for r in self.readers:
            r.close()
        self.readers.clear()
        self.store.close()


def _cached_reserved(fn: Callable[[], Iterable[str]] | None,
                     clock: Callable[[], float]) -> Callable[[], frozenset[int]]:
    """Reserved IPv6 addresses (never handed out from the pool), re-read once a second."""
    state: dict[str, Any] = {"at": -1e18, "value": frozenset()}

    def reserved() -> frozenset[int]:
        now = clock()
        if fn is not None and now - state["at"] >= RESERVED_TTL:
            try:
                state["value"] = frozenset(int(ipaddress.IPv6Address(ip)) for ip in fn()
                                           if ip and ":" in ip)
                state["at"] = now
            except Exception:
                log.exception("cannot read reserved IPv6 addresses")
        return state["value"]

    return reserved


def params(settings: Settings, ifaces: list[Iface6], installed: Any) -> Params6:
    mac = next((i.mac for i in ifaces if i.mac != "00:00:00:00:00:00"), "02:00:00:00:00:01")
    return Params6(duid_ll(mac), rapid_commit=settings.dhcp6_rapid_commit,
                   dns=settings.dns_enabled, domain=settings.domain or None,
                   boot=BootSettings(settings.http_port, settings.public_url, settings.efi_loader,
                                     settings.unknown_policy, installed))


async def start_dhcp6(settings: Settings, lookup: Callable[[str], DhcpRecord | None],
                      lookup_duid: Callable[[str], DhcpRecord | None] | None = None,
                      record_event: Callable[[str, str, dict], None] | None = None, *,
                      reserved: Callable[[], Iterable[str]] | None = None,
                      ifaces: list[Iface6] | None = None, port: int = SERVER_PORT,
                      lease_path: str | os.PathLike[str] | None = None,
                      clock: Callable[[], float] = time.time,
                      before_batch: Callable[[], None] | None = None) -> Dhcp6Server:
    """Bind port 547 on ``settings.interfaces`` and serve ``settings.dhcp6_ranges``."""
    if ifaces is None:  # pyroute2's synchronous API must not run inside the event loop
        ifaces = await asyncio.to_thread(served_ifaces6, settings.interfaces)
    subnets = build_subnets(ifaces, settings.dhcp6_ranges)
    store = (JournalLeaseStore(lease_path, leases6.encode_record, leases6.decode_record)
             if lease_path else journal(settings))
    table = LeaseTable()
    table.load(store.load())
    now = clock()
    store.compact(table.snapshot(now))
    core = Dhcp6Core(subnets, table, params(settings, ifaces, installed_loaders(settings)),
                     lookup, lookup_duid, reserved=_cached_reserved(reserved, clock),
                     record_event=_safe_events(record_event))
    server = Dhcp6Server(core, store, clock, before_batch)
    loop = asyncio.get_running_loop()
    try:
        for iface in ifaces:
            server.listen(loop, iface.ifname, port)
    except BaseException:
        server.close()
        raise
    log.info("DHCPv6 serving %s (%d link(s) with a pool); %d binding(s) loaded",
             ", ".join(i.ifname for i in ifaces), sum(1 for s in subnets if s.ranges),
             sum(1 for _ in table.active(now)))
    return server
