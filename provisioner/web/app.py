"""The Flask application: blueprints from a list, domain errors mapped to HTTP in one place.

Blueprint modules each expose ``bp``; add one by adding its module path to ``BLUEPRINTS`` (one
line). Handlers reach the core with :func:`current_core`. Errors: under ``/api/`` a JSON body
``{"error": {"code", "message", "field"}}`` (plus ``hint`` when the error has one); elsewhere
(kickstarts, boot configs, callbacks, fetched by installers and firmware) a one-line
``text/plain`` message. Never a partial document. :data:`HTTP_STATUS` maps the domain errors.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from provisioner.core.app import Core
from provisioner.errors import (
    Conflict,
    Forbidden,
    HostError,
    Invalid,
    NotFound,
    ProvisionerError,
    RenderError,
    StoreError,
    Unauthorized,
)

log = logging.getLogger(__name__)

BLUEPRINTS = [
    "provisioner.web.agent_api",
    "provisioner.web.boot",
    "provisioner.web.api",
    "provisioner.web.ui",
    "provisioner.web.remote_api",
    "provisioner.web.power_api",
    "provisioner.web.assets",
    "provisioner.web.health",
]

#: domain error -> HTTP status (the first class the error is an instance of; else 500)
HTTP_STATUS: tuple[tuple[type[ProvisionerError], int], ...] = (
    (NotFound, 404), (Invalid, 400), (Conflict, 409), (Forbidden, 403), (Unauthorized, 401),
    (StoreError, 503), (HostError, 502), (RenderError, 500),
)
_CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media",
          500: "internal", 503: "unavailable"}


def current_core() -> Core:
    return current_app.extensions["provisioner.core"]


def current_remote() -> Any:
    """The agentless-host use-cases, or NotFound when this appliance was built without them."""
    remote = current_app.extensions.get("provisioner.remote")
    if remote is None:
        raise NotFound("agentless hosts are not enabled on this appliance")
    return remote


def current_power() -> Any:
    """Power control (``core/power.py``), or NotFound when this appliance was built without."""
    power = current_app.extensions.get("provisioner.power")
    if power is None:
        raise NotFound("power control is not enabled on this appliance")
    return power


def current_reinstall() -> Any:
    """The reinstaller (``core/reinstall.py``), or NotFound when not built."""
    reinstall = current_app.extensions.get("provisioner.reinstall")
    if reinstall is None:
        raise NotFound("reinstall is not enabled on this appliance")
    return reinstall


def server_url() -> str:
    """The appliance's base URL as this client sees it (``Settings.public_url`` wins)."""
    return (current_core().settings.public_url or request.host_url).rstrip("/")


def client_addr() -> str | None:
    return request.remote_addr


def http_status(exc: ProvisionerError) -> int:
    return next((status for cls, status in HTTP_STATUS if isinstance(exc, cls)), 500)


def error_response(status: int, message: str, field: str | None = None,
                   code: str | None = None, hint: str | None = None) -> Response:
    code = code or _CODES.get(status, "error")
    if request.path.startswith("/api/"):
        body: dict[str, Any] = {"code": code, "message": message, "field": field}
        if hint:
            body["hint"] = hint
        resp = jsonify({"error": body})
    else:
        resp = Response(f"error: {message}\n", mimetype="text/plain")
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="provisioner"'
    return resp


def _domain_error(exc: ProvisionerError) -> Response:
    status = http_status(exc)
    if isinstance(exc, RenderError):
        log.error("%s %s: render error (template %s line %s): %s", request.method, request.path,
                  exc.template, exc.line, exc)
        return error_response(500, f"render error: {exc}", "template", "render_error", exc.hint)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.path, exc)
    return error_response(status, str(exc), exc.field if isinstance(exc, Invalid) else None,
                          hint=exc.hint)


def _http_error(exc: HTTPException) -> Response:
    return error_response(exc.code or 500, exc.description or exc.name)


def _unexpected(exc: Exception) -> Response:
    log.exception("%s %s: unhandled error", request.method, request.path)
    return error_response(500, f"internal error: {type(exc).__name__}")


def create_app(core: Core, blueprints: list[str] | None = None, *,
               remote: Any | None = None, power: Any | None = None,
               reinstall: Any | None = None) -> Flask:
    """A Flask app serving ``core``; ``blueprints`` defaults to :data:`BLUEPRINTS`; ``remote``
    (agentless hosts and migration, ``remote/hosts.py``), ``power`` and ``reinstall``
    (``core/power.py``, ``core/reinstall.py``) when the composition root built them."""
    app = Flask("provisioner")
    app.extensions["provisioner.core"] = core
    app.extensions["provisioner.remote"] = remote
    app.extensions["provisioner.power"] = power
    app.extensions["provisioner.reinstall"] = reinstall
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for module in blueprints if blueprints is not None else BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module).bp)
    app.register_error_handler(ProvisionerError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def text(body: str, status: int = 200, **headers: Any) -> Response:
    """A complete ``text/plain`` document."""
    resp = Response(body, status=status, mimetype="text/plain")
    resp.headers.update(headers)
    return resp
