"""The Store contract, identical for the memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from provisioner.errors import Conflict
from provisioner.models import ApiToken, Event, Host, Interface, Order, System, User, WorkItem
from tests import fixtures as fx


def test_inventory_round_trip(store):
    fx.fill(store)
    assert store.get_distro(fx.DISTRO.name) == fx.DISTRO
    assert store.get_profile("base") == fx.BASE
    assert store.get_profile("web") == fx.WEB
    assert store.get_system("web01") == fx.SYSTEM
    assert [p.name for p in store.list_profiles(parent="base")] == ["web"]
    assert [p.name for p in store.list_profiles(distro=fx.DISTRO.name)] == ["base"]
    assert store.list_systems(profile="web") == [fx.SYSTEM]
    assert store.list_systems(profile="base") == []


def test_indexed_lookups(store):
    fx.fill(store)
    assert store.system_by_mac(fx.MAC).name == "web01"
    assert store.system_by_ip("10.0.0.21").name == "web01"
    assert store.system_by_token("tok-web01").name == "web01"
    assert store.system_by_mac("52:54:00:00:00:00") is None
    assert store.get_system("nope") is None


def test_list_addresses(store):
    fx.fill(store)
    store.put_system(System("db01", "web", hostname="db", interfaces=(
        Interface("52:54:00:00:00:0a"), Interface("52:54:00:00:00:0b", ip="10.0.0.40", name="eth1"),
        Interface("52:54:00:00:00:0c", ip="10.0.0.41", name="eth2"))))
    assert store.list_addresses() == [("db01", "db", "eth1", "10.0.0.40"),
                                      ("db01", "db", "eth2", "10.0.0.41"),
                                      ("web01", "web01.lab.example", "eth0", "10.0.0.21")]


def test_replace_system_reindexes_interfaces(store):
    fx.fill(store)
    moved = replace(fx.SYSTEM, interfaces=(Interface("52:54:00:aa:bb:cc", ip="10.0.0.50"),),
                    netboot_enabled=False, status="installed")
    store.put_system(moved)
    assert store.system_by_mac(fx.MAC) is None
    assert store.system_by_ip("10.0.0.50") == moved
    assert store.get_system("web01") == moved


UNIQUE_CASES = {
    "same MAC": System("other", "web", interfaces=(Interface(fx.MAC),)),
    "same IP": System("other", "web", interfaces=(Interface("52:54:00:00:00:01", ip="10.0.0.21"),)),
    "same token": System("other", "web", token="tok-web01"),
}


@pytest.mark.parametrize("system", UNIQUE_CASES.values(), ids=UNIQUE_CASES.keys())
def test_unique_keys_conflict_and_write_nothing(store, system):
    fx.fill(store)
    with pytest.raises(Conflict):
        store.put_system(system)
    assert store.get_system("other") is None
    assert store.get_system("web01") == fx.SYSTEM


def test_delete(store):
    fx.fill(store)
    assert store.delete_system("web01") is True
    assert store.delete_system("web01") is False
    assert store.system_by_mac(fx.MAC) is None
    assert store.delete_profile("web") and store.delete_profile("base")
    assert store.delete_distro(fx.DISTRO.name)
    assert store.list_distros() == store.list_profiles() == store.list_systems() == []


def test_events_by_subject(store):
    for i in range(5):
        store.add_event(Event(f"system:{'a' if i % 2 else 'b'}", "kickstart", {"n": i}, float(i)))
    got = store.list_events("system:b")
    assert [e.detail["n"] for e in got] == [0, 2, 4]
    assert [e.detail["n"] for e in store.list_events("system:b", limit=2)] == [2, 4]
    assert all(e.id is not None for e in got)
    assert store.list_events("system:none") == []


def test_tokens(store):
    store.put_token(ApiToken("ci", "ab" * 32, 1.0))
    assert store.has_token("ab" * 32) and not store.has_token("cd" * 32)
    assert store.list_tokens() == [ApiToken("ci", "ab" * 32, 1.0)]
    assert store.delete_token("ci") and not store.has_token("ab" * 32)


def test_hosts_orders_users(store):
    host = Host("kvm1", "h" * 64, {"cpus": 4}, {"ram_mb": 8192}, 5.0)
    store.put_host(host)
    store.put_host(replace(host, last_seen=6.0))
    assert store.list_hosts() == [replace(host, last_seen=6.0)]
    order = Order("o1", "alice", "vm1", "web", 2, 2048, 20, "br0", None, "new", None, 1.0, 1.0)
    store.put_order(order)
    store.put_order(Order("o2", "bob", "vm2", "web", created=2.0))
    assert store.get_order("o1") == order
    assert [o.id for o in store.list_orders(owner="alice")] == ["o1"]
    assert [o.id for o in store.list_orders()] == ["o1", "o2"]
    store.put_user(User("alice", "scrypt$x", "admin"))
    assert store.get_user("alice").role == "admin"
    assert store.delete_user("alice") and store.list_users() == []
    assert store.delete_order("o2") and store.delete_host("kvm1")


def _work(id: str, created: float, host: str = "kvm1", key: str | None = None) -> WorkItem:
    return WorkItem(id=id, host=host, kind="define", payload={"x": id}, idempotency_key=key,
                    created=created)


def test_work_queue_leases_oldest_and_expires(store):
    store.put_work(_work("b", 2.0))
    store.put_work(_work("a", 1.0))
    store.put_work(_work("c", 0.5, host="other"))
    first = store.lease_work("kvm1", now=10.0, lease_seconds=30)
    assert (first.id, first.state, first.lease_until, first.attempts) == ("a", "leased", 40.0, 1)
    assert store.lease_work("kvm1", now=11.0, lease_seconds=30).id == "b"
    assert store.lease_work("kvm1", now=12.0, lease_seconds=30) is None
    again = store.lease_work("kvm1", now=41.0, lease_seconds=30)  # a's lease expired
    assert (again.id, again.attempts) == ("a", 2)
    store.put_work(replace(again, state="done", result={"ok": True}))
    assert store.get_work("a").result == {"ok": True}
    assert [w.id for w in store.list_work(state="leased")] == ["b"]


def test_idempotency_key_is_unique(store):
    store.put_work(_work("a", 1.0, key="order-1-define"))
    with pytest.raises(Conflict):
        store.put_work(_work("b", 2.0, key="order-1-define"))
    assert store.work_by_key("order-1-define").id == "a"
    assert store.get_work("b") is None


def test_concurrent_leases_never_share_an_item(store):
    for i in range(20):
        store.put_work(_work(f"w{i:02d}", float(i)))
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            item = store.lease_work("kvm1", now=100.0, lease_seconds=60)
            if item is None:
                return
            with lock:
                got.append(item.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(got) == [f"w{i:02d}" for i in range(20)]
