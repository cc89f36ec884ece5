"""Served interfaces and their IPv4 addresses, read with pyroute2 (netlink).

:func:`served_addresses` turns ``settings.interfaces`` into :class:`IfaceAddr` values for the
DHCP configuration. Loopback is refused (DHCP and PXE never run there); serving the interface
that carries the default route is allowed but logged as a warning, because answering DHCP on an
uplink can take over someone else's network.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence

from pyroute2 import AsyncIPRoute, IPRoute

from provisioner.errors import Invalid
from provisioner.proto.dhcp.config import IfaceAddr

log = logging.getLogger("provisioner.net")
IFF_LOOPBACK = 0x8


def served_addresses(names: Sequence[str], *, require_ipv4: bool = True) -> list[IfaceAddr]:
    """IPv4 addresses of the named interfaces, in order; :class:`Invalid` if one is unusable.

    ``require_ipv4=False`` (no DHCPv4 served): an interface without IPv4 contributes nothing
    (an IPv6-only link for DHCPv6, router advertisements, TFTP and DNS on IPv6)."""
    out: list[IfaceAddr] = []
    with IPRoute() as ipr:
        default_oifs = {r.get_attr("RTA_OIF")
                        for r in ipr.get_default_routes(family=socket.AF_INET)}
        for name in names:
            idx = ipr.link_lookup(ifname=name)
            if not idx:
                raise Invalid(f"interface {name!r} does not exist", field="interfaces")
            [link] = ipr.get_links(idx[0])
            if link["flags"] & IFF_LOOPBACK:
                raise Invalid(f"refusing to serve DHCP/PXE on loopback {name!r}",
                              field="interfaces")
            if idx[0] in default_oifs:
                log.warning("serving %s, which carries the default route: make sure no other "
                            "DHCP server answers on that network", name)
            addrs = [IfaceAddr(name, a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                     for a in ipr.get_addr(index=idx[0], family=socket.AF_INET)]
            if not addrs and require_ipv4:
                raise Invalid(f"interface {name!r} has no IPv4 address", field="interfaces")
            out.extend(addrs)
    return out


def ifindex(name: str) -> int:
    """The kernel index of interface ``name`` (0 if it does not exist)."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0


class Neighbours:
    """Installs ARP entries so a reply can be unicast to a client that has no address yet.

    Uses pyroute2's asyncio API (its synchronous ``IPRoute`` cannot run inside a running loop).
    """

    def __init__(self) -> None:
        self._ipr: AsyncIPRoute | None = None

    async def install(self, ip: str, mac: str, ifname: str) -> bool:
        idx = ifindex(ifname)
        if not idx:
            return False
        try:
            if self._ipr is None:
                self._ipr = AsyncIPRoute()
                await self._ipr.__aenter__()
            await self._ipr.neigh("replace", dst=ip, lladdr=mac, ifindex=idx, state=0x02)
            return True
        except Exception as exc:  # netlink errors vary; the caller falls back to broadcast
            log.warning("cannot add neighbour %s -> %s on %s: %s", ip, mac, ifname, exc)
            return False

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
