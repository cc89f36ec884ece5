"""Real DHCP clients (busybox udhcpc, ISC dhclient) against our server in test namespaces."""

from __future__ import annotations

import shutil
import sys

import pytest

from provisioner.proto.dhcp.leases import decode_record
from tests.net.dhcp_helpers import events, start_server
from tests.netns import have_root_netns, lan, netns, veth_between

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]

MAC = "52:54:00:aa:bb:01"
RECORD = {"mac": MAC, "system": "web1", "ip": "10.77.0.100", "hostname": "web1.lab.example"}
SETTINGS = {"dhcp_ranges": ["10.77.0.10,10.77.0.50,255.255.255.0,12h"],
            "dhcp_options": ["option:dns-server,10.77.0.53", "26,1400"], "domain": "lab.example"}
UDHCPC_SCRIPT = """#!/bin/sh
[ "$1" = bound ] && echo "BOUND ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain \
hostname=$hostname lease=$lease mtu=$mtu boot_file=$boot_file siaddr=$siaddr serverid=$serverid"
exit 0
"""


@pytest.fixture
def net(tmp_path):
    with lan("dh", "10.77.0.1/24") as (server, client):
        client.ip("link", "set", "eth0", "address", MAC)
        yield server, client, tmp_path


def udhcpc(client, tmp_path, *args: str) -> str:
    script = tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    out = client.run(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "2",
                      "-s", str(script), *args], timeout=60, check=False)
    return out.stdout + out.stderr


def test_udhcpc_gets_reserved_address_and_options(net) -> None:
    server, client, tmp = net
    start_server(server, tmp, SETTINGS, [RECORD])
    out = udhcpc(client, tmp, "-O", "mtu")
    assert "BOUND ip=10.77.0.100 subnet=255.255.255.0 router=10.77.0.1 dns=10.77.0.53 " \
           "domain=lab.example hostname=web1 lease=43200 mtu=1400 boot_file= siaddr=" in out, out
    assert "serverid=10.77.0.1" in out
    kinds = [(e["subject"], e["kind"]) for e in events(tmp)]
    assert ("system:web1", "dhcp-offer") in kinds and ("system:web1", "dhcp-ack") in kinds
    ack = [e for e in events(tmp) if e["kind"] == "dhcp-ack"][-1]
    assert ack["detail"]["ip"] == "10.77.0.100" and ack["detail"]["bootfile"] is None


def test_udhcpc_broadcast_flag_and_pool_client(net) -> None:
    server, client, tmp = net
    start_server(server, tmp, SETTINGS, [])  # not in the inventory: pool address
    out = udhcpc(client, tmp, "-B")
    assert "BOUND ip=10.77.0.10 " in out, out
    assert "router=10.77.0.1" in out
    assert events(tmp) == []  # no timeline for unknown clients


@pytest.mark.skipif(shutil.which("dhclient") is None, reason="isc-dhcp-client not installed")
def test_dhclient_gets_reserved_address_and_options(net) -> None:
    server, client, tmp = net
    start_server(server, tmp, SETTINGS, [RECORD])
    lease = tmp / "dhclient.leases"
    client.run(["dhclient", "-1", "-sf", "/bin/true", "-lf", str(lease), "-pf",
                str(tmp / "dhclient.pid"), "eth0"], timeout=60)
    text = lease.read_text()
    for want in ("fixed-address 10.77.0.100;", "option subnet-mask 255.255.255.0;",
                 "option routers 10.77.0.1;", "option domain-name-servers 10.77.0.53;",
                 'option domain-name "lab.example";', "option dhcp-server-identifier 10.77.0.1;",
                 "option dhcp-lease-time 43200;", 'option host-name "web1";',
                 "option interface-mtu 1400;"):
        assert want in text, text


def test_two_interfaces_two_subnets(net) -> None:
    server, client, tmp = net
    with netns("dh2") as client2:
        server.add_bridge("br1", "10.88.0.1/24")
        veth_between(server, "vd1", client2, "eth0")
        server.ip("link", "set", "vd1", "master", "br1")
        start_server(server, tmp, {"interfaces": ["br0", "br1"], "dhcp_ranges": [
            "10.77.0.10,10.77.0.50,255.255.255.0,12h", "10.88.0.100,10.88.0.110,45m"]})
        out1 = udhcpc(client, tmp)
        out2 = udhcpc(client2, tmp)
    assert "BOUND ip=10.77.0.10 subnet=255.255.255.0 router=10.77.0.1 " in out1, out1
    assert "lease=43200" in out1 and "serverid=10.77.0.1" in out1
    assert "BOUND ip=10.88.0.100 subnet=255.255.255.0 router=10.88.0.1 " in out2, out2
    assert "lease=2700" in out2 and "serverid=10.88.0.1" in out2


def test_garbage_datagrams_do_not_hurt_the_server(net) -> None:
    server, client, tmp = net
    start_server(server, tmp, SETTINGS, [RECORD])
    client.ip("addr", "add", "10.77.0.3/24", "dev", "eth0")
    client.run([sys.executable, "-c", GARBAGE], timeout=120)
    client.ip("addr", "flush", "dev", "eth0")
    out = udhcpc(client, tmp)
    assert "BOUND ip=10.77.0.100 " in out, out  # still serving, reservation intact
    journal = tmp / "dhcp-data" / "dhcp-leases.journal"
    lines = journal.read_text().splitlines(keepends=True)
    assert lines and all(decode_record(x) is not None for x in lines)


# 3000 datagrams to port 67: random bytes, and real packets with random corruption
GARBAGE = r"""
import random, socket
from provisioner.proto.dhcp.codec import Packet
random.seed(7)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.3", 67))
base = Packet(giaddr=bytes([10, 77, 0, 3]), chaddr=bytes(range(1, 7)) + bytes(10),
              options={53: b"\x01", 60: b"PXEClient:Arch:00000", 52: b"\x03"}).encode()
for i in range(3000):
    if i % 2:
        data = bytearray(base)
        for _ in range(random.randint(1, 12)):
            data[random.randrange(len(data))] = random.randrange(256)
        data = bytes(data[:random.randint(1, len(data))]) + random.randbytes(random.randint(0, 9))
    else:
        data = random.randbytes(random.choice([0, 1, 100, 240, 244, 300, 1400, 60000]))
    s.sendto(data, ("10.77.0.1", 67))
"""


def test_seed_style_dnsmasq_conf(net) -> None:
    server, client, tmp = net
    start_server(server, tmp, {}, dnsmasq_conf="interface=br0\n"
                 "dhcp-range=10.77.0.10,10.77.0.50,255.255.255.0,12h\n"
                 "dhcp-option=3,10.77.0.254\ndhcp-authoritative\n")
    out = udhcpc(client, tmp)
    assert "BOUND ip=10.77.0.10 subnet=255.255.255.0 router=10.77.0.254 " in out, out
    assert "lease=43200" in out
