"""Every firmware path, a real boot each: one table (:data:`PATHS`), the appliance alone serving.

Each row boots real firmware under QEMU (TCG; ``tests/e2e/machines.py``) from ``provisioner
serve`` in a test namespace, into the lab kit's kernel (``tests/e2e/fixture.py``: Debian's
signed kernel and a busybox "installer" that fetches the kickstart and calls back), and checks
the same things: the kickstart was fetched and both callbacks arrived (the system is installed,
netboot off), the first-stage loader this firmware must get was the one served (the appliance's
TFTP log or the HTTP timeline), the address family the installer used, and the Secure Boot state
the guest kernel read from the firmware.

Four appliances, each started on first use and shared by the rows that name it:

* ``v4``: DHCPv4 + TFTP (BIOS pxelinux, BIOS iPXE, UEFI x86-64 over TFTP with GRUB, UEFI Secure
  Boot through Debian's shim -> GRUB -> signed kernel, arm64 UEFI through shimaa64 -> grubaa64);
* ``v6``: an IPv6-only link (DHCPv6 + router advertisements, no DHCPv4), TFTP and HTTP on IPv6
  (OVMF PXEv6 -> ipxe.efi -> iPXE over IPv6 -> kernel over HTTP/IPv6 -> SLAAC in the installer);
* ``http4``/``http6``: TFTP disabled altogether (UEFI HTTP boot over IPv4 / IPv6).

The loaders come from ``provisioner bootloaders install`` (local packages plus the signed chain
fetched with APT), never from the test. Besides the table: a negative Secure Boot test (the same
firmware handed an unsigned loader refuses it, so the positive row means something), a second
boot of an installed machine (local boot, no reinstall) and an unknown MAC (nothing served).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from provisioner.bootloaders import install, signed
from provisioner.core.app import Core
from provisioner.lab import kit as labkit
from provisioner.models import Distro, Interface, Profile, System
from tests.e2e import fixture
from tests.e2e.appliance import Running, appliance
from tests.e2e.machines import available, boot, qemu_argv
from tests.netns import Netns, have_root_netns, netns

pytestmark = [
    pytest.mark.netns, pytest.mark.qemu, pytest.mark.slow,
    pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns"),
    pytest.mark.skipif(subprocess.run(["which", "qemu-system-x86_64"], capture_output=True)
                       .returncode != 0, reason="qemu-system-x86 not installed"),
]

MARKERS = (fixture.DHCP_BOUND, fixture.KICKSTART_FETCHED, fixture.CALLBACK_STARTED,
           fixture.CALLBACK_DONE, fixture.BOOT_DONE, fixture.FAILED, labkit.MARK_SECUREBOOT,
           "PXELINUX", "Welcome to GRUB", "No bootable device", "Access Denied")


@dataclass(frozen=True)
class LabSpec:
    v4: str  # the bridge's IPv4 address (HTTP listens there; DHCPv4 only if ``dhcp4``)
    v6: str = ""  # the bridge's IPv6 address ("" = none)
    dhcp4: bool = True
    tftp: bool = True


LABS = {
    "v4": LabSpec("10.77.0.1"),
    "v6": LabSpec("10.78.0.1", "fd00:78::1", dhcp4=False),
    "http4": LabSpec("10.79.0.1", tftp=False),
    "http6": LabSpec("10.80.0.1", "fd00:80::1", dhcp4=False, tftp=False),
}


@dataclass(frozen=True)
class FirmwarePath:
    """One row: which firmware boots which system from which appliance, and what must happen."""

    lab: str
    firmware: str  # tests/e2e/machines.py
    system: str
    profile: str
    mac: str
    served: tuple[str, ...]  # first-stage files: "tftp:<path>" (TFTP log) or "http:<path>"
    secure_boot: str | None = None  # what the installer reads from the firmware ("1"/"0")
    protocols: tuple[str, ...] = ("pxe4",)  # OVMF boot entries left on
    ipv6: bool = False  # the installer's address and kickstart URL are IPv6
    options: dict[str, Any] = field(default_factory=dict)  # the system's metadata
    timeout: float = 360


PATHS = {
    "BIOS pxelinux": FirmwarePath(
        "v4", "bios", "bios1", "tftp", "52:54:00:e2:e0:01", ("tftp:pxelinux.0", "tftp:ldlinux.c32"),
        options={"dhcp_options": {"67": "pxelinux.0"}}, timeout=300),
    "BIOS iPXE": FirmwarePath(
        "v4", "bios", "ipxe1", "http", "52:54:00:e2:e0:02", ("http:/assets/fixture/kernel",),
        timeout=300),
    "UEFI x86-64 TFTP (GRUB)": FirmwarePath(
        "v4", "ovmf", "grub1", "tftp", "52:54:00:e2:e0:04", ("tftp:grubx64.efi",), "0",
        options={"dhcp_options": {"67": "grubx64.efi"}}),
    "UEFI x86-64 Secure Boot (shim -> GRUB -> signed kernel)": FirmwarePath(
        "v4", "ovmf-secboot", "sb1", "secure", "52:54:00:e2:e0:05",
        ("tftp:shim/shimx64.efi", "tftp:shim/grubx64.efi"), "1"),
    "UEFI HTTP boot (IPv4, no TFTP)": FirmwarePath(
        "http4", "ovmf", "http1", "http", "52:54:00:e2:e0:06", ("http:/tftpboot/ipxe.efi",), "0",
        protocols=("http4",)),
    "UEFI IPv6 PXE (TFTP over IPv6, iPXE over IPv6)": FirmwarePath(
        "v6", "ovmf", "pxe6", "http", "52:54:00:e2:e0:07", ("tftp:ipxe.efi",), "0",
        protocols=("pxe6",), ipv6=True, timeout=420),
    "UEFI IPv6 HTTP boot (no TFTP)": FirmwarePath(
        "http6", "ovmf", "http6", "http", "52:54:00:e2:e0:08", ("http:/tftpboot/ipxe.efi",), "0",
        protocols=("http6",), ipv6=True, timeout=420),
    "arm64 UEFI (shimaa64 -> grubaa64)": FirmwarePath(
        "v4", "aavmf", "arm1", "arm64", "52:54:00:e2:e0:09",
        ("tftp:shim/shimaa64.efi", "tftp:shim/grubaa64.efi"), "0", timeout=420),
}
UNSIGNED = FirmwarePath("v4", "ovmf-secboot", "unsigned1", "http", "52:54:00:e2:e0:0a",
                        ("tftp:ipxe.efi",))
UNKNOWN_MAC = "52:54:00:e2:e0:99"


@dataclass
class Lab:
    ns: Netns
    app: Running
    tmp: Path


def _fill(spec: LabSpec, kits: dict[str, labkit.Kit]):
    def fill(core: Core) -> None:
        server = f"[{spec.v6}]" if spec.v6 else spec.v4
        for name, arch, kit, console in (("fixture", "x86_64", kits["amd64"], "ttyS0"),
                                         ("fixture-arm64", "aarch64", kits.get("arm64"),
                                          "ttyAMA0")):
            if kit is not None:
                core.add_distro(Distro(name=name, arch=arch, os_version="rhel9",
                                       kernel=str(kit.kernel), initrd=str(kit.initrd),
                                       tree_url=f"http://{server}:8080/tree",
                                       kernel_options=f"console={console} quiet"))
        core.add_profile(Profile(name="tftp", distro="fixture", kickstart="rhel9-guest.ks",
                                 metadata={"pxe_transport": "tftp"}))
        core.add_profile(Profile(name="http", distro="fixture", kickstart="rhel9-guest.ks"))
        core.add_profile(Profile(name="secure", distro="fixture", kickstart="rhel9-guest.ks",
                                 metadata={"secure_boot": True}))
        if "arm64" in kits:
            core.add_profile(Profile(name="arm64", distro="fixture-arm64",
                                     kickstart="rhel9-guest.ks"))
        for n, row in enumerate([*PATHS.values(), UNSIGNED]):
            if row.lab != _lab_name(spec):
                continue
            ip = None if row.ipv6 else f"{spec.v4.rsplit('.', 1)[0]}.{51 + n}"
            core.add_system(System(name=row.system, profile=row.profile, token=f"tok-{row.system}",
                                   interfaces=(Interface(mac=row.mac, ip=ip),),
                                   metadata=dict(row.options)))
    return fill


def _lab_name(spec: LabSpec) -> str:
    return next(name for name, s in LABS.items() if s is spec)


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``labs(name)`` -> the running lab, started on first use; all stopped at the end."""
    kits = {"amd64": fixture.build()}
    if available("aavmf"):
        kits["arm64"] = labkit.ensure_kit(fixture.CACHE, arch="arm64")
    root = tmp_path_factory.mktemp("e2e-tftpboot")
    report = install(root)
    signed.install(root, ("amd64", "arm64"), report=report)
    assert report.ok, ([s.describe() for s in report.missing], report.failed)
    running: dict[str, Lab] = {}
    with contextlib.ExitStack() as stack:
        def get(name: str) -> Lab:
            if name not in running:
                spec = LABS[name]
                tmp = tmp_path_factory.mktemp(f"e2e-{name}")
                ns = stack.enter_context(netns(f"e2{name}"))
                ns.add_bridge("br0", f"{spec.v4}/24")
                if spec.v6:
                    ns.ip("addr", "add", f"{spec.v6}/64", "dev", "br0", "nodad")
                ns.add_tap("tap0", "br0")
                settings: dict[str, Any] = {"interfaces": ("br0",), "tftp_root": str(root),
                                            "tftp_enabled": spec.tftp}
                if spec.dhcp4:
                    net = spec.v4.rsplit(".", 1)[0]
                    # RA on the IPv4 links too (M=0, O=0, no router): iPXE stops waiting ~13 s
                    settings.update(dhcp_enabled=True, ra_enabled=True,
                                    dhcp_ranges=(f"{net}.100,{net}.150,255.255.255.0,1h",))
                if spec.v6:
                    prefix = spec.v6.rsplit("::", 1)[0]
                    settings.update(dhcp6_enabled=True, ra_enabled=True, ra_router_lifetime=0,
                                    dhcp6_ranges=(f"{prefix}::100,{prefix}::1ff,1h",),
                                    http_host6=spec.v6)
                app = stack.enter_context(appliance(ns, tmp, spec.v4, _fill(spec, kits),
                                                    **settings))
                running[name] = Lab(ns, app, tmp)
            return running[name]

        yield get


def _boot(lab: Lab, row: FirmwarePath, name: str, until: str = fixture.BOOT_DONE,
          timeout: float | None = None) -> Any:
    argv = qemu_argv(row.firmware, row.mac, lab.tmp, row.protocols)
    return boot(lab.ns, argv, lab.tmp / f"qemu-{name}.log", until, MARKERS,
                timeout=timeout or row.timeout, stop_on=("Access Denied", fixture.FAILED))


def _wait_for(lab: Lab, system: str, kind: str, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        events = lab.app.timeline(system)
        if any(e["kind"] == kind for e in events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


@pytest.mark.parametrize("row", PATHS.values(), ids=PATHS.keys())
def test_firmware_path(labs, row: FirmwarePath) -> None:
    if not available(row.firmware):
        pytest.skip(f"firmware {row.firmware} not installed (scripts/setup.sh)")
    lab = labs(row.lab)
    b = _boot(lab, row, row.system)
    why = b.tail() + "\n--- appliance ---\n" + lab.app.log()[-3000:]
    assert fixture.BOOT_DONE in b.output, why
    assert fixture.KICKSTART_FETCHED in b.output and fixture.CALLBACK_DONE in b.output, why
    lease = b.output.split(fixture.DHCP_BOUND, 1)[1].split()[0]
    assert (":" in lease) == row.ipv6, lease  # the installer's own address family
    if row.ipv6:
        assert "kickstart fetched from http://[" in b.output
    if row.secure_boot is not None:
        assert f"{labkit.MARK_SECUREBOOT}{row.secure_boot}" in b.output, why
    events = _wait_for(lab, row.system, "callback:done")
    kinds = [e["kind"] for e in events]
    assert kinds.index("kickstart") < kinds.index("callback:done"), kinds
    assert lab.app.system(row.system)["netboot_enabled"] is False
    log = lab.app.log()
    http = {e["detail"]["path"] for e in _wait_for(lab, row.system, "http-asset")
            if e["kind"] == "http-asset"}
    for item in row.served:
        transport, path = item.split(":", 1)
        assert (f" {path} done " in log) if transport == "tftp" else (path in http), (item, http)
    if not LABS[row.lab].tftp:
        assert "TFTP on" not in log and "tftp:" not in log  # HTTP boot with no TFTP at all
    print(f"\n{row.system}: {b.seconds}s, markers {b.markers}")


def test_secure_boot_refuses_an_unsigned_loader(labs) -> None:
    """The Secure Boot firmware of the positive row, handed an unsigned loader (a machine the
    inventory does not mark secure_boot gets ipxe.efi): refused, nothing boots."""
    if not available(UNSIGNED.firmware):
        pytest.skip("OVMF Secure Boot firmware not installed")
    lab = labs("v4")
    b = _boot(lab, UNSIGNED, "unsigned", until="Access Denied", timeout=120)
    assert "Access Denied" in b.output and "LAB:" not in b.output, b.tail()
    assert " ipxe.efi done " in lab.app.log()  # it was served, and refused


def test_second_boot_is_told_to_boot_locally(labs) -> None:
    lab = labs("v4")
    row = PATHS["BIOS pxelinux"]
    if lab.app.system(row.system)["netboot_enabled"]:
        pytest.skip("the BIOS pxelinux row did not install")
    before = [e for e in lab.app.timeline(row.system) if e["kind"] == "kickstart"]
    cfg = lab.ns.run(["curl", "-sS", "tftp://10.77.0.1/pxelinux.cfg/01-52-54-00-e2-e0-01"]).stdout
    assert "LOCALBOOT 0" in cfg and "KERNEL" not in cfg
    b = _boot(lab, row, "bios-again", until="No bootable device", timeout=150)
    assert "PXELINUX" in b.output and fixture.BOOT_DONE not in b.output, b.tail()
    after = [e for e in lab.app.timeline(row.system) if e["kind"] == "kickstart"]
    assert after == before  # never reinstalls
    configs = [e for e in lab.app.timeline(row.system) if e["kind"] == "boot-config"]
    assert configs[-1]["detail"]["netboot"] is False


def test_unknown_mac_gets_nothing_to_boot(labs) -> None:
    lab = labs("v4")
    log_before = len(lab.app.log())
    row = FirmwarePath("v4", "bios", "-", "-", UNKNOWN_MAC, ())
    b = _boot(lab, row, "unknown", until="No bootable device", timeout=150)
    assert fixture.BOOT_DONE not in b.output and "No bootable device" in b.output, b.tail()
    served = lab.app.log()[log_before:]
    assert "tftp:" not in served and "/boot/" not in served, served
