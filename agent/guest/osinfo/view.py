"""One OS as virt-install 4.1 asks about it (``virtinst/osdict.py``'s ``_OsVariant``).

Built from :class:`~agent.guest.osinfo.db.OsinfoDB`; every question names the libosinfo device
ids it looks for, so a default can say why ("virtio disk: rhel9.0 lists virtio1.0-block").
``GENERIC`` is virt-install's own "generic" OS (no devices, no resources) used when no name is
given and none is required.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.guest.osinfo.db import Firmware, OsinfoDB, OsRecord, Resources
from provisioner.platform.osversion import release_numbers

#: libosinfo device ids behind each capability (virtinst's ``supports_*``).
DEVICES: dict[str, tuple[str, ...]] = {
    "virtiodisk": ("http://pcisig.com/pci/1af4/1001", "http://pcisig.com/pci/1af4/1042"),
    "virtioscsi": ("http://pcisig.com/pci/1af4/1004", "http://pcisig.com/pci/1af4/1048"),
    "virtionet": ("http://pcisig.com/pci/1af4/1000", "http://pcisig.com/pci/1af4/1041"),
    "virtiorng": ("http://pcisig.com/pci/1af4/1005", "http://pcisig.com/pci/1af4/1044"),
    "virtiogpu": ("http://pcisig.com/pci/1af4/1050",),
    "virtioballoon": ("http://pcisig.com/pci/1af4/1002", "http://pcisig.com/pci/1af4/1045"),
    "virtioserial": ("http://pcisig.com/pci/1af4/1003", "http://pcisig.com/pci/1af4/1043"),
    "virtioinput": ("http://pcisig.com/pci/1af4/1052",),
    "usb3": ("http://pcisig.com/pci/1b36/0004",),
    "virtio1": ("http://pcisig.com/pci/1af4/1041",),
    "q35": ("http://qemu.org/chipset/x86/q35",),
}
NAMES = {"virtiodisk": "virtio-block", "virtioscsi": "virtio-scsi", "virtionet": "virtio-net",
         "virtiorng": "virtio-rng", "virtiogpu": "virtio-gpu", "virtioballoon": "virtio-balloon",
         "virtioserial": "virtio-console", "virtioinput": "virtio-input", "usb3": "qemu-xhci",
         "virtio1": "virtio 1.0", "q35": "the q35 chipset"}
WINDOWS_FAMILIES = ("win9x", "winnt", "win16")
#: NIC models virt-install prefers, in order, when the OS lists no virtio-net.
NIC_PREFS = ("e1000", "rtl8139", "ne2k_pci", "pcnet")


@dataclass(frozen=True)
class OsInfo:
    name: str  # the first short id ("generic" for none)
    id: str | None  # libosinfo URI, written into <metadata>; None for generic
    family: str = ""
    distro: str = ""
    version: str = ""
    devices: frozenset[str] = frozenset()
    device_names: tuple[str, ...] = ()  # names of the OS's devices of class "net"
    minimum: dict[str, Resources] = field(default_factory=dict)
    recommended: dict[str, Resources] = field(default_factory=dict)
    network_install: dict[str, Resources] = field(default_factory=dict)
    firmware: tuple[Firmware, ...] = ()
    kernel_url_arg_raw: str | None = None
    related: frozenset[str] = frozenset()

    @classmethod
    def of(cls, db: OsinfoDB, rec: OsRecord) -> OsInfo:
        devices = frozenset(db.all_devices(rec))
        nets = tuple(sorted(db.devices[d][1] for d in devices
                            if db.devices.get(d, ("", ""))[0] == "net"))
        return cls(name=rec.short_ids[0] if rec.short_ids else rec.id, id=rec.id,
                   family=rec.family, distro=rec.distro, version=rec.version, devices=devices,
                   device_names=nets, minimum=db.resources(rec, "minimum"),
                   recommended=db.resources(rec, "recommended"),
                   network_install=db.resources(rec, "network-install"),
                   firmware=tuple(db.firmware(rec)), kernel_url_arg_raw=db.kernel_url_arg(rec),
                   related=frozenset(db.related(rec)))

    # -- identity -------------------------------------------------------------------------------
    @property
    def is_generic(self) -> bool:
        return self.name == "generic"

    @property
    def is_windows(self) -> bool:
        return self.family in WINDOWS_FAMILIES

    @property
    def clock(self) -> str:
        return "localtime" if self.is_windows or self.family == "solaris" else "utc"

    def version_tuple(self) -> tuple[int, ...]:
        return release_numbers(self.version)

    # -- devices --------------------------------------------------------------------------------
    def supports(self, what: str) -> bool:
        if what == "q35" and self.supports("virtionet") and not self.supports("virtio1"):
            return False  # virt-install: q35 only together with virtio 1.0
        found = any(d in self.devices for d in DEVICES[what])
        if what == "virtioserial" and not found:
            return "rhel6.0" in self.related or self.name == "rhel6.0"  # virt-install's hack
        return found

    def why(self, what: str) -> str:
        """"rhel9.0 lists virtio-block" / "rhel5.4 lists no virtio-block" (libosinfo)."""
        verb = "lists" if self.supports(what) else "lists no"
        return f"{self.name} {verb} {NAMES[what]} (libosinfo)"

    def preferred_nic(self) -> str:
        for model in NIC_PREFS:
            if model in self.device_names:
                return model
        return "e1000"

    # -- resources ------------------------------------------------------------------------------
    @staticmethod
    def _get(table: dict[str, Resources], key: str, arch: str) -> int | None:
        for a in (arch, "all"):
            value = getattr(table.get(a, Resources()), key)
            if value != -1:
                return value if value > 0 else None
        return None

    def minimum_of(self, key: str, arch: str) -> int | None:
        return self._get(self.minimum, key, arch)

    def recommended_of(self, key: str, arch: str) -> int | None:
        """Recommended figure, else twice the minimum (virt-install's approximation)."""
        value = self._get(self.recommended, key, arch)
        if value:
            return value
        minimum = self.minimum_of(key, arch)
        return minimum * 2 if minimum else None

    def network_install_ram(self, arch: str) -> int | None:
        for a in (arch, "all"):
            res = self.network_install.get(a)
            if res is not None:
                return res.ram if res.ram > 0 else None
        return None

    # -- firmware and install trees ---------------------------------------------------------------
    def _firmware(self, kind: str, arch: str, default: bool) -> bool:
        for fw in self.firmware:
            if fw.arch == arch and fw.type == kind:
                return fw.supported
        return default

    def requires_efi(self, arch: str) -> bool:
        return self._firmware("efi", arch, False) and not self._firmware("bios", arch, True)

    def supports_efi(self, arch: str) -> bool:
        return self._firmware("efi", arch, False)

    def kernel_url_arg(self) -> str | None:
        if self.kernel_url_arg_raw:
            return self.kernel_url_arg_raw
        if self.distro in ("caasp", "sle", "sled", "sles", "opensuse"):
            return "install"
        if self.distro in ("centos", "rhel", "fedora"):
            return "inst.repo"
        return None


GENERIC = OsInfo(name="generic", id=None)
