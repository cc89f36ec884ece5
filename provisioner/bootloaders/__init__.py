"""``provisioner bootloaders install``: fill the TFTP root from the distribution's own packages.

Nothing binary is committed to the project. Two sources:

* :mod:`.local`: pxelinux, iPXE and a ``grub-mkimage``-built GRUB from this machine's installed
  packages (unsigned; BIOS and UEFI without Secure Boot);
* :mod:`.signed`: the Secure Boot chain (shim + network GRUB, x86-64 and arm64) from Debian's
  signed packages, fetched with ``apt-get download`` into a cache (``--arch``, ``--no-signed``);
* :mod:`.kernel`: a Debian distro's signed kernel (``--kernel DISTRO``), the release its initrd
  was built for, into the assets directory; the distro then points at it.

:mod:`.scan` tells the DHCP servers which loaders the TFTP root holds and which are signed.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path

from provisioner.bootloaders import kernel, signed
from provisioner.bootloaders.local import Report, Step, copy_file, install, plan
from provisioner.progress import Display, Row

__all__ = ["Report", "Step", "copy_file", "install", "plan", "signed", "cmd_install", "register"]


#: how each outcome reads in the progress rows
OUTCOME = {"working": "doing:", "changed": "did:", "unchanged": "unchanged:",
           "would change": "would:", "missing": ""}


def _kernels(args: argparse.Namespace, core: Callable[[argparse.Namespace], kernel.Distros] | None,
             report: Report) -> None:
    if not args.kernel:
        return
    if core is None:
        report.failed.append("--kernel: this command has no inventory to look distros up in")
        return
    done, failed = kernel.install_for(args.kernel, args.kernel_release, core(args),
                                      args.settings, Path(args.cache), dry_run=args.dry_run,
                                      refresh=args.refresh)
    for line in done:
        print(f"  {line}")
    report.installed.extend(d for d in done if d.startswith("did: "))
    report.failed.extend(failed)


def cmd_install(args: argparse.Namespace,
                core: Callable[[argparse.Namespace], kernel.Distros] | None = None) -> int:
    root = Path(args.root or args.settings.tftp_root)
    display = Display()
    rows: dict[str, Row] = {}

    def on_step(n: int, of: int, step: Step, outcome: str) -> None:
        word = OUTCOME[outcome]
        rows[step.dest] = Row(step.dest, outcome,
                              f"[{n}/{of}] " + (f"{word} " if word else "") + step.describe())
        display.show(list(rows.values()))

    try:
        report = install(root, steps=plan(), dry_run=args.dry_run, on_step=on_step)
    finally:
        display.close()
    arches = [a for a in (args.arch or ",".join(signed.ARCHES)).split(",") if a]
    if not args.no_signed:
        print(f"signed chain ({', '.join(arches)}): apt-get download into {args.cache} ...",
              flush=True)
        done = len(report.installed)
        signed.install(root, arches, Path(args.cache), dry_run=args.dry_run,
                       refresh=args.refresh, report=report)
        verb = "would" if args.dry_run else "did"
        for line in report.installed[done:]:
            print(f"  {verb}: {line}")
    _kernels(args, core, report)
    for line in report.failed:
        print(f"FAILED: {line}")
    print(f"TFTP root {root}: {len(report.installed)} changed, {len(report.unchanged)} unchanged, "
          f"{len(report.missing)} missing, {len(report.failed)} failed")
    if report.missing and not report.ok:
        print("bootloaders: install the packages named above (apt-get install ...), then run "
              "`provisioner bootloaders install` again")
    return 0 if report.ok else 1


def register(sub: argparse._SubParsersAction,
             core: Callable[[argparse.Namespace], kernel.Distros] | None = None) -> None:
    """Add ``bootloaders install`` to the ``provisioner`` command (``core`` opens the inventory
    for ``--kernel``)."""
    p = sub.add_parser("bootloaders", help="fill the TFTP root from the distribution's packages")
    inst = p.add_subparsers(dest="action", required=True).add_parser(
        "install", help="copy pxelinux/iPXE, build the GRUB EFI image, fetch the signed "
                        "shim/GRUB chain; report what is missing")
    inst.add_argument("--root", help="TFTP root (default: the settings' tftp_root)")
    inst.add_argument("--dry-run", action="store_true", help="print what would change")
    inst.add_argument("--no-signed", action="store_true",
                      help="skip the Secure Boot chain (shim-signed, grub-efi-*-signed)")
    inst.add_argument("--arch", help="Debian architectures of the signed chain, comma-separated "
                                     f"(default {','.join(signed.ARCHES)})")
    inst.add_argument("--cache", default=str(signed.DEFAULT_CACHE),
                      help="where fetched packages are kept (default %(default)s)")
    inst.add_argument("--refresh", action="store_true",
                      help="fetch the signed packages again even if cached (updates)")
    inst.add_argument("--kernel", action="append", metavar="DISTRO",
                      help="also fetch Debian's signed kernel for this (debian) distro, the "
                           "release its initrd's modules are for, and point the distro at it "
                           "(Secure Boot); repeatable")
    inst.add_argument("--kernel-release", metavar="RELEASE",
                      help="the kernel release to fetch when the initrd names none "
                           "(e.g. 6.1.0-28-amd64)")
    inst.set_defaults(func=functools.partial(cmd_install, core=core))
