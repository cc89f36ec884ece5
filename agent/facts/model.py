"""What a host is: frozen values filled by ``facts.probe`` and read by the planners.

Everything here is plain data (JSON via ``to_dict``); no method touches the host.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from provisioner.platform.osversion import release_numbers

#: /proc/cpuinfo flags the agent reports on (virtualisation, PAE, 64-bit, NX, timekeeping;
#: ``hypervisor``: this host is itself a virtual machine).
FLAGS_THAT_MATTER = ("vmx", "svm", "pae", "lm", "nx", "constant_tsc", "nonstop_tsc", "tsc",
                     "hypervisor")


@dataclass(frozen=True)
class Cpu:
    vendor: str = ""              # GenuineIntel | AuthenticAMD | ...
    model_name: str = ""
    sockets: int = 0
    cores: int = 0                # physical cores (all sockets)
    threads: int = 0              # logical processors
    flags: tuple[str, ...] = ()   # only FLAGS_THAT_MATTER, sorted
    cpufreq_max: int | None = None   # highest scaling_available_frequencies value (kHz)

    def has(self, flag: str) -> bool:
        """Whole-word flag test (``nonstop_tsc`` is not ``constant_tsc``)."""
        return flag in self.flags

    @property
    def virt_extension(self) -> str | None:
        """``vmx`` (Intel VT), ``svm`` (AMD-V) or None (PV-only host; check the BIOS)."""
        return "vmx" if self.has("vmx") else "svm" if self.has("svm") else None

    @property
    def constant_tsc(self) -> bool:
        return self.has("constant_tsc")


@dataclass(frozen=True)
class Kernel:
    release: str = ""             # uname -r
    arch: str = ""                # x86_64 | i686 | ia64 ...
    is_xen: bool = False          # release ends in "xen" (seed 28.2)
    xen_role: str | None = None   # "dom0" | "domU" | "hvm" (a Xen HVM guest) | None (28.7)
    kvm_modules: tuple[str, ...] = ()   # kvm, kvm_intel, kvm_amd loaded
    cmdline: str = ""


@dataclass(frozen=True)
class Distro:
    id: str = ""                  # rhel | centos | fedora | debian | ubuntu ...
    family: str = ""              # "rhel" | "debian" | ""
    version: str = ""             # "5.4", "9.3", "12"
    name: str = ""                # the release line as written

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return release_numbers(self.version)


@dataclass(frozen=True)
class Bootloader:
    kind: str | None = None       # "grub-legacy" | "grub2" | "elilo" | None
    config: str | None = None     # path of the config file (relative to /)
    default_file: str | None = None   # /etc/default/grub when present (GRUB 2)
    grubby: bool = False          # grubby is installed (RHEL GRUB 2 hosts)


@dataclass(frozen=True)
class Nic:
    name: str
    mac: str = ""
    mtu: int = 1500
    kind: str = ""                # "" (physical/unknown), veth, dummy, bridge, tun ...
    master: str | None = None     # bridge this link is enslaved to
    up: bool = False
    addresses: tuple[str, ...] = ()   # "10.0.0.5/24" (IPv4 and IPv6, global scope)


@dataclass(frozen=True)
class Bridge:
    name: str
    ports: tuple[str, ...] = ()
    stp: bool = False
    forward_delay: int = 0        # seconds


@dataclass(frozen=True)
class Route:
    dst: str                      # "default" or "10.0.0.0/24"
    dev: str
    gateway: str | None = None
    metric: int | None = None
    proto: str | None = None
    scope: str | None = None
    prefsrc: str | None = None


@dataclass(frozen=True)
class Network:
    nics: tuple[Nic, ...] = ()
    bridges: tuple[Bridge, ...] = ()
    routes: tuple[Route, ...] = ()
    default_route_dev: str | None = None
    default_gateway: str | None = None
    network_manager: bool = False
    ifcfg: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> KEY -> value
    nm_keyfiles: dict[str, str] = field(default_factory=dict)  # file name -> text
    interfaces: str | None = None      # Debian /etc/network/interfaces text

    def nic(self, name: str) -> Nic | None:
        return next((n for n in self.nics if n.name == name), None)

    def bridge(self, name: str) -> Bridge | None:
        return next((b for b in self.bridges if b.name == name), None)


@dataclass(frozen=True)
class HostFacts:
    hostname: str = ""
    cpu: Cpu = field(default_factory=Cpu)
    mem_kib: int = 0
    image_dir: str = "/var/lib/libvirt/images"
    image_dir_free_bytes: int | None = None
    kernel: Kernel = field(default_factory=Kernel)
    distro: Distro = field(default_factory=Distro)
    bootloader: Bootloader = field(default_factory=Bootloader)
    network: Network = field(default_factory=Network)
    libvirt_reachable: bool | None = None
    xend_config: str | None = None     # /etc/xen/xend-config.sxp, bytes as Latin-1 (None: absent)
    warnings: tuple[str, ...] = ()

    @property
    def hypervisor(self) -> str | None:
        """"xen" when running a Xen kernel, "kvm" when kvm modules are loaded, else None."""
        if self.kernel.is_xen:
            return "xen"
        if "kvm" in self.kernel.kvm_modules:
            return "kvm"
        return None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hypervisor"] = self.hypervisor
        d["cpu"]["virt_extension"] = self.cpu.virt_extension
        d["cpu"]["constant_tsc"] = self.cpu.constant_tsc
        return d


def _tuples(cls, data: dict[str, Any]):
    """Rebuild a dataclass from ``to_dict`` output (lists back to tuples, nested values)."""
    kwargs = {}
    hints = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in hints:
            continue
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> HostFacts:
    """Inverse of ``HostFacts.to_dict`` (the planner CLI can read a saved probe)."""
    net = dict(data.get("network", {}))
    network = Network(
        nics=tuple(_tuples(Nic, n) for n in net.get("nics", [])),
        bridges=tuple(_tuples(Bridge, b) for b in net.get("bridges", [])),
        routes=tuple(_tuples(Route, r) for r in net.get("routes", [])),
        default_route_dev=net.get("default_route_dev"),
        default_gateway=net.get("default_gateway"),
        network_manager=bool(net.get("network_manager")),
        ifcfg=dict(net.get("ifcfg", {})),
        nm_keyfiles=dict(net.get("nm_keyfiles", {})),
        interfaces=net.get("interfaces"),
    )
    return HostFacts(
        hostname=data.get("hostname", ""),
        cpu=_tuples(Cpu, data.get("cpu", {})),
        mem_kib=data.get("mem_kib", 0),
        image_dir=data.get("image_dir", "/var/lib/libvirt/images"),
        image_dir_free_bytes=data.get("image_dir_free_bytes"),
        kernel=_tuples(Kernel, data.get("kernel", {})),
        distro=_tuples(Distro, data.get("distro", {})),
        bootloader=_tuples(Bootloader, data.get("bootloader", {})),
        network=network,
        libvirt_reachable=data.get("libvirt_reachable"),
        xend_config=data.get("xend_config"),
        warnings=tuple(data.get("warnings", ())),
    )
