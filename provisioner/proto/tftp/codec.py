"""TFTP packets as frozen values: bytes in, values out, and back (RFC 1350, 2347).

Every packet type is a frozen dataclass with ``encode() -> bytes``; :func:`decode` turns one
datagram into one of them or raises :class:`MalformedPacket` (the peer's fault, mapped by the
session to an ERROR 4 or a silent drop). Nothing here knows about sessions, files or sockets.

Filenames are decoded as UTF-8 with ``surrogateescape`` so that a non-UTF-8 name survives
decoding unchanged and can be *refused* by the path jail (``content.base.jail``) instead of being
mangled here. Option names are case-insensitive (RFC 2347) and are lower-cased.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6
MODES = ("netascii", "octet", "mail")
MAX_BLOCK = 0xFFFF  # block numbers are 16 bits; they roll over to 0 (what tftp-hpa/atftp expect)


class ErrorCode(IntEnum):
    """RFC 1350 error codes plus RFC 2347's 8."""

    NOT_DEFINED = 0
    FILE_NOT_FOUND = 1
    ACCESS_VIOLATION = 2
    DISK_FULL = 3
    ILLEGAL_OPERATION = 4
    UNKNOWN_TID = 5
    FILE_EXISTS = 6
    NO_SUCH_USER = 7
    OPTION_REFUSED = 8


class MalformedPacket(ValueError):
    """The datagram is not a valid TFTP packet; the message says why."""


_H = struct.Struct("!H")
_HH = struct.Struct("!HH")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class ReadRequest:
    filename: str
    mode: str = "octet"
    options: dict[str, str] = field(default_factory=dict)
    opcode = RRQ

    def encode(self) -> bytes:
        return _encode_request(self.opcode, self.filename, self.mode, self.options)


@dataclass(frozen=True)
class WriteRequest:
    filename: str
    mode: str = "octet"
    options: dict[str, str] = field(default_factory=dict)
    opcode = WRQ

    def encode(self) -> bytes:
        return _encode_request(self.opcode, self.filename, self.mode, self.options)


@dataclass(frozen=True)
class Data:
    block: int
    payload: bytes = b""

    def encode(self) -> bytes:
        return _HH.pack(DATA, self.block & MAX_BLOCK) + self.payload


@dataclass(frozen=True)
class Ack:
    block: int

    def encode(self) -> bytes:
        return _HH.pack(ACK, self.block & MAX_BLOCK)


@dataclass(frozen=True)
class OptionAck:
    options: dict[str, str]

    def encode(self) -> bytes:
        return _H.pack(OACK) + _encode_pairs(self.options)


@dataclass(frozen=True)
class Error:
    code: int
    message: str = ""

    def encode(self) -> bytes:
        return _HH.pack(ERROR, self.code) + self.message.encode("utf-8", "replace") + b"\0"


Packet = ReadRequest | WriteRequest | Data | Ack | OptionAck | Error


def _encode_pairs(options: dict[str, str]) -> bytes:
    return b"".join(k.encode() + b"\0" + str(v).encode() + b"\0" for k, v in options.items())


def _encode_request(opcode: int, filename: str, mode: str, options: dict[str, str]) -> bytes:
    name = filename.encode("utf-8", "surrogateescape")
    return _H.pack(opcode) + name + b"\0" + mode.encode() + b"\0" + _encode_pairs(options)


def _split_strings(body: bytes, what: str) -> list[bytes]:
    if not body.endswith(b"\0"):
        raise MalformedPacket(f"{what}: strings must end with NUL")
    parts = body[:-1].split(b"\0")
    # Some PXE ROMs pad requests with extra NULs: drop empty trailing strings.
    while len(parts) > 2 and parts[-1] == b"":
        parts.pop()
    return parts


def _decode_options(raw: list[bytes], what: str) -> dict[str, str]:
    if len(raw) % 2:
        raise MalformedPacket(f"{what}: option {raw[-1]!r} has no value")
    options: dict[str, str] = {}
    for i in range(0, len(raw), 2):
        try:
            name, value = raw[i].decode("ascii").lower(), raw[i + 1].decode("ascii")
        except UnicodeDecodeError:
            raise MalformedPacket(f"{what}: option names and values must be ASCII") from None
        if not name:
            raise MalformedPacket(f"{what}: empty option name")
        options.setdefault(name, value)  # RFC 2347 leaves duplicates undefined: first wins
    return options


def _decode_request(opcode: int, body: bytes) -> ReadRequest | WriteRequest:
    what = "RRQ" if opcode == RRQ else "WRQ"
    parts = _split_strings(body, what)
    if len(parts) < 2:
        raise MalformedPacket(f"{what}: needs a filename and a mode")
    filename, mode = _text(parts[0]), parts[1].decode("ascii", "replace").lower()
    if not filename:
        raise MalformedPacket(f"{what}: empty filename")
    if mode not in MODES:
        raise MalformedPacket(f"{what}: unknown mode {mode!r}")
    options = _decode_options(parts[2:], what)
    cls = ReadRequest if opcode == RRQ else WriteRequest
    return cls(filename, mode, options)


def decode(datagram: bytes) -> Packet:
    """One datagram to one packet value; :class:`MalformedPacket` if it is not TFTP."""
    if len(datagram) < 4:
        raise MalformedPacket(f"datagram of {len(datagram)} bytes is too short")
    (opcode,) = _H.unpack_from(datagram)
    body = datagram[2:]
    if opcode in (RRQ, WRQ):
        return _decode_request(opcode, body)
    if opcode == DATA:
        return Data(_H.unpack_from(body)[0], bytes(body[2:]))
    if opcode == ACK:
        if len(body) != 2:
            # RFC 1350 ACKs are exactly 4 bytes; a few ROMs pad them. Accept padding of zeros.
            if body[2:].strip(b"\0"):
                raise MalformedPacket("ACK carries trailing data")
        return Ack(_H.unpack_from(body)[0])
    if opcode == ERROR:
        (code,) = _H.unpack_from(body)
        msg = body[2:]
        return Error(code, msg.split(b"\0", 1)[0].decode("utf-8", "replace"))
    if opcode == OACK:
        parts = [p for p in _split_strings(body, "OACK") if p] if body.strip(b"\0") else []
        return OptionAck(_decode_options(parts, "OACK"))
    raise MalformedPacket(f"unknown opcode {opcode}")
