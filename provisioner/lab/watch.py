"""``lab up --wait``: what each guest is doing while the lab waits for it, from its timeline.

One row per guest: its stage (DHCP, boot loader, kickstart, installing, installed...), the
time since it was ordered, and its last event as a sentence (``HTTP sent kernel ...: 8.1 MiB
in 1.7 s``). :func:`guest_rows` is pure; :class:`GuestWatch` reads the store and hands the rows
to :class:`~provisioner.progress.Display` (live on a terminal, plain lines otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from provisioner.core.order_progress import STAGE_LABELS
from provisioner.lab.guests import guest_states
from provisioner.lab.state import LabState
from provisioner.progress import Display, Row, elapsed


def guest_rows(guests: Sequence[Mapping[str, Any]], now: float) -> list[Row]:
    """``guest1  DHCP                     0:12  DHCP gave 10.79.0.105 ...``"""
    rows = []
    for g in guests:
        stage = str(g.get("state") or "unknown")
        since = g.get("since")
        clock = elapsed(now - since) if isinstance(since, int | float) else "-"
        label = STAGE_LABELS.get(stage, stage)
        text = f"{g['name']:<10} {label:<24} {clock:>7}  {g.get('activity') or ''}".rstrip()
        rows.append(Row(str(g["name"]), stage, text))
    return rows


class GuestWatch:
    """Called on every round of a wait: shows the guests' rows."""

    def __init__(self, state: LabState, display: Display | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.display = display or Display()
        self.clock = clock

    def tick(self) -> list[dict[str, Any]]:
        """The guests' states now (shown, and returned for the wait's check)."""
        guests = guest_states(self.state)
        self.display.show(guest_rows(guests, self.clock()))
        return guests

    def close(self) -> None:
        self.display.close()
