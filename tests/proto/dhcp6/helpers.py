"""Build DHCPv6 client messages and a core with a dict-backed inventory for the tests."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from provisioner.models import DhcpRecord
from provisioner.proto.dhcp.core import BootSettings
from provisioner.proto.dhcp.leases import LeaseTable
from provisioner.proto.dhcp6 import codec
from provisioner.proto.dhcp6 import options as o
from provisioner.proto.dhcp6.codec import Message, RelayMessage
from provisioner.proto.dhcp6.config import Iface6, build_subnets
from provisioner.proto.dhcp6.core import Dhcp6Core, Meta6, Params6, Reply6

SERVER = "fd00:77::1"
SERVER_DUID = o.duid_ll("02:00:00:00:00:01")
IFACE = Iface6("br0", "02:00:00:00:00:01", "fe80::1", ((SERVER, 64),))
RANGE = "fd00:77::100,fd00:77::1ff,1h"
MAC = "52:54:00:12:34:56"
DUID = o.duid_ll(MAC)
LINK_LOCAL = "fe80::5054:ff:fe12:3456"  # EUI-64 of MAC
META = Meta6("br0", LINK_LOCAL)
DATA = Path(__file__).parent / "data"
TXID = b"\x01\x02\x03"


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def captured(name: str) -> tuple[str, bytes]:
    """``(sender address, datagram)`` of a real client's first message (``capture.py``)."""
    src, hexdata = (DATA / f"{name}.hex").read_text().split()
    return src, bytes.fromhex(hexdata)


def ia_na(iaid: int = 1, *addrs: str) -> tuple[int, bytes]:
    return o.IA_NA, o.build_ia_na(iaid, 0, 0, [o.IaAddress(v6(a), 0, 0) for a in addrs])


def msg(kind: int, *opts: tuple[int, bytes], duid: bytes | None = DUID,
        server: bytes | None = None) -> bytes:
    options: list[tuple[int, bytes]] = []
    if duid is not None:
        options.append((o.CLIENTID, duid))
    if server is not None:
        options.append((o.SERVERID, server))
    options += opts
    return Message(kind, TXID, tuple(options)).encode()


def relay(inner: bytes, link: str = "::", peer: str = LINK_LOCAL, hops: int = 0,
          *extra: tuple[int, bytes]) -> bytes:
    return RelayMessage(codec.RELAY_FORW, hops, ipaddress.IPv6Address(link).packed,
                        ipaddress.IPv6Address(peer).packed,
                        (*extra, (o.RELAY_MSG, inner))).encode()


def pxe_opts(vendor: str, arch: int, *user: str) -> list[tuple[int, bytes]]:
    out = [(o.VENDOR_CLASS, o.build_vendor_class(vendor)), (o.CLIENT_ARCH, arch.to_bytes(2, "big"))]
    if user:
        out.append((o.USER_CLASS, b"".join(len(u).to_bytes(2, "big") + u.encode() for u in user)))
    return out


class Inventory:
    """Records by MAC and by DUID, and the events the core records."""

    def __init__(self, *records: DhcpRecord) -> None:
        self.by_mac = {r.mac: r for r in records}
        self.by_duid = {r.duid: r for r in records if r.duid}
        self.events: list[tuple[str, str, dict]] = []

    def reserved(self) -> frozenset[int]:
        return frozenset(v6(r.ipv6) for r in self.by_mac.values() if r.ipv6)

    def record(self, subject: str, kind: str, detail: dict) -> None:
        self.events.append((subject, kind, detail))


def core(*records: DhcpRecord, ranges: tuple[str, ...] = (RANGE,), rapid: bool = True,
         installed=None, unknown_policy: str = "ignore") -> tuple[Dhcp6Core, Inventory]:
    inv = Inventory(*records)
    params = Params6(SERVER_DUID, rapid_commit=rapid, dns=True, domain="lab.example",
                     boot=BootSettings(unknown_policy=unknown_policy,
                                       installed=lambda: installed))
    c = Dhcp6Core(build_subnets([IFACE], ranges), LeaseTable(), params, inv.by_mac.get,
                  inv.by_duid.get, reserved=inv.reserved, record_event=inv.record)
    return c, inv


def reply_of(r: Reply6 | None) -> Message:
    assert r is not None and r.message is not None
    return r.message


def ia_addresses(m: Message) -> list[tuple[int, str, int, int]]:
    """``(iaid, address, preferred, valid)`` of every IAADDR in every IA_NA."""
    out = []
    for raw in m.all(o.IA_NA):
        ia = o.parse_ia_na(raw)
        out += [(ia.iaid, str(ipaddress.IPv6Address(a.address)), a.preferred, a.valid)
                for a in ia.addresses]
    return out


def ia_status(m: Message) -> list[int]:
    return [o.status_of(codec.parse_options(raw[12:])) for raw in m.all(o.IA_NA)]
