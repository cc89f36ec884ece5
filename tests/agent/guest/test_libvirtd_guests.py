"""Guests the agent defines on a real libvirtd and QEMU starts (TCG): a q35 UEFI guest
(firmware autoselection, NVRAM per guest), a secure-boot one with the Microsoft-enrolled
variables template, a virtio-scsi one, and the whole per-option matrix.

libvirtd runs in a test-made network namespace (``tests/integration/libvirtd.py``: bridge br0,
daemon in the namespace, clients over the unix socket). The agent sees it through
``agent.guest.virt.Virt`` (capabilities, domain capabilities); ``--virt-type qemu`` because
KVM does not work on this machine. Every guest is named ``pt-*`` and removed afterwards.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path

import libvirt
import pytest

from agent.facts.model import HostFacts
from agent.guest.build import build
from agent.guest.host import Host, Pool
from agent.guest.ids import sequential
from agent.guest.osinfo import default_db
from agent.guest.virt import Virt
from tests.agent.guest.cases import OPTION_CASES
from tests.integration.libvirtd import lab  # noqa: F401  (module fixture)

pytestmark = [pytest.mark.libvirtd, pytest.mark.qemu]
NVRAM_DIR = Path("/var/lib/libvirt/qemu/nvram")
#: Option cases that cannot start here, and why (everything else must start).
NOT_HERE = {
    "defaults-aarch64": "an aarch64 host's guest", "defaults-xen-hvm": "a Xen guest",
    "defaults-xen-pv": "a Xen guest", "boot-uefi-xen-loader": "a Xen guest",
    "tpm-emulator": "no swtpm here", "tpm-emulator-default": "no swtpm here",
    "tpm-passthrough": "no host TPM", "tpm-passthrough-keys": "no host TPM",
    "disk-block": "no host block device", "network-direct": "no host NIC in the namespace",
    "network-default": "no libvirt network 'default' in the lab",
    "network-model-mac": "no libvirt network 'default' in the lab",
    "filesystem": "virtiofs needs virtiofsd and shared memory",
    "boot-kernel": "no bootable kernel at the fake path",
    "install-location": "its tree is a URL on another machine",
    "legacy-location": "its tree is a URL on another machine",
    "rng-device": "no /dev/hwrng here",
    "cpu-migratable": "host-passthrough needs KVM", "cpu-mode": "host-model needs KVM",
    "cpu-named-model": "TCG lacks the model's features",
    "graphics-spice": "SPICE TLS is off in the lab's qemu.conf",
    "vcpus-placement": "placement=auto needs numad",
}


@pytest.fixture(scope="module")
def virt(lab, tmp_path_factory):  # noqa: F811
    images = tmp_path_factory.mktemp("guest-images")
    v = Virt(lab.uri, image_dir=str(images))
    yield v
    for dom in v.domains():
        if dom.name().startswith("pt-"):
            v.undefine(dom.name())
    v.close()


def _host(virt: Virt, root: Path) -> Host:
    facts = HostFacts(image_dir=virt.image_dir)
    host = virt.host(facts, default_db())
    host.pools = (Pool("default", virt.image_dir, 50 * 1024 ** 3),
                  Pool("fast", str(root / "fast"), 50 * 1024 ** 3))
    return host


def _make(virt: Virt, argv: str):
    guest, install, final = build(shlex.split(argv), _host(virt, Path(virt.image_dir)),
                                  sequential())
    virt.create_images(guest)
    return guest, install, final


def _start(virt: Virt, install) -> libvirt.virDomain:
    dom, _ = virt.define(install)
    virt.start(install.name)
    assert virt.state(install.name) == "running"
    return dom


def _wait_for(path: Path, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"{pattern!r} never appeared in {path}: {text[-500:]!r}")


def test_uefi_q35_guest_starts_with_its_own_nvram(virt, tmp_path) -> None:
    log = tmp_path / "uefi.log"
    guest, install, _ = _make(virt, "--name pt-uefi --osinfo rhel9.0 --virt-type qemu "
                                    "--memory 256 --vcpus 1 --boot uefi --pxe --disk size=0.05 "
                                    "--network bridge=br0 --graphics none "
                                    f"--serial file,path={log}")
    assert install.os.firmware == "efi" and install.os.machine == "q35"
    dom = _start(virt, install)
    live = dom.XMLDesc(0)
    assert re.search(r"<loader[^>]*type='pflash'[^>]*>/usr/share/OVMF/OVMF_CODE", live), live
    nvram = NVRAM_DIR / "pt-uefi_VARS.fd"
    assert "<nvram" in live and str(nvram) in live
    assert nvram.exists() and nvram.stat().st_size > 0  # copied from the template for this guest
    _wait_for(log, r"BdsDxe|UEFI|iPXE", 90)  # the firmware runs (and tries to boot)
    virt.undefine("pt-uefi")
    assert not nvram.exists()  # undefine takes the guest's NVRAM with it


def test_secure_boot_uses_the_microsoft_enrolled_variables(virt) -> None:
    _, install, _ = _make(virt, "--name pt-sb --osinfo win11 --virt-type qemu --memory 512 "
                                "--vcpus 1 --cdrom /dev/null --disk size=0.05 --network none "
                                "--graphics none --tpm none --boot uefi,"
                                "firmware.feature0.name=secure-boot,firmware.feature0.enabled=yes,"
                                "firmware.feature1.name=enrolled-keys,firmware.feature1.enabled=yes")
    dom = _start(virt, install)
    live = dom.XMLDesc(0)
    assert re.search(r"<loader[^>]*secure='yes'", live), live
    assert "OVMF_VARS_4M.ms.fd" in live, live  # the template with Microsoft's keys enrolled
    assert "<smm state='on'/>" in live
    virt.undefine("pt-sb")


def test_virtio_scsi_guest_starts(virt) -> None:
    _, install, _ = _make(virt, "--name pt-scsi --osinfo rhel9.0 --virt-type qemu --memory 256 "
                                "--vcpus 1 --import --disk size=0.05,bus=scsi --network none "
                                "--graphics none")
    assert [c.model for c in install.controller if c.type == "scsi"] == ["virtio-scsi"]
    dom = _start(virt, install)
    live = dom.XMLDesc(0)
    assert "<controller type='scsi' index='0' model='virtio-scsi'>" in live
    pid = Path(f"/run/libvirt/qemu/{install.name}.pid").read_text().strip()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert "virtio-scsi-pci" in cmdline and "scsi-hd" in cmdline
    virt.undefine("pt-scsi")


def _runnable(argv: str, root: Path) -> str:
    """The option case on this host: its paths moved under ``root`` (files created), TCG."""
    for src, dst in (("/srv/fast", root / "fast"), ("/srv/iso", root / "iso"),
                     ("/var/lib/libvirt/images", root), ("/srv/share", root / "share"),
                     ("/srv/ro", root / "ro"), ("/var/log/guests", root / "log"),
                     ("/run/opt.agent", root / "opt.agent")):
        argv = argv.replace(src, str(dst))
    for d in ("fast", "iso", "share", "ro", "log", "images"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for vol in ("base.qcow2", "data.qcow2"):
        if not (root / "fast" / vol).exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root / "fast" / vol),
                            "16M"], check=True, timeout=60)
    for iso in re.findall(rf"{root}/iso/[\w.-]+", argv):
        Path(iso).write_bytes(b"\0" * 2048)
    return argv + " --virt-type qemu"


@pytest.mark.parametrize("name", [n for n in sorted(OPTION_CASES) if n not in NOT_HERE])
def test_every_option_case_defines_and_starts(virt, name) -> None:
    root = Path(virt.image_dir)
    argv = _runnable(OPTION_CASES[name][0], root)
    guest_name = f"pt-o{abs(hash(name)) % 10**6}"
    argv = re.sub(r"(--name|-n) \S+", f"--name {guest_name}", argv)
    host = _host(virt, root)
    host.volumes = {str(root / "fast" / v): "qcow2" for v in ("base.qcow2", "data.qcow2")}
    guest, install, final = build(shlex.split(argv), host, sequential())
    virt.create_images(guest)
    try:
        if guest.transient:
            dom = virt.create_transient(install)
            assert dom.isActive()
            dom.destroy()
            return
        _start(virt, install)
        virt.destroy(guest_name)
        virt.define(final)  # the final definition is accepted too
    finally:
        virt.undefine(guest_name)
