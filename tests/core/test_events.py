"""Timeline recorders: direct, and batched through one writer thread (group commit)."""

from __future__ import annotations

import threading

import pytest

from provisioner.core.app import Core
from provisioner.core.events import BatchRecorder, DirectRecorder
from provisioner.models import Event
from provisioner.settings import Settings
from provisioner.store import open_store
from tests import fixtures as fx
from tests.fakes import BrokenStore, FakeRenderer, MemoryStore


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def add_events(self, events: list[Event]) -> None:
        self.batches.append(len(events))
        super().add_events(events)


@pytest.mark.parametrize("make", [DirectRecorder, BatchRecorder], ids=["direct", "batched"])
def test_order_kept_and_flush_makes_events_visible(make):
    store = CountingStore()
    rec = make(store)
    for i in range(100):
        rec(Event("system:a", "k", {"n": i}, float(i)))
    rec.flush()
    assert [e.detail["n"] for e in store.list_events("system:a")] == list(range(100))
    rec.close()


def test_batches_from_many_threads_on_sqlite(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    rec = BatchRecorder(store)

    def worker(t: int) -> None:
        for i in range(200):
            rec(Event(f"system:t{t}", "k", {"n": i}, 0.0))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    rec.close()  # close flushes
    for t in range(8):
        assert [e.detail["n"] for e in store.list_events(f"system:t{t}")] == list(range(200))
    store.close()


def test_broken_store_is_logged_and_writer_survives(caplog):
    rec = BatchRecorder(BrokenStore())
    rec(Event("system:a", "k", {}, 0.0))
    rec.flush()
    assert "could not record 1 event(s)" in caplog.text
    rec(Event("system:a", "k", {}, 0.0))
    rec.flush()
    assert caplog.text.count("could not record") == 2
    rec.close()


def test_core_timeline_sees_its_own_batched_events():
    store = MemoryStore()
    core = Core(store, FakeRenderer(), Settings(), recorder=BatchRecorder(store))
    fx.fill(store)
    core.kickstart_for(system="web01", server="http://x")
    core.callback("tok-web01", "done")
    assert [e.kind for e in core.timeline("web01")] == ["kickstart", "callback:done"]
    core.events.close()
    core.record_event("system:web01", "late", {})  # after close: written directly
    assert core.timeline("web01")[-1].kind == "late"
