"""Test helper (run by hand, as root): capture real clients' first DHCPv6 message as fixtures.

    .venv/bin/python -m tests.proto.dhcp6.capture [name ...]

Each client runs in a fresh namespace pair (tests/netns.py); nobody answers DHCPv6. A listener
in the server namespace (joined to ff02::1:2 on br0) stores the first client or relay message
in ``tests/proto/dhcp6/data/<name>.hex``: the sender's address on the first line, the datagram
in hex on the second. Firmware that waits for a router advertisement before DHCPv6 (iPXE) gets
ours (``provisioner.net.ra``). Clients: ISC dhclient -6, perfdhcp -6 (direct and relayed),
OVMF's PXEv6 and HTTPv6 boot entries, iPXE (QEMU's BIOS ROM).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.machines import qemu_argv
from tests.netns import lan

DATA = Path(__file__).parent / "data"
LISTENER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"br0")
s.bind(("::", 547)); s.settimeout(float(sys.argv[1]))
idx = socket.if_nametoindex("br0")
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
             socket.inet_pton(socket.AF_INET6, "ff02::1:2") + struct.pack("=I", idx))
want = set(int(x) for x in sys.argv[2].split(","))
vendor = sys.argv[3] == "vendor"  # firmware: the boot Solicit (with a vendor class option 16)
while True:
    data, peer = s.recvfrom(65535)
    if data[:1] and data[0] in want and (not vendor or b"\x00\x10\x00" in data):
        print(peer[0].split("%")[0]); print(data.hex(), flush=True); break
"""
RA = r"""
import asyncio
from provisioner.net.ra import start_ra
from provisioner.settings import Settings
async def main():
    await start_ra(Settings(interfaces=("br0",), ra_enabled=True, ra_router_lifetime=0))
    await asyncio.sleep(600)
asyncio.run(main())
"""
MAC = "52:54:00:12:34:60"
Argv = Callable[[str], list[str]]
#: name -> (argv for a temporary directory, runs on the server's bridge (QEMU tap), kinds kept)
CLIENTS: dict[str, tuple[Argv, bool, str]] = {
    "dhclient": (lambda t: ["dhclient", "-6", "-1", "-d", "-sf", "/bin/true", "-lf", f"{t}/l",
                            "-pf", f"{t}/p", "eth0"], False, "1"),
    "perfdhcp": (lambda t: ["perfdhcp", "-6", "-r", "1", "-n", "1", "-R", "1", "-l", "eth0"],
                 False, "1"),
    "perfdhcp-relay": (lambda t: ["perfdhcp", "-6", "-A1", "-r", "1", "-n", "1", "-R", "1",
                                  "-l", "eth0"], False, "12"),
    "ovmf-pxe6": (lambda t: qemu_argv("ovmf", MAC, Path(t), ("pxe6",)), True, "1 vendor"),
    "ovmf-http6": (lambda t: qemu_argv("ovmf", MAC, Path(t), ("http6",)), True, "1 vendor"),
    "ipxe-bios": (lambda t: qemu_argv("bios", MAC, Path(t)), True, "1 vendor"),
}


def capture(name: str) -> str:
    argv, on_bridge, kinds = CLIENTS[name]
    with lan("cap") as (server, client), tempfile.TemporaryDirectory() as tmp:
        server.ip("addr", "add", "fd00:99::1/64", "dev", "br0", "nodad")
        command = argv(tmp)
        kinds, _, vendor = kinds.partition(" ")
        listener = server.popen([sys.executable, "-c", LISTENER, "120", kinds, vendor or "-"],
                                stderr=None)
        server.popen([sys.executable, "-c", RA], stderr=None)
        ns = server if on_bridge else client
        time.sleep(3)  # link-local addresses finish duplicate address detection (clients bind)
        if on_bridge:
            server.add_tap("tap0", "br0")
        ns.popen(command)
        out, _ = listener.communicate(timeout=140)
    return out.decode()


if __name__ == "__main__":
    DATA.mkdir(exist_ok=True)
    for name in sys.argv[1:] or list(CLIENTS):
        text = capture(name)
        (DATA / f"{name}.hex").write_text(text)
        print(name, text.splitlines()[0] if text else "(nothing)")
