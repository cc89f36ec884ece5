"""What a paravirtual-driver plan is asked for: the guest (:class:`PvWant`), its disks and
kernel package name, and minimal host facts for callers without a probe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.facts.model import Distro, HostFacts, Kernel
from agent.plan.steps import PlanError
from provisioner.platform.osversion import parse_release


@dataclass(frozen=True)
class KernelRpm:
    variant: str
    version: str
    release: str
    arch: str
    rhel: int | None


def parse_kernel_rpm(name: str) -> KernelRpm:
    """``kernel-PAE-2.6.18-53.1.4.el5.i686`` -> (PAE, 2.6.18, 53.1.4.el5, i686, 5)."""
    base, _, arch = name.rpartition(".")
    parts = base.split("-")
    if not parts or parts[0] != "kernel":
        raise PlanError("E_BAD_KERNEL", f"not a kernel package: {name!r}")
    vi = next((i for i, p in enumerate(parts) if p[:1].isdigit()), None)
    if vi is None or vi + 1 >= len(parts):
        raise PlanError("E_BAD_KERNEL", f"no version-release in {name!r}")
    release = "-".join(parts[vi + 1:])
    m = re.search(r"\.el(\d+)", release) or re.search(r"\.EL", release)
    rhel = int(m.group(1)) if m and m.groups() else None
    return KernelRpm("-".join(parts[1:vi]), parts[vi], release, arch, rhel)


@dataclass(frozen=True)
class Disk:
    path: str                       # file path or block device
    backend: str = "file"           # file | phy
    pv: bool = True                 # use the PV/virtio driver for this disk
    boot: bool = False              # holds MBR, GRUB, /boot


@dataclass(frozen=True)
class PvWant:
    guest_os: str = "rhel"          # rhel | windows
    guest_version: str = "5.4"      # "5.2" | "xp" | "2003" | "vista" | "2008"
    guest_arch: str = "x86_64"
    guest_kernel: str | None = None  # kernel rpm name, for the variant (RHEL 3/4/5 on Xen)
    cpu_vendor: str | None = None    # intel | amd (RHEL 3 only)
    guest_name: str = "guest"
    nics: int = 1
    disks: tuple[Disk, ...] = ()
    pv_release: str = "0.1-5.el"    # PV driver release (RHEL 3/4 insmod paths)
    drivers_installed: bool = False  # Windows: virtio drivers already inside the guest
    install_time: bool = False       # Windows: being installed now (viostor.vfd floppy)
    virtio_boot_disk: bool = False   # KVM Linux: move the boot disk to virtio (initrd rebuild)
    extra_pci_devices: int = 0       # VT-d and other PCI devices (28-slot budget)
    host_tap_aio_in_use: int = 0     # tap:aio devices already used on this Xen host
    kmod_names: dict[str, str] = field(default_factory=dict)  # variant -> package override


def host_facts(hypervisor: str, version: str, arch: str = "x86_64") -> HostFacts:
    """Minimal facts of a hypervisor host (for callers without a probe, e.g. kickstarts)."""
    release = "2.6.18-xen" if hypervisor == "xen" else "2.6.18"
    return HostFacts(kernel=Kernel(release=release, arch=arch, is_xen=hypervisor == "xen",
                                   kvm_modules=("kvm",) if hypervisor == "kvm" else ()),
                     distro=Distro(id="rhel", family="rhel", version=version))


def version_of(text: str) -> tuple[int, int]:
    """A release (``5.4``) as (major, minor); PlanError when it is none."""
    release = parse_release(str(text))
    if release is None:
        raise PlanError("E_BAD_VERSION", f"bad version {text!r}")
    return release


def kernel_variant(want: PvWant) -> str:
    """The guest kernel variant as Table 14.1 names it (``i686``, ``x86_64-SMP``, ``ia32e``...)."""
    if not want.guest_kernel:
        return "i686" if want.guest_arch in ("i386", "i586", "x86") else want.guest_arch
    k = parse_kernel_rpm(want.guest_kernel)
    arch = "i686" if k.arch in ("i386", "i586", "i686") else k.arch
    if arch == "ia32e":
        return "ia32e"
    return f"{arch}-{k.variant}" if k.variant else arch


def kmod_package(want: PvWant) -> str:
    """``kmod-xenpv`` plus the kernel variant (derived naming, configurable per variant)."""
    variant = parse_kernel_rpm(want.guest_kernel).variant if want.guest_kernel else ""
    if variant in want.kmod_names:
        return want.kmod_names[variant]
    return f"kmod-xenpv-{variant}" if variant else "kmod-xenpv"
