"""The agents' side of the appliance: host records and tokens, a work queue with leases and
retries, and agent events into the system timelines.

Functions over the :class:`~provisioner.core.ports.Store` Protocol, with ``now`` passed in (no
clock of their own). Orders call :func:`enqueue` (``core/ordering.py``); ``core/agents.py`` binds
the rest to the store and clock for ``web/agent_api.py`` and the UI.

Queue rules:

* :func:`enqueue` is idempotent by key: the same key returns the first item, never a second one.
* :func:`lease` hands the oldest due item of a host to its agent for ``lease_seconds``. An item
  whose lease ran out (agent died or lost) is due again; after ``max_attempts`` leases it fails.
* An agent that (re)registers gets its host's leased items back at once: a host runs one agent,
  so what it held before the restart is no longer being worked on.
* :func:`agent_event` lands in the item's system timeline and extends the item's lease (a busy
  agent keeps its work). :func:`complete`/:func:`fail` are idempotent, so an agent that lost the
  answer can simply send them again.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any

from provisioner.core.events import record
from provisioner.core.ports import Store
from provisioner.core.tokens import hash_token, token_matches
from provisioner.errors import Conflict, Invalid, NotFound, Unauthorized
from provisioner.models import (
    Event,
    EventKind,
    Host,
    WorkItem,
    check_name,
    order_subject,
    system_subject,
)

LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 5
KINDS = ("guest.create", "guest.stop", "guest.destroy", "guest.delete", "bridge.ensure",
         "tls.rotate", "guest.power")
MAX_EVENT_DETAIL = 8192  # bytes of JSON-ish detail accepted from an agent per event

#: Wakes long-polling agents of this process when work is queued (others poll periodically).
WAKE = threading.Condition()


# ---- hosts -----------------------------------------------------------------------------------

def create_host_token(store: Store, name: str, *, now: float,
                      new_token: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> str:
    """Create (or re-key) host ``name``; the plain token is returned once, its hash stored."""
    check_name(name, "host")
    token = new_token()
    host = store.get_host(name) or Host(name=name)
    store.put_host(dataclasses.replace(host, token_hash=hash_token(token), last_seen=now))
    return token


def authenticate(store: Store, name: str, token: str) -> Host:
    host = store.get_host(name) if name else None
    if host is None or not token_matches(token, host.token_hash):
        raise Unauthorized("unknown host or wrong host token",
                           hint="use the token made for this host (the UI's Hosts page or POST "
                                "/api/agent/hosts/<name>/token re-keys it)")
    return host


def register_host(store: Store, name: str, token: str, facts: dict[str, Any],
                  capacity: dict[str, Any], *, now: float,
                  check_admin: Callable[[str], bool] = lambda t: False) -> Host:
    """An agent says hello: check its token, store its facts and capacity, release its leases.

    A host created with :func:`create_host_token` must present that token. A new host may also
    register with an admin API token (``check_admin``); its host token is then that token.
    """
    check_name(name, "host")
    if not isinstance(facts, dict) or not isinstance(capacity, dict):
        raise Invalid("facts and capacity must be JSON objects", field="facts")
    host = store.get_host(name)
    if host is not None and host.token_hash:
        authenticate(store, name, token)
    elif not (token and check_admin(token)):
        raise Unauthorized("a new host registers with a host token or an admin API token")
    if host is not None and "doctor" in host.facts and "doctor" not in facts:
        facts = {**facts, "doctor": host.facts["doctor"]}   # the last report outlives a restart
    host = dataclasses.replace(host or Host(name=name),  # keeps an agentless host's URI
                               token_hash=host.token_hash if host and host.token_hash
                               else hash_token(token), facts=facts, capacity=capacity,
                               last_seen=now)
    store.put_host(host)
    for item in store.list_work(host=name, state="leased"):
        store.put_work(dataclasses.replace(item, state="queued", lease_until=0.0, updated=now))
    return host


# ---- the queue -------------------------------------------------------------------------------

def enqueue(store: Store, host: str, kind: str, payload: dict[str, Any], *,
            key: str | None = None, now: float,
            new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> WorkItem:
    """Queue work for ``host``'s agent; the same ``key`` returns the existing item."""
    if kind not in KINDS:
        raise Invalid(f"unknown work kind {kind!r}; one of {', '.join(KINDS)}", field="kind")
    if not isinstance(payload, dict):
        raise Invalid("payload must be an object", field="payload")
    if store.get_host(host) is None:
        raise NotFound(f"host {host!r} is not registered")
    if key:
        existing = store.work_by_key(key)
        if existing is not None:
            if existing.host != host or existing.kind != kind:
                raise Conflict(f"idempotency key {key!r} already names other work")
            return existing
    item = WorkItem(id=new_id(), host=host, kind=kind, payload=dict(payload), state="queued",
                    idempotency_key=key, created=now, updated=now)
    try:
        store.put_work(item)
    except Conflict:  # a concurrent enqueue with the same key won
        existing = store.work_by_key(key) if key else None
        if existing is None:
            raise
        return existing
    with WAKE:
        WAKE.notify_all()
    return item


def lease(store: Store, host: str, *, now: float, lease_seconds: float = LEASE_SECONDS,
          max_attempts: int = MAX_ATTEMPTS) -> WorkItem | None:
    """The next due item for ``host``, leased; items past ``max_attempts`` fail instead."""
    for _ in range(1000):  # bounded: each round removes one over-tried item
        item = store.lease_work(host, now, lease_seconds)
        if item is None:
            return None
        if item.attempts <= max_attempts:
            return item
        failed = dataclasses.replace(item, state="failed", updated=now,
                                     result={"error": f"gave up after {max_attempts} attempts"})
        store.put_work(failed)
        _timeline(store, failed, EventKind.WORK_FAILED,
                  {"work": item.id, "error": failed.result["error"]}, now)
    return None


def wait_for_work(store: Store, host: str, *, timeout: float, clock: Callable[[], float],
                  lease_seconds: float = LEASE_SECONDS, max_attempts: int = MAX_ATTEMPTS,
                  recheck: float = 1.0) -> WorkItem | None:
    """Long poll: lease now, or wait (woken by :func:`enqueue`, re-checking every ``recheck``
    seconds for work queued by other processes) until ``timeout``.

    A poll is the agent's sign of life: the host's ``last_seen`` is set when the poll starts
    and again when it answers, so a host whose agent keeps polling is never stale."""
    deadline = clock() + max(0.0, timeout)
    store.touch_host(host, clock())
    while True:
        item = lease(store, host, now=clock(), lease_seconds=lease_seconds,
                     max_attempts=max_attempts)
        left = deadline - clock()
        if item is not None or left <= 0:
            store.touch_host(host, clock())
            return item
        with WAKE:
            WAKE.wait(min(recheck, left))


def _owned(store: Store, host: str, work_id: str) -> WorkItem:
    item = store.get_work(work_id)
    if item is None or item.host != host:
        raise NotFound(f"no work {work_id!r} for host {host!r}")
    return item


def complete(store: Store, host: str, work_id: str, result: dict[str, Any], *,
             now: float) -> WorkItem:
    """Mark work done (again is fine); a failed item stays failed."""
    item = _owned(store, host, work_id)
    if item.state in ("done", "failed"):
        return item
    done = dataclasses.replace(item, state="done", result=dict(result or {}), lease_until=0.0,
                               updated=now)
    store.put_work(done)
    _timeline(store, done, EventKind.WORK_DONE, {"work": work_id, "kind": item.kind}, now)
    return done


def fail(store: Store, host: str, work_id: str, error: str, *, now: float, retry: bool = False,
         max_attempts: int = MAX_ATTEMPTS) -> WorkItem:
    """Record a failure: ``retry`` queues it again while attempts remain, else it fails."""
    item = _owned(store, host, work_id)
    if item.state in ("done", "failed"):
        return item
    if retry and item.attempts < max_attempts:
        again = dataclasses.replace(item, state="queued", lease_until=0.0, updated=now,
                                    result={"last_error": error})
        store.put_work(again)
        _timeline(store, again, EventKind.WORK_RETRY, {"work": work_id, "error": error}, now)
        return again
    failed = dataclasses.replace(item, state="failed", lease_until=0.0, updated=now,
                                 result={"error": error})
    store.put_work(failed)
    _timeline(store, failed, EventKind.WORK_FAILED, {"work": work_id, "error": error}, now)
    return failed


def inventory_macs(store: Store) -> list[str]:
    """Every MAC the inventory knows: a MAC the agent generates must be none of these."""
    return sorted({mac for system in store.list_systems() for mac in system.macs})


def handed_out(store: Store, item: WorkItem) -> dict[str, Any]:
    """What an agent receives for ``item``: ``guest.create`` also carries the inventory's MACs."""
    payload = dict(item.payload)
    if item.kind == "guest.create":
        payload["known_macs"] = inventory_macs(store)
    return payload


# ---- events from agents ------------------------------------------------------------------------

def agent_event(store: Store, host: str, kind: object, detail: object, *, now: float,
                work_id: str | None = None, system: str | None = None,
                lease_seconds: float = LEASE_SECONDS) -> Event | None:
    """Record an agent's event in the system's timeline (named, or the work item's system)."""
    if not isinstance(kind, str) or not kind or len(kind) > 64 or not kind.isprintable():
        raise Invalid("event kind must be a short printable string", field="kind")
    if not isinstance(detail, dict) or len(repr(detail)) > MAX_EVENT_DETAIL:
        raise Invalid("event detail must be an object of at most 8 KiB", field="detail")
    item = _owned(store, host, work_id) if work_id else None
    if item is not None and item.state == "leased":
        store.put_work(dataclasses.replace(item, lease_until=now + lease_seconds, updated=now))
    name = system or (item.payload.get("system") or item.payload.get("name") if item else None)
    if not name:
        raise Invalid("an event names its system or its work item", field="system")
    check_name(name, "system")
    full = {**detail, "host": host, **({"work": work_id} if work_id else {})}
    return record(store, system_subject(name), kind, full, now)


def _timeline(store: Store, item: WorkItem, kind: str, detail: dict[str, Any], now: float) -> None:
    name = item.payload.get("system") or item.payload.get("name")
    if isinstance(name, str) and name:
        record(store, system_subject(name), kind, {**detail, "host": item.host}, now)
    order = item.payload.get("order")
    if isinstance(order, str) and order:
        record(store, order_subject(order), kind, {**detail, "host": item.host}, now)
