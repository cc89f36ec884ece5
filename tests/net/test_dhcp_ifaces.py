"""Served interfaces via pyroute2, inside a test namespace: addresses, loopback refused."""

from __future__ import annotations

import sys

import pytest

from tests.netns import have_root_netns, netns

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]

PROBE = r"""
import logging, sys
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
from provisioner.errors import Invalid
from provisioner.net.ifaces import served_addresses
try:
    print(served_addresses(sys.argv[1:]))
except Invalid as exc:
    print("INVALID", exc)
"""


def served(ns, *names: str) -> str:
    out = ns.run([sys.executable, "-c", PROBE, *names], timeout=60)
    return out.stdout + out.stderr


def test_served_addresses_loopback_and_default_route() -> None:
    with netns("if") as ns:
        ns.add_bridge("br0", "10.77.0.1/24")
        ns.ip("addr", "add", "10.99.0.1/16", "dev", "br0")
        ns.add_bridge("br1")
        ns.add_bridge("up0", "192.0.2.10/24")
        ns.ip("route", "add", "default", "via", "192.0.2.1", "dev", "up0")
        out = served(ns, "br0")
        assert "IfaceAddr(ifname='br0', ip='10.77.0.1', prefixlen=24)" in out
        assert "IfaceAddr(ifname='br0', ip='10.99.0.1', prefixlen=16)" in out
        assert "INVALID refusing to serve DHCP/PXE on loopback 'lo'" in served(ns, "lo")
        assert "INVALID interface 'nope0' does not exist" in served(ns, "nope0")
        assert "INVALID interface 'br1' has no IPv4 address" in served(ns, "br1")
        out = served(ns, "up0")
        assert "WARNING serving up0, which carries the default route" in out
        assert "ip='192.0.2.10'" in out


PROBE6 = r"""
import sys
from provisioner.net.ifaces6 import served_ifaces6
print(served_ifaces6(sys.argv[1:])[0].addrs)
"""


def test_configured_ipv6_address_before_an_autoconfigured_one() -> None:
    """The bridge also holds an address learnt from some router's advertisement (not permanent,
    newer, so listed first by the kernel): the configured one stays "our address" on the prefix
    (boot URLs point where HTTP listens). Seen in bench/firmware_bench.py: dnsmasq's RA gave br0
    a SLAAC address and iPXE was sent to it."""
    with netns("if6") as ns:
        ns.add_bridge("br0", "10.77.0.1/24")
        ns.ip("addr", "add", "fd00:78::1/64", "dev", "br0", "nodad")
        ns.ip("addr", "add", "fd00:78::9836:86ff:fe97:5a9e/64", "dev", "br0", "nodad",
              "valid_lft", "600", "preferred_lft", "600")
        out = ns.run([sys.executable, "-c", PROBE6, "br0"], timeout=60).stdout
        assert out.strip() == "(('fd00:78::1', 64), ('fd00:78::9836:86ff:fe97:5a9e', 64))", out
