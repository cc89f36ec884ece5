"""Domain values of the inventory: distros, profiles, systems, events and boot contexts.

Values are frozen dataclasses that normalise themselves at construction (MACs lower-case with
colons, arches canonical), so matching elsewhere is plain equality. They carry no storage or I/O.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from provisioner.errors import Invalid

ARCHES = ("x86_64", "i386", "ia64", "aarch64", "ppc64le", "s390x")
_ARCH_ALIASES = {"amd64": "x86_64", "x86-64": "x86_64", "i686": "i386", "i586": "i386",
                 "x86": "i386", "arm64": "aarch64", "itanium": "ia64"}
BREEDS = ("redhat", "debian", "suse", "windows", "generic")
HYPERVISORS = ("kvm", "xen")
VIRT_TYPES = ("hvm", "pv")
DISK_BUSES = ("virtio", "ide", "scsi", "xen", "sata")
SYSTEM_STATUSES = ("new", "installing", "installed", "failed", "discovered")

_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def normalize_mac(value: str) -> str:
    """Return ``aa:bb:cc:dd:ee:ff``; accept ``-``/``:``/no separators, any case."""
    raw = value.strip().lower()
    if not _MAC_RE.match(raw):
        raise Invalid(f"bad MAC address {value!r}", field="mac")
    hexdigits = raw.replace(":", "").replace("-", "")
    mac = ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))
    if int(hexdigits[1], 16) & 1:
        raise Invalid(f"multicast MAC address {value!r}", field="mac")
    return mac


def normalize_arch(value: str) -> str:
    """Return the canonical arch name (``x86_64``, ``i386``, ``ia64``...)."""
    arch = _ARCH_ALIASES.get(value.strip().lower(), value.strip().lower())
    if arch not in ARCHES:
        raise Invalid(f"unknown arch {value!r}; one of {', '.join(ARCHES)}", field="arch")
    return arch


def check_name(value: str, what: str = "name") -> str:
    """Names are DNS-label-like: letters, digits, dot, dash, underscore; at most 63 chars."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise Invalid(f"bad {what} {value!r}: use letters, digits, '.', '-', '_'", field=what)
    return value


def check_url(value: str, what: str,
              schemes: tuple[str, ...] = ("http", "https", "ftp", "nfs")) -> str:
    """Accept a URL with one of ``schemes``, or an absolute local path."""
    if value.startswith("/"):
        return value
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme not in schemes:
        raise Invalid(f"bad {what} {value!r}: scheme must be one of {', '.join(schemes)}",
                      field=what)
    return value


@dataclass(frozen=True)
class VmDefaults:
    """Virtual-machine defaults a profile carries; ``None`` means inherit."""

    ram_mb: int | None = None
    vcpus: int | None = None
    disk_gb: int | None = None
    disk_bus: str | None = None
    bridge: str | None = None
    hypervisor: str | None = None
    virt_type: str | None = None

    def __post_init__(self) -> None:
        for name in ("ram_mb", "vcpus", "disk_gb"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise Invalid(f"{name} must be a positive integer, not {v!r}", field=name)
        for name, allowed in (("disk_bus", DISK_BUSES), ("hypervisor", HYPERVISORS),
                              ("virt_type", VIRT_TYPES)):
            v = getattr(self, name)
            if v is not None and v not in allowed:
                raise Invalid(f"{name} must be one of {', '.join(allowed)}, not {v!r}", field=name)


@dataclass(frozen=True)
class Distro:
    """An installable OS tree: kernel, initrd and install tree for one arch."""

    name: str
    arch: str = "x86_64"
    os_version: str = "rhel9"
    breed: str = "redhat"
    kernel: str = ""
    initrd: str = ""
    tree_url: str = ""
    kernel_options: str = ""

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "arch", normalize_arch(self.arch))
        if self.breed not in BREEDS:
            raise Invalid(f"breed must be one of {', '.join(BREEDS)}", field="breed")
        if not re.match(r"^[a-z]+[0-9][0-9.]*$|^generic$", self.os_version):
            raise Invalid(f"bad os_version {self.os_version!r} (e.g. rhel5.4, rhel9)",
                          field="os_version")
        if self.tree_url:
            check_url(self.tree_url, "tree_url")
        for what in ("kernel", "initrd"):
            if getattr(self, what):
                check_url(getattr(self, what), what, ("http", "https"))


@dataclass(frozen=True)
class Profile:
    """A distro plus a kickstart template and settings; may inherit from a parent profile."""

    name: str
    distro: str | None = None
    parent: str | None = None
    kickstart: str | None = None
    kernel_options: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    vm: VmDefaults = field(default_factory=VmDefaults)

    def __post_init__(self) -> None:
        check_name(self.name)
        if (self.distro is None) == (self.parent is None):
            raise Invalid("a profile names exactly one of distro or parent", field="distro")
        if self.parent == self.name:
            raise Invalid("a profile cannot be its own parent", field="parent")


@dataclass(frozen=True)
class Interface:
    """One NIC of a system: MAC, optional static IP and the bridge it sits on."""

    mac: str
    ip: str | None = None
    name: str = "eth0"
    bridge: str | None = None
    netmask: str | None = None
    gateway: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mac", normalize_mac(self.mac))
        for what in ("ip", "netmask", "gateway"):
            v = getattr(self, what)
            if v is not None:
                try:
                    ipaddress.IPv4Address(v)
                except ValueError:
                    raise Invalid(f"bad {what} {v!r}", field=what) from None


@dataclass(frozen=True)
class System:
    """A machine to install: a profile, interfaces, and its one-shot netboot flag."""

    name: str
    profile: str
    hostname: str | None = None
    interfaces: tuple[Interface, ...] = ()
    netboot_enabled: bool = True
    kernel_options: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    vm: VmDefaults = field(default_factory=VmDefaults)
    status: str = "new"
    token: str = ""

    def __post_init__(self) -> None:
        check_name(self.name)
        check_name(self.profile, "profile")
        if self.hostname is not None:
            for label in self.hostname.split("."):
                check_name(label, "hostname")
        object.__setattr__(self, "interfaces", tuple(self.interfaces))
        macs = [i.mac for i in self.interfaces]
        if len(set(macs)) != len(macs):
            raise Invalid("a MAC address appears twice on this system", field="interfaces")
        if self.status not in SYSTEM_STATUSES:
            raise Invalid(f"status must be one of {', '.join(SYSTEM_STATUSES)}", field="status")

    @property
    def macs(self) -> tuple[str, ...]:
        return tuple(i.mac for i in self.interfaces)


@dataclass(frozen=True)
class Event:
    """One entry in a system's (or order's) timeline."""

    subject: str  # "system:<name>" or "order:<id>"
    kind: str  # e.g. "kickstart", "boot-config", "dhcp-ack", "tftp", "callback:done"
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0  # seconds since the epoch
    id: int | None = None


@dataclass(frozen=True)
class Resolved:
    """A resolved value and where it came from.

    ``source`` is ``system``, ``profile:<n>``, ``distro:<n>`` or ``settings``.
    """

    value: Any
    source: str


@dataclass(frozen=True)
class BootContext:
    """Everything a renderer needs for one machine: system (if known), profile chain, distro."""

    distro: Distro
    profiles: tuple[Profile, ...]  # most specific first
    system: System | None = None
    values: dict[str, Resolved] = field(default_factory=dict)
    server: str = ""  # base URL of the appliance as seen by the client, e.g. http://10.0.0.1:8080
    mac: str | None = None

    @property
    def profile(self) -> Profile:
        return self.profiles[0]

    def value(self, key: str, default: Any = None) -> Any:
        r = self.values.get(key)
        return default if r is None else r.value


@dataclass(frozen=True)
class DhcpRecord:
    """What DHCP needs to know about a MAC from the inventory (reservation + boot policy)."""

    mac: str
    system: str
    ip: str | None = None
    hostname: str | None = None
    netboot_enabled: bool = True
    arch: str = "x86_64"
    options: dict[int, str] = field(default_factory=dict)  # per-system dhcp-option overrides
