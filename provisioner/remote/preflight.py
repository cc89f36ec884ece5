"""Migration pre-flight: every condition the guide sets for a migration (seed D1 §3.3-3.6,
§4.2-4.5; A1 §4.2 item 7), plus today's libvirt checks, as named checks with pass/fail and the
fix. Pure: the two hosts' probed facts, the guest, and what the appliance observed across both
connections come in; a list of :class:`Check` goes out.

The checks, their titles, seed references and fixes are one table
(``platform/data/remote.toml`` ``[[check]]``); this module holds one predicate per name
(``_PREDICATES``). The CPU vendor / NX / hypervisor rules are A1's, evaluated by
``provisioner.core.rules.check_migration`` (not restated here).

Statuses: ``pass``, ``fail`` (migration refused), ``warn`` (allowed, read this) and
``unknown`` (the appliance cannot tell from here; the fix says how to make sure).
"""

from __future__ import annotations

import dataclasses
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.core.rules import HostInfo, check_migration
from provisioner.platform.osversion import release_lt, release_tuple
from provisioner.platform.tables import table
from provisioner.platform.xend import relocation_allowed

Facts = Mapping[str, Any]
#: libvirt's virCPUCompareResult (the pure core does not import libvirt)
CPU_INCOMPATIBLE, CPU_IDENTICAL, CPU_SUPERSET = 0, 1, 2
STATUSES = ("pass", "fail", "warn", "unknown")


@dataclass(frozen=True)
class GuestInfo:
    name: str
    arch: str = "x86_64"
    machine: str | None = None
    cpu_mode: str | None = None
    memory_kib: int = 0
    disks: tuple[str, ...] = ()        # source files of writable disks
    bridges: tuple[str, ...] = ()
    active: bool = True


def guest_info(domain_xml: str, *, active: bool) -> GuestInfo:
    root = ET.fromstring(domain_xml)
    t = root.find("os/type")
    cpu = root.find("cpu")
    disks = tuple(s.get("file") or s.get("dev") or ""
                  for d in root.findall("devices/disk")
                  if d.get("device", "disk") == "disk" and d.find("readonly") is None
                  for s in d.findall("source") if s.get("file") or s.get("dev"))
    bridges = tuple(s.get("bridge") or "" for i in root.findall("devices/interface")
                    if i.get("type") == "bridge" for s in i.findall("source"))
    return GuestInfo(root.findtext("name") or "", t.get("arch", "x86_64") if t is not None
                     else "x86_64", t.get("machine") if t is not None else None,
                     None if cpu is None else cpu.get("mode", "custom"),
                     int(root.findtext("memory") or 0), disks, bridges, active)


@dataclass(frozen=True)
class Observed:
    """What the appliance saw with both connections open (None: could not tell)."""

    cpu_compare: int | None = None
    cpu_compare_error: str | None = None
    storage_seen: Mapping[str, bool | None] = field(default_factory=dict)  # dir -> seen on dst
    dest_has_name: bool | None = None
    dest_reachable: bool = True
    relocation_listening: bool | None = None  # Xen: destination's port 8002 accepts


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    seed: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"bad status {self.status!r}")


@dataclass(frozen=True)
class Ctx:
    src: Facts
    dst: Facts
    guest: GuestInfo
    seen: Observed
    copy_storage: bool
    force: bool

    @property
    def xen(self) -> bool:
        return "xen" in (self.src.get("hypervisor"), self.dst.get("hypervisor"))


Verdict = tuple[str, str]  # (status, detail)
_MIG = table("remote")["migration"]


def _host_info(f: Facts) -> HostInfo:
    flags = f.get("cpu_flags")
    return HostInfo(vendor=(f.get("cpu") or {}).get("vendor"),
                    cpu_flags=frozenset(flags) if flags else None)


def _a1_rule(code: str) -> Callable[[Ctx], Verdict]:
    def check(c: Ctx) -> Verdict:
        issues = check_migration(_host_info(c.src), _host_info(c.dst), c.src.get("hypervisor"),
                                 c.dst.get("hypervisor"))
        hit = next((i for i in issues if i.code == code), None)
        if hit:
            return "fail", hit.message
        known = {"MIGRATION_CPU_VENDOR": ((c.src.get("cpu") or {}).get("vendor"),
                                          (c.dst.get("cpu") or {}).get("vendor")),
                 "MIGRATION_NX_BIT": (c.src.get("cpu_flags"), c.dst.get("cpu_flags")),
                 "MIGRATION_HYPERVISOR": (c.src.get("hypervisor"), c.dst.get("hypervisor"))}[code]
        if None in known or not all(known):
            return "unknown", "not known for both hosts"
        if code == "MIGRATION_NX_BIT":
            nx = "nx" in set(c.src.get("cpu_flags") or ())
            return "pass", f"NX {'on' if nx else 'off'} on both"
        return "pass", f"{known[0]} on both"
    return check


def _distinct(c: Ctx) -> Verdict:
    a, b = c.src.get("uuid"), c.dst.get("uuid")
    if not a or not b:
        return "unknown", "host UUIDs not known"
    return ("fail", f"both hosts report host UUID {a}") if a == b else ("pass", f"{a} -> {b}")


def _cpu(c: Ctx) -> Verdict:
    r = c.seen.cpu_compare
    if r is None:
        return "unknown", c.seen.cpu_compare_error or "not compared"
    if r == CPU_INCOMPATIBLE:
        return "fail", c.seen.cpu_compare_error or "the destination's CPU lacks features the " \
            "guest's CPU uses"
    return "pass", "identical" if r == CPU_IDENTICAL else "the destination's CPU is a superset"


def _passthrough(c: Ctx) -> Verdict:
    if c.guest.cpu_mode != "host-passthrough":
        return "pass", f"CPU mode {c.guest.cpu_mode or 'default'}"
    if c.force:
        return "warn", "host-passthrough, forced: the guest may crash on a different CPU"
    return "fail", "host-passthrough: the guest sees this host's exact CPU"


def _arch(c: Ctx) -> Verdict:
    bad = set(_MIG["unsupported_arches"])
    arches = {str(a) for a in (c.guest.arch, c.src.get("arch"), c.dst.get("arch")) if a}
    if arches & bad:
        return "fail", f"{', '.join(sorted(arches & bad))}: migration is not supported"
    return "pass", ", ".join(sorted(str(a) for a in arches))


def _release(c: Ctx) -> Verdict:
    a, b = c.src.get("os_release"), c.dst.get("os_release")
    if not a or not b:
        return "unknown", "the OS release is not known over libvirt (agent hosts report it)"
    if release_tuple(a) != release_tuple(b):
        return "fail", f"{a} -> {b}"
    return "pass", f"{a} on both"


def _xen_release(c: Ctx) -> Verdict:
    if not c.xen:
        return "pass", "not Xen"
    rels = [c.src.get("os_release"), c.dst.get("os_release")]
    lt = [release_lt(r, _MIG["xen_min_release"]) for r in rels]
    if None in lt:
        return "unknown", "the OS release is not known"
    old = [r for r, is_old in zip(rels, lt, strict=True) if is_old]
    if old:
        return "fail", f"RHEL {', '.join(map(str, old))}: Xen migration needs " \
            f"{_MIG['xen_min_release']} or later"
    return "pass", " and ".join(map(str, rels))


def _versions(c: Ctx) -> Verdict:
    out = []
    for key, what in (("libvirt_version", "libvirt"), ("hypervisor_version", "hypervisor")):
        a, b = release_tuple(c.src.get(key)), release_tuple(c.dst.get(key))
        if a is None or b is None:
            return "unknown", f"{what} version not known"
        if b < a:
            return "fail", f"{what} {c.dst.get(key)} on the destination is older than " \
                f"{c.src.get(key)}"
        out.append(f"{what} {c.src.get(key)} -> {c.dst.get(key)}")
    return ("pass" if c.src.get("hypervisor_version") == c.dst.get("hypervisor_version")
            and c.src.get("libvirt_version") == c.dst.get("libvirt_version") else "warn",
            "; ".join(out))


def _machine(c: Ctx) -> Verdict:
    m = c.guest.machine
    have = c.dst.get("machines")
    if not m or have is None:
        return "unknown", "machine type not known"
    return ("pass", m) if m in have else ("fail", f"{m} is not offered by the destination")


def _bridges(c: Ctx) -> Verdict:
    dst = c.dst.get("bridges")
    if dst is None:
        return "unknown", "the destination's bridges are not known"
    missing = sorted(set(c.guest.bridges) - set(dst))
    if missing:
        return "fail", f"missing on the destination: {', '.join(missing)} " \
            f"(it has {', '.join(dst) or 'none'})"
    src = set(c.src.get("bridges") or ())
    if src and src != set(dst):
        return "warn", f"the guest's bridges exist; the hosts' bridge sets differ " \
            f"({', '.join(sorted(src))} / {', '.join(sorted(dst))})"
    return "pass", ", ".join(c.guest.bridges) or "the guest has no bridged NIC"


def _pool_at(f: Facts, path: str) -> Mapping[str, Any] | None:
    return next((p for p in f.get("pools") or () if p.get("path") == path), None)


def _storage(c: Ctx) -> Verdict:
    if c.copy_storage:
        return "pass", "disks are copied to the destination (--copy-storage)"
    dirs = sorted({posixpath.dirname(d) for d in c.guest.disks})
    if not dirs:
        return "pass", "the guest has no writable disk"
    notes = []
    for d in dirs:
        seen = c.seen.storage_seen.get(d)
        if seen:
            notes.append(f"{d}: a file written on the source is visible on the destination")
            continue
        src_pool = _pool_at(c.src, d)
        if src_pool and src_pool.get("source_dir"):
            for p in c.dst.get("pools") or ():
                if (p.get("source_host"), p.get("source_dir")) == (
                        src_pool.get("source_host"), src_pool.get("source_dir")) \
                        and p.get("path") != d:
                    return "fail", f"shared storage path mismatch: {d} on the source is " \
                        f"mounted at {p.get('path')} on the destination"
        if seen is False:
            return "fail", f"{d}: the destination does not see files written on the source " \
                "(not shared, or not mounted at the same path)"
        return "unknown", f"{d}: not checked"
    return "pass", "; ".join(notes)


def _xen_dir(c: Ctx) -> Verdict:
    bad = [p for p in _MIG["forbidden_export_dirs"]]
    paths = list(c.guest.disks) + [p.get("source_dir") or "" for f in (c.src, c.dst)
                                   for p in f.get("pools") or ()]
    hits = sorted({p for p in paths for b in bad if p == b or p.startswith(b + "/")})
    return ("fail", f"{', '.join(hits)} is used by xend: never share it") if hits else \
        ("pass", "nothing under /var/lib/xen")


def _memory(c: Ctx) -> Verdict:
    free = c.dst.get("free_mem_bytes")
    if free is None or not c.guest.memory_kib:
        return "unknown", "free memory not known"
    need = c.guest.memory_kib * 1024
    if need > free:
        return "fail", f"needs {need // 2**20} MiB, {int(free) // 2**20} MiB free"
    return "pass", f"needs {need // 2**20} MiB, {int(free) // 2**20} MiB free"


def _name(c: Ctx) -> Verdict:
    if c.seen.dest_has_name is None:
        return "unknown", "not checked"
    return ("fail", f"the destination already has a guest named {c.guest.name!r}") \
        if c.seen.dest_has_name else ("pass", "free")


def _reachable(c: Ctx) -> Verdict:
    return ("pass", f"libvirt {c.dst.get('libvirt_version')}") if c.seen.dest_reachable \
        else ("fail", "libvirtd does not answer on the destination")


def _ports(c: Ctx) -> Verdict:
    if c.xen:
        port = _MIG["xen_relocation_port"]
        if c.seen.relocation_listening is None:
            return "unknown", f"relocation port {port} not checked"
        return ("pass", f"xend answers on port {port}") if c.seen.relocation_listening else \
            ("fail", f"nothing answers on the destination's port {port}")
    lo, hi = _MIG["kvm_ports"]
    return "unknown", f"QEMU listens on {lo}-{hi} only during a migration: not checkable " \
        "beforehand from the appliance (a blocked port fails the migration, the guest stays)"


def xend_verdict(src: Facts | None, dst: Facts | None,
                 src_names: tuple[str, ...] = ()) -> Verdict:
    """The guide's relocation settings on both Xen hosts (D1 §3.3): enabled on both, the same
    port, hosts-allow set (else the guide's warning), and the destination's allow-list
    matching the source by name or address (the regex rule of ``platform/xend.py``)."""
    if src is None or dst is None:
        return "unknown", "xend-config.sxp not known (the host's agent reports it: " \
            "provisioner-agent doctor --send)"
    confs: list[Facts] = [src, dst]
    for side, x in zip(("source", "destination"), confs, strict=True):
        if x.get("xend-relocation-server") != "yes":
            return "fail", f"xend-relocation-server is not yes on the {side}"
    if confs[0].get("xend-relocation-port") != confs[1].get("xend-relocation-port"):
        return "fail", "the relocation ports differ"
    if any(not x.get("xend-relocation-hosts-allow") for x in confs):
        return "warn", "xend-relocation-hosts-allow is empty: any host may start a " \
            "migration, and memory travels unencrypted (seed §3.2)"
    allow = str(dst.get("xend-relocation-hosts-allow"))
    if src_names and not any(relocation_allowed(allow, n) for n in src_names if n):
        return "fail", f"the destination's xend-relocation-hosts-allow '{allow}' matches " \
            f"neither {' nor '.join(n for n in src_names if n)}"
    return "pass", "enabled on both, hosts restricted"


def _xend(c: Ctx) -> Verdict:
    if not c.xen:
        return "pass", "not Xen"
    return xend_verdict(c.src.get("xend"), c.dst.get("xend"))


def with_reported_xend(checks: list[Check], src: Facts | None, dst: Facts | None,
                       src_names: tuple[str, ...] = ()) -> list[Check]:
    """``xend_relocation`` judged again with the settings the hosts' agents reported (the
    appliance cannot read xend-config.sxp over libvirt): only a check left "unknown" changes."""
    return [dataclasses.replace(ch, status=v[0], detail=v[1])
            if ch.name == "xend_relocation" and ch.status == "unknown"
            and (v := xend_verdict(src, dst, src_names))[0] != "unknown" else ch
            for ch in checks]


_PREDICATES: dict[str, Callable[[Ctx], Verdict]] = {
    "distinct_hosts": _distinct, "same_hypervisor": _a1_rule("MIGRATION_HYPERVISOR"),
    "same_cpu_vendor": _a1_rule("MIGRATION_CPU_VENDOR"), "same_nx": _a1_rule("MIGRATION_NX_BIT"),
    "cpu_compatible": _cpu, "host_passthrough": _passthrough, "supported_arch": _arch,
    "same_release": _release, "xen_release": _xen_release, "libvirt_version": _versions,
    "machine_type": _machine, "same_bridges": _bridges, "shared_storage": _storage,
    "not_var_lib_xen": _xen_dir, "destination_memory": _memory, "name_free": _name,
    "libvirtd_reachable": _reachable, "migration_ports": _ports, "xend_relocation": _xend,
}


def preflight(src: Facts, dst: Facts, guest: GuestInfo, seen: Observed, *,
              copy_storage: bool = False, force: bool = False) -> list[Check]:
    ctx = Ctx(src, dst, guest, seen, copy_storage, force)
    out = []
    for row in table("remote")["check"]:
        status, detail = _PREDICATES[row["name"]](ctx)
        out.append(Check(row["name"], row["title"], row["seed"], status, detail,
                         row["fix"] if status in ("fail", "warn", "unknown") else ""))
    return out


def blocking(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


def report(checks: list[Check]) -> str:
    """The text the CLI prints: one line per check, the fix under each one not passing."""
    lines = []
    for c in checks:
        lines.append(f"[{c.status.upper():7}] {c.name}: {c.detail}")
        if c.fix:
            lines.append(f"          fix: {c.fix}")
    bad = blocking(checks)
    lines.append(f"{'NOT READY' if bad else 'READY'}: {len(bad)} failed, "
                 f"{sum(c.status == 'warn' for c in checks)} warning(s), "
                 f"{sum(c.status == 'unknown' for c in checks)} unknown")
    return "\n".join(lines) + "\n"
