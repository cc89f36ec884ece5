"""The IPMI 2.0 power driver, through ``pyghmi``: chassis power on/off/reset (a cycle is off,
waiting for off, then on, so a changed boot device applies), and the boot device with
``set_bootdev('network'|'hd', persist=False|True, uefiboot=...)``. IPMI has no HTTP boot
device: ``http`` is refused as unsupported.

Each request runs in a child process (``power/ipmi_call.py``) killed at the deadline: pyghmi
has no overall timeout (an unknown user name can hang a login for good) and keeps sessions in
process-wide state. The password reaches the child on its stdin, never its command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from provisioner.errors import PowerError
from provisioner.models import PowerConfig

CHILD = [sys.executable, "-m", "provisioner.power.ipmi_call"]


class IpmiDriver:
    def __init__(self, config: PowerConfig, password: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config, self._password, self._sleep = config, password, sleep

    def __repr__(self) -> str:  # never the password
        return f"IpmiDriver({self.config.address}:{self.config.port or 623}, " \
               f"user={self.config.username!r})"

    def _where(self) -> str:
        return f"IPMI at {self.config.address}:{self.config.port or 623}"

    def _do(self, op: str, **args: Any) -> Any:
        c = self.config
        req = {"address": c.address, "port": c.port or 623, "username": c.username,
               "password": self._password, "op": op, **args}
        try:
            res = subprocess.run(CHILD, input=json.dumps(req), capture_output=True, text=True,
                                 timeout=c.timeout)
        except subprocess.TimeoutExpired:
            raise PowerError("timeout", f"{self._where()}: no answer to {op} within "
                                        f"{c.timeout:g} s",
                             hint="is the BMC reachable on UDP, and is the user name right? "
                                  "(some BMCs never answer an unknown user)") from None
        try:
            out = json.loads(res.stdout)
        except json.JSONDecodeError:
            raise PowerError("failed", f"{self._where()}: the IPMI client failed "
                                       f"({res.stderr.strip()[-300:] or res.returncode})") \
                from None
        if not out.get("ok"):
            kind = str(out.get("kind") or "failed")
            if op == "boot" and kind == "failed":
                kind = "rejected"
            raise PowerError(kind, f"{self._where()}: {op}: {out.get('error')}",
                             hint="check the user name and password in the power settings"
                             if kind == "auth" else None)
        return out.get("result")

    def status(self) -> str:
        state = self._do("status")
        if state not in ("on", "off"):
            raise PowerError("failed", f"{self._where()}: unexpected power state {state!r}")
        return str(state)

    def power(self, action: str) -> None:
        if action == "cycle":
            if self.status() == "on":
                self._do("off")
                self._wait_off()
            self._do("on")
        elif action in ("on", "off", "reset"):
            self._do(action)
        else:
            raise PowerError("unsupported", f"IPMI has no power action {action!r}")

    def _wait_off(self) -> None:
        end = time.monotonic() + self.config.timeout
        while self.status() != "off":
            if time.monotonic() > end:
                raise PowerError("timeout", f"{self._where()}: still on "
                                            f"{self.config.timeout:g} s after power off")
            self._sleep(0.5)

    def set_boot(self, device: str, *, once: bool) -> None:
        if device not in ("pxe", "disk"):
            raise PowerError("unsupported", f"IPMI has no boot device {device!r} (pxe or disk; "
                                            "for UEFI HTTP boot use Redfish)")
        uefi = {"uefi": True, "legacy": False}.get(self.config.boot_mode, False)
        self._do("boot", device=device, persist=not once, uefi=uefi)
