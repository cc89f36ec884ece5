"""Kickstart content against the seed's test oracles (A1, A2 §11.3, E T45) and validation.

Every shipped kickstart renders and validates clean under its distro's pykickstart handler,
through the library API and through pykickstart's own ``ksvalidator`` command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.render.configs import Renderer
from provisioner.render.validate import handler_name, validate_kickstart
from tests.conftest import ROOT
from tests.render.fixtures import (
    KICKSTART_CASES,
    RHEL5,
    RHEL5_I386,
    RHEL5_IA64,
    RHEL9,
    ctx,
    dhcp01,
    web01,
)

KSVALIDATOR = Path(sys.executable).parent / "ksvalidator"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(ROOT / "templates")


def packages(text: str) -> list[str]:
    """The lines of the %packages section."""
    lines = text.splitlines()
    start = lines.index("%packages") + 1
    out = []
    for line in lines[start:]:
        if line.startswith("%") or not line.strip():
            break
        out.append(line)
    return out


def line_with(text: str, prefix: str) -> str:
    found = [ln for ln in text.splitlines() if ln.startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]


# ---- validation of everything shipped -------------------------------------------------------

CASES = sorted(KICKSTART_CASES)


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_shipped_kickstart_validates_clean(renderer: Renderer, case: str) -> None:
    c = KICKSTART_CASES[case]
    assert validate_kickstart(renderer.render("ks", c), c.value("os_version")) == []


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_ksvalidator_command_accepts(renderer: Renderer, case: str, tmp_path: Path) -> None:
    """pykickstart's own console script, as an admin would run it."""
    c = KICKSTART_CASES[case]
    path = tmp_path / "ks.cfg"
    path.write_text(renderer.render("ks", c))
    version = handler_name(c.value("os_version"))
    run = subprocess.run([str(KSVALIDATOR), "-v", version, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_shipped_kickstart_is_exercised(renderer: Renderer) -> None:
    used = {c.value("kickstart") for c in KICKSTART_CASES.values()}
    assert set(renderer.kickstart_templates()) == used


# ---- A1 test oracles 1-3: host profiles --------------------------------------------------------

def test_xen_host_packages_start_with_virtualization(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL5, "xen-host.ks", system=web01()))
    lines = text.splitlines()
    assert lines[lines.index("%packages") + 1] == "@virtualization"
    assert "xen-ia64-guest-firmware" not in packages(text)


def test_xen_host_on_itanium_adds_guest_firmware(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL5_IA64, "xen-host.ks", system=web01()))
    assert "@virtualization" in packages(text)
    assert "xen-ia64-guest-firmware" in packages(text)


def test_xen_host_hypervisor_parameters_go_to_hvargs(renderer: Renderer) -> None:
    """dom0_mem belongs on the xen.gz line (seed E §5): RHEL 5's bootloader --hvargs."""
    text = renderer.render("ks", ctx(RHEL5, "xen-host.ks",
                                     metadata={"hypervisor_params": ["dom0_mem=256M"]}))
    assert line_with(text, "bootloader") == 'bootloader --location=mbr --hvargs="dom0_mem=256M"'


def test_kvm_host_has_kvm_and_not_virtualization(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL5, "kvm-host.ks", system=web01()))
    lines = text.splitlines()
    assert lines[lines.index("%packages") + 1] == "@kvm"
    assert "@virtualization" not in text


def test_kvm_host_without_constant_tsc_limits_cstates(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL5, "kvm-host.ks", metadata={"constant_tsc": False}))
    assert line_with(text, "bootloader") == (
        'bootloader --location=mbr --append="processor.max_cstate=1"')


# ---- A2 §11.3 T24-T28 and E T45: guest kickstarts ------------------------------------------------

@pytest.mark.parametrize(("virt_type", "kernel_xen"), [("pv", True), ("hvm", False)],
                         ids=["paravirt-gets-kernel-xen", "fullvirt-no-forced-kernel-xen"])
def test_kernel_xen_for_paravirt_only(renderer: Renderer, virt_type: str, kernel_xen: bool) -> None:
    text = renderer.render("ks", ctx(RHEL5, "rhel5-guest.ks", hypervisor="xen",
                                     virt_type=virt_type))
    assert ("kernel-xen" in packages(text)) is kernel_xen


@pytest.mark.parametrize(("hypervisor", "virt_type", "append"), [
    ("xen", "pv", "console=xvc0"),
    ("xen", "hvm", "console=tty0 console=ttyS0,115200"),
    ("kvm", "hvm", "console=tty0 console=ttyS0,115200"),
], ids=["xen-pv-xvc0", "xen-fv-serial", "kvm-serial"])
def test_console_parameters(renderer: Renderer, hypervisor: str, virt_type: str,
                            append: str) -> None:
    text = renderer.render("ks", ctx(RHEL5, "rhel5-guest.ks", hypervisor=hypervisor,
                                     virt_type=virt_type))
    assert line_with(text, "bootloader") == f'bootloader --location=mbr --append="{append}"'
    assert "/sbin/chkconfig --del smartd 2>/dev/null || true" in text
    assert "/sbin/chkconfig --del microcode_ctl 2>/dev/null || true" in text
    assert ("1:12345:respawn:/sbin/mingetty xvc0" in text) is (virt_type == "pv")


def test_defaults_mirror_the_guide(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL5, "rhel5-guest.ks"))
    assert "firewall --enabled --ssh" in text.splitlines()
    assert "selinux --enforcing" in text.splitlines()
    assert "key --skip" in text.splitlines()
    assert "install" in text.splitlines()


def test_installation_number_and_ftp_tree(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL5_I386, "rhel5-guest.ks",
                                     metadata={"installation_number": "ABCD"}))
    assert "key ABCD" in text.splitlines()
    assert "url --url=ftp://10.1.1.1/trees/RHEL5-B2-Server-i386/" in text.splitlines()


@pytest.mark.parametrize(("tree", "line"), [
    ("http://mirror.example/rhel5/", "url --url=http://mirror.example/rhel5/"),
    ("ftp://10.1.1.1/trees/RHEL5-B2-Server-i386/", "url --url=ftp://10.1.1.1/trees/RHEL5-B2-Server-i386/"),
    ("nfs://filer.example/export/rhel5", "nfs --server=filer.example --dir=/export/rhel5"),
    ("nfs:filer.example:/export/rhel5", "nfs --server=filer.example --dir=/export/rhel5"),
], ids=["http", "ftp", "nfs-url", "nfs-colon"])
@pytest.mark.parametrize("distro", [RHEL5, RHEL9], ids=["rhel5", "rhel9"])
def test_install_source(renderer: Renderer, tree: str, line: str, distro) -> None:
    c = ctx(distro, "rhel5-guest.ks" if distro is RHEL5 else "rhel9-guest.ks", tree_url=tree)
    text = renderer.render("ks", c)
    assert line in text.splitlines()
    assert validate_kickstart(text, distro.os_version) == []


def test_network_dhcp_and_static(renderer: Renderer) -> None:
    dhcp = renderer.render("ks", ctx(RHEL5, "rhel5-guest.ks", system=dhcp01()))
    assert "--bootproto=dhcp" in line_with(dhcp, "network ")
    static = renderer.render("ks", ctx(RHEL5, "rhel5-guest.ks", system=web01(),
                                       metadata={"nameserver": "10.1.1.1"}))
    net = line_with(static, "network ")
    for part in ("--bootproto=static", "--ip=10.0.0.21", "--netmask=255.255.255.0",
                 "--gateway=10.0.0.1", "--nameserver=10.1.1.1"):
        assert part in net.split()


# ---- clock parameters (D1 §2.5) ----------------------------------------------------------------

@pytest.mark.parametrize(("distro", "meta", "append"), [
    (RHEL5, {"constant_tsc": False}, "console=tty0 console=ttyS0,115200"),
    (RHEL5, {"constant_tsc": False, "pv_clock": False},
     "console=tty0 console=ttyS0,115200 divider=10 notsc"),
    (RHEL5, {"constant_tsc": False, "pv_clock": False, "lpj": 4589123},
     "console=tty0 console=ttyS0,115200 divider=10 notsc lpj=4589123"),
    (RHEL5_I386, {"constant_tsc": False},
     "console=tty0 console=ttyS0,115200 divider=10 clocksource=acpi_pm"),
    (RHEL5_I386, {}, "console=tty0 console=ttyS0,115200"),
], ids=["5.4-pv-clock-none", "5.4-no-pv-clock-no-lpj", "5.4-no-pv-clock-lpj", "5.3-i386",
        "constant-tsc-nothing"])
def test_kvm_guest_clock_parameters(renderer: Renderer, distro, meta, append) -> None:
    text = renderer.render("ks", ctx(distro, "rhel5-guest.ks", hypervisor="kvm", virt_type="hvm",
                                     metadata=meta))
    assert line_with(text, "bootloader") == f'bootloader --location=mbr --append="{append}"'
    assert "lpj=n" not in text


def test_extra_kernel_params_and_paravirt_post_from_metadata(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL9, "rhel9-guest.ks", hypervisor="kvm", virt_type="hvm",
                                     metadata={"extra_kernel_params": ["nosmt", "quiet"],
                                               "paravirt_post": "echo {{ not-a-template }}\n"}))
    assert line_with(text, "bootloader") == \
        'bootloader --append="console=tty0 console=ttyS0,115200 nosmt quiet"'
    assert "echo {{ not-a-template }}" in text.splitlines()


# ---- install callbacks -----------------------------------------------------------------------

@pytest.mark.parametrize(("distro", "kickstart", "tool"), [
    (RHEL5, "rhel5-guest.ks", "wget -q -O /dev/null"),
    (RHEL5, "kvm-host.ks", "wget -q -O /dev/null"),
    (RHEL5, "xen-host.ks", "wget -q -O /dev/null"),
    (RHEL9, "rhel9-guest.ks", "curl -fsS -o /dev/null"),
], ids=["rhel5-guest-wget", "kvm-host-wget", "xen-host-wget", "rhel9-curl"])
def test_callbacks_when_system_known(renderer: Renderer, distro, kickstart, tool) -> None:
    text = renderer.render("ks", ctx(distro, kickstart, system=web01()))
    lines = text.splitlines()
    started = f"{tool} http://10.0.0.1:8080/cb/tok-web01-5f2a/started || true"
    done = f"{tool} http://10.0.0.1:8080/cb/tok-web01-5f2a/done || true"
    assert lines[lines.index(started) - 1] == "%pre"
    assert lines[lines.index(done) - 1] == "%post --nochroot"
    assert lines.index(done) > max(i for i, ln in enumerate(lines) if ln == "%post")


def test_no_callbacks_without_system(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL9, "rhel9-guest.ks"))
    assert "/cb/" not in text and "%pre" not in text


def test_rhel9_reports_failure_from_onerror(renderer: Renderer) -> None:
    text = renderer.render("ks", ctx(RHEL9, "rhel9-guest.ks", system=web01()))
    lines = text.splitlines()
    failed = "curl -fsS -o /dev/null http://10.0.0.1:8080/cb/tok-web01-5f2a/failed || true"
    assert lines[lines.index(failed) - 1] == "%onerror"
