"""``/api/v1/hosts`` (agentless hosts by libvirt URI) and ``/api/v1/migrations`` (pre-flight
check, live migration). Every call needs an API token (admin): a host's URI decides what the
appliance connects to. Responses never carry a secret (no key, no token); errors are the API's
``{"error": {...}}`` shape, a host that cannot be reached a 502 naming the cause."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, request

from provisioner.errors import Invalid
from provisioner.models import Host
from provisioner.remote.migration import Options
from provisioner.remote.preflight import blocking
from provisioner.web.api import authorized
from provisioner.web.app import current_remote, error_response

bp = Blueprint("remote_api", __name__, url_prefix="/api/v1")


@bp.before_request
def _admin_only() -> Response | None:
    if authorized():
        return None
    return error_response(401, "agentless hosts and migrations need an API token "
                               "(Authorization: Bearer <token>)")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    return body


def _str(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    v = body.get(key, "")
    if not isinstance(v, str) or (required and not v.strip()):
        raise Invalid(f"{key} is required (a string)", field=key)
    return v.strip()


def _bool(body: dict[str, Any], key: str) -> bool:
    v = body.get(key, False)
    if not isinstance(v, bool):
        raise Invalid(f"{key} must be true or false", field=key)
    return v


def _host(h: Host) -> dict[str, Any]:
    return {"name": h.name, "kind": "agentless" if h.agentless else "agent", "uri": h.uri,
            "ssh_host_key": h.ssh_host_key, "capacity": h.capacity,
            "hostname": h.facts.get("hostname"), "last_seen": h.last_seen}


@bp.get("/hosts")
def hosts() -> Response:
    return jsonify([_host(h) for h in current_remote().store.list_hosts()])


@bp.get("/hosts/ssh-key")
def ssh_key() -> Response:
    return jsonify({"public_key": current_remote().public_key()})


@bp.post("/hosts")
def host_add() -> tuple[Response, int]:
    b = _body()
    remote = current_remote()
    key = _str(b, "ssh_host_key", required=False)
    if not key and _bool(b, "scan"):
        key = remote.scan(_str(b, "uri"))
    return jsonify(_host(remote.add(_str(b, "name"), _str(b, "uri"), ssh_host_key=key))), 201


@bp.delete("/hosts/<name>")
def host_remove(name: str) -> tuple[str, int]:
    current_remote().remove(name)
    return "", 204


@bp.post("/migrations/check")
def migration_check() -> Response:
    b = _body()
    checks = current_remote().check(_str(b, "guest"), _str(b, "to"),
                                    copy_storage=_bool(b, "copy_storage"),
                                    force=_bool(b, "force"))
    return jsonify({"ready": not blocking(checks), "checks": [asdict(c) for c in checks]})


@bp.post("/migrations")
def migration() -> Response:
    b = _body()
    opts = Options(live=not _bool(b, "offline"), copy_storage=_bool(b, "copy_storage"),
                   tls_stream=_bool(b, "tls_stream"), force=_bool(b, "force"))
    out = current_remote().migrate(_str(b, "guest"), _str(b, "to"), opts)
    return jsonify({"ok": out.ok, "running_on": out.running_on, "total_s": out.total_s,
                    "downtime_ms": out.downtime_ms, "error": out.error,
                    "summary": out.summary()})


def _op(summary: str, body: dict[str, Any] | None, ok: dict[str, Any], status: str = "200",
        errors: tuple[str, ...] = ("400", "401", "404")) -> dict[str, Any]:
    names = {"400": "Invalid", "401": "Unauthorized", "404": "NotFound", "409": "Conflict"}
    responses: dict[str, Any] = {status: {"description": "ok", "content": {
        "application/json": {"schema": ok}}}}
    responses.update({c: {"$ref": f"#/components/responses/{names[c]}"} for c in errors})
    responses["502"] = {"description": "the host cannot be reached (the message names why)"}
    op: dict[str, Any] = {"summary": summary, "tags": ["hosts"], "responses": responses,
                          "security": [{"bearer": []}]}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


_S, _B = {"type": "string"}, {"type": "boolean"}
_HOST = _obj({"name": _S, "kind": {"type": "string", "enum": ["agent", "agentless"]},
              "uri": _S, "ssh_host_key": _S, "capacity": {"type": "object"},
              "hostname": {"type": "string", "nullable": True}, "last_seen": {"type": "number"}})
_MOVE = {"guest": _S, "to": _S, "copy_storage": _B, "force": _B}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/hosts": {
        "get": _op("every host (agent and agentless)", None, {"type": "array", "items": _HOST}),
        "post": _op("add an agentless host by its libvirt URI (probed first; nothing is "
                    "recorded unless it answers)",
                    _obj({"name": _S, "uri": _S, "ssh_host_key": _S, "scan": _B},
                         ("name", "uri")), _HOST, "201", ("400", "401", "409"))},
    "/api/v1/hosts/ssh-key": {"get": _op("the appliance's SSH public key (for authorized_keys)",
                                         None, _obj({"public_key": _S}))},
    "/api/v1/hosts/{name}": {"delete": {**_op("forget a host", None, {}, "204"),
                                        "parameters": [{"name": "name", "in": "path",
                                                        "required": True, "schema": _S}]}},
    "/api/v1/migrations/check": {"post": _op(
        "the migration pre-flight: each of the guide's conditions with pass/fail and the fix",
        _obj(_MOVE, ("guest", "to")),
        _obj({"ready": _B, "checks": {"type": "array", "items": _obj({
            "name": _S, "title": _S, "seed": _S, "status": _S, "detail": _S, "fix": _S})}}))},
    "/api/v1/migrations": {"post": _op(
        "check, then live-migrate (offline: pause, move, resume); the inventory follows only "
        "a success", _obj({**_MOVE, "offline": _B, "tls_stream": _B}, ("guest", "to")),
        _obj({"ok": _B, "running_on": _S, "total_s": {"type": "number"},
              "downtime_ms": {"type": "integer", "nullable": True},
              "error": {"type": "string", "nullable": True}, "summary": _S}))},
}
