"""Power control use-cases: who may do what, each system's controller settings and password,
actions with their results in the timeline, and the polled power state.

* **Roles**: an admin (API token, CLI, UI admin) may control every system; a UI user only the
  guests of their own orders (an order whose ``system`` is that system). Settings are admin only.
* **Credentials**: the BMC password goes straight into the keyring (``core/keyring.py``:
  encrypted with the appliance's key before the store sees it) under :func:`bmc_secret_name`;
  nothing here returns or logs it. :meth:`Power.settings` says only whether one is set.
* **Actions** (:meth:`Power.act`, :meth:`Power.set_boot`): the driver is made per call from the
  settings (``PowerDrivers`` port, ``provisioner/power/``); the action, who asked, how long it
  took and the result (or the controller's error) land in the system's timeline.
* **State** (:meth:`Power.refresh`, :meth:`Power.poll_all`): asked of the controller, stored with
  when it was asked and when it last answered; a change is a ``power:state`` event. A libvirt
  guest's state comes from its agent's ``guest.state`` reports and the host's last contact
  (the agent watches its guests every round), so polling costs no work item.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner.core.keyring import Keyring
from provisioner.core.ports import PowerDriver, PowerDrivers, PowerStore, Store
from provisioner.errors import Forbidden, Invalid, NotFound, PowerError
from provisioner.models import (
    BOOT_DEVICES,
    POWER_ACTIONS,
    EventKind,
    PowerConfig,
    PowerStatus,
    bmc_secret_name,
    system_subject,
)

log = logging.getLogger(__name__)
Record = Callable[[str, str, dict[str, Any]], None]
#: ``guest.state`` values the agent reports -> power state
GUEST_STATES = {"running": "on", "paused": "on", "blocked": "on", "pmsuspended": "on",
                "shutoff": "off", "crashed": "off", "absent": "off", "shutdown": "on"}
POLL_WORKERS = 8


@dataclass(frozen=True)
class Actor:
    """Who asks: a user name and whether they are an admin (API tokens and the CLI are)."""

    name: str
    admin: bool


ADMIN = Actor("admin", True)


class Power:
    def __init__(self, store: Store, power_store: PowerStore, keyring: Keyring,
                 drivers: PowerDrivers, record: Record,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.power_store, self.keyring = store, power_store, keyring
        self.drivers, self._record, self.clock = drivers, record, clock

    # ---- roles -------------------------------------------------------------------------------

    def may_control(self, system: str, actor: Actor) -> bool:
        """Admins, or the owner of an order whose guest this system is."""
        if actor.admin:
            return True
        return any(o.system == system and o.state != "deleted"
                   for o in self.store.list_orders(owner=actor.name))

    def check_control(self, system: str, actor: Actor) -> None:
        self._system(system)
        if not self.may_control(system, actor):
            raise Forbidden(f"{actor.name} may not power-control {system}: only admins, or the "
                            "owner of the order that made this guest")

    def _system(self, name: str) -> None:
        if self.store.get_system(name) is None:
            raise NotFound(f"no system {name}")

    # ---- settings ----------------------------------------------------------------------------

    def config(self, system: str) -> PowerConfig:
        config = self.power_store.get_power_config(system)
        if config is None:
            self._system(system)
            raise Invalid(f"{system} has no power controller configured",
                          hint=f"provisioner power set {system} --driver redfish|ipmi|libvirt "
                               "--address ... (or the system page's Power settings)")
        return config

    def configure(self, system: str, data: dict[str, Any], actor: Actor) -> PowerConfig:
        """Create or change the settings; ``data["password"]`` (optional, a string) replaces
        the stored password. Admin only. The timeline names the changed fields, never values
        of secrets."""
        if not actor.admin:
            raise Forbidden("only admins change power settings")
        self._system(system)
        base = self.power_store.get_power_config(system)
        config = PowerConfig.parse(system, data, base)
        password = data.get("password")
        if password is not None and (not isinstance(password, str) or len(password) > 256
                                     or any(c in password for c in "\r\n\0")):
            raise Invalid("password must be a string of at most 256 characters on one line",
                          field="password")
        self.power_store.put_power_config(config)
        changed = sorted(k for k, v in config.as_dict().items()
                         if base is None or getattr(base, k) != v)
        if password:
            self.keyring.put(bmc_secret_name(system), password)
            changed.append("password")
        self._record(system_subject(system), EventKind.POWER_CONFIGURED,
                     {"by": actor.name, "driver": config.driver, "fields": changed,
                      "warnings": config.warnings()})
        return config

    def remove(self, system: str, actor: Actor) -> None:
        if not actor.admin:
            raise Forbidden("only admins change power settings")
        if not self.power_store.delete_power_config(system):
            raise NotFound(f"{system} has no power settings")
        self.keyring.delete(bmc_secret_name(system))
        self._record(system_subject(system), EventKind.POWER_CONFIGURED,
                     {"by": actor.name, "driver": None, "fields": ["removed"]})

    def settings(self, system: str) -> dict[str, Any]:
        """The settings as the API and UI show them: no password, only whether one is set."""
        config = self.config(system)
        out = config.as_dict()
        out.pop("system")
        out["password_set"] = self.keyring.get(bmc_secret_name(system)) is not None
        out["warnings"] = config.warnings()
        return out

    def driver(self, system: str) -> PowerDriver:
        config = self.config(system)
        return self.drivers.open(config, self.keyring.get(bmc_secret_name(system)) or "")

    # ---- actions ------------------------------------------------------------------------------

    def act(self, system: str, action: str, actor: Actor) -> PowerStatus:
        """``on``/``off``/``cycle``/``reset``, recorded with its result; the state after it."""
        if action not in POWER_ACTIONS:
            raise Invalid(f"power action must be one of {', '.join(POWER_ACTIONS)}",
                          field="action")
        self.check_control(system, actor)
        self.run(system, actor, {"action": action}, lambda d: d.power(action))
        return self.refresh(system)

    def set_boot(self, system: str, device: str, actor: Actor, *, once: bool = True) -> None:
        if device not in BOOT_DEVICES:
            raise Invalid(f"boot device must be one of {', '.join(BOOT_DEVICES)}",
                          field="device")
        self.check_control(system, actor)
        self.run(system, actor, {"action": "boot", "device": device, "once": once},
                 lambda d: d.set_boot(device, once=once))

    def run(self, system: str, actor: Actor, what: dict[str, Any],
            call: Callable[[PowerDriver], Any], driver: PowerDriver | None = None) -> Any:
        """One controller call with its timeline entry (``power:action`` or ``power:failed``)."""
        t0 = self.clock()
        detail = {**what, "by": actor.name}
        try:
            result = call(driver or self.driver(system))
        except PowerError as exc:
            self._record(system_subject(system), EventKind.POWER_FAILED,
                         {**detail, "error": str(exc), "cause": exc.kind,
                          "seconds": round(self.clock() - t0, 2)})
            raise
        self._record(system_subject(system), EventKind.POWER_ACTION,
                     {**detail, "result": "ok", "seconds": round(self.clock() - t0, 2)})
        if what.get("action") == "status" and result in ("on", "off"):
            now = self.clock()
            self._save(PowerStatus(system=system, state=str(result), checked=now,
                                   last_seen=now))
        return result

    # ---- state -------------------------------------------------------------------------------

    def status(self, system: str) -> PowerStatus:
        self.config(system)
        return self.power_store.get_power_status(system) or PowerStatus(system=system)

    def refresh(self, system: str) -> PowerStatus:
        """Ask the controller now; store and return what it said (or why it did not)."""
        config = self.config(system)
        if config.driver == "libvirt":
            return self._save(self._from_agent(config))
        now = self.clock()
        prev = self.power_store.get_power_status(system) or PowerStatus(system=system)
        try:
            state = self.driver(system).status()
        except PowerError as exc:
            return self._save(dataclasses.replace(prev, state="unknown", checked=now,
                                                  error=str(exc)))
        return self._save(PowerStatus(system=system, state=state, checked=now, last_seen=now))

    def _from_agent(self, config: PowerConfig) -> PowerStatus:
        """A libvirt guest: its agent's last ``guest.state`` report, as fresh as the host's last
        contact (the agent compares every guest's state each round and reports changes)."""
        host = self.store.get_host(config.address)
        now = self.clock()
        if host is None:
            return PowerStatus(system=config.system, checked=now,
                               error=f"host {config.address!r} is not registered")
        state = "unknown"
        for e in reversed(self.store.list_events(system_subject(config.system), 200)):
            if e.kind == EventKind.GUEST_STATE and e.detail.get("to") in GUEST_STATES:
                state = GUEST_STATES[str(e.detail["to"])]
                break
        return PowerStatus(system=config.system, state=state, checked=now,
                           last_seen=host.last_seen,
                           error="" if state != "unknown" else "no state reported by the agent")

    def _save(self, status: PowerStatus) -> PowerStatus:
        prev = self.power_store.get_power_status(status.system)
        self.power_store.put_power_status(status)
        if prev is None or prev.state != status.state:
            self._record(system_subject(status.system), EventKind.POWER_STATE,
                         {"from": prev.state if prev else None, "to": status.state,
                          **({"error": status.error} if status.error else {})})
        return status

    def poll_all(self) -> int:
        """Refresh every configured system (a few at a time); how many were asked."""
        systems = [c.system for c in self.power_store.list_power_configs()]
        with concurrent.futures.ThreadPoolExecutor(POLL_WORKERS, "power-poll") as pool:
            for system, fut in [(s, pool.submit(self.refresh, s)) for s in systems]:
                try:
                    fut.result()
                except Exception:  # a bug or a vanished system: log, never stop polling
                    log.exception("power: polling %s failed", system)
        return len(systems)
