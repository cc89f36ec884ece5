"""DHCPv6 configuration, parsed into values (pure; interface addresses come from the transport).

Range syntax (after dnsmasq's IPv6 ``dhcp-range``): ``start,end[,prefix-len][,lease]``, e.g.
``fd00:92::100,fd00:92::1ff,64,12h``; lease as for DHCPv4 (``12h``, ``3600``, ``infinite``...).
A bare number up to 128 in the third place is the prefix length (write ``120s`` for a lease).
Without a prefix length the range belongs to the served interface prefix that contains it; a
range on no served prefix (a relayed link) needs one.

:func:`build_subnets` joins the served interfaces' global IPv6 addresses with the ranges into
:class:`Subnet6` values. A subnet offers the same pool interface as the DHCPv4 one
(``ranges`` with ``start``/``end``/``size``, ``in_pool``, ``contains``), so the lease table of
:mod:`provisioner.proto.dhcp.leases` allocates IPv6 addresses unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from provisioner.proto.dhcp.config import DEFAULT_LEASE, INFINITE, ConfigError, parse_lease_time

__all__ = ["ConfigError", "INFINITE", "Range6", "Subnet6", "Iface6", "parse_range", "build_subnets"]


@dataclass(frozen=True)
class Range6:
    """Inclusive ``start``..``end`` (128-bit ints), optional prefix length, lease seconds."""

    start: int
    end: int
    prefixlen: int | None = None
    lease: int = DEFAULT_LEASE

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def __contains__(self, ip: int) -> bool:
        return self.start <= ip <= self.end


def _ip(text: str, what: str) -> int:
    try:
        return int(ipaddress.IPv6Address(text.strip()))
    except ValueError:
        raise ConfigError(f"bad {what} {text!r}") from None


def parse_range(text: str) -> Range6:
    """``fd00::100,fd00::1ff,64,12h`` -> a 256-address :class:`Range6`."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not 2 <= len(parts) <= 4:
        raise ConfigError(f"bad dhcp6 range {text!r}: want start,end[,prefix-len][,lease]")
    start, end = _ip(parts[0], "range start"), _ip(parts[1], "range end")
    if end < start:
        raise ConfigError(f"bad dhcp6 range {text!r}: end before start")
    rest, prefixlen, lease = parts[2:], None, DEFAULT_LEASE
    if rest and rest[0].isdigit() and int(rest[0]) <= 128:  # a bare number <= 128: prefix
        prefixlen = int(rest.pop(0))
        if start >> (128 - prefixlen) != end >> (128 - prefixlen):
            raise ConfigError(f"bad dhcp6 range {text!r}: start and end in different /{prefixlen}")
    if rest:
        lease = parse_lease_time(rest.pop(0))
    if rest:
        raise ConfigError(f"bad dhcp6 range {text!r}")
    return Range6(start, end, prefixlen, lease)


@dataclass(frozen=True)
class Iface6:
    """A served interface: name, MAC, link-local and global addresses (from pyroute2)."""

    ifname: str
    mac: str
    link_local: str
    addrs: tuple[tuple[str, int], ...]  # (global address, prefix length)


@dataclass(frozen=True)
class Subnet6:
    """One served IPv6 link: prefix, our address on it, pool ranges."""

    network: ipaddress.IPv6Network
    server_ip: str  # our global address on this link (boot URLs, DNS server option)
    ifname: str | None  # None for a relayed-only link
    ranges: tuple[Range6, ...] = ()

    @property
    def lease(self) -> int:
        return self.ranges[0].lease if self.ranges else DEFAULT_LEASE

    def in_pool(self, ip: int) -> bool:
        return any(r.start <= ip <= r.end for r in self.ranges)

    def contains(self, ip: int) -> bool:
        net = self.network
        return int(net.network_address) <= ip <= int(net.broadcast_address)


def build_subnets(ifaces: Sequence[Iface6], ranges: Iterable[str]) -> list[Subnet6]:
    """Each range joins the served prefix containing it; others need a prefix length (relayed
    links, served through the first interface's address)."""
    subnets: dict[ipaddress.IPv6Network, tuple[str | None, str, list[Range6]]] = {}
    for iface in ifaces:
        for ip, plen in iface.addrs:
            subnets.setdefault(ipaddress.IPv6Network(f"{ip}/{plen}", strict=False),
                               (iface.ifname, ip, []))
    first = next((ip for i in ifaces for ip, _ in i.addrs), None)
    for r in (parse_range(t) for t in ranges):
        home = next((n for n in subnets if int(n.network_address) <= r.start
                     and r.end <= int(n.broadcast_address)), None)
        if home is None:
            if r.prefixlen is None:
                raise ConfigError(f"dhcp6 range {ipaddress.IPv6Address(r.start)}-"
                                  f"{ipaddress.IPv6Address(r.end)} is on no served prefix; give "
                                  "a prefix length for a relayed link")
            if first is None:
                raise ConfigError("no served interface address for a relayed IPv6 link")
            home = ipaddress.IPv6Network(f"{ipaddress.IPv6Address(r.start)}/{r.prefixlen}",
                                         strict=False)
            subnets.setdefault(home, (None, first, []))
        subnets[home][2].append(r)
    return [Subnet6(net, ip, ifname, tuple(rs)) for net, (ifname, ip, rs) in subnets.items()]
