"""The ``Guest`` aggregate: one ``<domain>`` with os/boot, features, clock, pm and devices.

The install-time and final definitions of a two-phase install (virt-install's ``--print-xml``
prints both) are two ``Guest`` values made by :func:`install_and_final`.
"""

from __future__ import annotations

from typing import Any

from agent.guest.devices import (
    Channel,
    Console,
    Controller,
    Disk,
    Filesystem,
    Graphics,
    Input,
    Interface,
    Memballoon,
    Redirdev,
    Rng,
    Serial,
    Sound,
    Tpm,
    Video,
    Watchdog,
)
from agent.guest.xmlmodel import XMLBuilder, XMLChild, XMLProperty

OSINFO_NS = "{http://libosinfo.org/xmlns/libvirt/domain/1.0}"


class Boot(XMLBuilder):
    XML_NAME = "boot"
    dev = XMLProperty("./@dev")  # network | hd | cdrom


class FirmwareFeature(XMLBuilder):
    XML_NAME = "feature"
    enabled = XMLProperty("./@enabled", is_yesno=True)
    name = XMLProperty("./@name")  # secure-boot | enrolled-keys


class OS(XMLBuilder):
    """``<os>``: hvm/xen type, machine, firmware, boot order, or a direct kernel boot."""

    XML_NAME = "os"
    firmware = XMLProperty("./@firmware")  # efi: libvirt picks the loader (autoselection)
    arch = XMLProperty("./type/@arch")
    machine = XMLProperty("./type/@machine")
    os_type = XMLProperty("./type")  # hvm | xen (Xen PV)
    firmware_features = XMLChild(FirmwareFeature, relpath="./firmware")
    loader = XMLProperty("./loader")  # hvmloader (Xen) or a UEFI code file
    loader_readonly = XMLProperty("./loader/@readonly", is_yesno=True)
    loader_secure = XMLProperty("./loader/@secure", is_yesno=True)
    loader_type = XMLProperty("./loader/@type")  # rom | pflash
    nvram = XMLProperty("./nvram")
    nvram_template = XMLProperty("./nvram/@template")
    kernel = XMLProperty("./kernel")
    initrd = XMLProperty("./initrd")
    cmdline = XMLProperty("./cmdline")
    boot = XMLChild(Boot)
    bootmenu = XMLProperty("./bootmenu/@enable", is_yesno=True)


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
    vmport = XMLProperty("./vmport/@state", is_onoff=True)
    smm = XMLProperty("./smm/@state", is_onoff=True)


class CpuFeature(XMLBuilder):
    XML_NAME = "feature"
    policy = XMLProperty("./@policy")  # require | disable | force | optional | forbid
    name = XMLProperty("./@name")


class Cpu(XMLBuilder):
    """``<cpu>``: mode (host-passthrough, host-model, custom), a named model, topology."""

    XML_NAME = "cpu"
    mode = XMLProperty("./@mode")
    match = XMLProperty("./@match")
    check = XMLProperty("./@check")
    migratable = XMLProperty("./@migratable", is_onoff=True)
    model = XMLProperty("./model")
    model_fallback = XMLProperty("./model/@fallback")
    sockets = XMLProperty("./topology/@sockets", is_int=True)
    dies = XMLProperty("./topology/@dies", is_int=True)
    cores = XMLProperty("./topology/@cores", is_int=True)
    threads = XMLProperty("./topology/@threads", is_int=True)
    features = XMLChild(CpuFeature)

    def topology_total(self) -> int | None:
        parts = (self.sockets, self.dies or 1, self.cores, self.threads)
        if self.sockets is None and self.cores is None and self.threads is None:
            return None
        total = 1
        for p in parts:
            total *= p or 1
        return total


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
    vcpu_current = XMLProperty("./vcpu/@current", is_int=True)
    vcpu_placement = XMLProperty("./vcpu/@placement")
    bootloader = XMLProperty("./bootloader")  # Xen PV final phase: pygrub
    os = XMLChild(OS, is_single=True)
    features = XMLChild(Features, is_single=True)
    cpu = XMLChild(Cpu, is_single=True)
    clock = XMLChild(Clock, is_single=True)
    pm = XMLChild(PM, is_single=True)
    emulator = XMLProperty("./devices/emulator")
    disk = XMLChild(Disk, relpath="./devices")
    controller = XMLChild(Controller, relpath="./devices")
    filesystem = XMLChild(Filesystem, relpath="./devices")
    interface = XMLChild(Interface, relpath="./devices")
    serial = XMLChild(Serial, relpath="./devices")
    console = XMLChild(Console, relpath="./devices")
    channel = XMLChild(Channel, relpath="./devices")
    input = XMLChild(Input, relpath="./devices")
    tpm = XMLChild(Tpm, relpath="./devices")
    graphics = XMLChild(Graphics, relpath="./devices")
    sound = XMLChild(Sound, relpath="./devices")
    video = XMLChild(Video, relpath="./devices")
    redirdev = XMLChild(Redirdev, relpath="./devices")
    watchdog = XMLChild(Watchdog, relpath="./devices")
    memballoon = XMLChild(Memballoon, relpath="./devices")
    rng = XMLChild(Rng, relpath="./devices")
    on_poweroff = XMLProperty("./on_poweroff")
    on_reboot = XMLProperty("./on_reboot")
    on_crash = XMLProperty("./on_crash")

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        # Install-time facts, not XML: how the guest is installed and what else to do.
        self.install: str | None = None  # pxe | location | cdrom | import
        self.location: str | None = None
        self.location_kernel: str | None = None  # --location ...,kernel=PATH in the tree
        self.location_initrd: str | None = None
        self.install_disc: Disk | None = None  # the --cdrom medium (added by the installer)
        self.boot_given: bool = False  # --boot order or kernel without an install method
        self.extra_args: str | None = None
        self.os_variant: str | None = None
        # --osinfo: detect from the media, and whether a name is required (True, False or
        # "auto": virt-install's default, required for HVM guests)
        self.osinfo_detect: bool = True
        self.osinfo_require: bool | str = "auto"
        self.os_type_hint: str | None = None  # --os-type (legacy, only checked)
        self.paravirt: bool = False
        self.hvm: bool = False  # --hvm given
        self.autostart: bool = False
        self.transient: bool = False  # --transient: never defined, only started
        self.noreboot: bool = False  # --noreboot: leave the guest off after the install
        self.wait_minutes: float | None = None  # --wait
        self.boot_order: list[str] | None = None  # --boot: final boot order
        self.uefi: bool = False  # --boot uefi
        self.no_graphics: bool = False  # --graphics none
        self.no_memballoon: bool = False  # --memballoon none
        self.no_rng: bool = False  # --rng none
        self.no_network: bool = False  # --network none
        self.no_console: bool = False  # --console none
        self.no_channel: bool = False  # --channel none
        self.no_tpm: bool = False  # --tpm none
        self.no_sound: bool = False  # --sound none
        self.no_disks: bool = False  # --disk none
        self.cpu_given: bool = False  # --cpu given: no CPU defaults (virt-install)
        self.cpu_special: str | None = None  # --cpu host-model-only: the host's model name
        self.memory_given: bool = False
        self.vcpus_given: bool = False
        self.vcpus_zero: bool = False  # --vcpus 0 (refused unless limits are off)
        self.print_only: bool = False  # --print-xml: no install method needed (virt-install)
        self.install_kernel: str | None = None  # --location: fetched kernel, initrd, cmdline
        self.install_initrd: str | None = None
        self.install_cmdline: str | None = None
        self.boot_files: list[tuple[str, str]] = []  # (URL in the tree, local path) to fetch
        self.departures: list[str] = []  # the seed's departures applied (rules.DEPARTURES)
        self.reasons: list[tuple[str, str]] = []  # (what, why): the printed plan's defaults

    @property
    def devices(self) -> list[XMLBuilder]:
        return [*self.disk, *self.controller, *self.filesystem, *self.interface, *self.serial,
                *self.console, *self.channel, *self.input, *self.tpm, *self.graphics,
                *self.sound, *self.video, *self.redirdev, *self.watchdog, *self.memballoon,
                *self.rng]

    def explain(self, what: str, why: str) -> None:
        """Record why a default was chosen (``what`` names the setting, ``why`` the source)."""
        self.reasons.append((what, why))

    def copy(self) -> Guest:
        return self.clone()  # type: ignore[return-value]
