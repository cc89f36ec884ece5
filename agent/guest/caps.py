"""Host capabilities (``virConnectGetCapabilities`` XML) reduced to what the defaults need.

Pure parsing: ``virt.py`` fetches the XML, tests use the captured files under
``tests/agent/guest/data/``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GuestCaps:
    os_type: str  # hvm | xen | linux
    arch: str
    emulator: str | None
    machines: tuple[str, ...]
    canonical: dict[str, str] = field(default_factory=dict)  # alias -> canonical machine
    domain_types: tuple[str, ...] = ()
    loader: str | None = None  # Xen HVM firmware (hvmloader)


@dataclass(frozen=True)
class Caps:
    host_arch: str
    guests: tuple[GuestCaps, ...]

    def find(self, domain_type: str, os_type: str, arch: str | None = None) -> GuestCaps | None:
        arch = arch or self.host_arch
        for g in self.guests:
            if g.os_type == os_type and g.arch == arch and domain_type in g.domain_types:
                return g
        return None

    def supports(self, domain_type: str) -> bool:
        return any(domain_type in g.domain_types for g in self.guests)


def parse_caps(xml: str) -> Caps:
    root = ET.fromstring(xml)
    host_arch = root.findtext("./host/cpu/arch") or "x86_64"
    guests = []
    for g in root.findall("./guest"):
        arch = g.find("./arch")
        if arch is None:
            continue
        machines, canonical = [], {}
        for m in arch.findall("./machine"):
            name = (m.text or "").strip()
            machines.append(name)
            if m.get("canonical"):
                canonical[name] = m.get("canonical")
        guests.append(GuestCaps(
            os_type=g.findtext("./os_type") or "hvm", arch=arch.get("name", ""),
            emulator=arch.findtext("./emulator"), machines=tuple(machines), canonical=canonical,
            domain_types=tuple(d.get("type", "") for d in arch.findall("./domain")),
            loader=arch.findtext("./loader")))
    return Caps(host_arch=host_arch, guests=tuple(guests))


#: Capabilities of a RHEL 5.4 Xen host, for planning Xen guests on a machine without Xen (dry
#: runs, golden files). Paths from the seed's guest configuration files (E.md §23):
#: ``device_model = "/usr/lib64/xen/bin/qemu-dm"``, ``kernel = "/usr/lib/xen/boot/hvmloader"``.
XEN_CAPS = Caps(host_arch="x86_64", guests=(
    GuestCaps("xen", "x86_64", "/usr/lib64/xen/bin/qemu-dm", ("xenpv",), {}, ("xen",)),
    GuestCaps("hvm", "x86_64", "/usr/lib64/xen/bin/qemu-dm", ("xenfv",), {}, ("xen",),
              "/usr/lib/xen/boot/hvmloader"),
))
