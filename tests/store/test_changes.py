"""The inventory change counter (``store/changes.py``) and the cache that follows it
(``store/cache.py``), on the memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioner.models import ApiToken, Event, Interface, System
from provisioner.store import changes as ch
from provisioner.store.cache import CachedStore
from provisioner.store.changes import Change, PollWatch
from tests import fixtures as fx


def test_inventory_writes_bump_the_revision_and_log_what_changed(store):
    r0 = store.revision()
    fx.fill(store)  # a distro, two profiles, one system
    r1 = store.revision()
    assert r1 == r0 + 4
    store.add_event(Event(subject="system:web01", kind="x", detail={}, at=1.0))
    store.put_token(ApiToken(name="t", token_hash="h", created=1.0))
    assert store.revision() == r1  # not inventory: no bump
    store.put_system(replace(fx.SYSTEM, netboot_enabled=False))
    assert not store.delete_system("nope")  # nothing deleted: nothing changed
    assert store.delete_profile("web") is True
    now, changes = store.changes_since(r1)
    assert now == r1 + 2
    assert changes == [Change(r1 + 1, "system", "web01"), Change(r1 + 2, "profile", "web")]
    assert store.changes_since(now) == (now, [])
    assert store.changes_since(now + 5) is None  # the database went backwards: reload


def test_a_reader_too_far_behind_is_told_to_reload(store, monkeypatch):
    monkeypatch.setattr(ch, "KEEP", 3)
    import provisioner.store.memory as mem
    import provisioner.store.sql as sql

    monkeypatch.setattr(mem, "KEEP", 3)
    monkeypatch.setattr(sql, "KEEP", 3)
    monkeypatch.setattr(sql, "PRUNE_EVERY", 1)
    r0 = store.revision()
    fx.fill(store)
    for i in range(8):
        store.put_system(replace(fx.SYSTEM, kernel_options=f"k{i}"))
    assert store.changes_since(r0) is None  # pruned past r0: reload everything
    now = store.revision()
    assert store.changes_since(now - 2) == (now, [Change(now - 1, "system", "web01"),
                                                  Change(now, "system", "web01")])


def test_cache_follows_every_kind_of_change(store):
    fx.fill(store)
    cache = CachedStore(store, PollWatch(store))
    assert cache.system_by_mac(fx.MAC) == fx.SYSTEM and cache.full_loads == 1
    assert cache.refresh() is False  # nothing moved: one revision read, nothing reloaded
    moved = replace(fx.SYSTEM, interfaces=(Interface(mac="52:54:00:00:00:99", ip="10.0.0.99"),))
    store.put_system(moved)
    store.put_system(System(name="db01", profile="web", interfaces=(Interface(mac=fx.MAC),)))
    assert cache.refresh() is True
    assert cache.system_by_mac(fx.MAC).name == "db01"  # the MAC moved to another system
    assert cache.system_by_ip("10.0.0.99").name == "web01"
    assert cache.system_by_ip("10.0.0.21") is None
    assert [a[0] for a in cache.list_addresses()] == ["web01"]
    assert cache.reserved_ips() == ["10.0.0.99"] and cache.reserved_ips() is cache.reserved_ips()
    store.put_distro(replace(fx.DISTRO, kernel_options="x=1"))
    store.delete_profile("web")
    cache.refresh()
    assert cache.get_distro(fx.DISTRO.name).kernel_options == "x=1"
    assert cache.get_profile("web") is None
    store.delete_system("db01")
    cache.refresh()
    assert cache.system_by_mac(fx.MAC) is None and cache.get_system("db01") is None
    assert cache.full_loads == 1 and cache.changes_applied == 5
    assert cache.list_systems() == store.list_systems()
    assert cache.list_events("system:web01") == []  # not inventory: the backing store


def test_postgres_notify_reaches_a_listener_with_the_commit(store):
    if getattr(getattr(store, "engine", None), "dialect", None) is None or \
            store.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    watch = ch.watch_for(store)
    assert isinstance(watch, ch.PgNotifyWatch) and watch.fileno() is not None
    watch.clock = lambda: 0.0  # never fall back to polling: only notifications move it
    watch._polled = 0.0
    before = watch.latest()
    fx.fill(store)
    import select

    select.select([watch.fileno()], [], [], 5)
    for _ in range(50):  # the four notifications may arrive in more than one packet
        if watch.latest() == before + 4:
            break
        select.select([watch.fileno()], [], [], 0.1)
    assert watch.latest() == store.revision() == before + 4
    watch.close()


def test_the_default_watch_sees_every_committed_write(store):
    watch = ch.watch_for(store)
    kind = getattr(getattr(store, "engine", None), "dialect", None)
    expected = {"sqlite": ch.SqliteWatch, "postgresql": ch.PgNotifyWatch}.get(
        kind.name if kind else "", ch.PollWatch)
    assert isinstance(watch, expected)
    if isinstance(watch, ch.PgNotifyWatch):
        watch.close()
        return  # covered with its notifications above
    fx.fill(store)
    assert watch.latest() == store.revision()
    store.put_system(replace(fx.SYSTEM, netboot_enabled=False))
    assert watch.latest() == store.revision()  # read after the commit: no delay, no cache
    watch.close()
