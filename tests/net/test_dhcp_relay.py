"""A relay agent (our probe, bound to giaddr:67 like a real relay) on a second subnet: the
server picks the subnet by giaddr, answers the relay on port 67 and keeps option 82."""

from __future__ import annotations

import ipaddress
import sys

import pytest

from provisioner.proto.dhcp.codec import DISCOVER, OFFER, Packet, decode
from tests.net.dhcp_helpers import start_server
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]

AGENT = b"\x01\x06eth7/1\x02\x04sw01"  # circuit id + remote id


def test_relayed_discover_uses_giaddr_subnet_and_keeps_option_82(tmp_path) -> None:
    with lan("rl", "10.77.0.1/24") as (server, client):
        client.ip("addr", "add", "10.77.0.2/24", "dev", "eth0")  # the relay's uplink
        client.ip("addr", "add", "10.55.0.1/24", "dev", "eth0")  # its client-side address
        server.ip("route", "add", "10.55.0.0/24", "via", "10.77.0.2")
        start_server(server, tmp_path, {"dhcp_ranges": [
            "10.77.0.10,10.77.0.50,255.255.255.0,1h", "10.55.0.100,10.55.0.120,255.255.255.0,2h"]})
        pkt = Packet(xid=42, hops=1, giaddr=ipaddress.IPv4Address("10.55.0.1").packed,
                     chaddr=bytes.fromhex("525400ab0001").ljust(16, b"\0"),
                     options={53: bytes([DISCOVER]), 82: AGENT})
        out = client.run([sys.executable, "-m", "tests.net.dhcp_probe", "one", pkt.encode().hex(),
                          "--dest", "10.77.0.1", "--bind", "10.55.0.1:67", "--timeout", "10"],
                         timeout=60).stdout.strip()
        assert out != "TIMEOUT"
        reply = decode(bytes.fromhex(out))
    assert reply.msg_type == OFFER and reply.xid == 42
    assert ipaddress.IPv4Address(reply.yiaddr) in ipaddress.IPv4Network("10.55.0.96/27")
    assert reply.giaddr == ipaddress.IPv4Address("10.55.0.1").packed
    assert reply.options[82] == AGENT
    assert reply.options[1] == bytes([255, 255, 255, 0])
    assert reply.options[51] == (7200).to_bytes(4, "big")
    assert reply.options[54] == bytes([10, 77, 0, 1])  # the address the relay talks to
