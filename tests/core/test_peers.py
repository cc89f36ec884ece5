"""Which system is behind a client address (core/peers.py): learned MAC, lease, reservation."""

from __future__ import annotations

import pytest

from provisioner.core.app import Core
from provisioner.core.peers import PeerDirectory
from provisioner.settings import Settings
from tests import fixtures as fx
from tests.fakes import FakeRenderer, MemoryStore


@pytest.fixture
def core() -> Core:
    c = Core(MemoryStore(), FakeRenderer(), Settings(), clock=lambda: 7.0)
    fx.fill(c)
    return c


def test_peer_directory_order_learned_then_lease_then_reservation(core: Core) -> None:
    now = [0.0]
    leases = [{"ip": "10.0.0.99", "mac": fx.MAC}]
    peers = PeerDirectory(core.dhcp_lookup, lambda: leases, core.list_systems,
                          clock=lambda: now[0], ttl=2.0)
    assert peers.system_for("10.0.0.99") == "web01"  # via the DHCP lease
    assert peers.system_for("10.0.0.21") == "web01"  # via web01's reserved address
    assert peers.system_for("10.0.0.50") is None
    peers.learn("10.0.0.50", fx.MAC)  # it asked for pxelinux.cfg/01-<web01's MAC>
    assert peers.system_for("10.0.0.50") == "web01"
    leases.clear()
    assert peers.system_for("10.0.0.99") == "web01"  # tables are re-read at most every ttl
    now[0] = 5.0
    assert peers.system_for("10.0.0.99") is None


def test_peer_directory_survives_broken_sources(core: Core) -> None:
    def broken():
        raise RuntimeError("lease file unreadable")

    peers = PeerDirectory(core.dhcp_lookup, broken, broken)
    assert peers.system_for("10.0.0.21") is None
