"""An in-memory copy of the inventory that follows the store's change counter (protocol workers).

:class:`CachedStore` wraps a :class:`~provisioner.core.ports.Store`: distros, profiles and
systems (with their MAC/IP/token indexes and the address list DNS and DHCP reservations use)
are answered from a :class:`~provisioner.store.memory.MemoryStore` mirror, everything else
(events, tokens, hosts, work...) goes to the backing store. :meth:`CachedStore.refresh` asks the
revision watch (``store/changes.py``) whether the inventory moved and, if so, reloads only the
entities that changed since the mirror's revision, in one read snapshot; when the change log no
longer reaches back it reloads everything. The network workers call ``refresh()`` before they
answer each request (a DHCP batch, a TFTP read request, a DNS zone build), which costs one
indexed read of the revision row on SQLite, so a change committed through the API is seen by
the very next request ("no sync": the cache follows the store, it is never a second truth).

Writes through the wrapper go to the backing store and show up at the next ``refresh()``.
Not thread-safe by design: one worker thread (its event loop) refreshes and reads it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from provisioner.models import Distro, Profile, System
from provisioner.store.changes import Change, RevisionWatch, watch_for
from provisioner.store.memory import MemoryStore

log = logging.getLogger(__name__)


class CachedStore:
    """See the module docstring. ``on_refresh(seconds, changes)`` reports each reload."""

    def __init__(self, store: Any, watch: RevisionWatch | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 on_refresh: Callable[[float, int], None] | None = None) -> None:
        self.store = store
        self.watch = watch if watch is not None else watch_for(store)
        self.clock = clock
        self.on_refresh = on_refresh
        self.mirror = MemoryStore()
        self.revision = -1
        self.full_loads = 0
        self.changes_applied = 0
        self._addresses: list[tuple[str, str | None, str, str]] | None = None
        self._reserved: list[str] | None = None
        self.refresh()

    # -- following the store ------------------------------------------------------------------

    def refresh(self) -> bool:
        """Bring the mirror up to the store's revision; True if anything was reloaded."""
        latest = self.watch.latest()
        if latest == self.revision:
            return False
        started = self.clock()
        with self.store.snapshot():
            delta = self.store.changes_since(self.revision) if self.revision >= 0 else None
            if delta is None:
                n = self._load_all()
            else:
                self.revision, changes = delta
                n = self._apply(changes)
        self._addresses = self._reserved = None
        if self.on_refresh is not None:
            self.on_refresh(self.clock() - started, n)
        return True

    def _load_all(self) -> int:
        revision = self.store.revision()
        mirror = MemoryStore()
        for d in self.store.list_distros():
            mirror.put_distro(d)
        for p in self.store.list_profiles():
            mirror.put_profile(p)
        for s in self.store.list_systems():
            mirror.put_system(s)
        self.mirror, self.revision = mirror, revision
        self.full_loads += 1
        log.info("inventory: loaded revision %d (%d systems)", revision, len(mirror.systems))
        return len(mirror.systems)

    def _apply(self, changes: list[Change]) -> int:
        names: dict[str, dict[str, None]] = {"distro": {}, "profile": {}, "system": {}}
        for c in changes:
            names.setdefault(c.entity, {})[c.name] = None
        m = self.mirror
        for name in names["distro"]:
            d = self.store.get_distro(name)
            m.put_distro(d) if d is not None else m.delete_distro(name)
        for name in names["profile"]:
            p = self.store.get_profile(name)
            m.put_profile(p) if p is not None else m.delete_profile(name)
        systems = [(name, self.store.get_system(name)) for name in names["system"]]
        for name, _ in systems:  # all out first: a MAC may move between two changed systems
            m.delete_system(name)
        for _, s in systems:
            if s is not None:
                m.put_system(s)
        self.changes_applied += len(changes)
        return len(changes)

    # -- inventory reads: from the mirror -----------------------------------------------------

    def get_distro(self, name: str) -> Distro | None:
        return self.mirror.get_distro(name)

    def list_distros(self) -> list[Distro]:
        return self.mirror.list_distros()

    def get_profile(self, name: str) -> Profile | None:
        return self.mirror.get_profile(name)

    def list_profiles(self, *, distro: str | None = None,
                      parent: str | None = None) -> list[Profile]:
        return self.mirror.list_profiles(distro=distro, parent=parent)

    def get_system(self, name: str) -> System | None:
        return self.mirror.get_system(name)

    def list_systems(self, *, profile: str | None = None) -> list[System]:
        return self.mirror.list_systems(profile=profile)

    def system_by_mac(self, mac: str) -> System | None:
        return self.mirror.system_by_mac(mac)

    def system_by_ip(self, ip: str) -> System | None:
        return self.mirror.system_by_ip(ip)

    def system_by_duid(self, duid: str) -> System | None:
        return self.mirror.system_by_duid(duid)

    def system_by_token(self, token: str) -> System | None:
        return self.mirror.system_by_token(token)

    def list_addresses(self) -> list[tuple[str, str | None, str, str]]:
        if self._addresses is None:  # sorted once per revision, not per call
            self._addresses = self.mirror.list_addresses()
        return list(self._addresses)

    def reserved_ips(self) -> list[str]:
        """The inventory's interface addresses; the same list object until the next change."""
        if self._reserved is None:
            self._reserved = self.mirror.reserved_ips()
        return self._reserved

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        yield  # the mirror only changes in refresh(), on the thread that reads it

    def close(self) -> None:
        self.watch.close()
        self.store.close()

    def __getattr__(self, name: str) -> Any:  # writes and everything else: the backing store
        return getattr(self.store, name)
