"""Command line of the Vagrant lab: ``lab box build`` and ``lab vagrant up|down|run|status``.

:func:`register_box` and :func:`register_vagrant` add the sub-commands to the ``lab`` command's
sub-parsers (``provisioner lab box build``); ``python -m provisioner.lab.vagrant`` offers the
same commands on their own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from provisioner.lab.vagrant import boxbuild, boxspec, contained, session


def register_box(sub: argparse._SubParsersAction) -> None:
    box = sub.add_parser("box", help="Vagrant boxes for the Vagrant lab, built here")
    bsub = box.add_subparsers(dest="box_cmd", required=True)
    b = bsub.add_parser("build", help="build (or reuse) a libvirt box from the distribution's "
                                      "packages and `vagrant box add` it")
    b.add_argument("--distro", default="debian-12", choices=sorted(boxspec.DISTROS))
    b.add_argument("--role", default="appliance", choices=sorted(boxspec.ROLES))
    b.add_argument("--cache", type=Path, default=boxbuild.DEFAULT_CACHE,
                   help="box cache directory (default %(default)s)")
    b.add_argument("--force", action="store_true", help="rebuild even when cached")
    b.add_argument("--no-add", action="store_true", help="build only, no `vagrant box add`")
    b.set_defaults(vagrant_func=cmd_box_build)


def register_vagrant(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("vagrant", help="the Vagrant lab (Vagrantfile) with its own libvirtd in "
                                       "a network namespace")
    vsub = v.add_subparsers(dest="vagrant_cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=contained.DEFAULT_DIR,
                        help="state and logs (default %(default)s)")
    common.add_argument("--cache", type=Path, default=boxbuild.DEFAULT_CACHE)
    common.add_argument("--distro", default="debian-12", choices=sorted(boxspec.DISTROS))
    u = vsub.add_parser("up", parents=[common], help="environment, boxes, then `vagrant up`")
    u.add_argument("machines", nargs="*", default=["appliance", "pxe1"])
    u.add_argument("--timeout", type=float, default=3600)
    u.add_argument("--times-json", type=Path, help="write the phase wall times here")
    u.set_defaults(vagrant_func=cmd_up)
    d = vsub.add_parser("down", parents=[common], help="`vagrant destroy -f`, remove everything")
    d.set_defaults(vagrant_func=cmd_down)
    r = vsub.add_parser("run", parents=[common], help="vagrant ARGS inside the environment "
                                                      "(e.g. `run -- ssh appliance`)")
    r.add_argument("args", nargs=argparse.REMAINDER)
    r.set_defaults(vagrant_func=cmd_run)
    s = vsub.add_parser("status", parents=[common], help="the environment and `vagrant status`")
    s.set_defaults(vagrant_func=cmd_status)


def _opts(args: argparse.Namespace) -> session.Options:
    return session.Options(dir=args.dir, cache=args.cache, distro=args.distro,
                           timeout=getattr(args, "timeout", 3600))


def cmd_box_build(args: argparse.Namespace) -> int:
    built = boxbuild.build(args.distro, args.role, args.cache, force=args.force)
    if not args.no_add:
        added = boxbuild.add(built, dict(os.environ))
        print(f"box: {built.name} {'added' if added else 'already added'} ({built.path})")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    phases = session.up(args.machines, _opts(args))
    print("lab: up. Phases (wall time):\n" + phases.format())
    print("lab: web UI inside the lab's namespace at http://127.0.0.1:8080/ ; "
          f"shell: provisioner lab vagrant run --dir {args.dir} -- ssh appliance")
    if args.times_json:
        args.times_json.write_text(json.dumps(phases.table(), indent=1) + "\n")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    if not session.down(_opts(args)):
        print(f"lab: no Vagrant lab environment in {args.dir}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    rest = args.args[1:] if args.args[:1] == ["--"] else args.args
    return session.run(rest, _opts(args))


def cmd_status(args: argparse.Namespace) -> int:
    env = contained.Env.load(args.dir)
    if env is None:
        print(f"lab: no Vagrant lab environment in {args.dir}")
        return 1
    print(f"lab: namespace {env.netns}, holder {env.holder}, libvirtd {env.libvirtd}")
    return session.run(["status"], _opts(args))


ERRORS = (boxbuild.BoxError, contained.EnvError, session.LabError)


def run(args: argparse.Namespace) -> int:
    """The chosen ``lab box``/``lab vagrant`` command; a known failure is one clear line."""
    try:
        return int(args.vagrant_func(args))
    except ERRORS as exc:
        print(f"provisioner lab: error: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m provisioner.lab.vagrant")
    sub = p.add_subparsers(dest="lab_action", required=True)
    register_box(sub)
    register_vagrant(sub)
    return run(p.parse_args(argv))
