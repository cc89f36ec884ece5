"""The inventory: distros, profiles and systems (with their interfaces and VM defaults).

Values are frozen dataclasses that normalise themselves at construction (MACs lower-case with
colons, arches canonical), so matching elsewhere is plain equality. They carry no storage or I/O.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from provisioner.errors import Invalid
from provisioner.models.names import (
    BREEDS,
    DISK_BUSES,
    HYPERVISORS,
    SYSTEM_STATUSES,
    VIRT_TYPES,
    check_name,
    check_url,
    normalize_arch,
    normalize_duid,
    normalize_mac,
)


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


def path_within(path: str, roots: tuple[str, ...] | list[str]) -> bool:
    """``path`` is one of ``roots`` or below one. Both sides are absolute and already resolved
    (``os.path.realpath``: no ``..``, no symlinks); pure string logic, no file access."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots if r)


ASSET_HINT = ("put the file at <assets_dir>/<distro>/kernel (or initrd) and leave the field "
              "empty, `provisioner import` the install tree (it copies both), or list the "
              "file's directory in the setting asset_roots")


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
    ipv6: str | None = None  # reserved DHCPv6 address (unique)
    duid: str | None = None  # DHCPv6 client DUID (hex): reservation by DUID (unique)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mac", normalize_mac(self.mac))
        if self.ipv6 is not None:
            try:
                object.__setattr__(self, "ipv6", str(ipaddress.IPv6Address(self.ipv6)))
            except ValueError:
                raise Invalid(f"bad ipv6 {self.ipv6!r}", field="ipv6") from None
        if self.duid is not None:
            object.__setattr__(self, "duid", normalize_duid(self.duid))
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


@dataclass(frozen=True, slots=True)
class Change:
    """One inventory write, as the store's change counter logs it (``store/changes.py``)."""

    revision: int
    entity: str  # distro | profile | system
    name: str
