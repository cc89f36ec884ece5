"""Differential test: the same PXE requests to dnsmasq and to our server (equivalent config).

Requests are built with our codec from real captured packets (tests/proto/dhcp/data), sent
from a client namespace over a real socket (broadcast flag set, so both servers broadcast the
reply), and the answers' boot file, next-server, address and key options are compared.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.proto.dhcp.codec import REQUEST, Packet, decode
from tests.net.dhcp_helpers import start_server, wait_for
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns() or not shutil.which("dnsmasq"),
                                 reason="needs root, ip netns and dnsmasq")]

DATA = Path(__file__).parent.parent / "proto" / "dhcp" / "data"
MAC = "52:54:00:12:34:56"
IPXE_URL = f"http://10.77.0.1:8080/boot/ipxe/{MAC}"
HTTP_URL = "http://10.77.0.1:8080/tftpboot/ipxe.efi"
DNSMASQ_CONF = [
    "--dhcp-range=10.77.0.10,10.77.0.50,255.255.255.0,1h",
    f"--dhcp-host={MAC},10.77.0.100,web1",
    "--dhcp-userclass=set:ipxe,iPXE",
    "--dhcp-vendorclass=set:http,HTTPClient",
    "--dhcp-vendorclass=set:pxe,PXEClient",
    "--dhcp-match=set:bios,option:client-arch,0",
    "--dhcp-match=set:efi64,option:client-arch,7",
    "--dhcp-match=set:efi64,option:client-arch,9",
    "--dhcp-boot=tag:pxe,tag:bios,tag:!ipxe,pxelinux.0,,10.77.0.1",
    "--dhcp-boot=tag:pxe,tag:efi64,tag:!ipxe,ipxe.efi,,10.77.0.1",
    f"--dhcp-boot=tag:pxe,tag:ipxe,{IPXE_URL},,10.77.0.1",
    f"--dhcp-boot=tag:http,{HTTP_URL},,10.77.0.1",
    "--dhcp-option-force=tag:http,60,HTTPClient",
]
OURS = {"dhcp_ranges": ["10.77.0.10,10.77.0.50,255.255.255.0,1h"], "http_port": 8080,
        "domain": ""}
RECORD = {"mac": MAC, "system": "web1", "ip": "10.77.0.100", "hostname": "web1"}


def golden(name: str) -> Packet:
    return decode(bytes.fromhex((DATA / f"{name}.hex").read_text()))


def without(pkt: Packet, *codes: int) -> Packet:
    return pkt.replace(options={k: v for k, v in pkt.options.items() if k not in codes})


MAC_BYTES = bytes.fromhex(MAC.replace(":", "")).ljust(16, b"\0")
BIOS_ROM = without(golden("ipxe-bios"), 77, 175)  # a plain PXE ROM: no iPXE user class
REQUESTS = {
    "bios pxe": (BIOS_ROM, "pxelinux.0"),
    "efi x86-64": (without(golden("ipxe-efi"), 77, 175), "ipxe.efi"),
    "ipxe user class": (golden("ipxe-bios"), IPXE_URL),
    "uefi http client": (BIOS_ROM.replace(options={
        **{k: v for k, v in BIOS_ROM.options.items() if k not in (60, 93)},
        60: b"HTTPClient:Arch:00016:UNDI:003001", 93: b"\x00\x10"}), HTTP_URL),
    "udhcpc (no boot file)": (golden("udhcpc"), None),
}


def summary(pkt: Packet) -> dict:
    """What must agree: type, address, next-server, boot file (file or option 67), options."""
    o = pkt.options
    boot = pkt.file.rstrip(b"\0") or o.get(67, b"").rstrip(b"\0")
    return {"type": pkt.msg_type, "yiaddr": str(ipaddress.IPv4Address(pkt.yiaddr)),
            "siaddr": str(ipaddress.IPv4Address(pkt.siaddr)) if boot else None,
            "bootfile": boot.decode() or None,
            **{f"opt{c}": o.get(c) for c in (1, 3, 12, 28, 51, 54, 58, 59, 60)}}


def exchange(client, pkt: Packet) -> tuple[dict, dict]:
    """DISCOVER -> OFFER, then REQUEST for the offered address -> ACK; both summarised."""
    def send(p: Packet) -> Packet:
        out = client.run([sys.executable, "-m", "tests.net.dhcp_probe", "one", p.encode().hex()],
                         timeout=60)
        assert out.stdout.strip() != "TIMEOUT", f"no answer to {p.options.get(53)}"
        return decode(bytes.fromhex(out.stdout.strip()))

    base = pkt.replace(flags=0x8000, chaddr=MAC_BYTES)
    offer = send(base)
    req = base.replace(options={**base.options, 53: bytes([REQUEST]), 50: offer.yiaddr,
                                54: offer.options[54]})
    return summary(offer), summary(send(req))


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict[str, dict[str, tuple[dict, dict]]]:
    tmp = tmp_path_factory.mktemp("diff")
    got: dict[str, dict[str, tuple[dict, dict]]] = {"dnsmasq": {}, "ours": {}}
    for server_name in got:
        with lan("df", "10.77.0.1/24") as (server, client):
            if server_name == "dnsmasq":
                log = tmp / "dnsmasq.log"
                with open(log, "wb") as fh:
                    server.popen(["dnsmasq", "--no-daemon", "--port=0", "--interface=br0",
                                  "--bind-interfaces", f"--dhcp-leasefile={tmp}/dnsmasq.leases",
                                  "--user=root", f"--pid-file={tmp}/dnsmasq.pid", "--log-dhcp",
                                  *DNSMASQ_CONF], stdout=fh, stderr=subprocess.STDOUT)
                wait_for(log, "DHCP, sockets bound")
            else:
                start_server(server, tmp, OURS, [RECORD])
            for name, (pkt, _) in REQUESTS.items():
                got[server_name][name] = exchange(client, pkt)
    return got


@pytest.mark.parametrize("name", REQUESTS, ids=REQUESTS)
def test_same_answer_as_dnsmasq(answers, name: str) -> None:
    want_boot = REQUESTS[name][1]
    theirs, ours = answers["dnsmasq"][name], answers["ours"][name]
    assert theirs[0]["bootfile"] == want_boot  # the reference config does what we think
    assert ours == theirs
