"""The inventory REST API under ``/api/v1`` (JSON), and the OpenAPI document.

Reads are open; writes (POST, PATCH, DELETE) need ``Authorization: Bearer <token>`` (a token
from ``provisioner token create`` or ``Settings.api_token``), else 401. Bodies are parsed by
``web/codec.py``; every error is ``{"error": {"code", "message", "field"}}`` (``web/app.py``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, request

from provisioner.errors import Invalid
from provisioner.web import codec
from provisioner.web.app import current_core, error_response, server_url, text
from provisioner.web.openapi import document

bp = Blueprint("api", __name__, url_prefix="/api")

KINDS = {"distros": "distro", "profiles": "profile", "systems": "system"}
_READ = ("GET", "HEAD", "OPTIONS")


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def authorized() -> bool:
    return current_core().check_token(_bearer())


@bp.before_request
def _require_token_for_writes() -> Response | None:
    if request.method in _READ or authorized():
        return None
    return error_response(401, "a bearer token is required for writes "
                               "(Authorization: Bearer <token>; see `provisioner token create`)")


def _body() -> Any:
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise Invalid("request body must be a JSON object")
    return body


def _out(obj: Any) -> dict[str, Any]:
    return codec.to_json(obj, secrets=authorized())


def _kind(collection: str) -> str:
    kind = KINDS.get(collection)
    if kind is None:
        raise Invalid(f"unknown collection {collection!r}; one of {', '.join(KINDS)}")
    return kind


@bp.get("/v1/<any(distros, profiles, systems):collection>")
def list_items(collection: str) -> Response:
    items = getattr(current_core(), f"list_{collection}")()
    return jsonify([_out(i) for i in items])


@bp.post("/v1/<any(distros, profiles, systems):collection>")
def add_item(collection: str) -> Response:
    kind = _kind(collection)
    added = getattr(current_core(), f"add_{kind}")(codec.parse_new(kind, _body()))
    resp = jsonify(_out(added))
    resp.status_code = 201
    resp.headers["Location"] = f"/api/v1/{collection}/{added.name}"
    return resp


@bp.get("/v1/<any(distros, profiles, systems):collection>/<name>")
def get_item(collection: str, name: str) -> Response:
    return jsonify(_out(getattr(current_core(), f"get_{_kind(collection)}")(name)))


@bp.route("/v1/<any(distros, profiles, systems):collection>/<name>", methods=["PATCH", "PUT"])
def update_item(collection: str, name: str) -> Response:
    kind = _kind(collection)
    changes = codec.parse_changes(kind, _body())
    return jsonify(_out(getattr(current_core(), f"update_{kind}")(name, changes)))


@bp.delete("/v1/<any(distros, profiles, systems):collection>/<name>")
def remove_item(collection: str, name: str) -> Response:
    getattr(current_core(), f"remove_{_kind(collection)}")(name)
    return Response(status=204)


@bp.get("/v1/systems/<name>/timeline")
def timeline(name: str) -> Response:
    limit = request.args.get("limit", type=int)
    events = current_core().timeline(name, limit)
    return jsonify([{"id": e.id, "at": e.at, "kind": e.kind, "detail": e.detail} for e in events])


@bp.get("/v1/<any(systems, profiles):collection>/<name>/resolved")
def resolved(collection: str, name: str) -> Response:
    which = {"system": name} if collection == "systems" else {"profile": name}
    view = current_core().resolve_view(**which)
    return jsonify({k: {"value": r.value, "source": r.source} for k, r in view.items()})


@bp.route("/v1/render/<any(ks, pxelinux, grub, ipxe):kind>/<system>", methods=["GET", "POST"])
def render_preview(kind: str, system: str) -> Response:
    return text(current_core().render_preview(kind, system, server_url()))


@bp.get("/v1/validate")
def validate() -> Response:
    core = current_core()
    if "system" in request.args:
        results = {f"system:{request.args['system']}": core.validate(system=request.args["system"])}
    elif "profile" in request.args:
        results = {f"profile:{request.args['profile']}":
                   core.validate(profile=request.args["profile"])}
    else:
        results = core.validate_all()
    ok = not any(f.level == "error" for found in results.values() for f in found)
    return jsonify({"ok": ok, "results": {k: [asdict(f) for f in v] for k, v in results.items()}})


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
