"""What a transfer serves: a :class:`ResponseData` (read/size/close), and the TFTP-root jail.

``ResponseData`` is the seam between the protocol engines (TFTP sessions, HTTP ``/tftpboot``) and
where bytes come from: :class:`BytesResponse` for content rendered per request,
:class:`FileResponse` for files under the root. :func:`jail` is the one place a client-supplied
path becomes a filesystem path; everything it refuses raises :class:`Forbidden` (TFTP error 2,
HTTP 403).
"""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO, Protocol

from provisioner.content.hot import PacketCache, Packets
from provisioner.errors import Forbidden, NotFound


class ResponseData(Protocol):
    """Content of one transfer, read front to back exactly once."""

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end; ``b""`` at the end."""
        ...

    def size(self) -> int | None:
        """Total bytes if known up front (for ``tsize`` and ``Content-Length``)."""
        ...

    def close(self) -> None: ...


class BytesResponse:
    """Content already in memory (rendered configs)."""

    def __init__(self, data: bytes | str, name: str = "") -> None:
        self._buf = io.BytesIO(data.encode() if isinstance(data, str) else data)
        self._size = len(self._buf.getbuffer())
        self.name = name

    def read(self, n: int) -> bytes:
        return self._buf.read(n)

    def size(self) -> int | None:
        return self._size

    def close(self) -> None:
        self._buf.close()


READ_AHEAD = 64 * 1024


class FileResponse:
    """A regular file, opened once; ``path`` must already have passed :func:`jail`.

    With a ``cache`` (``content/hot.py``), :meth:`packets` offers a TFTP session the file's
    ready-made DATA packets instead of reading it."""

    def __init__(self, path: Path | str, cache: PacketCache | None = None) -> None:
        self.path = Path(path)
        self._cache = cache
        try:
            # a 64 KiB read-ahead: TFTP reads a block (~1.4 KiB) at a time, and the default 8 KiB
            # buffer would make that a read(2) every five blocks and a slower copy path
            fh: BinaryIO = open(self.path, "rb", buffering=READ_AHEAD)  # noqa: SIM115 - close()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"no such file: {self.path.name}") from None
        except PermissionError:
            raise Forbidden(f"not readable: {self.path.name}") from None
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            fh.close()
            raise NotFound(f"not a regular file: {self.path.name}")
        self._fh = fh
        self._size = st.st_size

    def read(self, n: int) -> bytes:
        return self._fh.read(n)

    def size(self) -> int | None:
        return self._size

    def seek(self, offset: int) -> None:
        self._fh.seek(offset)

    def packets(self, blksize: int) -> Packets | None:
        """This file's DATA packets at ``blksize`` from the cache, or None (then read it)."""
        return self._cache.packets(self._fh, blksize) if self._cache is not None else None

    def close(self) -> None:
        self._fh.close()


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


def clean_path(name: str) -> str:
    """A client path as a clean relative POSIX path, or :class:`Forbidden` saying why.

    Refused: non-UTF-8 bytes (surrogate escapes from the codec), control characters and NUL,
    %-encoded bytes (nothing here decodes them, so they are only ever an attack), ``..`` anywhere,
    and an empty result. Backslashes become slashes (Windows-style firmware paths), and leading
    slashes are dropped: ``/grub/grub.cfg`` is the root's ``grub/grub.cfg``, as tftpd-hpa ``-s``
    and dnsmasq do it. An absolute path naming a host file outside the root is refused by
    :func:`jail`.
    """
    if any("\udc80" <= ch <= "\udcff" for ch in name):
        raise Forbidden("path is not valid UTF-8")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise Forbidden("path is not valid UTF-8") from None
    if _CONTROL.search(name):
        raise Forbidden("path contains control characters")
    if _PERCENT.search(name):
        raise Forbidden("path contains %-encoded bytes")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise Forbidden("path contains '..'")
    if not parts:
        raise Forbidden("empty path")
    return "/".join(parts)


def jail(root: Path | str, name: str) -> Path:
    """The real path of ``name`` under ``root``; :class:`Forbidden` for anything that escapes.

    Symlinks are followed and the result must still be inside the root's real path.
    """
    rel = clean_path(name)
    root_real = Path(os.path.realpath(root))
    stripped = name.replace("\\", "/")
    if stripped.startswith("/") and not (root_real / rel).exists():
        host = Path(os.path.realpath(stripped))
        if host.exists() and root_real not in host.parents:
            raise Forbidden("absolute path outside the TFTP root")
    target = Path(os.path.realpath(root_real / rel))
    if target != root_real and root_real not in target.parents:
        raise Forbidden("path leaves the TFTP root (symlink)")
    return target
