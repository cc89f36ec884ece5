"""Router advertisements on the served interfaces: a raw ICMPv6 socket each, the sans-IO core.

``await start_ra(settings)`` sends an advertisement (:mod:`provisioner.proto.ra`) to all nodes
(``ff02::1``) on every served interface at once and then on the schedule, answers Router
Solicitations (joined to all-routers ``ff02::2``, ICMPv6 filter: solicitations only), and on
``close()`` sends a last one with router lifetime 0 and prefix lifetimes 0. Neighbour Discovery
requires hop limit 255 on send; the kernel fills in the checksum.

Per interface: the prefixes of its global addresses (``/64`` or whatever is configured on it),
M/O from ``ra_managed``/``ra_other``, A (SLAAC) from ``ra_autonomous``, the router lifetime from
``ra_router_lifetime`` (0: "not a default router", for isolated labs), our address as RDNSS when
DNS is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Callable

from provisioner.net.ifaces import ifindex
from provisioner.net.ifaces6 import served_ifaces6
from provisioner.proto.dhcp6.config import Iface6
from provisioner.proto.errors import PeerError
from provisioner.proto.ra import RS, Prefix, RaConfig, RaSchedule, build_ra, parse_rs
from provisioner.settings import Settings

log = logging.getLogger("provisioner.ra")
ALL_NODES, ALL_ROUTERS = "ff02::1", "ff02::2"
ICMP6_FILTER = 1
TICK = 1.0


def ra_config(settings: Settings, iface: Iface6) -> RaConfig:
    """What one link hears (pure). M/O point hosts at DHCPv6, so they are set only when this
    appliance serves it (else iPXE and other clients wait for a DHCPv6 answer nobody sends);
    a link without a global address gets router lifetime 0 (no prefix to route for, so never
    anyone's default router). On an IPv4-only provisioning link that leaves a bare "no router,
    no DHCPv6" advertisement: iPXE's IPv6 autoconfiguration completes at once instead of
    waiting ~13 s for a router before it chains (README, "Router advertisements")."""
    prefixes = tuple(dict.fromkeys(
        Prefix(ipaddress.IPv6Network(f"{ip}/{plen}", strict=False), settings.ra_autonomous)
        for ip, plen in iface.addrs))
    dns = (iface.addrs[0][0],) if settings.dns_enabled and iface.addrs else ()
    dhcp6 = settings.dhcp6_enabled
    return RaConfig(iface.mac, prefixes, settings.ra_managed and dhcp6,
                    settings.ra_other and dhcp6,
                    settings.ra_router_lifetime if prefixes else 0, dns)


def _filter_only(kind: int) -> bytes:
    """struct icmp6_filter that passes only ICMPv6 type ``kind`` (a set bit blocks a type)."""
    words = [0xFFFFFFFF] * 8
    words[kind >> 5] &= ~(1 << (kind & 31))
    return struct.pack("=8I", *words)


class _Link:
    def __init__(self, iface: Iface6, cfg: RaConfig, interval: float, now: float) -> None:
        self.iface, self.cfg = iface, cfg
        self.index = ifindex(iface.ifname)
        self.schedule = RaSchedule(interval, now)
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        try:
            s = self.sock
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.ifname.encode())
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.index)
            s.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, _filter_only(RS))
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                         socket.inet_pton(socket.AF_INET6, ALL_ROUTERS)
                         + struct.pack("=I", self.index))
            s.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    def send(self, final: bool = False) -> bool:
        try:
            self.sock.sendto(build_ra(self.cfg, final), (ALL_NODES, 0, 0, self.index))
            return True
        except OSError as exc:
            log.warning("router advertisement on %s failed: %s", self.iface.ifname, exc)
            return False


class RaSender:
    """Running advertisements; create with :func:`start_ra`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, links: list[_Link],
                 clock: Callable[[], float]) -> None:
        self.loop, self.links, self.clock = loop, links, clock
        self.stats = {"sent": 0, "solicitations": 0}
        for link in links:
            loop.add_reader(link.sock.fileno(), self._readable, link)
        self._timer = loop.call_soon(self._tick)

    def _readable(self, link: _Link) -> None:
        for _ in range(64):
            try:
                data, peer = link.sock.recvfrom(1500)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            try:
                parse_rs(data)
            except PeerError as exc:
                log.debug("ignored ICMPv6 from %s: %s", peer[0], exc)
                continue
            self.stats["solicitations"] += 1
            link.schedule.on_solicit(self.clock())
            self._timer.cancel()
            self._timer = self.loop.call_soon(self._tick)

    def _tick(self) -> None:
        now = self.clock()
        for link in self.links:
            if link.schedule.due(now) and link.send():
                self.stats["sent"] += 1
                link.schedule.on_sent(now)
        wait = min((max(0.05, link.schedule.next_at - now) for link in self.links), default=TICK)
        self._timer = self.loop.call_later(min(wait, 60.0), self._tick)

    def close(self) -> None:
        self._timer.cancel()
        for link in self.links:
            link.send(final=True)  # withdraw: router lifetime 0, prefixes expire
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(link.sock.fileno())
            link.sock.close()
        self.links.clear()


async def start_ra(settings: Settings, ifaces: list[Iface6] | None = None,
                   clock: Callable[[], float] = time.monotonic) -> RaSender:
    """Advertise on ``settings.interfaces`` (see the module docstring)."""
    if ifaces is None:
        ifaces = await asyncio.to_thread(served_ifaces6, settings.interfaces)
    now = clock()
    links: list[_Link] = []
    try:
        for iface in ifaces:
            links.append(_Link(iface, ra_config(settings, iface), settings.ra_interval, now))
    except BaseException:
        for link in links:
            link.sock.close()
        raise
    log.info("router advertisements on %s (M=%d O=%d, router lifetime %ds)",
             ", ".join(i.ifname for i in ifaces), settings.ra_managed, settings.ra_other,
             settings.ra_router_lifetime)
    return RaSender(asyncio.get_running_loop(), links, clock)
