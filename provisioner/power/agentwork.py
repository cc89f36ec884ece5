"""The libvirt power driver: a guest the appliance created is controlled through the agent of its
host, with ``guest.power`` work items (``agent/guest/power.py`` does them). The same path
serves agent hosts and agentless ones (the appliance runs an agent loop against an agentless
host's libvirt URI, ``remote/loops.py``), so the guest's libvirt is always the host's own.

Each call queues one item and waits for its result, bounded by the settings' ``timeout``; an
item not done by then is marked failed (a late agent's result is ignored) and carries a
``not_after`` time so an agent that picks it up late refuses it: a power action never happens
after the appliance gave up on it, and nothing is retried.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from provisioner.core import orders
from provisioner.core.ports import Store
from provisioner.errors import NotFound, PowerError
from provisioner.models import PowerConfig

#: agent error codes -> our kinds
CODES = {"POWER_NO_GUEST": "missing", "NOT_FOUND": "missing", "POWER_UNSUPPORTED": "unsupported",
         "POWER_EXPIRED": "timeout", "NOT_RUNNING": "rejected", "BAD_OPTION": "unsupported",
         "LIBVIRT_DOWN": "unreachable", "UNKNOWN_KIND": "unsupported"}


class AgentGuestPower:
    def __init__(self, config: PowerConfig, store: Store,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, step: float = 0.2) -> None:
        self.config, self.store, self.clock, self.sleep, self.step = \
            config, store, clock, sleep, step

    def __repr__(self) -> str:
        return f"AgentGuestPower({self.config.address}/{self.config.domain})"

    def _where(self) -> str:
        return f"libvirt guest {self.config.domain} on host {self.config.address}"

    def _do(self, op: str, **args: Any) -> dict[str, Any]:
        c = self.config
        now = self.clock()
        payload = {"system": c.system, "name": c.domain, "op": op, "not_after": now + c.timeout,
                   **args}
        try:
            item = orders.enqueue(self.store, c.address, "guest.power", payload, now=now)
        except NotFound:
            raise PowerError("unreachable", f"{self._where()}: host {c.address!r} is not "
                                            "registered (no agent to ask)") from None
        deadline = now + c.timeout
        while True:
            got = self.store.get_work(item.id)
            if got is not None and got.state == "done":
                return dict(got.result)
            if got is not None and got.state == "failed":
                raise self._failure(op, str(got.result.get("error") or "failed"))
            if self.clock() >= deadline:
                return self._expire(item.id, op)
            self.sleep(self.step)

    def _failure(self, op: str, error: str) -> PowerError:
        code = error.split(":", 1)[0].strip()
        return PowerError(CODES.get(code, "failed"), f"{self._where()}: {op}: {error}")

    def _expire(self, work_id: str, op: str) -> dict[str, Any]:
        got = self.store.get_work(work_id)
        if got is not None and got.state == "done":  # just in time
            return dict(got.result)
        if got is not None and got.state != "failed":
            self.store.put_work(dataclasses.replace(
                got, state="failed", lease_until=0.0, updated=self.clock(),
                result={"error": "the appliance stopped waiting (timeout)"}))
        host = self.store.get_host(self.config.address)
        seen = (f"its agent last polled {self.clock() - host.last_seen:.0f} s ago"
                if host is not None and host.last_seen else "its agent never polled")
        raise PowerError("timeout", f"{self._where()}: {op} not done within "
                                    f"{self.config.timeout:g} s ({seen})",
                         hint="is the host's agent running?")

    def status(self) -> str:
        return str(self._do("status").get("state") or "off")

    def power(self, action: str) -> None:
        if action not in ("on", "off", "cycle", "reset"):
            raise PowerError("unsupported", f"libvirt has no power action {action!r}")
        self._do(action)

    def set_boot(self, device: str, *, once: bool) -> None:
        if device not in ("pxe", "disk"):
            raise PowerError("unsupported", f"a libvirt guest boots from pxe or disk, not "
                                            f"{device!r} (its iPXE fetches over HTTP itself)")
        self._do("boot", device=device)
