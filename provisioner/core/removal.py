"""What else goes when something is deleted: the sentences the confirmation step shows.

Pure functions over the records involved (the caller reads them from the store and the DHCP
lease table). Each sentence says what happens to one dependent thing: the netboot token whose
URLs stop working, each DHCP lease (kept by the DHCP server until it expires, but no longer tied
to the machine), the guest and its disk an order's agent removes, the profiles or systems that
block a removal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from provisioner.core.event_text import duration
from provisioner.models import Order, Profile, System


def _leases(leases: Iterable[Mapping[str, Any]], now: float) -> list[str]:
    out = []
    for row in leases:
        left = row.get("expires")
        when = (f"until it expires in {duration(float(left) - now)}"
                if isinstance(left, int | float) and left > now else "until it expires")
        out.append(f"its DHCP lease {row.get('ip')} ({row.get('mac')}) stays with the DHCP "
                   f"server {when}, no longer tied to a system")
    return out


def system_effects(system: System, leases: Iterable[Mapping[str, Any]], now: float,
                   order: Order | None = None) -> list[str]:
    """Deleting a system: its token, interfaces/reservations, leases, and its order if any."""
    out = []
    if order is not None:
        out.append(f"it belongs to order {order.name}: the guest stays defined on "
                   f"{order.host or 'its host'}; delete the order instead to remove the guest "
                   "and its disk")
    if system.token:
        out.append("its netboot token: its kickstart and install-callback URLs stop working")
    for iface in system.interfaces:
        what = f"interface {iface.mac}"
        if iface.ip:
            what += f" and its reserved address {iface.ip} (and the DNS name)"
        out.append(what + ": DHCP no longer knows the machine")
    out += _leases(leases, now)
    out.append("its timeline is kept (`provisioner timeline " + system.name + "`)")
    return out


def profile_effects(profile: Profile, children: Iterable[Profile],
                    systems: Iterable[System]) -> list[str]:
    """Deleting a profile: nothing else goes; what uses it blocks the deletion."""
    kids = [p.name for p in children]
    users = [s.name for s in systems]
    out = []
    if kids:
        out.append(f"it cannot be removed while profiles {', '.join(kids)} inherit from it")
    if users:
        out.append(f"it cannot be removed while systems {', '.join(users)} use it")
    if not out:
        out.append("no system or profile uses it; its kickstart template file is kept")
    return out


def order_effects(order: Order, system: System | None, leases: Iterable[Mapping[str, Any]],
                  now: float, agent_has_it: bool) -> list[str]:
    """Deleting an order: the guest and disk (through the agent), the system and its leases."""
    out = []
    if agent_has_it:
        out.append(f"the guest {order.name} and its disk on {order.host}: the host's agent "
                   "destroys and removes them")
    elif order.host:
        out.append(f"the work queued for {order.host} is withdrawn (the agent has not "
                   "started it)")
    if system is not None:
        out.append(f"system {system.name} and its netboot token (kickstart and callback URLs "
                   "stop working)")
        out += _leases(leases, now)
    return out
