"""The serve process's background refresh of every system's power state (``Power.poll_all``)
every ``interval`` seconds; stopped with :meth:`Poller.close`."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, power: Any, interval: float) -> None:
        self.power, self.interval = power, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="power-poller", daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.power.poll_all()
            except Exception:  # the store went away for a moment: try again next round
                log.exception("power: polling failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
