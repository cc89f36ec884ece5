"""How the guest is installed and what happens around it: --pxe, --location, --extra-args,
--cdrom, --import, --boot (order, UEFI, loader), --noreboot, --wait, --transient,
--autostart, --noautoconsole.

Several install methods on one command line are not an error for virt-install: it takes the
first of --location, --cdrom, --pxe (then --import). The agent does the same and says in the
plan which method was ignored.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agent.guest.devices import Disk
from agent.guest.domain import FirmwareFeature, Guest
from agent.guest.errors import GuestError
from agent.guest.options.base import FlagParser, ListParser, OptionParser, choice, need, yesno

#: virt-install's precedence among install methods (``build_installer``).
METHOD_ORDER = ("location", "cdrom", "pxe", "import")


def set_install(guest: Guest, method: str) -> None:
    """Record ``method``; when several are given the earliest in METHOD_ORDER wins."""
    if guest.install and guest.install != method:
        keep, drop = sorted((guest.install, method), key=METHOD_ORDER.index)
        guest.explain("install", f"--{drop} ignored: --{keep} takes precedence "
                                 "(virt-install's order: location, cdrom, pxe, import)")
        guest.install = keep
        return
    guest.install = method


class ParserPxe(FlagParser):
    name, flags, help = "pxe", ("--pxe",), "install by network boot"

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        set_install(guest, "pxe")


class ParserLocation(OptionParser):
    """``--location URL|DIR[,kernel=PATH,initrd=PATH]``: kernel and initrd come from the tree."""

    name, flags = "location", ("--location", "-l")
    help = "install tree (http, https, ftp, nfs or a local directory)"
    keys = ("location", "kernel", "initrd")
    positional = ("location",)

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        kv = cls.kv(value)
        location = need(cls.name, kv, "location")
        if not location:
            raise GuestError("--location needs a URL or directory", "BAD_LOCATION")
        if not location.startswith(("http://", "https://", "ftp://", "nfs:", "/")):
            raise GuestError(f"--location must be an http, https, ftp or nfs tree or a local "
                             f"directory, not {location!r}", "BAD_LOCATION")
        set_install(guest, "location")
        guest.location = location
        guest.location_kernel = need(cls.name, kv, "kernel")
        guest.location_initrd = need(cls.name, kv, "initrd")


class ParserExtraArgs(OptionParser):
    name, flags, help = "extra-args", ("--extra-args", "-x"), "install kernel arguments (ks=...)"
    kwargs: ClassVar[dict[str, Any]] = {"action": "append", "default": []}

    @classmethod
    def apply(cls, guest: Guest, values: list[str]) -> None:
        guest.extra_args = " ".join(values)


class ParserCdrom(OptionParser):
    name, flags, help = "cdrom", ("--cdrom",), "install from an ISO or device"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        set_install(guest, "cdrom")
        if guest.install != "cdrom":
            return
        block = value.startswith("/dev/")
        disc = Disk(type="block" if block else "file", device="cdrom",
                    **({"source_dev": value} if block else {"source_file": value}))
        disc.install_media = True
        guest.install_disc = disc


class ParserImport(FlagParser):
    name, flags, help = "import", ("--import",), "boot an existing disk image"

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        set_install(guest, "import")


class ParserBoot(ListParser):
    """``--boot network,hd | uefi | loader=PATH,loader.type=pflash,... | menu=on``."""

    name, flags, help = "boot", ("--boot",), "boot order (network,hd,cdrom), uefi, loader=..."
    keys = ("hd", "cdrom", "fd", "network", "uefi", "firmware", "loader", "loader.readonly",
            "loader.type", "loader.secure", "nvram", "nvram.template", "bootmenu.enable",
            "firmware.feature0.name", "firmware.feature0.enabled", "firmware.feature1.name",
            "firmware.feature1.enabled", "kernel", "initrd", "cmdline")
    aliases = {"menu": "bootmenu.enable", "loader_ro": "loader.readonly",
               "loader_type": "loader.type", "loader_secure": "loader.secure",
               "nvram_template": "nvram.template", "extra_args": "cmdline",
               "kernel_args": "cmdline"}
    unsupported = ("bootmenu.timeout", "bios.useserial", "bios.rebootTimeout", "smbios.mode",
                   "dtb", "acpi.table", "init", "initargs", "refresh-machine-type", "emulator",
                   "domain_type", "bootloader", "os_type", "arch", "machine")

    @classmethod
    def apply_one(cls, guest: Guest, value: str) -> None:
        kv = cls.kv(value)
        order = [k for k in kv if k in ("hd", "cdrom", "fd", "network")]
        if order:
            guest.boot_order = order
        if "uefi" in kv:
            guest.uefi = True
        o = guest.os
        o.firmware = choice(cls.name, "firmware", need(cls.name, kv, "firmware"), ("efi", "bios"))
        o.loader = need(cls.name, kv, "loader")
        o.loader_readonly = yesno(cls.name, "loader.readonly",
                                  need(cls.name, kv, "loader.readonly"))
        o.loader_type = choice(cls.name, "loader.type", need(cls.name, kv, "loader.type"),
                               ("rom", "pflash"))
        o.loader_secure = yesno(cls.name, "loader.secure", need(cls.name, kv, "loader.secure"))
        o.nvram = need(cls.name, kv, "nvram")
        o.nvram_template = need(cls.name, kv, "nvram.template")
        o.bootmenu = yesno(cls.name, "menu", need(cls.name, kv, "bootmenu.enable"))
        o.kernel, o.initrd = need(cls.name, kv, "kernel"), need(cls.name, kv, "initrd")
        o.cmdline = need(cls.name, kv, "cmdline")
        for i in (0, 1):
            fname = need(cls.name, kv, f"firmware.feature{i}.name")
            enabled = yesno(cls.name, "enabled", need(cls.name, kv, f"firmware.feature{i}.enabled"))
            if fname is not None or enabled is not None:
                o.firmware_features.append(FirmwareFeature(name=fname, enabled=enabled))
        if guest.install is None and (order or o.kernel):
            guest.boot_given = True


class ParserNoreboot(FlagParser):
    name, flags, help = "noreboot", ("--noreboot",), "do not start the guest after the install"

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        guest.noreboot = True


class ParserWait(OptionParser):
    name, flags, help = "wait", ("--wait",), "minutes to wait for the install (-1: forever)"
    kwargs: ClassVar[dict[str, Any]] = {"type": int, "nargs": "?", "const": -1}

    @classmethod
    def apply(cls, guest: Guest, value: int) -> None:
        guest.wait_minutes = value


class ParserTransient(FlagParser):
    name, flags, help = "transient", ("--transient",), "start without a persistent definition"

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        guest.transient = True


class ParserAutostart(FlagParser):
    name, flags, help = "autostart", ("--autostart",), "start the guest when the host boots"

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        guest.autostart = True


class ParserNoautoconsole(FlagParser):
    name, flags, help = "noautoconsole", ("--noautoconsole",), "accepted; the agent never attaches"

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        pass
