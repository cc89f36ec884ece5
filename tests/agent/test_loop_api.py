"""The appliance's agent API as HTTP (Flask test client): auth, bad input, long poll, results.
Errors come back as the JSON error body of ``web/app.py`` with the right status."""

from __future__ import annotations

import pytest

from provisioner.core import orders
from provisioner.core.app import Core
from provisioner.models import Interface, System
from provisioner.settings import Settings
from provisioner.web.app import create_app
from tests.fakes import FakeRenderer, MemoryStore

ADMIN = "admin-token"


@pytest.fixture
def env():
    core = Core(MemoryStore(), FakeRenderer(), Settings(api_token=ADMIN))
    token = orders.create_host_token(core.store, "hv1", now=0)
    return core, create_app(core).test_client(), token


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_register_poll_event_complete(env) -> None:
    core, c, token = env
    r = c.post("/api/agent/register", json={"host": "hv1", "facts": {"k": 1},
                                             "capacity": {"vcpus": 2}}, headers=_auth(token))
    assert r.status_code == 200 and r.json["host"] == "hv1"
    assert c.post("/api/agent/poll", json={"host": "hv1", "timeout": 0},
                  headers=_auth(token)).json == {"work": None}
    r = c.post("/api/agent/work", json={"host": "hv1", "kind": "guest.create", "key": "k1",
                                         "payload": {"system": "web1", "name": "web1"}},
               headers=_auth(ADMIN))
    assert r.status_code == 201
    core.store.put_system(System(name="other", profile="p", interfaces=(
        Interface(mac="52:54:00:00:00:aa"),)))
    work = c.post("/api/agent/poll", json={"host": "hv1", "timeout": 1},
                  headers=_auth(token)).json["work"]
    assert work["payload"]["known_macs"] == ["52:54:00:00:00:aa"]  # to avoid when generating
    assert (work["kind"], work["state"], work["attempts"], work["key"]) == \
        ("guest.create", "leased", 1, "k1")
    assert c.post("/api/agent/event", json={"host": "hv1", "work": work["id"],
                                             "kind": "guest.defined", "detail": {"uuid": "u"}},
                  headers=_auth(token)).status_code == 200
    r = c.post("/api/agent/complete", json={"host": "hv1", "work": work["id"],
                                             "result": {"uuid": "u"}}, headers=_auth(token))
    assert r.json["work"]["state"] == "done"
    assert c.get(f"/api/agent/work/{work['id']}", headers=_auth(ADMIN)).json["work"]["result"] \
        == {"uuid": "u"}
    assert [e.kind for e in core.store.list_events("system:web1")] == ["guest.defined",
                                                                      "agent:done"]


@pytest.mark.parametrize("path,body,headers,status", [
    ("/api/agent/poll", {"host": "hv1"}, {"Authorization": "Bearer nope"}, 401),
    ("/api/agent/poll", {"host": "hv1"}, {}, 401),
    ("/api/agent/poll", {"host": "ghost"}, "host", 401),
    ("/api/agent/poll", {}, "host", 400),
    ("/api/agent/poll", {"host": "hv1", "timeout": "soon"}, "host", 400),
    ("/api/agent/event", {"host": "hv1", "kind": "", "system": "web1"}, "host", 400),
    ("/api/agent/event", {"host": "hv1", "kind": "x", "system": "../etc"}, "host", 400),
    ("/api/agent/complete", {"host": "hv1", "work": "nope"}, "host", 404),
    ("/api/agent/work", {"host": "hv1", "kind": "guest.create"}, "host", 401),
    ("/api/agent/work", {"host": "hv1", "kind": "format-disk"}, "admin", 400),
    ("/api/agent/work", {"host": "ghost", "kind": "guest.create"}, "admin", 404),
    ("/api/agent/hosts/bad name/token", {}, "admin", 400),
    ("/api/agent/register", {"host": "hv2"}, {"Authorization": "Bearer guess"}, 401),
], ids=["wrong-token", "no-token", "unknown-host", "no-host", "bad-timeout", "empty-kind",
        "hostile-system", "unknown-work", "work-needs-admin", "unknown-kind", "work-unknown-host",
        "bad-host-name", "new-host-needs-admin"])
def test_refusals(env, path, body, headers, status) -> None:
    _, c, token = env
    if headers == "host":
        headers = _auth(token)
    elif headers == "admin":
        headers = _auth(ADMIN)
    r = c.post(path, json=body, headers=headers)
    assert r.status_code == status, r.json
    assert r.json["error"]["message"]


def test_body_must_be_json_object(env) -> None:
    _, c, token = env
    r = c.post("/api/agent/poll", data="[1, 2]", content_type="application/json",
               headers=_auth(token))
    assert r.status_code == 400


def test_admin_creates_host_token_then_host_registers(env) -> None:
    core, c, _ = env
    r = c.post("/api/agent/hosts/hv9/token", headers=_auth(ADMIN))
    assert r.status_code == 201
    token = r.json["token"]
    assert c.post("/api/agent/register", json={"host": "hv9"},
                  headers=_auth(token)).status_code == 200
    assert core.store.get_host("hv9").token_hash == orders.hash_token(token)


def test_poll_answers_at_once_when_too_many_agents_wait(env) -> None:
    import time

    from provisioner.web import agent_api

    _, c, token = env
    held = 0
    try:
        while agent_api._waiting.acquire(blocking=False):
            held += 1
        t0 = time.monotonic()
        r = c.post("/api/agent/poll", json={"host": "hv1", "timeout": 20}, headers=_auth(token))
        assert r.json == {"work": None} and time.monotonic() - t0 < 10
    finally:
        for _ in range(held):
            agent_api._waiting.release()
    assert held == agent_api.MAX_WAITING_POLLS
