"""Real firmware boots real kernels from the appliance alone (DHCP + TFTP + HTTP + SQLite).

One namespace holds the bridge, a tap and ``provisioner serve`` (DHCP and TFTP on the bridge);
QEMU (``-accel tcg``) boots the fixture (``tests/e2e/fixture.py``) from it, and the serial console
is watched for the fixture's markers (``provisioner.lab.kit.INIT``'s ``LAB: ...`` lines). Five
boots, in order (they share one appliance, whose state each boot changes):

1. BIOS (SeaBIOS + iPXE ROM) handed ``pxelinux.0`` (the system's own DHCP option 67): pxelinux over
   TFTP, kernel and initrd over TFTP, kickstart, ``done`` callback -> netboot off.
2. The same machine again: its per-MAC pxelinux config is now LOCALBOOT; no second install.
3. BIOS iPXE chain: the firmware's iPXE gets its per-MAC iPXE script over HTTP, kernel and initrd
   over HTTP.
4. UEFI: OVMF + the iPXE EFI ROM (``efi-e1000.rom``) -> iPXE script -> kernel -> kickstart.
5. An unknown MAC under the default ``ignore`` policy: an address but nothing to boot, and no
   file is served to it.
6. UEFI with GRUB: the EFI image ``provisioner bootloaders install`` built with ``grub-mkimage``
   (handed out as the system's option 67) finds its per-MAC ``grub/grub.cfg-01-<mac>`` over
   TFTP, then kernel and initrd over TFTP.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.models import Distro, Interface, Profile, System
from tests.e2e import fixture
from tests.e2e.appliance import Running, appliance
from tests.netns import Netns, have_root_netns, netns

OVMF = Path("/usr/share/ovmf/OVMF.fd")
EFI_ROM = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")
SERVER = "10.77.0.1"
MACS = {"bios": "52:54:00:e2:e0:01", "ipxe": "52:54:00:e2:e0:02", "uefi": "52:54:00:e2:e0:03",
        "grub": "52:54:00:e2:e0:04", "unknown": "52:54:00:e2:e0:99"}

pytestmark = [
    pytest.mark.netns, pytest.mark.qemu,
    pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns"),
    pytest.mark.skipif(subprocess.run(["which", "qemu-system-x86_64"], capture_output=True)
                       .returncode != 0, reason="qemu-system-x86 not installed"),
]


@dataclass
class Lab:
    ns: Netns
    app: Running
    tmp: Path


def _fill(fx: fixture.Fixture):
    def fill(core: Core) -> None:
        common = dict(os_version="rhel9", kernel=str(fx.kernel), initrd=str(fx.initrd),
                      tree_url=f"http://{SERVER}:8080/tree", kernel_options="console=ttyS0 quiet")
        core.add_distro(Distro(name="fixture", **common))
        core.add_profile(Profile(name="tftp", distro="fixture", kickstart="rhel9-guest.ks",
                                 metadata={"pxe_transport": "tftp"}))
        core.add_profile(Profile(name="http", distro="fixture", kickstart="rhel9-guest.ks"))
        core.add_system(System(name="bios1", profile="tftp", token="tok-bios1",
                               interfaces=(Interface(mac=MACS["bios"], ip="10.77.0.51"),),
                               metadata={"dhcp_options": {"67": "pxelinux.0"}}))
        core.add_system(System(name="ipxe1", profile="http", token="tok-ipxe1",
                               interfaces=(Interface(mac=MACS["ipxe"], ip="10.77.0.52"),)))
        core.add_system(System(name="uefi1", profile="http", token="tok-uefi1",
                               interfaces=(Interface(mac=MACS["uefi"], ip="10.77.0.53"),)))
        core.add_system(System(name="grub1", profile="tftp", token="tok-grub1",
                               interfaces=(Interface(mac=MACS["grub"], ip="10.77.0.54"),),
                               metadata={"dhcp_options": {"67": "grubx64.efi"}}))
    return fill


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from provisioner.bootloaders import install

    fx = fixture.build()
    tmp = tmp_path_factory.mktemp("e2e")
    report = install(tmp / "tftpboot")
    assert report.ok, [s.describe() for s in report.missing]
    with netns("e2e") as ns:
        ns.add_bridge("br0", f"{SERVER}/24")
        ns.add_tap("tap0", "br0")
        with appliance(ns, tmp, SERVER, _fill(fx), interfaces=("br0",), dhcp_enabled=True,
                       dhcp_ranges=("10.77.0.100,10.77.0.150,255.255.255.0,1h",),
                       tftp_enabled=True) as app:
            yield Lab(ns, app, tmp)


@dataclass
class Boot:
    output: str
    seconds: float
    markers: dict[str, float]  # marker -> seconds from QEMU start


MARKERS = (fixture.DHCP_BOUND, fixture.KICKSTART_FETCHED, fixture.CALLBACK_STARTED,
           fixture.CALLBACK_DONE, fixture.BOOT_DONE, fixture.FAILED, "PXELINUX",
           "No bootable device", "Booting from local disk", "No configuration methods")


def qemu_boot(lab: Lab, mac: str, name: str, uefi: bool = False, until: str = fixture.BOOT_DONE,
              timeout: float = 300) -> Boot:
    """Boot a guest on tap0 until ``until`` shows on the serial console (or ``timeout``)."""
    nic = f"e1000,netdev=n0,mac={mac}"
    # 512 MiB: GRUB's EFI Linux loader runs out of memory at 256 under OVMF
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "512" if uefi else "256", "-nographic",
            "-no-reboot",
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-boot", "n"]
    if uefi:
        argv += ["-bios", str(OVMF), "-device", f"{nic},romfile={EFI_ROM}"]
    else:
        argv += ["-device", nic]
    log = lab.tmp / f"qemu-{name}.log"
    start = time.monotonic()
    with open(log, "wb") as fh:
        proc = lab.ns.popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    markers: dict[str, float] = {}
    try:
        while time.monotonic() - start < timeout:
            text = log.read_bytes().decode("utf-8", "replace")
            for m in MARKERS:
                if m not in markers and m in text:
                    markers[m] = round(time.monotonic() - start, 1)
            if until in text or proc.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(timeout=20)
    text = log.read_bytes().decode("utf-8", "replace")
    return Boot(text, round(time.monotonic() - start, 1), markers)


def _events(lab: Lab, system: str) -> list[dict]:
    return lab.app.timeline(system)


def _wait_for(lab: Lab, system: str, kind: str, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        events = _events(lab, system)
        if any(e["kind"] == kind for e in events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_1_bios_pxelinux_over_tftp_installs(lab: Lab) -> None:
    boot = qemu_boot(lab, MACS["bios"], "bios")
    assert fixture.BOOT_DONE in boot.output, boot.output[-3000:] + lab.app.log()[-3000:]
    assert "PXELINUX" in boot.output and fixture.KICKSTART_FETCHED in boot.output
    assert fixture.CALLBACK_STARTED in boot.output and fixture.CALLBACK_DONE in boot.output
    assert fixture.DHCP_BOUND + "10.77.0.51/" in boot.output  # the reservation
    system = lab.app.system("bios1")
    assert system["status"] == "installed" and system["netboot_enabled"] is False
    events = _wait_for(lab, "bios1", "tftp")
    served = {e["detail"]["path"] for e in events if e["kind"] == "tftp"}
    assert {"pxelinux.0", "ldlinux.c32", "assets/fixture/kernel",
            "assets/fixture/initrd"} <= served, served
    kinds = [e["kind"] for e in events]
    assert kinds.index("kickstart") < kinds.index("callback:done")
    print(f"\nBIOS pxelinux/TFTP boot: {boot.seconds}s, markers {boot.markers}")


def test_2_second_boot_is_told_to_boot_locally(lab: Lab) -> None:
    before = [e for e in _events(lab, "bios1") if e["kind"] == "kickstart"]
    cfg = lab.ns.run(["curl", "-sS", f"tftp://{SERVER}/pxelinux.cfg/01-52-54-00-e2-e0-01"]).stdout
    assert "LOCALBOOT 0" in cfg and "KERNEL" not in cfg
    boot = qemu_boot(lab, MACS["bios"], "bios-again", until="No bootable device", timeout=150)
    assert "PXELINUX" in boot.output and fixture.BOOT_DONE not in boot.output, boot.output[-3000:]
    after = [e for e in _events(lab, "bios1") if e["kind"] == "kickstart"]
    assert after == before  # never reinstalls
    configs = [e for e in _events(lab, "bios1") if e["kind"] == "boot-config"]
    assert configs[-1]["detail"]["netboot"] is False


def test_3_bios_ipxe_chain_over_http(lab: Lab) -> None:
    boot = qemu_boot(lab, MACS["ipxe"], "ipxe")
    assert fixture.CALLBACK_DONE in boot.output, boot.output[-3000:] + lab.app.log()[-3000:]
    events = _wait_for(lab, "ipxe1", "http-asset")
    assets = {e["detail"]["path"] for e in events if e["kind"] == "http-asset"}
    assert {"/assets/fixture/kernel", "/assets/fixture/initrd"} <= assets, events
    assert not [e for e in events if e["kind"] == "tftp"]  # nothing over TFTP on this path
    assert [e["detail"]["kind"] for e in events if e["kind"] == "boot-config"] == ["ipxe"]
    print(f"\nBIOS iPXE/HTTP boot: {boot.seconds}s, markers {boot.markers}")


@pytest.mark.skipif(not (OVMF.exists() and EFI_ROM.exists()), reason="ovmf / ipxe-qemu missing")
def test_4_uefi_ovmf_ipxe_rom(lab: Lab) -> None:
    boot = qemu_boot(lab, MACS["uefi"], "uefi", uefi=True, timeout=360)
    assert fixture.CALLBACK_DONE in boot.output, boot.output[-3000:] + lab.app.log()[-3000:]
    assert lab.app.system("uefi1")["netboot_enabled"] is False
    print(f"\nUEFI OVMF iPXE/HTTP boot: {boot.seconds}s, markers {boot.markers}")


def test_5_unknown_mac_gets_nothing_to_boot(lab: Lab) -> None:
    log_before = len(lab.app.log())
    boot = qemu_boot(lab, MACS["unknown"], "unknown", until="No bootable device", timeout=150)
    assert fixture.BOOT_DONE not in boot.output and "No bootable device" in boot.output, boot.output
    served = lab.app.log()[log_before:]
    assert "tftp:" not in served and "/boot/" not in served, served


@pytest.mark.skipif(not (OVMF.exists() and EFI_ROM.exists()), reason="ovmf / ipxe-qemu missing")
def test_6_uefi_grub_per_mac_config_over_tftp(lab: Lab) -> None:
    boot = qemu_boot(lab, MACS["grub"], "grub", uefi=True, timeout=360)
    assert "Welcome to GRUB" in boot.output, boot.output[-3000:] + lab.app.log()[-3000:]
    assert fixture.CALLBACK_DONE in boot.output, boot.output[-3000:] + lab.app.log()[-3000:]
    events = _wait_for(lab, "grub1", "tftp")
    served = [e["detail"]["path"] for e in events if e["kind"] == "tftp"]
    assert "grubx64.efi" in served and "/assets/fixture/kernel" in served, served
    configs = [e["detail"] for e in events if e["kind"] == "boot-config"]
    assert configs and configs[0]["kind"] == "grub"
    print(f"\nUEFI GRUB/TFTP boot: {boot.seconds}s, markers {boot.markers}")
