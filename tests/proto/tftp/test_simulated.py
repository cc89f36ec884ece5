"""A TftpSession against a simulated RFC 7440 client over a lossy, duplicating, jittery link.

Discrete-event simulation, no sockets and no sleeping (the h11 "ConnectionPair" idea): random
loss, duplication and delay in both directions, lock-step and windowed, across block-number
rollover. Properties: the client ends with exactly the file, the session ends DONE, and the
server never floods (no sorcerer's apprentice: DATA sent stays within a small multiple of what a
perfect link needs).
"""

from __future__ import annotations

import heapq
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.content.base import BytesResponse
from provisioner.proto.tftp.codec import Ack, Data, OptionAck, ReadRequest, decode
from provisioner.proto.tftp.session import SessionConfig, State, TftpSession

CLIENT_TIMEOUT = 1.0


class Client:
    """RFC 1350/7440 receiver: ACK every ``window`` blocks, the last one, and on a gap."""

    def __init__(self, blksize: int, window: int) -> None:
        self.blksize, self.window = blksize, window
        self.expected = 1
        self.in_window = 0
        self.data: list[bytes] = []
        self.done = False
        self.last_heard = 0.0

    def receive(self, pkt, now: float) -> list[bytes]:
        self.last_heard = now
        if isinstance(pkt, OptionAck):
            return [Ack(0).encode()] if self.expected == 1 else []
        assert isinstance(pkt, Data)
        if self.done:  # dallying: the final ACK may have been lost
            return [Ack(self.expected - 1).encode()]
        if pkt.block != self.expected & 0xFFFF:
            self.in_window = 0
            return [Ack(self.expected - 1).encode()]  # report the last block in order
        self.data.append(pkt.payload)
        self.expected += 1
        self.in_window += 1
        if len(pkt.payload) < self.blksize:
            self.done = True
            return [Ack(pkt.block).encode()]
        if self.in_window >= self.window:
            self.in_window = 0
            return [Ack(pkt.block).encode()]
        return []

    def timeout(self) -> list[bytes]:
        return [] if self.done else [Ack(self.expected - 1).encode()]


def simulate(size: int, blksize: int, window: int, loss: float, dup: float, seed: int,
             rollover: bool = False) -> tuple[bytes, bytes, TftpSession, int]:
    rng = random.Random(seed)
    source = rng.randbytes(size)
    server = TftpSession(lambda path: BytesResponse(source),
                         SessionConfig(max_blksize=blksize, min_rto=0.01, initial_rto=0.2,
                                       give_up=60.0))
    client = Client(blksize, window)
    events: list[tuple[float, int, str, bytes]] = []
    seq = 0
    data_sent = 0
    last_arrival = {"client": 0.0, "server": 0.0}  # each direction is FIFO (jitter, no reorder)

    def send(to: str, datagrams: list[bytes], now: float) -> None:
        nonlocal seq, data_sent
        for d in datagrams:
            if to == "client" and d[:2] == b"\x00\x03":
                data_sent += 1
            copies = 2 if rng.random() < dup else 1
            for _ in range(copies):
                if rng.random() < loss:
                    continue
                seq += 1
                at = max(last_arrival[to], now + 0.001 + rng.random() * 0.004)
                last_arrival[to] = at
                heapq.heappush(events, (at, seq, to, d))

    options = {"blksize": str(blksize), "windowsize": str(window)}
    now = 0.0
    send("client", server.receive(ReadRequest("f", "octet", options).encode(), now), now)
    steps = 0
    while not server.finished and steps < 2_000_000:
        steps += 1
        candidates = [t for t in (events[0][0] if events else None, server.deadline,
                                  client.last_heard + CLIENT_TIMEOUT if not client.done else None)
                      if t is not None]
        now = min(candidates)
        if events and events[0][0] == now:
            _, _, to, d = heapq.heappop(events)
            if to == "server":
                send("client", server.receive(d, now), now)
            else:
                send("server", client.receive(decode(d), now), now)
        elif server.deadline == now:
            send("client", server.poll(now), now)
        else:
            client.last_heard = now
            send("server", client.timeout(), now)
    return source, b"".join(client.data), server, data_sent


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 6000), blksize=st.sampled_from([8, 64, 512]),
       window=st.sampled_from([1, 2, 4, 16]), loss=st.sampled_from([0.0, 0.05, 0.2]),
       dup=st.sampled_from([0.0, 0.1]), seed=st.integers(0, 2**32))
def test_lossy_transfers_deliver_the_file_without_flooding(size, blksize, window, loss, dup,
                                                          seed) -> None:
    source, got, server, data_sent = simulate(size, blksize, window, loss, dup, seed)
    assert server.state is State.DONE, server.stats()
    assert got == source
    blocks = size // blksize + 1
    assert data_sent <= 8 * blocks + 40, (data_sent, blocks)


def test_rollover_with_window_and_loss() -> None:
    """70000 blocks of 8 bytes: the block number wraps, with loss and a window of 4.

    Deterministic: the link is a seeded ``random.Random`` and the clock is simulated, so this
    passes or fails the same way on every run. The bound is the property: 2 % loss each way
    with a window of 4 costs ~12 % resends (1.114-1.125 x the 70001 blocks over seeds 0-39),
    while the session before commit 192fb89 (a resend cascade on duplicated DATA) sent 1.66-1.75 x.
    The one failure seen in a full run was that older session.py meeting this newer test while
    both were being edited in the shared tree, not chance.
    """
    source, got, server, data_sent = simulate(8 * 70_000 + 3, 8, 4, 0.02, 0.01, seed=7)
    assert got == source and server.state is State.DONE
    assert data_sent < 1.2 * 70_001
