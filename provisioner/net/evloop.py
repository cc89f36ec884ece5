"""A minimal event loop for the TFTP workers: epoll readers, timers, signals, nothing else.

A lock-step TFTP transfer is one wake-up per block, so the loop's own cost per wake-up is part of
every block's cost. asyncio's ``_run_once`` (ready queue, handle objects, context switches into
``contextvars``, timer-heap bookkeeping) costs several microseconds per iteration; this loop
polls, calls the reader, and checks the timer heap: about a microsecond. A TFTP worker process
runs nothing else on its loop (the event link and the inventory refresh are not loop
callbacks), so it needs only what :class:`~provisioner.net.tftp.TftpServer` uses:
``add_reader``/``remove_reader``, ``call_at``/``call_later`` returning handles with
``when()``/``cancel()``, ``time()``, plus ``add_signal_handler``, ``call_soon_threadsafe`` and
``run_forever``/``stop``.

A callback that raises is logged and the loop goes on. Signals wake the poll through
``signal.set_wakeup_fd``, and their handlers run on the loop between callbacks.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("provisioner.net")


class TimerHandle:
    __slots__ = ("_when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._when, self.callback, self.args, self.cancelled = when, callback, args, False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: TimerHandle) -> bool:
        return self._when < other._when


class FastLoop:
    """See the module docstring. Single-threaded: call everything from the loop's thread."""

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._readers: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
        self._timers: list[TimerHandle] = []
        self._signals: dict[int, Callable[[], Any]] = {}
        self._pending_signals: list[int] = []
        self._threadsafe: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._ep.register(self._wake_r, select.EPOLLIN)
        self._stopping = False
        self.time: Callable[[], float] = time.monotonic
        self.clock = self.time  # what TftpServer reads per datagram

    # -- readers and timers ---------------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callable[..., Any], *args: Any) -> None:
        if fd in self._readers:
            self._readers[fd] = (callback, args)
            return
        self._readers[fd] = (callback, args)
        self._ep.register(fd, select.EPOLLIN)

    def remove_reader(self, fd: int) -> bool:
        if self._readers.pop(fd, None) is None:
            return False
        with contextlib.suppress(OSError, ValueError):
            self._ep.unregister(fd)
        return True

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        handle = TimerHandle(when, callback, args)
        heapq.heappush(self._timers, handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_at(self.time() + delay, callback, *args)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_at(0.0, callback, *args)

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        """From any thread: run ``callback(*args)`` on the loop soon (it wakes the poll)."""
        self._threadsafe.append((callback, args))  # list.append is atomic
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")

    # -- signals --------------------------------------------------------------------------------

    def add_signal_handler(self, sig: int, callback: Callable[[], Any]) -> None:
        self._signals[sig] = callback
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._pending_signals.append(signum)

    # -- running --------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True

    def run_forever(self) -> None:
        self._stopping = False
        poll, readers, timers, wake = self._ep.poll, self._readers, self._timers, self._wake_r
        clock = self.time
        while not self._stopping:
            while timers and timers[0].cancelled:
                heapq.heappop(timers)
            timeout = max(0.0, timers[0]._when - clock()) if timers else 1.0
            for fd, _mask in poll(min(timeout, 1.0)):
                if fd == wake:
                    self._drain_wake()
                    continue
                entry = readers.get(fd)
                if entry is not None:
                    try:
                        entry[0](*entry[1])
                    except Exception:
                        log.exception("event loop: reader callback failed")
            if timers and timers[0]._when <= clock():
                self._run_timers()
            if self._pending_signals:
                self._run_signals()

    def _run_timers(self) -> None:
        timers, now = self._timers, self.time()
        while timers and timers[0]._when <= now:
            handle = heapq.heappop(timers)
            if handle.cancelled:
                continue
            handle.cancelled = True  # fired: a later cancel() is harmless
            try:
                handle.callback(*handle.args)
            except Exception:
                log.exception("event loop: timer callback failed")

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(self._wake_r, 512):
                pass
        while self._threadsafe:
            callback, args = self._threadsafe.pop(0)
            try:
                callback(*args)
            except Exception:
                log.exception("event loop: callback failed")

    def _run_signals(self) -> None:
        pending, self._pending_signals = self._pending_signals, []
        for sig in pending:
            callback = self._signals.get(sig)
            if callback is not None:
                callback()

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            if signal.set_wakeup_fd(-1) != self._wake_w:
                pass
        self._ep.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
