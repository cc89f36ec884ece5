"""Timelines: events per subject (``system:<name>``, ``order:<id>``) over the Store.

Recording is best effort on purpose: a timeline write that fails (database locked, disk full) is
logged and never turns a served kickstart or boot config into an error.

Two recorders, same interface (call with an Event, ``flush()``, ``close()``):
:class:`DirectRecorder` writes each event at once (CLI, tests); :class:`BatchRecorder` hands
events to one writer thread that inserts whatever has queued up in one transaction (group
commit), so serving a kickstart or a DHCP reply never waits for a database commit. Order is
kept; ``flush()`` returns once everything recorded before it is stored (``Core.timeline`` calls
it, so a reader in this process sees its own events); ``close()`` flushes and stops.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Protocol

from provisioner.batching import take_batch
from provisioner.core.ports import Store
from provisioner.errors import StoreError
from provisioner.models import Event

log = logging.getLogger(__name__)


def record(store: Store, subject: str, kind: str, detail: dict[str, Any],
           at: float) -> Event | None:
    """Append one event; ``None`` (and a log line) when the store failed."""
    try:
        return store.add_event(Event(subject=subject, kind=kind, detail=dict(detail), at=at))
    except StoreError as exc:
        log.error("timeline: could not record %s %s: %s", subject, kind, exc)
        return None


def timeline(store: Store, subject: str, limit: int | None = None) -> list[Event]:
    """Events of ``subject``, oldest first (the last ``limit`` ones when given)."""
    return store.list_events(subject, limit)


class Recorder(Protocol):
    def __call__(self, event: Event) -> None: ...
    def flush(self, timeout: float = 30.0) -> None: ...
    def close(self) -> None: ...


class DirectRecorder:
    """Write each event synchronously (best effort)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, event: Event) -> None:
        record(self.store, event.subject, event.kind, event.detail, event.at)

    def flush(self, timeout: float = 30.0) -> None:
        pass

    def close(self) -> None:
        pass


_STOP = object()


class BatchRecorder:
    """Events queued to one writer thread that stores each batch in one transaction."""

    def __init__(self, store: Store, max_batch: int = 500, linger: float = 0.005) -> None:
        self.store = store
        self.max_batch = max_batch
        self.linger = linger  # after the first event, wait this long so a batch can form
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="timeline-writer", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        if self._closed:  # after close (shutdown), write directly
            record(self.store, event.subject, event.kind, event.detail, event.at)
        else:
            self._queue.put(event)

    def flush(self, timeout: float = 30.0) -> None:
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            log.error("timeline: flush timed out after %.0f s", timeout)

    def close(self) -> None:
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=60)

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if isinstance(item, Event) and self.linger:
                time.sleep(self.linger)
            batch, waiters, stop = take_batch(self._queue, item, self.max_batch, _STOP)
            if batch:
                try:
                    self.store.add_events(batch)
                except StoreError as exc:
                    log.error("timeline: could not record %d event(s): %s", len(batch), exc)
                except Exception:  # the writer must survive anything a batch throws
                    log.exception("timeline: could not record %d event(s)", len(batch))
            for waiter in waiters:
                waiter.set()
