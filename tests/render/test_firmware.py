"""Rendered boot configs executed by real firmware: QEMU's iPXE ROM (BIOS), SYSLINUX's
pxelinux.0, and OVMF (UEFI) chaining a GRUB EFI image built by grub-mkimage.

Everything runs inside a fresh network namespace that has only loopback, so nothing can leave
the machine: QEMU's user-mode network (slirp) gives the guest DHCP and TFTP (the rendered config
as boot file), and the guest reaches ``python -m http.server`` on the namespace's 127.0.0.1
through slirp's host address 10.0.2.2. The "kernel" served is iPXE's own ``ipxe.lkrn`` (a real
bzImage), so the firmware has something to boot. Proved here: the firmware parses our script or
config and fetches exactly the kernel and initrd URLs we rendered (install variants), or leaves
the network boot without any fetch (local variants).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from provisioner.models import BootContext
from provisioner.render.configs import Renderer
from tests.conftest import ROOT
from tests.netns import have_root_netns, netns
from tests.render.fixtures import RHEL5, ctx, web01

QEMU = shutil.which("qemu-system-x86_64")
LKRN = Path("/boot/ipxe.lkrn")
PXELINUX = Path("/usr/lib/PXELINUX/pxelinux.0")
LDLINUX = Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")
OVMF_CODE, OVMF_VARS = Path("/usr/share/OVMF/OVMF_CODE.fd"), Path("/usr/share/OVMF/OVMF_VARS.fd")
EFI_ROM = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")
GRUB_MKIMAGE = shutil.which("grub-mkimage")
MAC = "52:54:00:12:34:56"
PORT = 8080
SERVER = f"http://10.0.2.2:{PORT}"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.netns,
    pytest.mark.skipif(not (have_root_netns() and QEMU and LKRN.exists()),
                       reason="needs root, qemu-system-x86 and the ipxe package"),
]


def boot_context(netboot: bool) -> BootContext:
    c = ctx(RHEL5, "rhel5-guest.ks", system=web01(netboot_enabled=netboot),
            kernel_options="console=ttyS0")
    return BootContext(distro=c.distro, profiles=c.profiles, system=c.system, values=c.values,
                       server=SERVER, mac=MAC)


def serve_and_boot(tmp_path: Path, tftp_files: dict[str, str | Path], bootfile: str,
                   want: re.Pattern[str], timeout: float = 240,
                   firmware: tuple[str, ...] | list[str] = (),
                   romfile: str | None = None) -> tuple[list[str], str]:
    """Boot QEMU from ``bootfile``; stop once the serial log matches ``want``.

    Returns the HTTP request lines the server logged and the serial log.
    """
    www = tmp_path / "www" / "assets" / RHEL5.name
    www.mkdir(parents=True)
    shutil.copy(LKRN, www / "kernel")
    (www / "initrd").write_bytes(b"not really an initrd\n" * 64)
    tftp = tmp_path / "tftp"
    for name, content in tftp_files.items():
        (tftp / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, tftp / name)
        else:
            (tftp / name).write_text(content)
    http_log, serial = tmp_path / "http.log", tmp_path / "serial.log"
    with netns("fw") as ns, open(http_log, "w") as hl, open(serial, "w") as sl:
        ns.popen(["python3", "-m", "http.server", "--bind", "127.0.0.1", str(PORT),
                  "--directory", str(tmp_path / "www")], stdout=hl, stderr=subprocess.STDOUT)
        qemu = ns.popen([QEMU, "-accel", "tcg", "-m", "128", "-nographic", "-no-reboot",
                         "-netdev", f"user,id=n0,tftp={tftp},bootfile={bootfile}",
                         *firmware, "-device", f"e1000,netdev=n0,mac={MAC}"
                         + (f",romfile={romfile}" if romfile else ""), "-boot", "n"],
                        stdout=sl, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and qemu.poll() is None:
            if want.search(serial.read_text(errors="replace")):
                break
            time.sleep(0.5)
        log = serial.read_text(errors="replace")
        ns.stop_procs()
    requests = [ln for ln in http_log.read_text().splitlines() if '"GET ' in ln]
    assert want.search(log), f"firmware never reached {want.pattern!r}; serial log:\n{log[-3000:]}"
    return requests, log


def fetched(requests: list[str]) -> list[str]:
    return [re.search(r'"GET (\S+)', ln).group(1) for ln in requests]


# The nested iPXE (the "kernel") prints its banner again once the firmware has booted it.
SECOND_IPXE = re.compile(r"iPXE initialising devices[\s\S]*iPXE initialising devices")
NO_BOOT_DEVICE = re.compile(r"No bootable device")


def test_ipxe_runs_the_install_script(tmp_path: Path) -> None:
    script = Renderer(ROOT / "templates").render("ipxe", boot_context(True))
    requests, _ = serve_and_boot(tmp_path, {"boot.ipxe": script}, "boot.ipxe", SECOND_IPXE)
    assert fetched(requests)[:2] == [f"/assets/{RHEL5.name}/kernel", f"/assets/{RHEL5.name}/initrd"]


def test_ipxe_local_script_leaves_netboot(tmp_path: Path) -> None:
    script = Renderer(ROOT / "templates").render("ipxe", boot_context(False))
    requests, log = serve_and_boot(tmp_path, {"boot.ipxe": script}, "boot.ipxe", NO_BOOT_DEVICE)
    assert requests == []
    assert re.search(r"boot\.ipxe : \d+ bytes \[script\][\s\S]*Booting from Hard Disk", log)


@pytest.mark.skipif(not (PXELINUX.exists() and LDLINUX.exists()), reason="needs pxelinux")
def test_pxelinux_runs_the_install_config(tmp_path: Path) -> None:
    config = Renderer(ROOT / "templates").render("pxelinux", boot_context(True))
    files: dict[str, str | Path] = {"pxelinux.0": PXELINUX, "ldlinux.c32": LDLINUX,
                                    f"pxelinux.cfg/01-{MAC.replace(':', '-')}": config}
    requests, log = serve_and_boot(tmp_path, files, "pxelinux.0", SECOND_IPXE)
    assert fetched(requests)[:2] == [f"/assets/{RHEL5.name}/kernel", f"/assets/{RHEL5.name}/initrd"]
    assert "PXELINUX" in log


@pytest.mark.skipif(not (PXELINUX.exists() and LDLINUX.exists()), reason="needs pxelinux")
def test_pxelinux_local_config_boots_the_disk(tmp_path: Path) -> None:
    config = Renderer(ROOT / "templates").render("pxelinux", boot_context(False))
    files: dict[str, str | Path] = {"pxelinux.0": PXELINUX, "ldlinux.c32": LDLINUX,
                                    f"pxelinux.cfg/01-{MAC.replace(':', '-')}": config}
    requests, log = serve_and_boot(tmp_path, files, "pxelinux.0", NO_BOOT_DEVICE)
    assert requests == []
    assert re.search(r"PXELINUX[\s\S]*Booting from Hard Disk", log)


@pytest.mark.skipif(not (GRUB_MKIMAGE and OVMF_CODE.exists() and EFI_ROM.exists()),
                    reason="needs grub-efi-amd64-bin, ovmf and ipxe-qemu")
def test_uefi_grub_runs_the_install_config(tmp_path: Path) -> None:
    """OVMF -> UEFI PXE -> a GRUB EFI image (grub-mkimage) -> our grub.cfg -> (http,host:port)."""
    config = Renderer(ROOT / "templates").render("grub", boot_context(True))
    early = tmp_path / "early.cfg"
    early.write_text("configfile (tftp,10.0.2.2)/grub.cfg\n")
    grub_efi = tmp_path / "grubx64.efi"
    subprocess.run([GRUB_MKIMAGE, "-O", "x86_64-efi", "-o", str(grub_efi), "-p", "(tftp,10.0.2.2)/",
                    "-c", str(early), "efinet", "tftp", "http", "net", "normal", "configfile",
                    "linux", "echo", "boot"], check=True, capture_output=True, timeout=120)
    vars_fd = tmp_path / "vars.fd"
    shutil.copy(OVMF_VARS, vars_fd)
    firmware = ["-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,file={vars_fd}"]
    requests, log = serve_and_boot(
        tmp_path, {"grubx64.efi": grub_efi, "grub.cfg": config}, "grubx64.efi",
        re.compile(r"Booting `Install web01'[\s\S]*Booting in blind mode"), firmware=firmware,
        romfile=str(EFI_ROM))
    assert fetched(requests)[:2] == [f"/assets/{RHEL5.name}/kernel", f"/assets/{RHEL5.name}/initrd"]
