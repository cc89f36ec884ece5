"""The DHCP server's policy, sans-IO: ``DhcpCore.handle(data, meta, now) -> Reply | None``.

Full mode (RFC 2131): DISCOVER -> OFFER, REQUEST -> ACK/NAK (selecting, init-reboot, renewing,
rebinding), DECLINE quarantines, RELEASE frees, INFORM -> ACK without a lease. proxyDHCP mode
(PXE spec): only network-boot firmware is answered, on port 67 with an OFFER that carries no
address, and on port 4011 with an ACK; both carry the boot information only. Port 4011 is also
answered in full mode (firmware that asks there after its normal exchange).

Where a reply goes (RFC 2131 4.1), computed here and executed by the transport: relayed
(``giaddr``) -> the relay, port 67, keeping option 82; ``ciaddr`` set -> unicast to it; NAK or
broadcast flag -> 255.255.255.255; otherwise unicast to ``yiaddr`` at ``chaddr`` (the transport
installs a neighbour entry first, since the client cannot answer ARP yet).

Inputs are injected: ``lookup(mac) -> DhcpRecord | None`` (the inventory, live per packet),
``reserved() -> Container[int]`` (addresses reserved for systems: never in the pool) and
``record_event(subject, kind, detail)`` (timeline). Lease changes accumulate in the
:class:`LeaseTable`; the transport persists them before sending the batch's replies. A packet we
cannot parse or do not serve gives ``None`` (silent drop) and a reason in
:attr:`DhcpCore.last_drop`.

Degraded (:attr:`DhcpCore.degraded`, set by the transport while a shared lease database is
unreachable): nothing that would need a new claim is answered. A reserved system gets its
reservation (the inventory, not the lease database, owns that address); a client whose lease the
table holds, bound and unexpired, is offered and acknowledged that address for the time the
database recorded and no longer (the lease is not extended, nothing is written); everyone else
gets no answer, not a NAK (the client keeps its address and retries; another appliance that
still reaches the database may answer). DECLINE and RELEASE are ignored.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Container

from provisioner.boot.decide import BootChoice, BootConfig, choose_boot
from provisioner.models import DhcpRecord, EventKind, discovered_subject, system_subject
from provisioner.proto.dhcp import codec
from provisioner.proto.dhcp.codec import (
    ACK,
    BOOTREPLY,
    BOOTREQUEST,
    DECLINE,
    DISCOVER,
    INFORM,
    NAK,
    OFFER,
    RELEASE,
    REQUEST,
    ZERO_IP,
    Packet,
)
from provisioner.proto.dhcp.config import INFINITE, Subnet
from provisioner.proto.dhcp.leases import LeaseTable
from provisioner.proto.dhcp.messages import (
    BROADCAST,
    CLIENT_PORT,
    MAX_HOPS,
    NO_BOOT,
    PXE_PORT,
    PXE_VENDOR_OPTS,
    SERVER_PORT,
    BootSettings,
    Lookup,
    Meta,
    RecordEvent,
    Reply,
    boot_config,
    client_info,
    ip_bytes,
    ip_int,
    ip_str,
    machine_of,
    missing_event,
    net_options,
    secure_boot_of,
)
from provisioner.proto.dhcp.options import (
    hostname,
    ip_value,
)
from provisioner.proto.errors import PeerError

# the values callers build and read come with the core (net/dhcp.py, tests)
__all__ = ["PXE_PORT", "BootSettings", "DhcpCore", "Meta", "Reply", "client_info"]

log = logging.getLogger("provisioner.dhcp")

class DhcpCore:
    """The DHCP policy for all served subnets; one per server. See the module docstring."""

    def __init__(self, subnets: list[Subnet], leases: LeaseTable, lookup: Lookup, *,
                 mode: str = "full", boot: BootSettings | None = None,
                 reserved: Callable[[], Container[int]] = frozenset,
                 record_event: RecordEvent | None = None) -> None:
        if mode not in ("full", "proxy"):
            raise ValueError(f"mode must be full or proxy, not {mode!r}")
        self.subnets = subnets
        self.leases = leases
        self.lookup = lookup
        self.mode = mode
        self.boot = boot or BootSettings()
        self.reserved = reserved
        self.record_event = record_event or (lambda subject, kind, detail: None)
        self.last_drop = ""
        self.degraded = False
        self._boot_cfg: dict[str, BootConfig] = {}
        self._exhausted_at: dict[ipaddress.IPv4Network, float] = {}
        self._by_if: dict[str | None, list[Subnet]] = {}
        self._excluded: set[int] = set()
        for s in subnets:
            self._by_if.setdefault(s.ifname, []).append(s)
            self._excluded |= {int(ipaddress.IPv4Address(s.server_ip)),
                               int(s.network.network_address), int(s.network.broadcast_address)}
            router = s.options.get(3, b"")
            self._excluded |= {ip_int(router[i:i + 4]) for i in range(0, len(router) - 3, 4)}
        self._dispatch = {DISCOVER: self._discover, REQUEST: self._request,
                          DECLINE: self._decline, RELEASE: self._release, INFORM: self._inform}

    # --- entry point ------------------------------------------------------------------------

    def handle(self, data: bytes, meta: Meta, now: float) -> Reply | None:
        """One request datagram in, at most one reply out; never raises for bad input."""
        try:
            pkt = codec.decode(data)
            if pkt.op != BOOTREQUEST or pkt.htype != 1 or pkt.hlen != 6:
                return self._drop(f"not an Ethernet BOOTREQUEST (op {pkt.op}, htype {pkt.htype})")
            if pkt.hops > MAX_HOPS:
                return self._drop(f"relayed through {pkt.hops} hops (a relay loop?)")
            kind = pkt.msg_type
            if meta.dst_port == PXE_PORT or self.mode == "proxy":
                return self._proxy(pkt, meta, kind, now)
            handler = self._dispatch.get(kind)  # type: ignore[arg-type]
            if handler is None:
                return self._drop(f"message type {kind} is not served")
            return handler(pkt, meta, now)
        except PeerError as exc:
            return self._drop(f"malformed: {exc}")

    def _drop(self, why: str) -> Reply | None:
        """Record why a packet gets no answer; always None (``return self._drop(...)``)."""
        self.last_drop = why
        return None

    # --- helpers ----------------------------------------------------------------------------

    def _subnet(self, pkt: Packet, meta: Meta) -> Subnet | None:
        if pkt.giaddr != ZERO_IP:
            gi = ip_int(pkt.giaddr)
            return next((s for s in self.subnets if s.contains(gi)), None)
        local = self._by_if.get(meta.ifname) or []
        if not local:
            return None
        for want in (ip_int(pkt.ciaddr) if pkt.ciaddr != ZERO_IP else None,
                     ip_int(pkt.options[50]) if len(pkt.options.get(50, b"")) == 4 else None):
            if want is not None:
                hit = next((s for s in local if s.contains(want)), None)
                if hit is not None:
                    return hit
        return next((s for s in local if s.ranges), local[0])

    def _server_id(self, subnet: Subnet, meta: Meta) -> str:
        return subnet.server_ip if subnet.ifname is not None else meta.server_ip

    def _excluded_fn(self) -> Callable[[int], bool]:
        reserved = self.reserved()
        static = self._excluded
        return lambda ip: ip in static or ip in reserved

    def _boot(self, pkt: Packet, record: DhcpRecord | None, server_ip: str) -> BootChoice:
        if not pkt.options.get(60, b"").startswith((b"PXEClient", b"HTTPClient")):
            return NO_BOOT  # fast path: an OS/installer client never gets boot information
        cfg = boot_config(self._boot_cfg, self.boot, server_ip)
        info = client_info(pkt)
        choice = choose_boot(info, cfg, machine=machine_of(record),
                             secure_boot=secure_boot_of(record))
        if pkt.msg_type == DISCOVER:  # once per boot attempt, not again for its REQUEST
            missing_event(record, info, choice, self.record_event)
        if (record is None and info.is_firmware and self.boot.unknown_policy == "discover"
                and pkt.msg_type == DISCOVER):
            self.record_event(discovered_subject(pkt.mac), EventKind.DISCOVERED,
                              {"mac": pkt.mac, "arch": info.effective_arch,
                               "vendor_class": info.vendor_class})
        return choice

    def _reply(self, pkt: Packet, kind: int, server_id: str, yiaddr: bytes,
               options: dict[int, bytes],
               choice: BootChoice | None, proxy: bool = False) -> Packet:
        opts: dict[int, bytes] = {53: bytes((kind,)), 54: ip_bytes(server_id)}
        opts.update(options)
        siaddr, file = ZERO_IP, bytes(128)
        if choice is not None and choice.bootfile:
            if choice.next_server:
                siaddr = ip_bytes(choice.next_server)
            raw = options.get(67) or choice.bootfile.encode()  # a configured option 67 wins
            if len(raw) < 128:
                file = raw.ljust(128, b"\0")
            if len(raw) >= 128 or 67 in pkt.options.get(55, b""):
                opts[67] = raw  # asked for (as dnsmasq does), or too long for the file field
            # Option 60 is echoed for UEFI HTTP boot (required) and in proxy replies (which PXE
            # firmware recognises by it). A full-mode PXE offer carries no option 60, like
            # dnsmasq's: with "PXEClient" but no option 43 some ROMs start boot-server discovery.
            if choice.vendor_class == "HTTPClient" or (proxy and choice.vendor_class):
                opts[60] = choice.vendor_class.encode()
            if choice.vendor_class == "PXEClient" and proxy:
                opts[43] = PXE_VENDOR_OPTS
            if 97 in pkt.options and proxy:
                opts[97] = pkt.options[97]
        if 82 in pkt.options:
            opts[82] = pkt.options[82]  # RFC 3046: echo relay agent information last
        return Packet(op=BOOTREPLY, htype=pkt.htype, hlen=pkt.hlen, hops=0, xid=pkt.xid, secs=0,
                      flags=pkt.flags, ciaddr=pkt.ciaddr if kind in (ACK, OFFER) else ZERO_IP,
                      yiaddr=yiaddr, siaddr=siaddr, giaddr=pkt.giaddr, chaddr=pkt.chaddr,
                      options=opts, file=file)

    def _send(self, pkt: Packet, reply: Packet, meta: Meta) -> Reply:
        data = reply.encode()
        if pkt.giaddr != ZERO_IP:
            return Reply(data, codec.socket_ip(pkt.giaddr), SERVER_PORT, meta.ifname, None, reply)
        kind = reply.msg_type
        if pkt.ciaddr != ZERO_IP and kind != NAK:
            return Reply(data, codec.socket_ip(pkt.ciaddr), CLIENT_PORT, meta.ifname, None, reply)
        if kind == NAK or pkt.broadcast or reply.yiaddr == ZERO_IP:
            return Reply(data, BROADCAST, CLIENT_PORT, meta.ifname, None, reply)
        return Reply(data, codec.socket_ip(reply.yiaddr), CLIENT_PORT, meta.ifname, pkt.mac, reply)

    def _lease_options(self, subnet: Subnet, record: DhcpRecord | None,
                       lease_secs: int) -> dict[int, bytes]:
        opts: dict[int, bytes] = {51: lease_secs.to_bytes(4, "big")}
        if lease_secs < INFINITE:
            opts[58] = (lease_secs // 2).to_bytes(4, "big")
            opts[59] = (lease_secs * 7 // 8).to_bytes(4, "big")
        opts.update(net_options(subnet, record))
        return opts

    def _address_for(self, pkt: Packet, subnet: Subnet, record: DhcpRecord | None,
                     now: float) -> int | None:
        """The reservation if it fits this subnet, else a pool address (None: exhausted)."""
        if record is not None and record.ip:
            reserved = int(ipaddress.IPv4Address(record.ip))
            if subnet.contains(reserved):
                return reserved
            log.warning("system %s: reserved %s is not in subnet %s; using the pool",
                        record.system, record.ip, subnet.network)
        requested = ip_value(pkt.options.get(50))
        ip = self.leases.allocate(subnet, pkt.mac, now,
                                  ip_int(requested) if requested else None,
                                  self._excluded_fn())
        if ip is None and now - self._exhausted_at.get(subnet.network, -1e18) >= 10:
            self._exhausted_at[subnet.network] = now  # one line per subnet per 10 s
            log.warning("DHCP pool exhausted on %s: no address for %s (not answering)",
                        subnet.network, pkt.mac)
        return ip

    def _may_have(self, ip: int, pkt: Packet, subnet: Subnet, record: DhcpRecord | None,
                  now: float) -> bool:
        """May this client be acknowledged ``ip`` on ``subnet``?"""
        if record is not None and record.ip and subnet.contains(ip_int(ip_bytes(record.ip))):
            return ip_str(ip) == record.ip
        return (subnet.in_pool(ip) and self.leases.free_for(ip, pkt.mac, now)
                and not self._excluded_fn()(ip))

    def _event(self, record: DhcpRecord | None, kind: str, ip: int | None, choice: BootChoice,
               mac: str) -> None:
        if record is not None:
            self.record_event(system_subject(record.system), kind,
                              {"mac": mac, "ip": ip_str(ip) if ip is not None else None,
                               "bootfile": choice.bootfile, "next_server": choice.next_server,
                               "install": choice.install})

    # --- message handlers -------------------------------------------------------------------

    def _discover(self, pkt: Packet, meta: Meta, now: float) -> Reply | None:
        subnet = self._subnet(pkt, meta)
        if subnet is None or not subnet.ranges and not self._reserved_here(pkt, subnet):
            return self._drop("no subnet with a pool for this request")
        record = self.lookup(pkt.mac)
        held = self._held(pkt, subnet, record, now) if self.degraded else None
        if held is not None:
            ip, lease_secs = held
        elif self.degraded:
            return self._drop("lease database unreachable: no new address")
        else:
            found = self._address_for(pkt, subnet, record, now)
            if found is None:
                return self._drop("pool exhausted")
            ip, lease_secs = found, subnet.lease
            self.leases.offer(ip, pkt.mac, now, hostname(pkt.options.get(12)))
        server_id = self._server_id(subnet, meta)
        choice = self._boot(pkt, record, server_id)
        reply = self._reply(pkt, OFFER, server_id, ip.to_bytes(4, "big"),
                            self._lease_options(subnet, record, lease_secs), choice)
        self._event(record, EventKind.DHCP_OFFER, ip, choice, pkt.mac)
        return self._send(pkt, reply, meta)

    def _held(self, pkt: Packet, subnet: Subnet, record: DhcpRecord | None,
              now: float) -> tuple[int, int] | None:
        """Degraded mode: the address this client may keep without a database write, and for
        how many seconds (its reservation; else its recorded, unexpired lease), or None."""
        if record is not None and record.ip:
            reserved = int(ipaddress.IPv4Address(record.ip))
            if subnet.contains(reserved):
                return reserved, subnet.lease
        return self.leases.held(pkt.mac, now, subnet, subnet.lease, self._excluded_fn())

    def _reserved_here(self, pkt: Packet, subnet: Subnet) -> bool:
        record = self.lookup(pkt.mac)
        return bool(record and record.ip
                    and subnet.contains(int(ipaddress.IPv4Address(record.ip))))

    def _request(self, pkt: Packet, meta: Meta, now: float) -> Reply | None:
        subnet = self._subnet(pkt, meta)
        if subnet is None:
            return self._drop("no subnet for this request")
        server_id = self._server_id(subnet, meta)
        sid = ip_value(pkt.options.get(54))
        requested = ip_value(pkt.options.get(50))
        if sid is not None and sid != ip_bytes(server_id):
            if not self.degraded:
                self.leases.withdraw(pkt.mac)  # it chose another server: free our offer
            return self._drop("client selected another server")
        if requested is None and pkt.ciaddr == ZERO_IP:
            return self._drop("REQUEST without requested address or ciaddr")
        want = ip_int(requested if requested is not None else pkt.ciaddr)
        record = self.lookup(pkt.mac)
        if self.degraded:
            return self._request_degraded(pkt, meta, subnet, record, want, now)
        if not subnet.contains(want) or not self._may_have(want, pkt, subnet, record, now):
            if sid is None and not subnet.contains(want) and pkt.giaddr == ZERO_IP \
                    and pkt.ciaddr != ZERO_IP:
                return self._drop("renewal for an address on another network")
            reply = self._reply(pkt, NAK, server_id, ZERO_IP, {56: b"address not available"},
                                None)
            return self._send(pkt, reply, meta)
        lease_secs = subnet.lease
        self.leases.bind(want, pkt.mac, now, lease_secs,
                         hostname(pkt.options.get(12)) or (record.hostname if record else None))
        choice = self._boot(pkt, record, server_id)
        reply = self._reply(pkt, ACK, server_id, want.to_bytes(4, "big"),
                            self._lease_options(subnet, record, lease_secs), choice)
        self._event(record, EventKind.DHCP_ACK, want, choice, pkt.mac)
        return self._send(pkt, reply, meta)

    def _request_degraded(self, pkt: Packet, meta: Meta, subnet: Subnet,
                          record: DhcpRecord | None, want: int, now: float) -> Reply | None:
        held = self._held(pkt, subnet, record, now)
        if held is None or held[0] != want:
            return self._drop("lease database unreachable: only held leases are renewed")
        server_id = self._server_id(subnet, meta)
        choice = self._boot(pkt, record, server_id)
        reply = self._reply(pkt, ACK, server_id, want.to_bytes(4, "big"),
                            self._lease_options(subnet, record, held[1]), choice)
        self._event(record, EventKind.DHCP_ACK, want, choice, pkt.mac)
        return self._send(pkt, reply, meta)

    def _decline(self, pkt: Packet, meta: Meta, now: float) -> Reply | None:
        subnet = self._subnet(pkt, meta)
        requested = ip_value(pkt.options.get(50))
        if subnet is None or requested is None or not subnet.contains(ip_int(requested)):
            return self._drop("DECLINE without an address of ours")
        if self.degraded:
            return self._drop("lease database unreachable: DECLINE ignored")
        sid = ip_value(pkt.options.get(54))
        if sid is not None and sid != ip_bytes(self._server_id(subnet, meta)):
            return self._drop("DECLINE for another server")
        log.warning("DHCP DECLINE from %s for %s: quarantined for %ds", pkt.mac,
                    ip_str(ip_int(requested)), self.leases.decline_hold)
        self.leases.decline(ip_int(requested), pkt.mac, now)
        return None

    def _release(self, pkt: Packet, meta: Meta, now: float) -> None:
        if pkt.ciaddr != ZERO_IP and not self.degraded:
            self.leases.release(ip_int(pkt.ciaddr), pkt.mac, now)
        return None

    def _inform(self, pkt: Packet, meta: Meta, now: float) -> Reply | None:
        subnet = self._subnet(pkt, meta)
        if subnet is None:
            return self._drop("no subnet for INFORM")
        record = self.lookup(pkt.mac)
        server_id = self._server_id(subnet, meta)
        choice = self._boot(pkt, record, server_id)
        reply = self._reply(pkt, ACK, server_id, ZERO_IP, net_options(subnet, record),
                            choice)
        if pkt.ciaddr == ZERO_IP and pkt.giaddr == ZERO_IP:  # answer where it came from
            dest = meta.src_ip if meta.src_ip != "0.0.0.0" else BROADCAST
            return Reply(reply.encode(), dest, meta.src_port, meta.ifname, None, reply)
        return self._send(pkt, reply, meta)

    # --- proxyDHCP --------------------------------------------------------------------------

    def _proxy(self, pkt: Packet, meta: Meta, kind: int | None, now: float) -> Reply | None:
        if kind not in (DISCOVER, REQUEST, INFORM):
            return self._drop(f"proxy: message type {kind} not answered")
        if meta.dst_port != PXE_PORT and kind != DISCOVER:
            return self._drop("proxy: only DISCOVER is answered on port 67")
        info = client_info(pkt)
        if not info.is_firmware:
            return self._drop("proxy: not network-boot firmware")
        record = self.lookup(pkt.mac)
        server_id = meta.server_ip
        choice = self._boot(pkt, record, server_id)
        if not choice.bootfile:
            return self._drop(f"proxy: no boot file ({choice.reason})")
        out = self._reply(pkt, OFFER if kind == DISCOVER else ACK, server_id, ZERO_IP, {},
                          choice, proxy=True)
        self._event(record, EventKind.PROXY_OFFER if kind == DISCOVER else EventKind.PROXY_ACK,
                    None, choice, pkt.mac)
        if meta.dst_port == PXE_PORT:
            dest = meta.src_ip if meta.src_ip != "0.0.0.0" else BROADCAST
            return Reply(out.encode(), dest, meta.src_port, meta.ifname, None, out)
        if pkt.giaddr != ZERO_IP:
            return Reply(out.encode(), codec.socket_ip(pkt.giaddr), SERVER_PORT, meta.ifname,
                         None, out)
        return Reply(out.encode(), BROADCAST, CLIENT_PORT, meta.ifname, None, out)
