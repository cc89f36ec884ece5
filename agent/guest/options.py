"""virt-install options: one parser class per option, mapping its text onto the Guest model.

Like virtinst's ``VirtCLIParser`` subclasses (``virtinst/cli.py``): each class names its option,
its sub-option keys and how it fills the guest; :data:`PARSERS` registers them in the order they
are applied (explicit options first; defaults run later in ``defaults.py``). argparse does the
tokenising, so ``--ram 512`` and ``--ram=512`` are the same. Doc-style single-dash long options
(``-hvm``, ``-vnc``, ``-cdrom=`` from the seed's Windows 2003 example) are refused rather than
read as bundled short options.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from agent.guest.devices import Disk, Graphics, Interface, Serial
from agent.guest.devices.disk import BUSES
from agent.guest.devices.interface import MODELS
from agent.guest.domain import Boot, Guest
from agent.guest.errors import GuestError

#: (option, sub-option key) pairs parsed since the last reset (for the checkprops test).
KEYS_SEEN: set[tuple[str, str]] = set()
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def _split_kv(option: str, text: str, keys: tuple[str, ...], positional: str | None) -> dict[str, str]:
    """``"path=/x,size=2"`` -> {"path": "/x", "size": "2"}; a bare first token -> ``positional``."""
    out: dict[str, str] = {}
    for i, token in enumerate(t for t in text.split(",") if t.strip()):
        key, eq, value = token.partition("=")
        key = key.strip()
        if not eq:
            if i == 0 and positional:
                key, value = positional, token.strip()
            else:
                raise GuestError(f"--{option}: expected key=value, got {token!r}", "BAD_OPTION")
        if key not in keys:
            raise GuestError(f"--{option}: unknown sub-option {key!r} (known: {', '.join(keys)})",
                             "BAD_OPTION")
        if key in out:
            raise GuestError(f"--{option}: {key}= given twice", "BAD_OPTION")
        KEYS_SEEN.add((option, key))
        out[key] = value.strip()
    return out


def _yesno(option: str, key: str, value: str) -> bool:
    if value.lower() in ("yes", "on", "true", "1"):
        return True
    if value.lower() in ("no", "off", "false", "0"):
        return False
    raise GuestError(f"--{option}: {key}= must be yes or no, not {value!r}", "BAD_OPTION")


class OptionParser:
    """One virt-install option: its flags, argparse settings, sub-option keys and effect."""

    name: ClassVar[str]
    flags: ClassVar[tuple[str, ...]]
    keys: ClassVar[tuple[str, ...]] = ()
    kwargs: ClassVar[dict[str, Any]] = {}
    help: ClassVar[str] = ""

    @classmethod
    def add(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*cls.flags, dest=cls.name.replace("-", "_"), help=cls.help,
                            **cls.kwargs)

    @classmethod
    def apply(cls, guest: Guest, value: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class ParserName(OptionParser):
    name, flags, help = "name", ("--name", "-n"), "guest name"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        if not _NAME_RE.match(value):
            raise GuestError(f"bad guest name {value!r}: letters, digits, '.', '-', '_'",
                             "BAD_NAME")
        guest.name = value


class ParserMemory(OptionParser):
    name, flags, help = "memory", ("--memory", "--ram", "-r"), "RAM in MiB"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        text = value.split("=", 1)[1] if value.startswith("memory=") else value
        if not text.isdigit() or int(text) <= 0:
            raise GuestError(f"--memory must be a positive number of MiB, not {value!r}",
                             "BAD_OPTION")
        guest.memory_kib = guest.current_memory_kib = int(text) * 1024


class ParserVcpus(OptionParser):
    name, flags, help = "vcpus", ("--vcpus",), "virtual CPUs"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        if not value.isdigit() or int(value) <= 0:
            raise GuestError(f"--vcpus must be a positive integer, not {value!r}", "BAD_OPTION")
        guest.vcpus = int(value)


class ParserVirtType(OptionParser):
    name, flags, help = "virt-type", ("--virt-type",), "kvm, qemu or xen (test: libvirt's test driver)"
    kwargs = {"choices": ("kvm", "qemu", "xen", "test")}

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        guest.type = value


class ParserAccelerate(OptionParser):
    """Old virt-install's ``--accelerate`` (seed Example 6.1): use KVM."""

    name, flags, help = "accelerate", ("--accelerate",), "use KVM (legacy)"
    kwargs = {"action": "store_true"}

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if value and guest.type is None:
            guest.type = "kvm"


class ParserHvm(OptionParser):
    name, flags, help = "hvm", ("--hvm", "-v"), "full virtualisation"
    kwargs = {"action": "store_true"}

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if value:
            guest.paravirt = False


class ParserParavirt(OptionParser):
    name, flags, help = "paravirt", ("--paravirt", "-p"), "Xen para-virtualisation"
    kwargs = {"action": "store_true"}

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if value:
            guest.paravirt = True


class ParserOsVariant(OptionParser):
    name, flags, help = "os-variant", ("--os-variant", "--osinfo"), "e.g. rhel5.4, winxp"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        guest.os_variant = value.split("=", 1)[1] if value.startswith(("name=", "short-id=")) \
            else value


class ParserOsType(OptionParser):
    """``--os-type`` of the seed's Example 6.3: accepted and checked against the variant."""

    name, flags, help = "os-type", ("--os-type",), "linux or windows (legacy)"
    kwargs = {"choices": ("linux", "windows")}

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        if guest.os_variant and guest.os_variant.startswith("win") != (value == "windows"):
            raise GuestError(f"--os-type {value} contradicts --os-variant {guest.os_variant}",
                             "BAD_OPTION")


class ParserPxe(OptionParser):
    name, flags, help = "pxe", ("--pxe",), "install by network boot"
    kwargs = {"action": "store_true"}

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if value:
            _set_install(guest, "pxe")


class ParserLocation(OptionParser):
    name, flags, help = "location", ("--location", "-l"), "install tree URL (kernel + initrd)"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        if not value.startswith(("http://", "https://", "ftp://", "nfs:", "/")):
            raise GuestError(f"--location must be an http, https, ftp or nfs tree or a local "
                             f"directory, not {value!r}", "BAD_LOCATION")
        _set_install(guest, "location")
        guest.location = value


class ParserExtraArgs(OptionParser):
    name, flags, help = "extra-args", ("--extra-args", "-x"), "install kernel arguments (ks=...)"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        guest.extra_args = value


class ParserCdrom(OptionParser):
    name, flags, help = "cdrom", ("--cdrom", "-c"), "install from an ISO or device"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        _set_install(guest, "cdrom")
        block = value.startswith("/dev/")
        disc = Disk(type="block" if block else "file", device="cdrom",
                    **({"source_dev": value} if block else {"source_file": value}))
        disc.install_media = True
        guest.disk.append(disc)


class ParserImport(OptionParser):
    name, flags, help = "import", ("--import",), "boot an existing disk image"
    kwargs = {"action": "store_true"}

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if value:
            _set_install(guest, "import")


class ParserDisk(OptionParser):
    name, flags, help = "disk", ("--disk",), "path=,size=GB,bus=,format=,sparse=yes|no"
    keys = ("path", "size", "bus", "format", "sparse", "device")
    kwargs = {"action": "append", "default": []}

    @classmethod
    def apply(cls, guest: Guest, values: list[str]) -> None:
        for text in values:
            kv = _split_kv(cls.name, text, cls.keys, "path")
            disk = Disk(type="file", device=kv.get("device", "disk"))
            if disk.device not in ("disk", "cdrom"):
                raise GuestError(f"--disk device= must be disk or cdrom, not {disk.device!r}",
                                 "BAD_OPTION")
            if "path" in kv:
                if kv["path"].startswith("/dev/"):
                    disk.type, disk.source_dev = "block", kv["path"]
                else:
                    disk.source_file = kv["path"]
            if "size" in kv:
                try:
                    disk.size_gb = float(kv["size"])
                except ValueError:
                    raise GuestError(f"--disk size= must be a number of GB, not {kv['size']!r}",
                                     "BAD_OPTION") from None
                if disk.size_gb <= 0:
                    raise GuestError("--disk size= must be positive", "BAD_OPTION")
            if "bus" in kv:
                if kv["bus"] not in BUSES:
                    raise GuestError(f"--disk bus= must be one of {', '.join(BUSES)}",
                                     "BAD_OPTION")
                disk.target_bus = kv["bus"]
            if "format" in kv:
                if kv["format"] not in ("qcow2", "raw"):
                    raise GuestError("--disk format= must be qcow2 or raw", "BAD_OPTION")
                disk.fmt = kv["format"]
            if "sparse" in kv:
                disk.sparse = _yesno(cls.name, "sparse", kv["sparse"])
            guest.disk.append(disk)


class ParserFile(OptionParser):
    """Old ``--file PATH`` / ``--file-size GB`` (seed examples): one more disk."""

    name, flags, help = "file", ("--file", "-f"), "disk image path (legacy)"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        guest.disk.append(Disk(type="file", device="disk", source_file=value))


class ParserFileSize(OptionParser):
    name, flags, help = "file-size", ("--file-size", "-s"), "size of --file in GB (legacy)"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        disks = [d for d in guest.disk if not d.is_cdrom]
        if not disks:
            raise GuestError("--file-size needs --file", "BAD_OPTION")
        try:
            disks[-1].size_gb = float(value)
        except ValueError:
            raise GuestError(f"--file-size must be a number of GB, not {value!r}",
                             "BAD_OPTION") from None


class ParserNetwork(OptionParser):
    name, flags, help = "network", ("--network", "-w"), "bridge=BR|network=NET,model=,mac="
    keys = ("bridge", "network", "model", "mac")
    kwargs = {"action": "append", "default": []}

    @classmethod
    def apply(cls, guest: Guest, values: list[str]) -> None:
        for text in values:
            # the seed's legacy spellings: bridge:installation, network:default
            text = re.sub(r"^(bridge|network):", r"\1=", text)
            kv = _split_kv(cls.name, text, cls.keys, None)
            if ("bridge" in kv) == ("network" in kv):
                raise GuestError("--network needs exactly one of bridge= or network=",
                                 "BAD_OPTION")
            nic = Interface(type="bridge" if "bridge" in kv else "network")
            nic.source_bridge, nic.source_network = kv.get("bridge"), kv.get("network")
            if "model" in kv:
                if kv["model"] not in MODELS:
                    raise GuestError(f"--network model= must be one of {', '.join(MODELS)}",
                                     "BAD_OPTION")
                nic.model_type = kv["model"]
            if "mac" in kv:
                nic.mac_address = kv["mac"]  # checked and claimed by the defaults
            guest.interface.append(nic)


class ParserGraphics(OptionParser):
    name, flags, help = "graphics", ("--graphics",), "vnc[,port=,listen=] or none"
    keys = ("type", "port", "listen")

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        kv = _split_kv(cls.name, value, cls.keys, "type")
        kind = kv.get("type", "vnc")
        if kind == "none":
            guest.graphics.clear()
            guest.no_graphics = True
            return
        if kind != "vnc":
            raise GuestError(f"--graphics must be vnc or none, not {kind!r}", "BAD_OPTION")
        gfx = Graphics(type="vnc", port=int(kv.get("port", "-1")))
        gfx.listen = kv.get("listen")
        guest.graphics[:] = [gfx]


class ParserVnc(OptionParser):
    name, flags, help = "vnc", ("--vnc",), "same as --graphics vnc (legacy)"
    kwargs = {"action": "store_true"}

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if value:
            guest.graphics[:] = [Graphics(type="vnc", port=-1)]


class ParserNographics(OptionParser):
    name, flags, help = "nographics", ("--nographics",), "same as --graphics none (legacy)"
    kwargs = {"action": "store_true"}

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if value:
            guest.graphics.clear()
            guest.no_graphics = True


class ParserBoot(OptionParser):
    """``--boot network,hd``: the final definition's boot order (and ``--import``'s)."""

    name, flags, help = "boot", ("--boot",), "boot device order: network,hd,cdrom"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        devs = [d.strip() for d in value.split(",") if d.strip()]
        for d in devs:
            if d not in ("network", "hd", "cdrom"):
                raise GuestError(f"--boot: unknown device {d!r} (network, hd, cdrom)",
                                 "BAD_OPTION")
            KEYS_SEEN.add((cls.name, d))
        guest.boot_order = devs


class ParserSerial(OptionParser):
    name, flags, help = "serial", ("--serial",), "pty or file,path=FILE[,append=on]"
    keys = ("type", "path", "append")
    kwargs = {"action": "append", "default": []}

    @classmethod
    def apply(cls, guest: Guest, values: list[str]) -> None:
        for text in values:
            kv = _split_kv(cls.name, text, cls.keys, "type")
            kind = kv.get("type", "pty")
            if kind not in ("pty", "file"):
                raise GuestError(f"--serial must be pty or file, not {kind!r}", "BAD_OPTION")
            if (kind == "file") != ("path" in kv):
                raise GuestError("--serial file needs path= (and only file takes one)",
                                 "BAD_OPTION")
            port = len(guest.serial) if kind == "file" else None
            serial = Serial(type=kind, source_path=kv.get("path"), target_port=port)
            if "append" in kv:
                serial.source_append = _yesno(cls.name, "append", kv["append"])
            guest.serial.append(serial)


class ParserAutostart(OptionParser):
    name, flags, help = "autostart", ("--autostart",), "start the guest when the host boots"
    kwargs = {"action": "store_true"}

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        guest.autostart = bool(value)


def _set_install(guest: Guest, method: str) -> None:
    if guest.install and guest.install != method:
        raise GuestError(f"choose one install method (--{guest.install} and --{method} given)",
                         "INSTALL_METHOD_CLASH")
    guest.install = method


#: Application order: explicit identity first, then the install method, then devices.
PARSERS: tuple[type[OptionParser], ...] = (
    ParserName, ParserMemory, ParserVcpus, ParserVirtType, ParserAccelerate, ParserHvm,
    ParserParavirt, ParserOsVariant, ParserOsType, ParserPxe, ParserLocation, ParserExtraArgs,
    ParserCdrom, ParserImport, ParserFile, ParserFileSize, ParserDisk, ParserNetwork,
    ParserGraphics, ParserVnc, ParserNographics, ParserBoot, ParserSerial, ParserAutostart,
)
_LONG = {f.lstrip("-") for p in PARSERS for f in p.flags if f.startswith("--")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register every option (plus ``--print-xml``, ``--dry-run`` and ``--connect``)."""
    for p in PARSERS:
        p.add(parser)
    parser.add_argument("--print-xml", nargs="?", const="all", default=None,
                        choices=("all", "1", "2"), help="print the XML (1: install, 2: final)")
    parser.add_argument("--dry-run", action="store_true", help="check and plan, change nothing")
    parser.add_argument("--connect", default=None, help="libvirt URI")
    parser.add_argument("--noautoconsole", action="store_true", help="accepted; never attaches")


def check_doc_style(argv: Sequence[str]) -> None:
    """Refuse ``-hvm``/``-vnc``/``-cdrom=``: single-dash spellings of long options (seed T3)."""
    for token in argv:
        m = re.match(r"^-([a-z][a-z-]+)(=.*)?$", token)
        if m and m.group(1) in _LONG:
            raise GuestError(f"{token!r}: long options need two dashes (--{m.group(1)}); a "
                             f"single dash would be read as bundled short options", "DOC_STYLE")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Tokenise ``argv`` with argparse (errors become ``GuestError``)."""
    check_doc_style(argv)
    return _parser().parse_args(list(argv))


@functools.cache
def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="provisioner-agent guest", add_help=False)
    add_arguments(parser)
    return parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise GuestError(message, "BAD_OPTION")


def apply_options(ns: argparse.Namespace) -> Guest:
    """A new guest holding exactly what the options say (no defaults yet)."""
    guest = Guest()
    for p in PARSERS:
        value = getattr(ns, p.name.replace("-", "_"), None)
        if value not in (None, False, []):
            p.apply(guest, value)
    if not guest.name:
        raise GuestError("--name is required", "BAD_OPTION")
    if not guest.memory_kib:
        raise GuestError("--memory is required", "BAD_OPTION")
    return guest


def guest_from_argv(argv: Sequence[str]) -> tuple[Guest, argparse.Namespace]:
    ns = parse_args(argv)
    return apply_options(ns), ns


__all__ = ["PARSERS", "Boot", "apply_options", "guest_from_argv", "parse_args"]
