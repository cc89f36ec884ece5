"""A user-space UDP relay that adds delay and loss, TFTP-aware (``tc netem`` is not available here).

Clients send to ``--listen``; the relay forwards to ``--upstream`` from one socket per client.
Every distinct source address the upstream answers from (a TFTP transfer's TID) gets its own
client-facing socket, so the client sees a distinct port per transfer just as it would without
the relay. ``--delay-up``/``--loss-up`` apply to client->server datagrams, ``--delay-down``/
``--loss-down`` to server->client ones; order is preserved within each direction. Prints
``ready <host> <port>`` on stdout once listening. Runs until killed.

    python bench/udp_relay.py --listen 10.77.0.1:6969 --upstream 127.0.0.1:69 --delay-down 0.001
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class Link:
    """One direction: drop with probability ``loss``, delay by ``delay`` seconds, keep order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, loss: float,
                 rng: random.Random) -> None:
        self.loop, self.delay, self.loss, self.rng = loop, delay, loss, rng
        self.passed = self.dropped = 0

    def send(self, sock: socket.socket, data: bytes, dest: tuple[str, int]) -> None:
        if self.loss and self.rng.random() < self.loss:
            self.dropped += 1
            return
        self.passed += 1
        if self.delay <= 0:
            _sendto(sock, data, dest)
        else:
            self.loop.call_later(self.delay, _sendto, sock, data, dest)


def _sendto(sock: socket.socket, data: bytes, dest: tuple[str, int]) -> None:
    try:
        sock.sendto(data, dest)
    except OSError:
        pass


class Relay:
    def __init__(self, loop: asyncio.AbstractEventLoop, listen: tuple[str, int],
                 upstream: tuple[str, int], up: Link, down: Link) -> None:
        self.loop, self.upstream, self.up, self.down = loop, upstream, up, down
        self.listen_host = listen[0]
        self.front = self._socket(listen)
        self.loop.add_reader(self.front.fileno(), self._from_client, self.front, upstream)
        self.back: dict[tuple[str, int], socket.socket] = {}  # client -> upstream-facing socket
        # (client, upstream source) -> client-facing socket for that TID
        self.fronts: dict[tuple[tuple[str, int], tuple[str, int]], socket.socket] = {}

    @staticmethod
    def _socket(bind: tuple[str, int]) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setblocking(False)
        sock.bind(bind)
        return sock

    def _from_client(self, front: socket.socket, dest: tuple[str, int]) -> None:
        while True:
            try:
                data, client = front.recvfrom(65536)
            except (BlockingIOError, OSError):
                return
            back = self.back.get(client)
            if back is None:
                back = self.back[client] = self._socket(("0.0.0.0", 0))
                self.loop.add_reader(back.fileno(), self._from_server, back, client)
            self.up.send(back, data, dest)

    def _from_server(self, back: socket.socket, client: tuple[str, int]) -> None:
        while True:
            try:
                data, source = back.recvfrom(65536)
            except (BlockingIOError, OSError):
                return
            key = (client, source)
            front = self.fronts.get(key)
            if front is None:
                front = self.fronts[key] = self._socket((self.listen_host, 0))
                self.loop.add_reader(front.fileno(), self._from_client, front, source)
            self.down.send(front, data, client)


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=_addr, required=True)
    ap.add_argument("--upstream", type=_addr, required=True)
    ap.add_argument("--delay-up", type=float, default=0.0)
    ap.add_argument("--delay-down", type=float, default=0.0)
    ap.add_argument("--loss-up", type=float, default=0.0)
    ap.add_argument("--loss-down", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    loop = asyncio.get_running_loop()
    rng = random.Random(args.seed)
    relay = Relay(loop, args.listen, args.upstream, Link(loop, args.delay_up, args.loss_up, rng),
                  Link(loop, args.delay_down, args.loss_down, rng))
    host, port = relay.front.getsockname()
    print(f"ready {host} {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
