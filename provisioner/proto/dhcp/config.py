"""dnsmasq-like DHCP configuration, parsed into values (pure; no interface probing here).

Syntax accepted (as in dnsmasq's ``dhcp-range`` / ``dhcp-option`` lines, without ``tag:``):

* range ``start,end[,netmask][,lease]``; lease is ``12h``, ``45m``, ``30s``, ``3600``, ``1d``,
  ``1w`` or ``infinite``; default 1h; under 2 minutes is raised to 2 minutes (dnsmasq's floor).
  Without a netmask the subnet is the serving interface's (or /24 around ``start``).
* option ``code|option:name|name,value[,value...]``, e.g. ``3,10.1.1.1`` or ``option:dns-server,
  10.1.1.1,10.1.1.2``. An empty value (``3``) means "do not send this option".

:func:`build_subnets` joins ranges and options with the served interfaces' addresses
(from ``net/ifaces.py``) into :class:`Subnet` values; the router and DNS server default to the
serving address, as dnsmasq does. Configured options apply to every subnet (dnsmasq's
``tag:`` selectors are not supported); per-system options come from the inventory record.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from provisioner.proto.dhcp.options import option_code, parse_value

DEFAULT_LEASE = 3600
MIN_LEASE = 120
INFINITE = 0xFFFFFFFF
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ConfigError(ValueError):
    """A DHCP configuration line is invalid (message names the line)."""


def parse_lease_time(text: str) -> int:
    """``12h`` -> 43200; ``infinite`` -> :data:`INFINITE`; at least :data:`MIN_LEASE`."""
    t = text.strip().lower()
    if t in ("infinite", "inf"):
        return INFINITE
    m = re.fullmatch(r"(\d+)([smhdw]?)", t)
    if not m:
        raise ConfigError(f"bad lease time {text!r} (e.g. 12h, 45m, 3600, infinite)")
    return max(MIN_LEASE, int(m.group(1)) * _UNITS[m.group(2)])


@dataclass(frozen=True)
class DhcpRange:
    """One ``dhcp-range``: inclusive ``start``..``end`` (ints), optional netmask, lease seconds."""

    start: int
    end: int
    netmask: int | None = None
    lease: int = DEFAULT_LEASE

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def __contains__(self, ip: int) -> bool:
        return self.start <= ip <= self.end


def _ip(text: str, what: str) -> int:
    try:
        return int(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        raise ConfigError(f"bad {what} {text!r}") from None


def parse_range(text: str) -> DhcpRange:
    """``10.1.1.10,10.1.1.50,255.255.255.0,12h`` -> a 41-address :class:`DhcpRange`."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) < 2 or len(parts) > 4:
        raise ConfigError(f"bad dhcp-range {text!r}: want start,end[,netmask][,lease]")
    start, end = _ip(parts[0], "range start"), _ip(parts[1], "range end")
    if end < start:
        raise ConfigError(f"bad dhcp-range {text!r}: end before start")
    netmask, lease = None, DEFAULT_LEASE
    rest = parts[2:]
    if rest and "." in rest[0]:
        netmask = _ip(rest.pop(0), "netmask")
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{ipaddress.IPv4Address(netmask)}")
        except ValueError:
            raise ConfigError(f"bad netmask in dhcp-range {text!r}") from None
        if (start & netmask) != (end & netmask):
            raise ConfigError(f"bad dhcp-range {text!r}: start and end in different subnets")
    if rest:
        lease = parse_lease_time(rest.pop(0))
    if rest:
        raise ConfigError(f"bad dhcp-range {text!r}")
    return DhcpRange(start, end, netmask, lease)


def parse_option(text: str) -> tuple[int, bytes | None]:
    """``3,10.1.1.1`` -> ``(3, b'\\n\\x01\\x01\\x01')``; ``3`` alone -> ``(3, None)`` (suppress)."""
    key, _, value = text.partition(",")
    try:
        code = option_code(key)
        if not value.strip():
            return code, None
        return code, parse_value(code, value)
    except ValueError as exc:
        raise ConfigError(f"bad dhcp-option {text!r}: {exc}") from None


@dataclass(frozen=True)
class IfaceAddr:
    """An address on a served interface (from pyroute2), e.g. ``br0 10.77.0.1/24``."""

    ifname: str
    ip: str
    prefixlen: int


@dataclass(frozen=True)
class Subnet:
    """One served subnet: its network, the serving address, pool ranges and reply options."""

    network: ipaddress.IPv4Network
    server_ip: str  # our address on this subnet (server identifier, default router/DNS)
    ifname: str | None  # None for a relayed-only subnet
    ranges: tuple[DhcpRange, ...] = ()
    options: dict[int, bytes] = field(default_factory=dict)  # final option set (defaults applied)

    _lo: int = field(init=False, repr=False, compare=False)
    _hi: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lo", int(self.network.network_address))
        object.__setattr__(self, "_hi", int(self.network.broadcast_address))

    @property
    def lease(self) -> int:
        return self.ranges[0].lease if self.ranges else DEFAULT_LEASE

    def in_pool(self, ip: int) -> bool:
        return any(r.start <= ip <= r.end for r in self.ranges)

    def contains(self, ip: int) -> bool:
        return self._lo <= ip <= self._hi


def build_subnets(addrs: Sequence[IfaceAddr], ranges: Iterable[str], options: Iterable[str],
                  dns_enabled: bool = False, domain: str | None = None) -> list[Subnet]:
    """Join interface addresses, ranges and options into subnets.

    Each range belongs to the interface subnet that contains it; a range outside every interface
    subnet (relayed networks) needs a netmask and is served via the first interface's address.
    Proxy mode passes no ranges: one subnet per interface address, without a pool.
    """
    opts: dict[int, bytes | None] = dict(parse_option(o) for o in options)
    parsed = [parse_range(r) for r in ranges]
    subnets: dict[ipaddress.IPv4Network, tuple[IfaceAddr | None, str, list[DhcpRange]]] = {}
    for a in addrs:
        net = ipaddress.IPv4Network(f"{a.ip}/{a.prefixlen}", strict=False)
        subnets.setdefault(net, (a, a.ip, []))
    for r in parsed:
        home = next((n for n in subnets if int(n.network_address) <= r.start
                     and r.end <= int(n.broadcast_address)), None)
        if home is None:
            if r.netmask is None:
                raise ConfigError(f"dhcp-range {ipaddress.IPv4Address(r.start)}-"
                                  f"{ipaddress.IPv4Address(r.end)} is on no served interface; "
                                  "give a netmask for a relayed subnet")
            if not addrs:
                raise ConfigError("no served interface address for a relayed subnet")
            start, mask = ipaddress.IPv4Address(r.start), ipaddress.IPv4Address(r.netmask)
            home = ipaddress.IPv4Network(f"{start}/{mask}", strict=False)
            subnets.setdefault(home, (None, addrs[0].ip, []))
        subnets[home][2].append(r)
    out = []
    for net, (iface, server_ip, rs) in subnets.items():
        final: dict[int, bytes] = {1: net.netmask.packed, 28: net.broadcast_address.packed}
        if iface is not None:
            final[3] = ipaddress.IPv4Address(server_ip).packed
        if dns_enabled:
            final[6] = ipaddress.IPv4Address(server_ip).packed
        if domain:
            final[15] = domain.encode()
        for code, value in opts.items():
            if value is None:
                final.pop(code, None)
            else:
                final[code] = value
        out.append(Subnet(net, server_ip, iface.ifname if iface else None, tuple(rs), final))
    return out


# --- dnsmasq.conf ------------------------------------------------------------------------

#: dnsmasq keys we read, and the Settings field each one fills (lists accumulate).
DNSMASQ_KEYS = {"interface": "interfaces", "dhcp-range": "dhcp_ranges",
                "dhcp-option": "dhcp_options", "domain": "domain", "port": "dns_port",
                "resolv-file": "upstream_resolv_conf", "enable-tftp": "tftp_enabled",
                "tftp-root": "tftp_root"}
#: dnsmasq keys that are accepted and have no effect here (with the reason, for the log).
DNSMASQ_IGNORED = {
    "dhcp-authoritative": "this server is always authoritative for its ranges",
    "dhcp-leasefile": "leases are kept in <data_dir>/dhcp-leases.journal",
    "dhcp-boot": "boot files are chosen per firmware (boot/decide.py)",
    "bind-interfaces": "sockets are always bound to the served interfaces",
    "no-daemon": "", "keep-in-foreground": "", "log-dhcp": "", "log-queries": "",
    "no-hosts": "", "domain-needed": "", "bogus-priv": "", "expand-hosts": "",
}


def parse_dnsmasq_conf(text: str) -> tuple[dict[str, object], list[str]]:
    """Read dnsmasq.conf lines (as in the seed's setup) into Settings overrides.

    Returns ``(overrides, notes)``; ``notes`` names the lines that have no effect here. An
    unknown key, a ``tag:``/``set:`` selector (not supported) or a bad value raises
    :class:`ConfigError` naming the line.
    """
    out: dict[str, object] = {}
    notes: list[str] = []
    lists = {"interfaces", "dhcp_ranges", "dhcp_options"}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = (p.strip() for p in line.partition("="))
        where = f"line {n}: {raw.strip()!r}"
        if key in DNSMASQ_IGNORED:
            notes.append(f"{where} ignored" + (f": {DNSMASQ_IGNORED[key]}"
                                               if DNSMASQ_IGNORED[key] else ""))
            continue
        if key not in DNSMASQ_KEYS:
            raise ConfigError(f"{where}: unsupported dnsmasq option {key!r}")
        if any(v.strip().startswith(("tag:", "set:", "net:")) for v in value.split(",")):
            raise ConfigError(f"{where}: tags (tag:/set:) are not supported")
        field_name = DNSMASQ_KEYS[key]
        if key == "dhcp-range":
            parse_range(value)
        elif key == "dhcp-option":
            parse_option(value)
        elif key == "port":
            if not value.isdigit():
                raise ConfigError(f"{where}: port must be a number")
            out["dns_enabled"] = value != "0"
            if value != "0":
                out["dns_port"] = int(value)
            continue
        elif key == "enable-tftp":
            out["tftp_enabled"] = True
            continue
        elif not value:
            raise ConfigError(f"{where}: {key} needs a value")
        if field_name in lists:
            out[field_name] = (*out.get(field_name, ()), value)  # type: ignore[misc]
        else:
            out[field_name] = value
    if "dhcp_ranges" in out:
        out["dhcp_enabled"] = True
    return out, notes
