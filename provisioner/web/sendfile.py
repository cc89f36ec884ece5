"""Zero-copy file bodies for waitress: ``os.sendfile`` instead of read-and-send in Python.

Kernels and initrds (tens of MiB per client) are most of the bytes an appliance serves over
HTTP. Flask's ``send_file`` hands waitress a ``wsgi.file_wrapper`` (waitress's
``ReadOnlyFileBasedBuffer``); stock waitress then reads each chunk into Python and writes it to
the socket (and reads it twice: ``get`` peeks, ``skip`` consumes). :class:`SendfileChannel` sends
such a body with ``os.sendfile`` from the file's current position, as much as the socket takes
per call, and leaves everything else (headers, rendered bodies, ranges, errors) to waitress.
The buffer's ``remain`` and the file position move exactly as if waitress had sent the bytes,
so the rest of waitress (closing the buffer, ``Content-Length`` accounting, the http-asset
timeline's byte count in ``web/assets.py``) is unchanged.

Installed by ``main.make_appliance`` on the waitress server (``server.channel_class``);
written against waitress 3.0's channel (``outbufs``, ``total_outbufs_len``, ``_flush_some``),
which ``tests/web/test_assets.py`` exercises with curl (whole, resumed and ranged downloads).
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any

from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import HTTPChannel

MAX_CALL = 4 << 20  # bytes per sendfile call: bounded so one client cannot hog the loop
_DISCONNECTED = {errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN, errno.ECONNABORTED,
                 errno.EPIPE, errno.EBADF}


def _fileno(buf: ReadOnlyFileBasedBuffer) -> int | None:
    try:
        return int(buf.file.fileno())
    except (AttributeError, OSError, ValueError):
        return None  # not a real file (BytesIO...): waitress sends it as usual


class SendfileChannel(HTTPChannel):
    """See the module docstring. ``_flush_some`` is waitress 3.0's, plus the sendfile branch."""

    def _flush_some(self, do_close: bool = True) -> bool:
        sent = 0
        while True:
            outbuf: Any = self.outbufs[0]
            outbuflen = outbuf.__len__()
            blocked = False
            fd = _fileno(outbuf) if type(outbuf) is ReadOnlyFileBasedBuffer else None
            if fd is not None and outbuflen > 0:
                n, blocked = self._sendfile(outbuf, fd, do_close)
                sent += n
                outbuflen = outbuf.__len__()
            while outbuflen > 0 and not blocked:  # waitress's own path
                chunk = outbuf.get(self.sendbuf_len)
                num_sent = self.send(chunk, do_close=do_close)
                if not num_sent:
                    blocked = True
                    break
                outbuf.skip(num_sent, True)
                outbuflen -= num_sent
                sent += num_sent
                self.total_outbufs_len -= num_sent
            if blocked or not self.connected:
                break
            if len(self.outbufs) > 1:  # self.outbufs[-1] must always be a writable outbuf
                toclose = self.outbufs.pop(0)
                try:
                    toclose.close()
                except Exception:
                    self.logger.exception("Unexpected error when closing an outbuf")
            else:
                break  # caught up
        if sent:
            self.last_activity = time.time()
            return True
        return False

    def _sendfile(self, outbuf: Any, fd: int, do_close: bool) -> tuple[int, bool]:
        """Send from the file's position; ``(bytes sent, blocked)``."""
        sent, file = 0, outbuf.file
        while outbuf.remain > 0:
            offset = file.tell()
            try:
                n = os.sendfile(self.socket.fileno(), fd, offset, min(outbuf.remain, MAX_CALL))
            except BlockingIOError:
                return sent, True
            except OSError as exc:
                if exc.errno in _DISCONNECTED:
                    if do_close:
                        self.handle_close()
                    return sent, True
                raise
            if n == 0:  # the file is shorter than it said: waitress's path ends it its way
                return sent, False
            file.seek(offset + n)
            outbuf.remain -= n
            self.total_outbufs_len -= n
            sent += n
        return sent, False
