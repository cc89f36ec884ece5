"""The ``Guest`` aggregate: one ``<domain>`` with os/boot, features, clock, pm and devices.

The install-time and final definitions of a two-phase install (virt-install's ``--print-xml``
prints both) are two ``Guest`` values made by :func:`install_and_final`.
"""

from __future__ import annotations

from agent.guest.devices import Console, Controller, Disk, Graphics, Input, Interface, Serial, Video
from agent.guest.xmlmodel import XMLBuilder, XMLChild, XMLProperty

OSINFO_NS = "{http://libosinfo.org/xmlns/libvirt/domain/1.0}"


class Boot(XMLBuilder):
    XML_NAME = "boot"
    dev = XMLProperty("./@dev")  # network | hd | cdrom


class OS(XMLBuilder):
    """``<os>``: hvm/linux type, machine, boot order, or a direct kernel boot."""

    XML_NAME = "os"
    arch = XMLProperty("./type/@arch")
    machine = XMLProperty("./type/@machine")
    os_type = XMLProperty("./type")  # hvm | xen (Xen PV)
    loader = XMLProperty("./loader")  # Xen HVM: hvmloader
    kernel = XMLProperty("./kernel")
    initrd = XMLProperty("./initrd")
    cmdline = XMLProperty("./cmdline")
    boot = XMLChild(Boot)


class Hyperv(XMLBuilder):
    """Hyper-V enlightenments virt-install gives Windows guests."""

    XML_NAME = "hyperv"
    relaxed = XMLProperty("./relaxed/@state", is_onoff=True)
    vapic = XMLProperty("./vapic/@state", is_onoff=True)
    spinlocks = XMLProperty("./spinlocks/@state", is_onoff=True)
    spinlocks_retries = XMLProperty("./spinlocks/@retries", is_int=True)


class Features(XMLBuilder):
    XML_NAME = "features"
    acpi = XMLProperty("./acpi", is_bool=True)
    apic = XMLProperty("./apic", is_bool=True)
    pae = XMLProperty("./pae", is_bool=True)
    hyperv = XMLChild(Hyperv, is_single=True)


class Timer(XMLBuilder):
    XML_NAME = "timer"
    name = XMLProperty("./@name")
    tickpolicy = XMLProperty("./@tickpolicy")
    present = XMLProperty("./@present", is_yesno=True)


class Clock(XMLBuilder):
    XML_NAME = "clock"
    offset = XMLProperty("./@offset")  # utc | localtime
    timer = XMLChild(Timer)


class PM(XMLBuilder):
    XML_NAME = "pm"
    suspend_to_mem = XMLProperty("./suspend-to-mem/@enabled", is_yesno=True)
    suspend_to_disk = XMLProperty("./suspend-to-disk/@enabled", is_yesno=True)


class OsinfoOS(XMLBuilder):
    XML_NAME = f"{OSINFO_NS}os"
    id = XMLProperty("./@id")


class Libosinfo(XMLBuilder):
    XML_NAME = f"{OSINFO_NS}libosinfo"
    os = XMLChild(OsinfoOS, is_single=True)


class Metadata(XMLBuilder):
    XML_NAME = "metadata"
    libosinfo = XMLChild(Libosinfo, is_single=True)


class Guest(XMLBuilder):
    """``<domain>``. Device lists keep virt-install's element order inside ``<devices>``."""

    XML_NAME = "domain"
    type = XMLProperty("./@type")  # qemu | kvm | xen
    name = XMLProperty("./name")
    uuid = XMLProperty("./uuid")
    metadata = XMLChild(Metadata, is_single=True)
    memory_kib = XMLProperty("./memory", is_int=True)
    current_memory_kib = XMLProperty("./currentMemory", is_int=True)
    vcpus = XMLProperty("./vcpu", is_int=True)
    bootloader = XMLProperty("./bootloader")  # Xen PV final phase: pygrub
    os = XMLChild(OS, is_single=True)
    features = XMLChild(Features, is_single=True)
    cpu_mode = XMLProperty("./cpu/@mode")  # host-model on KVM (virt-install's default)
    clock = XMLChild(Clock, is_single=True)
    pm = XMLChild(PM, is_single=True)
    emulator = XMLProperty("./devices/emulator")
    disk = XMLChild(Disk, relpath="./devices")
    controller = XMLChild(Controller, relpath="./devices")
    interface = XMLChild(Interface, relpath="./devices")
    serial = XMLChild(Serial, relpath="./devices")
    console = XMLChild(Console, relpath="./devices")
    input = XMLChild(Input, relpath="./devices")
    graphics = XMLChild(Graphics, relpath="./devices")
    video = XMLChild(Video, relpath="./devices")
    on_reboot = XMLProperty("./on_reboot")

    def __init__(self, **values) -> None:
        super().__init__(**values)
        # Install-time facts, not XML: how the guest is installed and what else to do.
        self.install: str | None = None  # pxe | location | cdrom | import
        self.location: str | None = None
        self.extra_args: str | None = None
        self.os_variant: str | None = None
        self.paravirt: bool = False
        self.autostart: bool = False
        self.boot_order: list[str] | None = None  # --boot: final boot order
        self.no_graphics: bool = False  # --graphics none
        self.boot_files: list[tuple[str, str]] = []  # (URL in the tree, local path) to fetch

    @property
    def devices(self) -> list[XMLBuilder]:
        return [*self.disk, *self.controller, *self.interface, *self.serial, *self.console,
                *self.input, *self.graphics, *self.video]

    def copy(self) -> Guest:
        return self.clone()  # type: ignore[return-value]


def install_and_final(guest: Guest) -> tuple[Guest, Guest]:
    """Split a fully defaulted guest into virt-install's install phase and final definition.

    Install phase: the install boot source first (network, cdrom or a fetched kernel) and
    ``on_reboot=destroy``, so the first reboot ends the phase. Final: boot from the disk (Xen PV:
    through pygrub), no kernel, default on_reboot. ``--import`` has a single phase.
    """
    final = guest.copy()
    final.os.kernel = final.os.initrd = final.os.cmdline = None
    final.on_reboot = None
    # virt-install ejects the install CD-ROM in the final definition, except for Windows, whose
    # setup reads the disc again after its first reboot.
    windows = (guest.os_variant or "").startswith("win")
    for disk in final.disk:
        if disk.install_media and not windows:
            disk.source_file = disk.source_dev = disk.driver_name = None
    if guest.paravirt:
        final.os.boot.clear()
        final.bootloader = "/usr/bin/pygrub"
    else:
        final.os.boot[:] = [Boot(dev=d) for d in (guest.boot_order or ["hd"])]
    if guest.install == "import":
        return final, final
    install = guest.copy()
    install.on_reboot = "destroy"
    if guest.paravirt or guest.install == "location":
        install.os.boot.clear()
    else:
        first = {"pxe": "network", "cdrom": "cdrom"}[guest.install or "pxe"]
        install.os.boot[:] = [Boot(dev=first), Boot(dev="hd")]
    return install, final
