"""A simulated machine behind the PowerDrivers port, for the use-case tests of ``core/power.py``
and ``core/reinstall.py`` (roles, timelines, netboot bookkeeping, deadlines, concurrency).

A test double on purpose, and only here: the drivers themselves are tested against real
emulators (``test_redfish.py``, ``test_ipmi.py``) and real reinstalls run in
``test_reinstall_lab.py``. The simulation follows what a machine does: powered on while its
next boot is the network and the appliance's netboot flag is on, it "installs" (the boot
config, kickstart and callback events the real appliance records, and the installer's
``started``/``done`` callbacks through the real ``Core.callback``), then powers off or reboots.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet

from provisioner.core.app import Core
from provisioner.core.keyring import Keyring
from provisioner.core.power import Power
from provisioner.core.reinstall import Reinstaller
from provisioner.errors import PowerError
from provisioner.models import EventKind, PowerConfig, system_subject
from provisioner.settings import Settings
from provisioner.store.cipher import FernetCipher
from provisioner.store.memory import MemoryStore
from tests.fakes import FakeRenderer
from tests.fixtures import fill


@dataclass
class Clock:
    now: float = 1_800_000_000.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(seconds, 0.001)


@dataclass
class Machine:
    """One simulated machine; ``fail`` maps an op (status, boot, on, off, cycle) to a
    PowerError kind it raises; ``install`` says how the installer ends (done, failed, never)."""

    name: str
    core: Core
    clock: Clock
    state: str = "on"
    boot: str = "disk"
    fail: dict[str, str] = field(default_factory=dict)
    install: str = "done"
    after_done: str = "off"  # the installer powers off ("off") or reboots ("on")
    calls: list[tuple[str, Any]] = field(default_factory=list)
    hold: threading.Event | None = None  # a cycle waits on it (concurrency tests)
    running: list[str] | None = None

    def _maybe_fail(self, op: str) -> None:
        kind = self.fail.get(op)
        if kind:
            raise PowerError(kind, f"simulated {kind} on {op}")

    def status(self) -> str:
        self.calls.append(("status", None))
        self._maybe_fail("status")
        return self.state

    def power(self, action: str) -> None:
        self.calls.append(("power", action))
        self._maybe_fail(action)
        if action == "off":
            self.state = "off"
            return
        self.state = "on"
        if action in ("on", "cycle"):
            self._booted()

    def set_boot(self, device: str, *, once: bool) -> None:
        self.calls.append(("boot", (device, once)))
        self._maybe_fail("boot")
        self.boot = device

    def _booted(self) -> None:
        system = self.core.get_system(self.name)
        if self.boot not in ("pxe", "http") or not system.netboot_enabled:
            return
        if self.running is not None:
            self.running.append(self.name)
        if self.hold is not None:
            self.hold.wait(10)
        subject = system_subject(self.name)
        for kind in (EventKind.DHCP_ACK, EventKind.BOOT_CONFIG, EventKind.KICKSTART):
            self.core.record_event(subject, kind, {})
            self.clock.sleep(1)
        if self.install == "never":
            return
        self.core.callback(system.token, "started")
        self.clock.sleep(5)
        self.core.callback(system.token, self.install)
        self.state = self.after_done
        if self.running is not None:
            self.running.remove(self.name)


class Drivers:
    def __init__(self) -> None:
        self.machines: dict[str, Machine] = {}
        self.opened: list[tuple[PowerConfig, str]] = []

    def open(self, config: PowerConfig, password: str) -> Machine:
        self.opened.append((config, password))
        return self.machines[config.system]


@dataclass
class Env:
    core: Core
    store: MemoryStore
    clock: Clock
    drivers: Drivers
    power: Power
    reinstall: Reinstaller

    def machine(self, name: str, **kw: Any) -> Machine:
        m = Machine(name, self.core, self.clock, **kw)
        self.drivers.machines[name] = m
        return m

    def kinds(self, name: str) -> list[str]:
        return [e.kind for e in self.core.timeline(name)]


def make_env(tmp_key: bytes | None = None) -> Env:
    clock = Clock()
    store = MemoryStore()
    core = Core(store, FakeRenderer(), Settings(), clock=clock)
    fill(core)
    keyring = Keyring(store, FernetCipher(tmp_key or Fernet.generate_key()), clock)
    drivers = Drivers()
    power = Power(store, store, keyring, drivers, core.record_event, clock)

    def set_netboot(name: str, on: bool) -> None:
        core.update_system(name, {"netboot_enabled": on})

    reinstall = Reinstaller(store, power, set_netboot=set_netboot,
                            events=lambda n: core.timeline(n, 500), record=core.record_event,
                            clock=clock, sleep=clock.sleep, poll=1.0)
    return Env(core, store, clock, drivers, power, reinstall)
