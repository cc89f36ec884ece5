"""Core.boot_config for a MAC the inventory does not know, per ``unknown_policy``."""

from __future__ import annotations

import pytest

from provisioner.core.app import Core
from provisioner.errors import Invalid, NotFound
from provisioner.models import Profile
from provisioner.settings import Settings
from tests import fixtures as fx
from tests.fakes import EmptyStore, FakeRenderer, MemoryStore

SERVER = "http://10.0.0.1:8080"
UNKNOWN = "52-54-00-AA-BB-CC"  # any spelling; the event names the normalised MAC
UNKNOWN_NORM = "52:54:00:aa:bb:cc"


def make(store: str, **settings) -> Core:
    core = Core({"memory": MemoryStore, "empty": EmptyStore}[store](), FakeRenderer(),
                Settings(**settings), clock=lambda: 42.0, new_token=lambda: "tok")
    if store == "memory":
        fx.fill(core)
        core.add_profile(Profile(name="zz-last", parent="base"))
    return core


# (scenario, store, settings, mac, expected config text or exception type)
SCENARIOS = [
    ("ignore: unknown MAC is not found", "memory", {"unknown_policy": "ignore"}, UNKNOWN, NotFound),
    ("discover: unknown MAC is not found (DHCP records it)", "memory",
     {"unknown_policy": "discover"}, UNKNOWN, NotFound),
    ("menu: unknown MAC gets the menu of the first profile by name", "memory",
     {"unknown_policy": "menu"}, UNKNOWN,
     "pxelinux - base rhel9-x86_64 menu kopts='quiet console=tty0 ip=dhcp' "
     "server=http://10.0.0.1:8080\n"),
    ("menu: menu_profile chooses the profile", "memory",
     {"unknown_policy": "menu", "menu_profile": "web"}, UNKNOWN,
     "pxelinux - web rhel9-x86_64 menu kopts='quiet=0 console=ttyS0 ip=dhcp' "
     "server=http://10.0.0.1:8080\n"),
    ("menu: a menu_profile that does not exist is not found", "memory",
     {"unknown_policy": "menu", "menu_profile": "ghost"}, UNKNOWN, NotFound),
    ("menu: no profile at all is not found", "empty", {"unknown_policy": "menu"}, UNKNOWN,
     NotFound),
    ("menu: a known MAC still gets its own config", "memory", {"unknown_policy": "menu"}, fx.MAC,
     "pxelinux web01 web rhel9-x86_64 install kopts='quiet=0 console=ttyS0 ip=dhcp nomodeset' "
     "server=http://10.0.0.1:8080\n"),
    ("menu: a malformed MAC is invalid", "memory", {"unknown_policy": "menu"}, "zz", Invalid),
]


@pytest.mark.parametrize("store,settings,mac,want", [s[1:] for s in SCENARIOS],
                         ids=[s[0] for s in SCENARIOS])
def test_unknown_mac_policy(store, settings, mac, want) -> None:
    core = make(store, **settings)
    if isinstance(want, type):
        with pytest.raises(want):
            core.boot_config("pxelinux", mac, SERVER)
    else:
        assert core.boot_config("pxelinux", mac, SERVER) == want


def test_menu_renders_the_menu_context_and_records_a_discovered_event() -> None:
    core = make("memory", unknown_policy="menu")
    for kind in ("pxelinux", "grub", "ipxe"):
        text = core.boot_config(kind, UNKNOWN, SERVER, client="10.0.0.99")
        assert text.split()[:2] == [kind, "-"]
    kind, ctx = core.renderer.calls[-1]
    assert ctx.system is None and ctx.mac == UNKNOWN_NORM and ctx.profile.name == "base"
    core.events.flush()
    events = core.store.list_events(f"discovered:{UNKNOWN_NORM}", None)
    assert [(e.kind, e.detail) for e in events] == [
        ("boot-config", {"kind": k, "mac": UNKNOWN_NORM, "menu": "base", "client": "10.0.0.99"})
        for k in ("pxelinux", "grub", "ipxe")]


def test_known_system_with_a_broken_profile_is_not_given_the_menu() -> None:
    core = make("memory", unknown_policy="menu")
    core.store.put_system(fx.SYSTEM.__class__(**{**fx.SYSTEM.__dict__, "profile": "ghost"}))
    with pytest.raises(NotFound):
        core.boot_config("pxelinux", fx.MAC, SERVER)
