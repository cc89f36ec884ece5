"""Property test: random client behaviour over time never breaks the lease invariants, and a
replay of what was persisted (a restart) gives back exactly the acknowledged leases."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.models import DhcpRecord
from provisioner.proto.dhcp.codec import ACK, DECLINE, DISCOVER, RELEASE, REQUEST
from provisioner.proto.dhcp.leases import LeaseTable

from .helpers import META, SERVER, Inventory, make_core, request

MACS = [f"02:00:00:00:00:{i:02x}" for i in range(12)]
RESERVED = DhcpRecord(mac="02:00:00:00:00:00", system="res", ip="10.1.1.12")
POOL = range(int(ipaddress.IPv4Address("10.1.1.10")), int(ipaddress.IPv4Address("10.1.1.17")) + 1)
EXCLUDED = {int(ipaddress.IPv4Address(x)) for x in ("10.1.1.1", "10.1.1.11", "10.1.1.12")}

step = st.tuples(st.sampled_from(["dora", "discover", "renew", "reboot", "release", "decline"]),
                 st.sampled_from(MACS), st.integers(0, 7), st.integers(0, 400))


def ip(n: int) -> str:
    return str(ipaddress.IPv4Address(n))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=60))
def test_random_clients_keep_lease_invariants(steps) -> None:
    core, _ = make_core(Inventory(RESERVED), ranges=("10.1.1.10,10.1.1.17,255.255.255.0,2m",),
                        options=("3,10.1.1.11",))
    now = 1000.0
    persisted = []
    acked: dict[str, tuple[str, float]] = {}  # mac -> (ip, expiry) as the clients saw it
    for action, mac, k, dt in steps:
        now += dt
        have = acked.get(mac)
        if action in ("dora", "discover"):
            offer = core.handle(request(DISCOVER, mac), META, now)
            if offer is not None and action == "dora":
                got = ip(int.from_bytes(offer.packet.yiaddr, "big"))
                ack = core.handle(request(REQUEST, mac, requested=got, server_id=SERVER), META,
                                  now)
                if ack is not None and ack.packet.msg_type == ACK:
                    acked[mac] = (got, now + 120)
        elif action == "renew" and have:
            ack = core.handle(request(REQUEST, mac, ciaddr=have[0]), META, now)
            if ack is not None and ack.packet.msg_type == ACK:
                acked[mac] = (have[0], now + 120)
        elif action == "reboot":
            want = ip(POOL[k])
            ack = core.handle(request(REQUEST, mac, requested=want), META, now)
            if ack is not None and ack.packet.msg_type == ACK:
                acked[mac] = (want, now + 120)
        elif action == "release" and have:
            core.handle(request(RELEASE, mac, ciaddr=have[0]), META, now)
            acked.pop(mac)
        elif action == "decline" and have:
            core.handle(request(DECLINE, mac, requested=have[0], server_id=SERVER), META, now)
            acked.pop(mac)
        persisted += core.leases.drain()
        # no address is held by two clients whose leases are both still running
        live = {m: a for m, (a, exp) in acked.items() if exp > now}
        assert len(set(live.values())) == len(live), live
        for lease in core.leases.active(now):  # pool addresses, or the system's reservation
            if lease.mac == RESERVED.mac:
                assert lease.address == RESERVED.ip
            else:
                assert lease.ip not in EXCLUDED and lease.ip in POOL
    # a restart: the persisted journal gives back every lease the clients still hold
    table = LeaseTable()
    table.load(persisted)
    replayed = {x.mac: x.address for x in table.active(now)}
    assert {m: a for m, (a, exp) in acked.items() if exp > now} == replayed
