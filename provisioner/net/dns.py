"""The DNS transport: UDP on the served addresses, answers from the core, forwarding upstream.

Public entry point (run in a worker process by ``net/roles.py``)::

    server = await start_dns(settings, records_fn=core.dns_records,
                             leases_fn=dhcp_server.lease_records)
    server.close()

``records_fn()`` and ``leases_fn()`` return ``(name, ip)`` pairs; they are read again when
``version_fn()`` changes (the worker passes its inventory revision and lease-journal position, so a
change shows up in the next answer), or without one at most once a second (:data:`ZONE_TTL`).
Queries for other names are relayed to the ``nameserver`` lines of
``settings.upstream_resolv_conf``, re-read whenever that file's mtime/size changes (the dnsmasq
behaviour the seed describes), from a fresh random-port socket per query, trying each upstream in
turn (2 s each); if none answers the client gets SERVFAIL, as does a query arriving while
:data:`MAX_FORWARDS` are already being forwarded (a flood holds no sockets or tasks). Our own
listening addresses are never used as upstreams. TCP (RFC 7766) is served on the same addresses and
port, with the same answers, forwarding over TCP; at most :data:`TCP_MAX_CLIENTS` connections, each
closed after :data:`TCP_IDLE` idle seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from provisioner.net.ifaces import served_addresses
from provisioner.net.udp import BatchReader, Datagram, open_socket, send
from provisioner.proto.dhcp.config import IfaceAddr
from provisioner.proto.dns.core import Zone, answer, build_zone
from provisioner.settings import Settings

log = logging.getLogger("provisioner.dns")
ZONE_TTL = 1.0
UPSTREAM_TIMEOUT = 2.0
TCP_IDLE = 10.0  # seconds a TCP client may stay idle between queries
TCP_MAX_CLIENTS = 64
MAX_FORWARDS = 256  # queries being forwarded at once; more get SERVFAIL at once (a flood)
Records = Callable[[], Iterable[tuple[str, str]]]


class Upstreams:
    """The resolvers of a resolv.conf file, re-read when it changes."""

    def __init__(self, path: str, exclude: Iterable[str] = ()) -> None:
        self.path = path
        self.exclude = set(exclude)
        self._stamp: tuple[float, int] | None = None
        self._servers: list[str] = []

    def servers(self) -> list[str]:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            self._servers = self._read() if stamp else []
            log.info("upstream resolvers from %s: %s", self.path, self._servers or "none")
        return self._servers

    def _read(self) -> list[str]:
        out = []
        try:
            text = Path(self.path).read_text(errors="replace")
        except OSError:
            return []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                try:
                    ip = str(ipaddress.IPv4Address(parts[1]))
                except ValueError:
                    continue  # IPv6 upstreams are not used (the server is IPv4-only)
                if ip not in self.exclude:
                    out.append(ip)
        return out


class DnsServer:
    """A running DNS server; create it with :func:`start_dns`."""

    def __init__(self, domain: str, records_fn: Records, leases_fn: Records | None,
                 upstreams: Upstreams,
                 nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
                 clock: Callable[[], float] = time.monotonic,
                 version_fn: Callable[[], object] | None = None) -> None:
        self.domain = domain
        self.version_fn = version_fn
        self._version: object = None
        self.records_fn = records_fn
        self.leases_fn = leases_fn
        self.upstreams = upstreams
        self.nets = nets
        self.clock = clock
        self.readers: list[BatchReader] = []
        self._zone: Zone | None = None
        self._zone_at = 0.0
        self._tasks: set[asyncio.Task] = set()
        self.refused_forwards = 0
        self.tcp_servers: list[asyncio.AbstractServer] = []
        self._tcp_slots = asyncio.Semaphore(TCP_MAX_CLIENTS)

    def zone(self) -> Zone:
        """The zone, rebuilt when ``version_fn()`` changes (if given) or else every ZONE_TTL."""
        now = self.clock()
        if self.version_fn is not None:
            version = self.version_fn()
            stale = self._zone is None or version != self._version
            self._version = version
        else:
            stale = self._zone is None or now - self._zone_at >= ZONE_TTL
        if stale or self._zone is None:
            records = list(self.records_fn())
            if self.leases_fn is not None:
                records += list(self.leases_fn())
            self._zone = build_zone(self.domain, records, self.nets)
            self._zone_at = now
        return self._zone

    def _on_batch(self, sock: socket.socket, batch: list[Datagram]) -> None:
        try:
            zone = self.zone()
        except Exception:
            log.exception("cannot read DNS records; answering from forwarders only")
            zone = build_zone(self.domain, [], self.nets)
        for dg in batch:
            decision = answer(dg.data, zone)
            if decision.kind == "reply":
                send(sock, decision.data, dg.peer)
            elif decision.kind == "forward":
                if len(self._tasks) >= MAX_FORWARDS:  # a flood: answer at once, hold nothing
                    self.refused_forwards += 1
                    self._servfail(sock, dg)
                    continue
                task = asyncio.get_running_loop().create_task(self._forward(sock, dg))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _forward(self, sock: socket.socket, dg: Datagram) -> None:
        loop = asyncio.get_running_loop()
        qid = dg.data[:2]
        for server in self.upstreams.servers():
            up = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET,
                               socket.SOCK_DGRAM)
            up.setblocking(False)
            try:
                await loop.sock_sendto(up, dg.data, (server, 53))
                deadline = loop.time() + UPSTREAM_TIMEOUT
                while (left := deadline - loop.time()) > 0:
                    data, peer = await asyncio.wait_for(loop.sock_recvfrom(up, 65535), left)
                    if peer[0] == server and data[:2] == qid:
                        send(sock, data, dg.peer)
                        return
            except (TimeoutError, OSError) as exc:
                log.debug("upstream %s: %s", server, exc)
            finally:
                up.close()
        self._servfail(sock, dg)

    @staticmethod
    def _servfail(sock: socket.socket, dg: Datagram) -> None:
        if len(dg.data) >= 12:  # SERVFAIL: echo the header, RD copied, QR|RA set
            flags = ((dg.data[2] & 0x01) | 0x80) << 8 | 0x80 | 2
            send(sock, dg.data[:2] + flags.to_bytes(2, "big") + bytes(8), dg.peer)

    # --- TCP (RFC 7766): the same answers, for clients that retry after a truncated reply ---

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_slots.locked():
            writer.close()
            return
        async with self._tcp_slots:
            try:
                while True:
                    head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                    data = await asyncio.wait_for(
                        reader.readexactly(int.from_bytes(head, "big")), TCP_IDLE)
                    reply = await self._answer_tcp(data)
                    if reply is None:
                        break
                    writer.write(len(reply).to_bytes(2, "big") + reply)
                    await writer.drain()
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

    async def _answer_tcp(self, data: bytes) -> bytes | None:
        try:
            zone = self.zone()
        except Exception:
            log.exception("cannot read DNS records; answering from forwarders only")
            zone = build_zone(self.domain, [], self.nets)
        decision = answer(data, zone)
        if decision.kind == "reply":
            return decision.data
        if decision.kind == "drop":
            return None
        for server in self.upstreams.servers():
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(server, 53),
                                              UPSTREAM_TIMEOUT)
                try:
                    w.write(len(data).to_bytes(2, "big") + data)
                    await w.drain()
                    n = int.from_bytes(await asyncio.wait_for(r.readexactly(2),
                                                              UPSTREAM_TIMEOUT), "big")
                    reply = await asyncio.wait_for(r.readexactly(n), UPSTREAM_TIMEOUT)
                finally:
                    w.close()
                if reply[:2] == data[:2]:
                    return reply
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                log.debug("upstream %s over TCP: %s", server, exc)
        if len(data) < 12:
            return None
        flags = ((data[2] & 0x01) | 0x80) << 8 | 0x80 | 2  # SERVFAIL
        return data[:2] + flags.to_bytes(2, "big") + bytes(8)

    def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for r in self.readers:
            r.close()
        self.readers.clear()
        for srv in self.tcp_servers:
            srv.close()
        self.tcp_servers.clear()


async def start_dns(settings: Settings, records_fn: Records, leases_fn: Records | None = None,
                    *, addrs: list[IfaceAddr] | None = None, port: int | None = None,
                    resolv_conf: str | None = None,
                    version_fn: Callable[[], object] | None = None) -> DnsServer:
    """Serve DNS on each served interface address, port ``settings.dns_port``.

    ``version_fn``: a cheap value that changes whenever records or leases may have (the
    worker's inventory revision and lease-journal position); the zone is then rebuilt exactly
    when it changes instead of once a second."""
    if addrs is None:
        addrs = await asyncio.to_thread(served_addresses, settings.interfaces)
    nets = [ipaddress.ip_network(f"{a.ip}/{a.prefixlen}", strict=False) for a in addrs]
    upstreams = Upstreams(resolv_conf or settings.upstream_resolv_conf,
                          exclude=[a.ip for a in addrs])
    server = DnsServer(settings.domain, records_fn, leases_fn, upstreams, nets,
                       version_fn=version_fn)
    loop = asyncio.get_running_loop()
    try:
        for a in addrs:
            sock = open_socket(settings.dns_port if port is None else port, a.ip)
            server.readers.append(BatchReader(loop, sock, server._on_batch))
            server.tcp_servers.append(await asyncio.start_server(
                server.serve_tcp, a.ip, settings.dns_port if port is None else port,
                reuse_address=True))
    except BaseException:
        server.close()
        raise
    log.info("DNS for %s on %s port %d", settings.domain, ", ".join(a.ip for a in addrs),
             settings.dns_port if port is None else port)
    return server
