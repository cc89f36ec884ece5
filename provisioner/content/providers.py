"""What a TFTP path means: per-MAC boot configs rendered per request, else a file under the root.

:class:`TftpContent` is the ``resolve(path, peer) -> ResponseData`` seam handed to the TFTP
transport. In order:

1. The path is cleaned (``content.base.clean_path``): hostile paths raise ``Forbidden``.
2. Per-MAC boot configs are rendered now from the store through the injected
   ``boot_config(kind, mac, server, client)`` (``Core.boot_config``), never pre-generated:

   * ``pxelinux.cfg/01-aa-bb-cc-dd-ee-ff`` (what pxelinux asks first) -> ``pxelinux``
   * ``[boot/]grub[2]/grub.cfg-01-aa-bb-cc-dd-ee-ff`` (what a network-booted GRUB >= 2.04 asks
     first, under its prefix) -> ``grub``
   * ``ipxe/<mac>`` or ``ipxe/01-<mac>[.ipxe]`` -> ``ipxe``

   ``boot_config`` also gets the client's IP (for the timeline event the core records).

   An unknown MAC is ``NotFound`` (TFTP error 1), unless ``unknown_policy = "menu"`` (then the
   core renders the menu variant), so the loader moves on to its next candidate:
   pxelinux tries the hex-IP names (``pxelinux.cfg/0A4D0064``, ``0A4D006``...) and then
   ``default``; GRUB tries ``grub.cfg-<HEXIP>``... then ``grub.cfg``. Those fallbacks are static
   files under the root (the shipped ``pxelinux.cfg/default`` boots the local disk), because a
   machine that reaches them is one the inventory does not know.
3. ``assets/<distro>/<kernel|initrd>`` (the TFTP-root-relative paths the boot templates use when
   a profile sets ``metadata.pxe_transport = "tftp"``) -> the distro's file, through the injected
   ``asset(distro, which) -> Path`` (shared with the HTTP ``/assets`` route).
4. Anything else is a file under the root, jailed (``content.base.jail``).

``on_mac(peer_ip, mac)`` is called when a per-MAC path names the MAC of the peer, so the caller can
attribute this peer's other transfers (loader, kernel) to the system in its timeline.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from provisioner.content.base import BytesResponse, FileResponse, ResponseData, clean_path, jail
from provisioner.content.hot import PacketCache
from provisioner.errors import Forbidden, NotFound
from provisioner.models import ASSET_HINT, path_within

BootConfigFn = Callable[[str, str, str, str], str]  # (kind, mac, server, client ip) -> text
AssetFn = Callable[[str, str], Path]  # (distro, "kernel"|"initrd") -> file
OnMac = Callable[[str, str], None]  # (peer ip, mac)

_MAC = r"([0-9a-fA-F]{2}(?:[-:]?[0-9a-fA-F]{2}){5})"
ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^pxelinux\.cfg/01-{_MAC}$"), "pxelinux"),
    (re.compile(rf"^(?:boot/)?grub2?/grub\.cfg-01-{_MAC}$"), "grub"),
    (re.compile(rf"^ipxe/(?:01-)?{_MAC}(?:\.ipxe)?$"), "ipxe"),
]
_ASSET = re.compile(r"^assets/([A-Za-z0-9][A-Za-z0-9._-]{0,62})/(kernel|initrd)$")


def route(rel: str) -> tuple[str, str] | None:
    """``(kind, mac)`` when a clean relative path is a per-MAC boot config, else None."""
    for pattern, kind in ROUTES:
        m = pattern.match(rel)
        if m:
            return kind, m.group(1).replace("-", ":").lower()
    return None


class TftpContent:
    """``resolve(path, peer)`` for one listening address (``server`` is its HTTP base URL)."""

    def __init__(self, root: Path | str, boot_config: BootConfigFn, server: str,
                 asset: AssetFn | None = None, on_mac: OnMac | None = None,
                 cache: PacketCache | None = None) -> None:
        self.root = Path(root)
        self.cache = cache  # ready-made DATA packets of hot files (content/hot.py)
        self.boot_config = boot_config
        self.server = server
        self.asset = asset
        self.on_mac = on_mac

    def resolve(self, path: str, peer: tuple[str, int]) -> ResponseData:
        rel = clean_path(path)
        routed = route(rel)
        if routed is not None:
            kind, mac = routed
            if self.on_mac is not None:
                self.on_mac(peer[0], mac)
            try:
                return BytesResponse(self.boot_config(kind, mac, self.server, peer[0]), name=rel)
            except NotFound:
                pass  # unknown MAC: an admin-supplied static file may still exist
        m = _ASSET.match(rel)
        if m and self.asset is not None:
            return FileResponse(self.asset(m.group(1), m.group(2)), self.cache)
        return FileResponse(jail(self.root, path), self.cache)


def asset_file(kernel_or_initrd: str, distro: str, which: str, assets_root: Path | str,
               roots: tuple[str, ...] = ()) -> Path:
    """The local file behind ``/assets/<distro>/<which>`` (HTTP) and ``assets/...`` (TFTP).

    ``kernel_or_initrd`` is the distro's ``kernel``/``initrd`` field: empty means
    ``<assets_root>/<distro>/<which>`` (jailed); an absolute path is served only when it lies
    (symlinks resolved) under ``assets_root`` or one of ``roots`` (the setting ``asset_roots``),
    else ``Forbidden``; a URL has no local file (``NotFound``; the HTTP route redirects to it).
    """
    if which not in ("kernel", "initrd"):
        raise NotFound(f"no asset {which!r}")
    if kernel_or_initrd.startswith("/"):
        real = os.path.realpath(kernel_or_initrd)
        allowed = [os.path.realpath(r) for r in (str(assets_root), *roots)]
        if not path_within(real, allowed):
            raise Forbidden(f"{which} of distro {distro} is {kernel_or_initrd}, outside the "
                            f"directories boot files are served from ({', '.join(allowed)})",
                            hint=ASSET_HINT)
        return Path(real)
    if kernel_or_initrd:
        raise NotFound(f"{which} of distro {distro} is a URL, not a local file")
    return jail(assets_root, f"{distro}/{which}")
