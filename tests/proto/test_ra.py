"""Router advertisement message and schedule (RFC 4861), pure."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from provisioner.proto.errors import PeerError
from provisioner.proto.ra import Prefix, RaConfig, RaSchedule, build_ra, parse_rs

NET = ipaddress.IPv6Network("fd00:77::/64")
CFG = RaConfig("02:00:00:00:00:01", (Prefix(NET),), managed=True, other=True,
               router_lifetime=0, dns=("fd00:77::1",))


def _options(ra: bytes) -> dict[int, bytes]:
    out, pos = {}, 16
    while pos < len(ra):
        kind, n = ra[pos], ra[pos + 1] * 8
        out[kind] = ra[pos:pos + n]
        pos += n
    assert pos == len(ra)
    return out


def test_advertisement_fields() -> None:
    ra = build_ra(CFG)
    kind, code, _csum, hops, flags, lifetime = struct.unpack_from("!BBHBBH", ra)
    assert (kind, code, hops, flags, lifetime) == (134, 0, 64, 0xC0, 0)
    opts = _options(ra)
    assert opts[1] == b"\x01\x01\x02\x00\x00\x00\x00\x01"
    plen, pflags, valid, preferred = struct.unpack_from("!BBII", opts[3], 2)
    assert (plen, pflags, valid, preferred) == (64, 0xC0, 86400, 14400)
    assert opts[3][16:] == NET.network_address.packed
    assert opts[25][8:] == ipaddress.IPv6Address("fd00:77::1").packed


def test_flags_and_final_withdrawal() -> None:
    cfg = RaConfig("02:00:00:00:00:01", (Prefix(NET, autonomous=False),), managed=False,
                   other=True, router_lifetime=1800)
    ra = build_ra(cfg, final=True)
    assert ra[5] == 0x40 and struct.unpack_from("!H", ra, 6)[0] == 0
    assert struct.unpack_from("!BBII", _options(ra)[3], 2) == (64, 0x80, 0, 0)
    assert struct.unpack_from("!H", build_ra(cfg), 6)[0] == 1800
    with pytest.raises(ValueError):
        RaConfig("02:00:00:00:00:01", router_lifetime=9001)


RS = {
    "bare": (b"\x85\x00\x00\x00\x00\x00\x00\x00", None),
    "with source link-layer": (b"\x85\x00\x00\x00\x00\x00\x00\x00\x01\x01RT\x00\x124V",
                               "52:54:00:12:34:56"),
}
BAD_RS = {"short": b"\x85\x00\x00", "an RA": b"\x86" + bytes(7), "code 1": b"\x85\x01" + bytes(6),
          "zero-length option": b"\x85" + bytes(7) + b"\x01\x00",
          "option past the end": b"\x85" + bytes(7) + b"\x01\x02RT\x00\x124V"}


@pytest.mark.parametrize(("data", "mac"), RS.values(), ids=RS.keys())
def test_solicitation(data: bytes, mac: str | None) -> None:
    assert parse_rs(data).source_mac == mac


@pytest.mark.parametrize("data", BAD_RS.values(), ids=BAD_RS.keys())
def test_bad_solicitation(data: bytes) -> None:
    with pytest.raises(PeerError):
        parse_rs(data)


def test_schedule_initial_then_interval_and_solicit_rate_limit() -> None:
    s = RaSchedule(60, now=0)
    assert s.due(0)
    times = []
    now = 0.0
    for _ in range(5):
        assert s.due(now)
        s.on_sent(now)
        times.append(now)
        now = s.next_at
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [16, 16, 16, 60]
    assert s.on_solicit(times[-1] + 1) == times[-1] + 3  # not sooner than 3 s after the last
    assert s.on_solicit(times[-1] + 10) == times[-1] + 10
    with pytest.raises(ValueError):
        RaSchedule(2, 0)
