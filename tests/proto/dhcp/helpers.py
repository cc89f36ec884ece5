"""Build client requests and a core with dict-backed inventory for DHCP tests."""

from __future__ import annotations

import ipaddress

from provisioner.models import DhcpRecord
from provisioner.proto.dhcp.codec import Packet
from provisioner.proto.dhcp.config import IfaceAddr, build_subnets
from provisioner.proto.dhcp.core import BootSettings, DhcpCore, Meta
from provisioner.proto.dhcp.leases import LeaseTable

SERVER = "10.1.1.1"
META = Meta("br0", SERVER)
BR0 = (IfaceAddr("br0", SERVER, 24),)
BIOS_PXE = {60: b"PXEClient:Arch:00000:UNDI:002001", 93: b"\x00\x00", 94: b"\x01\x02\x01"}
EFI_PXE = {60: b"PXEClient:Arch:00007:UNDI:003016", 93: b"\x00\x07", 94: b"\x01\x03\x10"}
IPXE = {**BIOS_PXE, 77: b"iPXE"}
HTTP = {60: b"HTTPClient:Arch:00016:UNDI:003001", 93: b"\x00\x10"}
UDHCPC = {60: b"udhcp 1.35.0"}


def b(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", "")).ljust(16, b"\0")


def request(kind: int, mac: str, xid: int = 0x1234, *, ciaddr: str = "0.0.0.0",
            giaddr: str = "0.0.0.0", flags: int = 0, opts: dict | None = None,
            requested: str | None = None, server_id: str | None = None) -> bytes:
    options: dict[int, bytes] = {53: bytes((kind,))}
    if requested:
        options[50] = b(requested)
    if server_id:
        options[54] = b(server_id)
    options.update(opts or {})
    return Packet(xid=xid, flags=flags, ciaddr=b(ciaddr), giaddr=b(giaddr),
                  chaddr=mac_bytes(mac), options=options).encode()


class Inventory:
    """A dict-backed stand-in for Core.dhcp_lookup / record_event / reserved addresses."""

    def __init__(self, *records: DhcpRecord) -> None:
        self.records = {r.mac: r for r in records}
        self.events: list[tuple[str, str, dict]] = []

    def lookup(self, mac: str) -> DhcpRecord | None:
        return self.records.get(mac)

    def record_event(self, subject: str, kind: str, detail: dict) -> None:
        self.events.append((subject, kind, detail))

    def reserved(self) -> frozenset[int]:
        return frozenset(int(ipaddress.IPv4Address(r.ip)) for r in self.records.values() if r.ip)


def make_core(inv: Inventory | None = None, *, ranges=("10.1.1.10,10.1.1.50,255.255.255.0,12h",),
              options=(), mode: str = "full", policy: str = "ignore",
              leases: LeaseTable | None = None,
              addrs=BR0) -> tuple[DhcpCore, Inventory]:
    inv = inv or Inventory()
    subnets = build_subnets(list(addrs), list(ranges) if mode == "full" else [], list(options),
                            domain="lab.example")
    core = DhcpCore(subnets, leases or LeaseTable(), inv.lookup, mode=mode,
                    boot=BootSettings(http_port=8080, unknown_policy=policy),
                    reserved=inv.reserved, record_event=inv.record_event)
    return core, inv
