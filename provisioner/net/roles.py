"""What a network worker process can run: one :class:`Role` per service, by name.

``provisioner serve`` (``net/supervisor.py``) starts ``Role.count(settings)`` worker processes
of every enabled role; each worker (``net/worker.py``) builds a :class:`WorkerContext` and awaits
``Role.start(ctx)``, which binds the role's sockets and returns an object with ``close()``.
Adding a protocol (e.g. a DHCPv6 or router-advertisement worker) is one more entry in
:data:`ROLES`; nothing else in the supervisor changes.

* ``dhcp``: one process (it owns the lease table and its journal).
* ``dhcp6``: one process (its bindings and their journal, ``net/dhcp6.py``).
* ``ra``: one process sending router advertisements on the served interfaces (``net/ra.py``).
* ``dns``: one process; names from the inventory and from both lease journals; it listens on
  the interfaces' IPv4 and global IPv6 addresses (AAAA and ip6.arpa PTR too).
* ``tftp``: ``settings.tftp_workers`` processes (0 = one per CPU core). Every worker binds the
  listening port on every served address with ``SO_REUSEPORT``, so the kernel spreads requests
  over them by the client's address and port (a client's retransmitted request reaches the same
  worker); each transfer then runs on its own socket in the worker that took the request. A
  worker that dies leaves the group and the others take its share until it is back. Before the
  first worker starts, :func:`tftp_preflight` binds each address once *without* ``SO_REUSEPORT``,
  so another TFTP server already on the port is an error, not a silent share. The interfaces'
  global IPv6 addresses are served too (IPv6 network boot: ``tftp://[addr]/...``).

Protocol workers read the inventory through ``ctx.core`` and answer from it; timeline events go
through ``ctx.core.record_event``, which in a worker only queues them for the supervisor
(``net/eventlink.py``). Leases from other processes come from ``ctx.leases``
(``net/leasefile.py``, following the DHCP worker's journal).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.content.hot import PacketCache
from provisioner.content.providers import TftpContent, asset_file
from provisioner.core.app import Core
from provisioner.core.peers import PeerDirectory
from provisioner.models import EventKind, system_subject
from provisioner.net.leasefile import LeaseFollower
from provisioner.proto.dhcp.config import IfaceAddr
from provisioner.proto.dhcp6.config import Iface6
from provisioner.proto.tftp.session import TransferStats
from provisioner.settings import Settings

log = logging.getLogger("provisioner.net")


@dataclass
class WorkerContext:
    """What a role gets from its worker process."""

    settings: Settings
    core: Core
    addrs: list[IfaceAddr]
    leases: LeaseFollower  # or net/leasedb.SharedLeaseFollower (the same interface)
    index: int = 0
    before_request: Callable[[], None] = field(default=lambda: None)  # inventory refresh hook
    inventory: Any = None  # the store/cache.CachedStore behind ``core`` (its ``revision``)
    loop: Any = None  # the FastLoop of a ``fast_loop`` role (set by the worker)
    ifaces6: list[Iface6] = field(default_factory=list)  # the served interfaces' IPv6 side
    leases6: LeaseFollower | None = None  # the DHCPv6 worker's journal

    @property
    def addrs6(self) -> list[IfaceAddr]:
        """Global IPv6 addresses of the served interfaces, as TFTP/DNS listen addresses."""
        return [IfaceAddr(i.ifname, ip, plen) for i in self.ifaces6 for ip, plen in i.addrs]


@dataclass(frozen=True)
class Role:
    """``start(ctx)`` binds the role's sockets and returns something with ``close()``; it is a
    coroutine function on asyncio, or a plain function when ``fast_loop`` (then ``ctx.loop`` is
    a ``net/evloop.FastLoop``, which has only readers, timers and signals)."""

    name: str
    enabled: Callable[[Settings], bool]
    count: Callable[[Settings], int]
    start: Callable[[WorkerContext], Any]
    preflight: Callable[[Settings, list[IfaceAddr]], None] = lambda settings, addrs: None
    fast_loop: bool = False


def tftp_worker_count(settings: Settings) -> int:
    return settings.tftp_workers if settings.tftp_workers > 0 else max(1, os.cpu_count() or 1)


def tftp_preflight(settings: Settings, addrs: list[IfaceAddr]) -> None:
    """Refuse to start if anything already holds the TFTP port on a served address."""
    for a in addrs:
        probe = socket.socket(socket.AF_INET6 if ":" in a.ip else socket.AF_INET,
                              socket.SOCK_DGRAM)
        try:
            probe.bind((a.ip, settings.tftp_port))
        except OSError as exc:
            raise OSError(exc.errno, f"TFTP port {settings.tftp_port} on {a.ip} is in use "
                                     f"(another TFTP server?): {exc.strerror}") from None
        finally:
            probe.close()


async def start_dhcp_role(ctx: WorkerContext) -> Any:
    from provisioner.net.dhcp import start_dhcp

    core = ctx.core
    inventory = ctx.inventory
    reserved: Callable[[], Any] = (inventory.reserved_ips if inventory is not None else
                                   _per_revision(ctx, lambda: [ip for _, ip in core.dns_records()]))
    return await start_dhcp(ctx.settings, lookup=_lookup_per_revision(ctx, core.dhcp_lookup),
                            record_event=core.record_event,
                            reserved=reserved, reserved_ttl=0.0, addrs=ctx.addrs,
                            before_batch=ctx.before_request)


def _lookup_per_revision(ctx: WorkerContext, fn: Callable[[str], Any],
                         limit: int = 100_000) -> Callable[[str], Any]:
    """``fn(mac)`` remembered until the inventory revision moves (a client asks 2-4 times per
    lease; the codec's MACs are already canonical, so no normalising per packet)."""
    memo: dict[str, Any] = {}
    seen: list[Any] = [None]

    def lookup(mac: str) -> Any:
        rev = getattr(ctx.inventory, "revision", None)
        if rev is None or rev != seen[0] or len(memo) > limit:
            memo.clear()
            seen[0] = rev
        try:
            return memo[mac]
        except KeyError:
            value = memo[mac] = fn(mac)
            return value

    return lookup


def _per_revision(ctx: WorkerContext, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn()`` computed again only when the inventory revision moved (called per batch)."""
    memo: dict[str, Any] = {"rev": None, "value": None}

    def get() -> Any:
        rev = getattr(ctx.inventory, "revision", None)
        if rev is None or rev != memo["rev"]:
            memo["value"], memo["rev"] = fn(), rev
        return memo["value"]

    return get


async def start_dns_role(ctx: WorkerContext) -> Any:
    from provisioner.net.dns import start_dns

    followers = [f for f in (ctx.leases, ctx.leases6) if f is not None]

    def version() -> tuple[Any, ...]:
        ctx.before_request()
        return (getattr(ctx.inventory, "revision", None), *(f.version() for f in followers))

    def leases() -> list[tuple[str, str]]:
        return [r for f in followers for r in f.records()]

    return await start_dns(ctx.settings, records_fn=ctx.core.dns_records, leases_fn=leases,
                           addrs=ctx.addrs + ctx.addrs6, version_fn=version)


async def start_dhcp6_role(ctx: WorkerContext) -> Any:
    from provisioner.net.dhcp6 import start_dhcp6

    core = ctx.core
    reserved = _per_revision(ctx, lambda: [ip for _, ip in core.dns_records()])
    return await start_dhcp6(ctx.settings, lookup=_lookup_per_revision(ctx, core.dhcp_lookup),
                             lookup_duid=_lookup_per_revision(ctx, core.dhcp_lookup_duid),
                             record_event=core.record_event,
                             reserved=reserved, ifaces=ctx.ifaces6,
                             before_batch=ctx.before_request)


async def start_ra_role(ctx: WorkerContext) -> Any:
    from provisioner.net.ra import start_ra

    return await start_ra(ctx.settings, ifaces=ctx.ifaces6)


def _transfer_recorder(core: Core, peers: PeerDirectory) -> Callable[[TransferStats], None]:
    """Each finished transfer to a known system becomes a ``tftp`` timeline event (on the loop:
    the lookups are in the worker's memory and the event only queues for the supervisor)."""
    def record(stats: TransferStats) -> None:
        if stats.peer is None or stats.outcome == "aborted" and stats.bytes_sent == 0:
            return
        if stats.outcome == "error" and stats.error.startswith("file not found"):
            return  # a loader's config search: expected, and there are many
        system = peers.system_for(stats.peer[0])
        if system is None:
            return
        detail: dict[str, Any] = {"path": stats.path, "client": stats.peer[0],
                                  "outcome": stats.outcome, "bytes": stats.bytes_sent,
                                  "seconds": round(stats.duration, 3),
                                  "blksize": int(stats.options.get("blksize", 512)),
                                  "retransmits": stats.retransmits}
        if stats.error:
            detail["error"] = stats.error
        core.record_event(system_subject(system), EventKind.TFTP, detail)

    return record


class TftpRole:
    """The TFTP servers of one worker (one per served address) and their peer directory."""

    def __init__(self, servers: list[Any], peers: PeerDirectory) -> None:
        self.servers = servers
        self.peers = peers

    def close(self) -> None:
        for s in self.servers:
            s.close()


def start_tftp_role(ctx: WorkerContext) -> TftpRole:
    from provisioner.net.tftp import TftpServer

    settings, core = ctx.settings, ctx.core
    loop = ctx.loop
    peers = core.peers  # the learned MACs, the lease journal, the reservations

    def asset(name: str, which: str) -> Any:
        return asset_file(getattr(core.get_distro(name), which), name, which,
                          settings.assets_path, settings.asset_roots)

    def boot_config(kind: str, mac: str, server: str, client: str) -> str:
        return core.boot_config(kind, mac, server, client=client)

    on_done = _transfer_recorder(core, peers)
    role = TftpRole([], peers)
    mb = settings.tftp_cache_mb
    cache = PacketCache(max_bytes=mb << 20, max_file=mb << 19) if mb > 0 else None
    try:
        for a in ctx.addrs + ctx.addrs6:
            host = f"[{a.ip}]" if ":" in a.ip else a.ip
            url = (settings.public_url or f"http://{host}:{settings.http_port}").rstrip("/")
            content = TftpContent(settings.tftp_root, boot_config, url, asset=asset,
                                  on_mac=peers.learn, cache=cache)
            server = TftpServer(content.resolve, max_transfers=settings.tftp_max_transfers,
                                max_blksize=settings.tftp_max_blksize, on_transfer_done=on_done,
                                loop=loop, before_request=ctx.before_request)
            role.servers.append(server)
            server.listen(a.ip, settings.tftp_port, reuse_port=True)
            if ctx.index == 0:
                log.info("TFTP on %s port %d, root %s (configs rendered for %s)", a.ip,
                         settings.tftp_port, settings.tftp_root, url)
    except BaseException:
        role.close()
        raise
    return role


ROLES: dict[str, Role] = {
    "dhcp": Role("dhcp", lambda s: s.dhcp_enabled, lambda s: 1, start_dhcp_role),
    "dhcp6": Role("dhcp6", lambda s: s.dhcp6_enabled, lambda s: 1, start_dhcp6_role),
    "ra": Role("ra", lambda s: s.ra_enabled, lambda s: 1, start_ra_role),
    "dns": Role("dns", lambda s: s.dns_enabled, lambda s: 1, start_dns_role),
    "tftp": Role("tftp", lambda s: s.tftp_enabled, tftp_worker_count, start_tftp_role,
                 tftp_preflight, fast_loop=True),
}
