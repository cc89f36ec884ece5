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

Per guest, a small JSON state file (``<state_dir>/guests/<name>.json``) remembers the phase
(install/final), whether it was started and the final definition. The watcher turns a guest that
powered off at the end of its install phase into its final definition and starts it (the seed:
start it, don't reboot it), and reports every state change.

Events and results that cannot be delivered (appliance restarting) wait in an outbox and are
sent, in order, once it answers again. Everything blocking has a timeout; the loop is bounded by
the ``stop`` event (and ``max_items`` for tests).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.client import AgentClient, ApiError, Unavailable
from agent.facts.model import HostFacts
from agent.guest import power as guest_power
from agent.guest.build import Built, build_guest
from agent.guest.caps import Caps
from agent.guest.cpumap import index_order, read_index, usable_models
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.host import Host
from agent.guest.ids import Ids
from agent.guest.options import guest_from_argv
from agent.guest.osinfo.db import OsinfoDB
from agent.guest.paths import under
from agent.guest.plan import reasons
from agent.guest.virt import Virt
from agent.workitems import guest_uuid, order_argv

log = logging.getLogger(__name__)
#: Errors that will not go away by trying again.
PERMANENT = {"NAME_CLASH", "BAD_OPTION", "BAD_NAME", "BAD_MAC", "MAC_IN_USE", "KVM_NO_SCSI",
             "KVM_IDE_LIMIT", "PCI_SLOTS_EXCEEDED", "XEN_NIC_LIMIT", "XEN_IDE_LIMIT",
             "PV_REQUIRES_XEN", "PV_REQUIRES_NETWORK_TREE", "WINDOWS_REQUIRES_FULLVIRT",
             "EXTRA_ARGS_NEED_LOCATION", "PXE_NEEDS_BRIDGE", "PXE_NEEDS_NIC",
             "INSTALL_METHOD_REQUIRED", "UNKNOWN_OS_VARIANT",
             "IMAGE_OUTSIDE_IMAGE_DIR", "BRIDGE_MISSING", "HV_UNSUPPORTED", "DOC_STYLE",
             "BAD_LOCATION", "UNKNOWN_KIND", "WINDOWS_REQUIRES_LOCAL_MEDIA",
             "WINXP_NO_VIRTIO_BLOCK", "WINDOWS_VIRTIO_BOOT_NEEDS_DRIVERS", "BRIDGE_PLAN_FAILED",
             "TLS_NOT_WIRED", "TLS_BUNDLE",
             "PATH_NOT_ALLOWED", "ORDER_FIELD", "RAM_ZERO", "RAM_OVER_HOST", "VCPU_LIMIT",
             "VCPU_ZERO", "VCPU_CURRENT_OVER_MAX", "DISK_OVER_POOL", "DISK_ZERO",
             "MEMORY_REQUIRED", "DISK_REQUIRED", "OS_REQUIRED", "UNSUPPORTED_OPTION",
             "TOPOLOGY_MISMATCH", "MACHINE_UNSUPPORTED", "UEFI_UNAVAILABLE", "POOL_NOT_FOUND",
             "DISK_TARGETS_EXHAUSTED", "POWER_EXPIRED", "POWER_UNSUPPORTED", "POWER_NO_GUEST",
             "POWER_FAILED", "NOT_RUNNING"}


@dataclass
class LoopConfig:
    state_dir: str
    poll_timeout: float = 20.0
    watch_interval: float = 2.0
    virt_type: str | None = None  # force a domain type (e.g. qemu where KVM is unusable)
    graphics: str = "none"
    serial_dir: str | None = None  # when set, each guest logs its serial console there
    max_backoff: float = 10.0
    outbox_limit: int = 1000
    media_dirs: tuple[str, ...] = ()  # install media (ISOs) besides the image directory
    doctor_interval: float = 3600.0  # seconds between doctor reports (and one per registration)


@dataclass
class Agent:
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

    # -- state files ----------------------------------------------------------------------------
    def _state_path(self, name: str) -> str:
        return os.path.join(self.config.state_dir, "guests", f"{name}.json")

    def _load(self, name: str) -> dict[str, Any] | None:
        try:
            with open(self._state_path(name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _save(self, state: dict[str, Any]) -> None:
        path = self._state_path(state["name"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _forget(self, name: str) -> None:
        try:
            os.unlink(self._state_path(name))
        except FileNotFoundError:
            pass

    def managed(self) -> list[dict[str, Any]]:
        d = os.path.join(self.config.state_dir, "guests")
        if not os.path.isdir(d):
            return []
        names = sorted(f[:-5] for f in os.listdir(d) if f.endswith(".json"))
        return [s for s in (self._load(n) for n in names) if s]

    # -- talking to the appliance ------------------------------------------------------------------
    def _send(self, op: str, **kw: Any) -> None:
        """Queue one call for the appliance and flush the queue in order."""
        if len(self.outbox) >= self.config.outbox_limit:
            dropped = self.outbox.popleft()
            log.warning("outbox full, dropping %s", dropped[0])
        self.outbox.append((op, kw))
        self.flush()

    def flush(self) -> bool:
        """Deliver queued calls; False when the appliance is unreachable (they stay queued)."""
        while self.outbox:
            op, kw = self.outbox[0]
            try:
                getattr(self.client, op)(**kw)
            except Unavailable as exc:
                log.info("appliance unavailable (%s); %d call(s) waiting", exc, len(self.outbox))
                return False
            except ApiError as exc:
                if exc.status == 401:
                    self.registered = False
                    return False
                log.warning("appliance refused %s: %s", op, exc)
            self.outbox.popleft()
        return True

    def event(self, kind: str, detail: dict[str, Any], *, work: str | None = None,
              system: str | None = None) -> None:
        self._send("event", kind=kind, detail=detail, work=work, system=system)

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

    @staticmethod
    def _system(work: dict[str, Any]) -> str | None:
        p = work.get("payload") or {}
        return p.get("system") or p.get("name")

    def execute(self, work: dict[str, Any]) -> dict[str, Any]:
        kind = work.get("kind")
        run = WORK.get(str(kind))
        if run is None:
            raise GuestError(f"unknown work kind {kind!r}", "UNKNOWN_KIND")
        return run(self, work)

    def rotate_tls_work(self, work: dict[str, Any]) -> dict[str, Any]:
        if self.rotate_tls is None:
            raise GuestError("this agent does not install TLS certificates (start it with "
                             "--tls-service)", "TLS_NOT_WIRED")
        return self.rotate_tls(dict(work.get("payload") or {}))

    def ensure_bridge_work(self, work: dict[str, Any]) -> dict[str, Any]:
        bridge = str(work["payload"].get("bridge") or "")
        if not self._bridge_ok(bridge):
            raise GuestError(f"bridge {bridge!r} does not exist on this host", "BRIDGE_MISSING")
        return {"bridge": bridge}

    def stop_guest(self, work: dict[str, Any]) -> dict[str, Any]:
        """A clean shutdown request (ACPI power button)."""
        name = str(work["payload"].get("name") or "")
        state = self._load(name)
        if state:  # powered off on request: not the end of an install phase
            state["stopped"] = True
            self._save(state)
        self.virt.stop(name)
        self.event("guest.stopping", {}, work=work["id"], system=self._system(work))
        return {"name": name, "state": self.virt.state(name)}

    def power_guest(self, work: dict[str, Any]) -> dict[str, Any]:
        """The appliance's libvirt power driver (``guest.power``): one op on one guest."""
        p = work["payload"]
        name = str(p.get("name") or "")
        not_after = p.get("not_after")
        if isinstance(not_after, int | float) and time.time() > not_after:
            raise GuestError(f"power request for {name} arrived after the appliance stopped "
                             "waiting for it: not done", "POWER_EXPIRED")
        op = str(p.get("op") or "")
        state = self._load(name)
        if state and op in ("off", "cycle"):  # powered off on request: not an install's end
            state["stopped"] = op == "off"
            self._save(state)
        try:
            return guest_power.run(self.virt, name, op, p.get("device"))
        except GuestError as exc:
            if exc.code in PERMANENT:
                raise
            raise GuestError(f"{name}: {exc}", "POWER_FAILED") from None

    # -- guest.create ----------------------------------------------------------------------
    def host(self) -> Host:
        """This host as the defaults see it, now (pools and their free space change)."""
        pools, files = self.virt.pools()
        return Host(caps=self.caps, facts=self.facts, domcaps_for=self.virt.domcaps,
                    pools=pools, volumes=files, osinfo=self.osinfo)

    def build(self, work: dict[str, Any]) -> Built:
        argv = order_argv(work["payload"], self.config, self.osinfo)
        guest, _ = guest_from_argv(argv)
        uuid = guest_uuid(work)
        guest.uuid = uuid
        in_use = self.virt.known_macs(exclude_uuid=uuid)
        # MACs drawn from an RNG seeded by the guest's UUID: a replay draws the same ones
        ids = Ids(known=set(in_use) | set(work["payload"].get("known_macs") or ()), in_use=in_use,
                  randint=random.Random(uuid).randint)
        built = build_guest(guest, self.host(), ids)
        self._check_paths(built.install)
        return built

    def _check_paths(self, guest: Guest) -> None:
        """Work comes over the network: every host path it names must be one the agent owns.

        Disks, install media, kernel and initrd live under the image directory, a storage pool's
        directory or a configured media directory; serial logs under the serial directory. No
        host block devices, no ``..`` games (paths are normalised first). Fails closed with
        ``PATH_NOT_ALLOWED``.
        """
        media = [*self.virt.image_dirs(), *self.config.media_dirs]
        paths = [(d.path, media) for d in guest.disk if d.path]
        paths += [(p, [self.facts.image_dir]) for p in (guest.os.kernel, guest.os.initrd) if p]
        paths += [(s.source_path, [self.config.serial_dir] if self.config.serial_dir else [])
                  for s in guest.serial if s.source_path]
        for path, allowed in paths:
            if not any(under(path, d) for d in allowed if d):
                raise GuestError(f"{path!r} is outside the directories this agent manages "
                                 f"({', '.join(d for d in allowed if d) or 'none'})",
                                 "PATH_NOT_ALLOWED")

    def create(self, work: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        lv0, calls0 = self.virt.libvirt_seconds, sum(self.virt.calls.values())
        wid, system = work["id"], self._system(work)
        built = self.build(work)
        guest, install, final = built.guest, built.install, built.final
        name = guest.name
        state = self._load(name)
        dom = self.virt.lookup(name)
        if dom is not None and self.virt._call(dom.UUIDString) != guest.uuid:
            raise GuestError(f"a guest named {name!r} already exists with another UUID",
                             "NAME_CLASH")
        if state and state.get("uuid") == guest.uuid and state.get("phase") == "final":
            return {"name": name, "uuid": guest.uuid, "resumed": True, "phase": "final"}
        self._prepare(guest, wid, system)
        state = {"name": name, "uuid": guest.uuid, "work": wid, "system": system,
                 "phase": "install" if install is not final else "final",
                 "started": bool(state and state.get("started")) or (
                     dom is not None and bool(self.virt._call(dom.isActive))),
                 "final_xml": final.get_xml(), "last_state": None}
        if dom is None:
            self.virt.define(install)
            self.event("guest.defined", {"uuid": guest.uuid, "phase": state["phase"],
                                         "plan": reasons(built)}, work=wid, system=system)
        self._save(state)
        self._start(state)
        self.event("guest.started", {"uuid": guest.uuid,
                                     "macs": [n.mac_address for n in guest.interface]},
                   work=wid, system=system)
        total = time.perf_counter() - t0
        lv = self.virt.libvirt_seconds - lv0
        return {"name": name, "uuid": guest.uuid, "resumed": dom is not None,
                "macs": [n.mac_address for n in guest.interface],
                "timing": {"total_s": round(total, 6), "libvirt_s": round(lv, 6),
                           "agent_s": round(total - lv, 6),
                           "libvirt_calls": sum(self.virt.calls.values()) - calls0}}

    def _prepare(self, guest: Guest, wid: str, system: str | None) -> None:
        """Bridges checked, disk images created, boot files fetched (each reported)."""
        for nic in guest.interface:
            if nic.type == "bridge" and not self._bridge_ok(nic.source_bridge):
                raise GuestError(f"bridge {nic.source_bridge!r} does not exist on this host",
                                 "BRIDGE_MISSING")
        created = self.virt.create_images(guest)
        if created:
            self.event("guest.disk-created", {"paths": created}, work=wid, system=system)
        fetched = self.virt.fetch_boot_files(guest) if guest.boot_files else []
        if fetched:
            self.event("guest.boot-files", {"paths": fetched}, work=wid, system=system)

    def _start(self, state: dict[str, Any]) -> None:
        """Start the guest unless it was; a permanent failure leaves nothing defined."""
        if state["started"]:
            return
        try:
            self.virt.start(state["name"])
        except GuestError as exc:
            if exc.code in PERMANENT:  # e.g. the bridge is gone: leave nothing behind
                self.virt.undefine(state["name"])
                self._forget(state["name"])
            raise
        state["started"] = True
        self._save(state)

    def _bridge_ok(self, bridge: str | None) -> bool:
        if not bridge:
            return False
        probed = self.facts.network.nics or self.facts.network.bridges
        if not probed or self.facts.network.bridge(bridge) is not None:
            return True
        if self.ensure_bridge is not None:
            self.ensure_bridge(bridge)  # raises GuestError when it cannot
            return self.facts.network.bridge(bridge) is not None
        return False

    # -- teardown --------------------------------------------------------------------------
    def destroy_guest(self, work: dict[str, Any]) -> dict[str, Any]:
        return self.teardown(work, undefine=bool(work["payload"].get("undefine")))

    def delete_guest(self, work: dict[str, Any]) -> dict[str, Any]:
        return self.teardown(work, undefine=True)

    def teardown(self, work: dict[str, Any], *, undefine: bool) -> dict[str, Any]:
        name = str(work["payload"].get("name") or "")
        system = self._system(work)
        if not name:
            raise GuestError("teardown needs the guest name", "BAD_OPTION")
        self.virt.destroy(name)
        self.event("guest.destroyed", {}, work=work["id"], system=system)
        removed: list[str] = []
        if undefine:
            removed = self.virt.undefine(name, remove_storage=work["payload"].get(
                "remove_storage", True))
            self._forget(name)
            self.event("guest.undefined", {"removed": removed}, work=work["id"], system=system)
        return {"name": name, "undefined": undefine, "removed": removed}

    # -- watching ---------------------------------------------------------------------------------
    def watch(self) -> None:
        """Report state changes of managed guests; finish install phases that powered off."""
        for state in self.managed():
            name = state["name"]
            now = self.virt.state(name)
            changed = now != state.get("last_state")
            if changed:
                self.event("guest.state", {"from": state.get("last_state"), "to": now},
                           system=state.get("system"))
                state["last_state"] = now
            if state.get("phase") == "install" and state.get("started") and \
                    not state.get("stopped") and \
                    self.virt.finish_install(Guest.parse(state["final_xml"])):
                state["phase"], state["last_state"] = "final", self.virt.state(name)
                self.event("guest.install-finished", {"next": "final definition, started"},
                           system=state.get("system"))
                changed = True
            if changed:
                self._save(state)


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
