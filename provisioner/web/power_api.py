"""Power control and reinstall under ``/api/v1`` (``core/power.py``, ``core/reinstall.py``).

Every call needs an API token (an admin): power settings name a BMC and its user, actions
switch machines off. The BMC password is accepted (``PUT .../power`` with ``password``) and
never returned: settings say only ``password_set``. A controller that cannot be reached, refuses
the credentials or the request answers 502 with the cause; nothing waits longer than the
settings' ``timeout``. A reinstall answers 202 at once with its job, followed at
``/api/v1/reinstalls/<id>`` (and in the system's timeline).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from provisioner.core.power import Actor
from provisioner.errors import Invalid
from provisioner.web.api import authorized
from provisioner.web.app import current_core, current_power, current_reinstall, error_response

bp = Blueprint("power_api", __name__, url_prefix="/api/v1")
API = Actor("api", True)


@bp.before_request
def _admin_only() -> Response | None:
    if authorized():
        return None
    return error_response(401, "power control needs an API token (Authorization: Bearer <token>)")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    return body


def power_view(name: str) -> dict[str, Any]:
    """A system's power settings (no password) and last polled state, or ``settings: null``."""
    power = current_power()
    current_core().get_system(name)
    config = power.power_store.get_power_config(name)
    return {"system": name, "settings": power.settings(name) if config else None,
            "status": power.status(name).as_dict() if config else None}


@bp.get("/power")
def power_list() -> Response:
    power = current_power()
    out = []
    for config in power.power_store.list_power_configs():
        status = power.status(config.system)
        out.append({"system": config.system, "driver": config.driver,
                    "address": config.address, "warnings": config.warnings(),
                    **status.as_dict()})
    return jsonify(out)


@bp.get("/systems/<name>/power")
def power_get(name: str) -> Response:
    return jsonify(power_view(name))


@bp.put("/systems/<name>/power")
def power_put(name: str) -> Response:
    current_power().configure(name, _body(), API)
    return jsonify(power_view(name))


@bp.delete("/systems/<name>/power")
def power_delete(name: str) -> tuple[str, int]:
    current_power().remove(name, API)
    return "", 204


@bp.post("/systems/<name>/power/<any(on, off, cycle, reset, status):action>")
def power_action(name: str, action: str) -> Response:
    power = current_power()
    if action == "status":
        power.check_control(name, API)
        status = power.refresh(name)
    else:
        status = power.act(name, action, API)
    return jsonify({"system": name, "action": action, **status.as_dict()})


@bp.post("/systems/<name>/boot")
def boot_device(name: str) -> Response:
    b = _body()
    device, once = b.get("device"), b.get("once", True)
    if not isinstance(device, str):
        raise Invalid("device is required: pxe, http or disk", field="device")
    if not isinstance(once, bool):
        raise Invalid("once must be true or false", field="once")
    current_power().set_boot(name, device, API, once=once)
    return jsonify({"system": name, "device": device, "once": once})


def _options(b: dict[str, Any]) -> dict[str, Any]:
    settings = current_core().settings
    out = {"boot": b.get("boot", "pxe"), "timeout": b.get("timeout", settings.reinstall_timeout),
           "concurrency": b.get("concurrency", settings.reinstall_concurrency)}
    unknown = sorted(set(b) - {"boot", "timeout", "concurrency", "systems"})
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    return out


def _started(job: Any) -> tuple[Response, int]:
    resp = jsonify(job.as_dict())
    resp.headers["Location"] = url_for("power_api.reinstall_job", job_id=job.id)
    return resp, 202


@bp.post("/systems/<name>/reinstall")
def reinstall_one(name: str) -> tuple[Response, int]:
    b = request.get_json(silent=True, force=True) if request.data else {}
    if not isinstance(b, dict):
        raise Invalid("request body must be a JSON object (or empty)")
    return _started(current_reinstall().start([name], API, **_options(b)))


@bp.post("/reinstalls")
def reinstall_many() -> tuple[Response, int]:
    b = _body()
    return _started(current_reinstall().start(b.get("systems"), API, **_options(b)))


@bp.get("/reinstalls/<job_id>")
def reinstall_job(job_id: str) -> Response:
    return jsonify(current_reinstall().job(job_id).as_dict())


# ---- OpenAPI -------------------------------------------------------------------------------

def _op(summary: str, body: dict[str, Any] | None, ok: dict[str, Any], status: str = "200",
        errors: tuple[str, ...] = ("400", "401", "404"), path: tuple[str, ...] = ("name",)
        ) -> dict[str, Any]:
    names = {"400": "Invalid", "401": "Unauthorized", "404": "NotFound", "409": "Conflict"}
    responses: dict[str, Any] = {status: {"description": "ok", "content": {
        "application/json": {"schema": ok}}}}
    responses.update({c: {"$ref": f"#/components/responses/{names[c]}"} for c in errors})
    responses["502"] = {"description": "the power controller failed, refused or did not answer "
                                       "within the timeout (the message names why)"}
    op: dict[str, Any] = {"summary": summary, "tags": ["power"], "responses": responses,
                          "security": [{"bearer": []}],
                          "parameters": [{"name": p, "in": "path", "required": True,
                                          "schema": {"type": "string"}} for p in path]}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


_S, _B, _N = {"type": "string"}, {"type": "boolean"}, {"type": "number"}
_STATUS = _obj({"state": {"type": "string", "enum": ["on", "off", "unknown"]}, "checked": _N,
                "last_seen": _N, "error": _S})
_SETTINGS = _obj({"driver": {"type": "string", "enum": ["redfish", "ipmi", "libvirt"]},
                  "address": _S, "port": {"type": "integer"}, "username": _S, "system_id": _S,
                  "auth": {"type": "string", "enum": ["auto", "session", "basic"]},
                  "verify_tls": _B, "ca_bundle": _S,
                  "boot_mode": {"type": "string", "enum": ["auto", "uefi", "legacy"]},
                  "timeout": _N})
_VIEW = _obj({"system": _S, "settings": {**_SETTINGS, "nullable": True, "properties": {
    **_SETTINGS["properties"], "password_set": _B,
    "warnings": {"type": "array", "items": _S}}}, "status": {**_STATUS, "nullable": True}})
_JOB = _obj({"id": _S, "by": _S, "boot": _S, "timeout": _N, "concurrency": {"type": "integer"},
             "created": _N, "finished": _B, "done": {"type": "integer"},
             "failed": {"type": "integer"},
             "systems": {"type": "array", "items": _obj({
                 "system": _S, "stage": _S, "message": _S, "ok": {**_B, "nullable": True},
                 "started": _N, "updated": _N, "finished": _N})}})
_OPTIONS = {"boot": {"type": "string", "enum": ["pxe", "http"]}, "timeout": _N,
            "concurrency": {"type": "integer"}}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/power": {"get": _op("every system with power settings and its last polled state",
                                 None, {"type": "array", "items": _obj({
                                     "system": _S, "driver": _S, "address": _S,
                                     "warnings": {"type": "array", "items": _S},
                                     **_STATUS["properties"]})}, path=())},
    "/api/v1/systems/{name}/power": {
        "get": _op("a system's power settings (never the password) and last polled state",
                   None, _VIEW),
        "put": _op("set or change the power settings; password (write only) replaces the "
                   "stored one", {**_SETTINGS, "properties": {**_SETTINGS["properties"],
                                                              "password": _S}}, _VIEW),
        "delete": _op("forget the power settings and the BMC password", None, {}, "204")},
    "/api/v1/systems/{name}/power/{action}": {"post": {**_op(
        "on, off (hard), cycle (off then on), reset, or status (ask the controller now)",
        None, _obj({"system": _S, "action": _S, **_STATUS["properties"]})),
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": _S},
                       {"name": "action", "in": "path", "required": True, "schema": {
                           "type": "string",
                           "enum": ["on", "off", "cycle", "reset", "status"]}}]}},
    "/api/v1/systems/{name}/boot": {"post": _op(
        "the boot device of the next boot (once) or of every boot",
        _obj({"device": {"type": "string", "enum": ["pxe", "http", "disk"]}, "once": _B},
             ("device",)), _obj({"system": _S, "device": _S, "once": _B}))},
    "/api/v1/systems/{name}/reinstall": {"post": {**_op(
        "reinstall: netboot on, one-time network boot, power-cycle, follow the install to "
        "done, boot from disk again", _obj(_OPTIONS), _JOB, "202", ("400", "401", "404", "409")),
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": _obj(_OPTIONS)}}}}},
    "/api/v1/reinstalls": {"post": _op(
        "bulk reinstall: at most concurrency machines at once, each with its own timeout",
        _obj({"systems": {"type": "array", "items": _S}, **_OPTIONS}, ("systems",)), _JOB,
        "202", ("400", "401", "404", "409"), path=())},
    "/api/v1/reinstalls/{job_id}": {"get": _op("a reinstall job: each system's stage", None,
                                               _JOB, path=("job_id",))},
}
