"""Host capabilities (``virConnectGetCapabilities`` XML) reduced to what the defaults need.

Pure parsing: ``virt.py`` fetches the XML, tests use the captured files under
``tests/agent/guest/data/``. :meth:`Caps.lookup` follows virt-install's ``guest_lookup``: the
host's arch first, then os_type hvm before xen as listed, and the domain type kvm over xen over
qemu, so the agent and virt-install pick the same guest type for the same host.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

DOMAIN_PRIORITY = ("kvm", "xen", "qemu")


@dataclass(frozen=True)
class GuestCaps:
    os_type: str  # hvm | xen | linux
    arch: str
    emulator: str | None
    machines: tuple[str, ...]
    canonical: dict[str, str] = field(default_factory=dict)  # alias -> canonical machine
    domain_types: tuple[str, ...] = ()
    loader: str | None = None  # Xen HVM firmware (hvmloader)
    features: tuple[str, ...] = ()  # acpi, apic, pae, nonpae, ...
    max_cpus: dict[str, int] = field(default_factory=dict)  # machine -> maxCpus

    def canonical_machine(self, machine: str | None) -> str | None:
        return self.canonical.get(machine, machine) if machine else machine


@dataclass(frozen=True)
class Caps:
    host_arch: str
    guests: tuple[GuestCaps, ...]
    host_memory_kib: int | None = None  # sum of the NUMA cells' memory
    host_cpus: int | None = None  # logical CPUs in the topology
    host_cores: int | None = None  # physical cores (sockets x cores)
    host_cpu_model: str | None = None
    host_cpu_vendor: str | None = None

    def find(self, domain_type: str, os_type: str, arch: str | None = None) -> GuestCaps | None:
        arch = arch or self.host_arch
        for g in self.guests:
            if g.os_type == os_type and g.arch == arch and domain_type in g.domain_types:
                return g
        return None

    def supports(self, domain_type: str) -> bool:
        return any(domain_type in g.domain_types for g in self.guests)

    def guest_for(self, os_type: str | None, arch: str | None) -> GuestCaps | None:
        """virt-install's ``_guestForOSType``: the first matching guest, host arch first."""
        os_type = "xen" if os_type == "linux" else os_type
        for a in ([arch] if arch else [self.host_arch, None]):
            for g in self.guests:
                if (os_type is None or g.os_type == os_type) and (a is None or g.arch == a):
                    return g
        return None

    @staticmethod
    def best_domain(guest: GuestCaps, wanted: str | None) -> str | None:
        """virt-install's ``_bestDomainType``: ``wanted`` if offered, else kvm > xen > qemu."""
        offered = [d for d in guest.domain_types if not wanted or d == wanted]
        for d in DOMAIN_PRIORITY:
            if d in offered:
                return d
        return offered[-1] if offered else None


def _guest(g: ET.Element) -> GuestCaps | None:
    arch = g.find("./arch")
    if arch is None:
        return None
    machines, canonical, max_cpus = [], {}, {}
    for m in arch.findall("./machine"):
        name = (m.text or "").strip()
        machines.append(name)
        if m.get("canonical"):
            canonical[name] = m.get("canonical", "")
        if m.get("maxCpus"):
            max_cpus[name] = int(m.get("maxCpus", "0"))
    feats = g.find("./features")
    return GuestCaps(
        os_type=g.findtext("./os_type") or "hvm", arch=arch.get("name", ""),
        emulator=arch.findtext("./emulator"), machines=tuple(machines), canonical=canonical,
        domain_types=tuple(d.get("type", "") for d in arch.findall("./domain")),
        loader=arch.findtext("./loader"),
        features=tuple(f.tag for f in feats) if feats is not None else (), max_cpus=max_cpus)


def parse_caps(xml: str) -> Caps:
    root = ET.fromstring(xml)
    host_arch = root.findtext("./host/cpu/arch") or "x86_64"
    guests = tuple(filter(None, (_guest(g) for g in root.findall("./guest"))))
    mem = [int(c.text or 0) * (1024 if c.get("unit", "KiB") == "MiB" else 1)
           for c in root.findall("./host/topology/cells/cell/memory")]
    cpus = root.findall("./host/topology/cells/cell/cpus/cpu")
    cores = {(c.get("socket_id"), c.get("die_id"), c.get("core_id")) for c in cpus}
    return Caps(host_arch=host_arch, guests=guests, host_memory_kib=sum(mem) or None,
                host_cpus=len(cpus) or None, host_cores=len(cores) or None,
                host_cpu_model=root.findtext("./host/cpu/model"),
                host_cpu_vendor=root.findtext("./host/cpu/vendor"))


#: Capabilities of a RHEL 5.4 Xen host, for planning Xen guests on a machine without Xen (dry
#: runs, golden files). Paths from the seed's guest configuration files (E.md §23):
#: ``device_model = "/usr/lib64/xen/bin/qemu-dm"``, ``kernel = "/usr/lib/xen/boot/hvmloader"``.
XEN_CAPS = Caps(host_arch="x86_64", guests=(
    GuestCaps("xen", "x86_64", "/usr/lib64/xen/bin/qemu-dm", ("xenpv",), {}, ("xen",)),
    GuestCaps("hvm", "x86_64", "/usr/lib64/xen/bin/qemu-dm", ("xenfv",), {}, ("xen",),
              "/usr/lib/xen/boot/hvmloader", ("acpi", "apic", "pae")),
))
