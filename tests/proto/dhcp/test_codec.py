"""DHCP codec: golden packets captured from real clients (tests/proto/dhcp/capture.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.proto.dhcp.codec import DISCOVER, Packet, decode
from provisioner.proto.dhcp.core import client_info
from provisioner.proto.errors import PeerError

DATA = Path(__file__).parent / "data"


def golden(name: str) -> bytes:
    return bytes.fromhex((DATA / f"{name}.hex").read_text())


GOLDEN = {
    # name: (mac, option 60, arch, user classes, giaddr, selected options)
    "udhcpc": (b"udhcp 1.35.0", None, (), "0.0.0.0", {57: b"\x02\x40"}),
    "dhclient": (b"", None, (), "0.0.0.0", {12: b"vm"}),
    "perfdhcp": (b"", None, (), "10.77.0.2", {61: b"\x01\x00\x0c\x01\x02\x03\x04"}),
    "ipxe-bios": (b"PXEClient:Arch:00000:UNDI:002001", 0, ("iPXE",), "0.0.0.0",
                  {94: b"\x01\x02\x01", 97: bytes(17), 57: b"\x05\xc0"}),
    "ipxe-efi": (b"PXEClient:Arch:00007:UNDI:003010", 7, ("iPXE",), "0.0.0.0",
                 {94: b"\x01\x03\x0a", 61: b"\x01RT\x00\x124W"}),
}


@pytest.mark.parametrize("name", GOLDEN, ids=GOLDEN)
def test_golden_round_trip(name: str) -> None:
    raw = golden(name)
    pkt = decode(raw)
    assert pkt.encode(min_len=len(raw)) == raw
    assert decode(pkt.encode()) == pkt


@pytest.mark.parametrize(("name", "want"), GOLDEN.items(), ids=GOLDEN)
def test_golden_fields(name: str, want) -> None:
    vendor, arch, classes, giaddr, selected = want
    pkt = decode(golden(name))
    assert pkt.op == 1 and pkt.msg_type == DISCOVER and pkt.hlen == 6
    assert pkt.options.get(60, b"") == vendor
    info = client_info(pkt)
    assert (info.arch, info.user_classes) == (arch, classes)
    assert ".".join(str(b) for b in pkt.giaddr) == giaddr
    for code, value in selected.items():
        assert pkt.options[code] == value


def test_ipxe_mac_and_parameter_list() -> None:
    pkt = decode(golden("ipxe-bios"))
    assert pkt.mac == "52:54:00:12:34:56"
    assert set(pkt.options[55]) >= {1, 3, 6, 12, 15, 17, 26, 43, 60, 66, 67, 119, 175, 203}


HEADER = bytes(236) + b"\x63\x82\x53\x63"
REQ = b"\x01\x01\x06" + HEADER[3:]
MALFORMED = {
    "empty": b"",
    "truncated header": REQ[:100],
    "no magic cookie": REQ[:236] + b"\x00\x00\x00\x00\x35\x01\x01\xff",
    "option length past end": REQ + b"\x35\x05\x01",
    "option without length byte": REQ + b"\x35",
    "bad op": b"\x07" + REQ[1:] + b"\x35\x01\x01\xff",
    "bad hlen": REQ[:2] + b"\x20" + REQ[3:] + b"\xff",
    "bad overload value": REQ + b"\x34\x01\x09\xff",
    "overload into garbage file": REQ[:108] + b"\x35\x90" + REQ[110:] + b"\x34\x01\x01\xff",
    "huge": REQ + bytes(70000),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED)
def test_malformed_is_peer_error(raw: bytes) -> None:
    with pytest.raises(PeerError):
        decode(raw)


def test_option_overload_merges_file_and_sname() -> None:
    base = Packet(options={53: b"\x01", 52: b"\x03"})
    raw = bytearray(base.encode())
    raw[108:111] = b"\x0c\x01x"  # option 12 in the file field
    raw[44:51] = b"\x3c\x04PXEC\xff"[:7]  # option 60 (truncated value 'PXEC') in sname
    pkt = decode(bytes(raw))
    assert pkt.options[12] == b"x" and pkt.options[60] == b"PXEC" and 52 not in pkt.options
    assert pkt.file == bytes(128) and pkt.sname == bytes(64)


def test_long_option_split_and_joined() -> None:
    pkt = Packet(options={53: b"\x01", 43: bytes(range(256)) * 2})
    raw = pkt.encode()
    assert raw.count(b"\x2b\xff") == 2  # 512 bytes -> 255 + 255 + 2
    assert decode(raw).options[43] == bytes(range(256)) * 2


def test_pad_and_missing_end_tolerated() -> None:
    pkt = decode(REQ + b"\x00\x00\x35\x01\x03\x00")
    assert pkt.msg_type == 3
