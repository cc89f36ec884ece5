"""The Store Protocol: plain get/put/delete/list per entity, nothing else.

The core depends on this Protocol only (house rule 5). Implementations: ``store/sql.py``
(SQLAlchemy: SQLite or PostgreSQL) and ``store/memory.py`` (tests). ``get_*``/``*_by_*`` return
``None`` when absent; ``put_*`` inserts or replaces and raises :class:`~provisioner.errors.Conflict`
when a unique key (name, MAC, IP, token, idempotency key) clashes; ``delete_*`` returns whether
something was deleted. A store that cannot answer raises :class:`StoreError`.

Besides the inventory, the records of later features live here so that they need no new
migration: agent hosts, the agent work queue, VM orders and UI users.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from provisioner.errors import ProvisionerError
from provisioner.models import Distro, Event, Profile, System

WORK_STATES = ("queued", "leased", "done", "failed")


class StoreError(ProvisionerError):
    """The store failed (unreachable database, disk full...): a server-side error."""

    http_status = 503


@dataclass(frozen=True)
class ApiToken:
    """A bearer token for API writes; only its SHA-256 hex digest is stored."""

    name: str
    token_hash: str
    created: float = 0.0


@dataclass(frozen=True)
class Host:
    """A hypervisor host running the agent."""

    name: str
    token_hash: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    capacity: dict[str, Any] = field(default_factory=dict)  # e.g. {"vcpus": 8, "ram_mb": 16384}
    last_seen: float = 0.0


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


class Store(Protocol):
    """Persistence of every record; no policy, no validation beyond unique keys."""

    # distros
    def get_distro(self, name: str) -> Distro | None: ...
    def put_distro(self, distro: Distro) -> None: ...
    def delete_distro(self, name: str) -> bool: ...
    def list_distros(self) -> list[Distro]: ...

    # profiles
    def get_profile(self, name: str) -> Profile | None: ...
    def put_profile(self, profile: Profile) -> None: ...
    def delete_profile(self, name: str) -> bool: ...
    def list_profiles(self, *, distro: str | None = None,
                      parent: str | None = None) -> list[Profile]: ...

    # systems (interfaces are stored with their system; MAC and IP are unique and indexed)
    def get_system(self, name: str) -> System | None: ...
    def put_system(self, system: System) -> None: ...
    def delete_system(self, name: str) -> bool: ...
    def list_systems(self, *, profile: str | None = None) -> list[System]: ...
    def system_by_mac(self, mac: str) -> System | None: ...
    def system_by_ip(self, ip: str) -> System | None: ...
    def system_by_token(self, token: str) -> System | None: ...
    def list_addresses(self) -> list[tuple[str, str | None, str, str]]:
        """``(system, hostname, interface name, ip)`` of every interface with an IP, ordered by
        system then interface position: one query, for DNS and DHCP's reserved set."""
        ...

    # timeline
    def add_event(self, event: Event) -> Event: ...
    def add_events(self, events: list[Event]) -> None:
        """Store several events in one transaction, in order."""
        ...
    def list_events(self, subject: str, limit: int | None = None) -> list[Event]: ...

    # API tokens
    def put_token(self, token: ApiToken) -> None: ...
    def has_token(self, token_hash: str) -> bool: ...
    def list_tokens(self) -> list[ApiToken]: ...
    def delete_token(self, name: str) -> bool: ...

    # agent hosts
    def get_host(self, name: str) -> Host | None: ...
    def put_host(self, host: Host) -> None: ...
    def delete_host(self, name: str) -> bool: ...
    def list_hosts(self) -> list[Host]: ...

    # agent work queue
    def get_work(self, id: str) -> WorkItem | None: ...
    def work_by_key(self, idempotency_key: str) -> WorkItem | None: ...
    def put_work(self, item: WorkItem) -> None: ...
    def delete_work(self, id: str) -> bool: ...
    def list_work(self, *, host: str | None = None, state: str | None = None) -> list[WorkItem]: ...
    def lease_work(self, host: str, now: float, lease_seconds: float) -> WorkItem | None:
        """Atomically take the oldest queued (or lease-expired) item of ``host``.

        The item becomes ``leased`` until ``now + lease_seconds`` with ``attempts`` + 1; two
        concurrent callers never get the same item. ``None`` when nothing is due.
        """
        ...

    # VM orders
    def get_order(self, id: str) -> Order | None: ...
    def put_order(self, order: Order) -> None: ...
    def delete_order(self, id: str) -> bool: ...
    def list_orders(self, *, owner: str | None = None) -> list[Order]: ...

    # UI users
    def get_user(self, name: str) -> User | None: ...
    def put_user(self, user: User) -> None: ...
    def delete_user(self, name: str) -> bool: ...
    def list_users(self) -> list[User]: ...

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads by this thread inside the block share one connection/transaction."""
        ...

    def close(self) -> None: ...
