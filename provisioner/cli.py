"""The ``provisioner`` command.

``serve``, ``db upgrade``, ``distro|profile|system add/list/show/edit/remove``,
``render ks|pxe|grub|ipxe SYSTEM``, ``import PATH|URL``, ``validate``, ``token create NAME``,
``demo``, ``host ...`` and ``migrate [check] GUEST --to HOST`` (``remote/cli.py``). Settings:
``--config FILE`` (or ``PROVISIONER_CONFIG``), ``PROVISIONER_*`` variables, and ``--data-dir``.
A failure prints one line ``provisioner: error: ...`` and exits 2; ``validate`` exits 1 when it
finds errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from provisioner import bootloaders, lab, statuscli, usercli
from provisioner.core.app import Core
from provisioner.demo import seed
from provisioner.errors import Conflict, Invalid, ProvisionerError
from provisioner.helptext import add_examples, next_step
from provisioner.importer import copy_boot_files, import_tree
from provisioner.main import build_core, build_power, build_remote, serve, setup_logging
from provisioner.models import Distro, Interface, Profile, System, VmDefaults
from provisioner.net.leases_cli import register_cli as register_leases_cli
from provisioner.power import cli as power_cli
from provisioner.progress import Display, Row, bar, bytes_text
from provisioner.remote import cli as remote_cli
from provisioner.settings import Settings, load
from provisioner.store import migrate
from provisioner.store.sql import SqlStore
from provisioner.web.codec import to_json

# (flag, field, type) per kind; vm fields go under "vm"
_VM = [("--ram-mb", "ram_mb", int), ("--vcpus", "vcpus", int), ("--disk-gb", "disk_gb", int),
       ("--disk-bus", "disk_bus", str), ("--bridge", "bridge", str),
       ("--hypervisor", "hypervisor", str), ("--virt-type", "virt_type", str)]
_OPTIONS: dict[str, list[tuple[str, str, Any]]] = {
    "distro": [("--arch", "arch", str), ("--os-version", "os_version", str),
               ("--breed", "breed", str), ("--kernel", "kernel", str), ("--initrd", "initrd", str),
               ("--tree-url", "tree_url", str), ("--kernel-options", "kernel_options", str)],
    "profile": [("--distro", "distro", str), ("--parent", "parent", str),
                ("--kickstart", "kickstart", str), ("--kernel-options", "kernel_options", str)],
    "system": [("--profile", "profile", str), ("--hostname", "hostname", str),
               ("--kernel-options", "kernel_options", str), ("--status", "status", str)],
}
_MODELS = {"distro": Distro, "profile": Profile, "system": System}
DESCRIPTION = ("The kickstart/PXE provisioning appliance: inventory (distros, profiles, "
               "systems), network boot (DHCP, TFTP, DNS, HTTP), VM orders and their hosts. "
               "Every command takes --data-dir or --config; `provisioner COMMAND --help` shows "
               "its options and an example.")
RENDER_KINDS = {"ks": "ks", "pxe": "pxelinux", "pxelinux": "pxelinux", "grub": "grub",
                "ipxe": "ipxe"}


def _meta(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise Invalid(f"--meta wants KEY=VALUE, not {pair!r}", field="metadata")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def _fields(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """The fields given on the command line (only those), in model shape."""
    out = {f: getattr(args, f) for _, f, _ in _OPTIONS[kind] if getattr(args, f) is not None}
    if kind in ("profile", "system"):
        vm = {f: getattr(args, f) for _, f, _ in _VM if getattr(args, f) is not None}
        if vm:
            out["vm"] = vm
        if args.meta:
            out["metadata"] = _meta(args.meta)
    if kind == "system":
        if args.mac:
            ips = args.ip or []
            if len(ips) > len(args.mac):
                raise Invalid("more --ip than --mac given", field="ip")
            out["interfaces"] = tuple(
                Interface(mac=m, ip=ips[n] if n < len(ips) else None, name=f"eth{n}",
                          bridge=args.iface_bridge)
                for n, m in enumerate(args.mac))
        if args.netboot is not None:
            out["netboot_enabled"] = args.netboot
    return out


def _new(kind: str, name: str, fields: dict[str, Any]) -> Any:
    if "vm" in fields:
        fields = {**fields, "vm": VmDefaults(**fields["vm"])}
    return _MODELS[kind](name=name, **fields)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def _remote_hosts(settings: Settings) -> Any:
    return build_remote(settings, build_core(settings))


def _power(settings: Settings) -> Any:
    return build_power(settings, build_core(settings))


def _core(args: argparse.Namespace) -> Core:
    return build_core(args.settings)


def cmd_item(args: argparse.Namespace) -> int:
    kind, action = args.kind, args.action
    core = _core(args)
    if action == "list":
        items = getattr(core, f"list_{kind}s")()
        for item in items:
            extra = {"distro": lambda d: f"{d.os_version} {d.arch}",
                     "profile": lambda p: (f"distro={p.distro}" if p.distro
                                           else f"parent={p.parent}"),
                     "system": lambda s: f"profile={s.profile} status={s.status} "
                                         f"netboot={'on' if s.netboot_enabled else 'off'} "
                                         f"{' '.join(s.macs)}"}[kind](item)
            print(f"{item.name}\t{extra}")
        return 0
    if action == "show":
        if getattr(args, "resolved", False):
            view = core.resolve_view(**{kind: args.name})
            _print_json({k: {"value": r.value, "source": r.source} for k, r in view.items()})
        else:
            _print_json(to_json(getattr(core, f"get_{kind}")(args.name)))
        return 0
    if action == "remove":
        getattr(core, f"remove_{kind}")(args.name)
        print(f"removed {kind} {args.name}")
        return 0
    fields = _fields(kind, args)
    if action == "add":
        added = getattr(core, f"add_{kind}")(_new(kind, args.name, fields))
        print(f"added {kind} {added.name}")
    else:
        if not fields:
            raise Invalid("nothing to change: give at least one option")
        getattr(core, f"update_{kind}")(args.name, fields)
        print(f"updated {kind} {args.name}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    core = _core(args)
    sys.stdout.write(core.render_preview(RENDER_KINDS[args.what], args.system,
                                         args.server or core.default_server()))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    distro = import_tree(args.source, name=args.name, os_version=args.os_version, arch=args.arch,
                         tree_url=args.tree_url)
    if args.dry_run:
        _print_json(distro.__dict__)
        return 0
    core = _core(args)
    if not distro.kernel.startswith("/") or args.in_place:
        core.add_distro(distro)  # URLs (redirected to), or in place under asset_roots
        print(f"added distro {distro.name} ({distro.os_version} {distro.arch}) from {args.source}")
        return 0
    if any(d.name == distro.name for d in core.list_distros()):
        raise Conflict(f"distro {distro.name!r} already exists",
                       hint="give another --name, or `provisioner distro remove` it first")
    dest = Path(core.settings.assets_path) / distro.name
    started = time.monotonic()
    copied = _copy_boot_files(distro, dest)
    try:
        core.add_distro(dataclasses.replace(distro, kernel="", initrd=""))
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    print(f"added distro {distro.name} ({distro.os_version} {distro.arch}) from {args.source}: "
          f"kernel and initrd copied to {dest} ({bytes_text(copied)} in "
          f"{time.monotonic() - started:.1f} s)")
    return 0


def _copy_boot_files(distro: Distro, dest: Path) -> int:
    """Copy the tree's kernel and initrd into the assets directory, showing the bytes go."""
    files = {"kernel": distro.kernel, "initrd": distro.initrd}
    display = Display()

    def show(name: str, done: int, size: int) -> None:
        rows = []
        for which, src in files.items():
            d, n = (done, size) if which == name else progress.get(which, (0, 0))
            state = "done" if n and d >= n else ("copying" if which == name else "waiting")
            rows.append(Row(which, state, f"{which:7} {bar(d, n)} {bytes_text(d):>10} of "
                                          f"{bytes_text(n) if n else '?'}  {src}"))
        progress[name] = (done, size)
        display.show(rows)

    progress: dict[str, tuple[int, int]] = {w: (0, os.path.getsize(f)) for w, f in files.items()}
    try:
        return copy_boot_files(files, dest, show)
    finally:
        display.close()


def cmd_validate(args: argparse.Namespace) -> int:
    core = _core(args)
    if args.system:
        results = {f"system:{args.system}": core.validate(system=args.system)}
    elif args.profile:
        results = {f"profile:{args.profile}": core.validate(profile=args.profile)}
    else:
        results = core.validate_all()
    errors = 0
    for subject, findings in results.items():
        if not findings:
            print(f"{subject}: ok")
        for f in findings:
            where = f" line {f.line}" if f.line else ""
            print(f"{subject}: {f.level}: [{f.source}] {f.field}{where}: {f.message}")
            errors += f.level == "error"
    print(f"{len(results)} checked, {errors} error(s)")
    return 1 if errors else 0


def cmd_token(args: argparse.Namespace) -> int:
    print(_core(args).create_token(args.name))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    store = SqlStore.open(args.settings.db_url)
    try:
        before = migrate.current(store.engine)
        migrate.upgrade(store.engine)
        print(f"database {store.engine.url.render_as_string(hide_password=True)}: "
              f"{before or 'empty'} -> {migrate.current(store.engine)}")
    finally:
        store.close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    setup_logging()
    serve(args.settings)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    for line in seed(_core(args)):
        print(line)
    return 0


def _item_parsers(sub: Any) -> None:
    for kind in ("distro", "profile", "system"):
        p = sub.add_parser(kind, help=f"manage {kind}s")
        actions = p.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help=f"list {kind}s")
        show = actions.add_parser("show", help=f"show one {kind} as JSON")
        show.add_argument("name")
        if kind != "distro":
            show.add_argument("--resolved", action="store_true",
                              help="resolved values and where each came from")
        actions.add_parser("remove", help=f"remove a {kind}").add_argument("name")
        for action in ("add", "edit"):
            a = actions.add_parser(action, help=f"{action} a {kind}")
            a.add_argument("name")
            for flag, field, typ in _OPTIONS[kind] + (_VM if kind != "distro" else []):
                a.add_argument(flag, dest=field, type=typ, default=None)
            if kind != "distro":
                a.add_argument("--meta", action="append", metavar="KEY=VALUE",
                               help="metadata (VALUE parsed as JSON when it is JSON)")
            if kind == "system":
                a.add_argument("--mac", action="append", help="interface MAC (repeat for more)")
                a.add_argument("--ip", action="append", help="static IP of the n-th --mac")
                a.add_argument("--iface-bridge", default=None, help="bridge of the interfaces")
                a.add_argument("--netboot", dest="netboot", action="store_true", default=None)
                a.add_argument("--no-netboot", dest="netboot", action="store_false")
        p.set_defaults(func=cmd_item, kind=kind)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="provisioner", description=DESCRIPTION)
    ap.add_argument("--config", help="settings TOML file (default: $PROVISIONER_CONFIG)")
    ap.add_argument("--data-dir", help="data directory (overrides the settings)")
    sub = ap.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the appliance (waitress) in the foreground")
    s.add_argument("--host", help="HTTP address (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="HTTP port (default 8080)")
    s.add_argument("--workers", type=int, metavar="N",
                   help="TFTP worker processes (setting tftp_workers; default one per core)")
    s.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance")
    db.add_subparsers(dest="action", required=True).add_parser(
        "upgrade", help="apply schema migrations").set_defaults(func=cmd_db)

    _item_parsers(sub)
    _document_parsers(sub)
    bootloaders.register(sub, _core)
    register_leases_cli(sub)
    lab.register(sub)
    usercli.register(sub)
    remote_cli.register(sub, _remote_hosts)
    statuscli.register(sub)
    power_cli.register(sub, _power)
    return add_examples(ap)


def _document_parsers(sub: argparse._SubParsersAction) -> None:
    """render, import, validate, token, demo."""
    r = sub.add_parser("render", help="print a rendered document for a system")
    r.add_argument("what", choices=sorted(RENDER_KINDS))
    r.add_argument("system")
    r.add_argument("--server", help="base URL to render with (default: the settings')")
    r.set_defaults(func=cmd_render)

    i = sub.add_parser("import", help="add a distro from an install tree, mounted ISO or URL")
    i.add_argument("source", metavar="PATH|URL")
    i.add_argument("--name")
    i.add_argument("--os-version")
    i.add_argument("--arch")
    i.add_argument("--tree-url", help="URL clients install from (default: the source)")
    i.add_argument("--dry-run", action="store_true", help="print the distro, add nothing")
    i.add_argument("--in-place", action="store_true",
                   help="serve kernel and initrd from the tree itself (it must be under a "
                        "directory of the setting asset_roots) instead of copying them")
    i.set_defaults(func=cmd_import)

    v = sub.add_parser("validate", help="platform rules + pykickstart for profiles and systems")
    v.add_argument("--system")
    v.add_argument("--profile")
    v.set_defaults(func=cmd_validate)

    t = sub.add_parser("token", help="API bearer tokens")
    t.add_subparsers(dest="action", required=True).add_parser(
        "create", help="create a token; it is printed once and stored hashed").add_argument("name")
    t.set_defaults(func=cmd_token)

    d = sub.add_parser("demo", help="seed a sample distro, profiles and system (idempotent)")
    d.set_defaults(func=cmd_demo)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "host", None):
        overrides["http_host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["http_port"] = args.port
    if getattr(args, "workers", None) is not None:
        overrides["tftp_workers"] = args.workers
    return load(args.config, **overrides)


def main(argv: Sequence[str] | None = None,
         run: Callable[[argparse.Namespace], int] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.settings = _settings(args)
        return (run or args.func)(args)
    except ProvisionerError as exc:
        return _error(args, exc, exc.hint)
    except (OSError, ValueError, TypeError) as exc:
        return _error(args, exc, None)
    except KeyboardInterrupt:
        return 130


def _error(args: argparse.Namespace, exc: BaseException, hint: str | None) -> int:
    """``provisioner: error: ...`` and, always, what to run next; exit status 2."""
    print(f"provisioner: error: {exc}", file=sys.stderr)
    command = " ".join(p for p in (getattr(args, "command", None),
                                   getattr(args, "action", None)) if isinstance(p, str))
    hint = hint or next_step(str(exc)) or (
        f"`provisioner {command} --help` shows its options and an example")
    print(f"provisioner: hint: {hint}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
