"""The seed's platform rules for one guest: device limits, install-method rules, clock args.

Pure functions of a defaulted :class:`~agent.guest.domain.Guest`. Each failed rule raises
:class:`GuestError` with a stable code; :func:`check` applies all of them (first failure wins).

Limits (seed A1.md §4): KVM has no SCSI emulation, at most 6 emulated IDE devices and 28 free
PCI slots for virtio disks and NICs; Xen allows 15 NICs per guest, 4 emulated IDE devices in HVM
and 256 PV block devices. PV guests run on Xen only, install from a network tree, and Windows
needs full virtualisation and local media (A2.md §10.2 V1, V2, V3, V5); Windows XP gets no virtio
disks, and no Windows install starts on a virtio boot disk without its driver floppy (C.md §10).
"""

from __future__ import annotations

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


def _count(guest: Guest, bus: str) -> int:
    return sum(1 for d in guest.disk if d.target_bus == bus)


def check(guest: Guest) -> None:
    """Apply every rule to a defaulted guest; raise the first :class:`GuestError`."""
    hv = guest.type
    windows = (guest.os_variant or "").startswith("win")
    if guest.paravirt:
        if hv != "xen":
            raise GuestError("para-virtualization works only with the Xen hypervisor",
                             "PV_REQUIRES_XEN")
        if windows:
            raise GuestError("Windows can only be installed fully virtualized",
                             "WINDOWS_REQUIRES_FULLVIRT")
        if guest.install != "import" and not (
                guest.install == "location" and (guest.location or "").startswith(TREE_SCHEMES)):
            raise GuestError("a para-virtualized guest installs from a network tree "
                             "(--location http://, ftp:// or nfs:)", "PV_REQUIRES_NETWORK_TREE")
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
    if guest.extra_args and guest.install != "location":
        raise GuestError("--extra-args only works with --location (kernel arguments cannot "
                         "be passed to a PXE or CD-ROM boot)", "EXTRA_ARGS_NEED_LOCATION")
    if guest.install == "pxe":
        if not guest.interface:
            raise GuestError("--pxe needs a network interface", "PXE_NEEDS_NIC")
        if not any(i.type == "bridge" for i in guest.interface):
            raise GuestError("a PXE install needs a bridged NIC (--network bridge=NAME)",
                             "PXE_NEEDS_BRIDGE")
    nics = len(guest.interface)
    if hv in ("kvm", "qemu", "test"):
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
    elif hv == "xen":
        if nics > XEN_MAX_NICS:
            raise GuestError(f"Xen allows at most {XEN_MAX_NICS} NICs per guest (got {nics})",
                             "XEN_NIC_LIMIT")
        if not guest.paravirt and _count(guest, "ide") > XEN_HVM_MAX_IDE:
            raise GuestError(f"Xen HVM allows at most {XEN_HVM_MAX_IDE} emulated IDE devices",
                             "XEN_IDE_LIMIT")
        if _count(guest, "xen") > XEN_PV_MAX_DISKS:
            raise GuestError(f"at most {XEN_PV_MAX_DISKS} PV block devices per guest",
                             "XEN_PV_DISK_LIMIT")
    macs = [i.mac_address for i in guest.interface]
    if len(set(macs)) != len(macs):
        raise GuestError("two NICs of this guest have the same MAC address", "MAC_CLASH")
