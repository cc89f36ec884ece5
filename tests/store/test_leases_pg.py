"""The shared DHCP lease table on a real PostgreSQL (``store/leases.py``): atomic claims, who may
take an address, followers that miss nothing, and a clear error when the server is gone."""

from __future__ import annotations

import threading

import psycopg
import pytest

from provisioner.errors import StoreError
from provisioner.store import open_store
from provisioner.store.leases import LeaseRow, SharedLeases, active_leases, dsn_of
from tests.store.conftest import _reset_pg

NET = "10.9.0.0/16"
NOW = 1_000_000.0


@pytest.fixture
def dsn(pg_url):
    _reset_pg(pg_url)
    open_store(pg_url).close()  # migrated: dhcp_leases exists
    return dsn_of(pg_url)


def row(ip: str, mac: str, state: str = "bound", expires: float = NOW + 3600) -> LeaseRow:
    return LeaseRow(NET, ip, mac, expires, state, None)


def test_an_address_is_taken_once_and_the_loser_learns_the_holder(dsn):
    a, b = SharedLeases(dsn, "a"), SharedLeases(dsn, "b")
    assert a.claim([row("10.9.0.10", "02:00:00:00:00:01", "offered")], NOW,
                   durable=False).lost == []
    res = b.claim([row("10.9.0.10", "02:00:00:00:00:02", "offered"),
                   row("10.9.0.11", "02:00:00:00:00:02", "offered")], NOW, durable=False)
    assert [r.address for r in res.lost] == ["10.9.0.10"]
    assert res.holders[(NET, "10.9.0.10")].mac == "02:00:00:00:00:01"
    # the same client may bind what it was offered (from either appliance) and renew it
    assert b.claim([row("10.9.0.10", "02:00:00:00:00:01")], NOW, durable=True).lost == []
    assert a.claim([row("10.9.0.10", "02:00:00:00:00:01")], NOW + 5, durable=True).lost == []
    # expired: free for anyone; declined: not even for the client that declined it
    assert b.claim([row("10.9.0.10", "02:00:00:00:00:03")], NOW + 7200, durable=True).lost == []
    a.claim([row("10.9.0.12", "02:00:00:00:00:04", "declined", NOW + 600)], NOW, durable=True)
    assert a.claim([row("10.9.0.12", "02:00:00:00:00:04")], NOW + 1, durable=True).lost
    # a reservation from the inventory takes its address whatever the pool said
    assert a.claim([row("10.9.0.11", "02:00:00:00:00:09")], NOW, durable=True,
                   force=[True]).lost == []
    a.close()
    b.close()


def test_withdrawing_an_offer_never_frees_a_lease_bound_since(dsn):
    a, b = SharedLeases(dsn, "a"), SharedLeases(dsn, "b")
    mac = "02:00:00:00:00:01"
    a.claim([row("10.9.0.20", mac, "offered")], NOW, durable=False)
    b.claim([row("10.9.0.20", mac)], NOW, durable=True)  # the client chose b, b bound it
    a.claim([], NOW, durable=False, withdraw=[row("10.9.0.20", mac, "offered")])
    assert [(r.address, r.state) for r in active_leases(dsn, NOW)] == [("10.9.0.20", "bound")]
    a.claim([row("10.9.0.21", mac, "offered")], NOW, durable=False)
    a.claim([], NOW, durable=False, withdraw=[row("10.9.0.21", mac, "offered")])
    assert b.claim([row("10.9.0.21", "02:00:00:00:00:02")], NOW, durable=True).lost == []
    a.close()
    b.close()


def test_concurrent_claims_from_two_appliances_never_share_an_address(dsn):
    pool = [f"10.9.1.{i}" for i in range(1, 201)]
    won: dict[str, list[str]] = {"a": [], "b": []}

    def grab(name: str) -> None:
        shared = SharedLeases(dsn, name)
        for i in range(0, len(pool), 10):  # the same candidates, in batches, at the same time
            rows = [row(ip, f"02:{ord(name[0]):02x}:00:00:{j >> 8:02x}:{j & 255:02x}")
                    for j, ip in enumerate(pool[i:i + 10], start=i)]
            res = shared.claim(rows, NOW, durable=True)
            lost = {r.address for r in res.lost}
            won[name] += [r.address for r in rows if r.address not in lost]
        shared.close()

    threads = [threading.Thread(target=grab, args=(n,)) for n in won]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not set(won["a"]) & set(won["b"])
    assert sorted(won["a"] + won["b"]) == sorted(pool)  # every address went to someone


def test_a_follower_sees_other_appliances_writes_even_when_they_commit_late(dsn):
    me, other = SharedLeases(dsn, "me"), SharedLeases(dsn, "other")
    assert me.load([NET]) == []
    me.claim([row("10.9.0.1", "02:00:00:00:00:01")], NOW, durable=True)
    late = psycopg.connect(dsn)  # a transaction that starts first and commits last
    late.execute("INSERT INTO dhcp_leases (network, address, mac, expires, state, server, txid) "
                 "VALUES (%s, '10.9.0.2', '02:00:00:00:00:02', %s, 'bound', 'other', "
                 "pg_current_xact_id()::text::bigint)", (NET, NOW + 60))
    other.claim([row("10.9.0.3", "02:00:00:00:00:03")], NOW, durable=True)
    assert [r.address for r in me.changes()] == ["10.9.0.3"]  # not its own write
    late.commit()
    late.close()
    assert "10.9.0.2" in [r.address for r in me.changes()]
    assert me.changes() == [] or all(r.address != "10.9.0.1" for r in me.changes())
    me.close()
    other.close()


def test_a_reset_connection_reconnects_and_an_unreachable_server_is_a_store_error(dsn):
    """A terminated backend (a database restart, a reset) is reconnected once within the same
    call: no outage; a server that cannot be reached at all is a StoreError."""
    shared = SharedLeases(dsn, "a")
    shared.claim([row("10.9.0.30", "02:00:00:00:00:01")], NOW, durable=True)
    admin = psycopg.connect(dsn, autocommit=True)
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE application_name LIKE 'provisioner-dhcp%'")
    admin.close()
    assert shared.claim([row("10.9.0.31", "02:00:00:00:00:02")], NOW, durable=True).lost == []
    shared.close()
    with pytest.raises(StoreError, match="unreachable"):
        SharedLeases(dsn.replace("postgres@", "nobody@"), "x").ping()
