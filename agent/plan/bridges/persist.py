"""The bridge across reboots, per distribution: ifcfg files (RHEL <= 8, the seed's way),
NetworkManager keyfiles (RHEL >= 9), ``/etc/network/interfaces`` (Debian)."""

from __future__ import annotations

import configparser
import io
import ipaddress
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from agent.facts.model import HostFacts, Nic
from agent.plan.bridges.ifcfg_edit import IfcfgEnslave, address_keys
from agent.plan.bridges.seedtext import (
    render_bridge_ifcfg,
    render_modprobe_dummy,
    render_nic_ifcfg,
)
from agent.plan.bridges.want import BridgeWant
from agent.plan.steps import (
    Command,
    Content,
    FileStep,
    LineRule,
    Lines,
    Step,
)

IFCFG_DIR = "/etc/sysconfig/network-scripts"
NM_DIR = "/etc/NetworkManager/system-connections"


def persist_kind(facts: HostFacts, want: BridgeWant) -> str:
    if want.persist != "auto":
        return want.persist
    d = facts.distro
    if d.family == "debian":
        return "debian"
    if d.family == "rhel":
        return "nm" if (d.version_tuple or (0,))[0] >= 9 else "ifcfg"
    return "none"


def ifcfg_steps(facts: HostFacts, want: BridgeWant, nic: Nic | None) -> list[Step]:
    net = facts.network
    nm = False if net.network_manager else None
    if want.lab:
        ip = ipaddress.ip_interface(want.lab_address)
        br = render_bridge_ifcfg(want.bridge, "none", extra={
            "IPADDR": str(ip.ip), "NETMASK": str(ip.netmask)}, stp=want.stp, nm_controlled=nm)
        port = render_nic_ifcfg(want.dummy, None, want.bridge, nm_controlled=nm)
        return [
            FileStep("/etc/modprobe.conf", Lines(tuple(
                LineRule(ln, "^" + re.escape(ln.rsplit(" ", 1)[0]) + r"(\s|$)")
                for ln in render_modprobe_dummy(1).splitlines())),
                why="load the dummy driver with one dummy0 at boot (seed 13.2)"),
            FileStep(f"{IFCFG_DIR}/ifcfg-{want.bridge}", Content(br),
                     why="persistent bridge holding the lab address"),
            FileStep(f"{IFCFG_DIR}/ifcfg-{want.dummy}", Content(port),
                     why="persistent dummy port of the bridge"),
        ]
    assert nic is not None
    old = net.ifcfg.get(nic.name, {})
    extra = address_keys(old) if want.move_addresses else {}
    bootproto = old.get("BOOTPROTO", "")
    if want.move_addresses and not old:
        v4 = [a for a in nic.addresses if ":" not in a]
        if v4:
            ip = ipaddress.ip_interface(v4[0])
            extra = {"IPADDR": str(ip.ip), "NETMASK": str(ip.netmask)}
            if net.default_route_dev == nic.name and net.default_gateway:
                extra["GATEWAY"] = net.default_gateway
            bootproto = "static"
    if not want.move_addresses or not bootproto:
        bootproto = "dhcp" if want.move_addresses else "none"
    if bootproto == "none" and extra:
        bootproto = "static"
    br = render_bridge_ifcfg(want.bridge, bootproto, extra=extra, stp=want.stp,
                             nm_controlled=nm)
    port = render_nic_ifcfg(nic.name, old.get("HWADDR") or nic.mac or None, want.bridge,
                            mtu=want.mtu, nm_controlled=nm)
    return [
        FileStep(f"{IFCFG_DIR}/ifcfg-{want.bridge}", Content(br),
                 why="the bridge at boot (seed 12.2; TYPE=Bridge is case-sensitive)"),
        FileStep(f"{IFCFG_DIR}/ifcfg-{nic.name}",
                 IfcfgEnslave(want.bridge, port, want.mtu, nm_controlled_no=nm is False),
                 why=f"{nic.name} joins {want.bridge} at boot (its other settings and "
                 "comments kept)"
                 + ("; NM_CONTROLLED=no keeps NetworkManager off it" if nm is False else "")),
    ]


def _keyfile(sections: dict[str, dict[str, str]]) -> str:
    out = []
    for name, kv in sections.items():
        out.append(f"[{name}]")
        out += [f"{k}={v}" for k, v in kv.items()]
        out.append("")
    return "\n".join(out)


def _read_keyfile(text: str) -> dict[str, dict[str, str]]:
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment]
    cp.read_file(io.StringIO(text))
    return {s: dict(cp.items(s)) for s in cp.sections()}


def nm_steps(facts: HostFacts, want: BridgeWant, nic: Nic | None) -> list[Step]:
    net = facts.network
    br_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"provisioner-agent:bridge:{want.bridge}"))
    port_name = want.dummy if want.lab else nic.name  # type: ignore[union-attr]
    found: dict[str, dict[str, str]] = {}
    fname = f"{port_name}.nmconnection"
    for f, text in net.nm_keyfiles.items():
        sec = _read_keyfile(text)
        if sec.get("connection", {}).get("interface-name") == port_name:
            found, fname = sec, f
            break
    ipv4, ipv6 = _nm_ip_settings(facts, want, nic, found)
    bridge = _keyfile({
        "connection": {"id": want.bridge, "uuid": br_uuid, "type": "bridge",
                       "interface-name": want.bridge},
        "bridge": {"stp": "true" if want.stp else "false",
                   "forward-delay": str(want.forward_delay),
                   **({"mac-address": nic.mac.upper()} if nic and nic.mac else {})},
        "ipv4": ipv4, "ipv6": ipv6,
    })
    return [
        FileStep(f"{NM_DIR}/{want.bridge}.nmconnection", Content(bridge), mode=0o600,
                 why="NetworkManager profile of the bridge (keyfile; ifcfg is gone on RHEL 9)"),
        FileStep(f"{NM_DIR}/{fname}", Content(_keyfile(_nm_port(want, port_name, found))),
                 mode=0o600,
                 why=f"{port_name} becomes a port of {want.bridge}; its IP settings moved"),
        Command(("nmcli", "connection", "reload"), only_if_changed=True,
                why="NetworkManager re-reads the keyfiles"),
    ]


def _nm_ip_settings(facts: HostFacts, want: BridgeWant, nic: Nic | None,
                    found: dict[str, dict[str, str]]
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """The bridge's [ipv4] and [ipv6]: the lab address, the port's own keyfile settings, or
    the NIC's first IPv4 address (with the gateway when it holds the default route)."""
    net = facts.network
    ipv4 = {"method": "auto"}
    ipv6 = {"method": "auto"}
    if want.lab:
        ipv4 = {"address1": want.lab_address, "method": "manual"}
        ipv6 = {"method": "disabled"}
    elif want.move_addresses and found:
        ipv4 = found.get("ipv4", ipv4)
        ipv6 = found.get("ipv6", ipv6)
    elif want.move_addresses and nic and nic.addresses:
        v4 = [a for a in nic.addresses if ":" not in a]
        gw = f",{net.default_gateway}" if net.default_route_dev == nic.name else ""
        ipv4 = {"address1": v4[0] + gw, "method": "manual"} if v4 else ipv4
    elif not want.move_addresses:
        ipv4, ipv6 = {"method": "disabled"}, {"method": "disabled"}
    return ipv4, ipv6


def _nm_port(want: BridgeWant, port_name: str,
             found: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The port's keyfile: its own (when found) enslaved to the bridge, MTU kept or set."""
    conn = dict(found.get("connection", {}))
    conn.setdefault("id", port_name)
    conn.setdefault("uuid", str(uuid.uuid5(uuid.NAMESPACE_URL,
                                           f"provisioner-agent:port:{port_name}")))
    conn.setdefault("type", "dummy" if want.lab else "ethernet")
    conn["interface-name"] = port_name
    conn["master"] = want.bridge
    conn["slave-type"] = "bridge"
    port_sections = {"connection": conn}
    kind_sec = "dummy" if want.lab else "ethernet"
    eth = dict(found.get(kind_sec, {}))
    if want.mtu:
        eth["mtu"] = str(want.mtu)
    if eth or not want.lab:
        port_sections[kind_sec] = eth
    return port_sections


_STANZA = re.compile(r"^(iface)\s+(\S+)\s+(inet6?)\s+(\S+)")


def debian_split(text: str, nic: str) -> tuple[str, list[str]]:
    """Turn the NIC's ``iface`` stanzas into ``inet manual``; return (new text, moved options)."""
    out: list[str] = []
    moved: list[str] = []
    in_nic = False
    for line in text.splitlines(keepends=True):
        m = _STANZA.match(line)
        if m:
            # Only the IPv4 stanza moves; an inet6 stanza stays on the NIC as written.
            in_nic = m.group(2) == nic and m.group(3) == "inet"
            if in_nic:
                out.append(f"iface {nic} inet manual\n")
                moved.insert(0, f"__method {m.group(4)}")
                continue
        elif line.strip() and not line[:1].isspace():
            in_nic = False
        if in_nic and line.strip() and line[:1].isspace():
            moved.append(line.strip())
            continue
        out.append(line)
    return "".join(out), moved


def debian_steps(facts: HostFacts, want: BridgeWant, nic: Nic | None) -> list[Step]:
    text = facts.network.interfaces or ""
    port = want.dummy if want.lab else nic.name  # type: ignore[union-attr]
    new_text, moved = debian_split(text, port)
    method = "manual"
    opts: list[str] = []
    if want.lab:
        method, opts = "static", [f"address {want.lab_address}"]
    elif want.move_addresses:
        for o in moved:
            if o.startswith("__method "):
                method = o.split()[1]
            else:
                opts.append(o)
        if not moved and nic and nic.addresses:
            method = "static"
            opts = [f"address {nic.addresses[0]}"]
            if facts.network.default_route_dev == port and facts.network.default_gateway:
                opts.append(f"gateway {facts.network.default_gateway}")
    lines = [f"# Bridge {want.bridge} for guests (provisioner-agent)", f"auto {want.bridge}",
             f"iface {want.bridge} inet {method}", f"\tbridge_ports {port}",
             f"\tbridge_stp {'on' if want.stp else 'off'}", f"\tbridge_fd {want.forward_delay}",
             "\tbridge_maxwait 0"]
    if want.mtu:
        lines.append(f"\tmtu {want.mtu}")
    lines += [f"\t{o}" for o in opts]
    steps: list[Step] = [
        Command(("apt-get", "install", "-y", "bridge-utils"),
                check=("dpkg-query", "-W", "-f=${Status}", "bridge-utils"),
                why="ifupdown needs bridge-utils for bridge_ports"),
        FileStep(f"/etc/network/interfaces.d/{want.bridge}", Content("\n".join(lines) + "\n"),
                 why="the bridge at boot, with the NIC's address options moved onto it"),
    ]
    if want.lab:
        steps.insert(1, FileStep("/etc/modules-load.d/dummy.conf", Content("dummy\n"),
                                 why="load the dummy driver at boot"))
        steps.append(FileStep(f"/etc/network/interfaces.d/{want.dummy}", Content(
            f"auto {want.dummy}\niface {want.dummy} inet manual\n\tpre-up ip link add "
            f"{want.dummy} type dummy || true\n"), why="the lab dummy interface at boot"))
    elif new_text != text:
        steps.append(FileStep("/etc/network/interfaces", _Replace(text, new_text),
                              why=f"{port} no longer carries an address itself"))
    return steps


@dataclass(frozen=True)
class _Replace:
    """Replace ``old`` by ``new`` only when the file is still exactly ``old`` (else leave it)."""

    old: str
    new: str

    def apply(self, text: str | None) -> str | None:
        return self.new if text == self.old else text

    def describe(self) -> str:
        return "turn the NIC's stanza into 'inet manual'"


#: persistence kind -> its steps ("none": the bridge is lost at reboot)
PERSIST: dict[str, Callable[[HostFacts, BridgeWant, Nic | None], list[Step]]] = {
    "ifcfg": ifcfg_steps, "nm": nm_steps, "debian": debian_steps}
