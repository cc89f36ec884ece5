"""REST API: CRUD, bearer auth for writes, one error body shape for every bad input."""

from __future__ import annotations

import re

import pytest

from provisioner.core.app import Core
from provisioner.settings import Settings
from provisioner.web.app import create_app
from tests import fixtures as fx
from tests.fakes import BrokenStore, FakeRenderer
from tests.web.conftest import AUTH, TOKEN

DISTRO = {"name": "rhel5.4-i386", "arch": "i386", "os_version": "rhel5.4",
          "tree_url": "http://mirror.example/5.4/i386"}


def test_distro_crud(client):
    r = client.post("/api/v1/distros", json=DISTRO, headers=AUTH)
    assert r.status_code == 201 and r.headers["Location"] == "/api/v1/distros/rhel5.4-i386"
    assert r.json["arch"] == "i386" and r.json["breed"] == "redhat"
    assert client.get("/api/v1/distros/rhel5.4-i386").json == r.json
    assert [d["name"] for d in client.get("/api/v1/distros").json] == ["rhel5.4-i386",
                                                                       "rhel9-x86_64"]
    r = client.patch("/api/v1/distros/rhel5.4-i386", json={"kernel_options": "noapic"},
                     headers=AUTH)
    assert r.status_code == 200 and r.json["kernel_options"] == "noapic"
    assert client.delete("/api/v1/distros/rhel5.4-i386", headers=AUTH).status_code == 204
    assert client.get("/api/v1/distros/rhel5.4-i386").status_code == 404


def test_profile_and_system_crud(client):
    r = client.post("/api/v1/profiles", headers=AUTH, json={
        "name": "db", "parent": "base", "metadata": {"role": "db"}, "vm": {"ram_mb": 8192}})
    assert r.status_code == 201 and r.json["vm"]["ram_mb"] == 8192
    r = client.post("/api/v1/systems", headers=AUTH, json={
        "name": "db01", "profile": "db",
        "interfaces": [{"mac": "52-54-00-AA-BB-CC", "ip": "10.0.0.31"}]})
    assert r.status_code == 201
    assert r.json["interfaces"][0]["mac"] == "52:54:00:aa:bb:cc"
    assert r.json["token"] == "generated-token"
    r = client.patch("/api/v1/systems/db01", headers=AUTH,
                     json={"netboot_enabled": False, "vm": {"vcpus": 4}})
    assert (r.json["netboot_enabled"], r.json["vm"]["vcpus"]) == (False, 4)
    resolved = client.get("/api/v1/systems/db01/resolved").json
    assert resolved["ram_mb"] == {"value": 8192, "source": "profile:db"}
    assert resolved["vcpus"] == {"value": 4, "source": "system"}
    assert client.get("/api/v1/profiles/db/resolved").json["kickstart"] == {
        "value": "rhel9-guest.ks", "source": "profile:base"}
    assert client.delete("/api/v1/systems/db01", headers=AUTH).status_code == 204
    assert client.delete("/api/v1/profiles/db", headers=AUTH).status_code == 204


def test_token_only_shown_to_authorized_readers(client):
    assert "token" not in client.get("/api/v1/systems/web01").json
    assert client.get("/api/v1/systems/web01", headers=AUTH).json["token"] == "tok-web01"


WRITES = {
    "create": ("post", "/api/v1/distros", DISTRO),
    "update": ("patch", "/api/v1/systems/web01", {"status": "installed"}),
    "delete": ("delete", "/api/v1/systems/web01", None),
    "render preview by POST": ("post", "/api/v1/render/ks/web01", None),
}
AUTH_HEADERS = {
    "no header": {},
    "wrong token": {"Authorization": "Bearer nope"},
    "basic scheme": {"Authorization": f"Basic {TOKEN}"},
    "empty bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize("headers", AUTH_HEADERS.values(), ids=AUTH_HEADERS.keys())
@pytest.mark.parametrize("method,url,body", WRITES.values(), ids=WRITES.keys())
def test_writes_need_a_bearer_token(client, core, method, url, body, headers):
    before = (core.list_distros(), core.list_systems())
    r = getattr(client, method)(url, json=body, headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.json["error"]["code"] == "unauthorized"
    assert (core.list_distros(), core.list_systems()) == before


def test_created_token_works(client, core):
    token = core.create_token("ci")
    r = client.post("/api/v1/distros", json=DISTRO, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201


# (method, url, body, status, code, field, message fragment)
BAD = {
    "unknown field": ("post", "/api/v1/distros", {**DISTRO, "colour": "red"},
                      400, "invalid", "colour", "unknown field 'colour'"),
    "unknown nested vm field": ("post", "/api/v1/profiles",
                                {"name": "p", "parent": "base", "vm": {"cores": 2}},
                                400, "invalid", "cores", "unknown field 'cores'"),
    "bad MAC": ("post", "/api/v1/systems",
                {"name": "x", "profile": "web", "interfaces": [{"mac": "52:54:00:zz:00:01"}]},
                400, "invalid", "mac", "bad MAC address"),
    "multicast MAC": ("post", "/api/v1/systems",
                      {"name": "x", "profile": "web", "interfaces": [{"mac": "01:00:5e:00:00:01"}]},
                      400, "invalid", "mac", "multicast"),
    "bad URL scheme": ("post", "/api/v1/distros", {**DISTRO, "tree_url": "gopher://x/y"},
                       400, "invalid", "tree_url", "scheme must be one of"),
    "kernel must be http": ("post", "/api/v1/distros", {**DISTRO, "kernel": "ftp://x/vmlinuz"},
                            400, "invalid", "kernel", "scheme"),
    "wrong type string": ("post", "/api/v1/distros", {**DISTRO, "arch": 64},
                          400, "invalid", "arch", "must be a string"),
    "wrong type integer": ("post", "/api/v1/profiles",
                           {"name": "p", "parent": "base", "vm": {"ram_mb": "lots"}},
                           400, "invalid", "ram_mb", "must be an integer"),
    "bool is not an integer": ("post", "/api/v1/profiles",
                               {"name": "p", "parent": "base", "vm": {"vcpus": True}},
                               400, "invalid", "vcpus", "must be an integer"),
    "wrong type boolean": ("patch", "/api/v1/systems/web01", {"netboot_enabled": "yes"},
                           400, "invalid", "netboot_enabled", "must be a boolean"),
    "negative RAM": ("patch", "/api/v1/profiles/base", {"vm": {"ram_mb": -5}},
                     400, "invalid", "ram_mb", "positive integer"),
    "bad IP": ("post", "/api/v1/systems",
               {"name": "x", "profile": "web", "interfaces": [{"mac": "52:54:00:00:00:09",
                                                               "ip": "10.0.0.300"}]},
               400, "invalid", "ip", "bad ip"),
    "missing name": ("post", "/api/v1/distros", {"arch": "x86_64"},
                     400, "invalid", "name", "'name' is required"),
    "bad name": ("post", "/api/v1/distros", {"name": "../etc"}, 400, "invalid", "name", "bad name"),
    "body not an object": ("post", "/api/v1/distros", ["x"], 400, "invalid", None,
                           "must be a JSON object"),
    "rename": ("patch", "/api/v1/distros/rhel9-x86_64", {"name": "other"},
               400, "invalid", "name", "cannot be changed"),
    "unknown profile reference": ("post", "/api/v1/systems", {"name": "x", "profile": "nope"},
                                  400, "invalid", "profile", "does not exist"),
    "duplicate name": ("post", "/api/v1/systems", {"name": "web01", "profile": "web"},
                       409, "conflict", None, "already exists"),
    "duplicate MAC": ("post", "/api/v1/systems",
                      {"name": "x", "profile": "web", "interfaces": [{"mac": fx.MAC.upper()}]},
                      409, "conflict", None, "already belongs to system 'web01'"),
    "duplicate IP": ("post", "/api/v1/systems",
                     {"name": "x", "profile": "web",
                      "interfaces": [{"mac": "52:54:00:00:00:09", "ip": "10.0.0.21"}]},
                     409, "conflict", None, "IP 10.0.0.21 already belongs"),
    "remove distro in use": ("delete", "/api/v1/distros/rhel9-x86_64", None,
                             409, "conflict", None, "is used by profile(s) base"),
    "unknown system": ("get", "/api/v1/systems/ghost", None, 404, "not_found", None,
                       "system 'ghost' not found"),
    "unknown route": ("get", "/api/v1/widgets", None, 404, "not_found", None, ""),
    "wrong method": ("put", "/api/v1/distros", {}, 405, "method_not_allowed", None, ""),
}


@pytest.mark.parametrize("method,url,body,status,code,field,fragment", BAD.values(), ids=BAD.keys())
def test_bad_input_gets_a_clear_error_body(client, core, method, url, body, status, code, field,
                                           fragment):
    before = (core.list_distros(), core.list_profiles(), core.list_systems())
    r = getattr(client, method)(url, json=body, headers=AUTH)
    assert r.status_code == status
    assert r.is_json
    err = r.json["error"]
    assert set(err) == {"code", "message", "field"}
    assert (err["code"], err["field"]) == (code, field)
    assert fragment in err["message"]
    assert (core.list_distros(), core.list_profiles(), core.list_systems()) == before


def test_malformed_json_is_400(client):
    r = client.post("/api/v1/distros", data="{not json",
                    headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"


def test_timeline_and_preview(client):
    client.get(f"/boot/ipxe/{fx.MAC}")
    client.get("/ks/token/tok-web01")
    client.get("/cb/tok-web01/done")
    events = client.get("/api/v1/systems/web01/timeline").json
    assert [e["kind"] for e in events] == ["created", "boot-config", "kickstart",
                                           "callback:done"]
    assert client.get("/api/v1/systems/web01/timeline?limit=1").json[0]["kind"] == "callback:done"
    r = client.get("/api/v1/render/pxelinux/web01")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert r.text.startswith("pxelinux web01 web rhel9-x86_64 local")
    assert len(client.get("/api/v1/systems/web01/timeline").json) == 4  # preview records nothing


def test_store_failure_is_503_with_error_body():
    core = Core(BrokenStore(), FakeRenderer(), Settings(api_token=TOKEN))
    client = create_app(core).test_client()
    r = client.get("/api/v1/systems")
    assert r.status_code == 503
    assert r.json["error"]["code"] == "unavailable"
    assert client.get(f"/ks/mac/{fx.MAC}").status_code == 503


_CONVERTER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _openapi_paths(rule: str, documented: set[str]) -> list[str]:
    """The OpenAPI paths a Flask rule maps to: ``<x>``/``<path:x>`` -> ``{x}``; an
    ``<any(a, b):x>`` is either one templated path or documented once per literal."""
    m = _CONVERTER.search(rule)
    if m is None:
        return [rule]
    conv, args, var = m.groups()
    head, tail = rule[:m.start()], rule[m.end():]
    templated = _openapi_paths(head + "{" + var + "}" + tail, documented)
    if conv != "any" or all(p in documented for p in templated):
        return templated
    return [p for lit in args.split(", ") for p in _openapi_paths(head + lit + tail, documented)]


# The browser UI (HTML forms, session cookie + CSRF) is not an API and is not described.
UNDOCUMENTED = ("/ui/", "/static/")


def test_openapi_covers_every_route_and_method(client):
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = set(doc["paths"])
    app = client.application
    seen = set()
    for rule in app.url_map.iter_rules():
        if rule.rule == "/" or rule.rule.startswith(UNDOCUMENTED):
            continue
        for p in _openapi_paths(rule.rule, documented):
            assert p in documented, f"{rule.rule} -> {p} missing from OpenAPI"
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                assert method.lower() in doc["paths"][p], f"{method} {p} missing from OpenAPI"
            seen.add(p)
    assert seen == documented  # and nothing documented that is not served
    assert {p for p in seen if p.startswith("/api/agent/")} == {
        "/api/agent/register", "/api/agent/poll", "/api/agent/event", "/api/agent/complete",
        "/api/agent/fail", "/api/agent/hosts/{name}/token", "/api/agent/work",
        "/api/agent/work/{work_id}", "/api/agent/doctor", "/api/agent/hosts/{name}/doctor",
        "/api/agent/certificate"}
    assert doc["components"]["schemas"]["System"]["additionalProperties"] is False
    assert "Work" in doc["components"]["schemas"]


def test_openapi_document_is_valid_openapi_3(client):
    """Checked by openapi-spec-validator, an independent implementation of the spec."""
    from openapi_spec_validator import validate

    validate(client.get("/api/openapi.json").json)
