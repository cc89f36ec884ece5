"""``provisioner-agent guest ...`` (virt-install-like) and ``provisioner-agent run`` (work loop).

Edge module: like ``agent/cli.py`` it reads files and opens connections, then hands values to
the pure parts. ``guest`` takes virt-install's options; ``--print-xml [1|2]`` prints the install
and/or final definition and changes nothing; ``--dry-run`` checks everything and prints what it
would do. Without either it creates the disk images, defines and starts the guest.

``agent.guest.virt`` and ``agent.loop`` (which uses it) are imported where a command needs a
libvirt connection: libvirt-python is the optional ``agent`` extra, and ``probe``/``plan``/
``apply`` and ``guest --print-xml`` work without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.apply.applier import Journal, Report, apply
from agent.apply.netlink import Pyroute2Net
from agent.apply.system import RealSystem
from agent.client import AgentClient
from agent.doctor.cli import doctor_report
from agent.facts.model import HostFacts, from_dict
from agent.facts.probe import probe
from agent.guest.build import build_guest
from agent.guest.caps import Caps, parse_caps
from agent.guest.domcaps import parse_domcaps
from agent.guest.errors import GuestError
from agent.guest.host import Host
from agent.guest.ids import Ids
from agent.guest.options import add_arguments, apply_options, check_doc_style
from agent.guest.osinfo import default_db
from agent.guest.plan import render
from agent.plan.bridges import BridgeWant, plan_bridges
from agent.plan.libvirt_tls import TlsWant
from agent.plan.steps import Plan, PlanError
from agent.run import SubprocessRunner
from agent.tlsrotate import rotate

if TYPE_CHECKING:
    from agent.loop import Agent

log = logging.getLogger("provisioner-agent")
DEFAULT_IMAGE_DIR = "/var/lib/libvirt/images"  # the seed: SELinux allows images only here


def _facts(args: argparse.Namespace) -> HostFacts:
    """Facts from ``--facts`` (a saved probe) or a fresh probe; ``--image-dir`` wins."""
    if args.facts:
        facts = from_dict(json.loads(Path(args.facts).read_text()))
        return dataclasses.replace(facts, image_dir=args.image_dir) if args.image_dir else facts
    return probe("/", SubprocessRunner(), image_dir=args.image_dir or DEFAULT_IMAGE_DIR,
                 libvirt_uri=args.connect)


def _cmd_guest(args: argparse.Namespace) -> int:
    virt = None
    try:
        check_doc_style(sys.argv[1:])
        guest = apply_options(args)
        guest.print_only = bool(args.print_xml)
        facts = _facts(args)
        if args.caps:
            caps: Caps = parse_caps(Path(args.caps).read_text())
            dc = parse_domcaps(Path(args.domcaps).read_text()) if args.domcaps else None
            host = Host(caps=caps, facts=facts, domcaps_for=lambda *_: dc,
                        osinfo=default_db())
            in_use: set[str] = set()
        else:
            from agent.guest.virt import Virt

            virt = Virt(args.connect, image_dir=facts.image_dir)
            host, in_use = virt.host(facts, default_db()), virt.known_macs()
        built = build_guest(guest, host, Ids(known=set(in_use), in_use=in_use))
        install, final = built.install, built.final
        if args.print_xml:
            both = [install] if install is final else [install, final]
            docs = {"1": [install], "2": [final]}.get(args.print_xml, both)
            sys.stdout.write("".join(d.get_xml() for d in docs))
            return 0
        if args.dry_run or virt is None:
            sys.stdout.write(render(built))
            return 0
        virt.create_images(guest)
        virt.fetch_boot_files(guest)
        if guest.transient:
            virt.create_transient(install)
        else:
            virt.define(install)
            virt.start(guest.name)
        print(f"started {guest.name} ({guest.uuid}); final definition follows after the install")
        return 0
    except GuestError as exc:
        print(f"ERROR {exc.code}: {exc}", file=sys.stderr)
        return 2
    finally:
        if virt is not None:
            virt.close()


def _cmd_run(args: argparse.Namespace) -> int:
    from agent.guest.virt import Virt
    from agent.loop import Agent, LoopConfig

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token or (Path(args.token_file).read_text().strip() if args.token_file else "")
    if not token:
        print("ERROR: --token or --token-file is required", file=sys.stderr)
        return 2
    Path(args.state_dir).mkdir(parents=True, exist_ok=True)
    lock = open(Path(args.state_dir) / "agent.lock", "w")  # noqa: SIM115 (held while running)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"ERROR: another agent is running with {args.state_dir}", file=sys.stderr)
        return 2
    virt: Virt
    if args.remote:  # an agentless host of the appliance: facts and files through libvirt
        from agent.remote.facts import probe_libvirt
        from agent.remote.virt import RemoteVirt

        virt = RemoteVirt(args.connect, image_dir=args.image_dir or DEFAULT_IMAGE_DIR)
        facts = probe_libvirt(virt.conn, virt.image_dir)
    else:
        facts = _facts(args)
        virt = Virt(args.connect, image_dir=facts.image_dir)
    cfg = LoopConfig(state_dir=args.state_dir, poll_timeout=args.poll_timeout,
                     virt_type=args.virt_type, serial_dir=args.serial_dir,
                     media_dirs=tuple(args.media_dir or ()),
                     doctor_interval=args.doctor_interval)
    agent = Agent(AgentClient(args.appliance, args.host or facts.hostname, token), virt, facts,
                  virt.caps(), cfg, osinfo=default_db())
    if args.bridge_plans:
        agent.ensure_bridge = _bridge_planner(args, agent)
    if not args.remote:  # the doctor reads this host's files: not for an agentless host
        # a fresh probe each time (modules, daemons change), unless facts came from --facts
        agent.doctor = (lambda: doctor_report("/", facts=agent.facts)) if args.facts else (
            lambda: doctor_report("/", image_dir=facts.image_dir))
    if args.tls_service and not args.remote:
        agent.rotate_tls = _tls_rotator(args, agent)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("agent %s: working for %s", agent.client.host, args.appliance)
    agent.run(stop)
    virt.close()
    lock.close()
    return 0


def _bridge_planner(args: argparse.Namespace, agent: Agent) -> Callable[[str], None]:
    """``ensure_bridge(name)``: the host-prep bridge plan (agent.plan.bridges), applied to this
    host (check-then-act, journalled), then the facts are probed again. Opt-in (it changes the
    host's network): ``--bridge-plans``; the uplink is ``--bridge-nic`` (none: a lab bridge on a
    dummy interface, the seed's 13.2)."""
    def ensure(name: str) -> None:
        want = BridgeWant(bridge=name, nic=args.bridge_nic, lab=args.bridge_nic is None,
                          persist=args.bridge_persist)
        try:
            plan = plan_bridges(agent.facts, want)
        except PlanError as exc:
            raise GuestError(f"bridge {name!r} is missing and cannot be planned: {exc}",
                             "BRIDGE_MISSING") from None
        system = RealSystem(Path("/"), SubprocessRunner(), Pyroute2Net(None))
        try:
            report = apply(plan, system, journal=Journal(Path(args.state_dir) / "journal.json"))
        finally:
            system.close()
        if not report.ok:
            raise GuestError(f"bridge plan for {name!r} failed:\n{report.text()}",
                             "BRIDGE_PLAN_FAILED")
        agent.event("bridge.planned", {"bridge": name, "steps": len(plan.steps)})
        agent.facts = _facts(args)

    return ensure


def _tls_rotator(args: argparse.Namespace,
                 agent: Agent) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``rotate(payload)`` for work kind ``tls.rotate`` (agent/tlsrotate.py): new key, the
    appliance signs the request, the ``tls`` plan installs both here. Opt-in:
    ``--tls-service`` says how libvirtd takes the new files (reload: libvirt >= 6.2)."""
    want = TlsWant(hypervisor="xen" if agent.facts.hypervisor == "xen" else "kvm",
                   service=args.tls_service)

    def apply_plan(plan: Plan) -> Report:
        system = RealSystem(Path("/"), SubprocessRunner(), Pyroute2Net(None))
        try:
            return apply(plan, system, journal=Journal(Path(args.state_dir) / "journal.json"))
        finally:
            system.close()

    return lambda payload: rotate(agent.client, payload, want, apply_plan)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    g = subparsers.add_parser("guest", help="define and start a guest from virt-install options")
    add_arguments(g)
    g.set_defaults(connect="qemu:///system")
    g.add_argument("--image-dir", help=f"where disk images go (default {DEFAULT_IMAGE_DIR})")
    g.add_argument("--facts", help="host facts JSON (from `provisioner-agent probe`)")
    g.add_argument("--caps", help="capabilities XML instead of asking libvirt")
    g.add_argument("--domcaps", help="domain capabilities XML (with --caps)")
    g.set_defaults(func=_cmd_guest)

    r = subparsers.add_parser("run", help="work for the appliance: register, poll, execute")
    r.add_argument("--appliance", required=True,
                   help="base URL, e.g. http://10.0.0.1:8080; several appliances over one "
                        "database comma-separated (the agent fails over in order)")
    r.add_argument("--host", help="this host's name (default: its hostname)")
    r.add_argument("--token")
    r.add_argument("--token-file")
    r.add_argument("--connect", default="qemu:///system")
    r.add_argument("--image-dir", help=f"where disk images go (default {DEFAULT_IMAGE_DIR})")
    r.add_argument("--facts", help="host facts JSON instead of probing")
    r.add_argument("--state-dir", default="/var/lib/provisioner-agent")
    r.add_argument("--serial-dir", help="log each guest's serial console here")
    r.add_argument("--media-dir", action="append",
                   help="a directory of install media work may use (repeat; images always)")
    r.add_argument("--virt-type", choices=("kvm", "qemu", "xen"),
                   help="force the domain type (qemu where KVM is unusable)")
    r.add_argument("--poll-timeout", type=float, default=20.0)
    r.add_argument("--doctor-interval", type=float, default=3600.0, metavar="SECONDS",
                   help="send `provisioner-agent doctor`'s report this often (and at each "
                        "registration); 0: only at registration")
    r.add_argument("--remote", action="store_true",
                   help="--connect names another host (an agentless host): facts and disk "
                        "images through libvirt, nothing local")
    r.add_argument("--bridge-plans", action="store_true",
                   help="create a missing bridge with the host-prep bridge plan")
    r.add_argument("--bridge-nic", help="uplink NIC for planned bridges (default: a lab bridge)")
    r.add_argument("--bridge-persist", default="none",
                   choices=("none", "auto", "ifcfg", "nm", "debian"),
                   help="also write the bridge into the host's network config (default: live only)")
    r.add_argument("--tls-service", choices=("reload", "systemd", "sysv", "none"),
                   help="install renewed libvirt TLS certificates (work kind tls.rotate) and "
                        "reload (libvirt >= 6.2) or restart libvirtd this way")
    r.set_defaults(func=_cmd_run)


def main(argv: list[str] | None = None) -> int:
    """``python -m agent.guest.cli guest|run ...`` (the same as ``provisioner-agent``)."""
    parser = argparse.ArgumentParser(prog="provisioner-agent")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
