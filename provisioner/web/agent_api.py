"""``/api/agent/...``: what host agents call (register, long-poll, events, results).

Agents authenticate with ``Authorization: Bearer <host token>`` and name themselves in the JSON
body (``host``). Admin calls (create a host token, queue work by hand) take an API token. Every
route parses, makes one ``core.orders`` call and answers JSON; errors map in ``web/app.py``.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, jsonify, request

from provisioner.core import orders
from provisioner.errors import Invalid
from provisioner.store.base import WorkItem
from provisioner.web.app import current_core, error_response

bp = Blueprint("agent_api", __name__, url_prefix="/api/agent")
MAX_POLL = 25.0  # seconds a long poll may wait
#: Long polls waiting at once; more would tie up the HTTP threads kickstarts and boot files need,
#: so beyond this a poll answers at once (the agent then waits a moment before asking again).
MAX_WAITING_POLLS = 4
_waiting = threading.BoundedSemaphore(MAX_WAITING_POLLS)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


def _bearer() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _host(data: dict[str, Any]) -> str:
    name = data.get("host")
    if not isinstance(name, str) or not name:
        raise Invalid("host is required", field="host")
    orders.authenticate(current_core().store, name, _bearer())
    return name


def _work(item: WorkItem | None, payload: dict[str, Any] | None = None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {"id": item.id, "kind": item.kind,
            "payload": item.payload if payload is None else payload,
            "state": item.state, "attempts": item.attempts, "lease_until": item.lease_until,
            "key": item.idempotency_key, "result": item.result}


def _now() -> float:
    return current_core().clock()


@bp.post("/register")
def register():
    data = _body()
    core = current_core()
    host = orders.register_host(core.store, str(data.get("host") or ""), _bearer(),
                                data.get("facts") or {}, data.get("capacity") or {},
                                now=_now(), check_admin=core.check_token)
    return jsonify({"host": host.name, "lease_seconds": orders.LEASE_SECONDS,
                    "max_poll": MAX_POLL})


@bp.post("/poll")
def poll():
    data = _body()
    host = _host(data)
    try:
        timeout = min(MAX_POLL, max(0.0, float(data.get("timeout", 0))))
    except (TypeError, ValueError):
        raise Invalid("timeout must be a number of seconds", field="timeout") from None
    core = current_core()
    waiting = _waiting.acquire(blocking=False)
    try:
        item = orders.wait_for_work(core.store, host, timeout=timeout if waiting else 0.0,
                                    clock=core.clock)
    finally:
        if waiting:
            _waiting.release()
    payload = orders.handed_out(core.store, item) if item is not None else None
    return jsonify({"work": _work(item, payload)})


@bp.post("/event")
def event():
    data = _body()
    host = _host(data)
    orders.agent_event(current_core().store, host, data.get("kind"), data.get("detail") or {},
                       now=_now(), work_id=data.get("work"), system=data.get("system"))
    return jsonify({"ok": True})


@bp.post("/complete")
def complete():
    data = _body()
    host = _host(data)
    item = orders.complete(current_core().store, host, str(data.get("work") or ""),
                           data.get("result") or {}, now=_now())
    return jsonify({"work": _work(item)})


@bp.post("/fail")
def fail():
    data = _body()
    host = _host(data)
    item = orders.fail(current_core().store, host, str(data.get("work") or ""),
                       str(data.get("error") or "unknown error")[:2000], now=_now(),
                       retry=bool(data.get("retry")))
    return jsonify({"work": _work(item)})


def _admin() -> None:
    if not current_core().check_token(_bearer()):
        raise orders.Unauthorized("an API token is required")


@bp.post("/hosts/<name>/token")
def host_token(name: str):
    _admin()
    token = orders.create_host_token(current_core().store, name, now=_now())
    return jsonify({"host": name, "token": token}), 201


@bp.post("/work")
def queue_work():
    _admin()
    data = _body()
    item = orders.enqueue(current_core().store, str(data.get("host") or ""),
                          str(data.get("kind") or ""), data.get("payload") or {},
                          key=data.get("key"), now=_now())
    return jsonify({"work": _work(item)}), 201


@bp.get("/work/<work_id>")
def get_work(work_id: str):
    _admin()
    item = current_core().store.get_work(work_id)
    if item is None:
        return error_response(404, f"no work {work_id!r}")
    return jsonify({"work": _work(item)})
