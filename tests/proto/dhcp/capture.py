"""Test helper (run by hand, as root): capture real clients' first DHCP packet as hex fixtures.

    .venv/bin/python -m tests.proto.dhcp.capture [name ...]

Each client runs in a fresh client namespace (tests/netns.py) with nobody answering; a tiny
listener in the server namespace stores the first BOOTREQUEST it sees in
``tests/proto/dhcp/data/<name>.hex``. Clients: busybox udhcpc, ISC dhclient, perfdhcp (relay
style, port 67 -> 67), and QEMU's iPXE firmware (BIOS and UEFI/OVMF), booted with ``-boot n``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.netns import lan

DATA = Path(__file__).parent / "data"
LISTENER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"br0")
s.bind(("", 67)); s.settimeout(float(sys.argv[1]))
while True:
    data, peer = s.recvfrom(65535)
    if data[:1] == b"\x01":
        print(data.hex(), flush=True); break
"""
ROM = "/usr/lib/ipxe/qemu/efi-e1000.rom"
CLIENTS = {
    "udhcpc": ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "3", "-T", "1",
               "-s", "/bin/true"],
    "dhclient": ["dhclient", "-1", "-d", "-sf", "/bin/true", "-lf", "{tmp}/l", "-pf", "{tmp}/p",
                 "eth0"],
    "perfdhcp": ["perfdhcp", "-4", "-r", "1", "-n", "1", "-R", "1", "-l", "10.77.0.2", "10.77.0.1"],
    "ipxe-bios": ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot",
                  "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                  "-device", "e1000,netdev=n0,mac=52:54:00:12:34:56", "-boot", "n"],
    "ipxe-efi": ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot",
                 "-bios", "/usr/share/ovmf/OVMF.fd", "-netdev",
                 "tap,id=n0,ifname=tap0,script=no,downscript=no",
                 "-device", f"e1000,netdev=n0,mac=52:54:00:12:34:57,romfile={ROM}", "-boot", "n"],
}


def capture(name: str) -> str:
    with lan("cap") as (server, client), tempfile.TemporaryDirectory() as tmp:
        argv = [a.replace("{tmp}", tmp) for a in CLIENTS[name]]
        listener = server.popen([sys.executable, "-c", LISTENER, "180"], stderr=None)
        if name.startswith("ipxe"):
            ns = server  # QEMU's tap sits on the server's bridge
            ns.add_tap("tap0", "br0")
        else:
            ns = client
            if name == "perfdhcp":
                client.ip("addr", "add", "10.77.0.2/24", "dev", "eth0")
        ns.popen(argv)
        out, _ = listener.communicate(timeout=200)
        return out.decode().strip()


def main(names: list[str]) -> None:
    for name in names or list(CLIENTS):
        hexdata = capture(name)
        (DATA / f"{name}.hex").write_text(hexdata + "\n")
        print(name, len(hexdata) // 2, "bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
