"""``GET /api/v1/health``: this appliance's state without touching the database.

For a load balancer, a monitor or an operator while PostgreSQL is down: the DHCP worker's
lease database state (``net/leasedb.py`` writes ``<data_dir>/dhcp-lease-database.json`` on
every transition: ``ok``, or ``unreachable`` with the reason, since when and the outage policy
in force). 200 when every part is fine, 503 while degraded (the body says what still works).
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Blueprint, Response, jsonify

from provisioner.web.app import current_core

bp = Blueprint("health", __name__, url_prefix="/api")
STATE_FILE = "dhcp-lease-database.json"  # the name net/leasedb.py writes (net is not imported)


def lease_database_state(data_dir: str) -> dict[str, Any]:
    """The DHCP worker's last recorded state, or ``not shared`` (journal on this machine)."""
    try:
        with open(os.path.join(data_dir, STATE_FILE)) as fh:
            state: dict[str, Any] = json.load(fh)
    except (OSError, ValueError):
        return {"lease_database": "not shared", "degraded": False}
    return state


@bp.get("/v1/health")
def health() -> tuple[Response, int]:
    settings = current_core().settings
    dhcp = lease_database_state(settings.data_dir) if settings.dhcp_enabled else {}
    degraded = bool(dhcp.get("degraded"))
    body = {"status": "degraded" if degraded else "ok", "dhcp": dhcp}
    return jsonify(body), 503 if degraded else 200


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/health": {"get": {
        "summary": "This appliance's state (no database access): DHCP lease database ok or "
                   "unreachable, with the outage policy in force",
        "responses": {"200": {"description": "everything is fine"},
                      "503": {"description": "degraded (the body says what still works)"}}}},
}
