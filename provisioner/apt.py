"""Debian packages into a cache with ``apt-get download`` (the ordinary client), any architecture.

Used for what the appliance takes from the distribution without installing it on this machine:
the signed boot chain (``bootloaders.signed``) and the lab's kernels and busybox
(``labkit``). The host's architecture goes through the machine's APT as it is; a foreign one
(arm64 on an amd64 appliance) through a private APT state under ``<cache>/apt-<arch>/`` (its own
package lists, the machine's sources), so dpkg's architecture list is never changed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

TIMEOUT = 600


def host_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def apt_options(cache: Path, arch: str, host: str) -> list[str]:
    """``-o`` options for APT: none for the host's architecture, a private state otherwise."""
    if arch == host:
        return []
    state = cache / f"apt-{arch}"
    for d in ("lists/partial", "cache/archives/partial"):
        (state / d).mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    return ["-o", f"APT::Architecture={arch}", "-o", f"APT::Architectures::={arch}",
            "-o", f"Dir::State::Lists={state / 'lists'}",
            "-o", f"Dir::State::status={state / 'status'}",
            "-o", f"Dir::Cache={state / 'cache'}", "-o", "Debug::NoLocking=1"]


def _run(argv: list[str], cwd: Path) -> str:
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(a for a in argv if not a.startswith(('-o', 'APT', 'Dir')))}"
                           f" failed: {r.stderr.strip()[-500:]}")
    return r.stdout


def _options(cache: Path, arch: str) -> list[str]:
    cache.mkdir(parents=True, exist_ok=True)
    opts = apt_options(cache, arch, host_arch())
    if opts and not any((cache / f"apt-{arch}" / "lists").glob("*Packages*")):
        _run(["apt-get", *opts, "-q", "update"], cache)
    return opts


def cached(cache: Path, package: str, arch: str) -> Path | None:
    """The newest cached ``package_<version>_<arch>.deb`` (by name), or None."""
    found = sorted(cache.glob(f"{package}_*_{arch}.deb")) if cache.is_dir() else []
    return found[-1] if found else None


def download(cache: Path, package: str, arch: str) -> Path:
    """``apt-get download package:arch`` into ``cache``; the package file."""
    opts = _options(cache, arch)
    _run(["apt-get", *opts, "-q", "download", package if opts else f"{package}:{arch}"], cache)
    deb = cached(cache, package, arch)
    if deb is None:
        raise RuntimeError(f"apt-get download {package}:{arch} left no package in {cache}")
    return deb


def depends(cache: Path, package: str, arch: str, pattern: str) -> str:
    """The first dependency of ``package`` matching ``pattern`` (e.g. the versioned kernel
    package ``linux-image-arm64`` points to)."""
    out = _run(["apt-cache", *_options(cache, arch), "depends", package], cache)
    m = re.search(rf"Depends:\s*({pattern})", out)
    if not m:
        raise RuntimeError(f"apt-cache does not name a dependency {pattern} of {package}:{arch}")
    return m.group(1)
