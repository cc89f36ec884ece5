"""Shared UDP plumbing for the DHCP and DNS servers: sockets and a batched asyncio reader.

:func:`open_socket` makes a UDP socket bound to ``host:port``, optionally pinned to one interface
(``SO_BINDTODEVICE``, so several servers/interfaces can share port 67 with ``SO_REUSEADDR``),
allowed to broadcast, with a large receive buffer (``SO_RCVBUFFORCE`` when permitted, else
``SO_RCVBUF``: under load the receive queue overflows first) and ``IP_PKTINFO`` (IPv6:
``IPV6_RECVPKTINFO``) so each datagram says on which interface and to which local address it
arrived. An IPv6 host (``::``, ``fd00::1``) makes an IPv6-only socket.

:class:`BatchReader` reads *all* waiting datagrams when the socket becomes readable (up to
``max_batch``) and hands them to one callback as a list. The DHCP server uses that to persist
the lease changes of a whole batch with one fsync before sending the batch's replies
(group commit), which is what makes crash-safe leases fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("provisioner.net")

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python does not export it
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst, addr
PKTINFO6 = struct.Struct("=16sI")  # in6_pktinfo: addr, ifindex
DEFAULT_RCVBUF = 8 << 20
_ANC_SPACE = socket.CMSG_SPACE(max(PKTINFO.size, PKTINFO6.size))


@dataclass(frozen=True, slots=True)
class Datagram:
    """One received datagram: payload, sender, arrival interface index and local address."""

    data: bytes
    peer: tuple[str, int]
    ifindex: int = 0
    local_ip: str = ""


def open_socket(port: int, host: str = "0.0.0.0", *, ifname: str | None = None,
                broadcast: bool = False, rcvbuf: int = DEFAULT_RCVBUF,
                reuse: bool = True) -> socket.socket:
    """A non-blocking UDP socket; see the module docstring for the options it sets."""
    v6 = ":" in host
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if ifname:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def recv_batch(sock: socket.socket, max_batch: int = 256, bufsize: int = 4096) -> list[Datagram]:
    """Every datagram waiting on ``sock`` (non-blocking), at most ``max_batch``."""
    out: list[Datagram] = []
    anc = _ANC_SPACE
    for _ in range(max_batch):
        try:
            data, ancdata, _flags, peer = sock.recvmsg(bufsize, anc)
        except (BlockingIOError, InterruptedError):
            break
        except OSError as exc:  # e.g. ICMP errors reported on the socket: skip
            log.debug("recvmsg: %s", exc)
            continue
        idx, local = 0, ""
        for level, kind, value in ancdata:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= PKTINFO.size:
                idx, _spec, addr = PKTINFO.unpack_from(value)
                local = socket.inet_ntoa(addr)
            elif (level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO
                  and len(value) >= PKTINFO6.size):
                addr, idx = PKTINFO6.unpack_from(value)
                local = socket.inet_ntop(socket.AF_INET6, addr)
        out.append(Datagram(data, peer, idx, local))
    return out


class BatchReader:
    """Calls ``on_batch(sock, datagrams)`` from the event loop whenever ``sock`` is readable."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 on_batch: Callable[[socket.socket, list[Datagram]], None],
                 max_batch: int = 256) -> None:
        self.loop, self.sock, self.on_batch, self.max_batch = loop, sock, on_batch, max_batch
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        batch = recv_batch(self.sock, self.max_batch)
        if batch:
            try:
                self.on_batch(self.sock, batch)
            except Exception:  # one bad batch must never stop the server
                log.exception("error while handling %d datagram(s)", len(batch))

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


Address = tuple[str, int] | tuple[str, int, int, int]  # IPv4, or IPv6 with flow info and scope


def send(sock: socket.socket, data: bytes, dest: Address) -> bool:
    """Send one datagram; a full queue or unreachable peer is logged, never raised."""
    try:
        sock.sendto(data, dest)
        return True
    except BlockingIOError:
        log.debug("send queue full, dropped reply to %s", dest)
    except OSError as exc:
        log.warning("cannot send to %s port %d: %s", dest[0], dest[1], exc)
    return False
