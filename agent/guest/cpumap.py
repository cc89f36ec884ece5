"""The named CPU models a host can run, oldest first, for migratable guests (pure).

A live-migratable guest needs a CPU model every candidate host can run (never
``host-passthrough``). The agent reports its usable models (``<mode name='custom'>`` of the
domain capabilities, ``usable='yes'``) with their vendors, ordered by libvirt's own CPU map
(``/usr/share/libvirt/cpu_map/index.xml`` lists each architecture's models oldest first within a
vendor family); the appliance picks the newest one all hosts share
(``provisioner/core/cpu_models.py``). Models the index does not know keep the domain
capabilities' order ahead of the known ones (treated as oldest).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agent.guest.domcaps import DomCaps

CPU_MAP_INDEX = "/usr/share/libvirt/cpu_map/index.xml"
#: libvirt's cpu_map architecture family of a guest architecture
FAMILY = {"x86_64": "x86", "i686": "x86", "aarch64": "arm", "armv7l": "arm", "ppc64le": "ppc64",
          "ppc64": "ppc64"}


def index_order(index_xml: str, arch: str) -> list[str]:
    """The model names of ``arch``'s family in the index's order (oldest first)."""
    fam = FAMILY.get(arch, arch)
    root = ET.fromstring(index_xml)
    names: list[str] = []
    for node in root.findall(f"./arch[@name='{fam}']/include"):
        fname = node.get("filename") or ""
        name = fname.removeprefix(f"{fam}_").removesuffix(".xml")
        if name not in ("vendors", "features"):
            names.append(name)
    return names


def usable_models(dc: DomCaps | None, order: list[str]) -> list[dict[str, str]]:
    """``[{"name", "vendor"}]`` of the models libvirt says this host can run, oldest first."""
    mode = dc.cpu_modes.get("custom") if dc is not None else None
    if mode is None or not mode.supported:
        return []
    usable = [name for name, state in mode.models if state == "yes"]
    rank = {name: i for i, name in enumerate(order)}
    usable.sort(key=lambda n: rank.get(n, -1))  # stable: unknown ones keep domcaps order
    return [{"name": n, "vendor": mode.vendors.get(n, "unknown")} for n in usable]


def read_index(path: str = CPU_MAP_INDEX) -> str | None:
    """The index's text, or None where libvirt's CPU map is not installed."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None
