"""Core facade use-cases, each against MemoryStore (filled), EmptyStore and BrokenStore."""

from __future__ import annotations

import pytest

from provisioner.core.app import Core, hash_token
from provisioner.errors import Invalid, NotFound, RenderError, StoreError
from provisioner.models import DhcpRecord, Interface, System
from provisioner.settings import Settings
from tests import fixtures as fx
from tests.fakes import BrokenStore, EmptyStore, FakeRenderer, MemoryStore

SERVER = "http://10.0.0.1:8080"


def make(kind: str, renderer: FakeRenderer | None = None, **settings) -> Core:
    store = {"memory": MemoryStore, "empty": EmptyStore, "broken": BrokenStore}[kind]()
    core = Core(store, renderer or FakeRenderer(), Settings(**settings), clock=lambda: 42.0,
                new_token=lambda: "tok")
    if kind == "memory":
        fx.fill(store)
    return core


# (use-case, {store kind: expected value or exception type})
USE_CASES = {
    "dhcp lookup known MAC": (
        lambda c: c.dhcp_lookup("52-54-00-12-34-56"),
        {"memory": DhcpRecord(mac=fx.MAC, system="web01", ip="10.0.0.21",
                              hostname="web01.lab.example", netboot_enabled=True, arch="x86_64"),
         "empty": None, "broken": StoreError}),
    "dhcp lookup malformed MAC": (lambda c: c.dhcp_lookup("zz"),
                                  {"memory": None, "empty": None, "broken": None}),
    "boot config by MAC": (
        lambda c: c.boot_config("pxelinux", fx.MAC.upper(), SERVER),
        {"memory": "pxelinux web01 web rhel9-x86_64 install "
                   "kopts='quiet=0 console=ttyS0 ip=dhcp nomodeset' server=http://10.0.0.1:8080\n",
         "empty": NotFound, "broken": StoreError}),
    "boot config bad kind": (lambda c: c.boot_config("bios", fx.MAC, SERVER),
                             {"memory": Invalid, "empty": Invalid, "broken": Invalid}),
    "kickstart by token": (
        lambda c: c.kickstart(c.boot_context(token="tok-web01", server=SERVER)).split()[:2],
        {"memory": ["ks", "web01"], "empty": NotFound, "broken": StoreError}),
    "kickstart by name": (
        lambda c: c.kickstart(c.boot_context(system="web01", server=SERVER)).split()[:2],
        {"memory": ["ks", "web01"], "empty": NotFound, "broken": StoreError}),
    "profile context has no system": (
        lambda c: c.boot_context(profile="web").system,
        {"memory": None, "empty": NotFound, "broken": StoreError}),
    "callback done": (
        lambda c: (lambda s: (s.status, s.netboot_enabled))(c.callback("tok-web01", "done")),
        {"memory": ("installed", False), "empty": NotFound, "broken": StoreError}),
    "callback unknown event": (lambda c: c.callback("tok-web01", "exploded"),
                               {"memory": Invalid, "empty": Invalid, "broken": Invalid}),
    "dns records": (lambda c: c.dns_records(),
                    {"memory": [("web01.lab.example", "10.0.0.21")], "empty": [],
                     "broken": StoreError}),
    "resolved view": (lambda c: c.resolve_view(system="web01")["ram_mb"].source,
                      {"memory": "system", "empty": NotFound, "broken": StoreError}),
    "timeline of unknown system": (lambda c: c.timeline("ghost"),
                                   {"memory": NotFound, "empty": NotFound, "broken": StoreError}),
    "record event never raises": (lambda c: c.record_event("system:web01", "dhcp-ack", {}),
                                  {"memory": None, "empty": None, "broken": None}),
    "check token with no tokens": (lambda c: c.check_token("x"),
                                   {"memory": False, "empty": False, "broken": False}),
}
CASES = [(name, kind, call, want[kind]) for name, (call, want) in USE_CASES.items()
         for kind in ("memory", "empty", "broken")]


@pytest.mark.parametrize("name,kind,call,want", CASES, ids=[f"{c[0]} / {c[1]}" for c in CASES])
def test_use_case(name, kind, call, want):
    core = make(kind)
    if isinstance(want, type) and issubclass(want, Exception):
        with pytest.raises(want):
            call(core)
    else:
        assert call(core) == want


def test_one_shot_netboot_life_cycle():
    core = make("memory")
    assert core.boot_config("grub", fx.MAC, SERVER).split()[4] == "install"
    assert core.callback("tok-web01", "started").status == "installing"
    assert core.get_system("web01").netboot_enabled is True
    core.kickstart(core.boot_context(mac=fx.MAC, server=SERVER), client="10.0.0.21")
    done = core.callback("tok-web01", "done")
    assert (done.status, done.netboot_enabled) == ("installed", False)
    assert core.boot_config("grub", fx.MAC, SERVER).split()[4] == "local"
    kinds = [e.kind for e in core.timeline("web01")]
    assert kinds == ["boot-config", "callback:started", "kickstart", "callback:done", "boot-config"]
    assert core.timeline("web01")[2].detail == {"template": "rhel9-guest.ks", "bytes": 110,
                                                 "client": "10.0.0.21"}
    assert {e.at for e in core.timeline("web01")} == {42.0}


def test_failed_callback_keeps_netboot():
    core = make("memory")
    failed = core.callback("tok-web01", "failed")
    assert (failed.status, failed.netboot_enabled) == ("failed", True)


def test_render_error_is_raised_and_recorded():
    core = make("memory", FakeRenderer(fail=True))
    with pytest.raises(RenderError):
        core.kickstart(core.boot_context(system="web01", server=SERVER))
    (event,) = core.timeline("web01")
    assert (event.kind, event.detail["template"], event.detail["line"]) == (
        "render-error", "kickstarts/broken.ks", 3)


def test_preview_records_nothing():
    core = make("memory")
    assert core.render_preview("ipxe", "web01", SERVER).startswith("ipxe web01")
    assert core.timeline("web01") == []


def test_tokens_are_stored_hashed():
    core = make("memory", api_token="bootstrap")
    token = core.create_token("ci")
    assert core.check_token(token) and core.check_token("bootstrap")
    assert not core.check_token("") and not core.check_token(token + "x")
    (stored,) = core.store.list_tokens()
    assert stored.token_hash == hash_token(token) and token not in stored.token_hash


def test_second_interface_in_dns_and_dhcp():
    core = make("memory")
    core.update_system("web01", {"interfaces": [*fx.SYSTEM.interfaces,
                                                Interface("52:54:00:00:00:02", ip="10.0.1.21",
                                                          name="eth1")]})
    assert core.dns_records() == [("web01.lab.example", "10.0.0.21"),
                                  ("eth1.web01.lab.example", "10.0.1.21")]
    assert core.dhcp_lookup("52:54:00:00:00:02").ip == "10.0.1.21"


def test_dhcp_lookup_of_netboot_disabled_system():
    core = make("memory")
    core.add_system(System("off", "base", netboot_enabled=False,
                           interfaces=(Interface("52:54:00:00:00:03"),)))
    assert core.dhcp_lookup("52:54:00:00:00:03").netboot_enabled is False
