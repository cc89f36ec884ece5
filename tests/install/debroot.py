"""A minimal Debian root holding only ``scripts/setup.sh``'s runtime packages, and a wheelhouse.

Used by ``test_hermetic_install.py`` to prove the declared package list is enough to install and
run the project on a stock Debian: the root is ``mmdebstrap --variant=minbase`` (essential +
apt, no Recommends, as ``setup.sh`` installs them) plus the list ``setup.sh --print-packages
runtime`` prints; nothing is copied from the script.

* The root is cached as a directory in :data:`CACHE`, keyed by the suite, mirrors and package
  list, built under a lock (once per machine even with several test processes) and only ever
  used read-only, as the lower layer of an overlay whose upper layer is the run's temporary
  directory (nothing to extract or delete per run). Roots of other lists are removed when a new
  one is built, unless a run holds them.
* The wheelhouse is what PyPI serves to a user (``pip download`` with pip's own configuration
  files ignored, so a machine-local index or wheel directory cannot stand in for a build), plus
  the build requirements of every sdist in it, read from the sdists' ``pyproject.toml``.
* :func:`run_in_root` mounts the overlay and runs a shell command in it with ``chroot``, inside
  fresh network, mount and PID namespaces: no network at all, the overlay and /proc private,
  every process gone when it ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"
CACHE = Path("/var/cache/provisioner/install-test")
SUITE = "bookworm"  # Debian 12, the release the README supports
MIRRORS = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
# Cold build time (measured at load ~6 on 2 cores: 125 s plain, 69 s with these): dpkg without
# fsync and without docs/man/locales (cannot make a missing package pass), and the packages the
# host's APT already downloaded (setup.sh just installed most of them) hard-linked in as a seed;
# apt checks their hashes and downloads the rest. The root holds no .deb either way.
FAST = (
    "--dpkgopt=force-unsafe-io",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--skip=essential/unlink",
    '--setup-hook=mkdir -p "$1/var/cache/apt/archives"'
    ' && cp -al /var/cache/apt/archives/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || true',
)
# A setuptools sdist without [build-system] builds with these (PEP 517's fallback).
LEGACY_BUILD_REQUIRES = ["setuptools>=40.8.0", "wheel"]


def packages(which: str) -> list[str]:
    """A list as ``scripts/setup.sh --print-packages runtime|test|all`` prints it."""
    out = subprocess.run(["bash", str(SETUP), "--print-packages", which], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return out.split()


def runtime_packages() -> list[str]:
    return packages("runtime")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def cached_root(packages: list[str], cache: Path = CACHE) -> Iterator[Path]:
    """The cached minbase root holding ``packages`` (a directory, built ~1 min cold if missing),
    to be used read-only as an overlay's lower layer; held with a shared lock while in use."""
    recipe = "\n".join(["minbase", SUITE, *FAST, *MIRRORS, *sorted(packages)])
    lower = cache / f"{SUITE}-minbase-{hashlib.sha256(recipe.encode()).hexdigest()[:16]}"
    with _locked(cache / "build.lock"):
        if not lower.is_dir():
            _prune(cache)
            _build(lower, packages)
        use = open(f"{lower}.lock", "w")  # noqa: SIM115 - held until the caller is done
        fcntl.flock(use, fcntl.LOCK_SH)
    try:
        yield lower
    finally:
        use.close()


def _prune(cache: Path) -> None:
    """Remove roots of other package lists that no run is using, and half-built ones."""
    for lock in cache.glob(f"{SUITE}-minbase-*.lock"):
        with open(lock) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another test run is inside it
            shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
            lock.unlink()
    for junk in cache.glob(f"{SUITE}-minbase-*.partial"):
        shutil.rmtree(junk, ignore_errors=True)
    for tarball in cache.glob(f"{SUITE}-minbase-*.tar*"):  # this test's first cache format
        tarball.unlink(missing_ok=True)


def _build(lower: Path, packages: list[str]) -> None:
    partial = lower.with_suffix(".partial")
    cmd = ["mmdebstrap", "--variant=minbase", "--format=directory", *FAST,
           f"--include={','.join(packages)}", SUITE, str(partial), *MIRRORS]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise RuntimeError(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    partial.rename(lower)


@dataclass(frozen=True)
class Layers:
    """The cached root (read-only) under this run's writable layer: what is written to
    ``upper`` appears in the root, and the cache stays as mmdebstrap made it."""

    lower: Path
    upper: Path
    work: Path
    merged: Path

    @classmethod
    def over(cls, lower: Path, tmp: Path) -> Layers:
        dirs = [tmp / d for d in ("upper", "work", "merged")]
        for d in dirs:
            d.mkdir(parents=True)
        return cls(lower, *dirs)


def copy_project(dest: Path) -> None:
    """The checkout's files as git sees them (tracked + untracked, not ignored) into ``dest``."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                            check=True, capture_output=True, timeout=60).stdout
    for name in filter(None, listed.decode().split("\0")):
        src = ROOT / name
        if src.is_file():  # deleted-but-tracked files are listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # pip then reads no configuration file at all
    for keep in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT"):
        if keep in os.environ:
            env[keep] = os.environ[keep]
    return env


def _pip_download(dest: Path, reqs: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
           "-d", str(dest), *reqs]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_pip_env(), timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"pip download {reqs} failed:\n{proc.stderr[-4000:]}")


def _build_requires(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/pyproject.toml"):
                data = tomllib.load(tar.extractfile(member))  # type: ignore[arg-type]
                return data.get("build-system", {}).get("requires", LEGACY_BUILD_REQUIRES)
    return LEGACY_BUILD_REQUIRES


def wheelhouse(dest: Path, project: Path, extras: str) -> list[str]:
    """Download ``project[extras]``'s dependencies and every sdist's build requirements."""
    dest.mkdir(parents=True, exist_ok=True)
    build = tomllib.loads((project / "pyproject.toml").read_text())["build-system"]["requires"]
    _pip_download(dest, [f"{project}[{extras}]", *build])
    seen: set[Path] = set()
    for _ in range(5):  # build requirements of build requirements: bounded
        sdists = set(dest.glob("*.tar.gz")) - seen
        if not sdists:
            break
        seen |= sdists
        reqs = sorted({r for s in sdists for r in _build_requires(s)})
        _pip_download(dest, reqs)
    return sorted(p.name for p in dest.iterdir())


def python_version(layers: Layers) -> str:
    proc = run_in_root(layers, "python3 -c 'import sys; print(*sys.version_info[:2], sep=\".\")'",
                       60)
    if proc.returncode != 0:
        raise RuntimeError(f"python3 in the root: {proc.stderr}")
    return proc.stdout.strip()


def run_in_root(layers: Layers, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``sh -ec command`` in the root with a clean environment and no network: the overlay,
    /proc and the process tree exist only in fresh mount, network and PID namespaces."""
    m = layers.merged
    inner = ["chroot", str(m), "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME=/root", "LANG=C.UTF-8", "TMPDIR=/tmp", "/bin/sh", "-ec", command]
    opts = f"lowerdir={layers.lower},upperdir={layers.upper},workdir={layers.work}"
    outer = (f'mount -t overlay overlay -o "{opts}" "{m}" && mount -t proc proc "{m}/proc"'
             ' && exec "$@"')
    cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child",
           "sh", "-ec", outer, "sh", *inner]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
