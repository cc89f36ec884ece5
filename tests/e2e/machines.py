"""The guests of the real-boot tests: one QEMU command line per firmware, and a boot watcher.

Firmware (from Debian's packages, never built here):

* ``bios``: SeaBIOS with QEMU's iPXE option ROM on an e1000 (``ipxe-qemu``).
* ``ovmf-ipxe``: OVMF (``OVMF.fd``) with the iPXE EFI ROM on an e1000.
* ``ovmf``: OVMF's own network stack (PXEv4/v6, HTTPv4/v6) on virtio-net, no option ROM; which
  boot entries exist is chosen with OVMF's fw_cfg switches (``protocols``), since a failed entry
  costs about 60 s and they share one device path (``bootindex`` cannot reorder them).
* ``ovmf-secboot``: the same with ``OVMF_CODE_4M.secboot.fd`` and a copy of
  ``OVMF_VARS_4M.ms.fd`` (Microsoft keys enrolled: Secure Boot on), SMM, secure pflash.
* ``aavmf``: ``qemu-system-aarch64 -M virt`` with AAVMF (``qemu-efi-aarch64``), virtio-net.

All TCG (no KVM here). The serial console goes to a log file that :func:`boot` watches for
markers until ``until`` shows, the guest powers off, or the timeout passes; the guest is always
killed and reaped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.netns import Netns

OVMF = Path("/usr/share/ovmf/OVMF.fd")
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
OVMF_SB_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
OVMF_SB_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
AAVMF_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
EFI_ROM = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")

#: firmware -> files it needs (a missing one skips the path)
NEEDS: dict[str, tuple[Path, ...]] = {
    "bios": (),
    "ovmf-ipxe": (OVMF, EFI_ROM),
    "ovmf": (OVMF_CODE, OVMF_VARS),
    "ovmf-secboot": (OVMF_SB_CODE, OVMF_SB_VARS),
    "aavmf": (AAVMF_CODE, AAVMF_VARS),
}
BINARY = {"aavmf": "qemu-system-aarch64"}
#: OVMF boot entries, by the fw_cfg switch that removes each
PROTOCOLS = {"pxe4": "IPv4PXESupport", "pxe6": "IPv6PXESupport"}


def available(firmware: str) -> bool:
    return (shutil.which(BINARY.get(firmware, "qemu-system-x86_64")) is not None
            and all(p.exists() for p in NEEDS[firmware]))


def _pflash(code: Path, vars_template: Path, vars_copy: Path) -> list[str]:
    shutil.copyfile(vars_template, vars_copy)
    return ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]


def _ovmf_switches(protocols: tuple[str, ...]) -> list[str]:
    """fw_cfg switches leaving only ``protocols`` (pxe4, pxe6, http4, http6)."""
    out: list[str] = []
    for proto, switch in PROTOCOLS.items():
        if proto not in protocols:
            out += ["-fw_cfg", f"name=opt/org.tianocore/{switch},string=no"]
    for stack in ("4", "6"):
        if not any(p.endswith(stack) for p in protocols):
            out += ["-fw_cfg", f"name=opt/org.tianocore/IPv{stack}Support,string=no"]
    return out


def qemu_argv(firmware: str, mac: str, workdir: Path, protocols: tuple[str, ...] = ("pxe4",),
              tap: str = "tap0") -> list[str]:
    """The QEMU command line for ``firmware`` booting from the network on ``tap``."""
    net = ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no"]
    common = ["-accel", "tcg", "-nographic", "-no-reboot", *net]
    vars_copy = workdir / f"vars-{mac.replace(':', '')}.fd"
    if firmware == "bios":
        return ["qemu-system-x86_64", *common, "-m", "256", "-boot", "n",
                "-device", f"e1000,netdev=n0,mac={mac}"]
    if firmware == "ovmf-ipxe":  # 512 MiB: GRUB's EFI Linux loader runs out of memory at 256
        return ["qemu-system-x86_64", *common, "-m", "512", "-boot", "n", "-bios", str(OVMF),
                "-device", f"e1000,netdev=n0,mac={mac},romfile={EFI_ROM}"]
    nic = ["-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=0"]
    if firmware == "aavmf":
        return ["qemu-system-aarch64", *common, "-M", "virt", "-cpu", "cortex-a57", "-m", "768",
                *_pflash(AAVMF_CODE, AAVMF_VARS, vars_copy), *nic]
    delay = ["-boot", "menu=on,splash-time=3000"] if protocols[0] == "http6" else []
    secure = firmware == "ovmf-secboot"
    flash = _pflash(OVMF_SB_CODE if secure else OVMF_CODE, OVMF_SB_VARS if secure else OVMF_VARS,
                    vars_copy)
    sb = ["-global", "driver=cfi.pflash01,property=secure,value=on"] if secure else []
    return ["qemu-system-x86_64", *common, "-machine", "q35,smm=on", "-m", "512", *sb, *flash,
            *_ovmf_switches(protocols), *delay, *nic]


_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Z0-9]|[a-zA-Z=>])")


def console_text(raw: bytes) -> str:
    """The serial console as text without terminal escape sequences (firmware redraws the
    screen, which can cut a word such as ``PXELINUX`` in two)."""
    return _ESCAPES.sub("", raw.decode("utf-8", "replace"))


@dataclass
class Boot:
    output: str
    seconds: float
    markers: dict[str, float]  # marker -> seconds from QEMU start

    def tail(self, n: int = 3000) -> str:
        return self.output[-n:]


def boot(ns: Netns, argv: list[str], log: Path, until: str, markers: tuple[str, ...],
         timeout: float = 300, stop_on: tuple[str, ...] = ()) -> Boot:
    """Run ``argv`` in ``ns`` until ``until`` (or one of ``stop_on``) is on the console."""
    start = time.monotonic()
    with open(log, "wb") as fh:
        proc = ns.popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    seen: dict[str, float] = {}
    try:
        while time.monotonic() - start < timeout:
            text = console_text(log.read_bytes())
            for m in markers:
                if m not in seen and m in text:
                    seen[m] = round(time.monotonic() - start, 1)
            if until in text or any(s in text for s in stop_on) or proc.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(timeout=20)
    text = console_text(log.read_bytes())
    return Boot(text, round(time.monotonic() - start, 1), seen)
