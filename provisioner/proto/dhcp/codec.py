"""DHCPv4 packet codec (RFC 2131 fixed header + RFC 2132 options). Bytes in, values out.

:func:`decode` turns a datagram into a :class:`Packet` or raises :class:`PeerError` (truncated
header, bad magic cookie, an option running past the end, bad option overload). Options are kept
as raw bytes in arrival order in ``Packet.options`` (a ``dict`` code -> bytes); repeated codes are
concatenated (RFC 3396 long options), and options overloaded into ``file``/``sname`` (option 52)
are merged in, leaving those fields empty. Typed access lives in :mod:`.options`.

:meth:`Packet.encode` writes the header, the options in dict order (values over 255 bytes split
into several instances), END, and pads to the BOOTP minimum of 300 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from typing import Any

from provisioner.proto.errors import PeerError

BOOTREQUEST, BOOTREPLY = 1, 2
MAGIC = b"\x63\x82\x53\x63"
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")  # 236 bytes, then the magic cookie
MIN_LEN = HEADER.size + 4
BOOTP_MIN = 300
MAX_LEN = 65507
PAD, END, OVERLOAD = 0, 255, 52
FLAG_BROADCAST = 0x8000
ZERO_IP = b"\x00\x00\x00\x00"

# Message types (option 53)
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
@dataclass(frozen=True, slots=True)
class Packet:
    """One DHCP/BOOTP message. Addresses are 4 raw bytes; ``chaddr`` is the 16-byte field."""

    op: int = BOOTREQUEST
    htype: int = 1
    hlen: int = 6
    hops: int = 0
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: bytes = ZERO_IP
    yiaddr: bytes = ZERO_IP
    siaddr: bytes = ZERO_IP
    giaddr: bytes = ZERO_IP
    chaddr: bytes = bytes(16)
    sname: bytes = bytes(64)
    file: bytes = bytes(128)
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def msg_type(self) -> int | None:
        v = self.options.get(53)
        return v[0] if v and len(v) == 1 else None

    @property
    def mac(self) -> str:
        """The client hardware address as ``aa:bb:cc:dd:ee:ff`` (Ethernet, hlen 6)."""
        return self.chaddr[:6].hex(":")

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & FLAG_BROADCAST)

    def replace(self, **changes: Any) -> Packet:
        return replace(self, **changes)

    def encode(self, min_len: int = BOOTP_MIN) -> bytes:
        """The wire bytes; raises ``ValueError`` for an out-of-range field (our bug)."""
        parts = [HEADER.pack(self.op, self.htype, self.hlen, self.hops, self.xid, self.secs,
                             self.flags, self.ciaddr, self.yiaddr, self.siaddr, self.giaddr,
                             self.chaddr, self.sname, self.file), MAGIC]
        for code, value in self.options.items():
            if code == PAD or code == END:
                continue
            n = len(value)
            if n <= 255:
                parts.append(bytes((code, n)))
                parts.append(value)
                continue
            for i in range(0, n, 255):
                chunk = value[i:i + 255]
                parts.append(bytes((code, len(chunk))))
                parts.append(chunk)
        parts.append(b"\xff")
        out = b"".join(parts)
        if len(out) < min_len:
            out += bytes(min_len - len(out))
        return out


def socket_ip(raw: bytes) -> str:
    """4 address bytes -> ``"a.b.c.d"``."""
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"


def _parse_options(data: bytes, start: int, end: int, into: dict[int, bytes], where: str) -> None:
    i = start
    while i < end:
        code = data[i]
        if code == PAD:
            i += 1
            continue
        if code == END:
            return
        if i + 1 >= end:
            raise PeerError(f"option {code} in {where} has no length byte")
        n = data[i + 1]
        if i + 2 + n > end:
            raise PeerError(f"option {code} in {where} runs past the end ({n} bytes)")
        value = data[i + 2:i + 2 + n]
        prev = into.get(code)
        into[code] = value if prev is None else prev + value
        i += 2 + n
    # Running off the end without END is tolerated (many relays/clients do it).


TYPE_NAMES = {DISCOVER: "discover", OFFER: "offer", REQUEST: "request", DECLINE: "decline",
              ACK: "ack", NAK: "nak", RELEASE: "release", INFORM: "inform"}


def message_type(data: bytes) -> str:
    """The DHCP message type's name (option 53 in the main options field), for counting;
    ``"malformed"`` when there is none (never raises; :func:`decode` says what is wrong)."""
    i, end = MIN_LEN, len(data)
    if end < MIN_LEN or data[HEADER.size:MIN_LEN] != MAGIC:
        return "malformed"
    while i + 1 < end:
        code = data[i]
        if code == PAD:
            i += 1
            continue
        if code == END:
            break
        if code == 53 and data[i + 1] == 1 and i + 2 < end:
            return TYPE_NAMES.get(data[i + 2], "other")
        i += 2 + data[i + 1]
    return "malformed"


def decode(data: bytes) -> Packet:
    """Parse one datagram; raises :class:`PeerError` if it is not a well-formed DHCP message."""
    if len(data) < MIN_LEN:
        raise PeerError(f"packet too short ({len(data)} bytes, need {MIN_LEN})")
    if len(data) > MAX_LEN:
        raise PeerError(f"packet too long ({len(data)} bytes)")
    data = bytes(data)
    if data[HEADER.size:MIN_LEN] != MAGIC:
        raise PeerError("bad magic cookie (BOOTP without DHCP options is not served)")
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname,
     file) = HEADER.unpack_from(data)
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise PeerError(f"bad op {op}")
    if hlen > 16:
        raise PeerError(f"bad hlen {hlen}")
    options: dict[int, bytes] = {}
    _parse_options(data, MIN_LEN, len(data), options, "options")
    overload = options.pop(OVERLOAD, None)
    if overload is not None:
        if len(overload) != 1 or overload[0] not in (1, 2, 3):
            raise PeerError(f"bad option overload value {overload!r}")
        if overload[0] & 1:
            _parse_options(file, 0, len(file), options, "file")
            file = bytes(128)
        if overload[0] & 2:
            _parse_options(sname, 0, len(sname), options, "sname")
            sname = bytes(64)
    return Packet(op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr,
                  sname, file, options)
