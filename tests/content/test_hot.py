"""Ready-made DATA packets of hot files (``content/hot.py``) against the read path."""

from __future__ import annotations

import os
from pathlib import Path

from provisioner.content.base import FileResponse
from provisioner.content.hot import PacketCache
from provisioner.proto.tftp.codec import Ack, ReadRequest
from provisioner.proto.tftp.session import SessionConfig, State, TftpSession


def transfer(content_fn, blksize: int = 1468, window: int = 1) -> tuple[list[bytes], TftpSession]:
    """A perfect client: every DATA packet the session sends, in order."""
    s = TftpSession(lambda path: content_fn(), SessionConfig(max_blksize=65464))
    sent = s.receive(ReadRequest("f", "octet", {"blksize": str(blksize),
                                                "windowsize": str(window)}).encode(), 0.0)
    out: list[bytes] = []
    pending = s.receive(Ack(0).encode(), 0.001)
    now = 0.001
    while pending:
        out += pending
        now += 0.001
        pending = s.receive(Ack(int.from_bytes(pending[-1][2:4], "big")).encode(), now)
    assert sent and s.state is State.DONE
    return out, s


def test_cached_packets_are_the_read_packets_across_rollover_and_sizes(tmp_path: Path) -> None:
    cache = PacketCache()
    for size, blksize in ((0, 512), (512 * 3, 512), (70_000 * 8 + 5, 8), (300_001, 1468)):
        f = tmp_path / f"f{size}"
        f.write_bytes(os.urandom(size))
        plain, _ = transfer(lambda f=f: FileResponse(f), blksize)
        cached, s = transfer(lambda f=f: FileResponse(f, cache), blksize, window=4)
        again, _ = transfer(lambda f=f: FileResponse(f, cache), blksize)
        assert cached == plain == again, size
        assert s.stats().bytes_sent == size
    assert cache.hits == 4 and cache.misses == 4  # one entry per file: windows share it


def test_a_rewritten_file_is_a_new_entry_and_the_budget_is_kept(tmp_path: Path) -> None:
    cache = PacketCache(max_bytes=250_000, max_file=200_000)
    f = tmp_path / "loader"
    f.write_bytes(b"a" * 100_000)
    first, _ = transfer(lambda: FileResponse(f, cache))
    tmp = tmp_path / "loader.new"
    tmp.write_bytes(b"b" * 100_000)
    os.replace(tmp, f)  # how package managers replace files
    second, _ = transfer(lambda: FileResponse(f, cache))
    assert first[0][4:] == b"a" * 1468 and second[0][4:] == b"b" * 1468
    (tmp_path / "big").write_bytes(b"c" * 150_000)
    transfer(lambda: FileResponse(tmp_path / "big", cache))
    assert cache.bytes <= 250_000  # the oldest entry went
    (tmp_path / "huge").write_bytes(b"d" * 200_001)
    misses = cache.misses
    transfer(lambda: FileResponse(tmp_path / "huge", cache))
    assert cache.misses == misses  # larger than max_file: read, never cached
