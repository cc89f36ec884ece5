"""``provisioner leases [--json]``: the active DHCPv4 leases and DHCPv6 bindings, read from the
lease journals in ``data_dir`` (read-only; the running server need not be asked)."""

from __future__ import annotations

import json
import time
from typing import Any

from provisioner.net import dhcp, dhcp6


def register_cli(sub: Any) -> None:
    """Add ``provisioner leases [--json]`` to the CLI."""
    p = sub.add_parser("leases", help="active DHCP leases and DHCPv6 bindings (from the lease "
                                      "journals in data_dir)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_leases)


def _cmd_leases(args: Any) -> int:
    rows = dhcp.read_leases(args.settings) + dhcp6.read_leases(args.settings)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        exp = "never" if r["expires"] is None else time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(r["expires"]))
        extra = f"\tDUID {r['duid']} IAID {r['iaid']}" if "duid" in r else ""
        print(f"{r['ip']}\t{r['mac'] or '-'}\t{r['hostname'] or '-'}\t{exp}{extra}")
    return 0
