"""The Secure Boot chain from the distribution's signed packages, fetched with APT.

Debian signs its boot chain: ``shim-signed`` carries ``shimx64.efi``/``shimaa64.efi`` signed by
the Microsoft UEFI CA, ``grub-efi-amd64-signed``/``grub-efi-arm64-signed`` carry the network-boot
GRUB (``grubnet*.efi.signed``) signed by Debian's key, which shim trusts. Nothing is vendored and
nothing is installed on this machine: ``apt-get download`` (the ordinary Debian client) fetches
the packages into a cache, the files are taken out with ``dpkg-deb -x`` and copied to
``<tftp root>/shim/`` under the names shim expects (it loads ``grubx64.efi``/``grubaa64.efi``
from its own directory). A file whose PE image carries no Authenticode signature is refused.

A foreign architecture (arm64 on an amd64 appliance) is fetched through a private APT state
(:mod:`provisioner.apt`), so the machine's dpkg/APT configuration is left as it is.

:func:`plan` is pure over what the cache holds; :func:`install` fetches, extracts and copies.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from provisioner import apt
from provisioner.boot.decide import SHIM_DIR
from provisioner.boot.pe import is_signed
from provisioner.bootloaders.local import Report, copy_file

DEFAULT_CACHE = Path("/var/cache/provisioner/debs")
ARCHES = ("amd64", "arm64")


@dataclass(frozen=True)
class DebFile:
    """One signed file of the TFTP root and the package member it comes from."""

    dest: str
    package: str
    arch: str  # Debian architecture
    member: str  # path inside the package


SIGNED: tuple[DebFile, ...] = (
    DebFile(f"{SHIM_DIR}/shimx64.efi", "shim-signed", "amd64", "usr/lib/shim/shimx64.efi.signed"),
    DebFile(f"{SHIM_DIR}/grubx64.efi", "grub-efi-amd64-signed", "amd64",
            "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"),
    DebFile(f"{SHIM_DIR}/shimaa64.efi", "shim-signed", "arm64", "usr/lib/shim/shimaa64.efi.signed"),
    DebFile(f"{SHIM_DIR}/grubaa64.efi", "grub-efi-arm64-signed", "arm64",
            "usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed"),
)


@dataclass(frozen=True)
class SignedStep:
    """``fetch`` a package into the cache, or ``extract`` a member of a cached package."""

    action: str
    package: str
    arch: str
    deb: str = ""  # the cached package file (extract)
    dest: str = ""
    member: str = ""

    def describe(self) -> str:
        if self.action == "fetch":
            return f"fetch {self.package}:{self.arch} with apt-get download"
        return f"extract {self.member} from {Path(self.deb).name or self.package} -> {self.dest}"


def cached_deb(cache: Path, package: str, arch: str) -> Path | None:
    """The newest cached package file (see :func:`provisioner.apt.cached`)."""
    return apt.cached(cache, package, arch)


def plan(arches: Iterable[str], have: Callable[[str, str], Path | None],
         refresh: bool = False) -> list[SignedStep]:
    """Fetch what the cache lacks (everything with ``refresh``), then extract every file."""
    steps: list[SignedStep] = []
    wanted = [f for f in SIGNED if f.arch in set(arches)]
    for package, arch in dict.fromkeys((f.package, f.arch) for f in wanted):
        if refresh or have(package, arch) is None:
            steps.append(SignedStep("fetch", package, arch))
    for f in wanted:
        deb = have(f.package, f.arch)
        steps.append(SignedStep("extract", f.package, f.arch, str(deb or ""), f.dest, f.member))
    return steps


def extract_signed(deb: Path, member: str, dest: Path) -> bool:
    """Take ``member`` out of ``deb`` and copy it to ``dest`` (True if changed); RuntimeError if
    the package lacks it or its PE image carries no signature."""
    with tempfile.TemporaryDirectory(prefix="signed-") as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True, capture_output=True,
                       timeout=120)
        src = Path(tmp) / member
        if not src.is_file():
            raise RuntimeError(f"{deb.name} has no {member}")
        if not is_signed(src.read_bytes()):
            raise RuntimeError(f"{deb.name}: {member} carries no signature; not installed")
        return copy_file(src, dest)


def install(root: Path | str, arches: Iterable[str] = ARCHES, cache: Path = DEFAULT_CACHE,
            dry_run: bool = False, refresh: bool = False, report: Report | None = None) -> Report:
    """Fetch (unless cached), check and copy the signed chain into ``root``."""
    root, report = Path(root), report or Report()
    arches = tuple(arches)
    for step in plan(arches, lambda p, a: cached_deb(cache, p, a), refresh):
        if dry_run:
            report.installed.append(step.describe())
            continue
        try:
            if step.action == "fetch":
                apt.download(cache, step.package, step.arch)
                continue
            deb = cached_deb(cache, step.package, step.arch)
            if deb is None:
                raise RuntimeError(f"{step.package}:{step.arch} is not in the cache {cache}")
            done = SignedStep(step.action, step.package, step.arch, str(deb), step.dest,
                              step.member)
            wrote = extract_signed(deb, step.member, root / step.dest)
            (report.installed if wrote else report.unchanged).append(done.describe())
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            report.failed.append(f"{step.describe()}: {exc}")
    return report
