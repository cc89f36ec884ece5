"""DHCPv6 range syntax and subnets from the served interfaces."""

from __future__ import annotations

import ipaddress

import pytest

from provisioner.proto.dhcp6.config import ConfigError, Iface6, build_subnets, parse_range


def v6(t: str) -> int:
    return int(ipaddress.IPv6Address(t))


RANGES = {
    "start,end": ("fd00::100,fd00::1ff", (v6("fd00::100"), v6("fd00::1ff"), None, 3600)),
    "with prefix": ("fd00::100,fd00::1ff,64", (v6("fd00::100"), v6("fd00::1ff"), 64, 3600)),
    "with lease": ("fd00::100,fd00::1ff,12h", (v6("fd00::100"), v6("fd00::1ff"), None, 43200)),
    "prefix and lease": ("fd00::1,fd00::2,120,5m", (v6("fd00::1"), v6("fd00::2"), 120, 300)),
    "bare 3600 is a lease": ("fd00::1,fd00::2,3600", (v6("fd00::1"), v6("fd00::2"), None, 3600)),
}
BAD = {"end before start": "fd00::2,fd00::1", "ipv4": "10.0.0.1,10.0.0.2",
       "one field": "fd00::1", "prefix splits": "fd00::1,fd00:0:0:1::1,64",
       "garbage lease": "fd00::1,fd00::2,soon", "too many": "fd00::1,fd00::2,64,1h,x"}


@pytest.mark.parametrize(("text", "want"), RANGES.values(), ids=RANGES.keys())
def test_parse_range(text: str, want: tuple) -> None:
    r = parse_range(text)
    assert (r.start, r.end, r.prefixlen, r.lease) == want


@pytest.mark.parametrize("text", BAD.values(), ids=BAD.keys())
def test_bad_range(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_range(text)


def test_subnets_for_served_and_relayed_links() -> None:
    iface = Iface6("br0", "02:00:00:00:00:01", "fe80::1", (("fd00:77::1", 64),))
    subnets = build_subnets([iface], ["fd00:77::100,fd00:77::1ff", "fd00:88::10,fd00:88::20,64"])
    local, relayed = subnets
    assert (local.ifname, local.server_ip, len(local.ranges)) == ("br0", "fd00:77::1", 1)
    assert relayed.ifname is None and relayed.network == ipaddress.IPv6Network("fd00:88::/64")
    assert relayed.in_pool(v6("fd00:88::15")) and not relayed.in_pool(v6("fd00:88::21"))
    with pytest.raises(ConfigError, match="prefix length"):
        build_subnets([iface], ["fd00:99::1,fd00:99::2"])
