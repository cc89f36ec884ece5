"""What else goes when something is deleted: the sentences the confirmation step shows.

Pure functions over the records involved (the caller reads them from the store and the DHCP
lease table). Each sentence says what happens to one dependent thing: the netboot token whose
URLs stop working, each DHCP lease (kept by the DHCP server until it expires, but no longer tied
to the machine), the guest and its disk an order's agent removes, the profiles or systems that
block a removal, a host's guests and waiting work, a user's orders, the API tokens that remain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from provisioner.core.event_text import duration
from provisioner.models import ApiToken, Distro, Host, Order, Profile, System, User, WorkItem


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


#: order states whose guest no longer exists (or never will)
GONE = ("cancelled", "deleted")


def distro_effects(distro: Distro, profiles: Iterable[Profile]) -> list[str]:
    """Deleting a distro: refused while profiles use it; its boot files stay on disk."""
    users = [p.name for p in profiles]
    if users:
        return [f"it cannot be removed while profiles {', '.join(users)} use it: point them at "
                "another distro or remove them first"]
    out = ["no profile uses it"]
    files = [f for f in (distro.kernel, distro.initrd) if f]
    if files:
        out.append(f"its boot files stay on disk ({', '.join(files)})")
    return out


def host_effects(host: Host, placed: Iterable[Order], work: Iterable[WorkItem]) -> list[str]:
    """Forgetting a host: its token (or agent loop), the guests its orders made, waiting work."""
    if host.agentless:
        out = ["the appliance stops the agent loop it runs for it (agentless host)"]
    else:
        out = ["its agent's token stops working (the agent must be given a new one)"]
    live = [o for o in placed if o.state not in GONE]
    if live:
        guests = ", ".join(f"{o.name} ({o.state})" for o in live)
        out.append(f"guests of orders placed on it stay defined there: {guests}; delete those "
                   "orders first to have its agent remove them")
    waiting = [w for w in work if w.state in ("queued", "leased")]
    if waiting:
        what = ", ".join(f"{w.kind} {w.payload.get('name') or w.id} ({w.state})"
                         for w in waiting)
        out.append(f"{len(waiting)} work item(s) waiting for it are never done (unless a host "
                   f"of this name registers again): {what}")
    if not live and not waiting:
        out.append("no order or waiting work refers to it")
    return out


def user_effects(user: User, owned: Iterable[Order], admins: int) -> list[str]:
    """Deleting a user: log-in ends; their orders and guests stay (refused for the last admin)."""
    if user.role == "admin" and admins <= 1:
        return ["it cannot be removed: it is the last admin (make another admin first)"]
    out = ["they can no longer log in"]
    live = [o for o in owned if o.state not in GONE]
    if live:
        listed = ", ".join(f"{o.name} ({o.state}{' on ' + o.host if o.host else ''})"
                           for o in live)
        out.append(f"their orders and guests stay (admins still see and can delete them): "
                   f"{listed}")
    else:
        out.append("they have no order")
    out.append("API tokens belong to no user: revoke any they used on the API tokens page")
    return out


def token_effects(token: ApiToken, others: Iterable[ApiToken], bootstrap: bool,
                  now: float) -> list[str]:
    """Revoking an API token: who loses API writes, and what still writes afterwards."""
    age = f" (made {duration(now - token.created)} ago)" if token.created else ""
    out = [f"scripts using it{age} can no longer write through the API"]
    rest = [t.name for t in others if t.name != token.name]
    if rest:
        out.append(f"the other API tokens keep working: {', '.join(rest)}")
    elif bootstrap:
        out.append("it is the last API token made here; the bootstrap token of the settings "
                   "(api_token) keeps working")
    else:
        out.append("it is the last API token: nothing can write through the API until a new "
                   "one is made (this page or `provisioner token create NAME`)")
    return out
