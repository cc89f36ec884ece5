"""Agentless hosts in the UI and the API (Flask's test client, a fake libvirt side): an admin
adds a host by URI, an order is placed on it like on an agent host, a migration is checked and
run from the order's page; the API does the same with an API token and never returns a secret.
The real libvirt side is tests/integration/test_agentless.py."""

from __future__ import annotations

import json
import re
import threading

import pytest

from provisioner.core.keyring import Keyring
from provisioner.remote.errors import ConnectError
from provisioner.remote.hosts import RemoteHosts
from provisioner.remote.migration import Outcome, Progress
from provisioner.remote.preflight import Check
from provisioner.store.cipher import FernetCipher
from provisioner.web.app import create_app
from provisioner.web.ui import remote as remote_ui
from tests.orders_env import GOOD, Env
from tests.procs import wait_until
from tests.remote.test_hosts import CAP, HOSTKEY, FakeHypervisors
from tests.web.ui.test_web_ui import csrf, login, order

FACTS = {"hostname": "hv5", "mem_kib": 16 * 2**20, "hypervisor": "kvm",
         "cpu": {"vendor": "GenuineIntel", "cores": 4, "threads": 8},
         "kernel": {"arch": "x86_64"}}


@pytest.fixture
def app(env: Env, tmp_path):
    fake = FakeHypervisors()
    remote = RemoteHosts(env.store, Keyring(env.store, FernetCipher.from_file(
        tmp_path / "secret.key"), env.clock), fake, env.clock)
    app = create_app(env.core, remote=remote)
    app.config["TESTING"] = True
    app.fake = fake  # type: ignore[attr-defined]
    return app


def _add(client, token, **form):
    return client.post("/ui/hosts/agentless", data={"csrf_token": token, **form})


def test_admin_adds_an_agentless_host_and_orders_land_on_it(app, env: Env) -> None:
    app.fake.probe = lambda uri, creds: (dict(FACTS), {**CAP, "vcpus": 8, "ram_mb": 32768})
    env.store.delete_host("host1")  # only the agentless host can take the order
    admin = app.test_client()
    token = login(admin, "root")
    page = admin.get("/ui/hosts").get_data(as_text=True)
    assert 'id="agentless-form"' in page and "ssh-ed25519 " in page  # the key to authorise
    resp = _add(admin, token, name="hv5", uri="qemu+ssh://root@10.0.0.5/system",
                ssh_host_key=HOSTKEY)
    assert resp.status_code == 303
    page = admin.get("/ui/hosts").get_data(as_text=True)
    assert "agentless <code>qemu+ssh://root@10.0.0.5/system</code>" in page

    alice = app.test_client()
    path = order(alice, login(alice, "alice"), **{**GOOD, "name": "web07"})
    assert env.store.list_orders()[0].host == "hv5"
    assert "hv5" in alice.get(path).get_data(as_text=True)
    work = env.store.list_work(host="hv5")
    assert [w.kind for w in work] == ["guest.create"]


def test_add_failures_are_shown_and_record_nothing(app, env: Env) -> None:
    admin = app.test_client()
    token = login(admin, "root")
    app.fake.fail = ConnectError("ssh-auth", "10.0.0.5", "the host refused the appliance's key")
    resp = _add(admin, token, name="hv5", uri="qemu+ssh://root@10.0.0.5/system",
                ssh_host_key=HOSTKEY)
    page = admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert "not added" in page and "refused the appliance" in page
    resp = _add(admin, token, name="hv6", uri="qemu+ssh://h/system?command=/bin/sh",
                ssh_host_key=HOSTKEY)
    assert "not accepted" in admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert [h.name for h in env.store.list_hosts()] == ["host1"]
    alice = app.test_client()
    assert _add(alice, login(alice, "alice"), name="x", uri="qemu+tls://h/system"
                ).status_code == 403
    assert admin.post("/ui/hosts/agentless", data={"name": "x"}).status_code == 400  # no CSRF


def test_migration_from_the_order_page(app, env: Env) -> None:
    env.store.delete_host("host1")
    admin = app.test_client()
    token = login(admin, "root")
    for n, ip in (("hv5", "10.0.0.5"), ("hv6", "10.0.0.6")):
        _add(admin, token, name=n, uri=f"qemu+tls://{ip}/system")
    path = order(admin, token, **{**GOOD, "name": "web08", "host": "hv5"})
    oid = path.rsplit("/", 1)[1]
    assert 'id="order-migrate"' in admin.get(path).get_data(as_text=True)
    page = admin.get(f"/ui/orders/{oid}/migrate?to=hv6").get_data(as_text=True)
    assert 'id="checks"' in page and 'id="migrate-form"' in page
    gate = threading.Event()
    moved = app.fake.migrate

    def slow(src, dst, guest, opts, creds, on_progress):  # a migration that takes a while
        on_progress(Progress(500, 2**30, 2**28, 3 * 2**28, 3 * 2**28, None))
        assert gate.wait(10)
        return moved(src, dst, guest, opts, creds, on_progress)

    app.fake.migrate = slow
    resp = admin.post(f"/ui/orders/{oid}/migrate", data={"csrf_token": token, "to": "hv6"})
    assert resp.status_code == 303  # at once, while the migration runs
    page = admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Migration of web08 to hv6 started" in page
    again = admin.post(f"/ui/orders/{oid}/migrate", data={"csrf_token": token, "to": "hv6"})
    assert "already being migrated" in admin.get(again.headers["Location"]).get_data(
        as_text=True)
    def live() -> dict:
        return json.loads(admin.get(f"/ui/orders/{oid}.json").get_data(as_text=True))

    wait_until(lambda: live()["events"][-1]["kind"] == "migration:progress", 10,
               "the migration's progress in the timeline")  # recorded by the thread
    assert [e["kind"] for e in live()["events"]][-2:] == ["migration:started",
                                                          "migration:progress"]
    assert "256.0 MiB sent, 768.0 MiB of memory to go" in live()["events"][-1]["text"]
    gate.set()
    assert remote_ui.wait_migrations(10)
    page = admin.get(path).get_data(as_text=True)
    assert "migration hv5 -&gt; hv6 done in 2.5 s" in page
    assert env.store.get_order(oid).host == "hv6"
    app.fake.migrate = moved

    app.fake.checks = [Check("same_bridges", "the guest's bridges exist", "D1", "fail",
                             "missing on the destination: br9", "create the bridge")]
    page = admin.get(f"/ui/orders/{oid}/migrate?to=hv5").get_data(as_text=True)
    assert 'id="migrate-blocked"' in page and 'id="migrate-form"' not in page
    app.fake.checks = [Check("shared_storage", "t", "s", "pass", "seen")]
    app.fake.outcome = Outcome(False, "source", 1.0, error="Lost connection to destination")
    admin.post(f"/ui/orders/{oid}/migrate", data={"csrf_token": token, "to": "hv5"})
    assert remote_ui.wait_migrations(10)
    text = admin.get(path).get_data(as_text=True)
    assert "Lost connection to destination; the guest runs on hv6" in text
    assert env.store.get_order(oid).host == "hv6"


def test_api_hosts_and_migrations(app, env: Env) -> None:
    api = app.test_client()
    admin_token = env.core.create_token("ops")
    auth = {"Authorization": f"Bearer {admin_token}"}
    assert api.get("/api/v1/hosts").status_code == 401
    resp = api.post("/api/v1/hosts", headers=auth, json={
        "name": "hv5", "uri": "qemu+ssh://root@10.0.0.5/system", "scan": True})
    assert resp.status_code == 201, resp.get_json()
    body = json.dumps(api.get("/api/v1/hosts", headers=auth).get_json())
    assert "agentless" in body and "token" not in body.lower() and "PRIVATE" not in body
    assert api.get("/api/v1/hosts/ssh-key", headers=auth).get_json()["public_key"].startswith(
        "ssh-ed25519 ")
    bad = api.post("/api/v1/hosts", headers=auth, json={"name": "hv6", "uri": "qemu+tcp://h/system"})
    assert bad.status_code == 400 and "tcp" in bad.get_json()["error"]["message"]
    app.fake.fail = ConnectError("unreachable", "10.0.0.9", "cannot reach 10.0.0.9:16514")
    down = api.post("/api/v1/hosts", headers=auth, json={"name": "hv9",
                                                           "uri": "qemu+tls://10.0.0.9/system"})
    assert down.status_code == 502 and "cannot reach" in down.get_json()["error"]["message"]
    app.fake.fail = None
    api.post("/api/v1/hosts", headers=auth, json={"name": "hv6", "uri": "qemu+tls://10.0.0.6/system"})
    env.store.delete_host("host1")
    alice = app.test_client()
    path = order(alice, login(alice, "alice"), **{**GOOD, "name": "web09", "host": "hv5"})
    assert path
    check = api.post("/api/v1/migrations/check", headers=auth, json={"guest": "web09",
                                                                      "to": "hv6"})
    assert check.status_code == 200 and check.get_json()["ready"] is True
    done = api.post("/api/v1/migrations", headers=auth, json={"guest": "web09", "to": "hv6"})
    assert done.get_json()["ok"] is True and done.get_json()["running_on"] == "destination"
    assert api.delete("/api/v1/hosts/hv5", headers=auth).status_code == 204
    assert api.post("/api/v1/migrations", headers=auth, json={"guest": 3}).status_code == 400
    assert re.search("guest", api.post("/api/v1/migrations", headers=auth,
                                       json={}).get_json()["error"]["message"])
    assert csrf  # (imported helper kept for symmetry with test_web_ui)
