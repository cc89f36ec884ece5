"""The ``provisioner-agent`` command.

Subcommands register themselves: every module named in ``SUBCOMMAND_MODULES`` has a
``register(subparsers)`` function that adds its parsers and sets ``func`` (called with the
parsed args, returns the exit code). To add a subcommand module, append one line there.

This module (and ``main.py`` on the appliance side) is the only place that reads the
environment or opens real runners; everything below gets them as arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

#: Modules that add subcommands through ``register(subparsers)``. Extend with one line.
SUBCOMMAND_MODULES: list[str] = [
    "agent.cli",          # probe (this module's own register below)
]


def _cmd_probe(args: argparse.Namespace) -> int:
    from agent.facts.probe import probe
    from agent.run import SubprocessRunner

    facts = probe(args.root, SubprocessRunner(netns=args.netns), image_dir=args.image_dir,
                  libvirt_uri=args.libvirt_uri)
    json.dump(facts.to_dict(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """The host subcommands: probe (more are added by ``agent.cli_host``)."""
    p = subparsers.add_parser("probe", help="print what this host is, as JSON")
    p.add_argument("--root", default="/", help="read files under this directory (default /)")
    p.add_argument("--netns", default=None, help="read the network of this namespace")
    p.add_argument("--image-dir", default="/var/lib/libvirt/images")
    p.add_argument("--libvirt-uri", default="qemu:///system")
    p.set_defaults(func=_cmd_probe)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="provisioner-agent",
                                     description="Host-prep agent: probe, plan, apply, guests.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
