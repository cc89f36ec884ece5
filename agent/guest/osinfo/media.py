"""What install media say about themselves, for ``--osinfo detect=on`` (libosinfo's way).

* An ISO 9660 image (``--cdrom``): the primary volume descriptor at sector 16 (byte 32768)
  holds the system, volume, publisher and application identifiers that osinfo-db's
  ``<media><iso>`` regular expressions are written against.
* An install tree (``--location``): its ``.treeinfo`` (or ``treeinfo``) ``[general]``
  family/variant/version/arch, or the productmd ``[release]`` name/version and ``[tree]`` arch,
  matched against ``<tree><treeinfo>``.

The parsers are pure; :func:`probe` is the thin file adapter (local paths and ``file://``
only: a remote tree is not fetched for detection, and then nothing is detected).
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass

SECTOR = 2048
PVD_OFFSET = 16 * SECTOR


@dataclass(frozen=True)
class MediaIds:
    """The identifiers of an ISO 9660 primary volume descriptor (spaces stripped)."""

    volume_id: str = ""
    system_id: str = ""
    publisher_id: str = ""
    application_id: str = ""
    bootable: bool = True  # an El Torito boot record (libosinfo refuses other images)


@dataclass(frozen=True)
class TreeIds:
    """A tree's ``.treeinfo`` identity."""

    family: str = ""
    variant: str = ""
    version: str = ""
    arch: str = ""


def parse_pvd(block: bytes) -> MediaIds | None:
    """The identifiers of a primary volume descriptor (type 1, ``CD001``), else None."""
    if len(block) < 702 or block[0] != 1 or block[1:6] != b"CD001":
        return None

    def text(lo: int, hi: int) -> str:
        return block[lo:hi].decode("ascii", "replace").strip(" \x00")

    return MediaIds(volume_id=text(40, 72), system_id=text(8, 40),
                    publisher_id=text(318, 446), application_id=text(574, 702))


def parse_descriptors(data: bytes) -> MediaIds | None:
    """The volume descriptors from sector 16 on (``data`` starts there): the primary one's
    identifiers, and whether an El Torito boot record follows (up to the terminator)."""
    ids, boot = None, False
    for i in range(min(len(data) // SECTOR, 16)):
        block = data[i * SECTOR:(i + 1) * SECTOR]
        if block[1:6] != b"CD001" or block[0] == 255:
            break
        if block[0] == 1 and ids is None:
            ids = parse_pvd(block)
        boot = boot or (block[0] == 0 and block[7:30] == b"EL TORITO SPECIFICATION")
    return MediaIds(**{**vars(ids), "bootable": boot}) if ids is not None else None


def parse_treeinfo(text: str) -> TreeIds | None:
    """``[general]`` family/variant/version/arch, or productmd's ``[release]``/``[tree]``."""
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cp.read_string(text)
    except configparser.Error:
        return None
    if cp.has_section("general"):
        g = cp["general"]
        ids = TreeIds(g.get("family", ""), g.get("variant", ""), g.get("version", ""),
                      g.get("arch", ""))
    elif cp.has_section("release"):
        ids = TreeIds(cp["release"].get("name", ""), "", cp["release"].get("version", ""),
                      cp["tree"].get("arch", "") if cp.has_section("tree") else "")
    else:
        return None
    return ids if ids.family or ids.version else None


def _local(location: str) -> str | None:
    if location.startswith("file://"):
        return location[len("file://"):]
    return None if "://" in location else location


def probe(kind: str, location: str) -> MediaIds | TreeIds | None:
    """Read the media's identity: ``kind`` is ``cdrom`` (an ISO file) or ``location`` (a
    tree directory). None when it cannot be read (missing, remote, not ISO 9660)."""
    path = _local(location)
    if path is None:
        return None
    try:
        if kind == "cdrom" and os.path.isfile(path):
            with open(path, "rb") as fh:
                fh.seek(PVD_OFFSET)
                return parse_descriptors(fh.read(16 * SECTOR))
        if kind == "location" and os.path.isdir(path):
            for name in (".treeinfo", "treeinfo"):
                f = os.path.join(path, name)
                if os.path.isfile(f):
                    with open(f, encoding="utf-8", errors="replace") as fh:
                        return parse_treeinfo(fh.read(65536))
    except OSError:
        return None
    return None
