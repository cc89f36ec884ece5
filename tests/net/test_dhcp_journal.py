"""Lease journal: group commit before replies, torn lines, compaction, restart replay."""

from __future__ import annotations

import socket

import pytest

from provisioner.net import dhcp as dhcp_mod
from provisioner.net.dhcp import JournalLeaseStore, _Iface
from provisioner.net.udp import Datagram
from provisioner.proto.dhcp.codec import REQUEST
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


def test_batch_is_on_disk_before_any_reply_is_sent(tmp_path, sock, monkeypatch) -> None:
    order: list[str] = []
    monkeypatch.setattr(dhcp_mod, "send", lambda s, data, dest: order.append("send") or True)
    core, _ = make_core()
    store = RecordingStore(tmp_path / "j", order)
    server = dhcp_mod.DhcpServer(core, store, clock=lambda: 1000.0)
    server._ifaces[sock.fileno()] = _Iface("br0", [IfaceAddr("br0", "10.1.1.1", 24)])
    batch = [Datagram(request(REQUEST, f"02:00:00:00:00:0{i}", requested=f"10.1.1.1{i}",
                              giaddr="10.1.1.254"), ("10.1.1.254", 67)) for i in range(3)]
    server._on_batch(sock, batch + [Datagram(b"garbage", ("10.1.1.254", 67))])
    assert order == ["fsync 3", "send", "send", "send"]
    assert server.stats["dropped"] == 1
    # a restart replays exactly what was acknowledged
    table = LeaseTable()
    table.load(JournalLeaseStore(tmp_path / "j").load())
    assert {x.mac: x.address for x in table.active(1000.0)} == {
        f"02:00:00:00:00:0{i}": f"10.1.1.1{i}" for i in range(3)}


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
    for _ in range(30):
        server._on_batch(sock, [Datagram(renew, ("10.1.1.254", 67))])
    assert len(JournalLeaseStore(tmp_path / "j").load()) < 12
