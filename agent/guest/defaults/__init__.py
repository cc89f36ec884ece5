"""Fill in everything the options left open, in virt-install 4.1's order.

Runs after all option parsers, like ``virtinstall.build_guest_instance``: the platform from
the capabilities (``platform``), the OS from libosinfo, sizes (``sizing``: RAM, vCPUs),
storage (``storage``), machine type and firmware, the default devices (``devices``), clock,
CPU mode, features and power management (``machine_state``), then per-device defaults and the
controllers that follow from them. Each default records why it was chosen
(``Guest.explain``), which the printed plan shows. Nothing here reads the host: ``host``
(:class:`~agent.guest.host.Host`) and ``ids`` (MAC/UUID sources) are arguments. After the
defaults, ``agent.guest.rules`` applies the seed's rules and ``agent.guest.validate`` the
limits; ``agent.guest.install`` makes the install-phase and final definitions.
"""

from __future__ import annotations

from agent.guest import osdb, rules
from agent.guest.defaults import devices, machine_state, platform, sizing, storage
from agent.guest.defaults.context import Ctx
from agent.guest.domain import Guest, OsinfoOS
from agent.guest.errors import GuestError
from agent.guest.host import Host
from agent.guest.ids import Ids
from agent.guest.osinfo import GENERIC, OsInfo, resolve

__all__ = ["Ctx", "set_defaults"]


def set_defaults(guest: Guest, host: Host, ids: Ids, *, limits: bool = True,
                 seed: bool = True) -> Ctx:
    """Complete ``guest`` in place; return the context (OS view, guest caps) for later steps.

    ``limits=False`` (the equivalence harness only) lets RAM 0 and vCPUs current > maximum
    through the way virt-install does; ``seed=False`` leaves out the seed's departures.
    """
    ctx = Ctx(guest, host, ids, limits=limits, seed=seed)
    platform.capabilities(ctx)
    ctx.osinfo = _osinfo(ctx)
    _install_method(ctx)
    if seed and rules.seed_vcpus(guest):
        guest.departures.append("seed-vcpus")
    sizing.memory(ctx)
    sizing.vcpus(ctx)
    storage.recommended_disk(ctx)
    storage.volumes(ctx)
    storage.install_cdrom(ctx)
    guest.uuid = guest.uuid or ids.new_uuid()
    platform.machine(ctx)
    platform.firmware(ctx)
    platform.secure_boot_smm(ctx)
    for step in (devices.graphics, devices.video, devices.inputs, devices.console,
                 devices.usb, devices.channels, devices.rng, devices.memballoon, devices.tpm,
                 machine_state.clock, sizing.cpu_mode, machine_state.features,
                 machine_state.pm, storage.disk_defaults, devices.nics,
                 devices.device_defaults, storage.virtio_scsi_controller, devices.pcie_ports,
                 devices.spice_companions):
        step(ctx)
    return ctx


def _detect(ctx: Ctx) -> tuple[str | None, str]:
    """``--osinfo detect=on``: the OS osinfo-db's media or tree patterns name for the install
    media (libosinfo's identify), and what was read, for the plan and the refusal."""
    g, db = ctx.guest, ctx.host.osinfo
    if g.install == "cdrom" and g.install_disc is not None and g.install_disc.source_file:
        kind, where = "cdrom", str(g.install_disc.source_file)
    elif g.install == "location" and g.location:
        kind, where = "location", g.location
    else:
        return None, "no --cdrom or --location media to detect from"
    ids = ctx.host.media_ids(kind, where)
    if ids is None:
        return None, f"{where} has no readable " + (
            "ISO 9660 volume descriptor" if kind == "cdrom" else ".treeinfo")
    said = ", ".join(f"{k} {v!r}" for k, v in vars(ids).items() if isinstance(v, str) and v)
    if not getattr(ids, "bootable", True):
        return None, f"{where} ({said}) is not bootable (no El Torito boot record)"
    rec = db.identify("media" if kind == "cdrom" else "tree", vars(ids)) if db else None
    if rec is None or not rec.short_ids:
        return None, f"{where} ({said}) matches no OS in osinfo-db"
    return rec.short_ids[0], f"detected from {where} ({said}) by osinfo-db"


def _osinfo(ctx: Ctx) -> OsInfo:
    g = ctx.guest
    why_not = ""
    if not g.os_variant and g.osinfo_detect:
        g.os_variant, why_not = _detect(ctx)
        if g.os_variant:
            g.explain("os", f"{g.os_variant}: {why_not}")
    if g.os_variant:
        view, why = resolve(g.os_variant, ctx.host.osinfo)
        g.os_variant = view.name if not osdb.is_seed_variant(g.os_variant) else \
            osdb.ALIASES.get(g.os_variant, g.os_variant)
        g.explain("os", why)
        if view.id:
            g.metadata.libosinfo.os = OsinfoOS(id=view.id)
        return view
    required = g.osinfo_require is True or (g.osinfo_require == "auto" and
                                            g.os.os_type == "hvm")
    if required:
        raise GuestError("an OS name is required" + (
            f" and none was detected: {why_not}" if why_not else "") +
                         ": --osinfo NAME (see `osinfo-query os`; "
                         "linux2022 for an unlisted Linux), or --osinfo detect=on,require=off "
                         "for a generic guest with slower, older devices", "OS_REQUIRED")
    g.explain("os", "generic: no OS name given (" + (
        f"not detected: {why_not}; " if why_not else "") +
        "--osinfo require=off): conservative devices")
    return GENERIC


def _install_method(ctx: Ctx) -> None:
    g = ctx.guest
    if g.install is None and not g.boot_given and not g.print_only:
        raise GuestError("choose an install method: --pxe, --location, --cdrom or --import "
                         "(or --boot with a boot order)", "INSTALL_METHOD_REQUIRED")
    if g.extra_args and g.install != "location":
        raise GuestError("--extra-args only works with --location (kernel arguments cannot "
                         "be passed to a PXE, CD-ROM or import boot)", "EXTRA_ARGS_NEED_LOCATION")
