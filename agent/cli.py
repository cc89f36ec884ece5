"""The ``provisioner-agent`` command.

Subcommands register themselves: every function in ``SUBCOMMANDS`` (``register`` below and
``agent.guest.cli.register``) adds its parsers and sets ``func`` (called with the parsed args,
returns the exit code). To add a subcommand module, append its ``register`` there. The plan
kinds (``plan|apply KIND``) and their options are in ``agent/plankinds.py``.

This module (and ``main.py`` on the appliance side) is the only place that reads the
environment or opens real runners; everything below gets them as arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from agent.apply.applier import ConfirmWait, Journal, apply, rollback
from agent.apply.netlink import NetOps, Pyroute2Net, ReadOnlyNet
from agent.apply.reach import connectivity_check
from agent.apply.system import RealSystem
from agent.doctor import cli as doctor_cli
from agent.facts.model import HostFacts
from agent.facts.probe import probe
from agent.guest import cli as guest_cli
from agent.plan import paravirt
from agent.plan.steps import Plan, PlanError
from agent.plankinds import PLAN_KINDS
from agent.run import SubprocessRunner
from agent.xen import cli as xen_cli

EXIT_REFUSED = 2          # impossible or refused request (PlanError), bad target
EXIT_FAILED = 1           # apply failed (and was rolled back) or rollback had errors


def _cmd_probe(args: argparse.Namespace) -> int:
    facts = probe(args.root, SubprocessRunner(netns=args.netns), image_dir=args.image_dir,
                  libvirt_uri=args.libvirt_uri)
    json.dump(facts.to_dict(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def _facts(args: argparse.Namespace) -> HostFacts:
    return probe(args.root, SubprocessRunner(netns=args.netns), image_dir=args.image_dir,
                 libvirt_uri=args.libvirt_uri)


def _build_plan(args: argparse.Namespace) -> tuple[HostFacts, Plan | None]:
    """(facts, plan), or (facts, None) after printing why the request is refused."""
    facts = _facts(args)
    try:
        return facts, PLAN_KINDS[args.kind].build(facts, args)
    except PlanError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return facts, None


def _system(args: argparse.Namespace, *, read_only: bool, network: bool = True) -> RealSystem:
    net: NetOps | None = None
    if network and (args.netns or getattr(args, "live_host", False) or read_only):
        net = Pyroute2Net(args.netns)
        if read_only:
            net = ReadOnlyNet(net)
    return RealSystem(Path(args.root), SubprocessRunner(netns=args.netns), net)


def _cmd_plan(args: argparse.Namespace) -> int:
    _, plan = _build_plan(args)
    if plan is None:
        return EXIT_REFUSED
    sys.stdout.write(plan.describe() + "\n")
    system = _system(args, read_only=True, network=plan.network)
    try:
        report = apply(plan, system, dry_run=True)
    finally:
        system.close()
    sys.stdout.write(report.text())
    return 0 if report.ok else EXIT_FAILED


def _locked(state_dir: str) -> contextlib.AbstractContextManager[None]:
    """An exclusive lock on the state directory: one apply/rollback at a time per journal."""
    @contextlib.contextmanager
    def lock() -> Iterator[None]:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(state_dir) / "lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SystemExit(f"refused: another apply/rollback holds {state_dir}/lock") \
                    from None
            yield

    return lock()


def _cmd_apply(args: argparse.Namespace) -> int:
    with _locked(args.state_dir):
        return _apply_locked(args)


def _apply_locked(args: argparse.Namespace) -> int:
    facts, plan = _build_plan(args)
    if plan is None:
        return EXIT_REFUSED
    if plan.network and not (args.netns or args.live_host):
        print("refused: this plan changes live networking; name the target with --netns NAME "
              "(or --live-host to change this machine's own network)", file=sys.stderr)
        return EXIT_REFUSED
    state = Path(args.state_dir)
    jpath = state / "journal.json"
    journal = Journal.load(jpath) if jpath.exists() else Journal(jpath)
    marker = state / "confirmed"
    marker.unlink(missing_ok=True)
    confirm = None
    if plan.network and args.confirm_timeout > 0:
        print(f"applying; confirm within {args.confirm_timeout:g}s with "
              f"`provisioner-agent confirm --state-dir {state}` or it is rolled back",
              file=sys.stderr)
        confirm = ConfirmWait(args.confirm_timeout, marker.exists)
    check = None
    if plan.network:
        gw = facts.network.default_gateway
        targets = args.check or ([gw] if gw else [])
        check = connectivity_check(targets, require_default_route=gw is not None)
    system = _system(args, read_only=False, network=plan.network)
    try:
        report = apply(plan, system, journal=journal, connectivity=check, confirm=confirm)
    finally:
        system.close()
    sys.stdout.write(report.text())
    return 0 if report.ok else EXIT_FAILED


def _cmd_rollback(args: argparse.Namespace) -> int:
    with _locked(args.state_dir):
        return _rollback_locked(args)


def _rollback_locked(args: argparse.Namespace) -> int:
    jpath = Path(args.state_dir) / "journal.json"
    if not jpath.exists():
        print("nothing to roll back (no journal)", file=sys.stderr)
        return 0
    journal = Journal.load(jpath)
    if any(op["op"] == "net" for op in journal.ops) and not (args.netns or args.live_host):
        print("refused: the journal has network changes; name the target with --netns NAME "
              "or --live-host", file=sys.stderr)
        return EXIT_REFUSED
    n = len(journal.ops)
    system = _system(args, read_only=False,
                     network=any(op["op"] == "net" for op in journal.ops))
    try:
        errors = rollback(journal, system)
    finally:
        system.close()
    for e in errors:
        print(f"rollback error: {e}", file=sys.stderr)
    print(f"rolled back {n} operation(s)")
    return EXIT_FAILED if errors else 0


def _cmd_confirm(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    (state / "confirmed").write_text("confirmed\n")
    print("confirmed")
    return 0


def _cmd_pv_kickstart(args: argparse.Namespace) -> int:
    want = paravirt.PvWant(guest_os=args.guest_os, guest_version=args.guest_version,
                           guest_arch=args.guest_arch, guest_kernel=args.guest_kernel,
                           nics=args.nics, virtio_boot_disk=args.virtio_boot_disk)
    try:
        text = paravirt.kickstart_post((args.hypervisor, args.host_version, args.host_arch), want)
    except PlanError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    sys.stdout.write(text)
    return 0


def _target_args(p: argparse.ArgumentParser, *, root_required: bool) -> None:
    p.add_argument("--root", required=root_required, default=None if root_required else "/",
                   help="files are read/edited under this directory"
                   + (" (required: say / explicitly for this machine)" if root_required else ""))
    p.add_argument("--netns", default=None, help="network namespace holding the network to change")
    p.add_argument("--image-dir", default="/var/lib/libvirt/images")
    p.add_argument("--libvirt-uri", default="qemu:///system")


def _kind_parsers(parent: argparse.ArgumentParser, *, apply_mode: bool) -> None:
    kinds = parent.add_subparsers(dest="kind", required=True)
    for kind, spec in PLAN_KINDS.items():
        kp = kinds.add_parser(kind, help=f"{kind} plan")
        _target_args(kp, root_required=apply_mode)
        if apply_mode:
            kp.add_argument("--live-host", action="store_true",
                            help="allow changing this machine's own network (no namespace)")
            kp.add_argument("--state-dir", required=True,
                            help="journal + confirmation marker live here")
            kp.add_argument("--check", action="append", default=[],
                            help="address that must answer after a network change (repeat)")
            kp.add_argument("--confirm-timeout", type=float, default=0,
                            help="roll back unless confirmed within this many seconds")
        spec.add_arguments(kp)


def register(subparsers: argparse._SubParsersAction) -> None:
    """The host subcommands: probe, plan (dry run), apply, rollback, confirm."""
    p = subparsers.add_parser("probe", help="print what this host is, as JSON")
    _target_args(p, root_required=False)
    p.set_defaults(func=_cmd_probe)

    p = subparsers.add_parser("plan", help="print a plan and its dry run (changes nothing)")
    _kind_parsers(p, apply_mode=False)
    p.set_defaults(func=_cmd_plan)

    p = subparsers.add_parser("apply", help="apply a plan (journal, checks, rollback)")
    _kind_parsers(p, apply_mode=True)
    p.set_defaults(func=_cmd_apply)

    p = subparsers.add_parser("rollback", help="undo what apply recorded in the journal")
    _target_args(p, root_required=True)
    p.add_argument("--live-host", action="store_true")
    p.add_argument("--state-dir", required=True)
    p.set_defaults(func=_cmd_rollback)

    p = subparsers.add_parser("pv-kickstart",
                              help="print the paravirt driver steps as a kickstart %%post snippet")
    p.add_argument("--hypervisor", required=True, choices=("xen", "kvm"))
    p.add_argument("--host-version", required=True, help="RHEL release of the host, e.g. 5.4")
    p.add_argument("--host-arch", default="x86_64")
    p.add_argument("--guest-os", default="rhel", choices=("rhel", "windows"))
    p.add_argument("--guest-version", required=True)
    p.add_argument("--guest-arch", default="x86_64")
    p.add_argument("--guest-kernel")
    p.add_argument("--nics", type=int, default=1)
    p.add_argument("--virtio-boot-disk", action="store_true")
    p.set_defaults(func=_cmd_pv_kickstart)

    p = subparsers.add_parser("confirm", help="keep a network change made with --confirm-timeout")
    p.add_argument("--state-dir", required=True)
    p.set_defaults(func=_cmd_confirm)


#: What adds subcommands to ``provisioner-agent``. Extend with one line.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    register,             # probe, plan, apply, rollback, confirm, pv-kickstart
    guest_cli.register,   # guest (virt-install-like), run (the work loop)
    xen_cli.register,     # xen check|to-xml|from-xml
    doctor_cli.register,  # doctor
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="provisioner-agent",
                                     description="Host-prep agent: probe, plan, apply, guests.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
