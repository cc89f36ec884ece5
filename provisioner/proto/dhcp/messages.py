"""The DHCP core's inputs and outputs as values: where a datagram came from (:class:`Meta`),
what to send (:class:`Reply`), the boot settings, and the facts the boot decision reads.

Pure values and helpers (no I/O); ``core.py`` holds the policy that uses them.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.boot.decide import BootChoice, BootConfig, ClientInfo, Machine, SecureBoot
from provisioner.models import DhcpRecord, EventKind, discovered_subject, system_subject
from provisioner.proto.dhcp.codec import ZERO_IP, Packet
from provisioner.proto.dhcp.config import Subnet
from provisioner.proto.dhcp.options import client_arch, parse_value, user_classes

BROADCAST = "255.255.255.255"
CLIENT_PORT, SERVER_PORT, PXE_PORT = 68, 67, 4011
MAX_HOPS = 16  # RFC 1542: relays drop beyond 16; so do we
#: PXE vendor options (option 43) for proxy replies: discovery control = 8, "use the boot file
#: in this packet, no boot server discovery".
PXE_VENDOR_OPTS = b"\x06\x01\x08\xff"

NO_BOOT = BootChoice(reason="not netboot firmware")

log = logging.getLogger("provisioner.dhcp")


def machine_of(record: DhcpRecord | None) -> Machine:
    """What the inventory's record (or its absence) means for the boot decision."""
    if record is None:
        return Machine.UNKNOWN
    return Machine.INSTALL if record.netboot_enabled else Machine.LOCAL


Lookup = Callable[[str], DhcpRecord | None]
RecordEvent = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Meta:
    """Where a datagram came from and arrived: filled in by the transport."""

    ifname: str | None  # receiving interface
    server_ip: str  # our address on that interface
    src_ip: str = "0.0.0.0"
    src_port: int = CLIENT_PORT
    dst_port: int = SERVER_PORT  # 67, or 4011 for PXE boot-server requests


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply to send: bytes, destination, and how (see the module docstring)."""

    data: bytes
    dest_ip: str
    dest_port: int
    ifname: str | None
    neigh_mac: str | None = None  # install dest_ip -> this MAC on ifname before sending
    packet: Packet | None = None  # the reply as a value (for tests and logs)


@dataclass(frozen=True)
class BootSettings:
    """The appliance-wide inputs to the boot decision (the server address comes per subnet)."""

    http_port: int = 8080
    public_url: str = ""
    efi_loader: str = "ipxe"
    unknown_policy: str = "ignore"
    #: the loader files under the TFTP root -> signed (``bootloaders.installed_loaders``); the
    #: transport returns the same object while nothing changed. None: not checked.
    installed: Callable[[], Mapping[str, bool] | None] = lambda: None


def secure_boot_of(record: DhcpRecord | None) -> SecureBoot:
    return SecureBoot.ON if record is not None and record.secure_boot else SecureBoot.OFF


def boot_config(cache: dict[str, BootConfig], boot: BootSettings, server_ip: str) -> BootConfig:
    """The per-serving-address :class:`BootConfig`, cached until the installed files change."""
    installed = boot.installed()
    cfg = cache.get(server_ip)
    if cfg is None or cfg.installed is not installed:
        if len(cache) > 256:
            cache.clear()
        cfg = cache[server_ip] = BootConfig(server_ip, boot.http_port, boot.public_url,
                                            boot.efi_loader, boot.unknown_policy, installed)
    return cfg


def missing_event(record: DhcpRecord | None, info: ClientInfo, choice: BootChoice,
                  record_event: RecordEvent) -> None:
    """Timeline: the loader this firmware needs is not in the TFTP root (says which file)."""
    if choice.missing is None:
        return
    subject = system_subject(record.system) if record is not None else \
        discovered_subject(info.mac)
    record_event(subject, EventKind.BOOT_FILE_MISSING,
                 {"mac": info.mac, "arch": info.effective_arch, "file": choice.missing,
                  "reason": choice.reason})


@functools.lru_cache(maxsize=4096)
def ip_bytes(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ip_int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def ip_str(n: int) -> str:
    return f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def client_info(pkt: Packet) -> ClientInfo:
    """The facts :mod:`provisioner.boot.decide` needs, from a request packet."""
    o = pkt.options
    return ClientInfo(mac=pkt.mac, vendor_class=o.get(60, b"").decode("latin-1"),
                      arch=client_arch(o.get(93)), user_classes=user_classes(o.get(77)),
                      uuid=o.get(97), nii=o.get(94), relayed=pkt.giaddr != ZERO_IP)


def net_options(subnet: Subnet, record: DhcpRecord | None) -> dict[int, bytes]:
    """The subnet's options, then the system's host name and its own options (bad ones logged
    and skipped; never an unsigned loader for a Secure Boot machine)."""
    opts = dict(subnet.options)
    if record is not None:
        if record.hostname:
            opts[12] = record.hostname.split(".")[0].encode()
        for code, text in record.options.items():
            if int(code) == 67 and record.secure_boot:  # never an unsigned loader
                log.warning("system %s: option 67 ignored (Secure Boot: the signed chain "
                            "only)", record.system)
                continue
            try:
                opts[int(code)] = parse_value(int(code), str(text))
            except ValueError:
                log.warning("system %s: bad dhcp option %s=%r ignored", record.system, code,
                            text)
    return opts
