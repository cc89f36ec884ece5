"""In-memory Store: dicts behind one lock, with the same unique keys as the SQL store.

Used by tests and by anything that wants a throw-away inventory. Values are frozen dataclasses,
so storing them without copying is safe.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import replace

from provisioner.errors import Conflict
from provisioner.models import (
    ApiToken,
    Change,
    Distro,
    Event,
    Host,
    Order,
    Profile,
    System,
    User,
    WorkItem,
)
from provisioner.store.changes import KEEP
from provisioner.store.power import MemoryPower
from provisioner.store.secrets import MemorySecrets


class MemoryStore(MemorySecrets, MemoryPower):
    """A complete :class:`~provisioner.core.ports.Store` held in process memory."""

    def __init__(self) -> None:
        MemorySecrets.__init__(self)
        MemoryPower.__init__(self)
        self._lock = threading.RLock()
        self.distros: dict[str, Distro] = {}
        self.profiles: dict[str, Profile] = {}
        self.systems: dict[str, System] = {}
        self._by_mac: dict[str, str] = {}
        self._by_ip: dict[str, str] = {}
        self._by_ipv6: dict[str, str] = {}
        self._by_duid: dict[str, str] = {}
        self._by_token: dict[str, str] = {}
        self.events: list[Event] = []
        self.tokens: dict[str, ApiToken] = {}
        self.hosts: dict[str, Host] = {}
        self.work: dict[str, WorkItem] = {}
        self.orders: dict[str, Order] = {}
        self.users: dict[str, User] = {}
        self._revision = 0
        self._changes: list[Change] = []

    # the inventory change counter (store/changes.py)
    def _changed(self, entity: str, name: str) -> None:
        self._revision += 1
        self._changes.append(Change(self._revision, entity, name))
        if len(self._changes) > 2 * KEEP:
            del self._changes[:-KEEP]

    def revision(self) -> int:
        return self._revision

    def changes_since(self, revision: int) -> tuple[int, list[Change]] | None:
        with self._lock:
            now, log = self._revision, list(self._changes)
        newer = [c for c in log if c.revision > revision]
        if now < revision or now > revision and (not newer or newer[0].revision != revision + 1):
            return None
        return now, newer

    # distros
    def get_distro(self, name: str) -> Distro | None:
        return self.distros.get(name)

    def put_distro(self, distro: Distro) -> None:
        with self._lock:
            self.distros[distro.name] = distro
            self._changed("distro", distro.name)

    def delete_distro(self, name: str) -> bool:
        with self._lock:
            gone = self.distros.pop(name, None) is not None
            if gone:
                self._changed("distro", name)
            return gone

    def list_distros(self) -> list[Distro]:
        return sorted(self.distros.values(), key=lambda d: d.name)

    # profiles
    def get_profile(self, name: str) -> Profile | None:
        return self.profiles.get(name)

    def put_profile(self, profile: Profile) -> None:
        with self._lock:
            self.profiles[profile.name] = profile
            self._changed("profile", profile.name)

    def delete_profile(self, name: str) -> bool:
        with self._lock:
            gone = self.profiles.pop(name, None) is not None
            if gone:
                self._changed("profile", name)
            return gone

    def list_profiles(self, *, distro: str | None = None,
                      parent: str | None = None) -> list[Profile]:
        out = [p for p in self.profiles.values()
               if (distro is None or p.distro == distro) and (parent is None or p.parent == parent)]
        return sorted(out, key=lambda p: p.name)

    # systems
    def get_system(self, name: str) -> System | None:
        return self.systems.get(name)

    def put_system(self, system: System) -> None:
        with self._lock:
            for index, key, what in self._indexes():
                for iface in system.interfaces:
                    value = getattr(iface, key)
                    owner = index.get(value) if value else None
                    if owner is not None and owner != system.name:
                        raise Conflict(f"{what} {value} already belongs to system {owner}")
            owner = self._by_token.get(system.token) if system.token else None
            if owner is not None and owner != system.name:
                raise Conflict("token already in use")
            self._unindex(system.name)
            self.systems[system.name] = system
            for iface in system.interfaces:
                for index, key, _ in self._indexes():
                    if getattr(iface, key):
                        index[getattr(iface, key)] = system.name
            if system.token:
                self._by_token[system.token] = system.name
            self._changed("system", system.name)

    def _unindex(self, name: str) -> None:
        old = self.systems.get(name)
        if old is None:
            return
        for iface in old.interfaces:
            for index, key, _ in self._indexes():
                if getattr(iface, key):
                    index.pop(getattr(iface, key), None)
        if old.token:
            self._by_token.pop(old.token, None)

    def delete_system(self, name: str) -> bool:
        with self._lock:
            self._unindex(name)
            gone = self.systems.pop(name, None) is not None
            if gone:
                self.delete_power_config(name)
                self._changed("system", name)
            return gone

    def list_systems(self, *, profile: str | None = None) -> list[System]:
        out = [s for s in self.systems.values() if profile is None or s.profile == profile]
        return sorted(out, key=lambda s: s.name)

    def _system_by(self, index: dict[str, str], key: str) -> System | None:
        name = index.get(key)
        return None if name is None else self.systems.get(name)

    def system_by_mac(self, mac: str) -> System | None:
        return self._system_by(self._by_mac, mac)

    def system_by_ip(self, ip: str) -> System | None:
        return self._system_by(self._by_ip, ip)

    def system_by_duid(self, duid: str) -> System | None:
        return self._system_by(self._by_duid, duid)

    def _indexes(self) -> tuple[tuple[dict[str, str], str, str], ...]:
        return ((self._by_mac, "mac", "MAC"), (self._by_ip, "ip", "IP"),
                (self._by_ipv6, "ipv6", "IPv6 address"), (self._by_duid, "duid", "DUID"))

    def system_by_token(self, token: str) -> System | None:
        return self._system_by(self._by_token, token)

    def reserved_ips(self) -> list[str]:
        """Every interface address in the inventory (unordered; DHCP keeps them out of pools)."""
        return list(self._by_ip)

    def list_addresses(self) -> list[tuple[str, str | None, str, str]]:
        systems = self.list_systems()
        return [(s.name, s.hostname, i.name, ip) for attr in ("ip", "ipv6") for s in systems
                for i in s.interfaces if (ip := getattr(i, attr))]

    # timeline
    def add_event(self, event: Event) -> Event:
        with self._lock:
            stored = replace(event, id=len(self.events) + 1)
            self.events.append(stored)
            return stored

    def add_events(self, events: list[Event]) -> None:
        with self._lock:
            for event in events:
                self.add_event(event)

    def list_events(self, subject: str, limit: int | None = None) -> list[Event]:
        out = [e for e in self.events if e.subject == subject]
        return out[-limit:] if limit else out

    def latest_events(self, limit: int) -> list[Event]:
        return list(self.events[-limit:]) if limit > 0 else []

    # API tokens
    def put_token(self, token: ApiToken) -> None:
        with self._lock:
            self.tokens[token.name] = token

    def has_token(self, token_hash: str) -> bool:
        return any(t.token_hash == token_hash for t in self.tokens.values())

    def list_tokens(self) -> list[ApiToken]:
        return sorted(self.tokens.values(), key=lambda t: t.name)

    def delete_token(self, name: str) -> bool:
        with self._lock:
            return self.tokens.pop(name, None) is not None

    # agent hosts
    def get_host(self, name: str) -> Host | None:
        return self.hosts.get(name)

    def put_host(self, host: Host) -> None:
        with self._lock:
            self.hosts[host.name] = host

    def touch_host(self, name: str, now: float) -> bool:
        with self._lock:
            host = self.hosts.get(name)
            if host is None:
                return False
            self.hosts[name] = replace(host, last_seen=now)
            return True

    def delete_host(self, name: str) -> bool:
        with self._lock:
            return self.hosts.pop(name, None) is not None

    def list_hosts(self) -> list[Host]:
        return sorted(self.hosts.values(), key=lambda h: h.name)

    # work queue
    def get_work(self, id: str) -> WorkItem | None:
        return self.work.get(id)

    def work_by_key(self, idempotency_key: str) -> WorkItem | None:
        return next((w for w in self.work.values() if w.idempotency_key == idempotency_key), None)

    def put_work(self, item: WorkItem) -> None:
        with self._lock:
            other = self.work_by_key(item.idempotency_key) if item.idempotency_key else None
            if other is not None and other.id != item.id:
                raise Conflict(f"idempotency key {item.idempotency_key!r} already used by "
                               f"{other.id}")
            self.work[item.id] = item

    def delete_work(self, id: str) -> bool:
        with self._lock:
            return self.work.pop(id, None) is not None

    def list_work(self, *, host: str | None = None, state: str | None = None) -> list[WorkItem]:
        out = [w for w in self.work.values()
               if (host is None or w.host == host) and (state is None or w.state == state)]
        return sorted(out, key=lambda w: (w.created, w.id))

    def lease_work(self, host: str, now: float, lease_seconds: float) -> WorkItem | None:
        with self._lock:
            due = [w for w in self.list_work(host=host)
                   if w.state == "queued" or (w.state == "leased" and w.lease_until < now)]
            if not due:
                return None
            item = replace(due[0], state="leased", lease_until=now + lease_seconds,
                           attempts=due[0].attempts + 1, updated=now)
            self.work[item.id] = item
            return item

    # orders
    def get_order(self, id: str) -> Order | None:
        return self.orders.get(id)

    def put_order(self, order: Order) -> None:
        with self._lock:
            self.orders[order.id] = order

    def delete_order(self, id: str) -> bool:
        with self._lock:
            return self.orders.pop(id, None) is not None

    def list_orders(self, *, owner: str | None = None) -> list[Order]:
        out = [o for o in self.orders.values() if owner is None or o.owner == owner]
        return sorted(out, key=lambda o: (o.created, o.id))

    # users
    def get_user(self, name: str) -> User | None:
        return self.users.get(name)

    def put_user(self, user: User) -> None:
        with self._lock:
            self.users[user.name] = user

    def delete_user(self, name: str) -> bool:
        with self._lock:
            return self.users.pop(name, None) is not None

    def list_users(self) -> list[User]:
        return sorted(self.users.values(), key=lambda u: u.name)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass
