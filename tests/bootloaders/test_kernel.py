"""A Debian distro's signed kernel (``provisioner bootloaders install --kernel DISTRO``).

Pure tables: which release an initrd's modules are for (synthetic archives: gzip, xz, an early
uncompressed cpio before the compressed one, ``usr/lib/modules``, none, garbage) and what is
fetched for which distro (breed, arch, release). Real parts: the ``provisioner`` command, Debian's
kernel package through ``apt-get download`` (the lab kit's cache, so CI fetches it once),
``dpkg-deb``, and ``sbverify`` (sbsigntool) as the oracle that the served kernel is signed by
Debian's key, which the e2e Secure Boot row boots.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.bootloaders.kernel import modules_release, plan_kernel
from provisioner.core.validation import secure_boot_kernel
from provisioner.errors import Invalid
from provisioner.lab import kit as labkit
from provisioner.main import build_core
from provisioner.models import BootContext, Distro, Interface, Profile, Resolved, System
from provisioner.settings import load
from tests.e2e import fixture

ROOT = Path(__file__).resolve().parents[2]


def cpio(*names: str) -> bytes:
    """A newc archive of empty files/directories with these names, then the trailer."""
    out = b""
    for n, name in enumerate([*names, "TRAILER!!!"]):
        raw = name.encode() + b"\0"
        out += (b"070701" + b"%08X" % (n + 1) + b"%08X" % 0o100644 + b"%08X" % 0 * 4
                + b"%08X" % 0 + b"%08X" % 0 * 4 + b"%08X" % len(raw) + b"%08X" % 0 + raw)
        out += b"\0" * (-len(out) % 4)
    return out


MODS = ("lib", "lib/modules", "lib/modules/6.1.0-28-amd64",
        "lib/modules/6.1.0-28-amd64/kernel/virtio_net.ko")
RELEASES = {
    "gzip (Debian's d-i)": (gzip.compress(cpio("init", *MODS)), "6.1.0-28-amd64"),
    "xz": (lzma.compress(cpio(*MODS)), "6.1.0-28-amd64"),
    "early microcode cpio, then gzip": (
        cpio("kernel/x86/microcode/GenuineIntel.bin") + b"\0" * 512
        + gzip.compress(cpio("usr/lib/modules/6.1.0-30-arm64/modules.dep")), "6.1.0-30-arm64"),
    "./-prefixed names": (gzip.compress(cpio("./lib/modules/6.1.0-28-amd64/x.ko")),
                          "6.1.0-28-amd64"),
    "no modules (the lab kit's flat initrd)": (gzip.compress(cpio("init", "lib/modules/x.ko")),
                                               None),
    "garbage": (b"\x1f\x8b" + b"\xff" * 40, None),
    "empty": (b"", None),
    "truncated header": (b"070701" + b"0" * 20, None),
}


@pytest.mark.parametrize("data,want", RELEASES.values(), ids=list(RELEASES))
def test_release_from_initrd(data: bytes, want: str | None) -> None:
    assert modules_release(data) == want


DEB = Distro(name="deb12", os_version="debian12", breed="debian")
PLANS = {
    "amd64": (DEB, "6.1.0-28-amd64",
              ("linux-image-6.1.0-28-amd64", "amd64", "boot/vmlinuz-6.1.0-28-amd64",
               "/a/deb12/vmlinuz-6.1.0-28-amd64")),
    "arm64": (Distro(name="d", arch="aarch64", os_version="debian12", breed="debian"),
              "6.1.0-28-arm64", ("linux-image-6.1.0-28-arm64", "arm64",
                                 "boot/vmlinuz-6.1.0-28-arm64", "/a/d/vmlinuz-6.1.0-28-arm64")),
    "cloud flavour": (DEB, "6.1.0-28-cloud-amd64",
                      ("linux-image-6.1.0-28-cloud-amd64", "amd64",
                       "boot/vmlinuz-6.1.0-28-cloud-amd64",
                       "/a/deb12/vmlinuz-6.1.0-28-cloud-amd64")),
    "redhat breed": (Distro(name="r", os_version="rhel9"), "6.1.0-28-amd64", "breed redhat"),
    "other arch": (Distro(name="p", arch="ppc64le", os_version="debian12", breed="debian"),
                   "6.1.0-28-amd64", "ppc64le"),
    "no release": (DEB, None, "--kernel-release"),
    "release of another arch": (DEB, "6.1.0-28-arm64", "not a Debian amd64 release"),
    "not a release": (DEB, "../../etc/passwd", "not a Debian amd64 release"),
}


@pytest.mark.parametrize("distro,release,want", PLANS.values(), ids=list(PLANS))
def test_plan(distro: Distro, release: str | None, want: tuple[str, ...] | str) -> None:
    if isinstance(want, str):
        with pytest.raises(Invalid, match=want.replace("-", r"\-")):
            plan_kernel(distro, release, "/a")
        return
    p = plan_kernel(distro, release, "/a")
    assert (p.package, p.arch, p.member, str(p.dest)) == want


EL9 = Distro(name="el9", os_version="rhel9")
# (secure_boot in the resolved metadata, distro, kernel signed?) -> the finding's fix, or None
SB_KERNEL = {
    "no Secure Boot, unsigned kernel": (False, DEB, False, None),
    "Secure Boot, signed kernel": (True, DEB, True, None),
    "Secure Boot, kernel is a URL": (True, DEB, None, None),
    "Secure Boot, unsigned Debian kernel": (True, DEB, False, "install --kernel deb12"),
    "Secure Boot, unsigned RHEL kernel": (True, EL9, False, "its own shim/GRUB"),
}


@pytest.mark.parametrize("secure,distro,signed,want", SB_KERNEL.values(), ids=list(SB_KERNEL))
def test_validate_secure_boot_kernel(secure: bool, distro: Distro, signed: bool | None,
                                     want: str | None) -> None:
    ctx = BootContext(distro=distro, profiles=(Profile(name="p", distro=distro.name),),
                      values={"metadata": Resolved({"secure_boot": secure}, "profile:p")})
    found = secure_boot_kernel("profile:p", ctx, lambda d: signed)
    if want is None:
        assert found == []
    else:
        [f] = found
        assert (f.level, f.source, f.field) == ("error", "secure-boot", "kernel")
        assert "carries no signature" in f.message and want in f.message


@pytest.fixture(scope="module")
def kernel_deb() -> Path:
    return labkit.find_kernel_deb(fixture.CACHE)  # the e2e lab kit's package: one download


def _cli(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provisioner.cli", "--config", str(config),
                           "bootloaders", "install", "--no-signed", "--cache",
                           str(fixture.CACHE), "--root", str(config.parent / "tftpboot"), *argv],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def _validate(config: Path) -> str:
    return subprocess.run([sys.executable, "-m", "provisioner.cli", "--config", str(config),
                           "validate", "--system", "sb1"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT).stdout


@pytest.mark.skipif(shutil.which("sbverify") is None, reason="sbsigntool missing (setup.sh)")
def test_install_fetches_the_signed_kernel_and_points_the_distro_at_it(
        tmp_path: Path, kernel_deb: Path) -> None:
    release = kernel_deb.name.split("_")[0].removeprefix("linux-image-")
    config = tmp_path / "provisioner.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nassets_dir = "{tmp_path / "assets"}"\n')
    core = build_core(load(str(config)))
    for name, breed in (("deb12", "debian"), ("el9", "redhat")):
        d = tmp_path / "assets" / name
        d.mkdir(parents=True)
        (d / "kernel").write_bytes(b"the imported, unsigned kernel\n")
        (d / "initrd").write_bytes(gzip.compress(cpio(f"lib/modules/{release}/kernel/a.ko")))
        core.add_distro(Distro(name=name, os_version="debian12" if breed == "debian" else "rhel9",
                               breed=breed))
    core.add_profile(Profile(name="sb", distro="deb12", metadata={"secure_boot": True}))
    core.add_system(System(name="sb1", profile="sb",
                           interfaces=(Interface(mac="52:54:00:5b:00:01"),)))
    assert "[secure-boot] kernel: the kernel of distro deb12 carries no signature" in _validate(
        config)

    r = _cli(config, "--kernel", "deb12")
    assert r.returncode == 0, r.stdout + r.stderr
    dest = tmp_path / "assets" / "deb12" / f"vmlinuz-{release}"
    assert f"did: signed kernel of distro deb12: boot/vmlinuz-{release}" in r.stdout
    assert build_core(load(str(config))).get_distro("deb12").kernel == str(dest)
    listing = subprocess.run(["sbverify", "--list", str(dest)], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    assert "Debian Secure Boot" in listing, listing
    # the very image the e2e Secure Boot row (tests/e2e/test_boot.py) boots under OVMF secboot
    assert dest.read_bytes() == fixture.build().kernel.read_bytes()
    assert (tmp_path / "assets" / "deb12" / "kernel").read_bytes().startswith(b"the imported")
    assert "unchanged: signed kernel of distro deb12" in _cli(config, "--kernel", "deb12").stdout
    assert "[secure-boot]" not in _validate(config)

    # refused: another vendor's distro, a release the archive does not have; nothing changes
    r = _cli(config, "--kernel", "el9")
    assert r.returncode == 1 and "FAILED: signed kernel of distro el9: " in r.stdout
    assert "breed redhat" in r.stdout
    r = _cli(config, "--kernel", "deb12", "--kernel-release", "6.1.0-1-amd64")
    assert r.returncode == 1 and "linux-image-6.1.0-1-amd64" in r.stdout, r.stdout
    after = build_core(load(str(config)))
    assert after.get_distro("deb12").kernel == str(dest)
    assert after.get_distro("el9").kernel == ""
