"""DHCPv6 message codec (RFC 8415 section 8-9, 21). Bytes in, values out.

A client/server message is ``type(1) transaction-id(3) options``; a relay message (Relay-Forward
12, Relay-Reply 13) is ``type(1) hop-count(1) link-address(16) peer-address(16) options``, its
option 9 carrying the relayed message. Options are ``code(2) length(2) data`` and are kept as raw
bytes in arrival order (a code may repeat: several IA_NA, several IAADDR inside one).

:func:`decode` returns a :class:`Message` or :class:`RelayMessage`, or raises
:class:`PeerError` (truncated header, an option running past the end, too many options). Nested
option lists (IA_NA, IAADDR, relay) use the same :func:`parse_options`. Typed access lives in
:mod:`.options`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from provisioner.proto.errors import PeerError

SOLICIT, ADVERTISE, REQUEST, CONFIRM, RENEW, REBIND, REPLY = 1, 2, 3, 4, 5, 6, 7
RELEASE, DECLINE, RECONFIGURE, INFORMATION_REQUEST, RELAY_FORW, RELAY_REPL = 8, 9, 10, 11, 12, 13
NAMES = {SOLICIT: "SOLICIT", ADVERTISE: "ADVERTISE", REQUEST: "REQUEST", CONFIRM: "CONFIRM",
         RENEW: "RENEW", REBIND: "REBIND", REPLY: "REPLY", RELEASE: "RELEASE",
         DECLINE: "DECLINE", RECONFIGURE: "RECONFIGURE",
         INFORMATION_REQUEST: "INFORMATION-REQUEST", RELAY_FORW: "RELAY-FORW",
         RELAY_REPL: "RELAY-REPL"}
RELAY_HEADER = struct.Struct("!BB16s16s")
_OPT = struct.Struct("!HH")
MAX_OPTIONS = 512  # per option list; more is not a real client
MAX_LEN = 65535

Options = tuple[tuple[int, bytes], ...]


def parse_options(data: bytes | memoryview, what: str = "message") -> Options:
    """``(code, value)`` pairs in order; raises :class:`PeerError` on a truncated option."""
    out: list[tuple[int, bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 4 > end:
            raise PeerError(f"{what}: truncated option header at byte {pos}")
        code, length = _OPT.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            raise PeerError(f"{what}: option {code} runs past the end ({length} bytes)")
        out.append((code, bytes(data[pos:pos + length])))
        pos += length
        if len(out) > MAX_OPTIONS:
            raise PeerError(f"{what}: more than {MAX_OPTIONS} options")
    return tuple(out)


def encode_options(options: Options | list[tuple[int, bytes]]) -> bytes:
    parts = []
    for code, value in options:
        if len(value) > 0xFFFF:
            raise ValueError(f"option {code} is longer than 65535 bytes")
        parts.append(_OPT.pack(code, len(value)))
        parts.append(value)
    return b"".join(parts)


def first(options: Options, code: int) -> bytes | None:
    for c, v in options:
        if c == code:
            return v
    return None


def every(options: Options, code: int) -> list[bytes]:
    return [v for c, v in options if c == code]


@dataclass(frozen=True, slots=True)
class Message:
    """A client/server message."""

    msg_type: int
    txid: bytes  # 3 bytes
    options: Options = ()

    def get(self, code: int) -> bytes | None:
        return first(self.options, code)

    def all(self, code: int) -> list[bytes]:
        return every(self.options, code)

    def encode(self) -> bytes:
        return bytes((self.msg_type,)) + self.txid + encode_options(self.options)


@dataclass(frozen=True, slots=True)
class RelayMessage:
    """A Relay-Forward or Relay-Reply; option 9 holds the relayed message."""

    msg_type: int
    hop_count: int
    link_address: bytes  # 16 bytes
    peer_address: bytes  # 16 bytes
    options: Options = ()

    def get(self, code: int) -> bytes | None:
        return first(self.options, code)

    def encode(self) -> bytes:
        return RELAY_HEADER.pack(self.msg_type, self.hop_count, self.link_address,
                                 self.peer_address) + encode_options(self.options)


def decode(data: bytes) -> Message | RelayMessage:
    """One datagram -> a message value, or :class:`PeerError`."""
    if len(data) < 4:
        raise PeerError(f"{len(data)} bytes is shorter than a DHCPv6 header")
    if len(data) > MAX_LEN:
        raise PeerError("datagram too long")
    kind = data[0]
    if kind in (RELAY_FORW, RELAY_REPL):
        if len(data) < RELAY_HEADER.size:
            raise PeerError("truncated relay message header")
        _, hops, link, peer = RELAY_HEADER.unpack_from(data)
        return RelayMessage(kind, hops, link, peer,
                            parse_options(memoryview(data)[RELAY_HEADER.size:], "relay message"))
    return Message(kind, bytes(data[1:4]), parse_options(memoryview(data)[4:]))
