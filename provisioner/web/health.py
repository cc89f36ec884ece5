"""``GET /api/v1/health``: this appliance's state without touching the database; and
``GET /metrics`` (Prometheus, ``provisioner/metrics.py``).

For a load balancer, a monitor or an operator while PostgreSQL is down: the DHCP worker's
lease database state (``provisioner/leasestate.py``: ``ok``, or ``unreachable`` with the
reason, since when and the outage policy in force). 200 when every part is fine, 503 while
degraded (the body says what still works).
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request
from prometheus_client.core import GaugeMetricFamily

from provisioner.core.app import Core
from provisioner.leasestate import read_state
from provisioner.metrics import exposition
from provisioner.web.app import current_core, error_response

bp = Blueprint("health", __name__)
LOOPBACK = ("127.0.0.1", "::1")


@bp.get("/api/v1/health")
def health() -> tuple[Response, int]:
    settings = current_core().settings
    dhcp = read_state(settings.data_dir) if settings.dhcp_enabled else {}
    degraded = bool(dhcp.get("degraded"))
    body = {"status": "degraded" if degraded else "ok", "dhcp": dhcp}
    return jsonify(body), 503 if degraded else 200


class _Inventory:
    """Orders by state and each host's last-seen age, read from the store at scrape time."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def collect(self) -> Iterator[GaugeMetricFamily]:
        core = self.core
        orders = GaugeMetricFamily("provisioner_orders", "Orders by state", labels=["state"])
        states = Counter(core.ordering.progress(o).state for o in core.store.list_orders())
        for state, n in sorted(states.items()):
            orders.add_metric([state], n)
        yield orders
        ages = GaugeMetricFamily("provisioner_host_last_seen_age_seconds",
                                 "Seconds since each host's agent last called", labels=["host"])
        now = core.clock()
        for view in core.ordering.host_views():
            ages.add_metric([view.name], max(0.0, now - view.last_seen))
        yield ages


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition: with ``metrics_token`` set, for its bearer only; without,
    for clients on loopback only (a scraper on the appliance, or a proxy in front of it)."""
    settings = current_core().settings
    want = settings.metrics_token
    header = request.headers.get("Authorization", "")
    if want:
        if not hmac.compare_digest(header.encode(), f"Bearer {want}".encode()):
            return error_response(401, "/metrics needs Authorization: Bearer <metrics_token>")
    elif request.remote_addr not in LOOPBACK:
        return error_response(403, "/metrics answers loopback only unless metrics_token is set")
    body, ctype = exposition(settings.data_dir, [_Inventory(current_core())])
    return Response(body, content_type=ctype)


OPENAPI_PATHS: dict[str, Any] = {
    "/metrics": {"get": {
        "summary": "Prometheus text exposition (provisioner/metrics.py); bearer metrics_token, "
                   "or loopback clients when none is set",
        "responses": {"200": {"description": "the metrics", "content": {"text/plain": {}}},
                      "401": {"description": "metrics_token set and not given"},
                      "403": {"description": "no metrics_token and not a loopback client"}}}},
    "/api/v1/health": {"get": {
        "summary": "This appliance's state (no database access): DHCP lease database ok or "
                   "unreachable, with the outage policy in force",
        "responses": {"200": {"description": "everything is fine"},
                      "503": {"description": "degraded (the body says what still works)"}}}},
}
