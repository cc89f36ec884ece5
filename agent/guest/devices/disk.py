"""``<disk>``: a file or block device seen by the guest as a disk or CD-ROM."""

from __future__ import annotations

from agent.guest.xmlmodel import XMLBuilder, XMLProperty

BUSES = ("virtio", "ide", "sata", "scsi", "xen")
#: Target device name prefix per bus (libvirt/virt-install convention; Xen PV disks are xvd*).
PREFIX = {"virtio": "vd", "ide": "hd", "sata": "sd", "scsi": "sd", "xen": "xvd"}


class Disk(XMLBuilder):
    """One disk. ``size_gb``/``sparse``/``fmt`` are creation hints, not XML."""

    XML_NAME = "disk"
    type = XMLProperty("./@type")  # file | block
    device = XMLProperty("./@device")  # disk | cdrom
    driver_name = XMLProperty("./driver/@name")  # qemu, or tap/file/phy for Xen
    driver_type = XMLProperty("./driver/@type")  # qcow2, raw, aio
    driver_discard = XMLProperty("./driver/@discard")
    source_file = XMLProperty("./source/@file")
    source_dev = XMLProperty("./source/@dev")
    target_dev = XMLProperty("./target/@dev")
    target_bus = XMLProperty("./target/@bus")
    readonly = XMLProperty("./readonly", is_bool=True)

    def __init__(self, **values) -> None:
        super().__init__(**values)
        self.size_gb: float | None = None  # create the image with this size when missing
        self.sparse: bool = False  # the seed: sparse images are for tests only
        self.fmt: str | None = None  # requested image format (qcow2, raw)
        self.install_media: bool = False  # the --cdrom install disc (ejected after install)

    @property
    def path(self) -> str | None:
        return self.source_file or self.source_dev

    @property
    def is_cdrom(self) -> bool:
        return self.device == "cdrom"


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
