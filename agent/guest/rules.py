"""The seed's platform rules for the seed's guests: device limits, install-method rules, clock
arguments, and the few places where the seed's Xen differs from today's virt-install.

They apply to the seed's variants (RHEL 3-5, Windows XP/2003/2008; ``osdb.is_seed_variant``);
every other guest gets virt-install's semantics unchanged.
Pure functions of a defaulted :class:`~agent.guest.domain.Guest`. Each failed rule raises
:class:`GuestError` with a stable code; :func:`check` applies all of them (first failure wins);
:func:`adjust` applies the seed's departures (:data:`DEPARTURES` names each with its source).

Limits (seed A1.md §4): KVM has no SCSI emulation, at most 6 emulated IDE devices and 28 free
PCI slots for virtio disks and NICs; Xen allows 15 NICs per guest, 4 emulated IDE devices in HVM
and 256 PV block devices. PV guests run on Xen only, install from a network tree, and Windows
needs full virtualisation and local media (A2.md §10.2 V1, V2, V3, V5); Windows XP gets no virtio
disks, and no Windows install starts on a virtio boot disk without its driver floppy (C.md §10).
"""

from __future__ import annotations

from collections.abc import Callable

from agent.guest import osdb
from agent.guest.devices import Disk
from agent.guest.devices.disk import target_name
from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.plan.bootparams import guest_clock_params
from agent.plan.steps import PlanError
from provisioner.platform.tables import limit

# the seed's numbers, from provisioner/platform/data/limits.toml
KVM_MAX_IDE: int = limit("kvm.max_ide")
KVM_PCI_SLOTS: int = limit("kvm.max_pci_free")
XEN_MAX_NICS: int = limit("xen.max_nics")
XEN_HVM_MAX_IDE: int = limit("xen.max_hvm_ide")
XEN_PV_MAX_DISKS: int = limit("xen.max_pv_devices")
TREE_SCHEMES = ("http://", "https://", "ftp://", "nfs:")

def clock_args(version: tuple[int, ...], arch: str, *, constant_tsc: bool, pvclock: bool = False,
               lpj: int | None = None) -> str:
    """Extra guest kernel arguments from the seed's timing table ('' when none are needed).

    The table (seed D1.md §2.5) is the host-prep planner's
    (:func:`agent.plan.bootparams.guest_clock_params`); it applies to hosts without a constant
    TSC. 5.4 with the para-virtualised clock (kvm-clock, KVM only) needs nothing; ``lpj=<n>`` is
    added only when the host's loops-per-jiffy is known. Versions the table cannot place: ''.
    """
    if constant_tsc or len(version) < 2:
        return ""
    try:
        params, _warnings = guest_clock_params(f"{version[0]}.{version[1]}", arch,
                                               pv_clock=pvclock, lpj=lpj)
    except PlanError:
        return ""
    return " ".join(params)


#: What the seed does differently from virt-install 4.1, and where the seed says so.
DEPARTURES = {
    "xen-tap-driver": "Xen file disks use the tap:aio PV driver (seed C.md §14.5.2)",
    "xen-hvm-pv-disks": "a Xen HVM guest boots from emulated hda; further disks are PV xvd* "
                        "(seed C.md §14.5.2)",
    "xen-file-driver": "emulated Xen HVM disks use the file: driver, as in the seed's guest "
                       "configuration files (seed E.md §23)",
    "xen-pv-pygrub": "installed Xen PV guests boot through pygrub (seed E.md §23)",
    "clock-args": "RHEL guests on hosts without a constant TSC get the timing table's kernel "
                  "arguments on the install command line (seed D1.md §2.5)",
    "seed-vcpus": "seed guests get 1 vCPU unless --vcpus says otherwise (the seed's virt-install "
                  "default and its guest configuration files, E.md: vcpus = 1)",
    "seed-method-arg": "RHEL 3-5 installers find a network tree through method= (seed "
                       "Example 6.x kickstarts; libosinfo gives RHEL 3/4 no kernel URL argument)",
    "seed-xen-clock": "seed Xen PV guests state their clock as UTC (libvirt's default, written "
                      "out)",
    "seed-aliases": "the seed's --os-variant rhel4/rhel5 spellings mean rhel4.0/rhel5.0 "
                    "(seed Example 6.3)",
}


def applies(guest: Guest) -> bool:
    """The seed's rules cover the seed's variants only."""
    return osdb.is_seed_variant(guest.os_variant)


def adjust(guest: Guest, *, constant_tsc: bool) -> list[str]:
    """Apply the seed's departures to a defaulted seed guest; return the DEPARTURES keys used."""
    if not applies(guest):
        return []
    used = []
    if guest.type == "xen":
        used += _xen_disks(guest)
        if guest.paravirt and guest.clock.offset is None:
            guest.clock.offset = "utc"
            used.append("seed-xen-clock")
    variant = osdb.KNOWN.get(osdb.ALIASES.get(guest.os_variant or "", guest.os_variant or ""))
    if variant and variant.family == "linux" and guest.type in ("kvm", "qemu") and \
            guest.install == "location":
        clock = clock_args(variant.version, guest.os.arch or "", constant_tsc=constant_tsc,
                           pvclock=guest.type == "kvm")
        have = {a.split("=")[0] for a in (guest.install_cmdline or "").split()}
        extra = [a for a in clock.split() if a.split("=")[0] not in have]
        if extra:
            guest.install_cmdline = " ".join([guest.install_cmdline or "", *extra]).strip()
            guest.explain("install", f"{' '.join(extra)}: {DEPARTURES['clock-args']}")
            used.append("clock-args")
    return used


def seed_vcpus(guest: Guest) -> bool:
    """Before the defaults: a seed guest without --vcpus gets 1 (not libosinfo's advice)."""
    if applies(guest) and not guest.vcpus and guest.cpu.topology_total() is None:
        guest.vcpus = 1
        guest.explain("vcpus", f"1: {DEPARTURES['seed-vcpus']}")
        return True
    return False


def method_arg(guest: Guest) -> str | None:
    """The seed's tree argument for RHEL 3-5 installers (``method``), else None."""
    variant = osdb.KNOWN.get(osdb.ALIASES.get(guest.os_variant or "", guest.os_variant or ""))
    if applies(guest) and variant and variant.family == "linux":
        return "method"
    return None


def _xen_disks(guest: Guest) -> list[str]:
    """The seed's Xen disks: HVM boots from emulated hda (file driver), further disks and all
    PV disks are PV xvd* devices on the tap:aio driver; block devices use phy."""
    used = []
    disks = [d for d in guest.disk if not d.is_cdrom]
    for i, d in enumerate(disks):
        if not guest.paravirt and i > 0 and d.target_bus == "ide" and not d.bus_given:
            d.target_bus, d.target_dev = "xen", None
            used.append("xen-hvm-pv-disks")
        if d.type == "block":
            d.driver_name, d.driver_type = "phy", None
        elif d.target_bus == "xen":
            d.driver_name, d.driver_type = "tap", "aio"
            used.append("xen-tap-driver")
        else:
            d.driver_name, d.driver_type = "file", None
            used.append("xen-file-driver")
    _retarget(guest, disks)
    return sorted(set(used))


def adjust_final(guest: Guest, final: Guest) -> None:
    """An installed seed Xen PV guest boots through pygrub, without a boot order."""
    if applies(guest) and guest.paravirt and guest.type == "xen":
        final.os.boot.clear()
        final.bootloader = "/usr/bin/pygrub"
        if "xen-pv-pygrub" not in guest.departures:
            guest.departures.append("xen-pv-pygrub")


def _retarget(guest: Guest, disks: list[Disk]) -> None:
    used = {d.target_dev for d in guest.disk if d.target_dev}
    for d in disks:
        if d.target_dev is None:
            n = 0
            while target_name(d.target_bus or "xen", n) in used:
                n += 1
            d.target_dev = target_name(d.target_bus or "xen", n)
            used.add(d.target_dev)


def _count(guest: Guest, bus: str) -> int:
    return sum(1 for d in guest.disk if d.target_bus == bus)


def _windows(guest: Guest) -> bool:
    return (guest.os_variant or "").startswith("win")


def _check_paravirt(guest: Guest) -> None:
    """A PV guest: Xen only, never Windows, installed from a network tree (or imported)."""
    if not guest.paravirt:
        return
    if guest.type != "xen":
        raise GuestError("para-virtualization works only with the Xen hypervisor",
                         "PV_REQUIRES_XEN")
    if _windows(guest):
        raise GuestError("Windows can only be installed fully virtualized",
                         "WINDOWS_REQUIRES_FULLVIRT")
    if guest.install != "import" and not (
            guest.install == "location" and (guest.location or "").startswith(TREE_SCHEMES)):
        raise GuestError("a para-virtualized guest installs from a network tree "
                         "(--location http://, ftp:// or nfs:)", "PV_REQUIRES_NETWORK_TREE")


def _check_windows(guest: Guest) -> None:
    """Windows: local media, and disks its setup can see (XP has no virtio block driver)."""
    windows = _windows(guest)
    if windows and guest.install == "location":
        raise GuestError("Windows installs from local media (--cdrom), not a network tree",
                         "WINDOWS_REQUIRES_LOCAL_MEDIA")
    disks = [d for d in guest.disk if not d.is_cdrom]
    if guest.os_variant == "winxp" and any(d.target_bus == "virtio" for d in disks):
        raise GuestError("Windows XP has virtio network drivers only: use bus=ide for its disks",
                         "WINXP_NO_VIRTIO_BLOCK")
    if windows and guest.install == "cdrom" and disks and disks[0].target_bus == "virtio":
        raise GuestError("Windows setup cannot see a virtio boot disk without the driver floppy; "
                         "install on bus=ide and switch to virtio once the drivers are in",
                         "WINDOWS_VIRTIO_BOOT_NEEDS_DRIVERS")


def _check_pxe(guest: Guest) -> None:
    """A PXE install boots from a bridged NIC."""
    if guest.install != "pxe":
        return
    if not guest.interface:
        raise GuestError("--pxe needs a network interface", "PXE_NEEDS_NIC")
    if not any(i.type == "bridge" for i in guest.interface):
        raise GuestError("a PXE install needs a bridged NIC (--network bridge=NAME)",
                         "PXE_NEEDS_BRIDGE")


def _check_kvm_devices(guest: Guest) -> None:
    """KVM's device limits: no SCSI, few IDE devices, a fixed number of PCI slots."""
    if guest.type not in ("kvm", "qemu", "test"):
        return
    if any(d.target_bus == "scsi" for d in guest.disk):
        raise GuestError("SCSI emulation is disabled on KVM; use bus=virtio or ide",
                         "KVM_NO_SCSI")
    if _count(guest, "ide") > KVM_MAX_IDE:
        raise GuestError(f"KVM allows at most {KVM_MAX_IDE} emulated IDE devices "
                         f"(got {_count(guest, 'ide')})", "KVM_IDE_LIMIT")
    pci = _count(guest, "virtio") + sum(1 for i in guest.interface if i.model_type == "virtio")
    if pci > KVM_PCI_SLOTS:
        raise GuestError(f"KVM has {KVM_PCI_SLOTS} free PCI slots for virtio disks and "
                         f"NICs (got {pci})", "PCI_SLOTS_EXCEEDED")


def _check_xen_devices(guest: Guest) -> None:
    """Xen's device limits: NICs per guest, emulated IDE devices (HVM), PV block devices."""
    if guest.type != "xen":
        return
    nics = len(guest.interface)
    if nics > XEN_MAX_NICS:
        raise GuestError(f"Xen allows at most {XEN_MAX_NICS} NICs per guest (got {nics})",
                         "XEN_NIC_LIMIT")
    if not guest.paravirt and _count(guest, "ide") > XEN_HVM_MAX_IDE:
        raise GuestError(f"Xen HVM allows at most {XEN_HVM_MAX_IDE} emulated IDE devices",
                         "XEN_IDE_LIMIT")
    if _count(guest, "xen") > XEN_PV_MAX_DISKS:
        raise GuestError(f"at most {XEN_PV_MAX_DISKS} PV block devices per guest",
                         "XEN_PV_DISK_LIMIT")


#: the seed's rules for a guest, in the order they are checked (the first failure is raised)
CHECKS: tuple[Callable[[Guest], None], ...] = (
    _check_paravirt, _check_windows, _check_pxe, _check_kvm_devices, _check_xen_devices)


def check(guest: Guest) -> None:
    """Apply every seed rule to a defaulted seed guest; raise the first :class:`GuestError`."""
    if not applies(guest):
        return
    for rule in CHECKS:
        rule(guest)
