"""Reinstall: take a machine from running to freshly installed, without anyone at the console.

For each system (:meth:`Reinstaller.reinstall_one`), in this order, each step in its timeline:

1. ``checking``: the controller answers (reachable, the credentials work) and says on or off;
2. ``override``: a one-time boot from the network (``pxe`` or UEFI ``http``);
3. ``netboot``: the system's netboot flag on, so DHCP/TFTP hand it the installer;
4. ``cycling``: power-cycled (off then on; on when it was off);
5. ``netbooting`` -> ``installing``: the timeline is followed (DHCP, boot config, kickstart,
   the installer's ``started`` callback) until the ``done`` callback, which turns netboot off;
6. ``finishing``: the boot device is set to ``disk`` explicitly (BMCs and emulators differ on
   "next boot only", so nothing relies on it) and a machine the installer powered off is
   powered on: it boots its new system from its disk.

A failure before the power-cycle puts back what was changed (netboot as it was, the boot device
to disk); a failed install or the deadline puts netboot back as it was before the action and the
boot device to disk, so no machine is left to loop into the installer. Every controller call is
bounded by its driver's timeout and nothing is retried; the whole run by the per-machine
``timeout``.

Bulk (:meth:`Reinstaller.start`): several systems, at most ``concurrency`` at once, each with its
own deadline; :class:`Job` holds each system's progress (stage, message, times) for the API, the
UI and the CLI, which also see every step in the timelines.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.core.ports import PowerDriver, Store
from provisioner.core.power import Actor, Power
from provisioner.errors import Conflict, Invalid, NotFound, PowerError, ProvisionerError
from provisioner.models import Event, EventKind, system_subject

log = logging.getLogger(__name__)

STAGES = ("queued", "checking", "override", "netboot", "cycling", "netbooting", "installing",
          "finishing", "done", "failed")
NET_BOOTS = ("pxe", "http")
#: timeline kinds that show the machine is network-booting from us
NETBOOT_SIGNS = {EventKind.DHCP_ACK, EventKind.PROXY_ACK, EventKind.BOOT_CONFIG, EventKind.TFTP,
                 EventKind.HTTP_ASSET, EventKind.KICKSTART}
MAX_TIMEOUT = 4 * 3600.0
MAX_CONCURRENCY = 64


@dataclass
class Progress:
    """One system's reinstall as the job shows it."""

    system: str
    stage: str = "queued"
    message: str = ""
    started: float = 0.0
    updated: float = 0.0
    finished: float = 0.0

    @property
    def ok(self) -> bool | None:
        return {"done": True, "failed": False}.get(self.stage)

    def as_dict(self) -> dict[str, Any]:
        return {"system": self.system, "stage": self.stage, "message": self.message,
                "ok": self.ok, "started": self.started, "updated": self.updated,
                "finished": self.finished}


@dataclass
class Job:
    id: str
    by: str
    boot: str
    timeout: float
    concurrency: int
    created: float
    systems: dict[str, Progress] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return all(p.stage in ("done", "failed") for p in self.systems.values())

    def as_dict(self) -> dict[str, Any]:
        counts = {s: sum(p.stage == s for p in self.systems.values()) for s in ("done", "failed")}
        return {"id": self.id, "by": self.by, "boot": self.boot, "timeout": self.timeout,
                "concurrency": self.concurrency, "created": self.created,
                "finished": self.finished, **counts,
                "systems": [p.as_dict() for p in self.systems.values()]}


class Failed(Exception):
    """A reinstall step failed; ``stage`` is where."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class Reinstaller:
    def __init__(self, store: Store, power: Power, set_netboot: Callable[[str, bool], None],
                 events: Callable[[str], list[Event]], record: Callable[[str, str, dict[str, Any]],
                                                                        None],
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, poll: float = 1.0,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12]) -> None:
        self.store, self.power, self._set_netboot = store, power, set_netboot
        self._events, self._record, self.clock, self.sleep = events, record, clock, sleep
        self.poll, self.new_id = poll, new_id
        self.jobs: dict[str, Job] = {}
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    # ---- jobs --------------------------------------------------------------------------------

    def prepare(self, names: Sequence[str], actor: Actor, *, boot: str = "pxe",
                timeout: float = 1800.0, concurrency: int = 4) -> Job:
        """Check everything first (names, roles, power settings, limits): a bad request starts
        nothing."""
        if isinstance(names, str) or not names or not all(isinstance(n, str) for n in names):
            raise Invalid("give one or more system names", field="systems")
        if len(set(names)) != len(names):
            raise Invalid("a system is named twice", field="systems")
        if boot not in NET_BOOTS:
            raise Invalid(f"boot must be one of {', '.join(NET_BOOTS)}", field="boot")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
                or not 30 <= timeout <= MAX_TIMEOUT:
            raise Invalid(f"timeout must be 30..{MAX_TIMEOUT:g} seconds", field="timeout")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) \
                or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise Invalid(f"concurrency must be 1..{MAX_CONCURRENCY}", field="concurrency")
        for name in names:
            self.power.check_control(name, actor)
            self.power.config(name)
        with self._lock:
            busy = sorted(set(names) & self._busy)
            if busy:
                raise Conflict(f"already being reinstalled: {', '.join(busy)}")
            job = Job(id=self.new_id(), by=actor.name, boot=boot, timeout=float(timeout),
                      concurrency=concurrency, created=self.clock(),
                      systems={n: Progress(n, updated=self.clock()) for n in names})
            self._busy.update(names)
            self.jobs[job.id] = job
        return job

    def start(self, names: Sequence[str], actor: Actor, **options: Any) -> Job:
        """:meth:`prepare`, then run it in the background; follow it with :meth:`job`."""
        job = self.prepare(names, actor, **options)
        threading.Thread(target=self.run, args=(job, actor), name=f"reinstall-{job.id}",
                         daemon=True).start()
        return job

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no reinstall job {job_id}")
        return job

    def latest(self, system: str) -> Progress | None:
        """The system's progress in the newest job that has it (None: never reinstalled by
        this process; its timeline still has every earlier run)."""
        jobs = [j for j in self.jobs.values() if system in j.systems]
        return max(jobs, key=lambda j: j.created).systems[system] if jobs else None

    def run(self, job: Job, actor: Actor) -> Job:
        """Run every system of ``job``, at most ``job.concurrency`` at once; blocks."""
        try:
            with concurrent.futures.ThreadPoolExecutor(job.concurrency, "reinstall") as pool:
                futures = [pool.submit(self._guarded, job, p, actor)
                           for p in job.systems.values()]
                concurrent.futures.wait(futures)
        finally:
            with self._lock:
                self._busy.difference_update(job.systems)
            job.done.set()
        return job

    def _guarded(self, job: Job, progress: Progress, actor: Actor) -> None:
        try:
            self.reinstall_one(progress, actor, boot=job.boot, timeout=job.timeout)
        except Exception as exc:  # a bug must not leave the job hanging
            log.exception("reinstall of %s failed unexpectedly", progress.system)
            self._stage(progress, "failed", f"internal error: {type(exc).__name__}: {exc}")

    # ---- one system ---------------------------------------------------------------------------

    def _stage(self, p: Progress, stage: str, message: str = "") -> None:
        p.stage, p.message, p.updated = stage, message, self.clock()
        if stage in ("done", "failed"):
            p.finished = p.updated
        elif stage not in ("queued", "checking"):
            self._record(system_subject(p.system), EventKind.REINSTALL_PROGRESS,
                         {"stage": stage, **({"message": message} if message else {})})

    def reinstall_one(self, p: Progress, actor: Actor, *, boot: str, timeout: float) -> bool:
        name = p.system
        t0 = p.started = self.clock()
        deadline = t0 + timeout
        subject = system_subject(name)
        self._record(subject, EventKind.REINSTALL_STARTED,
                     {"by": actor.name, "boot": boot, "timeout": timeout})
        system = self.store.get_system(name)
        if system is None:
            return self._fail(p, "checking", f"no system {name}", None, None)
        netboot_before = system.netboot_enabled
        changed: dict[str, bool] = {"override": False, "netboot": False}
        driver: PowerDriver | None = None
        try:
            self._stage(p, "checking", "asking the power controller")
            driver = self.power.driver(name)
            was = self.power.run(name, actor, {"action": "status"}, lambda d: d.status(),
                                 driver)
            self._stage(p, "override", f"one-time boot from {boot}")
            try:
                self.power.run(name, actor, {"action": "boot", "device": boot, "once": True},
                               lambda d: d.set_boot(boot, once=True), driver)
            except PowerError as exc:
                changed["override"] = exc.kind == "timeout"  # may have been applied
                raise
            changed["override"] = True
            self._stage(p, "netboot", "netboot on")
            if not netboot_before:
                self._set_netboot(name, True)
                changed["netboot"] = True
            action = "cycle" if was == "on" else "on"
            self._stage(p, "cycling", f"power {action} (it was {was})")
            self.power.run(name, actor, {"action": action}, lambda d: d.power(action), driver)
        except ProvisionerError as exc:
            return self._fail(p, p.stage, str(exc),
                              netboot_before if changed["netboot"] else None,
                              driver if changed["override"] else None, actor)
        self._stage(p, "netbooting", "waiting for it to boot from the network")
        assert driver is not None
        outcome = self._follow(p, t0, deadline)
        if outcome != "done":
            return self._fail(p, p.stage, outcome, netboot_before, driver, actor)
        return self._finish(p, actor, driver, t0)

    def _follow(self, p: Progress, t0: float, deadline: float) -> str:
        """Watch the timeline from ``t0`` until ``done``; else why not (failed, deadline)."""
        last, signs = -1, set()
        while True:
            for e in self._events(p.system):
                if e.at < t0 or (e.id is not None and e.id <= last):
                    continue
                last = e.id if e.id is not None else last
                if e.kind in NETBOOT_SIGNS and p.stage == "netbooting" and e.kind not in signs:
                    signs.add(e.kind)
                    self._stage(p, "netbooting", f"network boot seen: {e.kind}")
                elif e.kind == EventKind.CALLBACK_STARTED:
                    self._stage(p, "installing", "the installer is running")
                elif e.kind == EventKind.CALLBACK_DONE:
                    return "done"
                elif e.kind == EventKind.CALLBACK_FAILED:
                    return "the installer reported failure (callback failed)"
            left = deadline - self.clock()
            if left <= 0:
                return (f"no 'done' from the installer within {deadline - t0:g} s "
                        f"(last stage: {p.stage})")
            self.sleep(min(self.poll, left))

    def _finish(self, p: Progress, actor: Actor, driver: PowerDriver, t0: float) -> bool:
        name = p.system
        self._stage(p, "finishing", "installed: boot from disk")
        system = self.store.get_system(name)
        if system is not None and system.netboot_enabled:  # the callback turns it off
            self._set_netboot(name, False)
        try:
            self.power.run(name, actor, {"action": "boot", "device": "disk", "once": False},
                           lambda d: d.set_boot("disk", once=False), driver)
            now = self._settled_state(driver)
            if now == "off":
                self.power.run(name, actor, {"action": "on"}, lambda d: d.power("on"), driver)
        except PowerError as exc:
            return self._fail(p, "finishing", f"installed, but {exc}", None, None)
        self._refresh(name)
        self._record(system_subject(name), EventKind.REINSTALL_DONE,
                     {"by": actor.name, "seconds": round(self.clock() - t0, 1)})
        self._stage(p, "done", "installed; booting from its disk")
        return True

    def _settled_state(self, driver: PowerDriver, wait: float = 30.0) -> str:
        """After ``done`` an installer reboots or powers off: give it ``wait`` seconds to be
        off (then we power it on); a machine still on after that rebooted by itself."""
        end = self.clock() + wait
        while True:
            state = driver.status()
            if state == "off" or self.clock() >= end:
                return state
            self.sleep(min(2.0, max(0.1, end - self.clock())))

    def _refresh(self, name: str) -> None:
        """The stored power state as it is after the run (what the page shows next)."""
        try:
            self.power.refresh(name)
        except ProvisionerError:
            pass

    def _fail(self, p: Progress, stage: str, reason: str, netboot: bool | None,
              driver: PowerDriver | None, actor: Actor | None = None) -> bool:
        """Record the failure after putting back what was changed (each step best effort)."""
        name = p.system
        restored: dict[str, Any] = {}
        if netboot is not None:
            try:
                self._set_netboot(name, netboot)
                restored["netboot"] = netboot
            except ProvisionerError as exc:
                restored["netboot_error"] = str(exc)
        if driver is not None:
            try:
                self.power.run(name, actor or Actor("reinstall", True),
                               {"action": "boot", "device": "disk", "once": False},
                               lambda d: d.set_boot("disk", once=False), driver)
                restored["boot"] = "disk"
            except PowerError as exc:
                restored["boot_error"] = str(exc)
        if driver is not None:
            self._refresh(name)
        self._record(system_subject(name), EventKind.REINSTALL_FAILED,
                     {"stage": stage, "reason": reason, "restored": restored,
                      "seconds": round(self.clock() - p.started, 1)})
        self._stage(p, "failed", f"{stage}: {reason}")
        return False
