"""``provisioner status`` and ``provisioner timeline SYSTEM``: the appliance at a glance.

``status`` prints the services (HTTP, DHCP, TFTP, DNS) with their addresses and whether
something answers there, the counts of systems, DHCP leases, hosts and orders, and the last 10
events of every timeline. ``timeline`` prints one machine's events as sentences and, from where
they stop, what to check next (``core/diagnosis.py``). Both take ``--json``.

:func:`gather` reads (the store through the Core, the lease journal, ``/proc/net``, ``ip``,
one HTTP request); :func:`format_status` and :func:`format_timeline` are pure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provisioner.core.app import Core
from provisioner.core.diagnosis import advice, furthest
from provisioner.core.event_text import describe
from provisioner.errors import StoreError
from provisioner.leasestate import read_state
from provisioner.main import build_core
from provisioner.models import Event, System
from provisioner.settings import Settings

RECENT = 10


def _bound_udp(port: int, proc: Path = Path("/proc/net")) -> bool:
    """Some socket of this network namespace is bound to UDP ``port``."""
    for name in ("udp", "udp6"):
        try:
            lines = (proc / name).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(int(line.split()[1].rsplit(":", 1)[1], 16) == port for line in lines):
            return True
    return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "api/openapi.json", timeout=3) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _ipv4(iface: str) -> list[str]:
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", iface],
                             capture_output=True, text=True, timeout=10)
        return [a["local"] for link in json.loads(out.stdout or "[]")
                for a in link.get("addr_info", [])]
    except (OSError, ValueError, subprocess.SubprocessError):
        return []


def _services(s: Settings) -> list[dict[str, Any]]:
    host = "127.0.0.1" if s.http_host in ("0.0.0.0", "", "::") else s.http_host
    url = f"http://{host}:{s.http_port}/"
    on = {i: _ipv4(i) for i in s.interfaces}
    where = ", ".join(f"{i} ({', '.join(a) or 'no IPv4 address'})" for i, a in on.items())
    out = [{"name": "HTTP", "enabled": True, "where": f"{s.http_host}:{s.http_port}",
            "url": url, "up": _http_ok(url), "ports": [f"tcp/{s.http_port}"]}]
    dhcp_ports = [67, 4011] if s.dhcp_mode == "proxy" else [67]
    for name, enabled, ports, setting in (
            ("DHCP", s.dhcp_enabled, dhcp_ports, "dhcp_enabled"),
            ("TFTP", s.tftp_enabled, [s.tftp_port], "tftp_enabled"),
            ("DNS", s.dns_enabled, [s.dns_port], "dns_enabled")):
        active = enabled and bool(s.interfaces)
        out.append({"name": name, "enabled": active, "where": where if active else "",
                    "setting": setting, "up": active and all(_bound_udp(p) for p in ports),
                    "ports": [f"udp/{p}" for p in ports],
                    "mode": s.dhcp_mode if name == "DHCP" else None})
    return out


def gather(core: Core, now: float | None = None) -> dict[str, Any]:
    """Everything ``status`` shows, as data (``--json`` prints it as is)."""
    now = time.time() if now is None else now
    s = core.settings
    systems = core.list_systems()
    views = core.ordering.host_views()
    orders = Counter(core.ordering.progress(o).state for o in core.store.list_orders())
    events = core.latest_events(RECENT)
    return {
        "data_dir": s.data_dir, "database": s.db_url.split("://", 1)[0],
        "services": _services(s),
        "systems": len(systems), "netboot_on": sum(x.netboot_enabled for x in systems),
        "profiles": len(core.list_profiles()), "distros": len(core.list_distros()),
        "leases": len(core.leases()),
        "lease_database": read_state(s.data_dir) if s.dhcp_enabled else None,
        "hosts": len(views), "stale_hosts": [v.name for v in views if v.stale(now)],
        "orders": dict(orders),
        "events": [{"at": e.at, "subject": e.subject, "kind": e.kind,
                    "text": describe(e.kind, e.detail)} for e in events]}


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _lease_db(state: dict[str, Any] | None) -> str:
    """The shared lease database's state, after the lease count (nothing when not shared)."""
    if not state or state.get("lease_database") in (None, "not shared"):
        return ""
    if not state.get("degraded"):
        return f" (shared database, this appliance is {state.get('appliance')})"
    return (f"\n            DHCP DEGRADED since {_when(state['since'])}: {state['reason']}\n"
            f"            {state['policy']}")


def format_status(info: dict[str, Any]) -> str:
    """``status`` for people."""
    lines = [f"appliance   data {info['data_dir']} ({info['database']})", "services"]
    for svc in info["services"]:
        ports = "/".join(svc["ports"])
        if svc["name"] == "HTTP":
            state = "answering" if svc["up"] else "not answering: start it with " \
                                                  "`provisioner serve`"
            lines.append(f"  HTTP  {svc['url']:<28} {ports:<10} {state}")
        elif not svc["enabled"]:
            lines.append(f"  {svc['name']:<5} off ({svc['setting']} and interfaces)")
        else:
            mode = f" {svc['mode']}," if svc.get("mode") else ""
            state = "listening" if svc["up"] else "nothing listening (is serve running?)"
            lines.append(f"  {svc['name']:<5}{mode} on {svc['where']}  {ports}  {state}")
    stale = info["stale_hosts"]
    orders = ", ".join(f"{n} {state}" for state, n in sorted(info["orders"].items())) or "none"
    lines += [
        f"systems     {info['systems']} ({info['netboot_on']} with netboot on), "
        f"{info['profiles']} profiles, {info['distros']} distros",
        f"leases      {info['leases']} active{_lease_db(info.get('lease_database'))}",
        f"hosts       {info['hosts']}" + (f" ({len(stale)} stale: {', '.join(stale)})"
                                           if stale else ""),
        f"orders      {orders}",
        f"last {len(info['events'])} events" if info["events"] else "events      none yet"]
    for e in info["events"]:
        lines.append(f"  {_when(e['at'])}  {e['subject']:<22} {e['text']}")
    return "\n".join(lines)


def format_timeline(name: str, system: System | None, events: Sequence[Event]) -> str:
    """One machine's events as sentences, then where it stops and what to check next."""
    if system is not None:
        macs = ", ".join(f"{i.mac}{' ' + i.ip if i.ip else ''}" for i in system.interfaces)
        head = (f"{name}: profile {system.profile}, status {system.status}, netboot "
                f"{'on' if system.netboot_enabled else 'off'}, {macs or 'no interface'}")
    else:
        head = f"{name}: no such system any more (its timeline is kept)"
    lines = [head]
    start = events[0].at if events else 0.0
    for e in events:
        lines.append(f"  {_when(e.at)}  +{e.at - start:7.1f} s  {e.kind:<18} "
                     f"{describe(e.kind, e.detail)}")
    if not events:
        lines.append("  no events")
    lines.append(f"next: {advice(events, system)}")
    return "\n".join(lines)


def without_database(s: Settings, error: StoreError) -> dict[str, Any]:
    """What ``status`` can still say when the database cannot be reached: the services, the
    DHCP worker's lease database state, and the error (exit status 1)."""
    return {"data_dir": s.data_dir, "database": s.db_url.split("://", 1)[0],
            "database_error": str(error), "services": _services(s),
            "lease_database": read_state(s.data_dir) if s.dhcp_enabled else None}


def format_unreachable(info: dict[str, Any]) -> str:
    lines = [f"appliance   data {info['data_dir']} ({info['database']})",
             f"database    UNREACHABLE: {info['database_error']}"]
    lines += [f"  {svc['name']:<5} {'up' if svc['up'] else 'down'}" for svc in info["services"]
              if svc["enabled"]]
    lease = _lease_db(info.get("lease_database")).strip()
    return "\n".join(lines + ([f"leases      {lease}"] if lease else []))


def cmd_status(args: argparse.Namespace) -> int:
    try:
        core = build_core(args.settings)
    except StoreError as exc:  # PostgreSQL down: say what still works (the outage policy)
        info = without_database(args.settings, exc)
        print(json.dumps(info, indent=2) if args.json else format_unreachable(info))
        return 1
    try:
        info = gather(core)
    finally:
        core.close()
    print(json.dumps(info, indent=2) if args.json else format_status(info))
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    core = build_core(args.settings)
    try:
        events = core.timeline(args.system, args.limit)
        system = next((s for s in core.list_systems() if s.name == args.system), None)
    finally:
        core.close()
    if args.json:
        print(json.dumps({"system": args.system, "stops_at": furthest(events, system),
                          "next": advice(events, system),
                          "events": [{"at": e.at, "subject": e.subject, "kind": e.kind,
                                      "detail": e.detail, "text": describe(e.kind, e.detail)}
                                     for e in events]}, indent=2))
    else:
        print(format_timeline(args.system, system, events))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("status", help="services and their addresses, counts, the last events")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=cmd_status)
    tl = sub.add_parser("timeline", help="a machine's events, and what to check when it does "
                                         "not boot")
    tl.add_argument("system")
    tl.add_argument("--limit", type=int, default=None, help="only the last N events")
    tl.add_argument("--json", action="store_true", help="print JSON")
    tl.set_defaults(func=cmd_timeline)
