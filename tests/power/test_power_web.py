"""The power API (``web/power_api.py``) and the system page (``web/ui/systems.py``) over the
use-cases with simulated machines (``sim.py``): tokens and roles, the password never in a
response or page, errors as 400/403/502, reinstall as 202 plus a job to follow."""

from __future__ import annotations

import json
import re

import pytest

from provisioner.core.event_text import describe
from provisioner.core.users import Users
from provisioner.models import Order, bmc_secret_name
from provisioner.web.app import create_app
from tests.fixtures import SYSTEM
from tests.power.sim import make_env
from tests.procs import wait_until

NAME = SYSTEM.name
TOKEN = "power-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "Bmc-Passw0rd-never-shown"
REDFISH = {"driver": "redfish", "address": "https://bmc1.example.com", "username": "root"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def env():
    e = make_env()
    object.__setattr__(e.core.settings, "api_token", TOKEN)
    e.machine(NAME)
    users = Users(e.store)
    users.create("alice", "alice-password")
    users.create("bob", "bob-password")
    users.create("root", "root-password", "admin")
    e.store.put_order(Order(id="o1", owner="alice", name=NAME, profile="web", system=NAME,
                            state="placed"))
    return e


@pytest.fixture
def app(env):
    a = create_app(env.core, power=env.power, reinstall=env.reinstall)
    a.config["TESTING"] = True
    return a


@pytest.fixture
def api(app):
    return app.test_client()


def login(app, name: str):
    client = app.test_client()
    token = _CSRF.search(client.get("/ui/login").get_data(as_text=True)).group(1)
    resp = client.post("/ui/login", data={"username": name, "password": f"{name}-password",
                                          "csrf_token": token})
    assert resp.status_code == 303
    token = _CSRF.search(client.get("/ui/").get_data(as_text=True)).group(1)
    return client, token


# ---- API ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("GET", f"/api/v1/systems/{NAME}/power"), ("PUT", f"/api/v1/systems/{NAME}/power"),
    ("POST", f"/api/v1/systems/{NAME}/power/off"), ("POST", f"/api/v1/systems/{NAME}/reinstall"),
    ("GET", "/api/v1/power"), ("POST", "/api/v1/reinstalls")])
def test_every_power_call_needs_a_token(api, method, path) -> None:
    resp = api.open(path, method=method, json={})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized"


def test_settings_round_trip_without_the_password(api, env) -> None:
    assert api.get(f"/api/v1/systems/{NAME}/power", headers=AUTH).json["settings"] is None
    resp = api.put(f"/api/v1/systems/{NAME}/power", headers=AUTH,
                   json={**REDFISH, "password": SECRET, "verify_tls": False})
    assert resp.status_code == 200, resp.json
    body = resp.get_data(as_text=True)
    assert SECRET not in body and '"password"' not in body
    assert resp.json["settings"]["password_set"] is True
    assert "TLS verification is off" in resp.json["settings"]["warnings"][0]
    for path in (f"/api/v1/systems/{NAME}/power", "/api/v1/power",
                 f"/api/v1/systems/{NAME}/timeline"):
        assert SECRET not in api.get(path, headers=AUTH).get_data(as_text=True)
    # changing the user keeps the password; a new one replaces it, neither is ever shown
    api.put(f"/api/v1/systems/{NAME}/power", headers=AUTH, json={"username": "admin"})
    assert env.power.keyring.get(bmc_secret_name(NAME)) == SECRET
    resp = api.put(f"/api/v1/systems/{NAME}/power", headers=AUTH, json={"password": "other"})
    assert SECRET not in resp.get_data(as_text=True) and "other" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("body,field", [
    ({**REDFISH, "verify_tls": "false"}, "verify_tls"), ({"driver": "telnet"}, "driver"),
    ({**REDFISH, "extra": 1}, "extra"), ({**REDFISH, "timeout": 9999}, "timeout")])
def test_bad_settings_are_a_400_naming_the_field(api, body, field) -> None:
    resp = api.put(f"/api/v1/systems/{NAME}/power", headers=AUTH, json=body)
    assert resp.status_code == 400 and resp.json["error"]["field"] == field


def test_actions_and_a_controller_failure(api, env) -> None:
    api.put(f"/api/v1/systems/{NAME}/power", headers=AUTH, json=REDFISH)
    resp = api.post(f"/api/v1/systems/{NAME}/power/off", headers=AUTH)
    assert resp.status_code == 200 and resp.json["state"] == "off"
    env.drivers.machines[NAME].fail["on"] = "unreachable"
    resp = api.post(f"/api/v1/systems/{NAME}/power/on", headers=AUTH)
    assert resp.status_code == 502 and "simulated unreachable" in resp.json["error"]["message"]
    assert api.post(f"/api/v1/systems/{NAME}/power/explode", headers=AUTH).status_code == 404
    resp = api.post(f"/api/v1/systems/{NAME}/boot", headers=AUTH, json={"device": "floppy"})
    assert resp.status_code == 400 and resp.json["error"]["field"] == "device"
    resp = api.post(f"/api/v1/systems/{NAME}/boot", headers=AUTH, json={"device": "pxe"})
    assert resp.status_code == 200 and env.drivers.machines[NAME].boot == "pxe"
    listing = api.get("/api/v1/power", headers=AUTH).json
    assert listing[0]["system"] == NAME and listing[0]["driver"] == "redfish"


def test_reinstall_answers_202_and_the_job_follows(api, env) -> None:
    api.put(f"/api/v1/systems/{NAME}/power", headers=AUTH, json=REDFISH)
    resp = api.post(f"/api/v1/systems/{NAME}/reinstall", headers=AUTH)
    assert resp.status_code == 202, resp.json
    url = resp.headers["Location"]
    assert url == f"/api/v1/reinstalls/{resp.json['id']}"
    job = wait_until(lambda: (j := api.get(url, headers=AUTH).json)["finished"] and j, 10,
                     "the job")
    assert job["done"] == 1 and job["systems"][0]["stage"] == "done"
    bad = api.post("/api/v1/reinstalls", headers=AUTH, json={"systems": [NAME], "speed": 2})
    assert bad.status_code == 400 and bad.json["error"]["field"] == "speed"
    bad = api.post("/api/v1/reinstalls", headers=AUTH, json={"systems": "web01"})
    assert bad.status_code == 400
    assert api.get("/api/v1/reinstalls/nope", headers=AUTH).status_code == 404


# ---- the system page -----------------------------------------------------------------------

def test_the_owner_powers_their_guest_others_may_not(app, env) -> None:
    env.power.configure(NAME, {**REDFISH, "password": SECRET}, env_admin())
    alice, token = login(app, "alice")
    page = alice.get(f"/ui/systems/{NAME}").get_data(as_text=True)
    assert "Power cycle" in page and "Reinstall" in page and "Power settings" not in page
    resp = alice.post(f"/ui/systems/{NAME}/power/cycle", data={"csrf_token": token})
    assert resp.status_code == 303
    assert ("power", "cycle") in env.drivers.machines[NAME].calls
    resp = alice.post(f"/ui/systems/{NAME}/power-settings",
                      data={"csrf_token": token, "driver": "ipmi"})
    assert resp.status_code == 403
    bob, btoken = login(app, "bob")
    assert bob.get(f"/ui/systems/{NAME}").status_code == 403
    assert bob.post(f"/ui/systems/{NAME}/power/off", data={"csrf_token": btoken}
                    ).status_code == 403
    assert bob.get(f"/ui/systems/{NAME}.json").status_code == 403


def env_admin():
    from provisioner.core.power import ADMIN
    return ADMIN


def test_admin_sets_power_and_never_sees_the_password(app, env) -> None:
    root, token = login(app, "root")
    form = {"csrf_token": token, "driver": "redfish", "address": "https://bmc1.example.com",
            "username": "root", "password": SECRET, "auth": "auto", "boot_mode": "auto",
            "timeout": "15"}  # verify_tls unchecked: a warning
    resp = root.post(f"/ui/systems/{NAME}/power-settings", data=form, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert SECRET not in page and 'id="power-warnings"' in page
    assert "TLS verification is off" in page
    assert 'placeholder="set: leave empty to keep it"' in page
    form.pop("password")
    form["verify_tls"] = "on"
    page = root.post(f"/ui/systems/{NAME}/power-settings", data=form,
                     follow_redirects=True).get_data(as_text=True)
    assert 'id="power-warnings"' not in page
    assert env.power.keyring.get(bmc_secret_name(NAME)) == SECRET  # kept
    bad = root.post(f"/ui/systems/{NAME}/power-settings",
                    data={**form, "timeout": "soon"}, follow_redirects=True)
    assert "timeout must be a number" in bad.get_data(as_text=True)
    systems = root.get("/ui/systems").get_data(as_text=True)
    assert f'href="/ui/systems/{NAME}"' in systems


def test_reinstall_button_and_live_progress(app, env) -> None:
    env.power.configure(NAME, REDFISH, env_admin())
    alice, token = login(app, "alice")
    resp = alice.post(f"/ui/systems/{NAME}/reinstall", data={"csrf_token": token,
                                                             "boot": "pxe"})
    assert resp.status_code == 303
    data = wait_until(lambda: (d := alice.get(f"/ui/systems/{NAME}.json").json)["reinstall"]
                      and d["reinstall"]["stage"] == "done" and d, 10, "the reinstall")
    assert data["netboot"] is False and data["power"]["state"] in ("on", "off")
    assert any(e["kind"] == "reinstall:done" for e in data["events"])
    # the live redraw shows each event as its sentence (issue 15), the same text the page renders
    assert all(e["text"] == describe(e["kind"], e["detail"]) for e in data["events"])
    page = alice.get(f"/ui/systems/{NAME}").get_data(as_text=True)
    assert 'id="reinstall-stage" class="state state-done"' in page
    assert json.dumps(data).count(SECRET) == 0
