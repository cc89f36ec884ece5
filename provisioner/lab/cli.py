"""``provisioner lab up|status|restart|down``, ``lab box ...`` and ``lab vagrant ...`` (the Vagrant
lab, ``provisioner/lab/vagrant/``), and ``python -m provisioner.lab`` (the relays)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provisioner.lab.appliance import restart_appliance
from provisioner.lab.relays import forward, router_adverts
from provisioner.lab.session import down, status, up
from provisioner.lab.state import DEFAULT_CACHE, DEFAULT_SUBNET, LabError
from provisioner.lab.vagrant import cli as vagrant_cli


def format_status(info: dict[str, Any]) -> str:
    """``lab status`` for people: where things are, what runs, how far each guest got."""
    lines = [f"lab in {info['dir']} ({info['mode']} mode), namespace {info['netns']}"
             + ("" if info["netns_exists"] else " (MISSING)"),
             f"web UI      {info['ui']}  (admin / {info['admin_password']})",
             f"appliance   {info['appliance']} inside the namespace", "processes"]
    for role, p in info["processes"].items():
        lines.append(f"  {role:16} pid {p['pid']:<8} {'running' if p['alive'] else 'exited'}")
    lines.append("guests" if info["guests"] else "guests      none")
    for g in info["guests"]:
        lines.append(f"  {g['name']:16} {g['state']:11} {g.get('address') or '-':15} "
                     f"{g.get('host') or g.get('mac') or ''}")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``lab up|status|down`` to the ``provisioner`` command."""
    p = sub.add_parser("lab", help="a private lab on this machine: appliance, agent, QEMU guests")
    acts = p.add_subparsers(dest="lab_action", required=True)
    u = acts.add_parser("up", help="create the lab network, appliance, agent and guests")
    u.add_argument("--guests", type=int, default=1, help="guests to boot (default 1)")
    u.add_argument("--mode", choices=("auto", "agent", "qemu"), default="auto",
                   help="agent: orders through the scheduler and a local agent (default when "
                        "available); qemu: the lab boots QEMU itself")
    u.add_argument("--subnet", default=DEFAULT_SUBNET, help="first three octets (10.79.0)")
    u.add_argument("--cache", default=str(DEFAULT_CACHE), help="boot kit cache directory")
    u.add_argument("--wait", choices=("none", "kickstart", "installed"), default="none",
                   help="return once every guest reached this stage")
    u.add_argument("--timeout", type=float, default=600)
    u.add_argument("--ui-port", type=int, default=0, help="loopback port of the web UI")
    st = acts.add_parser("status", help="processes and guests of the lab")
    st.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    acts.add_parser("restart", help="restart the appliance on the same data")
    dn = acts.add_parser("down", help="remove everything the lab made")
    dn.add_argument("--purge-cache", action="store_true", help="also remove the boot kit cache")
    vagrant_cli.register_box(acts)
    vagrant_cli.register_vagrant(acts)
    p.set_defaults(func=cmd_lab)


def cmd_lab(args: argparse.Namespace) -> int:
    if args.lab_action in ("box", "vagrant"):
        return vagrant_cli.run(args)
    data_dir = args.settings.data_dir
    try:
        if args.lab_action == "up":
            up(data_dir, guests=args.guests, mode=args.mode, subnet=args.subnet,
               cache=Path(args.cache), wait=args.wait, timeout=args.timeout,
               ui_port=args.ui_port)
            return 0
        if args.lab_action == "status":
            info = status(data_dir)
            if info is None:
                print("lab: not up; `provisioner lab up` makes one")
                return 1
            print(json.dumps(info, indent=2) if args.json else format_status(info))
            return 0
        if args.lab_action == "restart":
            restart_appliance(data_dir)
            return 0
        down(data_dir, purge_cache=args.purge_cache)
        return 0
    except LabError as exc:
        print(f"provisioner lab: error: {exc}", file=sys.stderr)
        print("provisioner lab: hint: `provisioner lab status` shows what runs, "
              "`provisioner lab down` removes what is left", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m provisioner.lab forward ...`` (the loopback forwarder process)."""
    ap = argparse.ArgumentParser(prog="provisioner.lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--fd", type=int, required=True)
    f.add_argument("--netns", required=True)
    f.add_argument("--to", required=True)
    r = sub.add_parser("router-adverts")
    r.add_argument("--ifname", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "router-adverts":
        router_adverts(args.ifname)
        return 0
    host, _, port = args.to.rpartition(":")
    forward(args.fd, args.netns, (host, int(port)))
    return 0
