"""Served interfaces' IPv6 side, read with pyroute2: MAC, link-local and global addresses.

For the DHCPv6 server (its subnets and DUID), the router advertisement sender (prefixes,
source link-layer address) and TFTP/HTTP/DNS on IPv6. An interface without a global IPv6
address is returned with no ``addrs`` (it can still get advertisements without a prefix);
addresses still in duplicate address detection (tentative) are left out. Configured
(permanent) addresses come before autoconfigured ones (SLAAC, privacy): the first address of a
prefix is "our address" there (boot URLs, DNS), and an address the bridge picked up from some
router's advertisement is not one the appliance's HTTP server listens on.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from pyroute2 import IPRoute

from provisioner.errors import Invalid
from provisioner.proto.dhcp6.config import Iface6

SCOPE_GLOBAL, SCOPE_LINK = 0, 253
IFA_F_TENTATIVE, IFA_F_DADFAILED, IFA_F_PERMANENT = 0x40, 0x08, 0x80


def served_ifaces6(names: Sequence[str]) -> list[Iface6]:
    """One :class:`Iface6` per named interface, in order; :class:`Invalid` if one is missing."""
    out: list[Iface6] = []
    with IPRoute() as ipr:
        for name in names:
            idx = ipr.link_lookup(ifname=name)
            if not idx:
                raise Invalid(f"interface {name!r} does not exist", field="interfaces")
            [link] = ipr.get_links(idx[0])
            mac = link.get_attr("IFLA_ADDRESS") or "00:00:00:00:00:00"
            link_local, addrs = "", []
            for a in ipr.get_addr(index=idx[0], family=socket.AF_INET6):
                flags = a.get_attr("IFA_FLAGS") or a["flags"]
                if flags & (IFA_F_DADFAILED | IFA_F_TENTATIVE):
                    continue  # not usable (yet): binding to it fails
                ip = a.get_attr("IFA_ADDRESS")
                if a["scope"] == SCOPE_LINK:
                    link_local = link_local or ip
                elif a["scope"] == SCOPE_GLOBAL:
                    addrs.append((not flags & IFA_F_PERMANENT, ip, a["prefixlen"]))
            addrs.sort(key=lambda x: x[0])  # stable: configured first, kernel order otherwise
            out.append(Iface6(name, mac, link_local, tuple((ip, n) for _, ip, n in addrs)))
    return out
