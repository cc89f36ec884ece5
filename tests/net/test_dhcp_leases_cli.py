"""``provisioner leases`` lists active leases from the journal (no server running)."""

from __future__ import annotations

import json

from provisioner.cli import main
from provisioner.net.dhcp import JOURNAL, JournalLeaseStore
from provisioner.proto.dhcp.leases import Lease


def test_leases_cli_lists_active_leases_last_record_wins(tmp_path, capsys) -> None:
    store = JournalLeaseStore(tmp_path / JOURNAL)
    far = 4_000_000_000.0
    store.append([Lease(0x0A4D000A, "52:54:00:00:00:01", far, "bound", "pc1"),
                  Lease(0x0A4D000B, "52:54:00:00:00:02", far, "bound", None),
                  Lease(0x0A4D000B, "52:54:00:00:00:02", 10.0, "released", None),
                  Lease(0x0A4D000C, "52:54:00:00:00:03", 10.0, "bound", None)])  # expired
    store.close()
    with open(tmp_path / JOURNAL, "a") as fh:
        fh.write("10.77.0.13\t52:54:00:00:00:04\t40000")  # torn last line (a crash mid-write)
    assert main(["--data-dir", str(tmp_path), "leases", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"ip": "10.77.0.10", "mac": "52:54:00:00:00:01", "hostname": "pc1",
                     "state": "bound", "expires": 4_000_000_000}]
    assert main(["--data-dir", str(tmp_path), "leases"]) == 0
    assert capsys.readouterr().out.startswith("10.77.0.10\t52:54:00:00:00:01\tpc1\t")
