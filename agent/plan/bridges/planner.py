"""``plan_bridges(facts, want) -> Plan``: live steps (netlink), persistence, netfilter, NAT,
and the seed's Xen lab network."""

from __future__ import annotations

import ipaddress
import re

from agent.facts.model import HostFacts, Nic
from agent.plan.bridges.persist import IFCFG_DIR, PERSIST, persist_kind
from agent.plan.bridges.seedtext import (
    bridge_forward_rule,
    bridge_netfilter_sysctls,
    masquerade_rule,
    nat_sysctls,
    render_ifcfg_dummy,
    render_modprobe_dummy,
)
from agent.plan.bridges.want import BridgeWant, validate
from agent.plan.services import uses_sysv
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
from agent.plan.xend import XEND_CONFIG
from agent.xen.sxp import XendEdit


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
    lines = bridge_netfilter_sysctls(disable=True)
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
        FileStep(XEND_CONFIG, XendEdit((
            ("network-script", f"network-bridge bridge=xenbr0 netdev={want.dummy}"),)),
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


def libvirtd_reload(facts: HostFacts) -> Command:
    """``service libvirtd reload`` (seed 6.3 step 4, 12.2; A1 oracle 17), or systemd's
    equivalent, once something changed; skipped where libvirtd is not running (nothing to
    tell, and starting it is not this plan's business)."""
    if uses_sysv(facts):
        argv: tuple[str, ...] = ("service", "libvirtd", "reload")
        running: tuple[str, ...] = ("service", "libvirtd", "status")
    else:
        argv = ("systemctl", "reload", "libvirtd")
        running = ("systemctl", "is-active", "--quiet", "libvirtd")
    return Command(argv, when=running, only_if_changed=True,
                   why="libvirt sees the new bridge (seed 12.2: service libvirtd reload)")


def plan_bridges(facts: HostFacts, want: BridgeWant) -> Plan:
    """Pure: facts + wanted bridge -> ordered steps. Raises ``PlanError`` for refused requests."""
    nic = validate(facts, want)
    if want.lab and facts.hypervisor == "xen":
        return _xen_lab_plan(facts, want)
    warnings: list[str] = []
    steps: list[Step] = []
    if want.live:
        steps += _live_steps(facts, want, nic)
    kind = persist_kind(facts, want)
    if kind in PERSIST:
        steps += PERSIST[kind](facts, want, nic)
    elif kind != "none":
        raise PlanError("E_BAD_PERSIST", f"unknown persistence {kind!r}")
    else:
        warnings.append("no persistent configuration: the bridge is lost at reboot")
    if facts.hypervisor == "xen":
        steps.append(FileStep(XEND_CONFIG, XendEdit((("network-script", "/bin/true"),)),
            why="xend's own bridge script must not fight this bridge (seed 12.2)"))
    steps += _netfilter_steps(facts, want)
    if want.nat:
        more, w = nat_steps(facts)
        steps += more
        warnings += w
    steps.append(libvirtd_reload(facts))
    if want.lab:
        warnings.append("lab mode: guests need static addresses in "
                        f"{ipaddress.ip_interface(want.lab_address).network} or a DHCP "
                        "server bound to the bridge (seed 13.2)")
    title = (f"bridge {want.bridge} (lab, {want.dummy})" if want.lab
             else f"bridge {want.bridge} on {want.nic}")
    return Plan(title, tuple(steps), network=want.live, warnings=tuple(warnings))
