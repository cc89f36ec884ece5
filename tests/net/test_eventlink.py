"""The worker -> supervisor event link (``net/eventlink.py``) with real processes and SQLite.

A sender process queues numbered timeline events as fast as it can and is killed with SIGKILL
mid-stream; what reached the supervisor side is stored through the real batched writer. The
stored events must be exactly a prefix 0..k-1 of what was sent, each one whole: a torn message
(as a byte stream would leave) would show up as a gap, a bad detail or a reader that died.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from provisioner.core.events import BatchRecorder
from provisioner.models import Event
from provisioner.net.eventlink import MAX_DATAGRAM, LinkReceiver, encode_events, link_pair
from provisioner.store import open_store
from tests.procs import wait_until

ROOT = Path(__file__).resolve().parents[2]
SENDER = r"""
import socket, sys
from provisioner.models import Event
from provisioner.net.eventlink import LinkRecorder
rec = LinkRecorder(socket.socket(fileno=int(sys.argv[1])))
pad = "x" * 300
for i in range(10_000_000):
    rec(Event(subject="system:s%d" % (i % 7), kind="tftp",
              detail={"seq": i, "pad": pad, "nested": {"seq": i}}, at=1000.0 + i))
"""


def test_kill9_mid_stream_stores_a_whole_prefix_in_order(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    writer = BatchRecorder(store)
    controls: list[dict] = []
    rx, tx = link_pair()
    receiver = LinkReceiver(rx, writer, controls.append)
    proc = subprocess.Popen([sys.executable, "-c", SENDER, str(tx.fileno())],
                            pass_fds=(tx.fileno(),), cwd=ROOT, start_new_session=True)
    try:
        wait_until(lambda: receiver.received >= 20_000, 60, "20,000 events received")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    receiver.close(tx)
    writer.close()
    stored = [e for s in range(7) for e in store.list_events(f"system:s{s}")]
    store.close()
    seqs = sorted(e.detail["seq"] for e in stored)
    assert len(seqs) == receiver.received >= 20_000
    assert seqs == list(range(len(seqs)))  # a prefix: nothing torn, nothing skipped
    for e in stored:
        assert e.detail == {"seq": e.detail["seq"], "pad": "x" * 300,
                            "nested": {"seq": e.detail["seq"]}}
        assert e.at == 1000.0 + e.detail["seq"] and e.kind == "tftp"
    assert receiver.bad == 0 and controls == []


def test_malformed_messages_are_counted_and_the_receiver_keeps_going() -> None:
    got: list[Event] = []
    controls: list[dict] = []
    rx, tx = link_pair()
    receiver = LinkReceiver(rx, got.append, controls.append)
    for junk in (b"{", b"[]", b'{"t": "ev", "ev": [[1, 2]]}', b"\xff\xfe", b'{"x": 1}'):
        tx.send(junk)
    tx.send(b'{"t": "ready", "role": "tftp", "index": 0, "pid": 1}')
    for d in encode_events([Event(subject="system:a", kind="k", detail={"n": 1}, at=1.0)]):
        tx.send(d)
    receiver.close(tx)
    assert [e.detail for e in got] == [{"n": 1}]
    assert controls == [{"t": "ready", "role": "tftp", "index": 0, "pid": 1}]
    assert receiver.bad == 5
    rx.close()
    tx.close()


def test_batches_split_below_the_datagram_limit() -> None:
    events = [Event(subject="system:a", kind="k", detail={"pad": "y" * 5000, "i": i}, at=float(i))
              for i in range(100)]
    datagrams = encode_events(events)
    assert len(datagrams) > 1 and all(len(d) <= MAX_DATAGRAM for d in datagrams)
    back = [item for d in datagrams for item in json.loads(d)["ev"]]
    assert [item[2]["i"] for item in back] == list(range(100))


def test_a_worker_that_is_gone_costs_the_sender_nothing_but_a_log_line() -> None:
    from provisioner.net.eventlink import LinkRecorder

    rx, tx = link_pair()
    rec = LinkRecorder(tx)
    rx.close()  # the supervisor end is gone
    rec(Event(subject="system:a", kind="k", detail={}, at=1.0))
    rec.flush(timeout=5)
    rec.close()
    assert rec.dropped == 1 and rec.sent == 0
    tx.close()
