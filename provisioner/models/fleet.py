"""Records beyond the inventory: API tokens, agent hosts, the agent work queue, VM orders, users."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORK_STATES = ("queued", "leased", "done", "failed")


@dataclass(frozen=True)
class ApiToken:
    """A bearer token for API writes; only its SHA-256 hex digest is stored."""

    name: str
    token_hash: str
    created: float = 0.0


@dataclass(frozen=True)
class Host:
    """A hypervisor host: one running the agent, or an *agentless* one the appliance manages by
    its libvirt ``uri`` (its agent loop runs on the appliance; ``ssh_host_key`` is the host's
    recorded SSH key for a ``+ssh`` URI)."""

    name: str
    token_hash: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    capacity: dict[str, Any] = field(default_factory=dict)  # e.g. {"vcpus": 8, "ram_mb": 16384}
    last_seen: float = 0.0
    uri: str = ""
    ssh_host_key: str = ""

    @property
    def agentless(self) -> bool:
        return bool(self.uri)


@dataclass(frozen=True)
class WorkItem:
    """One unit of agent work. ``lease_work`` hands it to one host at a time."""

    id: str
    host: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    state: str = "queued"  # queued | leased | done | failed
    lease_until: float = 0.0
    attempts: int = 0
    idempotency_key: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.state not in WORK_STATES:
            raise ValueError(f"bad work state {self.state!r}")


@dataclass(frozen=True)
class Order:
    """A user's request for a virtual machine."""

    id: str
    owner: str
    name: str
    profile: str
    vcpus: int = 1
    ram_mb: int = 1024
    disk_gb: int = 10
    network: str = ""
    host: str | None = None
    state: str = "new"
    system: str | None = None
    created: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True)
class User:
    """A web UI user; ``password_hash`` is whatever the UI's hasher produced."""

    name: str
    password_hash: str
    role: str = "user"  # "user" or "admin"
