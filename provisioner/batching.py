"""Taking queued items in batches: the step a timeline writer thread (``core/events.py``) and a
worker's event link to the supervisor (``net/eventlink.py``) share.

A queue holds items, ``threading.Event`` waiters (set once every item queued before them is
handled: a flush) and one stop token. Standard library only.
"""

from __future__ import annotations

import queue
import threading
from typing import Any


def take_batch(q: queue.SimpleQueue[Any], first: Any, max_batch: int,
               stop_token: object) -> tuple[list[Any], list[threading.Event], bool]:
    """``first`` and what is queued behind it, up to ``max_batch`` items, without waiting.

    Returns the items, the flush waiters met on the way, and whether the stop token was met
    (taking ends there).
    """
    batch: list[Any] = []
    waiters: list[threading.Event] = []
    item, stop = first, False
    while True:
        if item is stop_token:
            stop = True
        elif isinstance(item, threading.Event):
            waiters.append(item)
        else:
            batch.append(item)
        if stop or len(batch) >= max_batch:
            return batch, waiters, stop
        try:
            item = q.get_nowait()
        except queue.Empty:
            return batch, waiters, stop
