"""Clock, features and power management (virt-install's ``DomainClock``, ``DomainFeatures``
and ``DomainPm`` ``set_defaults``)."""

from __future__ import annotations

from agent.guest.defaults.context import Ctx
from agent.guest.domain import Hyperv, Timer


def clock(ctx: Ctx) -> None:
    g = ctx.guest
    if not ctx.is_hvm:
        return
    if g.clock.offset is None:
        g.clock.offset = ctx.osinfo.clock
        if g.clock.offset == "localtime":
            g.explain("clock", f"localtime: {ctx.osinfo.name} keeps its clock in local time")
    if g.clock.timer or not ctx.is_x86 or not ctx.qemu:
        return
    g.clock.timer[:] = [Timer(name="rtc", tickpolicy="catchup"),
                        Timer(name="pit", tickpolicy="delay"), Timer(name="hpet", present=False)]
    if ctx.osinfo.is_windows:
        g.clock.timer.append(Timer(name="hypervclock", present=True))


def features(ctx: Ctx) -> None:
    g, f = ctx.guest, ctx.guest.features
    if not ctx.is_hvm or ctx.gcaps is None:
        return
    caps_features = ctx.gcaps.features
    if f.acpi is None:
        f.acpi = "acpi" in caps_features or None
    if f.apic is None:
        f.apic = "apic" in caps_features or None
    if f.pae is None:
        xen64 = g.type == "xen" and ctx.arch == "x86_64"
        f.pae = True if xen64 else ("pae" in caps_features or None)
    if ctx.osinfo.is_windows and ctx.qemu and f.hyperv.is_empty():
        f.hyperv = Hyperv(relaxed=True, vapic=True, spinlocks=True, spinlocks_retries=8191)
        g.explain("features", f"Hyper-V enlightenments: {ctx.osinfo.name} is Windows")


def pm(ctx: Ctx) -> None:
    g = ctx.guest
    if ctx.is_x86 and ctx.qemu:
        if g.pm.suspend_to_mem is None:
            g.pm.suspend_to_mem = False
        if g.pm.suspend_to_disk is None:
            g.pm.suspend_to_disk = False
