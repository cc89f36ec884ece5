"""What a boot needs from the inventory: resolved values, the renderers' context, DHCP's record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.models.inventory import Distro, Profile, System


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
    secure_boot: bool = False  # metadata.secure_boot (system, else its profiles): signed chain only
    ipv6: str | None = None  # reserved DHCPv6 address
    duid: str | None = None
    boot_params: tuple[str, ...] = ()  # DHCPv6 option 60 (metadata.dhcp6_bootfile_param)
