"""The unsigned loaders, copied from this machine's installed packages (and a built GRUB).

Copies the network boot programs from installed Debian packages (or their RHEL-family
equivalents) and builds a network-boot GRUB EFI image with ``grub-mkimage``. Idempotent (a file
whose bytes already match is left alone); says which files are missing and which package
provides them.

:func:`plan` is pure over an ``exists`` predicate (table-tested); :func:`install` acts.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GRUB_MODULE_DIRS = ("/usr/lib/grub/x86_64-efi",)
# Modules built into grubx64.efi: network boot over TFTP/HTTP, Linux loading, config logic.
GRUB_MODULES = ("tftp", "http", "efinet", "net", "linux", "normal", "configfile", "echo", "test",
                "regexp", "sleep", "reboot", "halt", "chain", "boot", "gzio", "all_video",
                "efi_gop", "part_gpt", "part_msdos", "fat", "ext2", "search", "ls")
GRUB_PREFIX = "/grub"  # expands to (tftp,<server>)/grub when booted from the network


@dataclass(frozen=True)
class Source:
    """One file of the TFTP root and where packages put it (first existing candidate wins)."""

    dest: str
    candidates: tuple[str, ...]
    package: str
    required: bool = True
    keep: bool = False  # an admin's copy in the root wins (shipped config files)


_PKG = Path(__file__).resolve().parents[1]
SHIPPED = (_PKG / "_data" / "tftpboot", _PKG.parent / "tftpboot")  # wheel, checkout
SOURCES: tuple[Source, ...] = (
    Source("pxelinux.0", ("/usr/lib/PXELINUX/pxelinux.0", "/usr/share/syslinux/pxelinux.0",
                          "/tftpboot/pxelinux.0"),
           "pxelinux (Debian) / syslinux-tftpboot (RHEL)"),
    Source("lpxelinux.0", ("/usr/lib/PXELINUX/lpxelinux.0", "/usr/share/syslinux/lpxelinux.0",
                           "/tftpboot/lpxelinux.0"),
           "pxelinux (Debian) / syslinux-tftpboot (RHEL)", required=False),
    *(Source(name, (f"/usr/lib/syslinux/modules/bios/{name}", f"/usr/share/syslinux/{name}",
                    f"/tftpboot/{name}"),
             "syslinux-common (Debian) / syslinux-tftpboot (RHEL)", required=name == "ldlinux.c32")
      for name in ("ldlinux.c32", "libcom32.c32", "libutil.c32", "menu.c32", "vesamenu.c32",
                   "chain.c32", "reboot.c32")),
    Source("undionly.kpxe", ("/usr/lib/ipxe/undionly.kpxe", "/usr/share/ipxe/undionly.kpxe"),
           "ipxe (Debian) / ipxe-bootimgs-x86 (RHEL)"),
    Source("ipxe.efi", ("/usr/lib/ipxe/ipxe.efi", "/usr/share/ipxe/ipxe-x86_64.efi",
                        "/usr/share/ipxe/ipxe.efi"),
           "ipxe (Debian) / ipxe-bootimgs-x86 (RHEL)"),
    Source("snponly.efi", ("/usr/lib/ipxe/snponly.efi", "/usr/share/ipxe/ipxe-snponly-x86_64.efi"),
           "ipxe (Debian) / ipxe-bootimgs-x86 (RHEL)", required=False),
    Source("ipxe-ia32.efi", ("/usr/share/ipxe/ipxe-i386.efi",),
           "ipxe-bootimgs-x86 (RHEL); not packaged by Debian", required=False),
    # the shipped configs for machines the inventory does not know, and the signed GRUB's
    # per-MAC dispatch (grub/grub.cfg): copied when the root has none
    *(Source(name, tuple(str(d / name) for d in SHIPPED),
             "provisioner (shipped)", required=False, keep=True)
      for name in ("grub/grub.cfg", "pxelinux.cfg/default")),
)
GRUB_PREBUILT = ("/boot/efi/EFI/redhat/grubx64.efi", "/boot/efi/EFI/centos/grubx64.efi",
                 "/boot/efi/EFI/fedora/grubx64.efi", "/boot/efi/EFI/rocky/grubx64.efi",
                 "/boot/efi/EFI/almalinux/grubx64.efi")
GRUB_PACKAGE = "grub-efi-amd64-bin + grub-common (Debian) / grub2-efi-x64 (RHEL)"


@dataclass(frozen=True)
class Step:
    """``copy`` src -> dest, ``grub`` (build with grub-mkimage), ``grub-mods``, or ``missing``."""

    action: str
    dest: str
    src: str = ""
    package: str = ""
    required: bool = True
    keep: bool = False

    def describe(self) -> str:
        if self.action == "copy":
            return f"copy {self.src} -> {self.dest}"
        if self.action == "grub":
            return f"build {self.dest} with grub-mkimage -O x86_64-efi -p {GRUB_PREFIX} " \
                   f"({len(GRUB_MODULES)} modules from {self.src})"
        if self.action == "grub-mods":
            return f"copy GRUB modules {self.src}/*.mod,*.lst -> {self.dest}/"
        need = "required" if self.required else "optional"
        return f"missing {self.dest} ({need}): install {self.package}"


def plan(exists: Callable[[str], bool] = os.path.exists,
         which: Callable[[str], str | None] = shutil.which) -> list[Step]:
    """What to do, from which source files exist on this machine (pure over its arguments)."""
    steps: list[Step] = []
    for src in SOURCES:
        found = next((c for c in src.candidates if exists(c)), None)
        steps.append(Step("copy", src.dest, found, keep=src.keep) if found else
                     Step("missing", src.dest, package=src.package, required=src.required))
    mods = next((d for d in GRUB_MODULE_DIRS if exists(f"{d}/moddep.lst")), None)
    if mods and which("grub-mkimage"):
        steps.append(Step("grub", "grubx64.efi", mods))
        steps.append(Step("grub-mods", "grub/x86_64-efi", mods))
    else:
        prebuilt = next((p for p in GRUB_PREBUILT if exists(p)), None)
        steps.append(Step("copy", "grubx64.efi", prebuilt) if prebuilt else
                     Step("missing", "grubx64.efi", package=GRUB_PACKAGE, required=False))
    return steps


@dataclass
class Report:
    installed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[Step] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # what could not be fetched or checked

    @property
    def ok(self) -> bool:
        return not self.failed and not any(s.required for s in self.missing)


def copy_file(src: Path, dest: Path) -> bool:
    """Copy atomically unless ``dest`` already has the same bytes; True if it wrote."""
    if dest.is_file() and filecmp.cmp(src, dest, shallow=False):
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _build_grub(mods: str, dest: Path) -> bool:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        out = Path(tmp) / dest.name
        subprocess.run(["grub-mkimage", "-O", "x86_64-efi", "-d", mods, "-p", GRUB_PREFIX,
                        "-o", str(out), *GRUB_MODULES], check=True, capture_output=True,
                       text=True, timeout=120)
        return copy_file(out, dest)


#: ``on_step(number, of, step, outcome)``: "working" before a step, then "changed",
#: "unchanged" or "missing" (a dry run says "would change")
OnStep = Callable[[int, int, Step, str], None]


def install(root: Path | str, steps: list[Step] | None = None, *, dry_run: bool = False,
            on_step: OnStep | None = None) -> Report:
    """Carry out :func:`plan` into ``root``; ``dry_run`` changes nothing."""
    root = Path(root)
    report = Report()
    todo = steps if steps is not None else plan()
    tell: OnStep = on_step or (lambda n, of, step, outcome: None)
    for n, step in enumerate(todo, 1):
        if step.action == "missing":
            report.missing.append(step)
            tell(n, len(todo), step, "missing")
            continue
        dest = root / step.dest
        if dry_run:
            same = step.action == "copy" and dest.is_file() and filecmp.cmp(step.src, dest, False)
            (report.unchanged if same else report.installed).append(step.describe())
            tell(n, len(todo), step, "unchanged" if same else "would change")
            continue
        tell(n, len(todo), step, "working")
        wrote = _carry_out(step, dest)
        (report.installed if wrote else report.unchanged).append(step.describe())
        tell(n, len(todo), step, "changed" if wrote else "unchanged")
    return report


def _carry_out(step: Step, dest: Path) -> bool:
    if step.action == "copy" and step.keep and dest.exists():
        return False  # a shipped config the admin already has (theirs wins)
    if step.action == "copy":
        return copy_file(Path(step.src), dest)
    if step.action == "grub":
        return _build_grub(step.src, dest)
    wrote = False
    for f in sorted(Path(step.src).iterdir()):
        if f.suffix in (".mod", ".lst"):
            wrote |= copy_file(f, dest / f.name)
    return wrote
