"""``<disk>``: a file, block device or pool volume seen by the guest as a disk or CD-ROM."""

from __future__ import annotations

from typing import Any

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

BUSES = ("virtio", "ide", "sata", "scsi", "xen", "usb")
#: Target device name prefix per bus (libvirt/virt-install convention; Xen PV disks are xvd*).
PREFIX = {"virtio": "vd", "ide": "hd", "sata": "sd", "scsi": "sd", "usb": "sd", "xen": "xvd"}
CACHE_MODES = ("none", "writethrough", "writeback", "directsync", "unsafe", "default")
IO_MODES = ("native", "threads", "io_uring")
DISCARD_MODES = ("unmap", "ignore")


class Disk(XMLBuilder):
    """One disk. ``size_gb``/``sparse``/``fmt``/``pool`` are creation hints, not XML."""

    XML_NAME = "disk"
    type = XMLProperty("./@type")  # file | block
    device = XMLProperty("./@device")  # disk | cdrom
    driver_name = XMLProperty("./driver/@name")  # qemu, or tap/file/phy for Xen
    driver_type = XMLProperty("./driver/@type")  # qcow2, raw, aio
    driver_cache = XMLProperty("./driver/@cache")
    driver_discard = XMLProperty("./driver/@discard")
    driver_io = XMLProperty("./driver/@io")
    source_file = XMLProperty("./source/@file")
    source_dev = XMLProperty("./source/@dev")
    target_dev = XMLProperty("./target/@dev")
    target_bus = XMLProperty("./target/@bus")
    readonly = XMLProperty("./readonly", is_bool=True)
    shareable = XMLProperty("./shareable", is_bool=True)
    boot_order = XMLProperty("./boot/@order", is_int=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self.size_gb: float | None = None  # create the image with this size when missing
        # sparse= as given (None: not given). The XML follows virt-install (sparse unless
        # sparse=no: discard=unmap); the agent preallocates unless sparse=yes (the seed: sparse
        # images are for tests only).
        self.sparse: bool | None = None
        self.fmt: str | None = None  # requested image format (qcow2, raw)
        self.pool: str | None = None  # create the volume in this libvirt pool
        self.volume: str | None = None  # vol=POOL/VOLUME: an existing volume
        self.bus_given: bool = False  # bus= was on the command line
        self.install_media: bool = False  # the --cdrom install disc (ejected after install)

    @property
    def path(self) -> str | None:
        path: str | None = self.source_file or self.source_dev
        return path

    @property
    def is_cdrom(self) -> bool:
        return bool(self.device == "cdrom")

    @property
    def creates_storage(self) -> bool:
        return self.size_gb is not None and self.type == "file" and not self.is_cdrom


def target_name(bus: str, index: int) -> str:
    """``vda``, ``hdb``, ``xvdc``... ``index`` counts from 0 among disks on the same prefix."""
    if index < 0 or index >= 26 * 27:
        raise ValueError(f"disk index {index} out of range")
    letters = ""
    n = index
    while True:
        letters = chr(ord("a") + n % 26) + letters
        n = n // 26 - 1
        if n < 0:
            break
    return PREFIX[bus] + letters
