"""TFTP codec: exact bytes both ways, and malformed datagrams rejected with a reason."""

from __future__ import annotations

import pytest

from provisioner.proto.tftp.codec import (
    Ack,
    Data,
    Error,
    MalformedPacket,
    OptionAck,
    ReadRequest,
    WriteRequest,
    decode,
)

CASES = [
    ("rrq plain", ReadRequest("pxelinux.0", "octet"), b"\x00\x01pxelinux.0\x00octet\x00"),
    ("rrq with options", ReadRequest("f", "octet", {"blksize": "1468", "tsize": "0"}),
     b"\x00\x01f\x00octet\x00blksize\x001468\x00tsize\x000\x00"),
    ("wrq", WriteRequest("up", "netascii"), b"\x00\x02up\x00netascii\x00"),
    ("data", Data(7, b"abc"), b"\x00\x03\x00\x07abc"),
    ("data empty last block", Data(1, b""), b"\x00\x03\x00\x01"),
    ("ack", Ack(65535), b"\x00\x04\xff\xff"),
    ("oack", OptionAck({"blksize": "512", "windowsize": "16"}),
     b"\x00\x06blksize\x00512\x00windowsize\x0016\x00"),
    ("error", Error(1, "file not found"), b"\x00\x05\x00\x01file not found\x00"),
]


@pytest.mark.parametrize("packet,wire", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(packet, wire: bytes) -> None:
    assert packet.encode() == wire
    assert decode(wire) == packet


DECODE_ONLY = [
    ("mode and option names are case-insensitive",
     b"\x00\x01a\x00OCTET\x00BLKSIZE\x001024\x00", ReadRequest("a", "octet", {"blksize": "1024"})),
    ("padding NULs after the options (some PXE ROMs)",
     b"\x00\x01a\x00octet\x00tsize\x000\x00\x00\x00", ReadRequest("a", "octet", {"tsize": "0"})),
    ("duplicate option: first wins",
     b"\x00\x01a\x00octet\x00blksize\x00512\x00blksize\x009000\x00",
     ReadRequest("a", "octet", {"blksize": "512"})),
    ("non-UTF-8 filename survives to be refused by the jail",
     b"\x00\x01\xff\xfe\x00octet\x00", ReadRequest("\udcff\udcfe", "octet")),
    ("ack padded with zeros", b"\x00\x04\x00\x05\x00\x00", Ack(5)),
    ("error message without NUL", b"\x00\x05\x00\x08refused", Error(8, "refused")),
    ("block number rolled over", b"\x00\x03\x00\x00xy", Data(0, b"xy")),
]


@pytest.mark.parametrize("wire,packet", [c[1:] for c in DECODE_ONLY],
                         ids=[c[0] for c in DECODE_ONLY])
def test_decode(wire: bytes, packet) -> None:
    assert decode(wire) == packet


def test_rollover_encodes_low_16_bits() -> None:
    assert Data(65536, b"z").encode() == b"\x00\x03\x00\x00z"
    assert Ack(65537).encode() == b"\x00\x04\x00\x01"


MALFORMED = [
    ("too short", b"\x00\x04\x00", "too short"),
    ("unknown opcode", b"\x00\x09\x00\x00", "unknown opcode"),
    ("rrq without final NUL", b"\x00\x01file\x00octet", "end with NUL"),
    ("rrq without mode", b"\x00\x01file\x00", "filename and a mode"),
    ("rrq empty filename", b"\x00\x01\x00octet\x00", "empty filename"),
    ("rrq unknown mode", b"\x00\x01f\x00binary\x00", "unknown mode"),
    ("option without value", b"\x00\x01f\x00octet\x00blksize\x001\x00tsize\x00", "no value"),
    ("non-ASCII option", b"\x00\x01f\x00octet\x00bl\xffk\x001\x00", "ASCII"),
    ("ack with trailing data", b"\x00\x04\x00\x01junk", "trailing"),
]


@pytest.mark.parametrize("wire,why", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed(wire: bytes, why: str) -> None:
    with pytest.raises(MalformedPacket, match=why):
        decode(wire)
