"""DHCPv6 addresses for IA_NAs: reservations, the pool, offers, bindings, renewals. Pure.

Part of the server policy of :mod:`.core` (which builds the messages around these options): one
:class:`Ctx` per request says who asks (DUID, MAC, inventory record) and on which link;
:class:`Bindings` answers each IA_NA with an address (the system's reserved one for its first IA,
else the address it asks for if free, else the next free one of the link's pool) and records
offers and bindings in the lease table (``ctx.commit`` when something must be on disk before the
reply leaves). IA_TA and IA_PD are refused with a status, not served.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Container
from dataclasses import dataclass

from provisioner.models import DhcpRecord
from provisioner.proto.dhcp.leases import LeaseTable
from provisioner.proto.dhcp6 import codec
from provisioner.proto.dhcp6 import options as o
from provisioner.proto.dhcp6.codec import Message, RelayMessage
from provisioner.proto.dhcp6.config import INFINITE, Subnet6
from provisioner.proto.dhcp6.leases import client_key

OptionList = list[tuple[int, bytes]]
CLIENT_PORT = 546


@dataclass(frozen=True, slots=True)
class Meta6:
    """Where a datagram came from: filled in by the transport."""

    ifname: str | None
    src_ip: str  # the client's (link-local) or the relay's address, without a %scope
    src_port: int = CLIENT_PORT
    multicast: bool = True  # sent to All_DHCP_Relay_Agents_and_Servers (else unicast to us)




@dataclass
class Ctx:
    """One request being answered."""

    msg: Message
    relays: list[RelayMessage]
    meta: Meta6
    now: float
    duid: bytes = b""
    mac: str = ""
    subnet: Subnet6 | None = None
    record: DhcpRecord | None = None
    commit: bool = False
    parsed: list[o.IaNa] | None = None  # the IA_NAs, parsed once


def times(subnet: Subnet6) -> tuple[int, int, int, int]:
    """``(t1, t2, preferred, valid)`` for the link's lease time."""
    valid = subnet.lease
    if valid >= INFINITE:
        return INFINITE, INFINITE, INFINITE, INFINITE
    return valid // 2, valid * 4 // 5, valid, valid


def ias(ctx: Ctx) -> list[o.IaNa]:
    if ctx.parsed is None:
        ctx.parsed = [o.parse_ia_na(v) for v in ctx.msg.all(o.IA_NA)]
    return ctx.parsed


def refusals(ctx: Ctx) -> OptionList:
    """IA_TA / IA_PD answered with a status (not served)."""
    out: OptionList = []
    if not any(c in (o.IA_TA, o.IA_PD) for c, _ in ctx.msg.options):
        return out
    for v in ctx.msg.all(o.IA_TA):
        out.append((o.IA_TA, o.iaid_of(v).to_bytes(4, "big") + codec.encode_options(
            [o.status(o.NO_ADDRS_AVAIL, "temporary addresses are not served")])))
    for v in ctx.msg.all(o.IA_PD):
        out.append((o.IA_PD, o.iaid_of(v).to_bytes(4, "big") + bytes(8) + codec.encode_options(
            [o.status(o.NO_PREFIX_AVAIL, "prefix delegation is not served")])))
    return out


def hostname(ctx: Ctx) -> str | None:
    host = o.fqdn_host(ctx.msg.get(o.CLIENT_FQDN))
    if host is None and ctx.record is not None and ctx.record.hostname:
        host = ctx.record.hostname.split(".")[0]
    return host


class Bindings:
    """Addresses of the served links, over the lease table."""

    def __init__(self, leases: LeaseTable, servers: Container[int],
                 reserved: Callable[[], Container[int]]) -> None:
        self.leases, self.servers, self.reserved = leases, servers, reserved

    def reservation(self, ctx: Ctx, subnet: Subnet6) -> int | None:
        rec = ctx.record
        if rec is None or not rec.ipv6:
            return None
        ip = int(ipaddress.IPv6Address(rec.ipv6))
        return ip if subnet.contains(ip) else None

    def excluded(self) -> Callable[[int], bool]:
        reserved, servers = self.reserved(), self.servers
        return lambda ip: ip in servers or ip in reserved

    def may_have(self, ctx: Ctx, subnet: Subnet6, ip: int, key: str) -> bool:
        fixed = self.reservation(ctx, subnet)
        if fixed is not None:
            return ip == fixed
        return (subnet.in_pool(ip) and self.leases.free_for(ip, key, ctx.now)
                and not self.excluded()(ip))

    def pick(self, ctx: Ctx, subnet: Subnet6, ia: o.IaNa, first: bool) -> int | None:
        key = client_key(ctx.duid, ia.iaid, ctx.mac)
        fixed = self.reservation(ctx, subnet)
        if fixed is not None and first:
            return fixed
        hint = next((a.address for a in ia.addresses
                     if self.may_have(ctx, subnet, a.address, key)), None)
        return self.leases.allocate(subnet, key, ctx.now, hint, self.excluded())

    def assign(self, ctx: Ctx, subnet: Subnet6, bind: bool) -> tuple[OptionList, list[int]]:
        """IA_NA options with an address each (offered, or bound when ``bind``)."""
        t1, t2, pref, valid = times(subnet)
        out, given = [], []
        for n, ia in enumerate(ias(ctx)):
            ip = self.pick(ctx, subnet, ia, n == 0)
            if ip is None:
                out.append((o.IA_NA, o.build_ia_na(ia.iaid, 0, 0, [], o.NO_ADDRS_AVAIL,
                                                   "no addresses available")))
                continue
            key = client_key(ctx.duid, ia.iaid, ctx.mac)
            if bind:
                self.leases.bind(ip, key, ctx.now, valid, hostname(ctx))
                ctx.commit = True
            else:
                self.leases.offer(ip, key, ctx.now, hostname(ctx))
            given.append(ip)
            out.append((o.IA_NA, o.build_ia_na(ia.iaid, t1, t2, [o.IaAddress(ip, pref, valid)])))
        return out + refusals(ctx), given

    def extend(self, ctx: Ctx, subnet: Subnet6, rebind: bool) -> tuple[OptionList, list[int]]:
        """Renew/Rebind: extend the addresses the client may keep; NoBinding, or (Rebind)
        zero lifetimes for addresses not on this link."""
        t1, t2, pref, valid = times(subnet)
        body: OptionList = []
        given: list[int] = []
        for ia in ias(ctx):
            key = client_key(ctx.duid, ia.iaid, ctx.mac)
            keep = [a.address for a in ia.addresses if subnet.contains(a.address)
                    and self.may_have(ctx, subnet, a.address, key)]
            gone = [o.IaAddress(a.address, 0, 0) for a in ia.addresses if a.address not in keep]
            if not keep and not (rebind and gone):
                body.append((o.IA_NA, o.build_ia_na(ia.iaid, 0, 0, [], o.NO_BINDING,
                                                    "no binding for this IA")))
                continue
            for ip in keep:
                self.leases.bind(ip, key, ctx.now, valid, hostname(ctx))
                ctx.commit = True
            given += keep
            body.append((o.IA_NA, o.build_ia_na(
                ia.iaid, t1, t2, [o.IaAddress(ip, pref, valid) for ip in keep] + gone)))
        return body, given
