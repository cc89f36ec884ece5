"""The plan kinds of ``provisioner-agent plan|apply KIND``: each kind's command-line options and
how they become the planner's request. The planners under ``agent/plan`` know nothing of argparse.
"""

from __future__ import annotations

import argparse
import ast
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.facts.model import HostFacts
from agent.facts.probe import read_config
from agent.plan.bootini import plan_boot_ini
from agent.plan.bootparams import BootWant, GuestClock, plan_boot_params
from agent.plan.bridges import BridgeWant, plan_bridges
from agent.plan.libvirt_tls import SERVICES, TlsBundle, TlsWant, plan_libvirt_tls
from agent.plan.modprobe import ModprobeWant, plan_modprobe
from agent.plan.paravirt import Disk, PvWant, plan_paravirt, plan_paravirt_host
from agent.plan.services import ServiceWant, plan_service
from agent.plan.steps import Plan, PlanError
from agent.plan.xencfg import XenCfgWant, guest_path, plan_xencfg
from agent.plan.xend import XendWant, plan_xend
from provisioner.platform.clock import windows_clock_switch


@dataclass(frozen=True)
class PlanKind:
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build: Callable[[HostFacts, argparse.Namespace], Plan]


def _bridge_arguments(p: argparse.ArgumentParser) -> None:
    """CLI options of ``provisioner-agent plan|apply bridge``."""
    p.add_argument("--bridge", default="br0")
    p.add_argument("--nic", default=None, help="NIC to put into the bridge")
    p.add_argument("--mtu", type=int, default=None)
    p.add_argument("--stp", action="store_true")
    p.add_argument("--forward-delay", type=int, default=0)
    p.add_argument("--no-move-addresses", dest="move_addresses", action="store_false")
    p.add_argument("--allow-default-route-nic", action="store_true")
    p.add_argument("--no-live", dest="live", action="store_false")
    p.add_argument("--persist", default="auto", choices=("auto", "ifcfg", "nm", "debian", "none"))
    p.add_argument("--netfilter", default="sysctl", choices=("sysctl", "physdev", "none"))
    p.add_argument("--lab", action="store_true", help="dummy-interface lab mode")
    p.add_argument("--lab-address", default="10.1.1.1/24")
    p.add_argument("--nat", action="store_true", help="masquerade guests via the default route")


def _bridge_plan(facts: HostFacts, args: argparse.Namespace) -> Plan:
    return plan_bridges(facts, BridgeWant(
        bridge=args.bridge, nic=args.nic, mtu=args.mtu, stp=args.stp,
        forward_delay=args.forward_delay, move_addresses=args.move_addresses,
        allow_default_route_nic=args.allow_default_route_nic, live=args.live,
        persist=args.persist, netfilter=args.netfilter, lab=args.lab,
        lab_address=args.lab_address, nat=args.nat))


def _bootparams_arguments(p: argparse.ArgumentParser) -> None:
    """CLI options of ``provisioner-agent plan|apply bootparams``."""
    p.add_argument("--host-cstate", default="auto", choices=("auto", "yes", "no"))
    p.add_argument("--kernel-arg", action="append", default=[])
    p.add_argument("--hypervisor-arg", action="append", default=[])
    p.add_argument("--dom0-arg", action="append", default=[])
    p.add_argument("--remove-arg", action="append", default=[])
    p.add_argument("--serial", choices=("com1", "com2"))
    p.add_argument("--serial-speed", type=int, default=115200)
    p.add_argument("--default-hypervisor", choices=("xen", "kvm"))
    p.add_argument("--guest-clock", metavar="VERSION:ARCH",
                   help="these facts are a RHEL guest's: add its clock parameters (e.g. 5.3:i686);"
                   " a Windows XP/2003 guest (winxp, win2003...) gets its boot.ini switch")
    p.add_argument("--boot-ini", metavar="PATH",
                   help="a Windows guest's boot.ini (its disk mounted here) to edit in place")
    p.add_argument("--no-pv-clock", action="store_true")
    p.add_argument("--lpj", type=int)


def _bootparams_plan(facts: HostFacts, args: argparse.Namespace) -> Plan:
    clock = None
    if args.guest_clock and windows_clock_switch(args.guest_clock) is not None:
        return plan_boot_ini(args.guest_clock, args.boot_ini)
    if args.guest_clock:
        version, _, arch = args.guest_clock.partition(":")
        clock = GuestClock(version, arch or facts.kernel.arch or "x86_64",
                           False if args.no_pv_clock else None, args.lpj)
    return plan_boot_params(facts, BootWant(
        host_cstate=args.host_cstate, kernel_args=tuple(args.kernel_arg),
        hypervisor_args=tuple(args.hypervisor_arg), dom0_args=tuple(args.dom0_arg),
        remove_args=tuple(args.remove_arg), serial=args.serial, serial_speed=args.serial_speed,
        default_hypervisor=args.default_hypervisor, guest_clock=clock))


def _paravirt_arguments(p: argparse.ArgumentParser) -> None:
    """CLI options of ``provisioner-agent plan|apply paravirt``."""
    p.add_argument("--guest-os", default="rhel", choices=("rhel", "windows"))
    p.add_argument("--guest-version", required=True)
    p.add_argument("--guest-arch", default="x86_64")
    p.add_argument("--guest-kernel")
    p.add_argument("--guest-name", default="guest")
    p.add_argument("--nics", type=int, default=1)
    p.add_argument("--pv-disk", action="append", default=[], help="extra disk path for PV")
    p.add_argument("--side", choices=("guest", "host"), default="guest")


def _paravirt_plan(facts: HostFacts, args: argparse.Namespace) -> Plan:
    want = PvWant(guest_os=args.guest_os, guest_version=args.guest_version,
                  guest_arch=args.guest_arch, guest_kernel=args.guest_kernel,
                  guest_name=args.guest_name, nics=args.nics,
                  disks=tuple(Disk(p) for p in args.pv_disk))
    return (plan_paravirt_host if args.side == "host" else plan_paravirt)(facts, want)


def _tls_arguments(p: argparse.ArgumentParser) -> None:
    """CLI options of ``provisioner-agent plan|apply tls``."""
    p.add_argument("--bundle", required=True,
                   help="JSON file {ca_cert, cert, key} from `provisioner host cert NAME`")
    p.add_argument("--service", required=True, choices=SERVICES,
                   help="how libvirtd is (re)started on this host")
    p.add_argument("--hypervisor", default="kvm", choices=("kvm", "xen"))
    p.add_argument("--listen-addr", default=None)
    p.add_argument("--no-qemu-tls", dest="qemu_tls", action="store_false",
                   help="leave QEMU's migration-stream certificates alone")


def _tls_plan(facts: HostFacts, args: argparse.Namespace) -> Plan:
    try:
        with open(args.bundle) as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise PlanError("TLS_BUNDLE", f"cannot read {args.bundle}: {exc}") from None
    if not isinstance(data, dict):
        raise PlanError("TLS_BUNDLE", f"{args.bundle}: expected a JSON object")
    return plan_libvirt_tls(TlsBundle.from_dict(data), TlsWant(
        hypervisor=args.hypervisor, service=args.service, listen_addr=args.listen_addr,
        qemu_tls=args.qemu_tls))


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


def _xend_arguments(p: argparse.ArgumentParser) -> None:
    """CLI options of ``provisioner-agent plan|apply xend`` (xend-config.sxp, seed ch.16/18)."""
    p.add_argument("--relocation", choices=("on", "off"),
                   help="xend-relocation-server; on writes the seed's four relocation settings")
    p.add_argument("--relocation-port", type=int)
    p.add_argument("--relocation-address", metavar="ADDR",
                   help="the one address xend listens on for migrations ('' = all)")
    p.add_argument("--hosts-allow", action="append", metavar="REGEX",
                   help="a peer allowed to migrate here: regex on its FQDN or IP (repeatable)")
    p.add_argument("--hosts-allow-anyone", action="store_true",
                   help="an empty allow-list (everyone; the plan warns)")
    p.add_argument("--dom0-min-mem", type=int, metavar="MB")
    p.add_argument("--dom0-cpus", type=int)
    p.add_argument("--network-script", metavar="SCRIPT")
    p.add_argument("--console-limit", type=int)
    p.add_argument("--loglevel")
    p.add_argument("--vnc-listen", metavar="ADDR")
    p.add_argument("--vnc-tls", choices=("on", "off"))
    p.add_argument("--vnc-x509-verify", choices=("on", "off"))
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any other parameter of xend-config.sxp (checked against its type)")
    p.add_argument("--console-log", choices=("on", "off"),
                   help="log para-virtualized guests' consoles to /var/log/xen/console "
                        "(XENCONSOLED_LOG_GUESTS in /etc/sysconfig/xend)")
    p.add_argument("--no-restart", dest="restart", action="store_false")


def _xend_plan(facts: HostFacts, args: argparse.Namespace) -> Plan:
    allow = () if args.hosts_allow_anyone else (tuple(args.hosts_allow)
                                                  if args.hosts_allow else None)
    settings = []
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep:
            raise PlanError("E_BAD_SET", f"--set {pair!r}: NAME=VALUE")
        settings.append((key.strip(), value))
    return plan_xend(facts.xend_config, XendWant(
        relocation=_on_off(args.relocation), relocation_port=args.relocation_port,
        relocation_address=args.relocation_address, hosts_allow=allow,
        dom0_min_mem=args.dom0_min_mem, dom0_cpus=args.dom0_cpus,
        network_script=args.network_script, console_limit=args.console_limit,
        loglevel=args.loglevel, vnc_listen=args.vnc_listen, vnc_tls=_on_off(args.vnc_tls),
        vnc_x509_verify=_on_off(args.vnc_x509_verify), settings=tuple(settings),
        console_log=_on_off(args.console_log), restart=args.restart))


def _xencfg_arguments(p: argparse.ArgumentParser) -> None:
    """CLI options of ``provisioner-agent plan|apply xencfg`` (/etc/xen/<guest>, ch.27)."""
    p.add_argument("--guest", required=True, help="the guest: /etc/xen/GUEST")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a Python literal (memory=1024, vif=\"['mac=..., bridge=xenbr0']\"), "
                        "else taken as a string")
    p.add_argument("--unset", action="append", default=[], metavar="KEY")
    p.add_argument("--from-xml", metavar="FILE", help="write the file from libvirt domain XML")


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _xencfg_plan(facts: HostFacts, args: argparse.Namespace) -> Plan:
    updates: list[tuple[str, object]] = []
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep:
            raise PlanError("E_BAD_SET", f"--set {pair!r}: KEY=VALUE")
        updates.append((key.strip(), _literal(value)))
    updates += [(k, None) for k in args.unset]
    xml = None
    if args.from_xml:
        try:
            xml = Path(args.from_xml).read_text()
        except OSError as exc:
            raise PlanError("E_BAD_DOMAIN_XML", f"cannot read {args.from_xml}: {exc}") from None
    path = guest_path(args.guest)
    return plan_xencfg(read_config(args.root, path),
                       XenCfgWant(args.guest, tuple(updates), xml))


def _service_arguments(p: argparse.ArgumentParser) -> None:
    """CLI options of ``provisioner-agent plan|apply service`` (the doctor's E1/H4/H9 fix)."""
    p.add_argument("--start", action="append", default=[], metavar="NAME",
                   help="start NAME and enable it at boot: xend, libvirtd or ntpd (repeat)")


def _service_plan(facts: HostFacts, args: argparse.Namespace) -> Plan:
    return plan_service(facts, ServiceWant(tuple(args.start)))


def _modprobe_arguments(p: argparse.ArgumentParser) -> None:
    """CLI options of ``provisioner-agent plan|apply modprobe`` (the doctor's E10/E12/H3 fix)."""
    p.add_argument("--max-loop", type=int, metavar="N",
                   help="options loop max_loop=N (more than 8 file-backed guest disks)")
    p.add_argument("--vnif-alias", action="append", default=[], metavar="NIC",
                   help="alias NIC xen-vnif (a para-virtualized guest's NIC; repeat)")
    p.add_argument("--load", action="append", default=[], metavar="MODULE",
                   help="modprobe MODULE unless loaded (e.g. kvm_intel; repeat)")


def _modprobe_plan(facts: HostFacts, args: argparse.Namespace) -> Plan:
    return plan_modprobe(facts, ModprobeWant(args.max_loop, tuple(args.vnif_alias),
                                             tuple(args.load)))


#: name -> options and planner, in the order ``--help`` lists them
PLAN_KINDS: dict[str, PlanKind] = {
    "bridge": PlanKind(_bridge_arguments, _bridge_plan),
    "bootparams": PlanKind(_bootparams_arguments, _bootparams_plan),
    "paravirt": PlanKind(_paravirt_arguments, _paravirt_plan),
    "tls": PlanKind(_tls_arguments, _tls_plan),
    "xend": PlanKind(_xend_arguments, _xend_plan),
    "xencfg": PlanKind(_xencfg_arguments, _xencfg_plan),
    "service": PlanKind(_service_arguments, _service_plan),
    "modprobe": PlanKind(_modprobe_arguments, _modprobe_plan),
}
