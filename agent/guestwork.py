"""What the agent does for each work kind on its guests (the ``agent.loop.WORK`` table points
here): create (build, path checks, bridges, disks, define, start), stop, power, teardown,
bridge and TLS work, and the watcher that turns a guest that powered off at the end of its
install phase into its final definition and starts it (the seed: start it, don't reboot it)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from agent.facts.model import HostFacts
from agent.guest import power as guest_power
from agent.guest.build import Built, build_guest
from agent.guest.caps import Caps
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.host import Host
from agent.guest.ids import Ids
from agent.guest.options import guest_from_argv
from agent.guest.osinfo.db import OsinfoDB
from agent.guest.paths import under
from agent.guest.plan import reasons
from agent.guest.virt import Virt
from agent.guest_state import GuestStateFiles
from agent.loopconfig import PERMANENT
from agent.outbox import Outbox
from agent.workitems import guest_uuid, order_argv


class GuestWork(GuestStateFiles, Outbox):
    """The guest work of ``agent.loop.Agent`` (its fields are declared there)."""

    virt: Virt
    facts: HostFacts
    caps: Caps
    osinfo: OsinfoDB | None
    ensure_bridge: Callable[[str], None] | None
    rotate_tls: Callable[[dict[str, Any]], dict[str, Any]] | None

    @staticmethod
    def _system(work: dict[str, Any]) -> str | None:
        p = work.get("payload") or {}
        return p.get("system") or p.get("name")

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

