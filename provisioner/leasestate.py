"""The DHCP worker's lease database state, in ``<data_dir>/`` :data:`STATE_FILE`.

Written by the DHCP worker on every transition (``net/leasedb.py``: ``ok``, or ``unreachable``
with the reason, since when and the outage policy in force); read without touching the database
by ``GET /api/v1/health`` (``web/health.py``) and ``provisioner status``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

log = logging.getLogger("provisioner.dhcp")
STATE_FILE = "dhcp-lease-database.json"
POLICY = ("lease database unreachable: answering reserved systems and renewals of leases "
          "this appliance holds (for the time recorded, never extended); no new addresses, "
          "no NAKs, until it is back")


def write_state(path: str | None, degraded: bool, reason: str, server: str,
                now: float | None = None) -> None:
    """Record the lease database's state (atomic rename); ``path`` None: nowhere."""
    if not path:
        return
    state = {"lease_database": "unreachable" if degraded else "ok", "degraded": degraded,
             "since": time.time() if now is None else now, "appliance": server,
             "reason": reason, "policy": POLICY if degraded else ""}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)


def read_state(data_dir: str) -> dict[str, Any]:
    """The last recorded state, or ``not shared`` (leases in this machine's journal)."""
    try:
        with open(os.path.join(data_dir, STATE_FILE)) as fh:
            state: dict[str, Any] = json.load(fh)
    except (OSError, ValueError):
        return {"lease_database": "not shared", "degraded": False}
    return state
