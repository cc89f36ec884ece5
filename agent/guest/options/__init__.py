"""virt-install's options: one parser class per option, each filling the declarative Guest.

Like virtinst's ``VirtCLIParser`` subclasses (``virtinst/cli.py``): each class names its option,
its sub-option keys, aliases and positional names, and how it fills the guest (``base`` holds
the shared sub-option syntax). Legacy spellings are rewritten into today's options first
(``legacy``), so each spelling is parsed by exactly one parser. :data:`PARSERS` lists them in the
order they are applied (explicit identity and platform first, install method next, then
devices; defaults run later in ``agent.guest.defaults``). argparse tokenises, so ``--ram 512``
and ``--ram=512`` are the same. Doc-style single-dash long options (``-hvm``, ``-vnc``,
``-cdrom=`` from the seed's Windows 2003 example) are refused rather than read as bundled short
options.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Sequence
from typing import NoReturn

from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.options import legacy
from agent.guest.options.base import KEYS_SEEN, OptionParser
from agent.guest.options.chardev import ParserChannel, ParserConsole, ParserSerial
from agent.guest.options.devices import (
    ParserController,
    ParserInput,
    ParserMemballoon,
    ParserRng,
    ParserSound,
    ParserTpm,
    ParserWatchdog,
)
from agent.guest.options.display import ParserGraphics, ParserVideo
from agent.guest.options.general import (
    ParserArch,
    ParserCpu,
    ParserHvm,
    ParserMachine,
    ParserMemory,
    ParserName,
    ParserOsinfo,
    ParserParavirt,
    ParserUuid,
    ParserVcpus,
    ParserVirtType,
)
from agent.guest.options.install import (
    ParserAutostart,
    ParserBoot,
    ParserCdrom,
    ParserExtraArgs,
    ParserImport,
    ParserLocation,
    ParserNoautoconsole,
    ParserNoreboot,
    ParserPxe,
    ParserTransient,
    ParserWait,
)
from agent.guest.options.network import ParserNetwork
from agent.guest.options.storage import ParserDisk, ParserFilesystem

#: Application order: identity and platform, install method, then devices (virt-install's
#: set_explicit_guest_options -> --boot -> installer -> run_all_parsers).
PARSERS: tuple[type[OptionParser], ...] = (
    ParserName, ParserUuid, ParserVirtType, ParserHvm, ParserParavirt, ParserArch,
    ParserMachine, ParserBoot, ParserOsinfo, ParserLocation, ParserCdrom, ParserPxe,
    ParserImport, ParserExtraArgs, ParserMemory, ParserVcpus, ParserCpu, ParserDisk,
    ParserFilesystem, ParserNetwork, ParserGraphics, ParserVideo, ParserSerial,
    ParserConsole, ParserChannel, ParserInput, ParserSound, ParserTpm, ParserWatchdog,
    ParserMemballoon, ParserRng, ParserController, ParserNoreboot, ParserWait,
    ParserTransient, ParserAutostart, ParserNoautoconsole,
)
_LONG = {f.lstrip("-") for p in PARSERS for f in p.flags if f.startswith("--")}
_LONG |= {"vnc", "nographics", "file", "file-size", "ram", "accelerate", "os-type", "bridge"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register every option (plus ``--print-xml``, ``--dry-run`` and ``--connect``)."""
    for p in PARSERS:
        p.add(parser)
    legacy.add_arguments(parser)
    parser.add_argument("--print-xml", nargs="?", const="all", default=None,
                        choices=("all", "1", "2"), help="print the XML (1: install, 2: final)")
    parser.add_argument("--dry-run", action="store_true", help="check and plan, change nothing")
    parser.add_argument("--connect", default=None, help="libvirt URI")


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
    parser = _Parser(prog="provisioner-agent guest", add_help=False, allow_abbrev=False)
    add_arguments(parser)
    return parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise GuestError(message, "BAD_OPTION")


def apply_options(ns: argparse.Namespace) -> Guest:
    """A new guest holding exactly what the options say (no defaults yet)."""
    notes = legacy.convert(ns)
    guest = Guest()
    for note in notes:
        guest.explain("option", note)
    for p in PARSERS:
        value = getattr(ns, p.dest(), None)
        if value not in (None, False, []):
            p.apply(guest, value)
    return guest


def guest_from_argv(argv: Sequence[str]) -> tuple[Guest, argparse.Namespace]:
    ns = parse_args(argv)
    return apply_options(ns), ns


__all__ = ["KEYS_SEEN", "PARSERS", "add_arguments", "apply_options", "check_doc_style",
           "guest_from_argv", "parse_args"]
