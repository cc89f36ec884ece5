"""``/api/agent/...``: what host agents call (register, long-poll, events, results).

Agents authenticate with ``Authorization: Bearer <host token>`` and name themselves in the JSON
body (``host``). Admin calls (create a host token, queue work by hand) take an API token. Every
route parses, makes one ``core.agents`` call (``core/agents.py``) and answers JSON; errors map in
``web/app.py``.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, jsonify, request

from provisioner.core.agents import KINDS, LEASE_SECONDS
from provisioner.errors import Invalid, Unauthorized
from provisioner.models import WorkItem
from provisioner.web.app import current_core, current_remote

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
    current_core().agents.authenticate(name, _bearer())
    return name


def _work(item: WorkItem | None, payload: dict[str, Any] | None = None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {"id": item.id, "kind": item.kind,
            "payload": item.payload if payload is None else payload,
            "state": item.state, "attempts": item.attempts, "lease_until": item.lease_until,
            "key": item.idempotency_key, "result": item.result}


@bp.post("/register")
def register():
    data = _body()
    host = current_core().agents.register(str(data.get("host") or ""), _bearer(),
                                          data.get("facts") or {}, data.get("capacity") or {})
    return jsonify({"host": host.name, "lease_seconds": LEASE_SECONDS, "max_poll": MAX_POLL})


@bp.post("/poll")
def poll():
    data = _body()
    host = _host(data)
    try:
        timeout = min(MAX_POLL, max(0.0, float(data.get("timeout", 0))))
    except (TypeError, ValueError):
        raise Invalid("timeout must be a number of seconds", field="timeout") from None
    waiting = _waiting.acquire(blocking=False)
    try:
        item, payload = current_core().agents.poll(host, timeout if waiting else 0.0)
    finally:
        if waiting:
            _waiting.release()
    return jsonify({"work": _work(item, payload)})


@bp.post("/event")
def event():
    data = _body()
    host = _host(data)
    current_core().agents.event(host, data.get("kind"), data.get("detail") or {},
                                work_id=data.get("work"), system=data.get("system"))
    return jsonify({"ok": True})


@bp.post("/doctor")
def doctor():
    """The host's ``provisioner-agent doctor`` report (the host page shows the last one)."""
    data = _body()
    host = _host(data)
    rep = current_core().agents.doctor(host, data.get("report"))
    return jsonify({"ok": True, "status": rep["status"], "findings": len(rep["findings"])})


@bp.post("/complete")
def complete():
    data = _body()
    host = _host(data)
    item = current_core().agents.complete(host, str(data.get("work") or ""),
                                          data.get("result") or {})
    return jsonify({"work": _work(item)})


@bp.post("/fail")
def fail():
    data = _body()
    host = _host(data)
    item = current_core().agents.fail(host, str(data.get("work") or ""),
                                      str(data.get("error") or "unknown error")[:2000],
                                      retry=bool(data.get("retry")))
    return jsonify({"work": _work(item)})


@bp.post("/certificate")
def certificate():
    """Work kind ``tls.rotate``: sign the host's certificate request (its new key stays on the
    host) for the names of the certificate the appliance issued it before."""
    data = _body()
    host = _host(data)
    csr = data.get("csr")
    if not isinstance(csr, str) or len(csr) > 16384:
        raise Invalid("csr: a PEM certificate request", field="csr")
    return jsonify(current_remote().sign_request(host, csr))


def _admin() -> None:
    if not current_core().check_token(_bearer()):
        raise Unauthorized("an API token is required",
                           hint="send Authorization: Bearer <token>; "
                                "`provisioner token create NAME` makes one")


@bp.post("/hosts/<name>/token")
def host_token(name: str):
    _admin()
    token = current_core().agents.create_host_token(name)
    return jsonify({"host": name, "token": token}), 201


@bp.post("/work")
def queue_work():
    _admin()
    data = _body()
    item = current_core().agents.enqueue(str(data.get("host") or ""),
                                         str(data.get("kind") or ""), data.get("payload") or {},
                                         key=data.get("key"))
    return jsonify({"work": _work(item)}), 201


@bp.get("/hosts/<name>/doctor")
def host_doctor(name: str):
    _admin()
    return jsonify({"host": name, "report": current_core().agents.last_doctor(name)})


@bp.get("/work/<work_id>")
def get_work(work_id: str):
    _admin()
    return jsonify({"work": _work(current_core().agents.get_work(work_id))})


# ---- OpenAPI (merged into /api/openapi.json by web/openapi.py) -------------------------------

def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


def _op(summary: str, body: dict[str, Any] | None, ok: dict[str, Any], *, status: str = "200",
        admin: bool = False, errors: tuple[str, ...] = ("400", "401")) -> dict[str, Any]:
    responses: dict[str, Any] = {status: {"description": "ok", "content": {
        "application/json": {"schema": ok}}}}
    names = {"400": "Invalid", "401": "Unauthorized", "404": "NotFound", "409": "Conflict"}
    responses.update({code: {"$ref": f"#/components/responses/{names[code]}"} for code in errors})
    op: dict[str, Any] = {"summary": summary, "tags": ["agent"], "responses": responses,
                          "security": [{"bearer": []}],
                          "description": "API token (admin)" if admin else "host token"}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


_HOST = {"type": "string", "description": "the agent's host name"}
_WORK_ID = {"type": "string", "description": "work item id"}
_WORK_REPLY = _obj({"work": {"allOf": [{"$ref": "#/components/schemas/Work"}], "nullable": True}},
                   ("work",))

OPENAPI_SCHEMAS: dict[str, Any] = {"Work": _obj({
    "id": {"type": "string"},
    "kind": {"type": "string", "enum": list(KINDS)},
    "payload": {"type": "object"},
    "state": {"type": "string", "description": "queued, leased, done or failed"},
    "attempts": {"type": "integer"},
    "lease_until": {"type": "number", "description": "seconds since the epoch"},
    "key": {"type": "string", "nullable": True, "description": "idempotency key"},
    "result": {"type": "object", "nullable": True}},
    ("id", "kind", "payload", "state"))}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/agent/register": {"post": _op(
        "an agent says hello: facts and capacity; its leased work is queued again "
        "(a new host may register with an admin API token, which becomes its host token)",
        _obj({"host": _HOST, "facts": {"type": "object"}, "capacity": {"type": "object"}},
             ("host",)),
        _obj({"host": {"type": "string"}, "lease_seconds": {"type": "number"},
              "max_poll": {"type": "number"}}))},
    "/api/agent/poll": {"post": _op(
        f"long poll (up to {MAX_POLL:g} s) for the next work item; null when none",
        _obj({"host": _HOST, "timeout": {"type": "number", "minimum": 0}}, ("host",)),
        _WORK_REPLY)},
    "/api/agent/event": {"post": _op(
        "record an event in a system's timeline (renews the work item's lease)",
        _obj({"host": _HOST, "kind": {"type": "string", "maxLength": 64},
              "detail": {"type": "object"}, "work": _WORK_ID,
              "system": {"type": "string"}}, ("host", "kind")),
        _obj({"ok": {"type": "boolean"}}), errors=("400", "401", "404"))},
    "/api/agent/doctor": {"post": _op(
        "the host's `provisioner-agent doctor` report (findings with the guide's fix and the "
        "agent plan; facts incl. xend settings); the host page shows the last one",
        _obj({"host": _HOST, "report": _obj({
            "status": {"type": "string", "enum": ["healthy", "findings"]},
            "findings": {"type": "array", "items": {"type": "object"}},
            "facts": {"type": "object"}}, ("status", "findings"))}, ("host", "report")),
        _obj({"ok": {"type": "boolean"}, "status": {"type": "string"},
              "findings": {"type": "integer"}}), errors=("400", "401", "404"))},
    "/api/agent/complete": {"post": _op(
        "a leased work item is done", _obj({"host": _HOST, "work": _WORK_ID,
                                             "result": {"type": "object"}}, ("host", "work")),
        _WORK_REPLY, errors=("400", "401", "404"))},
    "/api/agent/fail": {"post": _op(
        "a leased work item failed (queued again when retry and attempts remain)",
        _obj({"host": _HOST, "work": _WORK_ID, "error": {"type": "string", "maxLength": 2000},
              "retry": {"type": "boolean"}}, ("host", "work")),
        _WORK_REPLY, errors=("400", "401", "404"))},
    "/api/agent/certificate": {"post": _op(
        "sign this host's TLS certificate request (work kind tls.rotate), only for the names "
        "of the certificate the appliance issued it before",
        _obj({"host": _HOST, "csr": {"type": "string", "description": "PEM CSR"}},
             ("host", "csr")),
        _obj({"ca_cert": {"type": "string"}, "cert": {"type": "string"},
              "not_after": {"type": "string"}}), errors=("400", "401", "404"))},
    "/api/agent/hosts/{name}/token": {
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string"}, "description": "host name"}],
        "post": _op("create or re-key a host; its token is shown once", None,
                    _obj({"host": {"type": "string"}, "token": {"type": "string"}}),
                    status="201", admin=True)},
    "/api/agent/work": {"post": _op(
        "queue work for a host by hand (the same key returns the existing item)",
        _obj({"host": _HOST, "kind": {"type": "string", "enum": list(KINDS)},
              "payload": {"type": "object"}, "key": {"type": "string"}}, ("host", "kind")),
        _WORK_REPLY, status="201", admin=True, errors=("400", "401", "404", "409"))},
    "/api/agent/hosts/{name}/doctor": {
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string"}, "description": "host name"}],
        "get": _op("the host's last `provisioner-agent doctor` report as stored (null: none "
                   "sent yet); the host page shows the same", None,
                   _obj({"host": {"type": "string"}, "report": {"type": "object",
                                                               "nullable": True}}),
                   admin=True, errors=("401", "404"))},
    "/api/agent/work/{work_id}": {
        "parameters": [{"name": "work_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "get": _op("one work item", None, _WORK_REPLY, admin=True, errors=("401", "404"))},
}
