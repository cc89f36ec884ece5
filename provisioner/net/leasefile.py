"""Follow the DHCP worker's lease journal from other processes (DNS names, TFTP/HTTP timelines).

The DHCP worker owns the lease table; everyone else reads ``<data_dir>/dhcp-leases.journal``
(``net/dhcp.py``), which holds every acknowledged lease. :class:`LeaseFollower` keeps the file
open and reads only what was appended since the last call; when the journal is compacted (a new
file renamed over it) the path points at another inode, and the follower starts again from the
new file. Holding the descriptor open means the inode it follows cannot be reused behind its
back. A torn last line (the writer is mid-append) is kept until the rest arrives.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioner.proto.dhcp.leases import Lease, LeaseTable, decode_record


class LeaseFollower:
    """``decode``/``row``: the journal's line format and how a lease is listed (the DHCPv6
    journal passes :mod:`provisioner.proto.dhcp6.leases`' decoder and ``net.dhcp6.lease_dict``)."""

    def __init__(self, path: str | os.PathLike[str],
                 clock: Callable[[], float] = time.time,
                 decode: Callable[[str], Lease | None] = decode_record,
                 row: Callable[[Lease], dict[str, Any]] = Lease.as_row) -> None:
        self.path = Path(path)
        self.clock = clock
        self.decode, self.row = decode, row
        self.table = LeaseTable()
        self._fd: int | None = None
        self._tail = b""
        self._lock = threading.Lock()

    def _reopen(self) -> None:
        self.close()
        self.table = LeaseTable()
        self._tail = b""
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            self._fd = None

    def refresh(self) -> None:
        """Read what was appended (or the whole new file after a compaction)."""
        with self._lock:
            try:
                ino = os.stat(self.path).st_ino
            except FileNotFoundError:
                self.close()
                self.table = LeaseTable()
                return
            if self._fd is None or os.fstat(self._fd).st_ino != ino:
                self._reopen()
            if self._fd is None:
                return
            chunks = []
            while True:
                data = os.read(self._fd, 1 << 20)
                if not data:
                    break
                chunks.append(data)
            if not chunks:
                return
            data = self._tail + b"".join(chunks)
            lines = data.split(b"\n")
            self._tail = lines.pop()  # b"" after a complete last line
            records = (self.decode(line.decode("utf-8", "replace") + "\n") for line in lines)
            self.table.load(r for r in records if r is not None)

    def version(self) -> tuple[int, int]:
        """Changes whenever the journal did: (inode, bytes read)."""
        self.refresh()
        if self._fd is None:
            return (0, 0)
        return (os.fstat(self._fd).st_ino, os.lseek(self._fd, 0, os.SEEK_CUR))

    def active(self) -> list[Lease]:
        self.refresh()
        now = self.clock()
        return list(self.table.active(now))

    def leases(self) -> list[dict[str, Any]]:
        """Active leases as rows (``Lease.as_row`` or the journal's own, for ``PeerDirectory``)."""
        return [self.row(x) for x in self.active()]

    def records(self) -> list[tuple[str, str]]:
        """``(hostname, ip)`` of active leases with a host name (for DNS)."""
        return [(x.hostname, self.row(x)["ip"]) for x in self.active() if x.hostname]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

