"""dnsmasq-like configuration parsing: ranges, lease times, options, subnets."""

from __future__ import annotations

import ipaddress

import pytest

from provisioner.proto.dhcp.config import (
    INFINITE,
    ConfigError,
    IfaceAddr,
    build_subnets,
    parse_dnsmasq_conf,
    parse_lease_time,
    parse_option,
    parse_range,
)


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def test_seed_range_gives_41_addresses() -> None:
    r = parse_range("10.1.1.10,10.1.1.50,255.255.255.0,12h")
    assert (r.start, r.end, r.netmask, r.lease) == (ip("10.1.1.10"), ip("10.1.1.50"),
                                                    ip("255.255.255.0"), 43200)
    assert r.size == 41


LEASES = {"hours": ("12h", 43200), "minutes": ("45m", 2700), "seconds": ("3600", 3600),
          "seconds suffix": ("90s", 120), "days": ("1d", 86400), "weeks": ("1w", 604800),
          "infinite": ("infinite", INFINITE), "floor of two minutes": ("10", 120),
          "upper case": ("2H", 7200)}


@pytest.mark.parametrize(("text", "want"), LEASES.values(), ids=LEASES)
def test_lease_time(text: str, want: int) -> None:
    assert parse_lease_time(text) == want


RANGES = {
    "start,end": ("10.1.1.10,10.1.1.20", (None, 3600)),
    "start,end,lease": ("10.1.1.10,10.1.1.20,45m", (None, 2700)),
    "start,end,netmask": ("10.1.1.10,10.1.1.20,255.255.255.0", (ip("255.255.255.0"), 3600)),
    "infinite": ("10.1.1.10,10.1.1.20,255.255.255.0,infinite", (ip("255.255.255.0"), INFINITE)),
}


@pytest.mark.parametrize(("text", "want"), RANGES.values(), ids=RANGES)
def test_range_forms(text: str, want) -> None:
    r = parse_range(text)
    assert (r.netmask, r.lease) == want


BAD = {"one field": "10.1.1.10", "end before start": "10.1.1.50,10.1.1.10",
       "bad address": "10.1.1.300,10.1.1.310", "bad lease": "10.1.1.10,10.1.1.20,12x",
       "bad netmask": "10.1.1.10,10.1.1.20,255.0.255.0",
       "crosses netmask": "10.1.1.10,10.1.2.20,255.255.255.0",
       "too many fields": "10.1.1.10,10.1.1.20,255.255.255.0,1h,x"}


@pytest.mark.parametrize("text", BAD.values(), ids=BAD)
def test_bad_range(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_range(text)


OPTS = {
    "router by number": ("3,10.1.1.1", (3, bytes([10, 1, 1, 1]))),
    "router by name": ("option:router,10.1.1.1", (3, bytes([10, 1, 1, 1]))),
    "dns list": ("option:dns-server,10.1.1.1,10.1.1.2", (6, bytes([10, 1, 1, 1, 10, 1, 1, 2]))),
    "mtu": ("26,1500", (26, b"\x05\xdc")),
    "domain": ("15,lab.example", (15, b"lab.example")),
    "domain search": ("119,a.b", (119, b"\x01a\x01b\x00")),
    "suppress": ("3", (3, None)),
    "unknown code guessed as address": ("200,1.2.3.4", (200, b"\x01\x02\x03\x04")),
    "hex bytes": ("43,06:01:08:ff", (43, b"\x06\x01\x08\xff")),
}


@pytest.mark.parametrize(("text", "want"), OPTS.values(), ids=OPTS)
def test_option(text: str, want) -> None:
    assert parse_option(text) == want


@pytest.mark.parametrize("text", ["3,10.1.1", "option:nonsense,1", "300,1.2.3.4", "26,abc"],
                         ids=["bad address", "unknown name", "code out of range", "bad int"])
def test_bad_option(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_option(text)


def test_subnets_router_defaults_to_serving_address() -> None:
    [s] = build_subnets([IfaceAddr("dummy0", "10.1.1.1", 24)],
                        ["10.1.1.10,10.1.1.50,255.255.255.0,12h"], [], domain="lab.example")
    assert s.ifname == "dummy0" and str(s.network) == "10.1.1.0/24"
    assert s.options[3] == bytes([10, 1, 1, 1]) and s.options[1] == bytes([255, 255, 255, 0])
    assert s.options[15] == b"lab.example" and 6 not in s.options and s.lease == 43200


def test_subnets_option_overrides_router_and_several_interfaces() -> None:
    subnets = build_subnets([IfaceAddr("br0", "10.1.1.2", 24), IfaceAddr("br1", "10.2.0.1", 16)],
                            ["10.1.1.10,10.1.1.50", "10.2.5.1,10.2.5.9,255.255.0.0,1h"],
                            ["3,10.1.1.1"], dns_enabled=True)
    a, b = subnets
    assert (a.ifname, b.ifname) == ("br0", "br1")
    assert a.options[3] == bytes([10, 1, 1, 1]) and a.options[6] == bytes([10, 1, 1, 2])
    assert b.ranges[0].size == 9


def test_relayed_subnet_needs_netmask() -> None:
    [_, relayed] = build_subnets([IfaceAddr("br0", "10.1.1.1", 24)],
                                 ["10.9.0.10,10.9.0.20,255.255.255.0"], [])
    assert relayed.ifname is None and relayed.server_ip == "10.1.1.1" and 3 not in relayed.options
    with pytest.raises(ConfigError, match="netmask"):
        build_subnets([IfaceAddr("br0", "10.1.1.1", 24)], ["10.9.0.10,10.9.0.20"], [])


SEED_CONF = """\
# the seed's dnsmasq setup (Virtualization Guide 6.5), verbatim lines
interface=dummy0
dhcp-range=10.1.1.10,10.1.1.50,255.255.255.0,12h
dhcp-option=3,10.1.1.1
"""


def test_seed_dnsmasq_conf_lines_work_verbatim() -> None:
    out, notes = parse_dnsmasq_conf(SEED_CONF + "interface=br1\ndhcp-authoritative\nport=0\n")
    assert out == {"interfaces": ("dummy0", "br1"),
                   "dhcp_ranges": ("10.1.1.10,10.1.1.50,255.255.255.0,12h",),
                   "dhcp_options": ("3,10.1.1.1",), "dns_enabled": False, "dhcp_enabled": True}
    assert notes == ["line 6: 'dhcp-authoritative' ignored: this server is always "
                     "authoritative for its ranges"]
    [s] = build_subnets([IfaceAddr("dummy0", "10.1.1.1", 24)], out["dhcp_ranges"],
                        out["dhcp_options"])
    assert s.ranges[0].size == 41 and s.options[3] == bytes([10, 1, 1, 1])


@pytest.mark.parametrize(("line", "error"), [
    ("listen-address=10.0.0.1", "unsupported dnsmasq option 'listen-address'"),
    ("dhcp-range=tag:lab,10.1.1.10,10.1.1.50", "tags"),
    ("dhcp-range=10.1.1.50,10.1.1.10", "end before start"),
    ("dhcp-option=3,10.1.1", "bad dhcp-option"),
    ("port=abc", "port must be a number"),
    ("interface=", "interface needs a value"),
], ids=["unknown key", "tags", "bad range", "bad option", "bad port", "empty interface"])
def test_bad_dnsmasq_conf_lines(line: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_dnsmasq_conf(SEED_CONF + line + "\n")
