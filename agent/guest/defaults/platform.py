"""Domain type, OS type, arch, emulator, machine type and firmware (virt-install's
``set_capabilities_defaults``, ``_set_default_machine`` and ``_set_default_uefi``)."""

from __future__ import annotations

from agent.guest.defaults.context import Ctx
from agent.guest.errors import GuestError


def capabilities(ctx: Ctx) -> None:
    """Pick the guest type from the host's capabilities the way virt-install does."""
    g, caps = ctx.guest, ctx.host.caps
    wanted_os = g.os.os_type
    gcaps = caps.guest_for(wanted_os, g.os.arch)
    if gcaps is None:
        what = f"virtualization type {wanted_os!r}" if wanted_os else "any virtualization"
        arch = f" for architecture {g.os.arch!r}" if g.os.arch else ""
        offered = ", ".join(sorted({gc.os_type + "/" + gc.arch for gc in caps.guests}))
        raise GuestError(f"this host does not support {what}{arch} (its capabilities list "
                         f"{offered})",
                         "HV_UNSUPPORTED")
    if g.os.machine and g.os.machine not in gcaps.machines and \
            g.os.machine not in gcaps.canonical.values():
        raise GuestError(f"machine type {g.os.machine!r} is not offered for {gcaps.arch} by this "
                         "host's emulator (capabilities)", "MACHINE_UNSUPPORTED")
    domain = caps.best_domain(gcaps, g.type)
    if domain is None:
        raise GuestError(f"this host does not support domain type {g.type!r} for "
                         f"{gcaps.os_type} guests on {gcaps.arch} (capabilities offer "
                         f"{', '.join(gcaps.domain_types) or 'none'})", "HV_UNSUPPORTED")
    if not g.type:
        g.explain("domain type", f"{domain}: preferred among {', '.join(gcaps.domain_types)} "
                                 "(host capabilities; virt-install prefers kvm, xen, qemu)")
    g.type, g.os.os_type, g.os.arch = domain, gcaps.os_type, gcaps.arch
    if not g.os.loader and gcaps.loader:
        g.os.loader = gcaps.loader
    if not g.emulator and not ctx.is_xenpv:
        g.emulator = gcaps.emulator
    if not g.os.machine and ctx.qemu and gcaps.arch in ("aarch64", "armv7l") and \
            "virt" in gcaps.machines:
        g.os.machine = "virt"
        g.explain("machine", "virt: the machine type for ARM guests (virt-install)")
    ctx.gcaps = gcaps


def machine(ctx: Ctx) -> None:
    """q35 for x86 QEMU/KVM guests whose OS supports it, else the host's first machine."""
    g = ctx.guest
    if g.os.machine or ctx.gcaps is None:
        return
    if ctx.is_x86 and ctx.qemu and "q35" in ctx.gcaps.machines and ctx.osinfo.supports("q35"):
        g.os.machine = "q35"
        g.explain("machine", f"q35: {ctx.osinfo.name} supports it (libosinfo lists q35 and "
                             "virtio 1.0)")
        return
    g.os.machine = ctx.gcaps.machines[0] if ctx.gcaps.machines else None
    if ctx.is_x86 and ctx.qemu:
        why = ctx.osinfo.why("q35") if not ctx.osinfo.is_generic else "no OS name given"
        g.explain("machine", f"{g.os.machine}: the host's default machine; {why}")


def firmware(ctx: Ctx) -> None:
    """UEFI when asked (``--boot uefi``) or when the OS cannot boot from BIOS."""
    g, o = ctx.guest, ctx.guest.os
    prefer = ctx.osinfo.requires_efi(ctx.arch) if ctx.is_x86 and ctx.qemu else \
        ctx.is_arm_machvirt
    untouched = not o.kernel and not o.loader and o.loader_readonly is None and \
        o.nvram is None and o.firmware is None
    if not (prefer and untouched) and not g.uefi:
        return
    why = "--boot uefi" if g.uefi else (
        f"{ctx.osinfo.name} requires UEFI (libosinfo: no BIOS)" if ctx.is_x86
        else "ARM virt machines boot UEFI")
    try:
        _enable_uefi(ctx, why)
    except GuestError:
        if g.uefi:
            raise
        g.explain("firmware", f"UEFI wanted ({why}) but the host offers none: BIOS")


def secure_boot_smm(ctx: Ctx) -> None:
    """A secure loader needs SMM (libvirt refuses the guest otherwise; virt-install only adds
    it for loaders it picks itself, so ``--boot loader.secure=yes`` alone would fail)."""
    g = ctx.guest
    if g.os.loader_secure and g.features.smm is None and ctx.is_x86:
        g.features.smm = True
        g.explain("features", "smm on: the secure-boot loader needs it (libvirt)")


def _enable_uefi(ctx: Ctx, why: str) -> None:
    g, o = ctx.guest, ctx.guest.os
    dc = ctx.domcaps()
    if dc is not None and dc.supports_firmware_efi():
        o.firmware = "efi"
        g.explain("firmware", f"efi: {why}; libvirt picks the UEFI build and its NVRAM "
                              "template (domain capabilities offer firmware autoselection)")
        return
    if dc is None or not dc.supports_uefi_loader():
        raise GuestError("UEFI was asked for but this host's domain capabilities offer no UEFI "
                         "loader (install OVMF/AAVMF, or drop --boot uefi)", "UEFI_UNAVAILABLE")
    path = dc.uefi_loader(ctx.arch)
    if not path:
        raise GuestError(f"no UEFI loader for {ctx.arch} among the host's loaders "
                         f"({', '.join(dc.loaders) or 'none'})", "UEFI_UNAVAILABLE")
    o.loader, o.loader_readonly, o.loader_type = path, True, "pflash"
    g.explain("firmware", f"{path}: {why}; first UEFI loader for {ctx.arch} in the domain "
                          "capabilities")
    # virt-install looks for "secboot"; Debian's MS-enrolled build (*.ms.fd) is the same
    # secure-boot firmware under another name and needs SMM too (the agent's addition)
    if ctx.is_x86 and ("secboot" in path or ".ms." in path):
        g.features.smm = True
        o.loader_secure = True
        if not ctx.is_q35:
            o.machine = "q35"
            g.explain("machine", "q35: the secure-boot UEFI build needs SMM (q35 only)")
