"""The TFTP transport: sockets and timers around sans-IO :class:`TftpSession` objects.

One listening socket per address receives requests. Each transfer then gets its own socket on an
ephemeral port (its TID, RFC 1350), bound to the address the request was sent to (learned with
``IP_PKTINFO``, so a wildcard listener answers from the right address) and connected to the
peer, as tftpd-hpa does: the kernel drops datagrams from any other address, so a stranger can
never disturb a transfer (it gets no ERROR 5), and sending needs no address per datagram. Each
transfer has its own timer and is driven only by its own socket and deadline, so one client's
loss or stall never delays another's. Sockets are read with ``loop.add_reader`` and non-blocking
``recv_into`` into one buffer (no per-datagram task or future), and each transfer keeps a single
timer that is re-armed lazily.

Policy lives elsewhere: what a path means is the injected ``resolve(path, peer)``; what was served
goes to the injected ``on_transfer_done(TransferStats)``. ``resolve`` runs on the event loop: it
must be quick (files open in microseconds; rendered configs are one indexed store read).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from provisioner.content.base import ResponseData
from provisioner.proto.tftp.codec import ACK, RRQ, WRQ, Error, ErrorCode
from provisioner.proto.tftp.session import SessionConfig, State, TftpSession, TransferStats

log = logging.getLogger("provisioner.tftp")

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python does not export it
_PKTINFO = struct.Struct("@i4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr
_PKTINFO6 = struct.Struct("@16sI")  # struct in6_pktinfo: addr, ifindex
_ANC = socket.CMSG_SPACE(max(_PKTINFO.size, _PKTINFO6.size))
IP_UDP_TFTP_HEADERS = 20 + 8 + 4
IPV6_EXTRA_HEADER = 40 - 20
SIOCGIFMTU = 0x8921

Resolve = Callable[[str, tuple[str, int]], ResponseData]
OnDone = Callable[[TransferStats], None]


def interface_mtu(ifindex: int) -> int | None:
    """The MTU of an interface by index (ioctl: this thread's namespace); None if unknown."""
    try:
        name = socket.if_indextoname(ifindex)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            req = fcntl.ioctl(s, SIOCGIFMTU, struct.pack("16si", name.encode(), 0))
        return struct.unpack("16si", req)[1]
    except (OSError, ValueError):
        return None


class _Transfer:
    """One transfer: its socket, its session, its timer."""

    def __init__(self, server: TftpServer, sock: socket.socket, peer: tuple[str, int],
                 session: TftpSession) -> None:
        self.server, self.sock, self.peer, self.session = server, sock, peer, session
        self.timer: Any = None  # the loop's timer handle (asyncio or FastLoop)
        self.closed = False
        self.now = server.clock

    def start(self, request: bytes) -> None:
        self.server.loop.add_reader(self.sock.fileno(), self._on_readable)
        self._send(self.session.receive(request, self.now()))
        self._after()

    def _send(self, datagrams: list[bytes]) -> None:
        send = self.sock.send  # connected to the peer: no address to convert per datagram
        for d in datagrams:
            try:
                send(d)
            except (BlockingIOError, InterruptedError):
                pass  # socket buffer full: the retransmit timer covers it
            except OSError as exc:
                self._send_failed(exc)

    def _send_failed(self, exc: OSError) -> None:
        if exc.errno not in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
            log.debug("tftp: send to %s failed: %s", self.peer, exc)

    def _on_readable(self) -> None:
        # the per-datagram path: one datagram per wake-up (a second recv would mostly fail with
        # EAGAIN, and a raised BlockingIOError costs more than the loop's next poll), an ACK
        # parsed straight from the receive buffer, sends inlined, the timer re-armed lazily
        buf = self.server.buffer  # one receive buffer per loop: no 64 KiB allocation per packet
        try:
            n = self.sock.recv_into(buf)  # connected: only the peer's datagrams arrive here
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # ICMP port unreachable from the peer: it went away
            return
        session = self.session
        if n == 4 and buf[1] == ACK and buf[0] == 0 and session.state is State.SENDING:
            out = session.ack((buf[2] << 8) | buf[3], self.now())
        else:
            out = session.receive(bytes(buf[:n]), self.now())
        send = self.sock.send
        for d in out:
            try:
                send(d)
            except (BlockingIOError, InterruptedError):
                pass  # socket buffer full: the retransmit timer covers it
            except OSError as exc:
                self._send_failed(exc)
        if session.finished:
            self.close()
            return
        deadline, timer = session.deadline, self.timer
        if deadline is not None and (timer is None or timer.when() > deadline):
            if timer is not None:
                timer.cancel()
            self.timer = self.server.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self._send(self.session.poll(self.now()))
        self._after()

    def _after(self) -> None:
        if self.session.finished:
            self.close()
            return
        deadline = self.session.deadline
        if deadline is None:
            return
        if self.timer is None or self.timer.when() > deadline:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.server.loop.call_at(deadline, self._on_timer)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        with contextlib.suppress(ValueError, OSError):
            self.server.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.server._finished(self)


class TftpServer:
    """Serves read requests on one or more addresses; see the module docstring."""

    def __init__(self, resolve: Resolve, *, max_transfers: int = 256, max_blksize: int = 1468,
                 config: SessionConfig | None = None, on_transfer_done: OnDone | None = None,
                 loop: Any = None,
                 before_request: Callable[[], None] | None = None) -> None:
        self.resolve = resolve
        self.before_request = before_request  # e.g. refresh the inventory snapshot
        self.max_transfers = max_transfers
        self.max_blksize = max_blksize
        self.config = config or SessionConfig()
        self.on_transfer_done = on_transfer_done
        # an asyncio loop, or net/evloop.FastLoop (the TFTP workers': less overhead per wake-up)
        self.loop = loop or asyncio.get_event_loop()
        # the loop's clock, as a plain function where it is time.monotonic (one call per packet)
        clock = getattr(self.loop, "clock", None)
        if clock is None:
            clock = (time.monotonic if type(self.loop).time is asyncio.BaseEventLoop.time
                     else self.loop.time)
        self.clock: Callable[[], float] = clock
        self._listeners: list[socket.socket] = []
        self._transfers: dict[tuple[str, int], _Transfer] = {}
        self._mtu: dict[int, int | None] = {}
        self.buffer = bytearray(65536)
        self.busy_refusals = 0

    @property
    def active(self) -> int:
        return len(self._transfers)

    def listen(self, host: str = "0.0.0.0", port: int = 69, *,
               reuse_port: bool = False) -> tuple[str, int]:
        """Start listening on ``host:port`` (IPv4 or IPv6); returns the bound address (port 0 =
        any).

        ``reuse_port``: join the ``SO_REUSEPORT`` group of the appliance's TFTP workers (the
        supervisor checks first that no one else holds the port, ``net/roles.py``). Without it
        the bind fails if anything is on the port: no SO_REUSEADDR, which on UDP would let a
        second server share the port silently."""
        v6 = ":" in host
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.setblocking(False)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self.loop.add_reader(sock.fileno(), self._on_request, sock)
        self._listeners.append(sock)
        name = sock.getsockname()
        return name[0], name[1]

    def close(self) -> None:
        for sock in self._listeners:
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(sock.fileno())
            sock.close()
        self._listeners.clear()
        for transfer in list(self._transfers.values()):
            transfer.close()

    def _blksize_cap(self, ifindex: int, v6: bool = False) -> int:
        if ifindex not in self._mtu:
            self._mtu[ifindex] = interface_mtu(ifindex)
        mtu = self._mtu[ifindex]
        cap = self.max_blksize
        headers = IP_UDP_TFTP_HEADERS + (IPV6_EXTRA_HEADER if v6 else 0)
        return min(cap, mtu - headers) if mtu else cap

    def _on_request(self, listener: socket.socket) -> None:
        for _ in range(64):
            try:
                data, anc, _flags, peer = listener.recvmsg(65536, _ANC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            if len(data) < 4 or data[0] != 0 or data[1] not in (RRQ, WRQ):
                continue  # not a request: nothing to answer on the well-known port
            if peer in self._transfers:
                continue  # the client re-sent its request: the transfer answers it
            local, ifindex = listener.getsockname()[0], 0
            for level, kind, value in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    ifindex, _spec, dst = _PKTINFO.unpack(value[: _PKTINFO.size])
                    local = socket.inet_ntoa(dst)
                elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                    dst6, ifindex = _PKTINFO6.unpack(value[: _PKTINFO6.size])
                    local = socket.inet_ntop(socket.AF_INET6, dst6)
            if self.before_request is not None:
                self.before_request()
            if len(self._transfers) >= self.max_transfers:
                self.busy_refusals += 1
                with contextlib.suppress(OSError):
                    listener.sendto(Error(ErrorCode.NOT_DEFINED, "server busy, try again later")
                                    .encode(), peer)
                continue
            self._start(data, peer, local, ifindex)

    def _start(self, request: bytes, peer: tuple[str, int], local: str, ifindex: int) -> None:
        v6 = ":" in local
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((local, 0, 0, ifindex) if v6 else (local, 0))
            sock.connect(peer)
        except OSError as exc:
            sock.close()
            log.error("tftp: cannot open a transfer socket on %s: %s", local, exc)
            return
        config = replace(self.config, max_blksize=self._blksize_cap(ifindex, v6))
        resolve = self.resolve
        session = TftpSession(lambda path: resolve(path, peer), config, peer=peer)
        transfer = _Transfer(self, sock, peer, session)
        self._transfers[peer] = transfer
        transfer.start(request)

    def _finished(self, transfer: _Transfer) -> None:
        if self._transfers.get(transfer.peer) is transfer:
            del self._transfers[transfer.peer]
        stats = transfer.session.stats()
        log.info("tftp: %s %s %s %d bytes in %.3fs (%d resent)%s", transfer.peer[0], stats.path,
                 stats.outcome, stats.bytes_sent, stats.duration, stats.retransmits,
                 f": {stats.error}" if stats.error else "")
        if self.on_transfer_done is not None:
            try:
                self.on_transfer_done(stats)
            except Exception:
                log.exception("tftp: on_transfer_done failed")
