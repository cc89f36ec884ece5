"""The DHCP core's side of a shared lease database (pure): offers are persisted, a refused batch
rolls back exactly, each appliance walks the pool from its own seed, and the degraded mode (the
database unreachable) answers only what needs no new claim."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.models import DhcpRecord
from provisioner.proto.dhcp.codec import ACK, DECLINE, DISCOVER, NAK, OFFER, RELEASE, REQUEST
from provisioner.proto.dhcp.leases import Lease, LeaseTable

from .helpers import META, SERVER, Inventory, make_core, request

MAC1, MAC2, MAC3 = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"
RESERVED = DhcpRecord(mac="02:00:00:00:00:aa", system="res", ip="10.1.1.5")


def addr(reply) -> str:
    return str(ipaddress.IPv4Address(reply.packet.yiaddr))


def lease_time(reply) -> int:
    return int.from_bytes(reply.packet.options[51], "big")


def shared_core(seed: int = 0, inv: Inventory | None = None):
    return make_core(inv, leases=LeaseTable(shared=True, cursor_seed=seed))


def test_offers_are_claims_and_a_turned_down_offer_is_withdrawn() -> None:
    core, _ = shared_core()
    offer = core.handle(request(DISCOVER, MAC1), META, 1000)
    assert [(x.address, x.state) for x in core.leases.drain()] == [(addr(offer), "offered")]
    assert core.handle(request(REQUEST, MAC1, requested=addr(offer), server_id="10.1.1.254"),
                       META, 1000) is None  # it chose the other appliance
    assert [x.address for x in core.leases.drain_withdrawn()] == [addr(offer)]
    assert core.leases.lease_of(MAC1) is None


def test_offer_is_withdrawn_even_after_the_winners_binding_was_followed() -> None:
    """The other appliance bound the client and we followed that row before its REQUEST
    reached us: our offer must still be withdrawn in the database (by MAC there)."""
    core, _ = shared_core()
    offer = core.handle(request(DISCOVER, MAC1), META, 1000)
    core.leases.drain()
    theirs = Lease(int(ipaddress.IPv4Address(addr(offer))) + 1, MAC1, 5000, "bound", None)
    core.leases.load([theirs])
    assert core.handle(request(REQUEST, MAC1, requested=theirs.address,
                               server_id="10.1.1.254"), META, 1000) is None
    assert [(x.mac, x.state) for x in core.leases.drain_withdrawn()] == [(MAC1, "bound")]
    assert addr(offer) != theirs.address


def test_two_appliances_start_the_pool_walk_at_their_own_seed() -> None:
    a, _ = shared_core(seed=0)
    b, _ = shared_core(seed=20)
    assert addr(a.handle(request(DISCOVER, MAC1), META, 1000)) == "10.1.1.10"
    assert addr(b.handle(request(DISCOVER, MAC2), META, 1000)) == "10.1.1.30"


def test_degraded_answers_only_reservations_and_held_leases() -> None:
    core, _ = shared_core(inv=Inventory(RESERVED))
    offer = core.handle(request(DISCOVER, MAC1), META, 1000)
    core.handle(request(REQUEST, MAC1, requested=addr(offer), server_id=SERVER), META, 1000)
    core.leases.drain()
    core.leases.checkpoint()
    held = addr(offer)
    core.degraded = True
    now = 1000 + 43200 - 600  # ten minutes of the 12 h lease left
    cases = [  # (request, expected type or None, address, lease time)
        (request(DISCOVER, MAC1), OFFER, held, 600),
        (request(REQUEST, MAC1, ciaddr=held), ACK, held, 600),  # renewing: not extended
        (request(REQUEST, MAC1, requested=held, server_id=SERVER), ACK, held, 600),
        (request(DISCOVER, RESERVED.mac), OFFER, RESERVED.ip, 43200),
        (request(REQUEST, RESERVED.mac, requested=RESERVED.ip, server_id=SERVER), ACK,
         RESERVED.ip, 43200),
        (request(DISCOVER, MAC2), None, None, None),  # would need a new claim
        (request(REQUEST, MAC2, requested="10.1.1.30"), None, None, None),  # no NAK either
        (request(REQUEST, MAC1, requested="10.1.1.31"), None, None, None),
        (request(RELEASE, MAC1, ciaddr=held), None, None, None),
        (request(DECLINE, MAC1, requested=held, server_id=SERVER), None, None, None),
    ]
    for pkt, kind, ip, secs in cases:
        reply = core.handle(pkt, META, now)
        if kind is None:
            assert reply is None, core.last_drop
            continue
        assert reply.packet.msg_type == kind
        assert (addr(reply), lease_time(reply)) == (ip, secs)
    assert core.leases.drain() == [] and core.leases.drain_withdrawn() == []
    assert core.leases.lease_of(MAC1).state == "bound"  # RELEASE/DECLINE changed nothing
    # once the recorded lease has run out, even its holder waits for the database
    assert core.handle(request(REQUEST, MAC1, ciaddr=held), META, now + 601) is None
    core.degraded = False
    nak = core.handle(request(REQUEST, MAC2, requested=held), META, now)
    assert nak.packet.msg_type == NAK  # healthy again: the normal answers


def snapshot(table: LeaseTable) -> tuple[dict, dict]:
    return ({ip: (x.mac, x.expires, x.state, x.hostname) for ip, x in table.by_ip.items()},
            {mac: x.ip for mac, x in table.by_mac.items()})


MACS = [f"02:00:00:00:00:{i:02x}" for i in range(8)]
step = st.tuples(st.sampled_from(["dora", "discover", "renew", "release", "decline", "other",
                                  "move"]),
                 st.sampled_from(MACS), st.integers(0, 60))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=25), st.lists(step, min_size=1, max_size=25))
def test_rollback_restores_exactly_the_checkpoint(before, batch) -> None:
    core, _ = make_core(ranges=("10.1.1.10,10.1.1.15,255.255.255.0,2m",),
                        leases=LeaseTable(shared=True))
    now = [1000.0]

    def run(steps) -> None:
        for action, mac, dt in steps:
            now[0] += dt
            lease = core.leases.lease_of(mac)
            if action in ("dora", "discover"):
                offer = core.handle(request(DISCOVER, mac), META, now[0])
                if offer is not None and action == "dora":
                    core.handle(request(REQUEST, mac, requested=addr(offer), server_id=SERVER),
                                META, now[0])
            elif action == "renew" and lease is not None:
                core.handle(request(REQUEST, mac, ciaddr=lease.address), META, now[0])
            elif action == "release" and lease is not None:
                core.handle(request(RELEASE, mac, ciaddr=lease.address), META, now[0])
            elif action == "decline" and lease is not None:
                core.handle(request(DECLINE, mac, requested=lease.address, server_id=SERVER),
                            META, now[0])
            elif action == "move":  # init-reboot asking for another pool address
                core.handle(request(REQUEST, mac, requested=f"10.1.1.{10 + dt % 6}"), META,
                            now[0])
            elif action == "other" and lease is not None:
                core.handle(request(REQUEST, mac, requested=lease.address,
                                    server_id="10.1.1.254"), META, now[0])

    run(before)
    core.leases.drain()
    core.leases.checkpoint()
    saved = snapshot(core.leases)
    run(batch)
    core.leases.rollback()
    assert snapshot(core.leases) == saved
    assert core.leases.pending == [] and core.leases.withdrawn == []


def test_rollback_needs_a_shared_table() -> None:
    table = LeaseTable()
    table.load([Lease(1, MAC3, 2000.0, "bound")])
    try:
        table.rollback()
    except RuntimeError:
        return
    raise AssertionError("a journal table has no undo")
