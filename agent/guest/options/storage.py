"""Storage options: --disk and --filesystem (the seed's --file/--file-size/--nonsparse are
rewritten into --disk by :mod:`agent.guest.options.legacy`, as virt-install does)."""

from __future__ import annotations

from agent.guest.devices import Disk, Filesystem
from agent.guest.devices.disk import BUSES, CACHE_MODES, DISCARD_MODES, IO_MODES
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.options.base import ListParser, choice, integer, need, yesno

FORMATS = ("qcow2", "raw", "qed", "vmdk", "vdi", "vpc")


def _size(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        size = float(value)
    except ValueError:
        raise GuestError(f"--{option}: size must be a number of GiB, not {value!r}",
                         "BAD_OPTION") from None
    if size <= 0:
        raise GuestError(f"--{option}: size must be more than 0 GiB, not {value}", "DISK_ZERO")
    return size


class ParserDisk(ListParser):
    """``--disk PATH|size=N|pool=P|vol=P/V [,bus=,format=,device=,cache=,io=,discard=,...]``.

    ``--disk none`` means no disk at all (and silences "storage is required").
    """

    name, flags = "disk", ("--disk",)
    help = "path=,size=GiB,pool=,vol=,bus=,format=,device=,cache=,io=,discard=,sparse="
    keys = ("path", "size", "pool", "vol", "bus", "format", "sparse", "device", "cache", "io",
            "discard", "readonly", "shareable", "boot.order", "target", "type")
    positional = ("path",)
    aliases = {"target.bus": "bus", "driver.cache": "cache", "driver.io": "io",
               "driver.discard": "discard", "driver.type": "format", "source.file": "path",
               "source.dev": "path", "target.dev": "target", "boot_order": "boot.order"}
    unsupported = ("backing_store", "backing_format", "perms", "serial", "wwn", "snapshot",
                   "driver.name", "driver.detect_zeroes", "driver.error_policy",
                   "driver.iothread", "driver.queues", "source.pool", "source.volume",
                   "startup_policy", "iotune.read_bytes_sec", "iotune.write_bytes_sec",
                   "transient", "sgio", "rawio")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        if text == "none":
            guest.no_disks = True
            return
        kv = cls.kv(text)
        disk = Disk(device=choice(cls.name, "device", need(cls.name, kv, "device"),
                                  ("disk", "cdrom", "floppy", "lun")) or "disk")
        path = need(cls.name, kv, "path")
        if path:
            disk.type = "block" if path.startswith("/dev/") else "file"
            disk.source_file, disk.source_dev = (None, path) if disk.type == "block" \
                else (path, None)
        disk.type = choice(cls.name, "type", need(cls.name, kv, "type"), ("file", "block")) \
            or disk.type
        disk.size_gb = _size(cls.name, need(cls.name, kv, "size"))
        disk.pool = need(cls.name, kv, "pool")
        vol = need(cls.name, kv, "vol")
        if vol is not None:
            if vol.count("/") != 1:
                raise GuestError("--disk vol= is pool/volume (exactly one '/')", "BAD_OPTION")
            disk.pool, disk.volume = vol.split("/")
        disk.target_bus = choice(cls.name, "bus", need(cls.name, kv, "bus"), BUSES)
        disk.bus_given = disk.target_bus is not None
        disk.fmt = choice(cls.name, "format", need(cls.name, kv, "format"), FORMATS)
        disk.sparse = yesno(cls.name, "sparse", need(cls.name, kv, "sparse"))
        disk.driver_cache = choice(cls.name, "cache", need(cls.name, kv, "cache"), CACHE_MODES)
        disk.driver_io = choice(cls.name, "io", need(cls.name, kv, "io"), IO_MODES)
        disk.driver_discard = choice(cls.name, "discard", need(cls.name, kv, "discard"),
                                     DISCARD_MODES)
        disk.readonly = yesno(cls.name, "readonly", need(cls.name, kv, "readonly")) or None
        disk.shareable = yesno(cls.name, "shareable", need(cls.name, kv, "shareable")) or None
        disk.boot_order = integer(cls.name, "boot.order", need(cls.name, kv, "boot.order"),
                                  minimum=1)
        disk.target_dev = need(cls.name, kv, "target")
        if disk.path is None and disk.size_gb is None and disk.volume is None \
                and disk.device == "disk":
            raise GuestError("--disk needs a path, size=, or vol= (or `--disk none`)",
                             "BAD_OPTION")
        guest.disk.append(disk)


class ParserFilesystem(ListParser):
    """``--filesystem SOURCE,TARGET`` or ``source=,target=,driver.type=,accessmode=``."""

    name, flags, help = "filesystem", ("--filesystem",), "share a host directory"
    keys = ("source", "target", "type", "accessmode", "driver.type", "readonly")
    positional = ("source", "target")
    aliases = {"source.dir": "source", "target.dir": "target", "mode": "accessmode",
               "driver_type": "driver.type"}
    unsupported = ("driver.format", "driver.wrpolicy", "source.type", "binary.path")

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:
        kv = cls.kv(text)
        fs = Filesystem(type=choice(cls.name, "type", need(cls.name, kv, "type"), ("mount",)))
        fs.source_dir, fs.target_dir = need(cls.name, kv, "source"), need(cls.name, kv, "target")
        if not fs.source_dir or not fs.target_dir:
            raise GuestError("--filesystem needs a source and a target", "BAD_OPTION")
        fs.accessmode = choice(cls.name, "accessmode", need(cls.name, kv, "accessmode"),
                               ("passthrough", "mapped", "squash"))
        fs.driver_type = choice(cls.name, "driver.type", need(cls.name, kv, "driver.type"),
                                ("path", "handle", "virtiofs"))
        fs.readonly = yesno(cls.name, "readonly", need(cls.name, kv, "readonly")) or None
        guest.filesystem.append(fs)
