"""``/boot/<kind>/<mac>`` for a MAC the inventory does not know, per ``unknown_policy``.

The real renderer and the shipped ``templates/boot/*-menu.cfg`` over the demo inventory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.demo import seed
from provisioner.render.configs import Renderer
from provisioner.settings import Settings
from provisioner.web.app import create_app
from tests.fakes import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
UNKNOWN = "52-54-00-0A-0B-0C"
# the first line of each shipped menu variant (local boot by default)
MENU_FIRST = {
    "pxelinux": "# unknown machine 52-54-00-0a-0b-0c: local boot by default; type \"install\" "
                "for an interactive install",
    "grub": "# unknown machine 52:54:00:0a:0b:0c: local boot by default",
    "ipxe": "#!ipxe",
}


def app_client(policy: str):
    settings = Settings(templates_dir=str(ROOT / "templates"), unknown_policy=policy)
    core = Core(MemoryStore(), Renderer(settings.templates_dir), settings,
                new_token=lambda: "demo-token")
    list(seed(core))
    return core, create_app(core).test_client()


POLICIES = [("ignore", 404), ("discover", 404), ("menu", 200)]


@pytest.mark.parametrize("kind", ["pxelinux", "grub", "ipxe"])
@pytest.mark.parametrize("policy,status", POLICIES, ids=[p[0] for p in POLICIES])
def test_unknown_mac_over_http(policy: str, status: int, kind: str) -> None:
    core, client = app_client(policy)
    r = client.get(f"/boot/{kind}/{UNKNOWN}")
    assert r.status_code == status, r.text
    core.events.flush()
    events = core.store.list_events("discovered:52:54:00:0a:0b:0c", None)
    if status == 404:
        assert events == []
        return
    first_profile = sorted(p.name for p in core.list_profiles())[0]
    assert r.text.splitlines()[0] == MENU_FIRST[kind]
    assert f"Install {first_profile} interactively" in r.text
    assert "/ks/" not in r.text and "/cb/" not in r.text  # an interactive install, no kickstart
    assert [(e.kind, e.detail["kind"], e.detail["menu"]) for e in events] == [
        ("boot-config", kind, first_profile)]


def test_known_mac_is_unchanged_by_the_menu_policy() -> None:
    _, client = app_client("menu")
    r = client.get("/boot/pxelinux/52:54:00:de:00:01")
    assert r.status_code == 200 and "unknown machine" not in r.text and "/ks/token/" in r.text
