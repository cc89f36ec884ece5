"""Bridge plans: a bridge for PXE-booting guests, live (netlink) and persistent (per distro).

``plan_bridges(facts, want) -> Plan`` is pure. The seed's rules (RHEL 5 Virtualization Guide
ch. 12-13, notes B §5-§6):

- ifcfg files exactly as the seed writes them: ``TYPE=Bridge`` (that case), ``DELAY=0``,
  ``BRIDGE=<br>`` on the NIC, ``MTU=`` as the NIC file's last line, ``NM_CONTROLLED=no``
  where NetworkManager runs (instead of switching NetworkManager off).
- never put a NIC into libvirt's NAT bridge ``virbr0``;
- bridged traffic must pass the firewall: bridge-netfilter sysctls = 0, or the iptables
  ``physdev --physdev-is-bridged`` ACCEPT rule;
- Xen hosts using libvirt bridges: ``(network-script /bin/true)`` in xend-config.sxp;
- lab mode (seed 13.2): a ``dummy0`` interface with a static address as the guests' network.

Project decisions (documented here, not from the seed): RHEL >= 9 gets NetworkManager
keyfiles (ifcfg is deprecated there); Debian gets ``/etc/network/interfaces.d/<bridge>`` and
the NIC's stanza in ``/etc/network/interfaces`` turned into ``inet manual`` (its address
options move to the bridge), plus the ``bridge-utils`` package ifupdown needs.
Moving the default-route NIC needs ``allow_default_route_nic`` (it briefly cuts the host
off; the applier's connectivity check rolls back if it does not come back).
"""

from __future__ import annotations

import configparser
import io
import ipaddress
import re
import uuid
from dataclasses import dataclass

from agent.facts.model import HostFacts, Nic
from agent.plan.steps import (
    AddAddress,
    Command,
    Content,
    EnslaveLink,
    EnsureLink,
    FileStep,
    LineRule,
    Lines,
    MoveAddress,
    MoveRoute,
    Plan,
    PlanError,
    SetMtu,
    Step,
)
from provisioner.platform.tables import table

NAT_BRIDGE: str = table("network")["libvirt_nat_bridge"]
IFCFG_DIR = "/etc/sysconfig/network-scripts"
NM_DIR = "/etc/NetworkManager/system-connections"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_IP_KEYS = ("IPADDR", "NETMASK", "PREFIX", "GATEWAY", "DNS1", "DNS2", "DOMAIN")


@dataclass(frozen=True)
class BridgeWant:
    bridge: str = "br0"
    nic: str | None = None             # NIC to enslave; None with lab=True
    mtu: int | None = None
    stp: bool = False
    forward_delay: int = 0             # seconds (seed DELAY=0)
    move_addresses: bool = True        # addresses + routes of the NIC move to the bridge
    allow_default_route_nic: bool = False
    live: bool = True                  # netlink steps (pyroute2)
    persist: str = "auto"              # auto | ifcfg | nm | debian | none
    netfilter: str = "sysctl"          # sysctl | physdev | none
    lab: bool = False                  # dummy-interface lab mode (seed 13.2)
    lab_address: str = "10.1.1.1/24"
    dummy: str = "dummy0"
    nat: bool = False                  # masquerade the guests via the default-route device


# ------------------------------------------------------------ renderers (seed oracles)

def render_bridge_ifcfg(name: str, bootproto: str = "dhcp", onboot: bool = True, delay: int = 0,
                        extra: dict[str, str] | None = None, stp: bool = False,
                        nm_controlled: bool | None = None) -> str:
    """``ifcfg-<name>`` of a bridge, in the seed's order (DEVICE, TYPE, BOOTPROTO, ONBOOT,
    DELAY)."""
    lines = [f"DEVICE={name}", "TYPE=Bridge", f"BOOTPROTO={bootproto}",
             f"ONBOOT={'yes' if onboot else 'no'}", f"DELAY={delay}"]
    if stp:
        lines.append("STP=on")
    lines += [f"{k}={v}" for k, v in (extra or {}).items()]
    if nm_controlled is False:
        lines.append("NM_CONTROLLED=no")
    return "\n".join(lines) + "\n"


def render_nic_ifcfg(device: str, hwaddr: str | None, bridge: str, mtu: int | None = None,
                     nm_controlled: bool | None = None) -> str:
    """``ifcfg-<nic>`` enslaved to ``bridge``; ``MTU`` is appended last, as the seed says."""
    lines = [f"DEVICE={device}"]
    if hwaddr:
        lines.append(f"HWADDR={hwaddr.upper()}")
    lines += ["ONBOOT=yes", f"BRIDGE={bridge}"]
    if nm_controlled is False:
        lines.append("NM_CONTROLLED=no")
    if mtu:
        lines.append(f"MTU={mtu}")
    return "\n".join(lines) + "\n"


def render_modprobe_dummy(count: int = 1) -> str:
    return f"alias dummy0 dummy\noptions dummy numdummies={count}\n"


def render_ifcfg_dummy(ip: str = "10.1.1.1", netmask: str = "255.255.255.0") -> str:
    """The seed's ``ifcfg-dummy0``, exactly its ten lines."""
    return ("DEVICE=dummy0\nBOOTPROTO=none\nONBOOT=yes\nUSERCTL=no\nIPV6INIT=no\nPEERDNS=yes\n"
            f"TYPE=Ethernet\nNETMASK={netmask}\nIPADDR={ip}\nARP=yes\n")


def bridge_netfilter_sysctls(disable: bool = True) -> list[str]:
    v = 0 if disable else 1
    return [f"net.bridge.bridge-nf-call-{t} = {v}" for t in ("ip6tables", "iptables", "arptables")]


def nat_sysctls() -> list[str]:
    return ["net.ipv4.ip_forward = 1"]


def bridge_forward_rule() -> list[str]:
    return ["iptables", "-I", "FORWARD", "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"]


def masquerade_rule(dev: str) -> list[str]:
    return ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", dev, "-j", "MASQUERADE"]


def bridge_id(port_macs: list[str], priority: int = 0x8000) -> str:
    """``brctl show`` bridge id: priority, then the lowest port MAC (zeros for no ports)."""
    macs = sorted(m.lower().replace(":", "") for m in port_macs)
    return f"{priority:04x}.{macs[0] if macs else '000000000000'}"


def validate_ifcfg(filename: str, text: str) -> list[str]:
    """Seed rules for existing ifcfg files: exact ``TYPE=Bridge`` case, file name = DEVICE."""
    errors = []
    kv = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            kv[k.strip()] = v.strip().strip("\"'")
    t = kv.get("TYPE")
    if t is not None and t.lower() == "bridge" and t != "Bridge":
        errors.append(f"TYPE={t}: case-sensitive: must be TYPE=Bridge")
    name = filename.rsplit("/", 1)[-1]
    if name.startswith("ifcfg-") and "DEVICE" in kv and kv["DEVICE"] != name[len("ifcfg-"):]:
        errors.append(f"{name}: DEVICE={kv['DEVICE']} does not match the file name")
    return errors


def xend_network_script(text: str, line: str = "(network-script /bin/true)") -> str:
    """Replace the active ``(network-script ...)`` directive; other lines stay (seed 12.2)."""
    return Lines((LineRule(line, r"^\s*\(network-script[\s)]"),)).apply(text) or ""


# ------------------------------------------------------------ the planner

def _persist_kind(facts: HostFacts, want: BridgeWant) -> str:
    if want.persist != "auto":
        return want.persist
    d = facts.distro
    if d.family == "debian":
        return "debian"
    if d.family == "rhel":
        return "nm" if (d.version_tuple or (0,))[0] >= 9 else "ifcfg"
    return "none"


def _netmask(prefix: int) -> str:
    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask)


def _validate(facts: HostFacts, want: BridgeWant) -> Nic | None:
    if not _NAME.match(want.bridge):
        raise PlanError("E_BAD_NAME", f"invalid bridge name {want.bridge!r}")
    net = facts.network
    if want.lab:
        if want.nic:
            raise PlanError("E_LAB_WITH_NIC", "lab mode uses a dummy interface, not a NIC")
        return None
    if not want.nic:
        raise PlanError("E_NO_NIC", "name the NIC to put into the bridge (or use lab mode)")
    if want.bridge == NAT_BRIDGE:
        raise PlanError("E_VIRBR0_NAT_ONLY",
                        f"virbr0 is NAT-only: never put a physical NIC ({want.nic}) into it; "
                        "use a separate bridge such as br0")
    nic = net.nic(want.nic)
    if nic is None:
        raise PlanError("E_NO_SUCH_NIC", f"{want.nic} is not a network interface on this host")
    if nic.kind == "bridge":
        raise PlanError("E_NIC_IS_BRIDGE", f"{want.nic} is itself a bridge")
    if nic.master and nic.master != want.bridge:
        raise PlanError("E_NIC_ENSLAVED", f"{want.nic} is already a port of {nic.master}")
    existing = net.nic(want.bridge)
    if existing is not None and existing.kind != "bridge":
        raise PlanError("E_NAME_TAKEN", f"{want.bridge} exists and is not a bridge")
    if net.default_route_dev == want.nic and not want.allow_default_route_nic:
        raise PlanError("E_DEFAULT_ROUTE_NIC",
                        f"{want.nic} carries the default route; moving it into {want.bridge} "
                        "cuts the host off for a moment: pass --allow-default-route-nic")
    return nic


def _live_steps(facts: HostFacts, want: BridgeWant, nic: Nic | None) -> list[Step]:
    why_br = "guests attach to this bridge to reach the PXE/DHCP network (seed 6.3, 12.2)"
    steps: list[Step] = [EnsureLink(want.bridge, "bridge", mtu=None, stp=want.stp,
                                    forward_delay=want.forward_delay,
                                    mac=nic.mac if nic and nic.mac else None, why=why_br)]
    if want.lab:
        steps.append(EnsureLink(want.dummy, "dummy", why="lab mode: a stable interface "
                                "that exists without any physical network (seed 13.2)"))
        steps.append(EnslaveLink(want.dummy, want.bridge, why="the dummy is the bridge's port"))
        steps.append(AddAddress(want.lab_address, want.bridge,
                                why="guests use this address as gateway/DHCP server"))
        return steps
    assert nic is not None
    if want.mtu:
        steps.append(SetMtu(nic.name, want.mtu, why="port MTU first: the bridge follows it"))
    steps.append(EnslaveLink(nic.name, want.bridge, why="the physical NIC becomes a bridge port"))
    if want.mtu:
        steps.append(SetMtu(want.bridge, want.mtu, why="bridge MTU as requested"))
    if want.move_addresses:
        for cidr in nic.addresses:
            steps.append(MoveAddress(cidr, nic.name, want.bridge,
                                     why="a port's own address stops working once enslaved"))
        for r in facts.network.routes:
            if r.dev == nic.name and r.proto != "kernel":
                steps.append(MoveRoute(r.dst, nic.name, want.bridge, r.gateway, r.metric,
                                       why="routes follow the address to the bridge"))
    return steps


def _ifcfg_steps(facts: HostFacts, want: BridgeWant, nic: Nic | None) -> list[Step]:
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
    extra = {k: old[k] for k in _IP_KEYS if k in old} if want.move_addresses else {}
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
        FileStep(f"{IFCFG_DIR}/ifcfg-{nic.name}", Content(port),
                 why=f"{nic.name} joins {want.bridge} at boot"
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


def _nm_steps(facts: HostFacts, want: BridgeWant, nic: Nic | None) -> list[Step]:
    net = facts.network
    br_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"provisioner-agent:bridge:{want.bridge}"))
    port_name = want.dummy if want.lab else nic.name  # type: ignore[union-attr]
    found = {}
    fname = f"{port_name}.nmconnection"
    for f, text in net.nm_keyfiles.items():
        sec = _read_keyfile(text)
        if sec.get("connection", {}).get("interface-name") == port_name:
            found, fname = sec, f
            break
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
    bridge = _keyfile({
        "connection": {"id": want.bridge, "uuid": br_uuid, "type": "bridge",
                       "interface-name": want.bridge},
        "bridge": {"stp": "true" if want.stp else "false",
                   "forward-delay": str(want.forward_delay),
                   **({"mac-address": nic.mac.upper()} if nic and nic.mac else {})},
        "ipv4": ipv4, "ipv6": ipv6,
    })
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
    return [
        FileStep(f"{NM_DIR}/{want.bridge}.nmconnection", Content(bridge), mode=0o600,
                 why="NetworkManager profile of the bridge (keyfile; ifcfg is gone on RHEL 9)"),
        FileStep(f"{NM_DIR}/{fname}", Content(_keyfile(port_sections)), mode=0o600,
                 why=f"{port_name} becomes a port of {want.bridge}; its IP settings moved"),
        Command(("nmcli", "connection", "reload"), only_if_changed=True,
                why="NetworkManager re-reads the keyfiles"),
    ]


_STANZA = re.compile(r"^(iface)\s+(\S+)\s+(inet6?)\s+(\S+)")


def _debian_split(text: str, nic: str) -> tuple[str, list[str]]:
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


def _debian_steps(facts: HostFacts, want: BridgeWant, nic: Nic | None) -> list[Step]:
    text = facts.network.interfaces or ""
    port = want.dummy if want.lab else nic.name  # type: ignore[union-attr]
    new_text, moved = _debian_split(text, port)
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


def _netfilter_steps(facts: HostFacts, want: BridgeWant) -> list[Step]:
    if want.netfilter == "none":
        return []
    if want.netfilter == "physdev":
        rule = bridge_forward_rule()
        check = ["iptables", "-C", *rule[2:]]
        undo = ["iptables", "-D", *rule[2:]]
        steps: list[Step] = [Command(tuple(rule), check=tuple(check), undo=tuple(undo),
                                     why="forward bridged frames past iptables (seed 12.2)")]
        if facts.distro.family == "rhel" and (facts.distro.version_tuple or (0,))[0] < 7:
            steps.append(Command(("service", "iptables", "save"), only_if_changed=True,
                                 why="keep the rule across reboots"))
        return steps
    lines = bridge_netfilter_sysctls(True)
    steps = [FileStep("/etc/sysctl.conf", Lines(tuple(
        LineRule(ln, r"^\s*" + re.escape(ln.split(" = ")[0]) + r"\s*=") for ln in lines)),
        why="iptables must not filter bridged guest traffic (seed 12.2)")]
    for ln in lines:
        key = ln.split(" = ")[0]
        proc = "/proc/sys/" + key.replace(".", "/")
        # Acts only when the value is 1 (the kernel default), so undo puts back 1.
        steps.append(Command(("sysctl", "-w", f"{key}=0"),
                             check=("sh", "-c", f'! test -e {proc} || test "$(cat {proc})" = 0'),
                             undo=("sysctl", "-w", f"{key}=1"),
                             why="same, for the running kernel (absent when br_netfilter "
                                 "is not loaded, which already means no filtering)"))
    return steps


def _xen_lab_plan(facts: HostFacts, want: BridgeWant) -> Plan:
    """Seed 13.2 exactly: dummy0 holds the address; xend's network-bridge builds xenbr0 on it."""
    ip = ipaddress.ip_interface(want.lab_address)
    steps: list[Step] = []
    if want.live:
        steps += [EnsureLink(want.dummy, "dummy", why="a stable interface without any network"),
                  AddAddress(want.lab_address, want.dummy, why="the guests' hidden network")]
    steps += [
        FileStep("/etc/modprobe.conf", Lines(tuple(
            LineRule(ln, "^" + re.escape(ln.rsplit(" ", 1)[0]) + r"(\s|$)")
            for ln in render_modprobe_dummy(1).splitlines())),
            why="dummy device support at boot (seed 13.2 step 1)"),
        FileStep(f"{IFCFG_DIR}/ifcfg-{want.dummy}",
                 Content(render_ifcfg_dummy(str(ip.ip), str(ip.netmask))),
                 why="dummy0 with its static address (seed 13.2 step 2)"),
        FileStep("/etc/xen/xend-config.sxp", Lines((LineRule(
            f"(network-script 'network-bridge bridge=xenbr0 netdev={want.dummy}')",
            r"^\s*\(network-script[\s)]"),)),
            why="bind xenbr0 to dummy0 (seed 13.2 step 3); takes effect when xend restarts"),
    ]
    return Plan(f"xen lab network on {want.dummy}", tuple(steps), network=want.live,
                warnings=(f"guests need static addresses in {ip.network} with gateway "
                          f"{ip.ip}, or a DHCP server bound to xenbr0 (seed 13.2)",))


def nat_steps(facts: HostFacts) -> tuple[list[Step], list[str]]:
    """Seed 13.2's NAT script, idempotent: ip_forward=1 always; MASQUERADE out of the
    default-route device when there is one (else the seed's "No gateway device found")."""
    proc = "/proc/sys/net/ipv4/ip_forward"
    steps: list[Step] = [
        FileStep("/etc/sysctl.conf", Lines(tuple(
            LineRule(ln, r"^\s*net\.ipv4\.ip_forward\s*=") for ln in nat_sysctls())),
            why="guests on the hidden network reach out through this host (seed 12.1, 13.2)"),
        Command(("sysctl", "-w", "net.ipv4.ip_forward=1"),
                check=("sh", "-c", f'test "$(cat {proc})" = 1'),
                undo=("sysctl", "-w", "net.ipv4.ip_forward=0"), why="same, now"),
    ]
    dev = facts.network.default_route_dev
    if dev is None:
        return steps, ["No gateway device found: no MASQUERADE rule (ip_forward still enabled)"]
    rule = masquerade_rule(dev)
    steps.append(Command(tuple(rule), check=tuple(rule[:3] + ["-C"] + rule[4:]),
                         undo=tuple(rule[:3] + ["-D"] + rule[4:]),
                         why=f"masquerade guest traffic leaving through {dev} (checked first: "
                             "applying twice gives one rule)"))
    return steps, []


def plan_bridges(facts: HostFacts, want: BridgeWant) -> Plan:
    """Pure: facts + wanted bridge -> ordered steps. Raises ``PlanError`` for refused requests."""
    nic = _validate(facts, want)
    if want.lab and facts.hypervisor == "xen":
        return _xen_lab_plan(facts, want)
    warnings: list[str] = []
    steps: list[Step] = []
    if want.live:
        steps += _live_steps(facts, want, nic)
    kind = _persist_kind(facts, want)
    if kind == "ifcfg":
        steps += _ifcfg_steps(facts, want, nic)
    elif kind == "nm":
        steps += _nm_steps(facts, want, nic)
    elif kind == "debian":
        steps += _debian_steps(facts, want, nic)
    elif kind != "none":
        raise PlanError("E_BAD_PERSIST", f"unknown persistence {kind!r}")
    else:
        warnings.append("no persistent configuration: the bridge is lost at reboot")
    if facts.hypervisor == "xen":
        steps.append(FileStep("/etc/xen/xend-config.sxp", Lines((LineRule(
            "(network-script /bin/true)", r"^\s*\(network-script[\s)]"),)),
            why="xend's own bridge script must not fight this bridge (seed 12.2)"))
    steps += _netfilter_steps(facts, want)
    if want.nat:
        more, w = nat_steps(facts)
        steps += more
        warnings += w
    if want.lab:
        warnings.append("lab mode: guests need static addresses in "
                        f"{ipaddress.ip_interface(want.lab_address).network} or a DHCP "
                        "server bound to the bridge (seed 13.2)")
    title = (f"bridge {want.bridge} (lab, {want.dummy})" if want.lab
             else f"bridge {want.bridge} on {want.nic}")
    return Plan(title, tuple(steps), network=want.live, warnings=tuple(warnings))
