"""The seed's paravirtual-driver rules (notes C §10): which host, guest release, kernel variant
and device counts can have PV drivers, checked in the seed's order; the first failure wins.

The data are ``provisioner/platform/data/pv_matrix.toml`` (driver-specific) and
``limits.toml`` (device limits and releases other rules share).
"""

from __future__ import annotations

from agent.facts.model import HostFacts
from agent.plan.paravirt.want import PvWant, kernel_variant, version_of
from agent.plan.steps import PlanError
from provisioner.platform.tables import limit, pv_matrix


def virtio_floor(major: int) -> str | None:
    """The first RHEL ``major`` release whose default kernel carries virtio (None: none)."""
    floor: str | None = limit("kvm.virtio_min_guest_release").get(f"rhel{major}")
    return floor


def validate(facts: HostFacts, want: PvWant) -> None:
    """The seed's rules in order; the first failure wins (notes C §10)."""
    hv = facts.hypervisor
    if hv not in ("xen", "kvm"):
        raise PlanError("E_NO_HYPERVISOR", "the host runs neither a Xen kernel nor kvm")
    _check_host(facts)
    if want.guest_arch in ("ia64", "IA64") or "ia64" in (want.guest_kernel or ""):
        raise PlanError("E_ARCH_UNSUPPORTED", "Itanium PV driver builds are not available")
    if hv == "xen" and want.guest_os == "rhel":
        _check_xen_rhel(facts, want)
        _check_xen_devices(want)
    if hv == "xen" and want.guest_os == "windows":
        raise PlanError("E_SEE_WINDOWS_PV_GUIDE", "Windows PV drivers on Xen are in the separate "
                        "Windows Para-virtualized Drivers Guide")
    if hv == "kvm" and want.guest_os == "rhel":
        gv = version_of(want.guest_version)
        floor = virtio_floor(gv[0])
        if gv[0] < 6 and (floor is None or gv < version_of(floor)):
            raise PlanError("E_GUEST_NO_VIRTIO", f"RHEL {want.guest_version} has no virtio "
                            "drivers (4.8+ and 5.3+ do)")
    if hv == "kvm" and want.guest_os == "windows":
        _check_kvm_windows(want)
    if hv == "kvm":
        devices = want.nics + sum(1 for d in want.disks if d.pv) + want.extra_pci_devices
        if devices > limit("kvm.max_pci_free"):
            raise PlanError("E_PCI_SLOTS_EXCEEDED", f"{devices} devices: a guest has "
                            f"{limit('kvm.max_pci_free')} PCI slots")


def _check_host(facts: HostFacts) -> None:
    # The seed's host minimums are RHEL releases; other distributions (Debian...) are current.
    host_v = (facts.distro.version_tuple[:2] or (0, 0)) if facts.distro.family == "rhel" \
        else (99, 0)
    if facts.hypervisor == "xen" and host_v < version_of(pv_matrix()["xen"]["min_host"]):
        raise PlanError("E_HOST_TOO_OLD", "Xen PV drivers need a RHEL 5.1 or later host")
    if facts.hypervisor == "kvm" and host_v < version_of(limit("kvm.min_host_release")):
        raise PlanError("E_HOST_TOO_OLD_FOR_VIRTIO", "virtio needs a RHEL 5.4 or later host")


def _check_xen_rhel(facts: HostFacts, want: PvWant) -> None:
    """A RHEL guest on Xen: a release with a driver package, a kernel variant of Table 14.1,
    and for RHEL 3 the host kernel arch Tables 14.2/14.3 ask for."""
    xen = pv_matrix()["xen"]
    gv = version_of(want.guest_version)
    if gv[0] < 3:
        raise PlanError("E_GUEST_UNSUPPORTED", f"RHEL {want.guest_version} is not supported")
    floor = xen["min_guest"].get(str(gv[0]))
    if floor is None:
        raise PlanError("E_GUEST_UNSUPPORTED", f"RHEL {want.guest_version} has no Xen PV "
                        "driver package in the seed (3.9+, 4.6+, 5.1+)")
    if gv < version_of(floor):
        raise PlanError("E_GUEST_TOO_OLD", f"RHEL {want.guest_version}: needs {floor} or later")
    variant = kernel_variant(want)
    allowed = {a.lower() for a in xen["variants"].get(str(gv[0]), [])}
    if variant.lower() not in allowed:
        raise PlanError("E_KERNEL_VARIANT_UNSUPPORTED",
                        f"kernel {variant} is not in Table 14.1 for RHEL {gv[0]}")
    if gv[0] == 3:
        vendor = (want.cpu_vendor or "intel").lower()
        table = {k.lower(): v for k, v in xen["rhel3_host_kernel"].get(vendor, {}).items()}
        need = table.get(variant.lower())
        if need and need != facts.kernel.arch:
            raise PlanError("E_HOST_KERNEL_MISMATCH",
                            f"RHEL 3 {variant} ({vendor}) needs a {need} host kernel, "
                            f"not {facts.kernel.arch}")


def _check_xen_devices(want: PvWant) -> None:
    pv_disks = [d for d in want.disks if d.pv]
    if any(d.boot for d in pv_disks):
        raise PlanError("E_BOOT_DISK_NOT_PV", "GRUB cannot read PV block devices: the disk "
                        "with the MBR, GRUB and /boot stays emulated")
    if want.nics > limit("xen.max_nics"):
        raise PlanError("E_TOO_MANY_NICS", f"at most {limit('xen.max_nics')} NICs per Xen guest")
    if len(pv_disks) > limit("xen.max_pv_devices"):
        raise PlanError("E_TOO_MANY_DISKS",
                        f"at most {limit('xen.max_pv_devices')} PV block devices per guest")
    taps = sum(1 for d in pv_disks if d.backend == "file")
    if want.host_tap_aio_in_use + taps > limit("xen.max_tap_aio"):
        raise PlanError("E_TAP_AIO_LIMIT", f"at most {limit('xen.max_tap_aio')} tap:aio "
                        "devices per Xen host; use phy: devices")


def _check_kvm_windows(want: PvWant) -> None:
    kvm = pv_matrix()["kvm"]
    ver = want.guest_version.lower()
    if ver not in kvm["windows"]:
        raise PlanError("E_GUEST_UNSUPPORTED", f"Windows {want.guest_version}: one of "
                        + ", ".join(kvm["windows"]))
    pv_disks = [d for d in want.disks if d.pv]
    if ver in kvm["windows_no_virtio_block"] and pv_disks:
        raise PlanError("E_WINXP_NO_VIRTIO_BLOCK", "Windows XP supports only the virtio NIC")
    if any(d.boot for d in pv_disks) and not want.drivers_installed and not want.install_time:
        raise PlanError("E_WOULD_NOT_BOOT", "the guest will not boot: install the virtio "
                        "drivers before switching its boot disk to virtio")
