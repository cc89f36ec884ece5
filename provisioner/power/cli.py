"""``provisioner power ...`` and ``provisioner reinstall NAME...``.

    provisioner power set NAME --driver redfish --address https://bmc1.example.com \\
        --username admin --password-file pw.txt [--ca-bundle bmc-ca.pem] [--system-id ID]
    provisioner power set NAME --driver ipmi --address 10.0.0.21 --username admin \\
        --password-stdin < pw.txt
    provisioner power set NAME --driver libvirt --address HOST     # a guest this appliance made
    provisioner power show NAME | list | remove NAME
    provisioner power on|off|cycle|reset|status NAME
    provisioner power boot NAME pxe|http|disk [--persistent]
    provisioner reinstall NAME... [--boot pxe|http] [--timeout S] [--concurrency N]

The password is read from a file, stdin or a prompt (never the command line, never printed).
``reinstall`` prints each machine's progress as it changes and exits 0 when every machine was
reinstalled, 1 when one failed (each failure says why and what was put back).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioner.core.power import ADMIN, Actor
from provisioner.errors import Invalid

CLI = Actor("cli", True)
Build = Callable[[Any], tuple[Any, Any]]


def register(sub: argparse._SubParsersAction, build: Build) -> None:
    """Add ``power`` and ``reinstall``; ``build(settings)`` makes ``(Power, Reinstaller)``."""
    p = sub.add_parser("power", help="power control: BMC settings, on/off/cycle, boot device")
    acts = p.add_subparsers(dest="action", required=True)
    s = acts.add_parser("set", help="set or change a system's power controller settings")
    s.add_argument("name")
    s.add_argument("--driver", choices=("redfish", "ipmi", "libvirt"))
    s.add_argument("--address", help="Redfish base URL, IPMI host, or the libvirt guest's host")
    s.add_argument("--port", type=int, help="IPMI UDP port (default 623)")
    s.add_argument("--username")
    pw = s.add_mutually_exclusive_group()
    pw.add_argument("--password-file", help="read the BMC password from this file")
    pw.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    pw.add_argument("--password-prompt", action="store_true", help="prompt for it")
    s.add_argument("--system-id", help="Redfish ComputerSystem id; libvirt domain name")
    s.add_argument("--auth", choices=("auto", "session", "basic"), help="Redfish auth")
    s.add_argument("--ca-bundle", help="PEM file: the CA that signed the BMC's certificate")
    s.add_argument("--insecure", action="store_true",
                   help="do not verify the BMC's TLS certificate (shown as a warning)")
    s.add_argument("--verify", action="store_true", help="verify it again (the default)")
    s.add_argument("--boot-mode", choices=("auto", "uefi", "legacy"))
    s.add_argument("--timeout", type=float, help="seconds per request (default 20)")
    for name, help_ in (("show", "settings (never the password) and last state"),
                        ("remove", "forget the settings and the BMC password")):
        acts.add_parser(name, help=help_).add_argument("name")
    acts.add_parser("list", help="every system with power settings and its last state")
    for action in ("on", "off", "cycle", "reset", "status"):
        acts.add_parser(action, help={"status": "ask the controller now",
                                      "cycle": "off, then on"}.get(action, f"power {action}")
                        ).add_argument("name")
    b = acts.add_parser("boot", help="the boot device of the next boot")
    b.add_argument("name")
    b.add_argument("device", choices=("pxe", "http", "disk"))
    b.add_argument("--persistent", action="store_true", help="every boot, not only the next")
    p.set_defaults(func=cmd_power, build_power=build)

    r = sub.add_parser("reinstall", help="reinstall machines: netboot, one-time network boot, "
                                         "power-cycle, follow the install, boot from disk")
    r.add_argument("names", nargs="+", metavar="NAME")
    r.add_argument("--boot", choices=("pxe", "http"), default="pxe")
    r.add_argument("--timeout", type=float, help="seconds per machine (setting "
                                                 "reinstall_timeout; default 1800)")
    r.add_argument("--concurrency", type=int, help="machines at once (setting "
                                                   "reinstall_concurrency; default 4)")
    r.set_defaults(func=cmd_reinstall, build_power=build)


def _password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        return Path(args.password_file).read_text().rstrip("\r\n")
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.password_prompt:
        return getpass.getpass("BMC password: ")
    return None


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in ("driver", "address", "port", "username", "system_id", "auth", "boot_mode",
                "timeout"):
        value = getattr(args, key)
        if value is not None:
            data[key] = value
    if args.ca_bundle:
        data["ca_bundle"] = Path(args.ca_bundle).read_text()
    if args.insecure and args.verify:
        raise Invalid("--insecure and --verify contradict each other")
    if args.insecure or args.verify:
        data["verify_tls"] = bool(args.verify)
    password = _password(args)
    if password is not None:
        data["password"] = password
    return data


def cmd_power(args: argparse.Namespace) -> int:
    power, _ = args.build_power(args.settings)
    a = args.action
    if a == "set":
        power.configure(args.name, _changes(args), ADMIN)
        a = "show"
    if a == "show":
        out = {"system": args.name, "settings": power.settings(args.name),
               "status": power.status(args.name).as_dict()}
        print(json.dumps(out, indent=2))
        for w in out["settings"]["warnings"]:
            print(f"provisioner: warning: {w}", file=sys.stderr)
    elif a == "remove":
        power.remove(args.name, ADMIN)
    elif a == "list":
        for c in power.power_store.list_power_configs():
            st = power.status(c.system)
            seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.last_seen)) \
                if st.last_seen else "never"
            print(f"{c.system:24} {c.driver:8} {st.state:8} last seen {seen}"
                  + (f"  ({st.error})" if st.error else ""))
    elif a == "boot":
        power.set_boot(args.name, args.device, CLI, once=not args.persistent)
        print(f"{args.name}: boot from {args.device} "
              f"{'from now on' if args.persistent else 'next time'}")
    elif a == "status":
        power.check_control(args.name, CLI)
        st = power.refresh(args.name)
        print(f"{args.name}: {st.state}" + (f" ({st.error})" if st.error else ""))
        return 0 if not st.error else 1
    else:
        st = power.act(args.name, a, CLI)
        print(f"{args.name}: {a} done; now {st.state}")
    return 0


def cmd_reinstall(args: argparse.Namespace) -> int:
    _, reinstaller = args.build_power(args.settings)
    s = args.settings
    job = reinstaller.prepare(args.names, CLI, boot=args.boot,
                              timeout=args.timeout or float(s.reinstall_timeout),
                              concurrency=args.concurrency or s.reinstall_concurrency)
    worker = threading.Thread(target=reinstaller.run, args=(job, CLI), daemon=True)
    worker.start()
    shown: dict[str, tuple[str, str]] = {}
    width = max(len(n) for n in args.names)
    while True:
        finished = job.done.wait(0.5)
        for p in job.systems.values():
            if shown.get(p.system) != (p.stage, p.message):
                shown[p.system] = (p.stage, p.message)
                print(f"{time.strftime('%H:%M:%S')} {p.system:{width}} {p.stage:10} "
                      f"{p.message}", flush=True)
        if finished:
            break
    bad = [p for p in job.systems.values() if not p.ok]
    print(f"reinstall: {len(job.systems) - len(bad)} done, {len(bad)} failed")
    return 1 if bad else 0
