"""The device set virt-install 4.1 adds around the disks: NICs, display, input, console, USB,
the guest-agent channel, RNG, balloon, TPM, PCIe root ports and the SPICE companions.

Each step says what it added and why (libosinfo, domain capabilities or the platform); the
order follows ``Guest.set_defaults`` so lists come out in virt-install's order.
"""

from __future__ import annotations

from agent.guest.defaults.context import Ctx
from agent.guest.devices import (
    Channel,
    Console,
    Controller,
    Graphics,
    Input,
    Memballoon,
    Redirdev,
    Rng,
    Sound,
    Tpm,
    Video,
)
from agent.guest.devices.channel import QEMU_GA, SPICE
from agent.guest.devices.controller import usb2_controllers, usb3_controller

PCIE_ROOT_PORTS = 14  # virt-install's num_pcie_root_ports


def nics(ctx: Ctx) -> None:
    g = ctx.guest
    for nic in g.interface:
        if nic.wants_default_source:
            bridge = ctx.host.default_bridge()
            nic.type = "bridge" if bridge else "network"
            nic.source_bridge, nic.source_network = bridge, None if bridge else "default"
            g.explain("network", f"bridge {bridge}: the default route's bridge" if bridge else
                      "network 'default': the default route is not on a bridge")
        nic.type = nic.type or "bridge"
        nic.mac_address = ctx.ids.claim(nic.mac_address) if nic.mac_address else \
            ctx.ids.mac(g.type or "kvm")
        if nic.model_type is None:
            nic.model_type = _nic_model(ctx)
            if nic is g.interface[0] and nic.model_type:
                g.explain("nic model", f"{nic.model_type}: " + (
                    ctx.osinfo.why("virtionet") if ctx.is_x86 else f"{ctx.arch} {ctx.machine}"))


def _nic_model(ctx: Ctx) -> str | None:
    if not ctx.is_hvm:
        return None
    if ctx.supports_virtio("virtionet"):
        return "virtio"
    if ctx.is_q35:
        return "e1000e"
    if not ctx.is_x86:
        return None
    return ctx.osinfo.preferred_nic()


def graphics(ctx: Ctx) -> None:
    g = ctx.guest
    if not g.graphics and not g.no_graphics and (ctx.is_x86 or ctx.arch.startswith("ppc64")):
        g.graphics.append(Graphics())
    for gfx in g.graphics:
        if gfx.type is None:
            dc = ctx.domcaps()
            spice = g.type != "xen" and (dc.supports_spice() if dc and
                                         dc.supported_devices else ctx.is_x86)
            gfx.type = "spice" if spice else "vnc"
            g.explain("graphics", "spice: the host supports it (domain capabilities)" if spice
                      else "vnc: " + ("Xen guests get VNC" if g.type == "xen"
                                      else "no SPICE in the domain capabilities"))
        needs_port = not gfx.listens or gfx.listens[0].type in ("address", "network")
        if gfx.port is None and needs_port:
            gfx.port = -1
        if gfx.type == "spice":
            if gfx.tls_port is None and needs_port:
                gfx.tls_port = -1
            if gfx.autoport is None and gfx.port == -1 and gfx.tls_port == -1:
                gfx.autoport = True
            gfx.image_compression = gfx.image_compression or "off"


def video(ctx: Ctx) -> None:
    g = ctx.guest
    if not g.graphics:
        return
    if not g.video:
        g.video.append(Video())
    for v in g.video:
        if v.model_type is None:
            v.model_type, why = _video_model(ctx)
            if v.model_type:
                g.explain("video", f"{v.model_type}: {why}")


def _video_model(ctx: Ctx) -> tuple[str | None, str]:
    dc = ctx.domcaps()
    spice = any(gx.type == "spice" for gx in ctx.guest.graphics)
    if not ctx.is_hvm:
        return None, ""
    if ctx.is_arm_machvirt:
        return "virtio", "ARM virt machines"
    if dc is not None and dc.supports_video("virtio") and ctx.osinfo.supports("virtiogpu"):
        return "virtio", ctx.osinfo.why("virtiogpu")
    if ctx.is_x86 and spice and dc is not None and (
            dc.supports_video("qxl") if dc.enum("video", "modelType") else dc.supports_spice()):
        return "qxl", "SPICE display (qxl only pays off with SPICE)"
    if ctx.is_uefi() and dc is not None and dc.supports_video("bochs"):
        return "bochs", "UEFI guest (bochs-display)"
    return "vga", "the generic adapter"


def _usb_disabled(ctx: Ctx) -> bool:
    usb = [c for c in ctx.guest.controller if c.type == "usb"]
    return bool(usb) and all(c.model == "none" for c in usb)


def inputs(ctx: Ctx) -> None:
    g = ctx.guest
    if g.input or not g.graphics or _usb_disabled(ctx):
        return
    if ctx.is_x86 and not ctx.is_xenpv:
        g.input.append(Input(type="tablet", bus="usb"))
    elif ctx.is_arm_machvirt:
        g.input.extend([Input(type="tablet", bus="usb"), Input(type="keyboard", bus="usb")])


def console(ctx: Ctx) -> None:
    g = ctx.guest
    if not g.no_console and not g.console and not g.serial:
        g.console.append(Console(type="pty"))


def usb(ctx: Ctx) -> None:
    g = ctx.guest
    if any(c.type == "usb" for c in g.controller) or not ctx.qemu:
        return
    if ctx.is_x86:
        if ctx.osinfo.supports("usb3"):
            g.controller.append(usb3_controller())
            g.explain("usb", f"qemu-xhci (USB 3): {ctx.osinfo.why('usb3')}")
        else:
            g.controller.extend(usb2_controllers())
            g.explain("usb", f"ICH9 EHCI/UHCI (USB 2): {ctx.osinfo.why('usb3')}")
    elif ctx.is_arm_machvirt:
        g.controller.append(usb3_controller())


def channels(ctx: Ctx) -> None:
    g = ctx.guest
    if g.no_channel or g.channel:
        return
    if ctx.qemu and ctx.supports_virtio("virtioserial"):
        g.channel.append(Channel(type="unix", target_type="virtio", target_name=QEMU_GA))
        g.explain("channel", f"qemu guest agent socket: {ctx.osinfo.why('virtioserial')}")


def _virtio_platform(ctx: Ctx) -> bool:
    return ctx.is_x86 or ctx.is_arm_machvirt


def rng(ctx: Ctx) -> None:
    g = ctx.guest
    if g.no_rng or g.rng or not _virtio_platform(ctx):
        return
    if ctx.qemu and ctx.osinfo.supports("virtiorng"):
        g.rng.append(Rng(model="virtio", backend_model="random", backend_device="/dev/urandom"))
        g.explain("rng", f"virtio-rng from /dev/urandom: {ctx.osinfo.why('virtiorng')}")


def memballoon(ctx: Ctx) -> None:
    g = ctx.guest
    if g.memballoon or not ctx.qemu or not _virtio_platform(ctx):
        return
    if ctx.osinfo.supports("virtioballoon"):
        g.memballoon.append(Memballoon(model="virtio"))


def tpm(ctx: Ctx) -> None:
    g = ctx.guest
    if g.no_tpm or g.tpm or not ctx.is_uefi():
        return
    dc = ctx.domcaps()
    if dc is not None and dc.supports_tpm_emulator():
        g.tpm.append(Tpm(backend_type="emulator"))
        g.explain("tpm", "emulated TPM: UEFI guest and the host has swtpm (domain capabilities)")


def device_defaults(ctx: Ctx) -> None:
    """Per-device fill-ins (virt-install's ``dev.set_defaults`` for the non-disk devices)."""
    g = ctx.guest
    for ch in g.channel:
        if ch.type == "unix" and not ch.source_mode:
            ch.source_mode = "bind"
        ch.target_type = ch.target_type or "virtio"
        if ch.type == "spicevmc" and not ch.target_name:
            ch.target_name = SPICE
    for r in g.rng:
        r.model = r.model or "virtio"
        if r.backend_model == "random" and not r.backend_device:
            r.backend_device = "/dev/urandom"
    for m in g.memballoon:
        m.model = m.model or "virtio"
    for w in g.watchdog:
        w.model, w.action = w.model or "i6300esb", w.action or "reset"
    for t in g.tpm:
        _tpm_defaults(ctx, t)
    for s in g.sound:
        s.model = s.model or ("ich9" if ctx.pcie else "ich6")
    for fs in g.filesystem:
        if ctx.qemu:
            fs.type = fs.type or "mount"
            if fs.accessmode is None and fs.driver_type != "virtiofs":
                fs.accessmode = "mapped"  # virt-install: passthrough needs QEMU as root
    for i in g.input:
        i.type = i.type or "mouse"
        i.bus = i.bus or ("usb" if i.type == "tablet" else "xen" if g.type == "xen" else "ps2")


def _tpm_defaults(ctx: Ctx, t: Tpm) -> None:
    if t.device_path and not t.backend_type:
        t.backend_type = "passthrough"
    t.backend_type = t.backend_type or "emulator"
    if t.backend_type == "emulator" and not t.model and not t.backend_version:
        dc = ctx.domcaps()
        if dc is None or "tpm" not in dc.devices or "tpm-crb" in dc.enum("tpm", "model"):
            t.model = "tpm-crb"


def pcie_ports(ctx: Ctx) -> None:
    g = ctx.guest
    if any(c.type == "pci" for c in g.controller) or not ctx.pcie:
        return
    g.controller.append(Controller(type="pci", model="pcie-root"))
    g.controller.extend(Controller(type="pci", model="pcie-root-port")
                        for _ in range(PCIE_ROOT_PORTS))
    g.explain("controllers", f"pcie-root and {PCIE_ROOT_PORTS} pcie-root-ports: hotplug slots "
                             f"on {ctx.machine} (virt-install)")


def spice_companions(ctx: Ctx) -> None:
    """vmport off, the SPICE agent channel, a sound card and two USB redirectors."""
    g = ctx.guest
    if not any(gx.type == "spice" for gx in g.graphics):
        return
    if g.features.vmport is None and ctx.is_x86 and ctx.qemu:
        g.features.vmport = False
    if not g.no_channel and not any(c.type == "spicevmc" for c in g.channel):
        g.channel.append(Channel(type="spicevmc", target_type="virtio", target_name=SPICE))
    if not g.no_sound and not g.sound and ctx.is_hvm:
        g.sound.append(Sound(model="ich9" if ctx.pcie else "ich6"))
    if not g.redirdev and not _usb_disabled(ctx) and ctx.is_x86:
        g.redirdev.extend([Redirdev(bus="usb", type="spicevmc") for _ in range(2)])
