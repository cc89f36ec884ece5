"""GET /api/v1/health reads the DHCP worker's lease database state file, never the database."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from provisioner.core import orders
from provisioner.leasestate import STATE_FILE, write_state
from provisioner.models.fleet import Order
from provisioner.web.app import create_app


def test_health_ok_degraded_and_back(core, tmp_path: Path) -> None:
    core.settings = dataclasses.replace(core.settings, data_dir=str(tmp_path), dhcp_enabled=True)
    client = create_app(core).test_client()
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json["dhcp"]["lease_database"] == "not shared"
    write_state(str(tmp_path / STATE_FILE), True, "connection refused", "a", now=5.0)
    r = client.get("/api/v1/health")
    assert r.status_code == 503 and r.json["status"] == "degraded", r.json
    assert r.json["dhcp"] | {"policy": ""} == {
        "lease_database": "unreachable", "degraded": True, "since": 5.0, "appliance": "a",
        "reason": "connection refused", "policy": ""}
    assert "no new addresses" in r.json["dhcp"]["policy"]
    write_state(str(tmp_path / STATE_FILE), False, "recovered", "a")
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json["dhcp"]["lease_database"] == "ok"


def test_metrics_need_the_token_or_loopback(core, tmp_path: Path) -> None:
    core.settings = dataclasses.replace(core.settings, data_dir=str(tmp_path))  # no serve here
    app = create_app(core)
    c = app.test_client()
    assert c.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    away = {"REMOTE_ADDR": "10.0.0.9"}
    assert c.get("/metrics", environ_base=away).status_code == 403
    core.settings = dataclasses.replace(core.settings, metrics_token="s3cret")
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    orders.create_host_token(core.store, "hv1", now=4.5)  # core.clock() is 7.0
    core.store.put_order(Order(id="o1", owner="u", name="g1", profile="p"))
    r = c.get("/metrics", environ_base=away, headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200 and b"provisioner_dhcp_replies_total" in r.data
    text = r.data.decode()
    assert 'provisioner_host_last_seen_age_seconds{host="hv1"} 2.5' in text, text
    state = core.ordering.progress(core.store.list_orders()[0]).state
    assert f'provisioner_orders{{state="{state}"}} 1.0' in text, text
