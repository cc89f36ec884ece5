"""Progress of long commands for people: rows redrawn in place on a terminal, lines otherwise.

``lab up`` (each guest's stage from its timeline), ``import`` (files and bytes copied) and
``bootloaders install`` (each step) hand :meth:`Display.show` the current state as rows, one
per thing being watched, as often as they like.

* On a terminal (``stream.isatty()``) the rows are a block redrawn in place (ANSI: cursor up,
  clear line), at most every ``interval`` seconds, and the final state stays on the screen.
* Otherwise (a log file, a pipe, CI) a row is printed as a plain line when its ``stage``
  changes, and when only its text changes (a byte counter) at most every ``plain_every``
  seconds; :meth:`close` prints the rows whose last printed line is out of date.

The formatting helpers are pure; :class:`Display` takes its clock and stream as arguments.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from provisioner.core.event_text import size as bytes_text

UP, CLEAR = "\x1b[{n}A", "\x1b[2K\r"
__all__ = ["Display", "Row", "bar", "bytes_text", "elapsed"]


@dataclass(frozen=True)
class Row:
    """One watched thing: ``key`` names it, ``stage`` is its coarse state, ``text`` the line."""

    key: str
    stage: str
    text: str


def elapsed(seconds: float) -> str:
    """``0:07``, ``2:41``, ``1:02:03``: a clock people read at a glance."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def bar(done: float, total: float, width: int = 20) -> str:
    """``[#######.............]  35%`` (``total`` 0 counts as done)."""
    frac = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
    filled = int(round(frac * width))
    return f"[{'#' * filled}{'.' * (width - filled)}] {frac * 100:3.0f}%"


@dataclass
class Display:
    """See the module docstring."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    live: bool | None = None  # None: a terminal gets the live block
    clock: Callable[[], float] = time.monotonic
    interval: float = 0.2  # seconds between redraws on a terminal
    plain_every: float = 10.0  # seconds between repeats of a row whose stage did not change
    _drawn: int = 0  # rows of the block on screen (live)
    _last_draw: float = -1e9
    _rows: list[Row] = field(default_factory=list)
    _printed: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # stage, text, at

    def __post_init__(self) -> None:
        if self.live is None:
            isatty = getattr(self.stream, "isatty", None)
            self.live = bool(isatty and isatty())

    def show(self, rows: Sequence[Row]) -> None:
        self._rows = list(rows)
        now = self.clock()
        if self.live:
            if now - self._last_draw >= self.interval:
                self._draw(now)
            return
        for row in self._rows:
            last = self._printed.get(row.key)
            if last is None or last[0] != row.stage or (
                    last[1] != row.text and now - last[2] >= self.plain_every):
                self._line(row, now)

    def close(self) -> None:
        """The final state: redrawn (live) or the rows not yet printed as they are (plain)."""
        now = self.clock()
        if self.live:
            self._draw(now)
        else:
            for row in self._rows:
                last = self._printed.get(row.key)
                if last is None or last[1] != row.text:
                    self._line(row, now)
        self._drawn = 0
        self.stream.flush()

    def _line(self, row: Row, now: float) -> None:
        self.stream.write(row.text + "\n")
        self.stream.flush()
        self._printed[row.key] = (row.stage, row.text, now)

    def _draw(self, now: float) -> None:
        out = [UP.format(n=self._drawn)] if self._drawn else []
        out += [CLEAR + row.text + "\n" for row in self._rows]
        # rows that went away since the last draw: blank them
        out += [CLEAR + "\n"] * max(0, self._drawn - len(self._rows))
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn = max(len(self._rows), self._drawn)
        self._last_draw = now
