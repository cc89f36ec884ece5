"""The Secure Boot chain from Debian's signed packages: plan table, real fetch, refusal.

Real parts: ``apt-get download`` (Debian's own client; the packages are cached in
``signed.DEFAULT_CACHE`` so a CI run fetches them once), ``dpkg-deb`` and ``sbverify``
(sbsigntool) as the independent oracle for the signatures.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from provisioner.bootloaders import signed
from provisioner.bootloaders.scan import LoaderScan
from provisioner.bootloaders.signed import SignedStep, plan

CACHE = signed.DEFAULT_CACHE


def _have(cached: set[tuple[str, str]]):
    return lambda p, a: Path(f"/c/{p}_1_{a}.deb") if (p, a) in cached else None


ALL = {(f.package, f.arch) for f in signed.SIGNED}
PLANS = {
    "empty cache: fetch each package once, then extract": (
        set(), ("amd64",), False,
        ["fetch shim-signed:amd64", "fetch grub-efi-amd64-signed:amd64",
         "extract shim/shimx64.efi", "extract shim/grubx64.efi"]),
    "cached: extract only": (
        ALL, ("amd64", "arm64"), False,
        ["extract shim/shimx64.efi", "extract shim/grubx64.efi", "extract shim/shimaa64.efi",
         "extract shim/grubaa64.efi"]),
    "refresh fetches again": (
        ALL, ("arm64",), True,
        ["fetch shim-signed:arm64", "fetch grub-efi-arm64-signed:arm64",
         "extract shim/shimaa64.efi", "extract shim/grubaa64.efi"]),
    "unknown arch: nothing": (ALL, ("riscv64",), False, []),
}


def _short(step: SignedStep) -> str:
    return f"fetch {step.package}:{step.arch}" if step.action == "fetch" else \
        f"extract {step.dest}"


@pytest.mark.parametrize(("cached", "arches", "refresh", "want"), PLANS.values(), ids=PLANS.keys())
def test_plan(cached, arches, refresh, want) -> None:
    assert [_short(s) for s in plan(arches, _have(cached), refresh)] == want


def _sbverify(path: Path) -> str:
    return subprocess.run(["sbverify", "--list", str(path)], capture_output=True, text=True,
                          timeout=60, check=True).stdout


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("signed")
    report = signed.install(root, cache=CACHE)
    assert report.ok, report.failed
    return root


@pytest.mark.skipif(shutil.which("sbverify") is None, reason="sbsigntool missing (setup.sh)")
def test_fetched_chain_is_signed_by_microsoft_and_debian(chain: Path) -> None:
    foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True,
                             text=True, check=True).stdout
    for shim in ("shim/shimx64.efi", "shim/shimaa64.efi"):
        assert "Microsoft Corporation UEFI CA" in _sbverify(chain / shim), shim
    for grub in ("shim/grubx64.efi", "shim/grubaa64.efi"):
        assert "Debian Secure Boot" in _sbverify(chain / grub), grub
    assert LoaderScan(chain)() == {"shim/shimx64.efi": True, "shim/shimaa64.efi": True}
    again = signed.install(chain, cache=CACHE)
    assert again.ok and not again.installed and len(again.unchanged) == 4
    after = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True,
                           text=True, check=True).stdout
    assert after == foreign  # arm64 came through a private APT state, dpkg untouched


def test_an_unsigned_loader_in_a_package_is_refused(tmp_path: Path) -> None:
    """A package whose 'signed' shim is an unsigned EFI image (ipxe.efi): nothing installed."""
    unsigned = Path("/usr/lib/ipxe/ipxe.efi")
    if not unsigned.is_file():
        pytest.skip("ipxe not installed (setup.sh)")
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: shim-signed\nVersion: 99\nArchitecture: amd64\nMaintainer: t <t@t>\n"
        "Description: test\n")
    member = pkg / "usr/lib/shim/shimx64.efi.signed"
    member.parent.mkdir(parents=True)
    shutil.copyfile(unsigned, member)
    cache = tmp_path / "cache"
    cache.mkdir()
    subprocess.run(["dpkg-deb", "-b", str(pkg), str(cache / "shim-signed_99_amd64.deb")],
                   check=True, capture_output=True, timeout=60)
    grub = signed.cached_deb(CACHE, "grub-efi-amd64-signed", "amd64")
    if grub is not None:
        shutil.copyfile(grub, cache / grub.name)
    root = tmp_path / "root"
    report = signed.install(root, ("amd64",), cache=cache)
    assert not report.ok
    assert any("shimx64.efi.signed carries no signature" in f for f in report.failed), report
    assert not (root / "shim/shimx64.efi").exists()
    assert LoaderScan(root)() == {}


def test_scan_sees_changes_and_keeps_identity(tmp_path: Path) -> None:
    clock = [0.0]
    scan = LoaderScan(tmp_path, ttl=1.0, clock=lambda: clock[0])
    first = scan()
    assert first == {} and scan() is first
    (tmp_path / "ipxe.efi").write_bytes(b"MZ" + bytes(100))
    assert scan() is first  # within ttl
    clock[0] = 5
    second = scan()
    assert second == {"ipxe.efi": False} and second is not first
    clock[0] = 10
    assert scan() is second  # nothing changed: same object (the DHCP cores cache on it)
