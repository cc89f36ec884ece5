"""Issue 15: the deletion confirmation of distros, hosts, users and API tokens says what goes
with the object, computed from the store (``core/removal.py``), before anything is deleted."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
from flask.testing import FlaskClient

from provisioner.models import ApiToken, Distro, Host
from tests.orders_env import Env
from tests.web.ui.test_web_ui import app, login, order  # noqa: F401  (app is a fixture)


@pytest.fixture
def root(app) -> tuple[FlaskClient, str]:  # noqa: F811
    client = app.test_client()
    return client, login(client, "root")


def _confirm(client: FlaskClient, token: str, path: str) -> list[str]:
    """The first POST of a delete form: the confirmation page's list of what goes."""
    page = client.post(path, data={"csrf_token": token})
    assert page.status_code == 200, page.get_data(as_text=True)
    text = page.get_data(as_text=True)
    return [html.unescape(re.sub(r"<[^>]+>", "", li))
            for li in re.findall(r"<li>(.*?)</li>", text.split('id="confirm-effects"', 1)[1])]


def test_a_distro_lists_the_profiles_that_use_it(root, env: Env) -> None:
    client, token = root
    effects = _confirm(client, token, "/ui/distros/rhel5/delete")
    assert effects == ["it cannot be removed while profiles kvm5, xenpv use it: point them at "
                       "another distro or remove them first"]
    env.store.put_distro(Distro(name="f40", os_version="fedora40",
                                kernel="/srv/f40/vmlinuz", initrd="/srv/f40/initrd.img"))
    effects = _confirm(client, token, "/ui/distros/f40/delete")
    assert effects == ["no profile uses it",
                       "its boot files stay on disk (/srv/f40/vmlinuz, /srv/f40/initrd.img)"]
    assert env.store.get_distro("rhel5") and env.store.get_distro("f40")  # nothing deleted yet


def test_a_host_lists_its_guests_and_waiting_work(app, root, env: Env) -> None:  # noqa: F811
    alice = app.test_client()
    order(alice, login(alice, "alice"))
    client, token = root
    effects = _confirm(client, token, "/ui/hosts/host1/delete")
    assert effects[0] == "its agent's token stops working (the agent must be given a new one)"
    [placed] = env.store.list_orders()
    assert placed.host == "host1"
    assert effects[1] == (f"guests of orders placed on it stay defined there: web01 "
                          f"({placed.state}); delete those orders first to have its agent "
                          "remove them")
    assert re.fullmatch(r"1 work item\(s\) waiting for it are never done \(unless a host of "
                        r"this name registers again\): guest\.create web01 \(queued\)",
                        effects[2]), effects
    env.store.put_host(Host(name="spare", uri="qemu+ssh://root@spare.example/system"))
    assert _confirm(client, token, "/ui/hosts/spare/delete") == [
        "the appliance stops the agent loop it runs for it (agentless host)",
        "no order or waiting work refers to it"]
    assert client.post("/ui/hosts/nosuch/delete", data={"csrf_token": token}).status_code == 404
    assert env.store.get_host("host1") is not None


def test_a_user_lists_their_orders(app, root, env: Env) -> None:  # noqa: F811
    alice = app.test_client()
    order(alice, login(alice, "alice"))
    [placed] = env.store.list_orders()
    client, token = root
    effects = _confirm(client, token, "/ui/users/alice/delete")
    assert effects == [
        "they can no longer log in",
        f"their orders and guests stay (admins still see and can delete them): web01 "
        f"({placed.state} on host1)",
        "API tokens belong to no user: revoke any they used on the API tokens page"]
    assert _confirm(client, token, "/ui/users/bob/delete")[1] == "they have no order"
    assert _confirm(client, token, "/ui/users/root/delete") == [
        "it cannot be removed: it is the last admin (make another admin first)"]
    assert env.store.get_user("alice") is not None


def test_a_token_says_what_still_writes(root, env: Env) -> None:
    client, token = root
    env.store.put_token(ApiToken(name="ci", token_hash="a" * 64, created=env.clock() - 7200))
    env.store.put_token(ApiToken(name="ops", token_hash="b" * 64, created=env.clock()))
    assert _confirm(client, token, "/ui/tokens/ci/delete") == [
        "scripts using it (made 2 h 00 min ago) can no longer write through the API",
        "the other API tokens keep working: ops"]
    env.store.delete_token("ops")
    assert _confirm(client, token, "/ui/tokens/ci/delete")[1] == (
        "it is the last API token: nothing can write through the API until a new one is made "
        "(this page or `provisioner token create NAME`)")
    env.core.settings = dataclasses.replace(env.core.settings, api_token="bootstrap-token")
    assert "the bootstrap token of the settings (api_token) keeps working" in _confirm(
        client, token, "/ui/tokens/ci/delete")[1]
    assert [t.name for t in env.store.list_tokens()] == ["ci"]
