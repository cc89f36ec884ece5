"""The domain model: frozen values that validate themselves, with no storage and no I/O.

Every layer imports it (core, store, render, proto, content, web): ``inventory`` (distros,
profiles, systems), ``boot`` (resolved values, the renderers' BootContext, DHCP's record),
``events`` (timelines and the one list of event kinds), ``power`` (how to reach a
system's power controller, its last state), ``fleet`` (API tokens, agent hosts,
work items, VM orders, UI users) and ``names`` (the normalisers). The core's use-cases own the
rules over them; the store only persists them (``core/ports.py`` declares what it must do).
"""

from __future__ import annotations

from provisioner.models.boot import BootContext, DhcpRecord, Resolved
from provisioner.models.events import (
    CALLBACK_EVENTS,
    Event,
    EventKind,
    discovered_subject,
    order_subject,
    system_subject,
)
from provisioner.models.fleet import WORK_STATES, ApiToken, Host, Order, User, WorkItem
from provisioner.models.inventory import (
    ASSET_HINT,
    Change,
    Distro,
    Interface,
    Profile,
    System,
    VmDefaults,
    path_within,
)
from provisioner.models.names import (
    ARCHES,
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
from provisioner.models.power import (
    BOOT_DEVICES,
    POWER_ACTIONS,
    POWER_DRIVERS,
    PowerConfig,
    PowerStatus,
    bmc_secret_name,
)

__all__ = [
    "ARCHES", "ASSET_HINT", "BOOT_DEVICES", "BREEDS", "CALLBACK_EVENTS", "DISK_BUSES",
    "HYPERVISORS", "POWER_ACTIONS", "POWER_DRIVERS", "SYSTEM_STATUSES", "VIRT_TYPES",
    "WORK_STATES", "ApiToken", "BootContext", "Change", "DhcpRecord", "Distro", "Event",
    "EventKind", "Host", "Interface", "Order", "PowerConfig", "PowerStatus", "Profile",
    "Resolved", "System", "User", "VmDefaults", "WorkItem", "bmc_secret_name", "check_name",
    "check_url", "discovered_subject", "normalize_arch", "normalize_duid", "normalize_mac",
    "order_subject", "path_within", "system_subject",
]
