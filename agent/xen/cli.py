"""``provisioner-agent xen check|to-xml|from-xml FILE``: read a Xen guest file without running
it (errors name the file and line), convert it to libvirt domain XML, or back (the equivalents
of ``virsh domxml-from-native xen-xm`` / ``domxml-to-native``). Exit 0, or 2 when refused."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.xen.convert import ConvertError, from_xml, to_xml
from agent.xen.specs import SpecError
from agent.xen.sxp import SxpError, parse_xend, settings_dict
from agent.xen.xmcfg import XenCfgError, parse_xmcfg, render_xmcfg

EXIT_REFUSED = 2


def _read(path: str) -> str:
    """The file's text; ``-`` reads standard input (``guest --print-xml | xen from-xml -``)."""
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    return data.decode("latin-1")


def _cmd(args: argparse.Namespace) -> int:
    try:
        text = _read(args.file)
        if args.action == "from-xml":
            sys.stdout.write(render_xmcfg(from_xml(text)))
            return 0
        if args.action == "check" and Path(args.file).name == "xend-config.sxp":
            for key, value in settings_dict(parse_xend(text, args.file)).items():
                print(f"{key} = {value!r}")
            return 0
        cfg = parse_xmcfg(text, args.file)
        for w in cfg.warnings:
            print(f"{args.file}: warning: {w}", file=sys.stderr)
        sys.stdout.write(to_xml(cfg.values) if args.action == "to-xml"
                         else render_xmcfg(cfg.values))
        return 0
    except (OSError, XenCfgError, SxpError, ConvertError, SpecError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    x = subparsers.add_parser("xen", help="read, check and convert Xen configuration files")
    x.add_argument("action", choices=("check", "to-xml", "from-xml"),
                   help="check: parse (xend-config.sxp or a guest file) and print the settings;"
                        " to-xml: guest file -> domain XML; from-xml: domain XML -> guest file")
    x.add_argument("file", help="the file; - for standard input")
    x.set_defaults(func=_cmd)
