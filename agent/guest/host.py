"""Everything the defaults know about the host, as one value passed in (no hidden inputs).

``caps`` (capabilities), ``domcaps`` (a function: domain type, arch, machine -> domain
capabilities, as libvirt answers ``virConnectGetDomainCapabilities``), ``facts`` (the probe),
``pools`` (libvirt storage pools with their free space) and ``osinfo`` (libosinfo's database).
``virt.py`` builds one from a live connection; tests build one from the fixtures under
``tests/agent/guest/data/hosts/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent.facts.model import HostFacts
from agent.guest.caps import Caps
from agent.guest.domcaps import DomCaps
from agent.guest.osinfo.db import OsinfoDB
from agent.guest.osinfo.media import MediaIds, TreeIds

DomcapsLookup = Callable[[str, str, "str | None"], "DomCaps | None"]


#: reads install media's identity (``osinfo/media.py`` ``probe``): (kind, location) -> ids
MediaProbe = Callable[[str, str], "MediaIds | TreeIds | None"]


def _no_media(kind: str, location: str) -> MediaIds | TreeIds | None:
    return None


def _no_domcaps(domain: str, arch: str, machine: str | None) -> DomCaps | None:
    return None


@dataclass(frozen=True)
class Pool:
    name: str
    path: str
    available: int | None = None  # bytes free (None: unknown)


@dataclass
class Host:
    caps: Caps
    facts: HostFacts = field(default_factory=HostFacts)
    domcaps_for: DomcapsLookup = _no_domcaps
    pools: tuple[Pool, ...] = ()
    osinfo: OsinfoDB | None = None
    volumes: dict[str, str | None] = field(default_factory=dict)  # pool volume -> format
    media_ids: MediaProbe = _no_media  # --osinfo detect=on: the media's identity

    @property
    def existing_files(self) -> frozenset[str]:
        return frozenset(self.volumes)

    def file_format(self, path: str | None) -> str | None:
        """A pool volume's format; None for other files (virt-install leaves the type out)."""
        return self.volumes.get(path or "")

    def domcaps(self, domain: str, arch: str, machine: str | None) -> DomCaps | None:
        return self.domcaps_for(domain, arch, machine)

    def pool(self, name: str) -> Pool | None:
        for p in self.pools:
            if p.name == name:
                return p
        if name == "default":
            return Pool("default", self.facts.image_dir, self.facts.image_dir_free_bytes)
        return None

    def pool_of(self, path: str) -> Pool | None:
        """The pool whose directory holds ``path`` (its parent directory)."""
        parent = path.rsplit("/", 1)[0] or "/"
        for p in (*self.pools, self.pool("default")):
            if p is not None and p.path.rstrip("/") == parent.rstrip("/"):
                return p
        return None

    def default_bridge(self) -> str | None:
        """The default-route device when it is a bridge (virt-install's default NIC source)."""
        dev = self.facts.network.default_route_dev
        return dev if dev and self.facts.network.bridge(dev) else None
