"""How TftpSession cuts content into blocks when ``read`` returns less than asked (pipes,
generated content): a short read is completed, only ``b""`` ends the content, and every block
but the last is full, in lock-step and with a window."""

from __future__ import annotations

import pytest

from provisioner.proto.tftp.codec import Ack, Data, OptionAck, ReadRequest, decode
from provisioner.proto.tftp.session import SessionConfig, TftpSession


class Trickle:
    """Content whose ``read`` never returns more than ``most`` bytes."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.pos, self.closed = data, most, 0, False

    def read(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + min(n, self.most)]
        self.pos += len(chunk)
        return chunk

    def size(self) -> int | None:
        return len(self.data)

    def close(self) -> None:
        self.closed = True


def transfer(content: Trickle, **options: str) -> list[Data]:
    """Acknowledge every block as it arrives (the newest of each burst); returns all DATA."""
    s = TftpSession(lambda path: content, SessionConfig())
    now, got = 0.0, []
    pending = [decode(d) for d in s.receive(ReadRequest("f", "octet", options).encode(), now)]
    for _ in range(10_000):  # bounded
        if not pending:
            break
        now += 0.001
        if isinstance(pending[0], OptionAck):
            pending = [decode(d) for d in s.receive(Ack(0).encode(), now)]
            continue
        got.extend(pending)
        pending = [decode(d) for d in s.receive(Ack(pending[-1].block).encode(), now)]
    assert s.finished and s.stats().outcome == "done"
    assert content.closed
    return got


@pytest.mark.parametrize(("size", "most", "options"), [
    (1300, 100, {}),
    (1024, 100, {}),
    (1024, 512, {}),
    (0, 100, {}),
    (5000, 333, {"blksize": "1468"}),
    (4404, 1000, {"blksize": "1468", "windowsize": "4"}),
    (9999, 7, {"blksize": "1024", "windowsize": "8"}),
], ids=["short-reads-partial-last-block", "short-reads-exact-multiple-empty-last-block",
        "reads-of-exactly-a-block", "empty-content", "blksize-1468-short-reads",
        "window-exact-multiple", "window-tiny-reads"])
def test_short_reads_make_full_blocks(size: int, most: int, options: dict[str, str]) -> None:
    data = bytes(i % 251 for i in range(size))
    blocks = transfer(Trickle(data, most), **options)
    blksize = int(options.get("blksize", 512))
    assert [d.block for d in blocks] == list(range(1, len(blocks) + 1))
    assert all(len(d.payload) == blksize for d in blocks[:-1])
    assert len(blocks[-1].payload) < blksize
    assert b"".join(d.payload for d in blocks) == data
