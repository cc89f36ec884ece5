"""The distribution's signed kernel for a distro booted under Secure Boot (``bootloaders install
--kernel DISTRO``).

Debian's shim -> GRUB chain verifies the kernel too: an unsigned (or foreign-signed) ``vmlinuz``
stops at "bad shim signature". Debian signs its kernels (``linux-image-<release>``, the
``linux-signed-*`` builds); this module fetches the one whose release the distro's initrd was
built for, with ``apt-get download`` (the ordinary client, into the same cache as the signed boot
chain), takes ``boot/vmlinuz-<release>`` out with ``dpkg-deb``, refuses it unless its PE image
carries an Authenticode signature, and writes it to ``<assets_dir>/<distro>/vmlinuz-<release>``.
The caller then points the distro's ``kernel`` at that file; the old file is left where it was.

The release comes from the initrd (its ``lib/modules/<release>/`` directory: the kernel must
match the modules the installer loads) or is given (``--kernel-release``). Only distros of breed
``debian`` on x86_64/aarch64: this machine's APT reaches Debian's archive only, and other
vendors' kernels are signed by keys Debian's shim does not trust.

:func:`modules_release` and :func:`plan_kernel` are pure; :func:`install_kernel` fetches;
:func:`install_for` is the command's part (look the distro up, fetch, point it at the file).
"""

from __future__ import annotations

import gzip
import lzma
import re
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from provisioner import apt
from provisioner.bootloaders.signed import extract_signed
from provisioner.content.providers import asset_file
from provisioner.errors import Invalid, ProvisionerError
from provisioner.models import Distro
from provisioner.settings import Settings

DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_RELEASE = re.compile(r"^\d+\.\d+\.\d+-\d+-(?:[a-z0-9]+-)?(amd64|arm64)$")
_MODULES = re.compile(rb"^(?:\./)?(?:usr/)?lib/modules/([^/]+)/")


@dataclass(frozen=True)
class KernelPlan:
    """Fetch ``package`` (Debian architecture ``arch``) and write ``member`` to ``dest``."""

    distro: str
    release: str
    package: str
    arch: str
    member: str
    dest: Path

    def describe(self) -> str:
        return (f"signed kernel of distro {self.distro}: {self.member} from "
                f"{self.package}:{self.arch} -> {self.dest}")


def _cpio_names(data: bytes) -> tuple[list[bytes], int]:
    """Names in a newc/crc cpio archive and where it ends (0 if ``data`` is not one)."""
    names: list[bytes] = []
    pos = 0
    while data[pos:pos + 6] in (b"070701", b"070702"):
        try:
            size, namesize = int(data[pos + 54:pos + 62], 16), int(data[pos + 94:pos + 102], 16)
        except ValueError:
            return names, 0
        name = data[pos + 110:pos + 110 + namesize].rstrip(b"\0")
        pos = (pos + 110 + namesize + 3) & ~3
        pos = (pos + size + 3) & ~3
        if name == b"TRAILER!!!":
            return names, pos
        names.append(name)
    return names, 0


def _decompress(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00" or data[:3] == b"\x5d\x00\x00":
        return lzma.decompress(data)
    return b""


def modules_release(initrd: bytes) -> str | None:
    """The kernel release an initramfs carries modules for (``lib/modules/<release>/``), or
    None. Reads an uncompressed early cpio (microcode) followed by a gzip/xz/lzma one; anything
    it cannot read (zstd, garbage) is None, never an exception."""
    data, seen = initrd, 0
    while data and seen < 4:
        seen += 1
        names, end = _cpio_names(data)
        if not end:
            try:
                data = _decompress(data)
            except (OSError, EOFError, lzma.LZMAError, zlib.error):
                return None
            continue
        for name in names:
            m = _MODULES.match(name)
            if m:
                return m.group(1).decode("ascii", "replace")
        data = data[end:].lstrip(b"\0")
    return None


def plan_kernel(distro: Distro, release: str | None, assets_dir: Path | str) -> KernelPlan:
    """What to fetch for ``distro``; :class:`Invalid` with the reason when there is nothing."""
    if distro.breed != "debian":
        raise Invalid(f"distro {distro.name} is of breed {distro.breed}: signed kernels are "
                      "fetched from Debian's archive only (its install tree's kernel is signed "
                      "by its vendor, whose key Debian's shim does not trust)", field="kernel")
    arch = DEB_ARCH.get(distro.arch)
    if arch is None:
        raise Invalid(f"distro {distro.name} is {distro.arch}: Debian signs kernels for "
                      f"{', '.join(DEB_ARCH)} only", field="arch")
    if not release:
        raise Invalid(f"the initrd of distro {distro.name} names no kernel release "
                      "(no lib/modules/<release>/); give --kernel-release, e.g. 6.1.0-28-"
                      f"{arch}", field="kernel")
    m = _RELEASE.match(release)
    if m is None or m.group(1) != arch:
        raise Invalid(f"kernel release {release!r} is not a Debian {arch} release "
                      f"(like 6.1.0-28-{arch})", field="kernel")
    return KernelPlan(distro.name, release, f"linux-image-{release}", arch,
                      f"boot/vmlinuz-{release}",
                      Path(assets_dir) / distro.name / f"vmlinuz-{release}")


def install_kernel(plan: KernelPlan, cache: Path, refresh: bool = False) -> bool:
    """Fetch (unless cached), check, copy; True if ``plan.dest`` changed. Raises RuntimeError
    (APT, a package without the file, an unsigned image) and leaves ``dest`` as it was."""
    deb = None if refresh else apt.cached(cache, plan.package, plan.arch)
    if deb is None:
        deb = apt.download(cache, plan.package, plan.arch)
    return extract_signed(deb, plan.member, plan.dest)


class Distros(Protocol):
    """What :func:`install_for` needs of the core."""

    def get_distro(self, name: str) -> Distro: ...

    def update_distro(self, name: str, changes: dict[str, Any]) -> Distro: ...


def _release_of(distro: Distro, settings: Settings) -> str | None:
    try:
        path = asset_file(distro.initrd, distro.name, "initrd", settings.assets_path,
                          settings.asset_roots)
        return modules_release(path.read_bytes())
    except (ProvisionerError, OSError):
        return None  # a URL or an unreadable file: plan_kernel asks for --kernel-release


def install_for(names: list[str], release: str | None, core: Distros, settings: Settings,
                cache: Path, *, dry_run: bool = False, refresh: bool = False
                ) -> tuple[list[str], list[str]]:
    """Fetch each named distro's signed kernel and point the distro at it: (done, failed)
    lines. A failure changes nothing of that distro."""
    done: list[str] = []
    failed: list[str] = []
    for name in names:
        try:
            distro = core.get_distro(name)
            plan = plan_kernel(distro, release or _release_of(distro, settings),
                               settings.assets_path)
            if dry_run:
                done.append(f"would: {plan.describe()}")
                continue
            changed = install_kernel(plan, cache, refresh)
            if distro.kernel != str(plan.dest):
                core.update_distro(name, {"kernel": str(plan.dest)})
                changed = True
            was = f" (was {distro.kernel or 'assets/' + name + '/kernel'}, left in place)"
            done.append(("did: " if changed else "unchanged: ") + plan.describe()
                        + (was if distro.kernel != str(plan.dest) else ""))
        except (ProvisionerError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
            failed.append(f"signed kernel of distro {name}: {exc}")
    return done, failed
