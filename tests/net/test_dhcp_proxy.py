"""proxyDHCP over real sockets: boot information only, on port 67 and on 4011."""

from __future__ import annotations

import sys

import pytest

from provisioner.proto.dhcp.codec import ACK, DISCOVER, OFFER, REQUEST, Packet, decode
from tests.net.dhcp_helpers import start_server
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]

MAC = "52:54:00:12:34:99"
CHADDR = bytes.fromhex(MAC.replace(":", "")).ljust(16, b"\0")
PXE = {60: b"PXEClient:Arch:00000:UNDI:002001", 93: b"\x00\x00", 97: bytes(17)}


def probe(client, pkt: Packet, *extra: str) -> Packet | None:
    out = client.run([sys.executable, "-m", "tests.net.dhcp_probe", "one", pkt.encode().hex(),
                      "--timeout", "3", *extra], timeout=60).stdout.strip()
    return None if out == "TIMEOUT" else decode(bytes.fromhex(out))


def test_proxy_dhcp_on_67_and_4011(tmp_path) -> None:
    with lan("px", "10.77.0.1/24") as (server, client):
        start_server(server, tmp_path, {"dhcp_mode": "proxy", "http_port": 8080},
                     [{"mac": MAC, "system": "pxe1"}])
        offer = probe(client, Packet(xid=7, flags=0x8000, chaddr=CHADDR,
                                     options={53: bytes([DISCOVER]), **PXE}))
        assert offer is not None and offer.msg_type == OFFER
        assert offer.yiaddr == bytes(4) and offer.siaddr == bytes([10, 77, 0, 1])
        assert offer.file.rstrip(b"\0") == b"pxelinux.0"
        assert offer.options[60] == b"PXEClient" and offer.options[43] == b"\x06\x01\x08\xff"
        assert offer.options[54] == bytes([10, 77, 0, 1]) and 51 not in offer.options
        # an OS client gets nothing from a proxy
        assert probe(client, Packet(xid=8, flags=0x8000, chaddr=CHADDR,
                                    options={53: bytes([DISCOVER]), 60: b"udhcp 1.35.0"})) is None
        # after the real DHCP server gave it an address, the firmware asks on port 4011
        client.ip("addr", "add", "10.77.0.20/24", "dev", "eth0")
        ack = probe(client, Packet(xid=9, ciaddr=bytes([10, 77, 0, 20]), chaddr=CHADDR,
                                   options={53: bytes([REQUEST]), **PXE}),
                    "--dest", "10.77.0.1", "--port", "4011")
        assert ack is not None and ack.msg_type == ACK and ack.yiaddr == bytes(4)
        assert ack.file.rstrip(b"\0") == b"pxelinux.0" and ack.options[60] == b"PXEClient"
