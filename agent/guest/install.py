"""The two definitions of a two-phase install (virt-install's ``Installer``): the install
phase boots the install source once and is destroyed on its first reboot; the final definition
boots from the disk. ``--import`` and a bare ``--boot`` order have a single phase.

* final boot order: ``--boot`` as given, else the install device's successor (``hd`` when the
  guest has a disk), plus ``hd``;
* install phase: ``on_reboot=destroy``; ``--pxe`` boots network then hd, ``--cdrom`` cdrom then
  hd, ``--location`` the tree's kernel and initrd with ``--extra-args`` (plus the installer's
  tree argument, e.g. ``inst.repo=URL``, for network trees) and no boot order; a network
  install may raise the RAM to libosinfo's network-install minimum for that phase only;
* final definition: the install CD-ROM is ejected, except for Windows (setup reads it again
  after its first reboot).
"""

from __future__ import annotations

import posixpath

from agent.guest import rules
from agent.guest.defaults.context import Ctx
from agent.guest.domain import Boot, Guest

#: Where kernel and initrd live in a RHEL-style install tree, per virtualisation mode.
TREE_BOOT = {"hvm": ("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"),
             "pv": ("images/xen/vmlinuz", "images/xen/initrd.img")}
NETWORK_SCHEMES = ("http://", "https://", "ftp://", "nfs:")
INSTALL_BOOTDEV = {"pxe": "network", "cdrom": "cdrom"}


def has_install_phase(guest: Guest) -> bool:
    return guest.install in ("pxe", "cdrom", "location")


def _order(guest: Guest, first: str) -> list[str]:
    order = [first]
    if any(d.device == "disk" for d in guest.disk) and "hd" not in order:
        order.append("hd")
    return order


def _can_set_order(guest: Guest) -> bool:
    """No boot order with a direct kernel, per-device boot orders, or for Xen PV guests
    (virt-install writes one there; libvirt's schema refuses it and its parser drops it)."""
    devices = [*guest.disk, *guest.interface]
    return not guest.os.kernel and not any(d.boot_order for d in devices) and \
        guest.os.os_type != "xen"


def final_boot_order(guest: Guest) -> None:
    """The final definition's order (virt-install's ``set_install_defaults``)."""
    if guest.boot_order and guest.os.os_type != "xen":
        guest.os.boot[:] = [Boot(dev=d) for d in guest.boot_order]
        return
    if not _can_set_order(guest):
        return
    bootdev = INSTALL_BOOTDEV.get(guest.install or "")
    if bootdev and any(d.device == "disk" for d in guest.disk):
        bootdev = "hd"
    if not bootdev:
        first = guest.disk[0].device if guest.disk else "disk"
        bootdev = {"cdrom": "cdrom", "floppy": "fd"}.get(first or "disk", "hd")
    guest.os.boot[:] = [Boot(dev=d) for d in _order(guest, bootdev)]


def location_boot(ctx: Ctx) -> None:
    """Kernel, initrd and command line of a --location install (kept for the install phase)."""
    g = ctx.guest
    if g.install != "location" or g.location is None:
        return
    image_dir = ctx.host.facts.image_dir
    kernel_rel, initrd_rel = TREE_BOOT["pv" if ctx.is_xenpv else "hvm"]
    kernel_rel = g.location_kernel or kernel_rel
    initrd_rel = g.location_initrd or initrd_rel
    base = g.location.rstrip("/") + "/"
    g.install_kernel = posixpath.join(image_dir, f"{g.name}-vmlinuz")
    g.install_initrd = posixpath.join(image_dir, f"{g.name}-initrd.img")
    g.boot_files = [(base + kernel_rel, g.install_kernel), (base + initrd_rel, g.install_initrd)]
    args = [a for a in [g.extra_args or ""] if a]
    if g.location.startswith(NETWORK_SCHEMES):
        seed_arg = rules.method_arg(g) if ctx.seed else None
        url_arg = seed_arg or ctx.osinfo.kernel_url_arg()
        if seed_arg and seed_arg != ctx.osinfo.kernel_url_arg():
            g.departures.append("seed-method-arg")
        if url_arg:
            args.append(f"{url_arg}={g.location}")
            g.explain("install", f"{url_arg}= points the installer at the tree (libosinfo's "
                                 f"kernel URL argument for {ctx.osinfo.name})")
    g.install_cmdline = " ".join(args) or None


def phases(ctx: Ctx, *, pygrub: bool = True) -> tuple[Guest, Guest]:
    """``(install, final)``; the same object twice when there is no install phase."""
    guest = ctx.guest
    final_boot_order(guest)
    final = guest.copy()
    if pygrub:
        rules.adjust_final(guest, final)
    if not has_install_phase(guest):
        return final, final
    install = guest.copy()
    install.on_reboot = "destroy"
    if guest.install == "location":
        install.os.kernel, install.os.initrd = guest.install_kernel, guest.install_initrd
        install.os.cmdline = guest.install_cmdline
        install.os.boot.clear()
        _network_install_ram(ctx, install)
    elif _can_set_order(install):
        install.os.boot[:] = [Boot(dev=d) for d in _order(install,
                                                           INSTALL_BOOTDEV[guest.install or ""])]
    else:
        install.os.boot.clear()
    if not ctx.osinfo.is_windows:
        for disk in final.disk:
            if disk.install_media:
                disk.source_file = disk.source_dev = None
                disk.driver_name = disk.driver_type = None
    return install, final


def _network_install_ram(ctx: Ctx, install: Guest) -> None:
    """A tree install fetches the installer's second stage: virt-install raises the RAM of the
    install phase to libosinfo's network-install figure (URL and directory trees alike)."""
    g = ctx.guest
    if (g.location or "").lower().endswith(".iso"):
        return
    ram = ctx.osinfo.network_install_ram(ctx.arch)
    if ram and ram // 1024 > (install.current_memory_kib or 0):
        install.current_memory_kib = ram // 1024
        install.memory_kib = max(install.memory_kib or 0, ram // 1024)
        g.explain("memory", f"{ram // 1024 // 1024} MiB for the install phase: libosinfo's "
                            f"network-install minimum for {ctx.osinfo.name}")
