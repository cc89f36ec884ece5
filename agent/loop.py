"""``provisioner-agent run``: the agent's work loop with the appliance.

register (host token, probe facts, capacity) -> long-poll -> execute -> report, and between
polls watch the guests it made. Work kinds:

* ``guest.create``: virt-install options (``payload["argv"]``, or built from an order's fields)
  -> bridge check (or plan, when a bridge hook is given) -> disk images -> define the install
  phase -> start. The guest's UUID is derived from the work item's idempotency key, so a replay
  after a crash finds the guest it already made (same name and UUID) and carries on; it never
  defines a second one, and never redefines a guest that is running or already installed.
* ``guest.stop``: ask the guest to shut down (ACPI); ``guest.destroy`` / ``guest.delete``: power
  off; ``delete`` also undefines and removes storage.
* ``bridge.ensure``: the bridge exists (planned with the host-prep bridge plan when wired).
* ``guest.power``: the appliance's libvirt power driver: status/on/off/cycle/reset or the boot
  device of the next start (``guest/power.py``); refused when it arrives after its
  ``not_after`` time (the appliance gave up waiting: a late power action must not happen).

Per guest, a small JSON state file remembers the phase (``guest_state.py``); the watcher
turns a finished install phase into the final definition and reports every state change
(``guestwork.py``, which also does each work kind). Events and results that cannot be delivered
wait in an outbox (``outbox.py``). Everything blocking has a timeout; the loop is bounded by
the ``stop`` event (and ``max_items`` for tests). Settings and the never-retried error codes:
``loopconfig.py``.
"""


from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.client import AgentClient, ApiError, Unavailable
from agent.facts.model import HostFacts
from agent.guest.caps import Caps
from agent.guest.cpumap import index_order, read_index, usable_models
from agent.guest.errors import GuestError
from agent.guest.osinfo.db import OsinfoDB
from agent.guest.virt import Virt
from agent.guestwork import GuestWork
from agent.loopconfig import PERMANENT, LoopConfig

__all__ = ["PERMANENT", "WORK", "Agent", "LoopConfig"]

log = logging.getLogger(__name__)


@dataclass
class Agent(GuestWork):
    client: AgentClient
    virt: Virt
    facts: HostFacts
    caps: Caps
    config: LoopConfig
    osinfo: OsinfoDB | None = None
    ensure_bridge: Callable[[str], None] | None = None  # the host-prep bridge plan, if wired
    doctor: Callable[[], dict[str, Any]] | None = None  # `provisioner-agent doctor`'s report
    rotate_tls: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # agent/tlsrotate.py
    sleep: Callable[[float], None] = time.sleep
    outbox: collections.deque = field(default_factory=collections.deque)
    registered: bool = False
    doctor_sent: float | None = None  # time.monotonic() of the last doctor report attempt

    # -- talking to the appliance ------------------------------------------------------------------
    def register(self) -> None:
        caps = {"vcpus": self.facts.cpu.threads, "ram_mb": self.facts.mem_kib // 1024,
                "image_dir_free_bytes": self.facts.image_dir_free_bytes,
                "bridges": [b.name for b in self.facts.network.bridges],
                "domain_types": sorted({t for g in self.caps.guests for t in g.domain_types}),
                **self._limits()}
        self.client.register(self.facts.to_dict(), caps)
        self.registered = True
        self.send_doctor()

    def send_doctor(self) -> None:
        """The doctor's report to the appliance (the host page shows it); best effort: a
        diagnosis that fails or cannot be sent never stops the work loop."""
        if self.doctor is None:
            return
        self.doctor_sent = time.monotonic()
        try:
            self.client.doctor(self.doctor())
        except (Unavailable, ApiError, OSError, ValueError) as exc:
            log.warning("doctor report not sent: %s", exc)

    def _limits(self) -> dict[str, Any]:
        """What the appliance checks orders against before queueing them (and where each
        figure comes from): vCPU maximum per domain type, host RAM, pool free space, and the
        named CPU models it can run (oldest first: the appliance picks one all hosts share for a
        migratable guest, ``agent/guest/cpumap.py``)."""
        max_vcpus, cpu_models = {}, {}
        index = read_index()
        order = index_order(index, self.caps.host_arch) if index else []
        for dt in sorted({t for g in self.caps.guests for t in g.domain_types}):
            dc = self.virt.domcaps(dt, self.caps.host_arch, None)
            if dc is not None and dc.max_vcpus:
                max_vcpus[dt] = dc.max_vcpus
            models = usable_models(dc, order)
            if models:
                cpu_models[dt] = models
        pools, _ = self.virt.pools()
        return {"max_vcpus": max_vcpus, "cpu_models": cpu_models,
                "cpu_vendor": self.caps.host_cpu_vendor,
                "host_ram_mb": (self.caps.host_memory_kib or self.facts.mem_kib) // 1024,
                "host_cores": self.caps.host_cores or self.facts.cpu.cores,
                "pools": {p.name: p.available for p in pools if p.available is not None}}

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event, max_items: int | None = None) -> int:
        """Work until ``stop`` is set (or ``max_items`` items are done); returns items done."""
        done, backoff = 0, 0.5
        while not stop.is_set() and (max_items is None or done < max_items):
            try:
                if not self.registered:
                    self.register()
                self._watch_safely()
                if self.doctor_sent is not None and self.config.doctor_interval > 0 and \
                        time.monotonic() - self.doctor_sent >= self.config.doctor_interval:
                    self.send_doctor()          # the host page's report stays current
                if not self.flush():
                    raise Unavailable("outbox not delivered")
                asked = time.monotonic()
                work = self.client.poll(self.config.poll_timeout)
                backoff = 0.5
                if work is None and time.monotonic() - asked < 1.0:
                    stop.wait(1.0)  # the appliance answered at once (busy): don't spin
            except Unavailable as exc:
                log.info("appliance unavailable: %s (retry in %.1fs)", exc, backoff)
                stop.wait(backoff)
                backoff = min(self.config.max_backoff, backoff * 2)
                continue
            except ApiError as exc:
                if exc.status == 401:
                    self.registered = False
                log.error("appliance refused: %s", exc)
                stop.wait(backoff)
                backoff = min(self.config.max_backoff, backoff * 2)
                continue
            if work is not None:
                self.handle(work)
                done += 1
        return done

    def _watch_safely(self) -> None:
        """Watching never stops the loop: libvirt trouble is logged and retried next round."""
        try:
            self.virt.reconnect_if_needed()
            self.watch()
        except Exception:  # libvirtd restarting, a guest vanishing mid-call...
            log.exception("watching guests failed; retrying next round")

    def handle(self, work: dict[str, Any]) -> dict[str, Any] | None:
        """Execute one leased item and report its result (or failure)."""
        wid = work["id"]
        try:
            self.virt.reconnect_if_needed()
            result = self.execute(work)
        except GuestError as exc:
            self.event("guest.failed", {"error": str(exc), "code": exc.code}, work=wid,
                       system=self._system(work))
            self._send("fail", work=wid, error=f"{exc.code}: {exc}",
                       retry=exc.code not in PERMANENT)
            return None
        except Exception as exc:  # a bug or an unexpected host failure: report, keep running
            log.exception("work %s failed", wid)
            self._send("fail", work=wid, error=f"{type(exc).__name__}: {exc}", retry=True)
            return None
        self._send("complete", work=wid, result=result)
        return result

    def execute(self, work: dict[str, Any]) -> dict[str, Any]:
        kind = work.get("kind")
        run = WORK.get(str(kind))
        if run is None:
            raise GuestError(f"unknown work kind {kind!r}", "UNKNOWN_KIND")
        return run(self, work)


#: work kind (``provisioner.core.orders.KINDS``) -> what the agent does for it
WORK: dict[str, Callable[[Agent, dict[str, Any]], dict[str, Any]]] = {
    "guest.create": Agent.create,
    "bridge.ensure": Agent.ensure_bridge_work,
    "guest.stop": Agent.stop_guest,
    "guest.destroy": Agent.destroy_guest,
    "guest.delete": Agent.delete_guest,
    "tls.rotate": Agent.rotate_tls_work,
    "guest.power": Agent.power_guest,
}
