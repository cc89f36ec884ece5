"""``provisioner host ...`` (agentless hosts, the appliance's keys and CA) and
``provisioner migrate [check] GUEST --to HOST``.

    provisioner host key                                  # the line for authorized_keys
    provisioner host add NAME --uri qemu+ssh://root@10.0.0.5/system --ssh-host-key 'ssh-ed25519 ...'
    provisioner host add NAME --uri qemu+ssh://... --scan # trust the key the host presents now
    provisioner host add NAME --uri qemu+tls://host5.example.com/system
    provisioner host list | remove NAME
    provisioner host cert NAME [--name N ...] --out bundle.json  # for provisioner-agent apply tls
    provisioner host ca | renew-client
    provisioner host rotate [--dry-run] [--margin-days N]   # also run by serve every few hours
    provisioner migrate check GUEST --to HOST [--copy-storage] [--force] [--json]
    provisioner migrate GUEST --to HOST [--offline] [--copy-storage] [--tls-stream] [--force]
                               [--p2p | --tunnelled] [--deadline SECONDS]

Secrets never reach the terminal: ``host cert`` writes its bundle (it holds the host's key) to a
0600 file, and nothing prints the appliance's private keys or tokens.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from provisioner.core.doctor_reports import last_report, report_text
from provisioner.errors import Invalid, NotFound
from provisioner.remote import commands, rotation
from provisioner.remote.migration import Options, Progress
from provisioner.remote.preflight import blocking, report
from provisioner.remote.uri import UriError, parse


def _remote(args: argparse.Namespace) -> Any:
    """The use-cases, built by the composition root (``cli.py`` passes ``build``)."""
    return args.build_remote(args.settings)


def cmd_host(args: argparse.Namespace) -> int:
    r = _remote(args)
    if args.action == "key":
        print(r.public_key())
    elif args.action == "ca":
        sys.stdout.write(r.ca_certificate())
    elif args.action == "renew-client":
        i = r.renew_client()
        print(f"client certificate renewed: valid until {i.not_after:%Y-%m-%d} UTC")
    elif args.action == "add":
        key = args.ssh_host_key or ""
        if args.scan:
            key = r.scan(args.uri)
            print(f"trusting {args.name}'s SSH key as presented now: {key[:60]}...")
        h = r.add(args.name, args.uri, ssh_host_key=key)
        cap = h.capacity
        print(f"added {h.name} ({h.uri}): {h.facts.get('hostname')}, libvirt "
              f"{h.facts.get('libvirt_version')}, {cap.get('vcpus')} CPUs, "
              f"{cap.get('ram_mb')} MiB, bridges {', '.join(cap.get('bridges') or ()) or '-'}")
    elif args.action == "list":
        for h in r.store.list_hosts():
            rep = last_report(h.facts)
            print(f"{h.name:<20} {'agentless' if h.agentless else 'agent':<10} "
                  f"{h.uri or '-':<45} last seen {h.last_seen:.0f}  "
                  f"doctor: {rep['status'] if rep else '-'}")
    elif args.action == "doctor":
        return _doctor(r, args)
    elif args.action == "remove":
        r.remove(args.name)
        print(f"removed {args.name}")
    elif args.action == "cert":
        bundle = r.host_bundle(args.name, args.names or (), args.days)
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(bundle, fh)
        print(f"wrote {args.out} (0600; it holds the host's private key): install it with "
              f"`provisioner-agent apply tls --bundle {args.out} --service ...` on the host")
    elif args.action == "rotate":
        return _rotate(r, args)
    return 0


def _doctor(r: Any, args: argparse.Namespace) -> int:
    """The host's last doctor report; exit 0 healthy, 1 findings, 2 no report yet."""
    host = r.store.get_host(args.name)
    if host is None:
        raise NotFound(f"no host {args.name}", hint="`provisioner host list` names the hosts")
    rep = last_report(host.facts)
    if rep is None:
        print(f"{args.name}: no doctor report yet (its agent sends one when it registers and "
              "every hour; on the host: provisioner-agent doctor --send URL)", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep, indent=1, sort_keys=True))
    else:
        sys.stdout.write(report_text(args.name, rep, dt.datetime.now().timestamp()))
    return 1 if rep["status"] == "findings" else 0


def _rotate(r: Any, args: argparse.Namespace) -> int:
    """Renew the hosts' TLS certificates that expire within the margin (remote/rotation.py)."""
    done = rotation.rotate(r, margin=dt.timedelta(days=args.margin_days), dry_run=args.dry_run)
    for rot, outcome in done:
        print(f"{rot.host}: {rot.reason}: {outcome} ({rot.how})")
    if not done:
        print("every issued host certificate is valid beyond the margin")
    return 1 if any(o == "tls:rotation-failed" for _, o in done) else 0


def _progress(p: Progress) -> None:
    print(f"  {p.elapsed_ms / 1000:6.1f} s  {p.data_processed / 2**20:8.1f} MiB sent, "
          f"{p.memory_remaining / 2**20:8.1f} MiB memory remaining", flush=True)


def _manual(r: Any, guest: str, to: str, checks: list[Any]) -> str:
    """The guide's own commands for the same move (seed §4.5, §3.8, §4.4)."""
    dst = r.store.get_host(to)
    u = parse(dst.uri)
    lines = ["the guide's equivalent: " + (
        commands.xm_migrate(guest, u.host) if u.driver == "xen"
        else commands.virsh_migrate(guest, dst.uri))]
    storage = next((c for c in checks if c.name == "shared_storage"), None)
    path = re.search(r"(/[^\s:]+)", storage.detail) if storage is not None else None
    if storage is not None and storage.status == "fail" and path:
        with contextlib.suppress(UriError):
            export, _ = commands.nfs_export(path.group(1), u.host.strip("[]"))
            lines.append(f"an /etc/exports line on the storage server: {export}")
    return "".join(line + "\n" for line in lines)


def cmd_migrate(args: argparse.Namespace) -> int:
    words = args.words
    check = len(words) == 2 and words[0] == "check"
    if len(words) != 1 and not check:
        raise Invalid("usage: provisioner migrate [check] GUEST --to HOST", "guest")
    guest = words[-1]
    r = _remote(args)
    if check:
        checks = r.check(guest, args.to, copy_storage=args.copy_storage, force=args.force)
        if args.json:
            print(json.dumps([c.__dict__ for c in checks], indent=1))
            return 1 if blocking(checks) else 0
        sys.stdout.write(report(checks))
        sys.stdout.write(_manual(r, guest, args.to, checks))
        return 1 if blocking(checks) else 0
    opts = Options(live=not args.offline, copy_storage=args.copy_storage,
                   tls_stream=args.tls_stream, force=args.force,
                   bandwidth_mib=args.bandwidth, deadline_s=args.deadline,
                   p2p=args.p2p or args.tunnelled, tunnelled=args.tunnelled)
    out = r.migrate(guest, args.to, opts, on_progress=None if args.quiet else _progress)
    print(out.summary())
    return 0 if out.ok else 1


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: between 0 and 86400 seconds")
    return value


def register(sub: argparse._SubParsersAction, build: Callable[[Any], Any]) -> None:
    """Add ``host`` and ``migrate``; ``build(settings)`` makes the RemoteHosts use-cases."""
    h = sub.add_parser("host", help="hypervisor hosts: agentless hosts by libvirt URI, keys, CA")
    acts = h.add_subparsers(dest="action", required=True)
    acts.add_parser("key", help="print the appliance's SSH public key (for authorized_keys)")
    acts.add_parser("ca", help="print the appliance's CA certificate")
    acts.add_parser("renew-client", help="issue a new client certificate for the appliance")
    acts.add_parser("list", help="list hosts (agent and agentless)")
    acts.add_parser("remove", help="forget a host").add_argument("name")
    d = acts.add_parser("doctor", help="the host's last `provisioner-agent doctor` report")
    d.add_argument("name")
    d.add_argument("--json", action="store_true")
    a = acts.add_parser("add", help="add an agentless host by its libvirt URI")
    a.add_argument("name")
    a.add_argument("--uri", required=True, help="qemu+ssh://root@HOST/system, qemu+tls://...")
    a.add_argument("--ssh-host-key", help="the host's SSH public key ('ssh-ed25519 AAAA...')")
    a.add_argument("--scan", action="store_true", help="trust the SSH key the host presents")
    c = acts.add_parser("cert", help="issue a TLS certificate bundle for a host")
    c.add_argument("name")
    c.add_argument("--name", dest="names", action="append", help="another name or address")
    c.add_argument("--days", type=int, default=365)
    c.add_argument("--out", required=True, help="bundle file (written 0600)")
    rot = acts.add_parser("rotate", help="renew host TLS certificates that expire soon "
                          "(agent hosts: work tls.rotate; agentless over ssh: pushed)")
    rot.add_argument("--dry-run", action="store_true", help="only say which and how")
    rot.add_argument("--margin-days", type=int, default=30,
                     help="renew certificates expiring within this many days")
    h.set_defaults(func=cmd_host, build_remote=build)

    m = sub.add_parser("migrate", help="move a guest to another host (`migrate check` first)")
    m.add_argument("words", nargs="+", metavar="[check] GUEST")
    m.add_argument("--to", required=True, help="destination host")
    m.add_argument("--offline", action="store_true",
                   help="the guide's offline migration: pause, move, resume")
    m.add_argument("--copy-storage", action="store_true",
                   help="copy the disks (no shared storage)")
    m.add_argument("--tls-stream", action="store_true",
                   help="encrypt the memory stream with TLS (QEMU certificates on both hosts)")
    m.add_argument("--p2p", action="store_true",
                   help="peer-to-peer: the source host's libvirtd connects to the destination "
                        "over qemu+tls:// with its own certificate")
    m.add_argument("--tunnelled", action="store_true",
                   help="peer-to-peer with the memory tunnelled through libvirtd's connection "
                        "(no migration ports 49152-49215)")
    m.add_argument("--force", action="store_true", help="migrate a host-passthrough guest")
    m.add_argument("--bandwidth", type=int, default=None, help="MiB/s cap")
    m.add_argument("--deadline", type=_seconds, default=None, metavar="SECONDS",
                   help="abort the migration (the guest stays on the source) if not done by then")
    m.add_argument("--json", action="store_true", help="check: the checks as JSON")
    m.add_argument("--quiet", action="store_true", help="no progress lines")
    m.set_defaults(func=cmd_migrate, build_remote=build)
