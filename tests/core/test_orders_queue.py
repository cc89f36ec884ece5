"""The agent work queue over every store: hosts and tokens, idempotent enqueue, leases, retries,
events into timelines. Time is a number passed in; nothing sleeps."""

from __future__ import annotations

import threading

import pytest

from provisioner.core import orders
from provisioner.errors import Conflict, Invalid, NotFound
from provisioner.store import open_store
from tests.fakes import BrokenStore, EmptyStore, MemoryStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryStore()
        return
    s = open_store(f"sqlite:///{tmp_path}/q.db")
    yield s
    s.close()


@pytest.fixture
def host(store) -> str:
    orders.create_host_token(store, "hv1", now=0, new_token=lambda: "tok-hv1")
    return "hv1"


def _create(store, key="order:1:create", now=1.0, **payload):
    return orders.enqueue(store, "hv1", "guest.create", {"system": "web1", **payload}, key=key,
                          now=now)


def test_register_with_host_token_stores_facts_and_capacity(store, host) -> None:
    h = orders.register_host(store, "hv1", "tok-hv1", {"cpu": {"threads": 2}}, {"vcpus": 2},
                             now=5)
    assert (h.facts, h.capacity, h.last_seen) == ({"cpu": {"threads": 2}}, {"vcpus": 2}, 5)
    assert orders.authenticate(store, "hv1", "tok-hv1").name == "hv1"


@pytest.mark.parametrize("name,token", [("hv1", "wrong"), ("hv1", ""), ("nohost", "tok-hv1")],
                         ids=["wrong-token", "empty-token", "unknown-host"])
def test_bad_credentials_are_refused(store, host, name, token) -> None:
    with pytest.raises(orders.Unauthorized):
        orders.authenticate(store, name, token)


def test_new_host_needs_admin_token(store) -> None:
    with pytest.raises(orders.Unauthorized):
        orders.register_host(store, "hv2", "anything", {}, {}, now=1)
    h = orders.register_host(store, "hv2", "admin", {}, {}, now=1,
                             check_admin=lambda t: t == "admin")
    assert orders.authenticate(store, h.name, "admin")


def test_enqueue_is_idempotent_by_key(store, host) -> None:
    a = _create(store)
    b = _create(store, now=9)
    assert a.id == b.id and len(store.list_work(host="hv1")) == 1
    with pytest.raises(Conflict):
        orders.enqueue(store, "hv1", "guest.destroy", {}, key="order:1:create", now=2)


@pytest.mark.parametrize("host_name,kind,payload,exc", [
    ("nohost", "guest.create", {}, NotFound),
    ("hv1", "rm -rf", {}, Invalid),
    ("hv1", "guest.create", ["not", "a", "dict"], Invalid),
], ids=["unknown-host", "unknown-kind", "payload-not-object"])
def test_enqueue_rejects(store, host, host_name, kind, payload, exc) -> None:
    with pytest.raises(exc):
        orders.enqueue(store, host_name, kind, payload, now=1)


def test_lease_then_expiry_then_retry_then_give_up(store, host) -> None:
    item = _create(store)
    got = orders.lease(store, "hv1", now=10, lease_seconds=30, max_attempts=2)
    assert (got.id, got.state, got.attempts, got.lease_until) == (item.id, "leased", 1, 40)
    assert orders.lease(store, "hv1", now=20, lease_seconds=30) is None  # still leased
    again = orders.lease(store, "hv1", now=41, lease_seconds=30, max_attempts=2)
    assert (again.id, again.attempts) == (item.id, 2)  # the lease ran out: handed out again
    assert orders.lease(store, "hv1", now=80, lease_seconds=30, max_attempts=2) is None
    gone = store.get_work(item.id)
    assert gone.state == "failed" and "gave up" in gone.result["error"]
    assert [e.kind for e in store.list_events("system:web1")] == ["agent:failed"]


def test_reregistering_agent_gets_its_leased_work_back(store, host) -> None:
    item = _create(store)
    orders.lease(store, "hv1", now=10, lease_seconds=300)
    orders.register_host(store, "hv1", "tok-hv1", {}, {}, now=11)  # the agent restarted
    got = orders.lease(store, "hv1", now=12, lease_seconds=300)
    assert got.id == item.id and got.attempts == 2


def test_events_extend_the_lease_and_land_in_the_timeline(store, host) -> None:
    item = _create(store)
    orders.lease(store, "hv1", now=10, lease_seconds=30)
    orders.agent_event(store, "hv1", "guest.defined", {"uuid": "u"}, now=35, work_id=item.id,
                       lease_seconds=30)
    assert store.get_work(item.id).lease_until == 65
    assert orders.lease(store, "hv1", now=50, lease_seconds=30) is None
    [ev] = store.list_events("system:web1")
    assert (ev.kind, ev.detail) == ("guest.defined", {"uuid": "u", "host": "hv1",
                                                      "work": item.id})


@pytest.mark.parametrize("kind,detail", [("", {}), ("x" * 65, {}), ("ok", "str"),
                                         ("ok", {"big": "x" * 9000})],
                         ids=["empty-kind", "long-kind", "detail-not-object", "detail-too-big"])
def test_bad_events_are_refused(store, host, kind, detail) -> None:
    item = _create(store)
    with pytest.raises(Invalid):
        orders.agent_event(store, "hv1", kind, detail, now=1, work_id=item.id)


def test_event_for_someone_elses_work_is_not_found(store, host) -> None:
    orders.create_host_token(store, "hv2", now=0)
    item = _create(store)
    with pytest.raises(NotFound):
        orders.agent_event(store, "hv2", "guest.started", {}, now=1, work_id=item.id)


def test_complete_and_fail_are_idempotent(store, host) -> None:
    item = _create(store, order="o1")
    orders.lease(store, "hv1", now=10)
    done = orders.complete(store, "hv1", item.id, {"uuid": "u"}, now=11)
    assert orders.complete(store, "hv1", item.id, {}, now=12) == done
    assert orders.fail(store, "hv1", item.id, "late", now=13).state == "done"
    assert [e.kind for e in store.list_events("order:o1")] == ["agent:done"]


def test_fail_with_retry_requeues_until_attempts_run_out(store, host) -> None:
    item = _create(store)
    orders.lease(store, "hv1", now=1)
    assert orders.fail(store, "hv1", item.id, "busy", now=2, retry=True,
                       max_attempts=2).state == "queued"
    orders.lease(store, "hv1", now=3)
    assert orders.fail(store, "hv1", item.id, "busy", now=4, retry=True,
                       max_attempts=2).state == "failed"


def test_long_poll_wakes_on_enqueue(store, host) -> None:
    got = []
    clock = iter(range(0, 10**6)).__next__  # a clock that moves only when read
    t = threading.Thread(target=lambda: got.append(orders.wait_for_work(
        store, "hv1", timeout=10**5, clock=clock, recheck=5)))
    t.start()
    _create(store)
    t.join(timeout=30)
    assert got and got[0] is not None and got[0].state == "leased"


def test_long_poll_times_out_empty(store, host) -> None:
    ticks = iter([0, 0, 1, 2, 3, 4]).__next__
    assert orders.wait_for_work(store, "hv1", timeout=2, clock=ticks, recheck=0.01) is None


def test_empty_and_broken_stores() -> None:
    with pytest.raises(NotFound):
        orders.enqueue(EmptyStore(), "hv1", "guest.create", {}, now=1)
    assert orders.lease(EmptyStore(), "hv1", now=1) is None
    with pytest.raises(orders.Unauthorized):
        orders.authenticate(EmptyStore(), "hv1", "t")
    from provisioner.errors import StoreError
    with pytest.raises(StoreError):
        orders.lease(BrokenStore(), "hv1", now=1)
