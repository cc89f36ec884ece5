"""The OpenAPI 3 document of the HTTP service, built from the codec's field tables.

Other blueprints add their own paths by exposing ``OPENAPI_PATHS`` (a dict in OpenAPI "paths"
shape) and, if they need any, ``OPENAPI_SCHEMAS`` (component schemas) in their module; every
module listed in ``web.app.BLUEPRINTS`` is consulted. The browser UI (``/ui``, HTML forms with a
session cookie) is not an API and is not described.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from provisioner import __version__
from provisioner.web.app import BLUEPRINTS
from provisioner.web.codec import FIELDS, INTERFACE_FIELDS, REQUIRED, VM_FIELDS, FieldSpec


def _prop(spec: FieldSpec) -> dict[str, Any]:
    kind, nullable, desc = spec
    if kind == "vm":
        out: dict[str, Any] = {"$ref": "#/components/schemas/VmDefaults"}
    elif kind == "interfaces":
        out = {"type": "array", "items": {"$ref": "#/components/schemas/Interface"}}
    else:
        out = {"type": kind}
    if nullable:
        out["nullable"] = True
    if "$ref" in out:
        return {"allOf": [out], "description": desc}
    out["description"] = desc
    return out


def _schema(table: dict[str, FieldSpec], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "properties": {k: _prop(v) for k, v in table.items()}}
    if required:
        schema["required"] = list(required)
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


_TEXT = {"description": "the complete document",
         "content": {"text/plain": {"schema": {"type": "string"}}}}
_ERRORS = {code: {"$ref": f"#/components/responses/{name}"} for code, name in
           (("400", "Invalid"), ("404", "NotFound"), ("409", "Conflict"), ("500", "ServerError"))}
_WRITE: dict[str, Any] = {
    "security": [{"bearer": []}],
    "responses": {"401": {"$ref": "#/components/responses/Unauthorized"}}}


def _name_param(what: str) -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
            "description": f"{what} name"}


def _collection(plural: str, schema: str) -> dict[str, Any]:
    one = _ref(schema)
    return {
        f"/api/v1/{plural}": {
            "get": {"summary": f"list {plural}", "responses": {
                "200": _json({"type": "array", "items": one}, f"all {plural}")}},
            "post": {"summary": f"add a {schema.lower()}", **_WRITE,
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": one}}},
                     "responses": {"201": _json(one, "created"), **_WRITE["responses"], **_ERRORS}},
        },
        f"/api/v1/{plural}/{{name}}": {
            "parameters": [_name_param(schema.lower())],
            "get": {"summary": f"one {schema.lower()}",
                    "responses": {"200": _json(one, schema), **_ERRORS}},
            "patch": {"summary": f"change fields of a {schema.lower()} (vm is merged)", **_WRITE,
                      "requestBody": {"required": True, "content": {"application/json": {
                          "schema": _ref(f"{schema}Changes")}}},
                      "responses": {"200": _json(one, "updated"), **_WRITE["responses"],
                                    **_ERRORS}},
            "put": {"summary": "same as PATCH (fields not given are kept)", **_WRITE,
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref(f"{schema}Changes")}}},
                    "responses": {"200": _json(one, "updated"), **_WRITE["responses"], **_ERRORS}},
            "delete": {"summary": f"remove a {schema.lower()} (409 while still referenced)",
                       **_WRITE,
                       "responses": {"204": {"description": "removed"}, **_WRITE["responses"],
                                     **_ERRORS}},
        },
    }


def _schemas() -> dict[str, Any]:
    """Component schemas: the inventory records (from the codec's tables) and the replies."""
    schemas: dict[str, Any] = {
        "VmDefaults": _schema(VM_FIELDS),
        "Interface": _schema(INTERFACE_FIELDS, ("mac",)),
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "field": {"type": "string", "nullable": True},
                "hint": {"type": "string", "description": "how to fix it, when not obvious"}}}}},
        "Resolved": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"value": {}, "source": {"type": "string"}}}},
        "Event": {"type": "object", "properties": {
            "id": {"type": "integer"}, "at": {"type": "number"}, "kind": {"type": "string"},
            "detail": {"type": "object"}}},
        "Validation": {"type": "object", "properties": {
            "ok": {"type": "boolean"},
            "results": {"type": "object", "additionalProperties": {"type": "array", "items": {
                "type": "object", "properties": {k: {"type": "string"} for k in
                                                 ("subject", "level", "source", "field", "message")}
            }}}}},
    }
    for kind, table in FIELDS.items():
        name = kind.capitalize()
        schemas[name] = _schema(table, REQUIRED[kind])
        schemas[f"{name}Changes"] = _schema(table)
    return schemas


def _api_paths() -> dict[str, Any]:
    """``/api/v1``: the inventory collections, timelines, resolved views, previews, validation."""
    paths: dict[str, Any] = {}
    for plural, schema in (("distros", "Distro"), ("profiles", "Profile"), ("systems", "System")):
        paths.update(_collection(plural, schema))
    paths["/api/v1/systems/{name}/timeline"] = {"get": {
        "summary": "the system's timeline, oldest first", "parameters": [
            _name_param("system"),
            {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": _json({"type": "array", "items": _ref("Event")}, "events"),
                      **_ERRORS}}}
    for plural in ("systems", "profiles"):
        paths[f"/api/v1/{plural}/{{name}}/resolved"] = {"get": {
            "summary": "resolved values and the layer each came from",
            "parameters": [_name_param(plural[:-1])],
            "responses": {"200": _json(_ref("Resolved"), "resolved view"), **_ERRORS}}}
    kind_param = {"name": "kind", "in": "path", "required": True,
                  "schema": {"type": "string", "enum": ["ks", "pxelinux", "grub", "ipxe"]}}
    paths["/api/v1/render/{kind}/{system}"] = {
        "parameters": [kind_param, {"name": "system", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
        "get": {"summary": "render preview (records no event)",
                "responses": {"200": _TEXT, **_ERRORS}},
        "post": {"summary": "render preview (records no event)", **_WRITE,
                 "responses": {"200": _TEXT, **_WRITE["responses"], **_ERRORS}}}
    paths["/api/v1/validate"] = {"get": {
        "summary": "platform rules + pykickstart for all (or one) profile and system",
        "parameters": [{"name": "system", "in": "query", "schema": {"type": "string"}},
                       {"name": "profile", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": _json(_ref("Validation"), "findings"), **_ERRORS}}}
    paths["/api/openapi.json"] = {"get": {"summary": "this document", "responses": {
        "200": _json({"type": "object"}, "OpenAPI 3.0 document")}}}
    return paths


def _boot_paths() -> dict[str, Any]:
    """What installers and firmware fetch: kickstarts, boot configs, install callbacks."""
    paths: dict[str, Any] = {}
    mac = {"name": "mac", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "MAC address in any common spelling"}
    for by, param in (("system", "name"), ("mac", "mac"), ("token", "token")):
        p = mac if by == "mac" else {"name": param, "in": "path", "required": True,
                                      "schema": {"type": "string"}}
        paths[f"/ks/{by}/{{{p['name']}}}"] = {"get": {
            "summary": f"kickstart by {by} (a timeline event)", "parameters": [p],
            "responses": {"200": _TEXT, "404": {"description": "unknown"},
                          "500": {"description": "template error (never a partial document)"}}}}
    for kind in ("pxelinux", "grub", "ipxe"):
        paths[f"/boot/{kind}/{{mac}}"] = {"get": {
            "summary": f"{kind} config for a MAC (local boot once netboot is off)",
            "parameters": [mac],
            "responses": {"200": _TEXT, "404": {"description": "unknown MAC"}}}}
    paths["/cb/{token}/{event}"] = {
        "parameters": [{"name": "token", "in": "path", "required": True,
                        "schema": {"type": "string"}},
                       {"name": "event", "in": "path", "required": True, "schema": {
                           "type": "string", "enum": ["started", "done", "failed"]}}],
        "get": {"summary": "install callback (done turns netboot off)",
                "responses": {"200": _TEXT}},
        "post": {"summary": "install callback (done turns netboot off)",
                 "responses": {"200": _TEXT}}}
    return paths


def _response(desc: str) -> dict[str, Any]:
    return _json(_ref("Error"), desc)


@cache
def document() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document (served at ``/api/openapi.json``)."""
    schemas, paths = _schemas(), {**_api_paths(), **_boot_paths()}
    for module in BLUEPRINTS:
        mod = importlib.import_module(module)
        paths.update(getattr(mod, "OPENAPI_PATHS", None) or {})
        schemas.update(getattr(mod, "OPENAPI_SCHEMAS", None) or {})
    return {
        "openapi": "3.0.3",
        "info": {"title": "provisioner", "version": __version__,
                 "description": "Kickstart/PXE provisioning appliance: inventory API and boot "
                                "endpoints."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Invalid": _response("bad input (unknown field, wrong type, bad value)"),
                          "NotFound": _response("no such object"),
                          "Conflict": _response("duplicate name, MAC or IP, or still referenced"),
                          "Unauthorized": _response("bearer token missing or wrong"),
                          "ServerError": _response("template or store failure")},
        },
    }
