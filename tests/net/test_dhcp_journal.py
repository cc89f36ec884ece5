"""Lease journal: group commit before replies, torn lines, compaction, restart replay."""

from __future__ import annotations

import asyncio
import socket

import pytest

from provisioner.net import dhcp as dhcp_mod
from provisioner.net.dhcp import JournalLeaseStore, _Iface
from provisioner.net.udp import Datagram
from provisioner.proto.dhcp.codec import ACK, DISCOVER, REQUEST, decode
from provisioner.proto.dhcp.config import IfaceAddr
from provisioner.proto.dhcp.leases import Lease, LeaseTable
from tests.proto.dhcp.helpers import make_core, request


class RecordingStore(JournalLeaseStore):
    def __init__(self, path, log: list[str]) -> None:
        super().__init__(path)
        self.log = log

    def append(self, leases: list[Lease]) -> None:
        super().append(leases)
        self.log.append(f"fsync {len(leases)}")


@pytest.fixture
def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s
    s.close()


def test_acks_leave_only_after_their_batch_is_on_disk(tmp_path, sock, monkeypatch) -> None:
    order: list[str] = []
    monkeypatch.setattr(dhcp_mod, "send", lambda s, data, dest: order.append(
        "ACK" if decode(data).msg_type == ACK else "other") or True)
    core, _ = make_core()
    store = RecordingStore(tmp_path / "j", order)
    server = dhcp_mod.DhcpServer(core, store, clock=lambda: 1000.0)
    server._ifaces[sock.fileno()] = _Iface("br0", [IfaceAddr("br0", "10.1.1.1", 24)])
    batch = [Datagram(request(REQUEST, f"02:00:00:00:00:0{i}", requested=f"10.1.1.1{i}",
                              giaddr="10.1.1.254"), ("10.1.1.254", 67)) for i in range(3)]
    batch += [Datagram(b"garbage", ("10.1.1.254", 67)),
              Datagram(request(DISCOVER, "02:00:00:00:00:09", giaddr="10.1.1.254"),
                       ("10.1.1.254", 67))]

    async def run() -> None:
        server._on_batch(sock, batch)
        await server.drain()
        server.close()

    asyncio.run(run())
    assert order == ["other", "fsync 3", "ACK", "ACK", "ACK"]  # the OFFER did not wait
    assert server.stats["dropped"] == 1
    # a restart replays exactly what was acknowledged
    table = LeaseTable()
    table.load(JournalLeaseStore(tmp_path / "j").load())
    assert {x.mac: x.address for x in table.active(1000.0)} == {
        f"02:00:00:00:00:0{i}": f"10.1.1.1{i}" for i in range(3)}


def test_failed_journal_write_withholds_acks(tmp_path, sock, monkeypatch) -> None:
    sent: list[bytes] = []
    monkeypatch.setattr(dhcp_mod, "send", lambda s, data, dest: sent.append(data) or True)

    class FullDisk(JournalLeaseStore):
        def append(self, leases: list[Lease]) -> None:
            raise OSError(28, "No space left on device")

    core, _ = make_core()
    server = dhcp_mod.DhcpServer(core, FullDisk(tmp_path / "j"), clock=lambda: 1000.0)
    server._ifaces[sock.fileno()] = _Iface("br0", [IfaceAddr("br0", "10.1.1.1", 24)])

    async def run() -> None:
        server._on_batch(sock, [Datagram(request(REQUEST, "02:00:00:00:00:01",
                                                 requested="10.1.1.10", giaddr="10.1.1.254"),
                                         ("10.1.1.254", 67))])
        await server.drain()

    asyncio.run(run())
    assert sent == [] and server.stats["errors"] == 1


def test_torn_line_skipped_and_compaction_keeps_only_live_leases(tmp_path) -> None:
    path = tmp_path / "j"
    store = JournalLeaseStore(path)
    live = Lease(0x0A010105, "02:00:00:00:00:01", 5000.0, "bound", "a")
    store.append([Lease(0x0A010104, "02:00:00:00:00:02", 5000.0, "bound", None), live,
                  Lease(0x0A010104, "02:00:00:00:00:02", 900.0, "released", None)])
    with open(path, "a") as fh:
        fh.write("10.1.1.9\t02:00:00:00:00:09\t50")  # torn by a crash
    records = store.load()
    assert len(records) == 3
    table = LeaseTable()
    table.load(records)
    store.compact(table.snapshot(1000.0))
    assert store.load() == [live]
    store.append([Lease(0x0A010106, "02:00:00:00:00:03", 5000.0, "bound", None)])
    assert len(store.load()) == 2
    assert not (tmp_path / "j.tmp").exists()
    store.close()


def test_compaction_while_running(tmp_path, sock, monkeypatch) -> None:
    monkeypatch.setattr(dhcp_mod, "COMPACT_MIN", 10)
    monkeypatch.setattr(dhcp_mod, "send", lambda s, data, dest: True)
    core, _ = make_core()
    server = dhcp_mod.DhcpServer(core, JournalLeaseStore(tmp_path / "j"), clock=lambda: 1000.0)
    server._ifaces[sock.fileno()] = _Iface("br0", [IfaceAddr("br0", "10.1.1.1", 24)])
    renew = request(REQUEST, "02:00:00:00:00:01", requested="10.1.1.20", giaddr="10.1.1.254")

    async def run() -> None:
        for _ in range(30):
            server._on_batch(sock, [Datagram(renew, ("10.1.1.254", 67))])
            await server.drain()
        server.close()

    asyncio.run(run())
    assert len(JournalLeaseStore(tmp_path / "j").load()) < 12
