"""DHCPv6 options: codes, and typed parse/build of the ones the server reads or writes. Pure.

Parsers are strict where the server acts on the value (IA_NA, DUIDs, status) and raise
:class:`PeerError`; informational ones (vendor/user class, architecture, FQDN) return an empty
value when malformed, so an odd client still gets an address (as the DHCPv4 side does).

Where the client's MAC comes from (Kea's ``mac-sources``, in this order): the relay's Client
Link-Layer Address option (RFC 6939), a DUID-LL/DUID-LLT of Ethernet type, the EUI-64 interface
identifier of the client's link-local address.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from provisioner.proto.dhcp6.codec import Options, encode_options, parse_options
from provisioner.proto.errors import PeerError

CLIENTID, SERVERID, IA_NA, IA_TA, IAADDR, ORO, PREFERENCE, ELAPSED_TIME = 1, 2, 3, 4, 5, 6, 7, 8
RELAY_MSG, AUTH, UNICAST, STATUS_CODE, RAPID_COMMIT, USER_CLASS = 9, 11, 12, 13, 14, 15
VENDOR_CLASS, VENDOR_OPTS, INTERFACE_ID, DNS_SERVERS, DOMAIN_LIST, IA_PD = 16, 17, 18, 23, 24, 25
IAPREFIX, CLIENT_FQDN, BOOTFILE_URL, BOOTFILE_PARAM, CLIENT_ARCH, NII = 26, 39, 59, 60, 61, 62
CLIENT_LINKLAYER = 79

SUCCESS, UNSPEC_FAIL, NO_ADDRS_AVAIL, NO_BINDING, NOT_ON_LINK, USE_MULTICAST = 0, 1, 2, 3, 4, 5
NO_PREFIX_AVAIL = 6
ENTERPRISE_IANA_PXE = 343  # the enterprise number UEFI firmware puts in option 16
DUID_LLT, DUID_EN, DUID_LL, DUID_UUID = 1, 2, 3, 4
HW_ETHERNET = 1
MAX_DUID = 130  # RFC 8415 11.1: at most 128 bytes plus the type

_IA = struct.Struct("!III")
_IAADDR = struct.Struct("!16sII")


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def check_duid(duid: bytes | None, what: str) -> bytes:
    if duid is None:
        raise PeerError(f"no {what}")
    if not 3 <= len(duid) <= MAX_DUID:
        raise PeerError(f"{what} of {len(duid)} bytes")
    return duid


def duid_mac(duid: bytes) -> str | None:
    """The Ethernet MAC inside a DUID-LL or DUID-LLT, else None."""
    if len(duid) == 10 and duid[:4] == b"\x00\x03\x00\x01":
        return _mac(duid[4:])
    if len(duid) == 14 and duid[:4] == b"\x00\x01\x00\x01":
        return _mac(duid[8:])
    return None


def eui64_mac(addr: bytes) -> str | None:
    """The MAC behind a link-local EUI-64 address (``fe80::5054:ff:fe12:3456``), else None."""
    if len(addr) != 16 or addr[:8] != b"\xfe\x80" + bytes(6) or addr[11:13] != b"\xff\xfe":
        return None
    return _mac(bytes((addr[8] ^ 0x02,)) + addr[9:11] + addr[13:16])


def linklayer_mac(value: bytes | None) -> str | None:
    """RFC 6939 Client Link-Layer Address option (type 2 bytes + address): an Ethernet MAC."""
    if value is None or len(value) != 8 or value[:2] != b"\x00\x01":
        return None
    return _mac(value[2:])


def duid_ll(mac: str) -> bytes:
    """A DUID-LL for an Ethernet MAC (the server's own identifier)."""
    return b"\x00\x03\x00\x01" + bytes.fromhex(mac.replace(":", ""))


def _strings(data: bytes) -> tuple[str, ...]:
    """A list of ``len(2) + bytes`` items (user class, vendor class data), latin-1."""
    out, pos = [], 0
    while pos + 2 <= len(data):
        (n,) = struct.unpack_from("!H", data, pos)
        pos += 2
        if pos + n > len(data):
            return ()
        out.append(data[pos:pos + n].decode("latin-1"))
        pos += n
    return tuple(out) if pos == len(data) else ()


def user_classes(value: bytes | None) -> tuple[str, ...]:
    return _strings(value) if value else ()


def vendor_class(value: bytes | None) -> tuple[int, tuple[str, ...]]:
    """``(enterprise, items)`` of option 16; ``(0, ())`` when absent or malformed."""
    if value is None or len(value) < 4:
        return 0, ()
    return int.from_bytes(value[:4], "big"), _strings(value[4:])


def build_vendor_class(text: str, enterprise: int = ENTERPRISE_IANA_PXE) -> bytes:
    raw = text.encode()
    return enterprise.to_bytes(4, "big") + len(raw).to_bytes(2, "big") + raw


def client_arch(value: bytes | None) -> int | None:
    """The first architecture type of option 61 (RFC 5970), None when absent or malformed."""
    if not value or len(value) % 2:
        return None
    return int.from_bytes(value[:2], "big")


def requested(value: bytes | None) -> frozenset[int]:
    """Option Request Option: the codes asked for."""
    if not value or len(value) % 2:
        return frozenset()
    return frozenset(struct.unpack(f"!{len(value) // 2}H", value))


def status(code: int, message: str = "") -> tuple[int, bytes]:
    return STATUS_CODE, code.to_bytes(2, "big") + message.encode()


def status_of(options: Options) -> int:
    for c, v in options:
        if c == STATUS_CODE and len(v) >= 2:
            return int.from_bytes(v[:2], "big")
    return SUCCESS


@dataclass(frozen=True)
class IaAddress:
    address: int
    preferred: int
    valid: int


@dataclass(frozen=True)
class IaNa:
    """One Identity Association for Non-temporary Addresses as the client sent it."""

    iaid: int
    t1: int
    t2: int
    addresses: tuple[IaAddress, ...] = ()


def parse_ia_na(value: bytes) -> IaNa:
    if len(value) < _IA.size:
        raise PeerError(f"IA_NA of {len(value)} bytes")
    iaid, t1, t2 = _IA.unpack_from(value)
    addrs = []
    for code, sub in parse_options(value[_IA.size:], "IA_NA"):
        if code == IAADDR:
            if len(sub) < _IAADDR.size:
                raise PeerError(f"IAADDR of {len(sub)} bytes")
            raw, pref, valid = _IAADDR.unpack_from(sub)
            addrs.append(IaAddress(int.from_bytes(raw, "big"), pref, valid))
    return IaNa(iaid, t1, t2, tuple(addrs))


def build_ia_na(iaid: int, t1: int, t2: int, addresses: list[IaAddress],
                status_code: int | None = None, message: str = "") -> bytes:
    subs: list[tuple[int, bytes]] = [
        (IAADDR, _IAADDR.pack(a.address.to_bytes(16, "big"), a.preferred, a.valid))
        for a in addresses]
    if status_code is not None:
        subs.append(status(status_code, message))
    return _IA.pack(iaid, t1, t2) + encode_options(subs)


def iaid_of(value: bytes) -> int:
    """The IAID of an IA_TA (4 bytes) or IA_PD (first 4 bytes), for refusals."""
    if len(value) < 4:
        raise PeerError("IA shorter than its IAID")
    return int.from_bytes(value[:4], "big")


def domain_list(names: list[str]) -> bytes:
    """RFC 1035 wire format, uncompressed (option 24)."""
    out = bytearray()
    for name in names:
        for label in name.strip(".").split("."):
            raw = label.encode("idna")
            if not 0 < len(raw) < 64:
                raise ValueError(f"bad domain label in {name!r}")
            out += bytes((len(raw),)) + raw
        out += b"\0"
    return bytes(out)


def fqdn_host(value: bytes | None) -> str | None:
    """The first label of the Client FQDN option (RFC 4704), for lease records and DNS."""
    if not value or len(value) < 3:
        return None
    n = value[1]
    label = value[2:2 + n]
    if len(label) != n or not label:
        return None
    text = label.decode("ascii", "replace")
    ok = all(c.isalnum() or c == "-" for c in text)
    return text.lower() if ok else None


def addresses(value: bytes) -> list[str]:
    """A list of 16-byte addresses (option 23 etc.)."""
    return [str(ipaddress.IPv6Address(value[i:i + 16])) for i in range(0, len(value) - 15, 16)]
