"""``core/reinstall.py``: the steps and their order, what is put back when a step fails, the
deadline, bulk concurrency, and the checks that start nothing (in-memory store, simulated
machines: ``sim.py``; the real thing is ``test_reinstall_lab.py``)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from provisioner.core.power import ADMIN, Actor
from provisioner.core.reinstall import Progress
from provisioner.errors import Conflict, Forbidden, Invalid, NotFound
from provisioner.models import Interface, System
from tests.fixtures import SYSTEM
from tests.power.sim import make_env

NAME = SYSTEM.name
REDFISH = {"driver": "redfish", "address": "https://bmc.example.com", "username": "root",
           "password": "pw"}


@pytest.fixture
def env():
    e = make_env()
    e.core.update_system(NAME, {"netboot_enabled": False, "status": "installed"})
    e.power.configure(NAME, REDFISH, ADMIN)
    return e


def run_one(env, boot: str = "pxe", timeout: float = 600) -> Progress:
    job = env.reinstall.prepare([NAME], ADMIN, boot=boot, timeout=timeout)
    env.reinstall.run(job, ADMIN)
    return job.systems[NAME]


def after(env, kind: str = "reinstall:started") -> list:
    events = env.core.timeline(NAME)
    start = max(i for i, e in enumerate(events) if e.kind == kind)
    return events[start:]


def test_a_running_machine_is_reinstalled_and_boots_its_disk(env) -> None:
    m = env.machine(NAME)
    p = run_one(env)
    assert p.stage == "done" and p.ok, p
    assert [c for c in m.calls if c[0] != "status"] == [
        ("boot", ("pxe", True)), ("power", "cycle"), ("boot", ("disk", False)), ("power", "on")]
    system = env.core.get_system(NAME)
    assert system.netboot_enabled is False and system.status == "installed"
    kinds = [e.kind for e in after(env)]
    want = ["reinstall:started", "power:action", "power:action", "updated",
            "reinstall:progress", "dhcp-ack", "boot-config", "kickstart", "callback:started",
            "callback:done", "power:action", "power:action", "reinstall:done"]
    it = iter(kinds)
    assert all(k in it for k in want), kinds  # each in this order (others may come between)
    stages = [e.detail["stage"] for e in after(env) if e.kind == "reinstall:progress"]
    assert stages[:4] == ["override", "netboot", "cycling", "netbooting"]
    assert "installing" in stages and stages[-1] == "finishing"


def test_a_machine_that_is_off_is_powered_on_not_cycled(env) -> None:
    m = env.machine(NAME, state="off")
    assert run_one(env).ok
    assert ("power", "on") in m.calls and ("power", "cycle") not in m.calls


def test_an_installer_that_reboots_by_itself_is_left_alone(env) -> None:
    m = env.machine(NAME, after_done="on")
    t0 = env.clock.now
    assert run_one(env).ok
    assert m.calls[-2:] == [("status", None), ("status", None)] or m.calls[-1] == ("status", None)
    assert ("power", "on") not in m.calls
    assert env.clock.now - t0 < 120  # waited ~30 s for it to power off, no more


def test_http_boot_is_passed_through(env) -> None:
    m = env.machine(NAME)
    assert run_one(env, boot="http").ok
    assert ("boot", ("http", True)) in m.calls


@pytest.mark.parametrize("netboot", [False, True])
@pytest.mark.parametrize("op,kind,stage,boot_reset", [
    ("status", "unreachable", "checking", False),
    ("status", "auth", "checking", False),
    ("boot", "rejected", "override", False),
    ("boot", "missing", "override", False),
    ("boot", "timeout", "override", True),  # may have been applied: set disk again
    ("cycle", "failed", "cycling", True),
])
def test_a_failed_step_puts_back_what_it_changed(env, netboot, op, kind, stage,
                                                 boot_reset) -> None:
    env.core.update_system(NAME, {"netboot_enabled": netboot})
    m = env.machine(NAME, fail={op: kind})
    if op == "boot" and kind == "timeout":
        m.fail = {}
        real = m.set_boot

        def first_times_out(device: str, *, once: bool) -> None:
            if device == "pxe":
                from provisioner.errors import PowerError
                raise PowerError("timeout", "no answer")
            real(device, once=once)
        m.set_boot = first_times_out  # type: ignore[method-assign]
    p = run_one(env)
    assert p.stage == "failed" and p.message.startswith(stage), p
    assert env.core.get_system(NAME).netboot_enabled is netboot
    failed = after(env)[-1]
    assert failed.kind == "reinstall:failed" and failed.detail["stage"] == stage
    assert ("boot", ("disk", False)) in m.calls or m.boot == "disk" or not boot_reset
    assert ("power", "cycle") not in m.calls or op == "cycle"
    if boot_reset:
        assert failed.detail["restored"].get("boot") == "disk"


@pytest.mark.parametrize("install,reason", [("failed", "callback failed"),
                                            ("never", "no 'done'")])
def test_an_install_that_fails_or_never_ends(env, install, reason) -> None:
    m = env.machine(NAME, install=install)
    t0 = env.clock.now
    p = run_one(env, timeout=300)
    assert p.stage == "failed" and reason in p.message, p
    system = env.core.get_system(NAME)
    assert system.netboot_enabled is False  # as before the action: no loop into the installer
    assert m.boot == "disk"
    assert after(env)[-1].detail["restored"] == {"netboot": False, "boot": "disk"}
    if install == "never":
        assert 300 <= env.clock.now - t0 < 320  # the per-machine deadline, not more


def test_bulk_runs_at_most_concurrency_at_once(env) -> None:
    """Each machine's network boot waits (1 s, real time) for a third to be inside its own:
    with concurrency 2 none comes and the peak is exactly 2; more workers or fewer would show
    (checked: the pool sized to every system gives 3, one worker gives 1)."""
    names = [f"node{i}" for i in range(6)]
    inside, peak = [0], [0]
    cond = threading.Condition()
    for i, name in enumerate(names):
        env.core.add_system(System(name=name, profile="web", netboot_enabled=False,
                                   interfaces=(Interface(mac=f"52:54:00:00:01:{i:02x}"),)))
        env.power.configure(name, REDFISH, ADMIN)
        m = env.machine(name)
        real = m._booted

        def booted(real=real, m=m) -> None:
            if m.boot == "disk":  # the power-on after the install: not a network boot
                return real()
            with cond:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
                cond.notify_all()
                cond.wait_for(lambda: inside[0] >= 3, timeout=1)
            try:
                real()
            finally:
                with cond:
                    inside[0] -= 1
        m._booted = booted  # type: ignore[method-assign]
    job = env.reinstall.prepare(names, ADMIN, concurrency=2)
    env.reinstall.run(job, ADMIN)
    assert job.finished and all(p.ok for p in job.systems.values()), job.as_dict()
    assert peak[0] == 2
    assert job.as_dict()["done"] == 6


def test_one_failure_does_not_stop_the_others(env) -> None:
    env.core.add_system(System(name="bad", profile="web",
                               interfaces=(Interface(mac="52:54:00:00:02:01"),)))
    env.power.configure("bad", REDFISH, ADMIN)
    env.machine("bad", fail={"status": "unreachable"})
    env.machine(NAME)
    job = env.reinstall.prepare(["bad", NAME], ADMIN, concurrency=1)
    env.reinstall.run(job, ADMIN)
    assert job.systems["bad"].stage == "failed" and job.systems[NAME].stage == "done"


@pytest.mark.parametrize("names,kw,err", [
    ([], {}, Invalid), ("web01", {}, Invalid), ([NAME, NAME], {}, Invalid),
    (["ghost"], {}, NotFound), ([NAME], {"boot": "disk"}, Invalid),
    ([NAME], {"timeout": 5}, Invalid), ([NAME], {"timeout": "600"}, Invalid),
    ([NAME], {"concurrency": 0}, Invalid), ([NAME], {"concurrency": 1.5}, Invalid),
])
def test_bad_requests_start_nothing(env, names, kw, err) -> None:
    env.machine(NAME)
    with pytest.raises(err):
        env.reinstall.prepare(names, ADMIN, **kw)
    assert env.reinstall.jobs == {} and env.drivers.opened == []


def test_needs_power_settings_and_the_right_to_use_them(env) -> None:
    env.core.add_system(System(name="bare", profile="web"))
    with pytest.raises(Invalid):
        env.reinstall.prepare(["bare"], ADMIN)
    with pytest.raises(Forbidden):
        env.reinstall.prepare([NAME], Actor("alice", False))


def test_a_system_is_reinstalled_by_one_job_at_a_time(env) -> None:
    m = env.machine(NAME)
    m.hold = threading.Event()
    job = env.reinstall.start([NAME], ADMIN)
    with pytest.raises(Conflict):
        env.reinstall.prepare([NAME], ADMIN)
    m.hold.set()
    assert job.done.wait(10) and job.systems[NAME].ok
    env.reinstall.prepare([NAME], ADMIN)  # free again
    assert env.reinstall.job(job.id) is job
    with pytest.raises(NotFound):
        env.reinstall.job("nope")


def test_progress_as_the_api_shows_it(env) -> None:
    env.machine(NAME)
    job = env.reinstall.prepare([NAME], ADMIN)
    d = job.as_dict()
    assert d["systems"][0]["stage"] == "queued" and d["finished"] is False
    env.reinstall.run(job, ADMIN)
    d = dataclasses.replace(job).as_dict()
    assert d["finished"] and d["done"] == 1 and d["systems"][0]["ok"] is True
