"""The DHCPv6 server's policy, sans-IO: ``Dhcp6Core.handle(data, meta, now) -> Reply6 | None``.

RFC 8415 server side: Solicit -> Advertise (or Reply with Rapid Commit, RFC 8415 18.3.1),
Request -> Reply, Renew/Rebind -> Reply (extended, NoBinding, or zero lifetimes for addresses
not on the link), Release/Decline -> Reply, Confirm -> Reply (Success / NotOnLink),
Information-Request -> Reply without addresses. IA_NA only: an IA_TA or IA_PD is answered with
NoAddrsAvail / NoPrefixAvail. A Request/Renew/Release/Decline that reached us by unicast (no
Server Unicast option is ever sent) gets UseMulticast.

Relays (Relay-Forward 12): the message is unwrapped (at most :data:`MAX_HOPS` levels); the link
is the innermost relay's link-address; the reply goes back wrapped in Relay-Reply messages
(each echoing its Interface-Id) to the relay that sent it, on port 547.

Who the client is: its DUID (option 1). Its MAC (for reservations by MAC, the boot decision and
the per-MAC configs) comes from :mod:`.options` (relay link-layer option, DUID-LL/LLT, EUI-64
link-local). The inventory is asked by DUID first, then by MAC. A reserved address (the
record's ``ipv6``) is given to its system only and never from the pool.

Boot (RFC 5970): the vendor class (option 16), user class (15) and architecture (61) go through
the same :func:`provisioner.boot.decide.choose_boot` as DHCPv4; the boot file goes out as a URL
in option 59 (``tftp://[addr]/...`` or ``http://...``), ``HTTPClient`` is echoed in option 16 for
UEFI HTTP boot, and a system's ``boot_params`` go in option 60.

Bindings live in the DHCPv4 :class:`LeaseTable` keyed by DUID/IAID (:mod:`.leases`); a reply that
bound or released anything has ``commit`` set, and the transport sends it only after the
journal write (crash-safe like DHCPv4). Bad input never raises: the datagram is dropped and
:attr:`Dhcp6Core.last_drop` says why.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

from provisioner.boot.decide import BootChoice, BootConfig, ClientInfo, boot_url, choose_boot
from provisioner.models import DhcpRecord, EventKind, system_subject
from provisioner.proto.dhcp.leases import LeaseTable
from provisioner.proto.dhcp.messages import (
    BootSettings,
    boot_config,
    machine_of,
    missing_event,
    secure_boot_of,
)
from provisioner.proto.dhcp6 import codec
from provisioner.proto.dhcp6 import options as o
from provisioner.proto.dhcp6.bindings import CLIENT_PORT, Bindings, Ctx, Meta6, ias, refusals
from provisioner.proto.dhcp6.codec import Message, RelayMessage
from provisioner.proto.dhcp6.config import Subnet6
from provisioner.proto.dhcp6.leases import client_key
from provisioner.proto.errors import PeerError

# the values callers build and read come with the core (net/dhcp6.py, tests)
__all__ = ["CLIENT_PORT", "SERVER_PORT", "Dhcp6Core", "Meta6", "Params6", "Reply6"]

log = logging.getLogger("provisioner.dhcp6")

SERVER_PORT = 547
MAX_HOPS = 32  # RFC 8415 HOP_COUNT_LIMIT
Lookup = Callable[[str], DhcpRecord | None]
RecordEvent = Callable[[str, str, dict[str, Any]], None]
OptionList = list[tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class Reply6:
    data: bytes
    dest_ip: str
    dest_port: int
    ifname: str | None
    commit: bool = False  # send only after the lease journal is written
    message: Message | None = None  # the (innermost) reply, for tests and logs


@dataclass(frozen=True)
class Params6:
    """Appliance-wide DHCPv6 settings."""

    server_duid: bytes
    rapid_commit: bool = True
    preference: int = 255  # Advertise preference: 255 = "take this one now" (RFC 8415 18.2.9)
    dns: bool = False  # offer our address as DNS server (option 23)
    domain: str | None = None
    boot: BootSettings = field(default_factory=BootSettings)


def _v6(n: int) -> str:
    return str(ipaddress.IPv6Address(n))


class Dhcp6Core:
    """The DHCPv6 policy for all served links; one per server. See the module docstring."""

    def __init__(self, subnets: list[Subnet6], leases: LeaseTable, params: Params6,
                 lookup: Lookup, lookup_duid: Lookup | None = None, *,
                 reserved: Callable[[], Container[int]] = frozenset,
                 record_event: RecordEvent | None = None) -> None:
        self.subnets = subnets
        self.leases = leases
        self.params = params
        self.lookup = lookup
        self.lookup_duid = lookup_duid or (lambda duid: None)
        self.reserved = reserved
        self.record_event = record_event or (lambda subject, kind, detail: None)
        self.last_drop = ""
        self._boot_cfg: dict[str, BootConfig] = {}
        self._link_opts: dict[str, list[tuple[int, bytes]]] = {}
        self._by_if: dict[str | None, Subnet6 | None] = {}
        self.bindings = Bindings(leases, {int(ipaddress.IPv6Address(s.server_ip))
                                          for s in subnets}, reserved)
        self._dispatch: dict[int, Callable[[Ctx], Message | None]] = {
            codec.SOLICIT: self._solicit, codec.REQUEST: self._request,
            codec.RENEW: self._renew, codec.REBIND: self._rebind,
            codec.RELEASE: self._release, codec.DECLINE: self._decline,
            codec.CONFIRM: self._confirm, codec.INFORMATION_REQUEST: self._info}

    # --- entry point ------------------------------------------------------------------------

    def handle(self, data: bytes, meta: Meta6, now: float) -> Reply6 | None:
        """One request datagram in, at most one reply out; never raises for bad input."""
        try:
            msg, relays = self._unwrap(codec.decode(data))
            handler = self._dispatch.get(msg.msg_type)
            if handler is None:
                self._drop(f"message type {msg.msg_type} is not served")
                return None
            ctx = Ctx(msg, relays, meta, now)
            self._identify(ctx)
            reply = handler(ctx)
        except PeerError as exc:
            self._drop(f"malformed: {exc}")
            return None
        if reply is None:
            return None
        return self._send(ctx, reply)

    def _drop(self, why: str) -> None:
        self.last_drop = why

    def _unwrap(self, msg: Message | RelayMessage) -> tuple[Message, list[RelayMessage]]:
        relays: list[RelayMessage] = []
        while isinstance(msg, RelayMessage):
            if msg.msg_type != codec.RELAY_FORW:
                raise PeerError("a Relay-Reply sent to the server")
            if msg.hop_count > MAX_HOPS or len(relays) >= MAX_HOPS:
                raise PeerError(f"relayed through more than {MAX_HOPS} hops")
            inner = msg.get(o.RELAY_MSG)
            if inner is None:
                raise PeerError("Relay-Forward without a Relay Message option")
            relays.append(msg)
            msg = codec.decode(inner)
        if msg.msg_type in (codec.ADVERTISE, codec.REPLY, codec.RECONFIGURE):
            raise PeerError(f"server message type {msg.msg_type} sent to the server")
        return msg, relays

    def _send(self, ctx: Ctx, reply: Message) -> Reply6:
        data = reply.encode()
        for relay in reversed(ctx.relays):
            opts = [(c, v) for c, v in relay.options if c == o.INTERFACE_ID]
            opts.append((o.RELAY_MSG, data))
            data = RelayMessage(codec.RELAY_REPL, relay.hop_count, relay.link_address,
                                relay.peer_address, tuple(opts)).encode()
        if ctx.relays:
            return Reply6(data, ctx.meta.src_ip, SERVER_PORT, ctx.meta.ifname, ctx.commit, reply)
        return Reply6(data, ctx.meta.src_ip, ctx.meta.src_port, ctx.meta.ifname, ctx.commit,
                      reply)

    # --- who and where ----------------------------------------------------------------------

    def _identify(self, ctx: Ctx) -> None:
        duid = ctx.msg.get(o.CLIENTID)
        if duid is not None:
            ctx.duid = o.check_duid(duid, "client identifier")
        ctx.subnet = self._subnet(ctx)
        inner = ctx.relays[-1] if ctx.relays else None
        peer = inner.peer_address if inner else _packed(ctx.meta.src_ip)
        ctx.mac = (o.linklayer_mac(inner.get(o.CLIENT_LINKLAYER) if inner else None)
                   or o.duid_mac(ctx.duid) or o.eui64_mac(peer) or "")
        record = self.lookup_duid(ctx.duid.hex()) if ctx.duid else None
        ctx.record = record or (self.lookup(ctx.mac) if ctx.mac else None)

    def _subnet(self, ctx: Ctx) -> Subnet6 | None:
        if ctx.relays:  # the relay closest to the client names the link by a global address
            link = ctx.relays[-1].link_address
            n = int.from_bytes(link, "big")
            if n and link[:2] != b"\xfe\x80":
                return next((s for s in self.subnets if s.contains(n)), None)
            # unspecified or link-local: a relay on the link we received it on (as Kea does)
        ifname = ctx.meta.ifname
        if ifname not in self._by_if:
            local = [s for s in self.subnets if s.ifname == ifname]
            self._by_if[ifname] = next((s for s in local if s.ranges),
                                       local[0] if local else None)
        return self._by_if[ifname]

    # --- building replies -------------------------------------------------------------------

    def _reply(self, ctx: Ctx, kind: int, body: list[tuple[int, bytes]],
               boot: bool = True) -> Message:
        opts: list[tuple[int, bytes]] = []
        if ctx.duid:
            opts.append((o.CLIENTID, ctx.duid))
        opts.append((o.SERVERID, self.params.server_duid))
        opts += body
        subnet = ctx.subnet
        if subnet is not None:
            opts += self._link_options(subnet)
            if boot and ctx.msg.get(o.VENDOR_CLASS) is not None:  # else not firmware: no boot
                opts += self._boot_options(ctx, subnet)
        return Message(kind, ctx.msg.txid, tuple(opts))

    def _link_options(self, subnet: Subnet6) -> list[tuple[int, bytes]]:
        """DNS server (our address on the link) and search domain: the same for every reply."""
        opts = self._link_opts.get(subnet.server_ip)
        if opts is None:
            opts = self._link_opts[subnet.server_ip] = []
            if self.params.dns:
                opts.append((o.DNS_SERVERS, ipaddress.IPv6Address(subnet.server_ip).packed))
            if self.params.domain:
                opts.append((o.DOMAIN_LIST, o.domain_list([self.params.domain])))
        return opts

    def _boot_options(self, ctx: Ctx, subnet: Subnet6) -> list[tuple[int, bytes]]:
        choice = self._boot(ctx, subnet)
        url = boot_url(choice, self._cfg(subnet))
        if url is None:
            return []
        out = [(o.BOOTFILE_URL, url.encode())]
        params = ctx.record.boot_params if ctx.record else ()
        if params:
            out.append((o.BOOTFILE_PARAM, b"".join(
                len(p.encode()).to_bytes(2, "big") + p.encode() for p in params)))
        if choice.vendor_class == "HTTPClient":
            out.append((o.VENDOR_CLASS, o.build_vendor_class("HTTPClient")))
        return out

    def _cfg(self, subnet: Subnet6) -> BootConfig:
        return boot_config(self._boot_cfg, self.params.boot, subnet.server_ip)

    def _boot(self, ctx: Ctx, subnet: Subnet6) -> BootChoice:
        _, vendor = o.vendor_class(ctx.msg.get(o.VENDOR_CLASS))
        text = vendor[0] if vendor else ""
        if not text.startswith(("PXEClient", "HTTPClient")):
            return BootChoice(reason="not netboot firmware")
        info = ClientInfo(mac=ctx.record.mac if ctx.record else ctx.mac, vendor_class=text,
                          arch=o.client_arch(ctx.msg.get(o.CLIENT_ARCH)),
                          user_classes=o.user_classes(ctx.msg.get(o.USER_CLASS)),
                          relayed=bool(ctx.relays))
        choice = choose_boot(info, self._cfg(subnet), machine=machine_of(ctx.record),
                             secure_boot=secure_boot_of(ctx.record))
        if ctx.msg.msg_type == codec.SOLICIT:
            missing_event(ctx.record, info, choice, self.record_event)
        return choice

    def _event(self, ctx: Ctx, kind: str, addrs: list[int]) -> None:
        if ctx.record is not None:
            self.record_event(system_subject(ctx.record.system), kind,
                              {"mac": ctx.mac, "duid": ctx.duid.hex(),
                               "ip": [_v6(a) for a in addrs]})

    # --- message handlers -------------------------------------------------------------------

    def _need(self, ctx: Ctx, server_id: bool) -> Subnet6 | None:
        """Common checks; the link's subnet, or None (dropped, with the reason)."""
        if not ctx.duid:
            self._drop(f"{codec.NAMES[ctx.msg.msg_type]} without a client identifier")
            return None
        sid = ctx.msg.get(o.SERVERID)
        if server_id and sid != self.params.server_duid:
            self._drop("for another server" if sid else "no server identifier")
            return None
        if not server_id and sid is not None:
            self._drop("server identifier where none is allowed")
            return None
        if ctx.subnet is None:
            self._drop("no served link for this request")
            return None
        return ctx.subnet

    def _unicast(self, ctx: Ctx) -> Message | None:
        if ctx.meta.multicast or ctx.relays:
            return None
        return self._reply(ctx, codec.REPLY, [o.status(o.USE_MULTICAST, "use multicast")], False)

    def _solicit(self, ctx: Ctx) -> Message | None:
        subnet = self._need(ctx, server_id=False)
        if subnet is None:
            return None
        rapid = self.params.rapid_commit and ctx.msg.get(o.RAPID_COMMIT) is not None
        body, given = self.bindings.assign(ctx, subnet, bind=rapid)
        if rapid:
            self._event(ctx, EventKind.DHCP6_REPLY, given)
            return self._reply(ctx, codec.REPLY, [(o.RAPID_COMMIT, b""), *body])
        self._event(ctx, EventKind.DHCP6_ADVERTISE, given)
        return self._reply(ctx, codec.ADVERTISE,
                           [(o.PREFERENCE, bytes((self.params.preference,))), *body])

    def _request(self, ctx: Ctx) -> Message | None:
        subnet = self._need(ctx, server_id=True)
        if subnet is None:
            return None
        refused = self._unicast(ctx)
        if refused is not None:
            return refused
        body, given = self.bindings.assign(ctx, subnet, bind=True)
        self._event(ctx, EventKind.DHCP6_REPLY, given)
        return self._reply(ctx, codec.REPLY, body)

    def _extend(self, ctx: Ctx, subnet: Subnet6, rebind: bool) -> Message | None:
        body, given = self.bindings.extend(ctx, subnet, rebind)
        if rebind and not given and not any(ia.addresses for ia in ias(ctx)):
            self._drop("Rebind without addresses we know")
            return None
        self._event(ctx, EventKind.DHCP6_REPLY, given)
        return self._reply(ctx, codec.REPLY, body + refusals(ctx))

    def _renew(self, ctx: Ctx) -> Message | None:
        subnet = self._need(ctx, server_id=True)
        if subnet is None:
            return None
        return self._unicast(ctx) or self._extend(ctx, subnet, rebind=False)

    def _rebind(self, ctx: Ctx) -> Message | None:
        subnet = self._need(ctx, server_id=False)
        if subnet is None:
            return None
        return self._extend(ctx, subnet, rebind=True)

    def _release(self, ctx: Ctx) -> Message | None:
        subnet = self._need(ctx, server_id=True)
        if subnet is None:
            return None
        refused = self._unicast(ctx)
        if refused is not None:
            return refused
        for ia in ias(ctx):
            for a in ia.addresses:
                if self.leases.release(a.address, client_key(ctx.duid, ia.iaid, ctx.mac), ctx.now):
                    ctx.commit = True
        return self._reply(ctx, codec.REPLY, [o.status(o.SUCCESS, "released")], False)

    def _decline(self, ctx: Ctx) -> Message | None:
        subnet = self._need(ctx, server_id=True)
        if subnet is None:
            return None
        refused = self._unicast(ctx)
        if refused is not None:
            return refused
        for ia in ias(ctx):
            for a in ia.addresses:
                if subnet.in_pool(a.address):
                    log.warning("DHCPv6 Decline from %s for %s: quarantined", ctx.duid.hex(),
                                _v6(a.address))
                    self.leases.decline(a.address, client_key(ctx.duid, ia.iaid, ctx.mac), ctx.now)
                    ctx.commit = True
        return self._reply(ctx, codec.REPLY, [o.status(o.SUCCESS, "declined")], False)

    def _confirm(self, ctx: Ctx) -> Message | None:
        subnet = self._need(ctx, server_id=False)
        if subnet is None:
            return None
        addrs = [a.address for ia in ias(ctx) for a in ia.addresses]
        if not addrs:
            self._drop("Confirm without addresses")
            return None
        ok = all(subnet.contains(a) for a in addrs)
        return self._reply(ctx, codec.REPLY, [o.status(o.SUCCESS, "on link") if ok else
                                              o.status(o.NOT_ON_LINK, "not on this link")], False)

    def _info(self, ctx: Ctx) -> Message | None:
        sid = ctx.msg.get(o.SERVERID)
        if sid is not None and sid != self.params.server_duid:
            self._drop("Information-Request for another server")
            return None
        if ctx.msg.get(o.IA_NA) is not None or ctx.msg.get(o.IA_TA) is not None:
            self._drop("Information-Request with an IA")
            return None
        if ctx.subnet is None:
            self._drop("no served link for this request")
            return None
        return self._reply(ctx, codec.REPLY, [])


@functools.lru_cache(maxsize=4096)
def _packed(text: str) -> bytes:
    try:
        return ipaddress.IPv6Address(text.split("%", 1)[0]).packed
    except ValueError:
        return bytes(16)
