"""The seed's guest operating systems (RHEL 3 to 5, Windows XP/2003/2008) as data.

libosinfo (``agent.guest.osinfo``) is the agent's OS knowledge; this table is the seed's part:
the seed's spellings (``rhel5``: Example 6.3), which variants the seed's rules apply to
(:func:`is_seed_variant`), and a fallback view when no osinfo-db is installed. The ``virtio``
column comes from the seed's virtio floor (``provisioner/platform/data/limits.toml``, seed
C.md §10): RHEL 4.8+ and 5.3+ guests carry virtio drivers; Windows gets virtio only after its
drivers are installed. Where libosinfo is stricter (it lists no virtio devices for RHEL 5), the
stricter answer wins: this column is only used without osinfo-db.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.guest.errors import GuestError
from agent.guest.osinfo.view import DEVICES, OsInfo
from provisioner.platform.osversion import parse_release, release_numbers
from provisioner.platform.tables import limit

if TYPE_CHECKING:
    from agent.guest.osinfo.view import OsInfo


@dataclass(frozen=True)
class OsVariant:
    short_id: str
    id: str  # libosinfo URI, written into <metadata>
    family: str  # linux | windows
    version: tuple[int, ...] = ()
    virtio: bool = False

    @property
    def is_windows(self) -> bool:
        return self.family == "windows"


def _has_virtio(major: int, minor: int) -> bool:
    """The seed's virtio floor (limits.toml ``kvm.virtio_min_guest_release``, shared with the
    driver plan: RHEL 4.8+ and 5.3+ carry virtio; 6 and later always)."""
    floor = limit("kvm.virtio_min_guest_release").get(f"rhel{major}")
    if major >= 6:
        return True
    if floor is None:
        return False
    release = parse_release(floor)
    return release is not None and (major, minor) >= release


def _rhel(v: str) -> OsVariant:
    version = release_numbers(v)
    major, minor = (version + (0,))[:2]
    return OsVariant(f"rhel{v}", f"http://redhat.com/rhel/{v}", "linux", version,
                     _has_virtio(major, minor))


KNOWN: dict[str, OsVariant] = {
    v.short_id: v
    for v in [
        _rhel("3"), *(_rhel(f"3.{i}") for i in range(1, 10)),
        *(_rhel(f"4.{i}") for i in range(0, 10)), *(_rhel(f"5.{i}") for i in range(0, 12)),
        OsVariant("winxp", "http://microsoft.com/win/xp", "windows", (5, 1)),
        OsVariant("win2k3", "http://microsoft.com/win/2k3", "windows", (5, 2)),
        OsVariant("win2k3r2", "http://microsoft.com/win/2k3r2", "windows", (5, 2)),
        OsVariant("win2k8", "http://microsoft.com/win/2k8", "windows", (6, 0)),
    ]
}
#: Spellings older virt-install accepted (seed Example 6.3: ``--os-variant=rhel5``).
ALIASES = {"rhel4": "rhel4.0", "rhel5": "rhel5.0"}


def is_seed_variant(name: str | None) -> bool:
    """The seed's rules (refusals and departures from virt-install) apply to these only."""
    return bool(name) and ALIASES.get(name or "", name) in KNOWN


def as_osinfo(v: OsVariant) -> OsInfo:
    """A libosinfo-like view of a seed variant (used only when osinfo-db is missing)."""
    devices = DEVICES["virtiodisk"][:1] + DEVICES["virtionet"][:1] if v.virtio else ()
    return OsInfo(name=v.short_id, id=v.id, family="winnt" if v.is_windows else "linux",
                  distro="win" if v.is_windows else "rhel",
                  version=".".join(str(x) for x in v.version), devices=frozenset(devices))


def lookup(short_id: str, osinfo_ids: dict[str, str] | None = None) -> OsVariant:
    """The variant for ``short_id``; unknown to both the table and libosinfo -> ``GuestError``."""
    key = ALIASES.get(short_id, short_id)
    if key in KNOWN:
        return KNOWN[key]
    if osinfo_ids and key in osinfo_ids:
        family = "windows" if key.startswith("win") else "linux"
        m = re.search(r"(\d+(?:\.\d+)*)$", key)
        version = release_numbers(m.group(1)) if m else ()
        return OsVariant(key, osinfo_ids[key], family, version, virtio=family == "linux")
    raise GuestError(f"unknown --os-variant {short_id!r} (not in the seed table nor libosinfo)",
                     "UNKNOWN_OS_VARIANT")


def parse_osinfo_query(text: str) -> dict[str, str]:
    """``osinfo-query os --fields=short-id,id`` output -> ``{short_id: id}``."""
    out: dict[str, str] = {}
    for line in text.splitlines()[2:]:
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 2 and parts[0] and parts[1]:
            out[parts[0]] = parts[1]
    return out
