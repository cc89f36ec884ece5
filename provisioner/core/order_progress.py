"""An order's progress, derived per request from its timelines and work items (never stored).

The stages, in order::

    queued -> placed -> defined -> dhcp -> tftp -> kickstart -> installing -> installed
                                                       (or failed / cancelled at any point)

and, shown after "installed" without being a state, "booted": the agent started the installed
guest from its disk. Each stage is marked by event kinds (:data:`EVENT_STAGES`); a later stage
implies the earlier ones (a missed DHCP event still shows DHCP as done).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provisioner.core.event_text import describe
from provisioner.models import Event, EventKind, Order, System, WorkItem

STAGES = ("queued", "placed", "defined", "dhcp", "tftp", "kickstart", "installing", "installed")
#: Shown after "installed" but not a state of the order: the agent started the installed guest
#: from its disk (its final definition).
AFTER = ("booted",)
TERMINAL = ("installed", "failed", "cancelled")
#: each stage for people (the UI, the lab's progress display)
STAGE_LABELS = {"queued": "Queued", "placed": "Placed on a host", "defined": "Guest defined",
                "dhcp": "DHCP", "tftp": "Boot loader (TFTP/HTTP)", "kickstart": "Kickstart fetched",
                "installing": "Installing", "installed": "Installed",
                "booted": "Booted from its disk",
                "failed": "Failed", "cancelled": "Cancelled"}
#: the DHCP family of kinds (``dhcp-offer``, ``dhcp-ack``): matched as a prefix
DHCP_FAMILY = "dhcp"

# (stage, event kinds) checked in this order; a kind matches exactly or followed by one of
# ":", "-", "." or "_" and more (a variant of the same event).
EVENT_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("booted", (EventKind.GUEST_INSTALL_FINISHED,)),
    ("failed", (EventKind.CALLBACK_FAILED, EventKind.ORDER_FAILED, EventKind.GUEST_FAILED,
                EventKind.WORK_FAILED)),
    ("cancelled", (EventKind.ORDER_CANCELLED,)),
    ("installed", (EventKind.CALLBACK_DONE,)),
    ("installing", (EventKind.CALLBACK_STARTED,)),
    ("kickstart", (EventKind.KICKSTART,)),
    ("tftp", (EventKind.TFTP, EventKind.BOOT_CONFIG)),
    ("dhcp", (DHCP_FAMILY,)),
    ("defined", (EventKind.GUEST_DEFINED, EventKind.GUEST_STARTED)),
    ("placed", (EventKind.ORDER_PLACED,)),
    ("queued", (EventKind.ORDER_QUEUED,)),
)
#: stages whose events may carry the guest's address (``ip``/``yiaddr``/``address``)
ADDRESS_STAGES = ("dhcp", "tftp", "kickstart", "installing", "installed")


@dataclass(frozen=True)
class Step:
    stage: str
    at: float | None  # when it was reached; None: not yet


@dataclass(frozen=True)
class Progress:
    """An order as the order page shows it."""

    order: Order
    state: str
    steps: tuple[Step, ...]
    events: tuple[Any, ...]
    address: str | None
    fqdn: str | None
    detail: str = ""  # why it failed, when it did

    def as_dict(self) -> dict[str, Any]:
        o = self.order
        return {"id": o.id, "name": o.name, "owner": o.owner, "profile": o.profile,
                "host": o.host, "vcpus": o.vcpus, "ram_mb": o.ram_mb, "disk_gb": o.disk_gb,
                "network": o.network, "state": self.state, "address": self.address,
                "fqdn": self.fqdn, "detail": self.detail, "created": o.created,
                "steps": [{"stage": s.stage, "at": s.at} for s in self.steps],
                "events": [{"subject": e.subject, "kind": e.kind, "at": e.at,
                            "detail": e.detail, "text": describe(e.kind, e.detail)}
                           for e in self.events]}


def _marks(kind: str, pattern: str) -> bool:
    return kind == pattern or (kind.startswith(pattern) and kind[len(pattern):len(pattern) + 1]
                               in (":", "-", ".", "_"))


def stage_of(kind: str) -> str | None:
    """The order stage an event kind marks, or None for events that mark none."""
    k = kind.lower()
    for stage, patterns in EVENT_STAGES:
        if any(_marks(k, p) for p in patterns):
            return stage
    return None


def _reached(kinds: Sequence[tuple[str, float]],
             work: Sequence[WorkItem]) -> tuple[dict[str, float], str]:
    """When each stage was first reached, and why the guest's creation failed (if it did)."""
    reached: dict[str, float] = {}
    detail = ""
    for kind, at in kinds:
        stage = stage_of(kind)
        if stage is not None and stage not in reached:
            reached[stage] = at
    for item in work:
        if item.kind == "guest.create" and item.state == "done":
            reached.setdefault("defined", item.updated)
        if item.kind == "guest.create" and item.state == "failed":
            reached.setdefault("failed", item.updated)
            detail = str(item.result.get("error") or item.result.get("message") or "")
    return reached, detail


def _steps(reached: dict[str, float]) -> tuple[int, tuple[Step, ...]]:
    """The index of the last stage reached, and every step with when it was reached."""
    last = max((i for i, stage in enumerate(STAGES) if stage in reached), default=-1)
    steps = []
    for i, stage in enumerate(STAGES):
        when = reached.get(stage)
        if when is None and i < last:  # a later stage implies this one
            later = [reached[s] for s in STAGES[i + 1:] if s in reached]
            when = min(later) if later else None
        steps.append(Step(stage, when))
    installed = "installed" in reached
    steps += [Step(stage, reached.get(stage) if installed else None) for stage in AFTER]
    return last, tuple(steps)


def derive_state(kinds: Sequence[tuple[str, float]],
                 work: Sequence[WorkItem] = ()) -> tuple[str, tuple[Step, ...], str]:
    """(state, steps, failure detail) from ``(kind, at)`` events and the order's work items."""
    reached, detail = _reached(kinds, work)
    last, steps = _steps(reached)
    for terminal in ("cancelled", "failed"):
        if terminal in reached:
            return terminal, steps, detail
    return (STAGES[last] if last >= 0 else "queued"), steps, detail


def address_of(system: System | None, events: Sequence[Event]) -> str | None:
    """The guest's address: a reserved one, else the newest one its boot events name."""
    if system is not None:
        found = next((i.ip for i in system.interfaces if i.ip), None)
        if found is not None:
            return found
    for e in reversed(events):
        ip = e.detail.get("ip") or e.detail.get("yiaddr") or e.detail.get("address")
        if ip and stage_of(e.kind) in ADDRESS_STAGES:
            return str(ip)
    return None
