"""Disks: the recommended disk when none is given, pool volumes and their paths, the install
CD-ROM, bus/target/driver per disk, and the virtio-scsi controller (virt-install's
``set_cli_defaults``, ``ParserDisk._parse``, ``Installer._add_install_cdrom_device``,
``DeviceDisk.set_defaults`` and ``_add_virtioscsi_controller``).
"""

from __future__ import annotations

import posixpath

from agent.guest.defaults.context import Ctx
from agent.guest.devices import Controller, Disk
from agent.guest.devices.disk import PREFIX, target_name
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.host import Pool
from agent.guest.paths import under

GIB = 1024 ** 3
#: How many targets a bus prefix allows (virt-install's get_target_prefix).
MAX_TARGETS = {"vd": 1024, "xvd": 1024, "fd": 2, "hd": 4, "sd": 1024}
EXT = {"qcow2": "qcow2", "raw": "img", "qed": "qed", "vmdk": "vmdk", "vdi": "vdi", "vpc": "vhd"}


def recommended_disk(ctx: Ctx) -> None:
    """No --disk/--filesystem at all: libosinfo's recommended size, else refuse."""
    g = ctx.guest
    if g.disk or g.filesystem or g.no_disks:
        return
    storage = ctx.osinfo.recommended_of("storage", ctx.arch)
    if not storage:
        raise GuestError("--disk is required: give a disk (or `--disk none`); libosinfo "
                         f"recommends no disk size for {ctx.osinfo.name}", "DISK_REQUIRED")
    disk = Disk(type="file", device="disk")
    disk.size_gb = float(storage // GIB)
    g.disk.append(disk)
    g.explain("disk", f"{storage // GIB} GiB: libosinfo's recommended storage for "
                      f"{ctx.osinfo.name}")


def volumes(ctx: Ctx) -> None:
    """Turn size=/pool=/vol= into paths in the pools, as virt-install names new volumes."""
    for disk in ctx.guest.disk:
        if disk.volume is not None:
            _existing_volume(ctx, disk)
        elif disk.size_gb is not None or disk.pool is not None:
            _new_volume(ctx, disk)


def _pool(ctx: Ctx, name: str) -> Pool:
    pool = ctx.host.pool(name)
    if pool is None:
        raise GuestError(f"storage pool {name!r} does not exist on this host (pools: "
                         f"{', '.join(p.name for p in ctx.host.pools) or 'none'})",
                         "POOL_NOT_FOUND")
    return pool


def _existing_volume(ctx: Ctx, disk: Disk) -> None:
    pool = _pool(ctx, disk.pool or "")
    disk.type, disk.source_file = "file", posixpath.join(pool.path, disk.volume or "")
    disk.pool = None


def _new_volume(ctx: Ctx, disk: Disk) -> None:
    if disk.path and disk.pool is None:
        if disk.type != "file" or disk.path in ctx.host.existing_files:
            return
        pool = ctx.host.pool_of(posixpath.normpath(disk.path))
        if pool is None or not under(disk.path, pool.path):
            dirs = ", ".join(p.path for p in (*ctx.host.pools, ctx.host.pool("default")) if p)
            raise GuestError(f"new disk images are created in a storage pool directory ({dirs})"
                             f", not {disk.path!r} (the seed: SELinux labels only those)",
                             "IMAGE_OUTSIDE_IMAGE_DIR")
    else:
        pool = _pool(ctx, disk.pool or "default")
    disk.pool = pool.name
    disk.fmt = disk.fmt or ("qcow2" if ctx.qemu else "raw")  # virt-install: qcow2 on QEMU only
    if not disk.path:
        disk.type = "file"
        disk.source_file = _free_name(ctx, pool.path, EXT.get(disk.fmt, disk.fmt))


def _free_name(ctx: Ctx, directory: str, ext: str) -> str:
    used = {d.path for d in ctx.guest.disk if d.path}
    base = ctx.guest.name or "disk"
    for i in range(0, 1000):
        name = f"{base}.{ext}" if i == 0 else f"{base}-{i}.{ext}"
        path = posixpath.join(directory, name)
        if path not in used and path not in ctx.host.existing_files:
            return path
    raise GuestError(f"no free volume name for {base} in {directory}", "POOL_FULL")


def install_cdrom(ctx: Ctx) -> None:
    """The --cdrom medium goes before any other CD-ROM (so boot=cdrom picks it)."""
    g, disc = ctx.guest, ctx.guest.install_disc
    if disc is None or disc in g.disk:
        return
    for i, d in enumerate(g.disk):
        if d.is_cdrom:
            g.disk.insert(i, disc)
            return
    g.disk.append(disc)


def default_bus(ctx: Ctx, disk: Disk) -> str:
    if ctx.is_xenpv:
        return "xen"
    if not ctx.is_hvm:
        return "ide"
    if not disk.is_cdrom and ctx.supports_virtio("virtiodisk"):
        return "virtio"
    if disk.is_cdrom and ctx.supports_virtio("virtioscsi") and not ctx.is_x86:
        return "scsi"
    if ctx.arch in ("aarch64", "armv7l"):
        return "sd"
    return "sata" if ctx.is_q35 else "ide"


def disk_defaults(ctx: Ctx) -> None:
    g = ctx.guest
    for disk in g.disk:
        disk.device = disk.device or "disk"
        disk.type = disk.type or ("block" if (disk.path or "").startswith("/dev/") else "file")
        _driver(ctx, disk)
        if not disk.target_bus:
            bus = disk.target_bus = default_bus(ctx, disk)
            if disk is _first_disk(g):
                g.explain("disk bus", _bus_reason(ctx, bus))
        if disk.is_cdrom:
            disk.readonly = True
        if disk.target_dev is None:
            disk.target_dev = _free_target(g, disk)


def _first_disk(g: Guest) -> Disk | None:
    return next((d for d in g.disk if not d.is_cdrom), None)


def _bus_reason(ctx: Ctx, bus: str) -> str:
    if bus == "virtio":
        return f"virtio: {ctx.osinfo.why('virtiodisk')}"
    if bus == "xen":
        return "xen: para-virtualized guest"
    if ctx.qemu and ctx.is_x86:
        return f"{bus}: {ctx.osinfo.why('virtiodisk')}; {bus} on {ctx.machine}"
    return f"{bus}: the emulated bus for {ctx.arch} {ctx.machine}"


def _driver(ctx: Ctx, disk: Disk) -> None:
    if disk.path is None and disk.is_cdrom:
        return  # an empty CD-ROM drive: no driver
    if ctx.guest.type == "xen" and disk.type == "block":
        disk.driver_name = disk.driver_name or "phy"
    elif ctx.qemu or ctx.guest.type == "xen":
        disk.driver_name = disk.driver_name or "qemu"
    if disk.driver_name != "qemu":
        return
    if disk.type == "block":
        if disk.is_cdrom:
            return  # a host CD drive: no format (raw is libvirt's default; media change)
        disk.driver_type = "raw"
        disk.driver_cache = disk.driver_cache or "none"
        disk.driver_io = disk.driver_io or "native"
        disk.driver_discard = disk.driver_discard or "unmap"
        return
    creating = disk.pool is not None and disk.size_gb is not None
    disk.driver_type = disk.driver_type or (disk.fmt if creating else None) or \
        ctx.host.file_format(disk.path)
    if ctx.qemu and creating and not disk.is_cdrom and disk.sparse is not False:
        disk.driver_discard = disk.driver_discard or "unmap"


def _free_target(g: Guest, disk: Disk) -> str:
    bus = disk.target_bus if disk.target_bus in PREFIX else "sata"
    prefix = PREFIX[bus]
    used = {d.target_dev for d in g.disk if d.target_dev}
    for i in range(MAX_TARGETS[prefix]):
        name = target_name(bus, i)
        if name not in used:
            return name
    raise GuestError(f"only {MAX_TARGETS[prefix]} disks fit on bus {disk.target_bus!r} "
                     f"({prefix}a-...)", "DISK_TARGETS_EXHAUSTED")


def virtio_scsi_controller(ctx: Ctx) -> None:
    g = ctx.guest
    if any(c.type == "scsi" for c in g.controller) or not ctx.supports_virtio("virtioscsi"):
        return
    if any(d.target_bus == "scsi" for d in g.disk):
        g.controller.append(Controller(type="scsi", model="virtio-scsi"))
        g.explain("controller", f"virtio-scsi for the bus=scsi disks: "
                                f"{ctx.osinfo.why('virtioscsi')}")
