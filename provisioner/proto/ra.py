"""IPv6 router advertisements (RFC 4861 4.2, 6.2), sans-IO: the message and when to send it.

A served link needs a Router Advertisement before any IPv6 network boot: firmware (OVMF PXEv6,
iPXE) and kernels learn from it whether to ask DHCPv6 for an address (M, "managed") or only for
other configuration (O), and the prefix on the link (with the A flag, hosts also form an address
themselves: SLAAC, so an installer kernel without a DHCPv6 client still gets one). iPXE waits
about 13 s for one before it gives up on IPv6, on every boot.

:func:`build_ra` writes the ICMPv6 message (the kernel fills in the checksum of a raw ICMPv6
socket); :func:`parse_rs` accepts a Router Solicitation. :class:`RaSchedule` says when to send
(RFC 4861 6.2.4-6.2.6): right after start and then every ``interval`` seconds (the first three at
most 16 s apart), and in answer to a solicitation (at most one multicast answer per 3 s). A
router lifetime of 0 says "not a default router" (isolated labs); on shutdown one last
advertisement with lifetime 0 withdraws us (:func:`build_ra` with ``final``).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from provisioner.proto.errors import PeerError

RS, RA = 133, 134
OPT_SOURCE_LL, OPT_PREFIX, OPT_MTU, OPT_RDNSS = 1, 3, 5, 25
FLAG_MANAGED, FLAG_OTHER = 0x80, 0x40
PREFIX_ON_LINK, PREFIX_AUTONOMOUS = 0x80, 0x40
MAX_INITIAL_INTERVAL = 16.0
MAX_INITIAL_ADVERTS = 3
MIN_DELAY_BETWEEN_RAS = 3.0


@dataclass(frozen=True)
class Prefix:
    network: ipaddress.IPv6Network
    autonomous: bool = True  # hosts may form addresses in it (SLAAC)
    valid: int = 86400
    preferred: int = 14400


@dataclass(frozen=True)
class RaConfig:
    """One link's advertisement."""

    mac: str  # the interface's MAC (source link-layer address option)
    prefixes: tuple[Prefix, ...] = ()
    managed: bool = True  # M: addresses from DHCPv6
    other: bool = True  # O: other configuration (DNS, boot file) from DHCPv6
    router_lifetime: int = 1800  # seconds; 0 = not a default router
    dns: tuple[str, ...] = ()  # RDNSS (RFC 8106)
    mtu: int = 0  # 0 = no MTU option
    hop_limit: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.router_lifetime <= 9000:
            raise ValueError("router lifetime must be 0..9000 seconds (RFC 4861)")


def build_ra(cfg: RaConfig, final: bool = False) -> bytes:
    """The ICMPv6 Router Advertisement (checksum 0: the kernel computes it)."""
    flags = (FLAG_MANAGED if cfg.managed else 0) | (FLAG_OTHER if cfg.other else 0)
    lifetime = 0 if final else cfg.router_lifetime
    out = bytearray(struct.pack("!BBHBBHII", RA, 0, 0, cfg.hop_limit, flags, lifetime, 0, 0))
    mac = bytes.fromhex(cfg.mac.replace(":", ""))
    out += struct.pack("!BB", OPT_SOURCE_LL, 1) + mac
    if cfg.mtu:
        out += struct.pack("!BBHI", OPT_MTU, 1, 0, cfg.mtu)
    for p in cfg.prefixes:
        pflags = PREFIX_ON_LINK | (PREFIX_AUTONOMOUS if p.autonomous else 0)
        valid, preferred = (0, 0) if final else (p.valid, p.preferred)
        out += struct.pack("!BBBBIII", OPT_PREFIX, 4, p.network.prefixlen, pflags, valid,
                           preferred, 0) + p.network.network_address.packed
    if cfg.dns:
        life = 0 if final else max(3 * 600, cfg.router_lifetime)
        out += struct.pack("!BBHI", OPT_RDNSS, 1 + 2 * len(cfg.dns), 0, life)
        for a in cfg.dns:
            out += ipaddress.IPv6Address(a).packed
    return bytes(out)


@dataclass(frozen=True)
class Solicitation:
    source_mac: str | None  # from the source link-layer address option, if sent


def parse_rs(data: bytes) -> Solicitation:
    """A Router Solicitation, or :class:`PeerError` (RFC 4861 6.1.1 validity checks)."""
    if len(data) < 8 or data[0] != RS or data[1] != 0:
        raise PeerError("not a router solicitation")
    pos, mac = 8, None
    while pos < len(data):
        if pos + 2 > len(data) or data[pos + 1] == 0:
            raise PeerError("bad option length in router solicitation")
        kind, length = data[pos], data[pos + 1] * 8
        if pos + length > len(data):
            raise PeerError("option runs past the end of the router solicitation")
        if kind == OPT_SOURCE_LL and length == 8:
            mac = ":".join(f"{b:02x}" for b in data[pos + 2:pos + 8])
        pos += length
    return Solicitation(mac)


class RaSchedule:
    """When to send the next unsolicited advertisement, and whether to answer a solicitation."""

    def __init__(self, interval: float, now: float) -> None:
        if interval < 4:
            raise ValueError("RA interval must be at least 4 seconds "
                             "(RFC 4861 MinRtrAdvInterval 3)")
        self.interval = interval
        self.sent = 0
        self.last = -1e18
        self.next_at = now

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def on_sent(self, now: float) -> None:
        self.sent += 1
        self.last = now
        step = self.interval
        if self.sent <= MAX_INITIAL_ADVERTS:
            step = min(step, MAX_INITIAL_INTERVAL)
        self.next_at = now + step

    def on_solicit(self, now: float) -> float:
        """When to answer a solicitation received ``now`` (RFC 4861 6.2.6: not sooner than 3 s
        after the last multicast advertisement); moves the next send there."""
        at = max(now, self.last + MIN_DELAY_BETWEEN_RAS)
        self.next_at = min(self.next_at, at)
        return at
