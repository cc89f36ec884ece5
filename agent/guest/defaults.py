"""Fill in everything the options left open, from host facts, capabilities and injected ids.

Runs after all option parsers (virtinst's ``Guest.set_defaults`` order). Inputs are arguments:
``facts`` (``agent.facts.model.HostFacts``), ``caps`` (:class:`~agent.guest.caps.Caps`), ``ids``
(:class:`~agent.guest.ids.Ids`, the MAC/UUID generators) and ``osinfo_ids`` (libosinfo's
variants). Nothing here reads the host. Where the agent departs from virt-install on purpose,
the comment says so (and ``tests/agent/guest/test_virtinstall_equiv.py`` lists it).
"""

from __future__ import annotations

import posixpath

from agent.facts.model import HostFacts
from agent.guest import rules
from agent.guest.caps import Caps
from agent.guest.devices import Console, Disk, Graphics, Input, Interface, Video
from agent.guest.devices.controller import usb2_controllers
from agent.guest.devices.disk import target_name
from agent.guest.domain import PM, Clock, Features, Guest, Hyperv, OsinfoOS, Timer
from agent.guest.errors import GuestError
from agent.guest.ids import Ids
from agent.guest.osdb import OsVariant, lookup

#: Where kernel and initrd live in a RHEL install tree, per virtualisation mode.
TREE_BOOT = {"hvm": ("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"),
             "pv": ("images/xen/vmlinuz", "images/xen/initrd.img")}


def _hv_default(facts: HostFacts, caps: Caps) -> str:
    if facts.hypervisor == "xen" or (caps.supports("xen") and not caps.supports("qemu")):
        return "xen"
    if caps.supports("test") and not caps.supports("qemu"):
        return "test"  # libvirt's test driver: treated like QEMU
    return "kvm" if facts.hypervisor == "kvm" and caps.supports("kvm") else "qemu"


def under(path: str, directory: str) -> bool:
    """``path`` is inside ``directory`` after normalising (``images_evil`` is not ``images``)."""
    path, directory = posixpath.normpath(path), posixpath.normpath(directory)
    return posixpath.commonpath([path, directory]) == directory and path != directory


def set_defaults(guest: Guest, facts: HostFacts, caps: Caps, ids: Ids,
                 osinfo_ids: dict[str, str] | None = None) -> Guest:
    """Complete ``guest`` in place (and return it), then apply the seed's rules."""
    variant = lookup(guest.os_variant, osinfo_ids) if guest.os_variant else None
    hv = guest.type = guest.type or _hv_default(facts, caps)
    if guest.paravirt and hv != "xen":
        rules.check(guest)  # PV_REQUIRES_XEN, with the user's words
    os_type = ("xen" if guest.paravirt else "hvm")
    gcaps = caps.find(hv, os_type) or (caps.find(hv, "linux") if guest.paravirt else None)
    if gcaps is None:
        raise GuestError(f"this host cannot run {hv} {'PV' if guest.paravirt else 'HVM'} "
                         f"guests", "HV_UNSUPPORTED")
    if not guest.install:
        raise GuestError("choose an install method: --pxe, --location, --cdrom or --import",
                         "INSTALL_METHOD_REQUIRED")
    guest.uuid = guest.uuid or ids.new_uuid()
    guest.vcpus = guest.vcpus or 1
    guest.current_memory_kib = guest.current_memory_kib or guest.memory_kib
    if variant:
        guest.metadata.libosinfo.os = OsinfoOS(id=variant.id)
    qemu = hv in ("kvm", "qemu", "test")

    _set_os(guest, gcaps, os_type, facts, variant)
    guest.emulator = None if guest.paravirt else gcaps.emulator
    _set_features_clock(guest, variant, qemu)
    if hv == "kvm":
        guest.cpu_mode = guest.cpu_mode or "host-model"
    _set_disks(guest, facts, variant, qemu)
    _set_nics(guest, facts, variant, qemu, ids)
    _set_console_graphics(guest, qemu)
    rules.check(guest)
    return guest


def _set_os(guest: Guest, gcaps, os_type: str, facts: HostFacts, variant: OsVariant | None) -> None:
    o = guest.os
    o.arch = o.arch or gcaps.arch
    o.os_type = "xen" if guest.paravirt else "hvm"
    if guest.type == "xen":
        o.machine = "xenpv" if guest.paravirt else "xenfv"
        o.loader = None if guest.paravirt else gcaps.loader
    else:
        o.machine = o.machine or gcaps.canonical.get("pc") or (gcaps.machines or (None,))[0]
    if guest.install != "location":
        return
    kernel_rel, initrd_rel = TREE_BOOT["pv" if guest.paravirt else "hvm"]
    base = guest.location.rstrip("/") + "/"
    o.kernel = posixpath.join(facts.image_dir, f"{guest.name}-vmlinuz")
    o.initrd = posixpath.join(facts.image_dir, f"{guest.name}-initrd.img")
    guest.boot_files = [(base + kernel_rel, o.kernel), (base + initrd_rel, o.initrd)]
    args = [a for a in (guest.extra_args or "").split() if a]
    if variant and variant.family == "linux" and guest.location.startswith(
            ("http://", "https://", "ftp://", "nfs:")):
        # where the installer finds the tree (what virt-install adds from osinfo): anaconda up
        # to RHEL 6 reads method=, later ones inst.repo=
        url_arg = "method" if (variant.version or (0,))[0] <= 6 else "inst.repo"
        if not any(a.startswith(url_arg + "=") for a in args):
            args.append(f"{url_arg}={guest.location}")
    if variant and variant.family == "linux" and guest.type in ("kvm", "qemu"):
        # the seed's timing table is for KVM guests; Xen PV guests take time from the hypervisor
        clock = rules.clock_args(variant.version, o.arch, constant_tsc=facts.cpu.constant_tsc,
                                 pvclock=guest.type == "kvm")
        args += [a for a in clock.split() if a.split("=")[0] not in {x.split("=")[0] for x in args}]
    o.cmdline = " ".join(args) or None


def _set_features_clock(guest: Guest, variant: OsVariant | None, qemu: bool) -> None:
    windows = bool(variant and variant.is_windows)
    if not guest.paravirt:
        guest.features = Features(acpi=True, apic=True, pae=True if guest.type == "xen" else None)
    if windows and qemu:
        guest.features.hyperv = Hyperv(relaxed=True, vapic=True, spinlocks=True,
                                       spinlocks_retries=8191)
    clock = Clock(offset="localtime" if windows else "utc")
    if qemu:
        clock.timer[:] = [Timer(name="rtc", tickpolicy="catchup"),
                          Timer(name="pit", tickpolicy="delay"), Timer(name="hpet", present=False)]
        if windows:
            clock.timer.append(Timer(name="hypervclock", present=True))
        guest.pm = PM(suspend_to_mem=False, suspend_to_disk=False)
    guest.clock = clock


def _default_bus(guest: Guest, variant: OsVariant | None, qemu: bool, first: bool) -> str:
    if guest.type == "xen":
        # seed C.md §6.2: PV guests see xvd* only; an HVM guest boots from emulated hda and
        # gets further disks as PV (tap:aio) xvd* devices.
        return "xen" if guest.paravirt or not first else "ide"
    # The seed's driver plan: virtio for guests that carry the drivers (RHEL 4.8+/5.3+, or no
    # variant given); emulated IDE otherwise. virt-install (osinfo) keeps old RHEL on IDE.
    return "virtio" if variant is None or variant.virtio else "ide"


def _set_disks(guest: Guest, facts: HostFacts, variant: OsVariant | None, qemu: bool) -> None:
    disks = [d for d in guest.disk if not d.is_cdrom]
    cdroms = [d for d in guest.disk if d.is_cdrom]
    for i, d in enumerate(disks):
        if d.path is None:
            if d.size_gb is None:
                raise GuestError("--disk needs path= or size=", "BAD_OPTION")
            ext = "img" if d.fmt == "raw" else "qcow2"
            suffix = "" if i == 0 else f"-{i}"
            d.source_file = posixpath.join(facts.image_dir, f"{guest.name}{suffix}.{ext}")
        if d.size_gb is not None and d.type == "file" and not under(d.path, facts.image_dir):
            raise GuestError(f"new disk images are created under {facts.image_dir} only, not "
                             f"{d.path!r}", "IMAGE_OUTSIDE_IMAGE_DIR")
        d.target_bus = d.target_bus or _default_bus(guest, variant, qemu, i == 0)
        if qemu:
            d.driver_name = "qemu"
            d.driver_type = d.fmt or ("raw" if d.type == "block" else "qcow2")
            d.driver_discard = "unmap"
        elif d.target_bus == "xen" and not (guest.paravirt and d.type == "block"):
            d.driver_name, d.driver_type = ("phy", None) if d.type == "block" else ("tap", "aio")
        else:
            d.driver_name = "phy" if d.type == "block" else "file"
        d.fmt = d.driver_type if qemu else (d.fmt or "raw")
    for c in cdroms:
        c.target_bus = c.target_bus or ("xen" if guest.paravirt else "ide")
        c.readonly = True
        if qemu:
            c.driver_name = "qemu"
    # Device names per prefix, in order: disks first, then CD-ROMs (virt-install's order).
    counters: dict[str, int] = {}
    for d in [*disks, *cdroms]:
        prefix = target_name(d.target_bus, 0)[:-1]
        n = counters.get(prefix, 0)
        d.target_dev = target_name(d.target_bus, n)
        counters[prefix] = n + 1
    guest.disk[:] = [*disks, *cdroms]


def _set_nics(guest: Guest, facts: HostFacts, variant: OsVariant | None, qemu: bool,
              ids: Ids) -> None:
    if not guest.interface:
        bridge = facts.network.default_route_dev if facts.network.bridge(
            facts.network.default_route_dev or "") else None
        guest.interface.append(Interface(type="bridge", source_bridge=bridge) if bridge
                               else Interface(type="network", source_network="default"))
    for nic in guest.interface:
        if qemu and nic.model_type is None:
            nic.model_type = "virtio" if variant is None or variant.virtio else "e1000"
        elif guest.type == "xen" and not guest.paravirt and nic.model_type is None:
            nic.model_type = "e1000"  # emulated until the guest's PV drivers (xen-vnif) are in
        nic.mac_address = ids.claim(nic.mac_address) if nic.mac_address else ids.mac(guest.type)


def _set_console_graphics(guest: Guest, qemu: bool) -> None:
    if not guest.graphics and not guest.no_graphics:
        guest.graphics.append(Graphics(type="vnc", port=-1))
    if guest.graphics:
        if not guest.video and not guest.paravirt:  # a PV guest's display is the Xen framebuffer
            guest.video.append(Video(model_type="vga"))
        if not guest.input and not guest.paravirt:
            guest.input.append(Input(type="tablet", bus="usb"))
    if not guest.serial and not guest.console:
        guest.console.append(Console(type="pty"))
    if qemu and not guest.controller:
        guest.controller.extend(usb2_controllers())


__all__ = ["Disk", "set_defaults", "under"]
