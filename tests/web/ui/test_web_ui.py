"""The web UI through Flask's test client: log-in, CSRF, the order wizard, authorisation."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from provisioner.core import orders
from provisioner.web.app import BLUEPRINTS, create_app
from tests.orders_env import GOOD, Env

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(env: Env):
    blueprints = list(BLUEPRINTS) + ([] if "provisioner.web.ui" in BLUEPRINTS
                                     else ["provisioner.web.ui"])
    app = create_app(env.core, blueprints)
    app.config["TESTING"] = True
    return app


def csrf(client: FlaskClient, path: str = "/ui/login") -> str:
    page = client.get(path)
    m = _CSRF.search(page.get_data(as_text=True))
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client: FlaskClient, name: str, password: str | None = None) -> str:
    token = csrf(client)
    resp = client.post("/ui/login", data={"username": name, "password": password or
                                          f"{name}-password", "csrf_token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return csrf(client, "/ui/")


@pytest.fixture
def alice(app) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, login(client, "alice")


def order(client: FlaskClient, token: str, **changes: str) -> str:
    """Review then Finish; returns the order page's path."""
    form = {**GOOD, **changes, "csrf_token": token}
    review = client.post("/ui/orders/review", data=form)
    assert review.status_code == 200, review.get_data(as_text=True)
    key = re.search(r'name="key" value="([^"]+)"', review.get_data(as_text=True)).group(1)
    done = client.post("/ui/orders", data={**form, "key": key})
    assert done.status_code == 303
    return done.headers["Location"]


def test_pages_need_a_login(app) -> None:
    client = app.test_client()
    for path in ("/ui/", "/ui/orders/new", "/ui/profiles", "/ui/users"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/ui/login" in resp.headers["Location"]
    assert client.get("/ui/orders/x.json").status_code == 401
    assert client.get("/").headers["Location"].endswith("/ui/")


def test_wrong_password_is_refused(app) -> None:
    client = app.test_client()
    resp = client.post("/ui/login", data={"username": "alice", "password": "nope-nope",
                                          "csrf_token": csrf(client)})
    assert resp.status_code == 401
    assert "wrong user name or password" in resp.get_data(as_text=True)
    assert client.get("/ui/").status_code == 302


@pytest.mark.parametrize("path", ["/ui/login", "/ui/orders/review", "/ui/orders",
                                  "/ui/users", "/ui/logout"],
                         ids=["login", "review", "submit", "add user", "logout"])
def test_posts_without_csrf_are_refused(app, path: str) -> None:
    client = app.test_client()
    login(client, "root")
    data = {**GOOD, "username": "alice", "password": "alice-password", "name": "x",
            "role": "admin"}
    resp = client.post(path, data=data)
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    resp = client.post(path, data={**data, "csrf_token": "forged"})
    assert resp.status_code == 400


def test_csrf_token_of_another_session_is_refused(app) -> None:
    thief = app.test_client()
    stolen = csrf(thief)
    client = app.test_client()
    login(client, "alice")
    resp = client.post("/ui/orders/review", data={**GOOD, "csrf_token": stolen})
    assert resp.status_code == 400


FORM_ERRORS = [
    ("bad name", {"name": "web 01"}, "name", "is not a valid name"),
    ("memory over the host", {"ram_mb": "20000"}, "ram_mb",
     "20000 MiB does not fit on host1: it has 16384 MiB, of which 2048 MiB stay with the host, "
     "so at most 14336 MiB"),
    ("vCPUs over 10 per core", {"vcpus": "41"}, "vcpus", "KVM supports at most 40 vCPUs"),
    ("disk over free space", {"disk_gb": "200"}, "disk_gb",
     "200 GiB does not fit on host1: 100.0 GiB free for images"),
    ("bridge missing", {"network": "br9"}, "network", "bridge br9 is not on host1 (bridges: br0)"),
    ("NAT network", {"network": "default"}, "network", "a PXE install needs a bridge"),
    ("PV profile", {"profile": "xenpv"}, "profile", "PV requires an HTTP/FTP/NFS install tree"),
    ("wrong hypervisor on chosen host", {"profile": "xenpv", "host": "host1"}, "host",
     "the profile needs XEN but host1 runs KVM"),
]


@pytest.mark.parametrize("changes,field,message", [r[1:] for r in FORM_ERRORS],
                         ids=[r[0] for r in FORM_ERRORS])
def test_form_shows_each_message_next_to_its_field(alice, changes, field, message) -> None:
    client, token = alice
    resp = client.post("/ui/orders/review", data={**GOOD, **changes, "csrf_token": token})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    m = re.search(rf'<p class="field-error" id="error-{field}">([^<]*)</p>', html)
    assert m, html
    assert message in m.group(1).replace("&#39;", "'")
    # the user's input is kept
    for v in changes.values():
        assert f'value="{v}"' in html or f'value="{v}" selected' in html or \
            f'<option value="{v}" selected>' in html


def test_review_step_then_back_keeps_values(alice, env: Env) -> None:
    client, token = alice
    resp = client.post("/ui/orders/review", data={**GOOD, "vcpus": "9", "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Ready to begin installation" in html
    assert '<td id="review-host">host1 (chosen by the scheduler)</td>' in html
    assert "9 vCPUs is more than the 8 logical CPUs" in html  # warning shown, not blocking
    assert '<td id="review-hypervisor">KVM, full virtualization</td>' in html
    back = client.post("/ui/orders/new", data={**GOOD, "vcpus": "9", "csrf_token": token})
    assert 'name="vcpus" value="9"' in back.get_data(as_text=True)
    assert "No orders yet." in client.get("/ui/").get_data(as_text=True)  # nothing ordered
    assert env.store.list_orders() == []


def test_order_then_order_page_and_json(alice, env: Env) -> None:
    client, token = alice
    page = order(client, token)
    html = client.get(page).get_data(as_text=True)
    assert '<span id="order-name">web01</span>' in html
    assert 'data-state="placed"' in html and "web01.lab.example" in html
    data = client.get(page + ".json").get_json()
    assert data["state"] == "placed" and data["host"] == "host1" and data["owner"] == "alice"
    assert [s["stage"] for s in data["steps"]][:3] == ["queued", "placed", "defined"]
    assert [w.kind for w in env.store.list_work(host="host1")] == ["guest.create"]
    listing = client.get("/ui/").get_data(as_text=True)
    assert ">web01</a>" in listing


def test_finish_twice_makes_one_order(alice, env: Env) -> None:
    client, token = alice
    form = {**GOOD, "csrf_token": token, "key": "double-click"}
    first = client.post("/ui/orders", data=form)
    second = client.post("/ui/orders", data=form)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(env.store.list_orders()) == 1


def test_user_cannot_see_or_cancel_anothers_order(app, env: Env) -> None:
    bob = app.test_client()
    bob_token = login(bob, "bob")
    page = order(bob, bob_token, name="bobs")
    oid = page.rsplit("/", 1)[1]
    alice = app.test_client()
    token = login(alice, "alice")
    assert alice.get(page).status_code == 404
    assert alice.get(page + ".json").status_code == 404
    assert alice.post(f"/ui/orders/{oid}/cancel", data={"csrf_token": token}).status_code == 404
    assert alice.post(f"/ui/orders/{oid}/delete", data={"csrf_token": token}).status_code == 404
    assert "bobs" not in alice.get("/ui/").get_data(as_text=True)
    assert env.ordering.progress(env.store.get_order(oid)).state == "placed"
    # the owner can
    assert bob.post(f"/ui/orders/{oid}/cancel", data={"csrf_token": bob_token}).status_code == 303
    assert env.ordering.progress(env.store.get_order(oid)).state == "cancelled"
    # and an admin sees everything
    root = app.test_client()
    login(root, "root")
    assert root.get(page).status_code == 200 and "bobs" in root.get("/ui/").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/ui/systems", "/ui/hosts", "/ui/leases", "/ui/users",
                                  "/ui/tokens"])
def test_admin_pages_are_for_admins(app, path: str) -> None:
    client = app.test_client()
    login(client, "alice")
    assert client.get(path).status_code == 403
    root = app.test_client()
    login(root, "root")
    assert root.get(path).status_code == 200


def test_users_can_read_distros_and_profiles_but_not_change_them(app) -> None:
    client = app.test_client()
    token = login(client, "alice")
    assert "rhel9" in client.get("/ui/distros").get_data(as_text=True)
    assert client.post("/ui/distros", data={"name": "x", "csrf_token": token}).status_code == 403
    assert client.post("/ui/profiles/web/delete", data={"csrf_token": token}).status_code == 403


def test_admin_manages_inventory_users_and_tokens(app, env: Env) -> None:
    client = app.test_client()
    token = login(client, "root")
    client.post("/ui/distros", data={"name": "f40", "os_version": "fedora40",
                                     "csrf_token": token})
    assert env.store.get_distro("f40").os_version == "fedora40"
    client.post("/ui/profiles", data={"name": "f40web", "distro": "f40", "ram_mb": "2048",
                                      "csrf_token": token})
    assert env.store.get_profile("f40web").vm.ram_mb == 2048
    client.post("/ui/systems", data={"name": "metal1", "profile": "f40web",
                                     "mac": "52-54-00-AA-BB-CC", "netboot": "1",
                                     "csrf_token": token})
    assert env.store.get_system("metal1").macs == ("52:54:00:aa:bb:cc",)
    resp = client.post("/ui/systems", data={"name": "metal2", "profile": "f40web",
                                            "mac": "not-a-mac", "csrf_token": token},
                       follow_redirects=True)
    assert "bad MAC address" in resp.get_data(as_text=True)
    client.post("/ui/users", data={"name": "carol", "password": "carol-password",
                                   "role": "user", "csrf_token": token})
    assert env.store.get_user("carol").role == "user"
    resp = client.post("/ui/tokens", data={"name": "ci", "csrf_token": token})
    shown = re.search(r'id="new-token">[^<]*<code>([^<]+)</code>', resp.get_data(as_text=True))
    assert shown and env.core.check_token(shown.group(1))
    assert shown.group(1) not in client.get("/ui/tokens").get_data(as_text=True)
    hosts = client.get("/ui/hosts").get_data(as_text=True)
    assert "host1" in hosts and "br0" in hosts
    resp = client.post("/ui/hosts", data={"name": "host2", "csrf_token": token})
    shown = re.search(r'id="new-host-token">.*?<code>([^<]+)</code>', resp.get_data(as_text=True))
    assert shown and orders.authenticate(env.store, "host2", shown.group(1)).name == "host2"


def test_leases_page_reads_the_dhcp_journal(app, env: Env, tmp_path) -> None:
    (tmp_path / "dhcp-leases.journal").write_text(
        f"10.79.0.100\t52:54:00:12:34:56\t{env.clock() + 600:.0f}\tbound\tweb01\n"
        f"10.79.0.101\t52:54:00:12:34:57\t{env.clock() - 600:.0f}\tbound\told\n"
        "torn line")
    client = app.test_client()
    login(client, "root")
    html = client.get("/ui/leases").get_data(as_text=True)
    assert "10.79.0.100" in html and "600 s" in html
    assert "10.79.0.101" not in html


def test_html_is_escaped(alice) -> None:
    client, token = alice
    resp = client.post("/ui/orders/review", data={**GOOD, "name": "<script>x</script>",
                                                  "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html


def test_every_post_route_of_the_ui_refuses_a_missing_csrf_token(app, env: Env) -> None:
    """Not a sample: every POST rule the UI blueprint registers, found in the URL map."""
    client = app.test_client()
    token = login(client, "root")
    rules = [r for r in app.url_map.iter_rules()
             if r.endpoint.startswith("ui.") and "POST" in (r.methods or ())]
    assert len(rules) >= 15
    for rule in rules:
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "x")
        resp = client.post(path, data={"name": "x", "csrf_token": ""})
        assert resp.status_code == 400, path
        assert "CSRF" in resp.get_data(as_text=True), path
    # and the session is still fine: the same client with its token is accepted
    assert client.post("/ui/orders/review", data={**GOOD, "csrf_token": token}).status_code == 200
    assert env.store.list_orders() == [] and env.store.get_user("x") is None


def test_every_admin_route_refuses_a_user(app, env: Env) -> None:
    client = app.test_client()
    token = login(client, "alice")
    admin = {ep for ep, fn in app.view_functions.items()
             if ep.startswith("ui.") and getattr(fn, "admin_only", False)}
    assert len(admin) >= 13
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in admin:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "root")
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            resp = client.open(path, method=method, data={"csrf_token": token, "name": "x",
                                                          "role": "admin", "enable": "0"})
            assert resp.status_code == 403, (method, path)
    assert env.store.get_user("root").role == "admin" and env.store.get_user("x") is None


@pytest.mark.parametrize("nxt,lands", [("/ui/profiles", "/ui/profiles"),
                                       ("//evil.example/ui/", "/ui/"),
                                       ("https://evil.example/", "/ui/")],
                         ids=["inside the UI", "protocol-relative", "absolute URL"])
def test_login_redirects_only_into_the_ui(app, nxt: str, lands: str) -> None:
    client = app.test_client()
    resp = client.post("/ui/login", data={"username": "alice", "password": "alice-password",
                                          "next": nxt, "csrf_token": csrf(client)})
    assert resp.status_code == 303 and resp.headers["Location"] == lands


def test_login_page_says_how_to_make_the_first_admin(env: Env) -> None:
    """Issue 15 item 2: with no user yet, the log-in page is not a dead end."""
    from provisioner.core.app import Core
    from tests.fakes import FakeRenderer, MemoryStore

    core = Core(MemoryStore(), FakeRenderer(), env.core.settings)
    client = create_app(core).test_client()
    html = client.get("/ui/login").get_data(as_text=True)
    assert "No user exists yet" in html
    assert "provisioner user add admin --role admin" in html
    core.users.create("admin", "pw-pw-pw-pw", "admin")
    html = client.get("/ui/login").get_data(as_text=True)
    assert "No user exists yet" not in html and "provisioner user passwd NAME" in html


def test_deleting_needs_a_confirmation_that_says_what_goes(alice, env: Env) -> None:
    """Issue 15 item 9: the first POST only shows the confirmation; ``confirm=yes`` deletes."""
    client, token = alice
    path = order(client, token)
    oid = path.rsplit("/", 1)[1]
    page = client.post(f"/ui/orders/{oid}/delete", data={"csrf_token": token})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Delete order web01?" in html
    assert "system web01 and its netboot token" in html
    assert env.store.get_order(oid) is not None
    done = client.post(f"/ui/orders/{oid}/delete", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 303 and env.store.get_order(oid) is None
