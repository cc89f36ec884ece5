"""Netascii as a wrapper: any :class:`ResponseData` in, its netascii form out (RFC 764/1350).

Local text uses LF line ends; on the wire a line end is CR LF and a bare CR is CR NUL. The
conversion is per byte with no look-ahead, so chunk boundaries need no care. ``size()`` (for
``tsize``) has to convert everything first, so it buffers: netascii is for small text files.
"""

from __future__ import annotations

from provisioner.content.base import ResponseData


def to_netascii(data: bytes) -> bytes:
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")


class NetasciiResponse:
    """Wraps ``inner`` and converts on the fly."""

    def __init__(self, inner: ResponseData) -> None:
        self._inner = inner
        self._pending = b""
        self._eof = False
        self._size: int | None = None
        self._consumed = 0

    def _fill(self, n: int) -> None:
        while len(self._pending) < n and not self._eof:
            chunk = self._inner.read(max(n, 4096))
            if not chunk:
                self._eof = True
            self._pending += to_netascii(chunk)

    def read(self, n: int) -> bytes:
        self._fill(n)
        out, self._pending = self._pending[:n], self._pending[n:]
        self._consumed += len(out)
        return out

    def size(self) -> int | None:
        if self._size is None:
            self._fill(1 << 62)  # everything: netascii content is small text
            self._size = self._consumed + len(self._pending)
        return self._size

    def close(self) -> None:
        self._inner.close()
