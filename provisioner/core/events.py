"""Timelines: events per subject (``system:<name>``, ``order:<id>``) over the Store.

Recording is best effort on purpose: a timeline write that fails (database locked, disk full) is
logged and never turns a served kickstart or boot config into an error.
"""

from __future__ import annotations

import logging
from typing import Any

from provisioner.models import Event
from provisioner.store.base import Store, StoreError

log = logging.getLogger(__name__)


def system_subject(name: str) -> str:
    return f"system:{name}"


def record(store: Store, subject: str, kind: str, detail: dict[str, Any], at: float) -> Event | None:
    """Append one event; ``None`` (and a log line) when the store failed."""
    try:
        return store.add_event(Event(subject=subject, kind=kind, detail=dict(detail), at=at))
    except StoreError as exc:
        log.error("timeline: could not record %s %s: %s", subject, kind, exc)
        return None


def timeline(store: Store, subject: str, limit: int | None = None) -> list[Event]:
    """Events of ``subject``, oldest first (the last ``limit`` ones when given)."""
    return store.list_events(subject, limit)
