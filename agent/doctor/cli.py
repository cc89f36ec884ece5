"""``provisioner-agent doctor``: collect the facts, match the catalogue, print the findings
(``--json`` for machines), optionally send the report to the appliance (``--send``).

Exit status: 0 healthy (nothing, or only info notes), 1 findings, 2 could not run. It only
reads: files under ``--root`` (``/`` by default; a fixture tree in tests) and, on the real
root, the probe's read-only commands (``ip -j``, ``virsh uri``, ``nmcli``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent.client import AgentClient, ApiError, Unavailable
from agent.doctor.diagnose import diagnose
from agent.doctor.report import EXIT_CANNOT_RUN, report, text
from agent.facts.health import probe_health
from agent.facts.model import HostFacts
from agent.facts.probe import probe
from agent.run import SubprocessRunner
from provisioner.platform.doctor import log_files, log_limits


def doctor_report(root: str, *, facts: HostFacts | None = None, image_dir: str | None = None,
                  extra_logs: tuple[str, ...] = ()) -> dict[str, Any]:
    """The whole diagnosis of the host under ``root`` as a report (see agent/doctor/report)."""
    if facts is None:
        runner = SubprocessRunner() if Path(root).resolve() == Path("/") else None
        facts = probe(root, runner, image_dir=image_dir or "/var/lib/libvirt/images")
    tail, most = log_limits()
    health = probe_health(root, log_patterns=log_files(), extra_logs=extra_logs,
                          tail_bytes=tail, max_logs=most)
    return report(facts, health, diagnose(facts, health))


def _cmd_doctor(args: argparse.Namespace) -> int:
    if not Path(args.root).is_dir():
        print(f"doctor: cannot run: {args.root} is not a directory", file=sys.stderr)
        return EXIT_CANNOT_RUN
    missing = [f for f in args.log if not Path(f).is_file()]
    if missing:
        print(f"doctor: cannot run: no such log file {missing[0]}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        rep = doctor_report(args.root, image_dir=args.image_dir, extra_logs=tuple(args.log))
    except (OSError, ValueError) as exc:
        print(f"doctor: cannot run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    sys.stdout.write(json.dumps(rep, indent=2, sort_keys=True) + "\n" if args.json
                     else text(rep))
    if args.send:
        host = args.host or rep["facts"]["hostname"]
        try:
            token = args.token or (Path(args.token_file).read_text().strip()
                                   if args.token_file else "")
            AgentClient(args.send, host, token).doctor(rep)
        except (Unavailable, ApiError, ValueError, OSError) as exc:
            print(f"doctor: report not sent: {exc}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        print(f"doctor: report sent to {args.send} for host {host}", file=sys.stderr)
    return 1 if rep["status"] == "findings" else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = subparsers.add_parser(
        "doctor", help="diagnose this host with the guide's troubleshooting chapters",
        description="Reads the host's facts and the guide's log files (/var/log/xen/, "
                    "/var/log/libvirt/, /var/log/messages) and prints each problem with its "
                    "cause, the guide's fix and the agent plan that applies it. Changes "
                    "nothing. Exit: 0 healthy, 1 findings, 2 could not run.")
    d.add_argument("--root", default="/", help="the host's root (a fixture tree in tests)")
    d.add_argument("--json", action="store_true", help="the report as JSON")
    d.add_argument("--log", action="append", default=[], metavar="FILE",
                   help="also read this log file (e.g. a copy of xend.log)")
    d.add_argument("--image-dir", default=None)
    d.add_argument("--send", metavar="URL", help="send the report to the appliance at URL")
    d.add_argument("--host", help="this host's name at the appliance (default: hostname)")
    d.add_argument("--token")
    d.add_argument("--token-file")
    d.set_defaults(func=_cmd_doctor)
