"""The only module that imports libvirt: capabilities, define/start/watch/destroy/undefine.

Plus the host-side files a guest needs: disk images (``qemu-img``, preallocated unless the
disk asked for ``sparse=yes``, which the seed calls test-only) and the kernel/initrd of a
``--location`` install. Every libvirt call goes through :meth:`Virt._call`, which counts calls
and the time spent inside libvirt (the benchmark reports agent overhead against it).

Idempotency: a guest is identified by name *and* UUID. Defining a name that exists with the same
UUID updates it; with another UUID it is a ``NAME_CLASH``. So a restarted agent that replays a
work item finds its guest and carries on instead of creating a second one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libvirt

from agent.facts.model import HostFacts
from agent.guest.caps import Caps, parse_caps
from agent.guest.domain import Guest
from agent.guest.domcaps import DomCaps, parse_domcaps
from agent.guest.errors import GuestError
from agent.guest.host import Host, Pool
from agent.guest.osinfo.db import OsinfoDB
from agent.guest.osinfo.media import probe
from agent.guest.paths import under

STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate", libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked", libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed", libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


_UUID_RE = re.compile(r"<uuid>([0-9a-f-]{36})</uuid>")
_MAC_RE = re.compile(r"<mac address=['\"]([0-9a-fA-F:]{17})['\"]")


def _quiet(_ctx: Any, _err: Any) -> None:
    """libvirt prints every error to stderr by default; we raise them instead."""


libvirt.registerErrorHandler(_quiet, None)


def _map_error(exc: libvirt.libvirtError, name: str) -> GuestError:
    msg = str(exc)
    if "MTU" in msg or ("bridge" in msg.lower() and "No such device" in msg):
        return GuestError(f"{name}: the bridge does not exist on this host ({msg})",
                          "BRIDGE_MISSING")
    if "No space left" in msg:
        return GuestError(f"{name}: no space left ({msg})", "NO_SPACE")
    if "already exists" in msg:
        return GuestError(f"{name}: {msg}", "NAME_CLASH")
    return GuestError(f"{name}: libvirt: {msg}", "LIBVIRT")


@dataclass
class Virt:
    """One libvirt connection plus the image directory it creates files in."""

    uri: str
    image_dir: str = "/var/lib/libvirt/images"
    runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    calls: Counter[str] = field(default_factory=Counter)
    _domcaps: dict[tuple[str, str, str | None, str | None], DomCaps | None] = \
        field(default_factory=dict)
    libvirt_seconds: float = 0.0
    conn: Any = None

    def __post_init__(self) -> None:
        if self.conn is None:
            self.conn = self._call(libvirt.open, self.uri)

    def reconnect_if_needed(self) -> bool:
        """Reopen the connection when libvirtd went away (restarted); True if it did."""
        try:
            if self._call(self.conn.isAlive):
                return False
        except libvirt.libvirtError:
            pass
        with contextlib.suppress(libvirt.libvirtError):
            self.conn.close()
        try:
            self.conn = self._call(libvirt.open, self.uri)
        except libvirt.libvirtError as exc:
            raise GuestError(f"libvirt at {self.uri} is unavailable: {exc}", "LIBVIRT_DOWN") \
                from None
        return True

    def close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self.conn.close()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.calls[getattr(fn, "__name__", "call")] += 1
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.libvirt_seconds += time.perf_counter() - t0

    # -- facts ----------------------------------------------------------------------------------
    def caps(self) -> Caps:
        return parse_caps(self._call(self.conn.getCapabilities))

    def domcaps(self, domain: str, arch: str, machine: str | None,
                emulator: str | None = None) -> DomCaps | None:
        """Domain capabilities for one guest type (cached per connection); None if refused."""
        key = (domain, arch, machine, emulator)
        if key not in self._domcaps:
            try:
                xml = self._call(self.conn.getDomainCapabilities, emulator, arch, machine,
                                 domain, 0)
                self._domcaps[key] = parse_domcaps(xml)
            except libvirt.libvirtError:
                self._domcaps[key] = None
        return self._domcaps[key]

    def pools(self) -> tuple[tuple[Pool, ...], dict[str, str | None]]:
        """Active storage pools (name, path, free bytes) and their volumes' formats by path."""
        pools: list[Pool] = []
        files: dict[str, str | None] = {}
        try:
            found = self._call(self.conn.listAllStoragePools, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                raise
            return (), {}  # a connection without the storage driver (the lab's embedded QEMU)
        for pool in found:
            try:
                if not pool.isActive():
                    continue
                root = ET.fromstring(self._call(pool.XMLDesc, 0))
                path = root.findtext("./target/path")
                if not path:
                    continue
                pools.append(Pool(pool.name(), path, int(pool.info()[3])))
                for vol in pool.listAllVolumes(0):
                    fmt = ET.fromstring(vol.XMLDesc(0)).find("./target/format")
                    files[vol.path()] = fmt.get("type") if fmt is not None else None
            except libvirt.libvirtError:
                continue
        return tuple(pools), files

    def host(self, facts: HostFacts, osinfo: OsinfoDB | None) -> Host:
        """Everything the defaults need from this connection, as one value."""
        pools, files = self.pools()
        return Host(caps=self.caps(), facts=facts, pools=pools, volumes=files,
                    osinfo=osinfo, domcaps_for=lambda d, a, m: self.domcaps(d, a, m),
                    media_ids=probe)

    def domains(self) -> list[Any]:
        found: list[Any] = self._call(self.conn.listAllDomains, 0)
        return found

    def known_macs(self, exclude_uuid: str | None = None) -> set[str]:
        """Every MAC of every guest libvirt knows on this host (running or not), except those
        of the guest ``exclude_uuid`` (a guest being resumed keeps its own MACs)."""
        macs: set[str] = set()
        for dom in self.domains():
            xml = self._call(dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE)
            # libvirt's own serialisation: fixed spelling, so a pattern is enough (and fast)
            uuid = _UUID_RE.search(xml)
            if exclude_uuid and uuid and uuid.group(1) == exclude_uuid:
                continue
            macs.update(m.lower() for m in _MAC_RE.findall(xml))
        return macs

    def lookup(self, name: str) -> Any | None:
        try:
            return self._call(self.conn.lookupByName, name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise _map_error(exc, name) from None

    def state(self, name: str) -> str:
        dom = self.lookup(name)
        if dom is None:
            return "absent"
        return STATES.get(self._call(dom.state)[0], "unknown")

    # -- lifecycle ------------------------------------------------------------------------------
    def define(self, guest: Guest, *, validate: bool = True) -> tuple[Any, bool]:
        """Define ``guest``; ``(domain, created)``. Same name and UUID: updated, not duplicated."""
        existing = self.lookup(guest.name)
        if existing is not None and self._call(existing.UUIDString) != guest.uuid:
            raise GuestError(f"a guest named {guest.name!r} already exists with another UUID",
                             "NAME_CLASH")
        flags = libvirt.VIR_DOMAIN_DEFINE_VALIDATE if validate else 0
        try:
            dom = self._call(self.conn.defineXMLFlags, guest.get_xml(), flags)
        except libvirt.libvirtError as exc:
            raise _map_error(exc, guest.name) from None
        if guest.autostart:
            self._call(dom.setAutostart, 1)
        return dom, existing is None

    def create_transient(self, guest: Guest) -> Any:
        """``--transient``: start a guest that has no persistent definition."""
        try:
            return self._call(self.conn.createXML, guest.get_xml(), 0)
        except libvirt.libvirtError as exc:
            raise _map_error(exc, guest.name or "") from None

    def start(self, name: str) -> bool:
        """Start the guest unless it runs; True when this call started it."""
        dom = self.lookup(name)
        if dom is None:
            raise GuestError(f"no guest named {name!r}", "NOT_FOUND")
        if self._call(dom.isActive):
            return False
        try:
            self._call(dom.create)
        except libvirt.libvirtError as exc:
            raise _map_error(exc, name) from None
        return True

    def wait_state(self, name: str, states: tuple[str, ...], timeout: float,
                   poll: float = 0.5) -> str:
        """Poll until the guest is in one of ``states`` (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(name)
            if state in states or time.monotonic() >= deadline:
                return state
            time.sleep(poll)

    def finish_install(self, final: Guest) -> bool:
        """A guest that powered off after its install phase gets its final definition and is
        started (the seed: start it, don't reboot it). False while it still runs."""
        if self.state(final.name) not in ("shutoff", "crashed"):
            return False
        final.autostart = False  # autostart was set with the install definition already
        self.define(final)
        self.start(final.name)
        return True

    def stop(self, name: str) -> None:
        dom = self.lookup(name)
        if dom is not None and self._call(dom.isActive):
            self._call(dom.shutdown)

    def reset(self, name: str) -> None:
        """A hard reset of a running guest (the same QEMU process: the persistent definition,
        e.g. a changed boot order, applies only on the next start)."""
        dom = self._running(name)
        try:
            self._call(dom.reset, 0)
        except libvirt.libvirtError as exc:
            raise _map_error(exc, name) from None

    def inactive_xml(self, name: str) -> str:
        """The persistent definition (what the next start uses)."""
        dom = self.lookup(name)
        if dom is None:
            raise GuestError(f"no guest named {name!r}", "NOT_FOUND")
        xml: str = self._call(dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE
                              | libvirt.VIR_DOMAIN_XML_SECURE)
        return xml

    def redefine_xml(self, xml: str, name: str) -> None:
        """Replace a guest's persistent definition with ``xml`` (same name and UUID)."""
        try:
            self._call(self.conn.defineXML, xml)
        except libvirt.libvirtError as exc:
            raise _map_error(exc, name) from None

    def _running(self, name: str) -> Any:
        dom = self.lookup(name)
        if dom is None:
            raise GuestError(f"no guest named {name!r}", "NOT_FOUND")
        if not self._call(dom.isActive):
            raise GuestError(f"{name} is not running", "NOT_RUNNING")
        return dom

    def destroy(self, name: str) -> None:
        dom = self.lookup(name)
        if dom is not None and self._call(dom.isActive):
            with contextlib.suppress(libvirt.libvirtError):
                self._call(dom.destroy)

    def undefine(self, name: str, *, remove_storage: bool = True) -> list[str]:
        """Destroy and undefine; delete its disk images and boot files under the image dir.

        Returns the removed paths. Files outside the image directory (an ISO, a block device)
        are never deleted. Absent guest: nothing to do (idempotent).
        """
        dom = self.lookup(name)
        if dom is None:
            return []
        root = ET.fromstring(self._call(dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE))
        self.destroy(name)
        flags = libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        try:
            self._call(dom.undefineFlags, flags)
        except libvirt.libvirtError:
            self._call(dom.undefine)
        removed = []
        if remove_storage:
            paths = [d.get("file") for d in root.findall("./devices/disk[@device='disk']/source")]
            paths += [root.findtext("./os/kernel"), root.findtext("./os/initrd")]
            for path in filter(None, paths):
                if under(path, self.image_dir) and os.path.exists(path):
                    os.unlink(path)
                    removed.append(path)
        return removed

    # -- host files -----------------------------------------------------------------------------
    def image_dirs(self) -> tuple[str, ...]:
        """Where the agent may create images: the image directory and every pool's."""
        pools, _ = self.pools()
        return (self.image_dir, *(p.path for p in pools))

    def create_images(self, guest: Guest) -> list[str]:
        """Create missing disk images (never overwrite one); return the created paths."""
        created = []
        dirs = self.image_dirs()
        for disk in guest.disk:
            if disk.is_cdrom or disk.type != "file" or disk.size_gb is None:
                continue
            if os.path.exists(disk.source_file):
                continue
            created.append(self.create_image(disk.source_file, disk.size_gb, disk.fmt or "qcow2",
                                              sparse=bool(disk.sparse), dirs=dirs))
        return created

    def create_image(self, path: str, size_gb: float, fmt: str, *, sparse: bool,
                     dirs: tuple[str, ...] | None = None) -> str:
        dirs = dirs or (self.image_dir,)
        if not any(under(path, d) for d in dirs):
            raise GuestError(f"{path!r} is outside the image directories ({', '.join(dirs)})",
                             "IMAGE_OUTSIDE_IMAGE_DIR")
        size = int(size_gb * 1024 ** 3)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        free = shutil.disk_usage(os.path.dirname(path)).free
        if not sparse and size > free:
            raise GuestError(f"no space for {path}: need {size} bytes, {free} free",
                             "NO_SPACE")
        argv = ["qemu-img", "create", "-q", "-f", fmt]
        if not sparse:
            argv += ["-o", "preallocation=falloc"]
        argv += [path, f"{max(1, size // 1024 ** 2)}M"]
        res = self.runner(argv, capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            code = "NO_SPACE" if "No space" in res.stderr else "IMAGE_CREATE"
            raise GuestError(f"qemu-img failed for {path}: {res.stderr.strip()}", code)
        return path

    def fetch_boot_files(self, guest: Guest, timeout: float = 120) -> list[str]:
        """Fetch the install kernel and initrd of a ``--location`` install into the image dir."""
        done = []
        for src, dest in guest.boot_files:
            if not under(dest, self.image_dir):
                raise GuestError(f"{dest!r} is outside the image directory", "BAD_PATH")
            tmp = dest + ".part"
            try:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                if src.startswith("/"):
                    shutil.copyfile(src, tmp)
                else:
                    with urllib.request.urlopen(src, timeout=timeout) as r, open(tmp, "wb") as f:
                        shutil.copyfileobj(r, f)
                os.replace(tmp, dest)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise GuestError(f"cannot fetch {src}: {exc}", "FETCH_FAILED") from None
            done.append(dest)
        return done
