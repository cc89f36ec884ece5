"""The two small services the lab runs beside the appliance (``python -m provisioner.lab``):
a loopback forwarder from the machine's 127.0.0.1 into the lab namespace, and IPv6 router
advertisements that spare iPXE a 13 s wait per boot."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import select
import socket
import struct
import time

CLONE_NEWNET = 0x40000000


def forward(listen_fd: int, netns: str, target: tuple[str, int]) -> None:
    """Serve connections accepted on ``listen_fd`` (a loopback socket made in the machine's
    namespace) by connecting to ``target`` from inside ``netns``.

    A socket stays in the namespace it was made in: the listening socket comes from the parent,
    then this process joins the lab namespace, so every outgoing connection starts there.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")
    os.close(fd)
    listener = socket.socket(fileno=listen_fd)

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(*target), 10)
        except (TimeoutError, OSError):
            writer.close()
            return
        await asyncio.gather(pump(reader, up_w), pump(up_r, writer))

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def router_adverts(ifname: str, period: float = 1.0) -> None:
    """Answer IPv6 Router Solicitations on ``ifname`` (and advertise every ``period`` s) with
    a Router Advertisement that offers nothing: lifetime 0 (not a default router), no prefix.

    Why: iPXE configures IPv6 next to DHCPv4 and waits for a router advertisement before it
    goes on; on a network without an IPv6 router that wait is about 13 s of every network boot
    (measured in the lab: QEMU start to kickstart 27 s without, 14 s with). The lab's network
    has no router, so the lab plays the part of an IPv6 router that routes nothing.
    """
    index = socket.if_nametoindex(ifname)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    all_routers = socket.inet_pton(socket.AF_INET6, "ff02::2")
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                    all_routers + struct.pack("@I", index))
    # type 134, code 0, checksum (kernel), hop limit 64, flags 0, router lifetime 0,
    # reachable time 0, retransmit timer 0; no options
    advert = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 0, 0, 0)

    def send() -> None:
        try:
            sock.sendto(advert, ("ff02::1", 0, 0, index))
        except OSError:
            pass  # no usable link-local address yet (bridge without carrier, DAD): next time

    next_periodic = 0.0
    while True:
        now = time.monotonic()
        if now >= next_periodic:
            send()
            next_periodic = now + period
        ready, _, _ = select.select([sock], [], [], max(0.0, next_periodic - now))
        if ready and sock.recv(2048)[:1] == b"\x85":  # type 133: a router solicitation
            send()
