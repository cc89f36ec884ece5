"""``core/power.py``: roles, settings and the BMC password, actions and polled state in the
timeline (over the in-memory store and a simulated machine: ``sim.py``)."""

from __future__ import annotations

import dataclasses

import pytest

from provisioner.core.power import ADMIN, Actor
from provisioner.errors import Forbidden, Invalid, NotFound, PowerError
from provisioner.models import Event, Host, Order, bmc_secret_name, system_subject
from provisioner.store.memory import MemoryStore
from tests.fixtures import SYSTEM
from tests.power.sim import make_env

NAME = SYSTEM.name
REDFISH = {"driver": "redfish", "address": "https://bmc1.example.com", "username": "root"}
ALICE, BOB = Actor("alice", False), Actor("bob", False)


@pytest.fixture
def env():
    e = make_env()
    e.machine(NAME)
    return e


def test_settings_keep_the_password_secret(env) -> None:
    env.power.configure(NAME, {**REDFISH, "password": "hunter2-BMC"}, ADMIN)
    shown = env.power.settings(NAME)
    assert shown["password_set"] is True and "password" not in shown
    assert "hunter2" not in repr(shown) and "hunter2" not in repr(env.power.keyring)
    stored = env.store.get_secret(bmc_secret_name(NAME))
    assert stored and "hunter2" not in stored  # ciphertext only
    # the driver gets it, decrypted
    env.power.driver(NAME)
    assert env.drivers.opened[-1][1] == "hunter2-BMC"
    # changing something else keeps it; a new one replaces it and is never shown
    env.power.configure(NAME, {"username": "admin"}, ADMIN)
    env.power.driver(NAME)
    assert env.drivers.opened[-1] == (env.power.config(NAME), "hunter2-BMC")
    env.power.configure(NAME, {"password": "n3w-one"}, ADMIN)
    env.power.driver(NAME)
    assert env.drivers.opened[-1][1] == "n3w-one"
    events = [e for e in env.core.timeline(NAME) if e.kind == "power:configured"]
    assert [e.detail["fields"] for e in events][-1] == ["password"]
    assert not any("hunter2" in repr(e.detail) or "n3w-one" in repr(e.detail) for e in events)


def test_only_admins_change_settings(env) -> None:
    with pytest.raises(Forbidden):
        env.power.configure(NAME, REDFISH, ALICE)
    env.power.configure(NAME, REDFISH, ADMIN)
    with pytest.raises(Forbidden):
        env.power.remove(NAME, ALICE)


@pytest.mark.parametrize("data,field", [
    ({"driver": "hpilo"}, "driver"),
    ({**REDFISH, "verify_tls": "no"}, "verify_tls"),
    ({**REDFISH, "timeout": 0}, "timeout"),
    ({**REDFISH, "timeout": True}, "timeout"),
    ({**REDFISH, "address": "ftp://bmc"}, "address"),
    ({**REDFISH, "address": "https://user:pw@bmc"}, "address"),
    ({**REDFISH, "colour": "red"}, "colour"),
    ({**REDFISH, "ca_bundle": "not a certificate"}, "ca_bundle"),
    ({"driver": "ipmi", "address": "10.0.0.5"}, "username"),
    ({"driver": "ipmi", "address": "bmc;rm -rf", "username": "u"}, "address"),
    ({"driver": "ipmi", "address": "10.0.0.5", "username": "u", "port": 70000}, "port"),
    ({"driver": "libvirt", "address": "../etc"}, None),
    ({**REDFISH, "password": 42}, "password"),
    ({**REDFISH, "password": "two\nlines"}, "password"),
])
def test_bad_settings_are_refused_and_nothing_is_stored(env, data, field) -> None:
    with pytest.raises(Invalid) as err:
        env.power.configure(NAME, data, ADMIN)
    if field:
        assert err.value.field == field
    assert env.store.get_power_config(NAME) is None
    assert env.store.get_secret(bmc_secret_name(NAME)) is None


def test_warnings_for_plain_http_and_no_verification(env) -> None:
    env.power.configure(NAME, {**REDFISH, "verify_tls": False}, ADMIN)
    assert "TLS verification is off" in env.power.settings(NAME)["warnings"][0]
    env.power.configure(NAME, {"address": "http://bmc1"}, ADMIN)
    assert "plain HTTP" in env.power.settings(NAME)["warnings"][0]


def test_actions_and_failures_land_in_the_timeline(env) -> None:
    env.power.configure(NAME, REDFISH, ADMIN)
    assert env.power.act(NAME, "off", ADMIN).state == "off"
    env.drivers.machines[NAME].fail["on"] = "auth"
    with pytest.raises(PowerError) as err:
        env.power.act(NAME, "on", ADMIN)
    assert err.value.kind == "auth"
    events = env.core.timeline(NAME)
    ok = [e for e in events if e.kind == "power:action"]
    bad = [e for e in events if e.kind == "power:failed"]
    assert ok[0].detail["action"] == "off" and ok[0].detail["by"] == "admin"
    assert bad[-1].detail["cause"] == "auth" and "simulated" in bad[-1].detail["error"]
    with pytest.raises(Invalid):
        env.power.act(NAME, "explode", ADMIN)


def test_power_needs_settings(env) -> None:
    with pytest.raises(Invalid) as err:
        env.power.act(NAME, "on", ADMIN)
    assert "provisioner power set" in (err.value.hint or "")
    with pytest.raises(NotFound):
        env.power.act("ghost", "on", ADMIN)


def test_owner_of_the_order_may_power_cycle_their_guest_only(env) -> None:
    env.power.configure(NAME, REDFISH, ADMIN)
    env.store.put_order(Order(id="o1", owner="alice", name=NAME, profile="web", system=NAME,
                              state="placed"))
    env.power.act(NAME, "cycle", ALICE)
    with pytest.raises(Forbidden):
        env.power.act(NAME, "cycle", BOB)
    with pytest.raises(Forbidden):
        env.power.set_boot(NAME, "pxe", BOB)
    env.store.put_order(dataclasses.replace(env.store.get_order("o1"), state="deleted"))
    with pytest.raises(Forbidden):
        env.power.act(NAME, "off", ALICE)


def test_refresh_stores_state_and_when_it_was_seen(env) -> None:
    env.power.configure(NAME, REDFISH, ADMIN)
    t0 = env.clock.now
    st = env.power.refresh(NAME)
    assert (st.state, st.checked, st.last_seen, st.error) == ("on", t0, t0, "")
    env.clock.sleep(60)
    env.drivers.machines[NAME].fail["status"] = "unreachable"
    st = env.power.refresh(NAME)
    assert st.state == "unknown" and st.last_seen == t0 and st.checked == t0 + 60
    assert "unreachable" in st.error
    env.power.refresh(NAME)  # the same state again: no new event
    changes = [e.detail for e in env.core.timeline(NAME) if e.kind == "power:state"]
    assert [(c["from"], c["to"]) for c in changes] == [(None, "on"), ("on", "unknown")]
    assert env.power.poll_all() == 1


def test_a_libvirt_guest_state_comes_from_its_agent(env) -> None:
    env.store.put_host(Host(name="hv1", last_seen=env.clock.now - 7))
    env.power.configure(NAME, {"driver": "libvirt", "address": "hv1"}, ADMIN)
    env.store.add_event(Event(system_subject(NAME), "guest.state",
                              {"from": "running", "to": "shutoff"}, env.clock.now - 30))
    st = env.power.refresh(NAME)
    assert (st.state, st.last_seen) == ("off", env.clock.now - 7)
    assert env.drivers.opened == []  # no work item for a poll


def test_settings_and_password_go_with_the_system(env) -> None:
    env.power.configure(NAME, {**REDFISH, "password": "x"}, ADMIN)
    env.power.refresh(NAME)
    env.core.remove_system(NAME)
    assert env.store.get_power_config(NAME) is None
    assert env.store.get_power_status(NAME) is None
    assert env.store.get_secret(bmc_secret_name(NAME)) is None


def test_remove_forgets_the_password(env) -> None:
    env.power.configure(NAME, {**REDFISH, "password": "x"}, ADMIN)
    env.power.remove(NAME, ADMIN)
    assert env.store.get_secret(bmc_secret_name(NAME)) is None
    with pytest.raises(NotFound):
        env.power.remove(NAME, ADMIN)


def test_memory_store_matches_the_contract() -> None:
    store = MemoryStore()
    assert store.list_power_configs() == [] and store.get_power_status("x") is None
