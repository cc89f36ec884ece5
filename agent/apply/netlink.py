"""Live network operations behind one small interface: pyroute2 (real) or in-memory (fake).

``Pyroute2Net(netns=...)`` talks netlink inside the named namespace; the agent CLI only
constructs it with an explicit namespace or an explicit ``--live-host`` flag.
``FakeNet`` models links, addresses and routes in memory for unit tests of the applier.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Protocol

_KEEP = object()


@dataclass(frozen=True)
class LinkState:
    name: str
    kind: str = ""
    master: str | None = None
    mtu: int = 1500
    up: bool = False
    mac: str = ""
    stp: bool | None = None
    forward_delay: int | None = None   # seconds


@dataclass(frozen=True)
class RouteState:
    dst: str                 # "default" or "a.b.c.d/n"
    dev: str
    gateway: str | None = None
    metric: int | None = None
    proto: str | None = None
    scope: str | None = None


class NetOps(Protocol):
    def links(self) -> dict[str, LinkState]: ...
    def addrs(self, name: str) -> list[str]: ...
    def routes(self) -> list[RouteState]: ...
    def add_link(self, name: str, kind: str) -> None: ...
    def del_link(self, name: str) -> None: ...
    def set_link(self, name: str, *, mtu: int | None = None, up: bool | None = None,
                 master: object = _KEEP, stp: bool | None = None,
                 forward_delay: int | None = None, mac: str | None = None) -> None: ...
    def add_addr(self, name: str, cidr: str) -> None: ...
    def del_addr(self, name: str, cidr: str) -> None: ...
    def add_route(self, dst: str, dev: str, gateway: str | None = None,
                  metric: int | None = None) -> None: ...
    def del_route(self, dst: str, dev: str, gateway: str | None = None,
                  metric: int | None = None) -> None: ...


KEEP = _KEEP


class Pyroute2Net:
    """NetOps over pyroute2 ``IPRoute``; ``netns`` selects a namespace (None = this one)."""

    def __init__(self, netns: str | None) -> None:
        from pyroute2 import IPRoute  # only here: tests of pure code never need netlink

        self._ipr = IPRoute(netns=netns) if netns else IPRoute()

    def close(self) -> None:
        self._ipr.close()

    def _idx(self, name: str) -> int:
        found = self._ipr.link_lookup(ifname=name)
        if not found:
            raise LookupError(f"no such link: {name}")
        return found[0]

    def links(self) -> dict[str, LinkState]:
        raw = list(self._ipr.get_links())
        names = {m["index"]: m.get("ifname") for m in raw}
        out = {}
        for m in raw:
            kind = m.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or ""
            stp = fd = None
            if kind == "bridge":
                stp = bool(m.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_BR_STP_STATE"))
                fd = (m.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA",
                                   "IFLA_BR_FORWARD_DELAY") or 0) // 100
            name = m.get("ifname")
            out[name] = LinkState(name=name, kind=kind, master=names.get(m.get("master")),
                                  mtu=m.get("mtu"), up=bool(m["flags"] & 1),
                                  mac=m.get("address") or "", stp=stp, forward_delay=fd)
        return out

    def addrs(self, name: str) -> list[str]:
        idx = self._idx(name)
        return [f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}" for a in self._ipr.get_addr(index=idx)
                if a["scope"] == 0]

    def routes(self) -> list[RouteState]:
        names = {m["index"]: m.get("ifname") for m in self._ipr.get_links()}
        out = []
        for r in self._ipr.get_routes(family=2, table=254):
            dst = r.get("RTA_DST")
            out.append(RouteState(
                dst="default" if r["dst_len"] == 0 else f"{dst}/{r['dst_len']}",
                dev=names.get(r.get("RTA_OIF"), ""), gateway=r.get("RTA_GATEWAY"),
                metric=r.get("RTA_PRIORITY"), proto=str(r["proto"]), scope=str(r["scope"])))
        return out

    def add_link(self, name: str, kind: str) -> None:
        self._ipr.link("add", ifname=name, kind=kind)

    def del_link(self, name: str) -> None:
        self._ipr.link("del", index=self._idx(name))

    def set_link(self, name, *, mtu=None, up=None, master=_KEEP, stp=None, forward_delay=None,
                 mac=None) -> None:
        idx = self._idx(name)
        if master is not _KEEP:
            self._ipr.link("set", index=idx, master=self._idx(master) if master else 0)
        if mtu is not None:
            self._ipr.link("set", index=idx, mtu=mtu)
        if mac is not None:
            self._ipr.link("set", index=idx, address=mac)
        if stp is not None or forward_delay is not None:
            kw = {}
            if stp is not None:
                kw["br_stp_state"] = 1 if stp else 0
            if forward_delay is not None:
                kw["br_forward_delay"] = forward_delay * 100
            self._ipr.link("set", index=idx, kind="bridge", **kw)
        if up is not None:
            self._ipr.link("set", index=idx, state="up" if up else "down")

    def add_addr(self, name: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        self._ipr.addr("add", index=self._idx(name), address=str(iface.ip),
                       prefixlen=iface.network.prefixlen)

    def del_addr(self, name: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        self._ipr.addr("del", index=self._idx(name), address=str(iface.ip),
                       prefixlen=iface.network.prefixlen)

    def _route_kw(self, dst, dev, gateway, metric) -> dict:
        kw: dict = {"dst": "0.0.0.0/0" if dst == "default" else dst, "oif": self._idx(dev)}
        if gateway:
            kw["gateway"] = gateway
        if metric is not None:
            kw["priority"] = metric
        return kw

    def add_route(self, dst, dev, gateway=None, metric=None) -> None:
        self._ipr.route("add", **self._route_kw(dst, dev, gateway, metric))

    def del_route(self, dst, dev, gateway=None, metric=None) -> None:
        self._ipr.route("del", **self._route_kw(dst, dev, gateway, metric))


@dataclass
class FakeNet:
    """In-memory links/addresses/routes with the kernel's main side effects:
    deleting an address drops the routes through its subnet; a link must exist to be used."""

    link_map: dict[str, LinkState] = field(default_factory=dict)
    addr_map: dict[str, list[str]] = field(default_factory=dict)
    route_list: list[RouteState] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)   # method names that raise once

    def _check(self, op: str, name: str | None = None) -> None:
        if op in self.fail_on:
            self.fail_on.discard(op)
            raise OSError(f"injected failure in {op}")
        if name is not None and name not in self.link_map:
            raise LookupError(f"no such link: {name}")

    def links(self):
        return dict(self.link_map)

    def addrs(self, name):
        self._check("addrs", name)
        return list(self.addr_map.get(name, []))

    def routes(self):
        return list(self.route_list)

    def add_link(self, name, kind):
        self._check("add_link")
        if name in self.link_map:
            raise FileExistsError(name)
        self.link_map[name] = LinkState(name, kind, mac="02:00:00:00:00:01",
                                        stp=False if kind == "bridge" else None,
                                        forward_delay=15 if kind == "bridge" else None)

    def del_link(self, name):
        self._check("del_link", name)
        del self.link_map[name]
        self.addr_map.pop(name, None)
        self.route_list = [r for r in self.route_list if r.dev != name]
        for n, link in list(self.link_map.items()):
            if link.master == name:
                self.link_map[n] = replace(link, master=None)

    def set_link(self, name, *, mtu=None, up=None, master=_KEEP, stp=None, forward_delay=None,
                 mac=None):
        self._check("set_link", name)
        link = self.link_map[name]
        if master is not _KEEP:
            if master:
                self._check("set_link", master)
            link = replace(link, master=master or None)
        for attr, val in (("mtu", mtu), ("up", up), ("stp", stp),
                          ("forward_delay", forward_delay), ("mac", mac)):
            if val is not None:
                link = replace(link, **{attr: val})
        self.link_map[name] = link

    def add_addr(self, name, cidr):
        self._check("add_addr", name)
        lst = self.addr_map.setdefault(name, [])
        if cidr in lst:
            raise FileExistsError(cidr)
        lst.append(cidr)
        net = ipaddress.ip_interface(cidr).network
        self.route_list.append(RouteState(str(net), name, proto="kernel", scope="link"))

    def del_addr(self, name, cidr):
        self._check("del_addr", name)
        self.addr_map[name].remove(cidr)
        net = ipaddress.ip_interface(cidr).network
        self.route_list = [r for r in self.route_list if not (
            r.dev == name and (r.dst == str(net) or (
                r.gateway and ipaddress.ip_address(r.gateway) in net)))]

    def add_route(self, dst, dev, gateway=None, metric=None):
        self._check("add_route", dev)
        r = RouteState(dst, dev, gateway, metric)
        if any((x.dst, x.dev, x.gateway, x.metric) == (dst, dev, gateway, metric)
               for x in self.route_list):
            raise FileExistsError(dst)
        self.route_list.append(r)

    def del_route(self, dst, dev, gateway=None, metric=None):
        self._check("del_route", dev)
        for x in self.route_list:
            if (x.dst, x.dev, x.gateway) == (dst, dev, gateway) and (
                    metric is None or x.metric == metric):
                self.route_list.remove(x)
                return
        raise LookupError(f"no route {dst} dev {dev}")


class ReadOnlyNet:
    """Wraps a NetOps for dry runs: reads pass through, any change raises."""

    def __init__(self, inner: NetOps) -> None:
        self._inner = inner

    def links(self):
        return self._inner.links()

    def addrs(self, name):
        return self._inner.addrs(name)

    def routes(self):
        return self._inner.routes()

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close:
            close()

    def __getattr__(self, name):
        if name in ("add_link", "del_link", "set_link", "add_addr", "del_addr", "add_route",
                    "del_route"):
            def refuse(*a, **kw):
                raise PermissionError(f"read-only network: {name} refused")
            return refuse
        raise AttributeError(name)
