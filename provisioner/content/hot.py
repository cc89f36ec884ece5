"""Ready-made TFTP DATA packets of hot files, kept in memory per process.

Boot files are served many times (every client of a boot storm asks for the same loader, kernel
and initrd) at the same block size, and a DATA packet is only ``opcode, block & 0xFFFF, bytes``:
the same for every client. :class:`PacketCache` keeps, per file version and block size, the list
of finished packets (:class:`Packets`), built lazily as the first transfer gets there (one
``pread`` per 256 KiB); every later transfer, and every retransmission, sends those same bytes
objects: no read, no copy, no header packing per block.

A file version is ``(device, inode, size, mtime)`` from the ``fstat`` of the transfer's own
open file, so a replaced or rewritten file is a new entry and is never served from the old one
(a transfer already running keeps the version it started with, as with an open file). Files
larger than ``max_file`` are not cached; the total is bounded by ``max_bytes`` (least recently
used first out; transfers still sending an evicted entry keep it alive until they finish).
Not thread-safe: each TFTP worker process has its own, used from its loop thread.
"""

from __future__ import annotations

import os
import struct
from collections import OrderedDict
from typing import BinaryIO

CHUNK = 256 * 1024
_HEADER = struct.Struct("!HH")


class Packets:
    """``packets(block)``: the DATA packet of absolute block ``block`` (1-based)."""

    __slots__ = ("fh", "size", "blksize", "pkts", "count")

    def __init__(self, fh: BinaryIO, size: int, blksize: int) -> None:
        self.fh, self.size, self.blksize = fh, size, blksize
        self.pkts: list[bytes] = []
        self.count = size // blksize + 1  # the last block is short, possibly empty

    def __call__(self, block: int) -> bytes:
        pkts = self.pkts
        if block <= len(pkts):
            return pkts[block - 1]
        while len(pkts) < block:
            self._extend()
        return pkts[block - 1]

    def _extend(self) -> None:
        pkts, bs = self.pkts, self.blksize
        first = len(pkts)
        if first >= self.count:
            raise OSError("block past the end of the file")
        n = max(1, CHUNK // bs)
        want = min(n, self.count - first)
        data = os.pread(self.fh.fileno(), want * bs, first * bs)
        pack = _HEADER.pack
        for k in range(want):
            chunk = data[k * bs:(k + 1) * bs]
            if len(chunk) < bs and first + k + 1 < self.count:
                raise OSError("the file shrank while it was being served")
            pkts.append(pack(3, (first + k + 1) & 0xFFFF) + chunk)


class PacketCache:
    """See the module docstring."""

    def __init__(self, max_bytes: int = 256 << 20, max_file: int = 128 << 20) -> None:
        self.max_bytes = max_bytes
        self.max_file = max_file
        self._entries: OrderedDict[tuple[int, ...], Packets] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def packets(self, fh: BinaryIO, blksize: int) -> Packets | None:
        """The packets of the open file ``fh`` at ``blksize``; None if it is not cacheable."""
        st = os.fstat(fh.fileno())
        if st.st_size > self.max_file or st.st_size + 64 > self.max_bytes:
            return None
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, blksize)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        entry = Packets(os.fdopen(os.dup(fh.fileno()), "rb", buffering=0), st.st_size, blksize)
        self._entries[key] = entry
        self._bytes += st.st_size
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.size
        return entry

    @property
    def bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
