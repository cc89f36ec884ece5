"""Worker processes -> supervisor: timeline events and control messages over one Unix datagram link.

The supervisor (``net/supervisor.py``) makes a ``socketpair(AF_UNIX, SOCK_DGRAM)``, keeps one
end (:class:`LinkReceiver`) and hands the other to every worker process it starts. A datagram is
delivered whole or not at all, so a worker killed with SIGKILL mid-send can never leave a torn,
half-written message behind (a byte stream could); the kernel keeps what was sent even after
the sender is gone. Messages are JSON objects:

* ``{"t": "ev", "ev": [[subject, kind, detail, at], ...]}``: timeline events, in order;
* ``{"t": "ready", "role": "tftp", "index": 0, "pid": 123}``: a worker has bound its sockets;
* ``{"t": "log", ...}``: reserved for later use; unknown types are logged and ignored.

Worker side, :class:`LinkRecorder` is a ``core.events.Recorder``: a packet path only appends to
an in-memory queue (never a syscall, never a database commit); one sender thread sends whatever
queued up as one datagram (up to :data:`MAX_DATAGRAM` bytes) and blocks if the supervisor is
behind, which is back-pressure on that thread only. Supervisor side, the receiver thread turns
each event into a ``core.Event`` for the HTTP process's batched writer (``BatchRecorder``), which
stores each batch in one transaction: what reached the supervisor is written even if the worker
that sent it dies the next instant. Events a worker had queued but not yet sent die with it:
they were never acknowledged to anyone (the timeline is best effort, ``core/events.py``).
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from provisioner.batching import take_batch
from provisioner.models import Event

log = logging.getLogger("provisioner.net")

MAX_DATAGRAM = 60_000  # bytes per message; well under the Unix datagram limit (wmem_default)
MAX_QUEUED = 200_000  # events a worker holds for the supervisor before it drops (and says so)
LINGER = 0.002  # after the first queued event, wait this long so a batch can form
MAX_BATCH = 2000  # events taken from the queue for one send


def link_pair() -> tuple[socket.socket, socket.socket]:
    """``(supervisor_end, worker_end)``; the worker end is inherited by every worker."""
    rx, tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    tx.set_inheritable(True)
    return rx, tx


def encode_events(events: list[Event]) -> list[bytes]:
    """JSON datagrams of at most :data:`MAX_DATAGRAM` bytes (an oversized event goes alone)."""
    out: list[bytes] = []
    items: list[str] = []
    size = 0
    for e in events:
        item = json.dumps([e.subject, str(getattr(e.kind, "value", e.kind)), e.detail, e.at],
                          separators=(",", ":"), default=str)
        if items and size + len(item) + 32 > MAX_DATAGRAM:
            out.append(('{"t":"ev","ev":[' + ",".join(items) + "]}").encode())
            items, size = [], 0
        items.append(item)
        size += len(item) + 1
    if items:
        out.append(('{"t":"ev","ev":[' + ",".join(items) + "]}").encode())
    return out


_STOP = object()


class LinkRecorder:
    """A ``Recorder`` (``core/events.py``) that sends events to the supervisor; see the module."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.dropped = 0
        self.sent = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._queued = 0
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="event-link", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        if self._queued >= MAX_QUEUED:  # the supervisor is gone or far behind: shed, and say so
            self.dropped += 1
            if self.dropped in (1, 1000) or self.dropped % 100_000 == 0:
                log.error("event link: %d timeline event(s) dropped (supervisor not reading)",
                          self.dropped)
            return
        self._queued += 1  # racy by a few under threads: it is only a bound
        self._queue.put(event)

    def send_control(self, message: dict[str, Any]) -> None:
        """A control message (``ready``...), sent at once from the calling thread."""
        with self._lock:
            self.sock.send(json.dumps(message).encode())

    def flush(self, timeout: float = 30.0) -> None:
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            log.error("event link: flush timed out after %.1f s", timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if isinstance(item, Event):
                time.sleep(LINGER)
            batch, waiters, stop = take_batch(self._queue, item, MAX_BATCH, _STOP)
            self._queued -= len(batch)
            self._send(batch)
            for w in waiters:
                w.set()

    def _send(self, batch: list[Event]) -> None:
        if not batch:
            return
        try:
            datagrams = encode_events(batch)
        except (TypeError, ValueError) as exc:  # a detail that is not JSON: drop that batch
            log.error("event link: cannot encode %d event(s): %s", len(batch), exc)
            return
        for d in datagrams:
            try:
                with self._lock:
                    self.sock.send(d)  # blocks while the supervisor's queue is full
            except OSError as exc:
                self.dropped += len(batch)
                log.error("event link: supervisor unreachable (%s): %d event(s) lost", exc,
                          len(batch))
                return
        self.sent += len(batch)


class LinkReceiver:
    """Supervisor side: a thread reading the link; events go to ``record``, control messages to
    ``on_control(message)``."""

    def __init__(self, sock: socket.socket, record: Callable[[Event], None],
                 on_control: Callable[[dict[str, Any]], None]) -> None:
        self.sock = sock
        self.record = record
        self.on_control = on_control
        self.received = 0
        self.bad = 0
        self._thread = threading.Thread(target=self._run, name="event-receiver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                return
            if not data:  # close(): every message sent before it has been handled
                return
            self.handle(data)

    def handle(self, data: bytes) -> None:
        try:
            msg = json.loads(data)
            kind = msg["t"]
        except (ValueError, KeyError, TypeError):
            self.bad += 1
            log.error("event link: malformed message (%d bytes) ignored", len(data))
            return
        if kind != "ev":
            self.on_control(msg)
            return
        for item in msg.get("ev", ()):
            try:
                subject, ev_kind, detail, at = item
                event = Event(subject=str(subject), kind=ev_kind, detail=dict(detail),
                              at=float(at))
            except (ValueError, TypeError):
                self.bad += 1
                log.error("event link: malformed event ignored: %.200r", item)
                continue
            self.received += 1
            try:
                self.record(event)
            except Exception:  # the receiver must survive anything the writer throws
                log.exception("event link: recording an event failed")

    def close(self, peer: socket.socket, timeout: float = 5.0) -> None:
        """Stop once every message already queued on the link is handled: an empty datagram
        sent from ``peer`` (an end of the link the caller kept) queues behind them."""
        try:
            peer.send(b"")
        except OSError:
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout)
