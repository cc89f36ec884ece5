"""The :class:`~provisioner.core.ports.PowerDrivers` port: a driver for a system's settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from provisioner.core.ports import PowerDriver, Store
from provisioner.errors import PowerError
from provisioner.models import PowerConfig
from provisioner.power.agentwork import AgentGuestPower
from provisioner.power.ipmi import IpmiDriver
from provisioner.power.redfish import RedfishDriver


class Drivers:
    def __init__(self, store: Store, runtime_dir: str | Path,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.store, self.ca_dir = store, Path(runtime_dir) / "power"
        self.clock, self.sleep = clock, sleep

    def open(self, config: PowerConfig, password: str) -> PowerDriver:
        if config.driver == "redfish":
            return RedfishDriver(config, password, self.ca_dir, sleep=self.sleep)
        if config.driver == "ipmi":
            return IpmiDriver(config, password, sleep=self.sleep)
        if config.driver == "libvirt":
            return AgentGuestPower(config, self.store, clock=self.clock, sleep=self.sleep)
        raise PowerError("unsupported", f"no power driver {config.driver!r}")
