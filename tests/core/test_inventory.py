"""CRUD use-cases: validation before writes, reference checks, conflicts."""

from __future__ import annotations

import pytest

from provisioner.core.app import Core
from provisioner.errors import Conflict, Invalid, NotFound
from provisioner.models import Distro, Interface, Profile, System
from provisioner.settings import Settings
from tests import fixtures as fx
from tests.fakes import FakeRenderer, MemoryStore


@pytest.fixture
def core() -> Core:
    c = Core(MemoryStore(), FakeRenderer(), Settings(), clock=lambda: 100.0,
             new_token=lambda: "generated")
    fx.fill(c)
    return c


def test_added_system_gets_a_token(core):
    added = core.add_system(System(name="db01", profile="base"))
    assert added.token == "generated"


ERROR_CASES = {
    "duplicate distro": (lambda c: c.add_distro(fx.DISTRO), Conflict, None),
    "duplicate profile": (lambda c: c.add_profile(fx.BASE), Conflict, None),
    "duplicate system": (lambda c: c.add_system(fx.SYSTEM), Conflict, None),
    "duplicate MAC": (lambda c: c.add_system(System("x", "base", interfaces=(Interface(fx.MAC),))),
                      Conflict, None),
    "duplicate MAC other spelling": (
        lambda c: c.add_system(System("x", "base", interfaces=(Interface("52-54-00-12-34-56"),))),
        Conflict, None),
    "duplicate IP": (lambda c: c.add_system(
        System("x", "base", interfaces=(Interface("52:54:00:00:00:99", ip="10.0.0.21"),))),
        Conflict, None),
    "profile with unknown distro": (lambda c: c.add_profile(Profile("p", distro="nope")),
                                    Invalid, "distro"),
    "profile with unknown parent": (lambda c: c.add_profile(Profile("p", parent="nope")),
                                    Invalid, "parent"),
    "inheritance cycle on update": (lambda c: c.update_profile("base", {"distro": None,
                                                                        "parent": "web"}),
                                    Invalid, "parent"),
    "system with unknown profile": (lambda c: c.add_system(System("x", "nope")), Invalid,
                                    "profile"),
    "remove distro in use": (lambda c: c.remove_distro(fx.DISTRO.name), Conflict, None),
    "remove parent profile": (lambda c: c.remove_profile("base"), Conflict, None),
    "remove profile used by system": (lambda c: c.remove_profile("web"), Conflict, None),
    "unknown field on update": (lambda c: c.update_system("web01", {"colour": "red"}),
                                Invalid, "colour"),
    "rename on update": (lambda c: c.update_distro(fx.DISTRO.name, {"name": "x"}), Invalid, "name"),
    "bad value on update": (lambda c: c.update_profile("base", {"vm": {"ram_mb": -1}}),
                            Invalid, "ram_mb"),
    "get missing system": (lambda c: c.get_system("nope"), NotFound, None),
    "remove missing distro": (lambda c: c.remove_distro("nope"), NotFound, None),
    "update missing profile": (lambda c: c.update_profile("nope", {}), NotFound, None),
}


@pytest.mark.parametrize("call,err,field", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_rejected_writes_change_nothing(core, call, err, field):
    before = (core.list_distros(), core.list_profiles(), core.list_systems())
    with pytest.raises(err) as exc:
        call(core)
    if field:
        assert exc.value.field == field
    assert (core.list_distros(), core.list_profiles(), core.list_systems()) == before


def test_update_system_keeps_its_mac_and_moves_ip(core):
    core.update_system("web01", {"interfaces": [{"mac": fx.MAC, "ip": "10.0.0.99"}]})
    assert core.store.system_by_ip("10.0.0.99").name == "web01"
    assert core.store.system_by_ip("10.0.0.21") is None


def test_remove_in_dependency_order(core):
    core.remove_system("web01")
    core.remove_profile("web")
    core.remove_profile("base")
    core.remove_distro(fx.DISTRO.name)
    assert core.list_distros() == core.list_profiles() == core.list_systems() == []


def test_profile_may_switch_from_distro_to_parent(core):
    core.add_distro(Distro("other"))
    core.add_profile(Profile("leaf", distro="other"))
    assert core.update_profile("leaf", {"distro": None, "parent": "web"}).parent == "web"
