"""Timelines: the :class:`Event` record, every event kind once (:class:`EventKind`), subjects.

An event belongs to a subject: ``system:<name>``, ``order:<id>`` or, for a MAC the inventory
does not know, ``discovered:<mac>``. Kinds are the strings stored and served (API, UI, JSON);
each event has exactly one spelling, the value of its :class:`EventKind` member. Agents may
send kinds of their own (``/api/agent/event`` accepts any short printable kind); those the
appliance interprets are members here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """Every kind the appliance records or interprets, by who records it."""

    # the inventory (core)
    SYSTEM_CREATED = "created"
    SYSTEM_UPDATED = "updated"
    SYSTEM_REMOVED = "removed"
    # serving a machine (core, web, net)
    DISCOVERED = "discovered"  # DHCP saw an unknown MAC (discover policy)
    DHCP_OFFER = "dhcp-offer"
    DHCP_ACK = "dhcp-ack"
    PROXY_OFFER = "proxy-offer"
    PROXY_ACK = "proxy-ack"
    DHCP6_ADVERTISE = "dhcp6-advertise"
    DHCP6_REPLY = "dhcp6-reply"
    BOOT_FILE_MISSING = "boot-file-missing"  # the loader a firmware needs is not installed
    BOOT_CONFIG = "boot-config"  # a per-MAC pxelinux/GRUB/iPXE config was served
    TFTP = "tftp"  # a TFTP transfer finished (or failed)
    HTTP_ASSET = "http-asset"  # a kernel/initrd/boot file was served over HTTP
    KICKSTART = "kickstart"
    RENDER_ERROR = "render-error"
    CALLBACK_STARTED = "callback:started"  # the installer's %pre/%post callbacks
    CALLBACK_DONE = "callback:done"
    CALLBACK_FAILED = "callback:failed"
    # orders (core/ordering)
    ORDER_QUEUED = "queued"
    ORDER_PLACED = "placed"
    ORDER_FAILED = "failed"
    ORDER_CANCELLED = "cancelled"
    ORDER_DELETED = "deleted"
    WORK_QUEUED = "work-queued"
    WORK_DROPPED = "work-dropped"
    # the agent work queue (core/orders)
    WORK_DONE = "agent:done"
    WORK_RETRY = "agent:retry"
    WORK_FAILED = "agent:failed"
    # sent by the agent (agent/loop.py)
    GUEST_DISK_CREATED = "guest.disk-created"
    GUEST_BOOT_FILES = "guest.boot-files"
    GUEST_DEFINED = "guest.defined"
    GUEST_STARTED = "guest.started"
    GUEST_STATE = "guest.state"
    GUEST_INSTALL_FINISHED = "guest.install-finished"  # restarted from its disk
    GUEST_STOPPING = "guest.stopping"
    GUEST_DESTROYED = "guest.destroyed"
    GUEST_UNDEFINED = "guest.undefined"
    GUEST_FAILED = "guest.failed"
    BRIDGE_PLANNED = "bridge.planned"
    # migration between agentless hosts (remote/hosts.py)
    MIGRATION_STARTED = "migration:started"
    MIGRATION_PROGRESS = "migration:progress"  # at most one a second while memory moves
    MIGRATION_DONE = "migration:done"
    MIGRATION_FAILED = "migration:failed"
    # host TLS certificate rotation (remote/rotation.py), subject host:NAME
    TLS_ROTATED = "tls:rotated"
    TLS_ROTATION_QUEUED = "tls:rotation-queued"
    TLS_ROTATION_FAILED = "tls:rotation-failed"
    TLS_ROTATION_MANUAL = "tls:rotation-manual"
    # power control and reinstall (core/power.py, core/reinstall.py)
    POWER_CONFIGURED = "power:configured"  # driver/address/user changed (never a password)
    POWER_ACTION = "power:action"  # on/off/cycle/reset/boot device, with its result
    POWER_FAILED = "power:failed"  # an action the controller refused or never answered
    POWER_STATE = "power:state"  # the polled state changed (on/off/unknown)
    REINSTALL_STARTED = "reinstall:started"
    REINSTALL_PROGRESS = "reinstall:progress"  # netboot on, override set, power-cycled...
    REINSTALL_DONE = "reinstall:done"  # installed, boots from its disk again
    REINSTALL_FAILED = "reinstall:failed"  # with the reason and what was put back


#: installer callback name (``/cb/<token>/<name>``) -> its event
CALLBACK_EVENTS = {"started": EventKind.CALLBACK_STARTED, "done": EventKind.CALLBACK_DONE,
                   "failed": EventKind.CALLBACK_FAILED}


def system_subject(name: str) -> str:
    return f"system:{name}"


def host_subject(name: str) -> str:
    return f"host:{name}"


def order_subject(order_id: str) -> str:
    return f"order:{order_id}"


def discovered_subject(mac: str) -> str:
    """Timeline subject of an unknown MAC (DHCP's ``discovered`` and the menu's boot configs)."""
    return f"discovered:{mac}"


@dataclass(frozen=True)
class Event:
    """One entry in a timeline; ``kind`` is stored as the plain string."""

    subject: str  # "system:<name>", "order:<id>" or "discovered:<mac>"
    kind: str  # an EventKind value (or an agent's own kind)
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0  # seconds since the epoch
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", str(self.kind))
