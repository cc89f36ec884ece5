"""LeaseFollower (``net/leasefile.py``): other processes follow the DHCP worker's journal."""

from __future__ import annotations

from pathlib import Path

from provisioner.net.dhcp import JournalLeaseStore
from provisioner.net.leasefile import LeaseFollower
from provisioner.proto.dhcp.leases import Lease, encode_record


def _lease(n: int, mac: str, host: str | None = None, state: str = "bound") -> Lease:
    return Lease((10 << 24) + n, mac, 2e9, state, host)


def test_appends_torn_lines_and_compaction(tmp_path: Path) -> None:
    path = tmp_path / "dhcp-leases.journal"
    follower = LeaseFollower(path, clock=lambda: 1e9)
    assert follower.leases() == []  # no journal yet
    journal = JournalLeaseStore(path)
    journal.append([_lease(1, "02:00:00:00:00:01", "a")])
    assert follower.records() == [("a", "10.0.0.1")]
    line = encode_record(_lease(2, "02:00:00:00:00:02", "b"))
    with open(path, "a") as fh:  # a writer caught mid-line
        fh.write(line[:10])
    assert follower.records() == [("a", "10.0.0.1")]
    with open(path, "a") as fh:
        fh.write(line[10:])
    assert sorted(follower.records()) == [("a", "10.0.0.1"), ("b", "10.0.0.2")]
    journal.append([_lease(1, "02:00:00:00:00:01", "a", state="released")])
    assert follower.records() == [("b", "10.0.0.2")]
    journal.compact([_lease(3, "02:00:00:00:00:03", "c")])  # a new file renamed over it
    assert follower.records() == [("c", "10.0.0.3")]
    assert [d["mac"] for d in follower.leases()] == ["02:00:00:00:00:03"]
    journal.close()
    follower.close()
