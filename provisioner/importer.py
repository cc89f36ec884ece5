"""``provisioner import PATH|URL``: a Distro from an install tree or a mounted ISO.

What is read, in order:

* ``.treeinfo``: both the productmd format (``[release] name/short/version``, ``[tree] arch``)
  and the older one (``[general] family/version/arch``); kernel and initrd from
  ``[images-<arch>]`` (``kernel``/``initrd`` keys), else ``images/pxeboot/vmlinuz``/``initrd.img``;
* ``.discinfo`` (RHEL 5 and older discs): line 2 is the release name, line 3 the arch;
* the RHEL 5 layout: ``images/pxeboot/vmlinuz`` + ``initrd.img`` and a ``Server/`` (or
  ``Client/``) package directory; ``images/xen/`` holds the para-virtualised kernel.

A local path gives absolute kernel/initrd paths; ``provisioner import`` then copies the two files
into ``<assets_dir>/<distro>/`` (:func:`copy_boot_files`, with progress), so the distro keeps
working when the ISO is unmounted and the appliance serves only files under its asset
directories. A URL gives URLs (the appliance redirects to them). ``fetch`` is injected so tests
need no network.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from provisioner.errors import Invalid, NotFound
from provisioner.models import Distro, normalize_arch
from provisioner.platform.osversion import parse_os_version

Fetch = Callable[[str], bytes | None]  # relative path -> content, None when absent

_FAMILIES = (  # (regex on the product name, os_version prefix)
    (r"red hat enterprise linux|^rhel", "rhel"),
    (r"centos|rocky|alma|oracle linux|scientific", "rhel"),
    (r"fedora", "fedora"),
)
PXE_KERNEL, PXE_INITRD = "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"


def local_fetch(root: Path) -> Fetch:
    def fetch(rel: str) -> bytes | None:
        path = root / rel
        return path.read_bytes() if path.is_file() else None

    return fetch


def url_fetch(base: str, timeout: float = 20.0) -> Fetch:
    def fetch(rel: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"{base}/{rel}", timeout=timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise Invalid(f"cannot fetch {base}/{rel}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise Invalid(f"cannot fetch {base}/{rel}: {exc}") from None

    return fetch


def os_version_of(product: str, version: str) -> str:
    """``("Red Hat Enterprise Linux Server", "5.4")`` -> ``rhel5.4``; Fedora 39 -> ``fedora39``."""
    prefix = next((p for rx, p in _FAMILIES if re.search(rx, product.lower())), None)
    v = parse_os_version(version.strip())
    if prefix is None or v is None or v.family:
        raise Invalid(f"cannot tell the OS version of {product!r} {version!r}; give --os-version",
                      field="os_version")
    return f"{prefix}{v.major}" if prefix == "fedora" else f"{prefix}{v.release}"


def _treeinfo(text: str) -> tuple[str, str, str, dict[str, str]]:
    """(product, version, arch, images section) from a .treeinfo."""
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(text)
    except configparser.Error as exc:
        raise Invalid(f"unreadable .treeinfo: {exc}") from None
    if cp.has_section("release"):
        product = cp.get("release", "name", fallback="")
        version = cp.get("release", "version", fallback="")
        arch = cp.get("tree", "arch", fallback="") or cp.get("general", "arch", fallback="")
    else:
        product = cp.get("general", "family", fallback="")
        version = cp.get("general", "version", fallback="")
        arch = cp.get("general", "arch", fallback="")
    images = dict(cp.items(f"images-{arch}")) if arch and cp.has_section(f"images-{arch}") else {}
    return product, version, arch, images


def _discinfo(text: str) -> tuple[str, str, str]:
    """(product, version, arch) from a .discinfo: timestamp, release name, arch, disc numbers."""
    lines = text.splitlines()
    if len(lines) < 3:
        raise Invalid("unreadable .discinfo")
    m = re.search(r"(\d+(?:\.\d+)?)\s*$", lines[1])
    return lines[1], m.group(1) if m else "", lines[2].strip()


def import_tree(source: str, *, name: str | None = None, os_version: str | None = None,
                arch: str | None = None, tree_url: str | None = None,
                fetch: Fetch | None = None) -> Distro:
    """Inspect the tree at ``source`` (directory or http/https/ftp URL) and return a Distro."""
    is_url = bool(re.match(r"^(https?|ftp)://", source))
    base = source.rstrip("/") if is_url else str(Path(source).resolve())
    if not is_url and not Path(base).is_dir():
        raise NotFound(f"{source}: no such directory (give an install tree or a mounted ISO)")
    fetch = fetch or (url_fetch(base) if is_url else local_fetch(Path(base)))

    product = version = found_arch = ""
    images: dict[str, str] = {}
    raw = fetch(".treeinfo")
    if raw is not None:
        product, version, found_arch, images = _treeinfo(raw.decode("utf-8", "replace"))
    else:
        raw = fetch(".discinfo")
        if raw is not None:
            product, version, found_arch = _discinfo(raw.decode("utf-8", "replace"))

    kernel_rel = images.get("kernel") or PXE_KERNEL
    initrd_rel = images.get("initrd") or PXE_INITRD
    if not is_url:  # a URL is checked by whoever fetches it; a local tree must have the files
        for rel in (kernel_rel, initrd_rel):
            if not (Path(base) / rel).is_file():
                raise Invalid(f"{source}: no {rel} (not an install tree?)", field="kernel")
    osv = os_version or (os_version_of(product, version) if product or version else None)
    if osv is None:
        raise Invalid(f"{source}: no .treeinfo or .discinfo; give --os-version and --arch",
                      field="os_version")
    canonical_arch = normalize_arch(arch or found_arch or "x86_64")
    return Distro(
        name=name or f"{osv}-{canonical_arch}",
        arch=canonical_arch,
        os_version=osv,
        breed="redhat",
        kernel=f"{base}/{kernel_rel}",
        initrd=f"{base}/{initrd_rel}",
        tree_url=tree_url or base,
    )


CHUNK = 1 << 20
Progress = Callable[[str, int, int], None]  # (file, bytes copied so far, its size)


def copy_boot_files(files: dict[str, str], dest: Path, on_bytes: Progress | None = None) -> int:
    """Copy ``{"kernel": path, "initrd": path}`` to ``dest/kernel`` and ``dest/initrd``.

    The files land in a temporary directory beside ``dest`` first, so ``dest`` is either the
    complete set or absent; ``on_bytes(name, done, size)`` is called as the bytes go. Returns
    the bytes copied.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise Invalid(f"{dest} already exists; remove it or import under another --name",
                      field="name")
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    total = 0
    try:
        for name, src in files.items():
            size = os.path.getsize(src)
            done = 0
            with open(src, "rb") as fin, open(tmp / name, "wb") as fout:
                while chunk := fin.read(CHUNK):
                    fout.write(chunk)
                    done += len(chunk)
                    if on_bytes is not None:
                        on_bytes(name, done, size)
            if on_bytes is not None and size == 0:
                on_bytes(name, 0, 0)
            os.chmod(tmp / name, 0o644)
            total += done
        os.chmod(tmp, 0o755)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return total
