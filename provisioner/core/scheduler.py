"""Placement of a VM order on a registered host, or the reasons no host can take it (pure).

Input: the request (:class:`Request`), each host as a :class:`HostView` (facts the agent reported
plus what already runs there) and the clock. Output: a :class:`Placement` with the chosen host
and, for every host considered, a :class:`Verdict` listing its blocking problems and warnings.

The rules, each from the seed (A1 section 1-4, 6.2; A2 10.2):

* host minimum: 2048 MiB RAM and 6 GiB free disk, else the host is below the minimum
  requirements (1.2);
* hypervisor: the host must run one (KVM modules or a Xen kernel) and the one the profile asks
  for; a guest stays on the hypervisor it was made for (4.1, V15); KVM needs an x86_64 host (3);
* RAM: the guest must fit beside the host's 2048 MiB reserve (1.3); beyond that the sum over guests
  is an overcommit: KVM swaps (warning, 4.2), Xen cannot exceed physical RAM (error);
* vCPUs: KVM refuses more than 10 vCPUs per physical core (4.2); more vCPUs in total than cores,
  or one guest with more vCPUs than the host has logical CPUs, is a warning (6.2 step 8, V12);
* disk: the image must fit in the image directory's free space;
* network: PXE installs need a bridge that exists on the host, never NAT ``network:default`` (V8).

Among hosts with no blocking problem the one with the most free RAM wins (spread the load),
ties broken by name. A host whose agent has not been seen recently is only a warning: the work
waits in the queue until the agent comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.platform.tables import libvirt_nat_names, limit

# the seed's numbers, from provisioner/platform/data/limits.toml
HOST_MIN_RAM_MB: int = limit("host.min_ram_mb")  # seed 1.2: minimum host RAM, 2 GB
HOST_RESERVE_MB: int = limit("host.reserved_ram_mb")  # seed 1.3: the host itself keeps 2 GB
HOST_MIN_DISK_GB: int = limit("host.min_free_disk_gb")  # seed 1.2
KVM_VCPUS_PER_CORE: int = limit("kvm.max_vcpu_per_core")  # seed 4.2: more is unsupported
STALE_AFTER_S = 120.0
NAT_NETWORKS = libvirt_nat_names()


@dataclass(frozen=True)
class Issue:
    """One finding: which form field it concerns, a stable code and a sentence for people."""

    field: str
    code: str
    message: str
    severity: str = "error"  # "error" blocks; "warning" is shown on the review step


@dataclass(frozen=True)
class Request:
    """What the order needs from a host."""

    vcpus: int
    ram_mb: int
    disk_gb: int
    network: str = ""  # bridge name; "" means the host's first bridge
    hypervisor: str | None = None  # from the profile; None means any
    host: str | None = None  # None or "any" means the scheduler chooses


@dataclass(frozen=True)
class HostView:
    """A host as the scheduler sees it: capacity and what is already placed on it."""

    name: str
    cores: int = 0  # physical cores
    threads: int = 0  # logical CPUs
    ram_mb: int = 0
    disk_free_gb: float | None = None  # None: unknown (agent did not report it)
    hypervisor: str | None = None
    arch: str = "x86_64"
    bridges: tuple[str, ...] = ()
    used_vcpus: int = 0
    used_ram_mb: int = 0
    used_disk_gb: int = 0
    last_seen: float = 0.0
    max_vcpus: int | None = None  # per guest: libvirt's domain capabilities (<vcpu max>)
    disk_source: str = "for images"  # where disk_free_gb comes from, for messages
    stale_after: float = STALE_AFTER_S  # seconds without a poll (setting host_stale_after)

    @property
    def free_ram_mb(self) -> int:
        return self.ram_mb - HOST_RESERVE_MB - self.used_ram_mb

    def stale(self, now: float) -> bool:
        """The agent has not polled for longer than ``stale_after`` seconds."""
        return bool(now and self.last_seen and now - self.last_seen > self.stale_after)


@dataclass(frozen=True)
class Verdict:
    host: str
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Placement:
    """The chosen host (None when none fits) and the verdict on every host considered."""

    host: str | None
    verdicts: tuple[Verdict, ...] = ()
    errors: tuple[Issue, ...] = ()  # why nothing was placed, per field
    warnings: tuple[Issue, ...] = ()  # warnings on the chosen host

    @property
    def ok(self) -> bool:
        return self.host is not None


def host_view(name: str, facts: Mapping[str, Any], capacity: Mapping[str, Any],
              last_seen: float = 0.0, placed: Iterable[tuple[int, int, int]] = (),
              stale_after: float = STALE_AFTER_S) -> HostView:
    """Build a :class:`HostView` from what the agent reported.

    ``facts`` is the agent's ``HostFacts.to_dict()``; ``capacity`` may override or complete it
    (``vcpus``/``cores``/``threads``/``ram_mb``/``disk_free_gb``/``hypervisor``/``bridges``).
    ``placed`` holds ``(vcpus, ram_mb, disk_gb)`` of the orders already on the host.
    """
    cpu = facts.get("cpu") or {}
    kernel = facts.get("kernel") or {}
    net = facts.get("network") or {}
    cores = int(capacity.get("cores") or cpu.get("cores") or capacity.get("vcpus") or 0)
    threads = int(capacity.get("threads") or cpu.get("threads") or capacity.get("vcpus") or cores)
    ram = int(capacity.get("ram_mb") or (int(facts.get("mem_kib") or 0) // 1024))
    pools = capacity.get("pools") or {}
    disk_source = "for images"
    if pools.get("default") is not None:  # the pool the agent creates images in
        disk: float | None = int(pools["default"]) / 2**30
        disk_source = "in storage pool 'default'"
    elif capacity.get("disk_free_gb") is not None:
        disk = float(capacity["disk_free_gb"])
    elif facts.get("image_dir_free_bytes") is not None:
        disk = int(facts["image_dir_free_bytes"]) / 2**30
    else:
        disk = None
    bridges = capacity.get("bridges")
    if bridges is None:
        bridges = [b.get("name") for b in net.get("bridges") or () if b.get("name")]
    hyper = capacity.get("hypervisor") or facts.get("hypervisor")
    if hyper is None and {"kvm", "qemu"} & set(capacity.get("domain_types") or ()):
        hyper = "kvm"  # libvirt's QEMU driver answers (KVM, or TCG where /dev/kvm is unusable)
    used = [tuple(p) for p in placed]
    maxima = capacity.get("max_vcpus") or {}
    max_vcpus = maxima.get("kvm") or maxima.get("qemu") if hyper == "kvm" else maxima.get(hyper)
    return HostView(
        name=name, cores=cores, threads=max(threads, cores), ram_mb=ram, disk_free_gb=disk,
        hypervisor=hyper, arch=str(capacity.get("arch") or kernel.get("arch") or "x86_64"),
        bridges=tuple(str(b) for b in bridges),
        used_vcpus=sum(p[0] for p in used), used_ram_mb=sum(p[1] for p in used),
        used_disk_gb=sum(p[2] for p in used), last_seen=last_seen,
        max_vcpus=int(max_vcpus) if max_vcpus else None, disk_source=disk_source,
        stale_after=stale_after)


def judge(req: Request, host: HostView, now: float) -> Verdict:
    """Every blocking problem and warning of placing ``req`` on ``host``."""
    found: list[Issue] = []
    for check in CHECKS:
        found += check(req, host, now)
    return Verdict(host.name, tuple(i for i in found if i.severity == "error"),
                   tuple(i for i in found if i.severity == "warning"))


def _err(fld: str, code: str, msg: str) -> Issue:
    return Issue(fld, code, msg)


def _warn(fld: str, code: str, msg: str) -> Issue:
    return Issue(fld, code, msg, "warning")


def _plural(n: int, noun: str) -> str:
    """``1 physical core``, ``4 physical cores``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _count(n: int, one: str, many: str) -> str:
    """``1 is``, ``0 are``: a number with the verb that agrees with it."""
    return f"{n} {one if n == 1 else many}"


def _host_minimum(req: Request, host: HostView, now: float) -> list[Issue]:
    h, out = host.name, []
    if host.ram_mb and host.ram_mb < HOST_MIN_RAM_MB:
        out.append(_err("host", "HOST_BELOW_MINIMUM_RAM", f"{h} has {host.ram_mb} MiB of RAM, "
                        f"below the minimum system requirement of {HOST_MIN_RAM_MB} MiB"))
    if host.disk_free_gb is not None and host.disk_free_gb < HOST_MIN_DISK_GB:
        out.append(_err("host", "HOST_BELOW_MINIMUM_DISK",
                        f"{h} has {host.disk_free_gb:.1f} GiB free {host.disk_source}, below the "
                        f"minimum system requirement of {HOST_MIN_DISK_GB} GiB"))
    if host.stale(now):
        out.append(_warn("host", "HOST_STALE", f"the agent on {h} was last seen "
                         f"{int(now - host.last_seen)} s ago; the order waits until it comes back"))
    return out


def _hypervisor(req: Request, host: HostView, now: float) -> list[Issue]:
    h, out = host.name, []
    if host.hypervisor is None:
        out.append(_err("host", "NO_HYPERVISOR",
                        f"{h} runs no hypervisor (no KVM modules, not a Xen kernel)"))
    elif req.hypervisor and req.hypervisor != host.hypervisor:
        out.append(_err("host", "HYPERVISOR_MISMATCH",
                        f"the profile needs {req.hypervisor.upper()} but {h} runs "
                        f"{host.hypervisor.upper()}; a guest stays on the hypervisor it was "
                        "made for"))
    if host.hypervisor == "kvm" and host.arch != "x86_64":
        out.append(_err("host", "KVM_NEEDS_X86_64",
                        f"{h} is {host.arch}: KVM supports only AMD64/Intel 64"))
    return out


def _memory(req: Request, host: HostView, now: float) -> list[Issue]:
    h = host.name
    if not host.ram_mb:
        return []
    room = host.ram_mb - HOST_RESERVE_MB
    if req.ram_mb > room:
        return [_err("ram_mb", "RAM_EXCEEDS_HOST",
                     f"{req.ram_mb} MiB does not fit on {h}: it has {host.ram_mb} MiB, of which "
                     f"{HOST_RESERVE_MB} MiB stay with the host, so at most {max(room, 0)} MiB")]
    if req.ram_mb <= host.free_ram_mb:
        return []
    total = host.used_ram_mb + req.ram_mb
    if host.hypervisor == "xen" and total > host.ram_mb:
        return [_err("ram_mb", "RAM_OVERCOMMIT_XEN",
                     f"{h} has {max(host.free_ram_mb, 0)} MiB free for guests; Xen cannot "
                     f"overcommit memory ({total} MiB of guests on {host.ram_mb} MiB)")]
    return [_warn("ram_mb", "RAM_OVERCOMMIT",
                  f"{h} has {max(host.free_ram_mb, 0)} MiB free for guests: "
                  f"{total} MiB of guests overcommits its RAM and guests will swap")]


def _cpus(req: Request, host: HostView, now: float) -> list[Issue]:
    h = host.name
    if host.max_vcpus and req.vcpus > host.max_vcpus:
        return [_err("vcpus", "VCPU_OVER_HOST_MAX",
                     f"{req.vcpus} vCPUs: {h} allows at most {host.max_vcpus} per guest (its "
                     f"libvirt domain capabilities for {host.hypervisor})")]
    if not host.cores:
        return []
    total = host.used_vcpus + req.vcpus
    limit = KVM_VCPUS_PER_CORE * host.cores
    if host.hypervisor == "kvm" and total > limit:
        return [_err("vcpus", "VCPU_OVER_10_PER_CORE",
                     f"{h} has {_plural(host.cores, 'physical core')}: KVM supports at most "
                     f"{limit} vCPUs "
                     f"({KVM_VCPUS_PER_CORE} per core); {_count(host.used_vcpus, 'is', 'are')} "
                     f"in use, so at most {max(limit - host.used_vcpus, 0)} more")]
    if req.vcpus > host.threads:
        return [_warn("vcpus", "VCPU_OVERCOMMIT",
                      f"{req.vcpus} vCPUs is more than the {host.threads} logical CPUs of {h}: "
                      "context switching will slow both guest and host")]
    if total > host.cores:
        return [_warn("vcpus", "VCPU_OVERCOMMIT",
                      f"{total} vCPUs in total on {h} overcommit its "
                      f"{_plural(host.cores, 'physical core')}")]
    return []


def _disk(req: Request, host: HostView, now: float) -> list[Issue]:
    if host.disk_free_gb is None:
        return []
    free = host.disk_free_gb - host.used_disk_gb
    if req.disk_gb > free:
        return [_err("disk_gb", "DISK_EXCEEDS_HOST", f"{req.disk_gb} GiB does not fit on "
                     f"{host.name}: {max(free, 0):.1f} GiB free {host.disk_source}")]
    return []


def _network(req: Request, host: HostView, now: float) -> list[Issue]:
    h = host.name
    if req.network in NAT_NETWORKS:
        return [_err("network", "PXE_NEEDS_BRIDGE",
                     f"{req.network} is NAT: a PXE install needs a bridge (e.g. br0)")]
    if req.network and req.network not in host.bridges:
        have = ", ".join(host.bridges) or "none"
        return [_err("network", "BRIDGE_MISSING",
                     f"bridge {req.network} is not on {h} (bridges: {have})")]
    if not req.network and not host.bridges:
        return [_err("network", "BRIDGE_MISSING",
                     f"{h} has no bridge for the guest to PXE-boot on")]
    return []


#: the checks in the order their findings are reported
CHECKS: tuple[Callable[[Request, HostView, float], list[Issue]], ...] = (
    _host_minimum, _hypervisor, _memory, _cpus, _disk, _network)


def place(req: Request, hosts: Iterable[HostView], now: float = 0.0) -> Placement:
    """Choose a host for ``req`` (the requested one, or the best that fits) or explain why not."""
    hosts = sorted(hosts, key=lambda v: v.name)
    wanted = req.host if req.host and req.host != "any" else None
    if wanted is not None:
        match = [v for v in hosts if v.name == wanted]
        if not match:
            return Placement(None, (), (Issue("host", "NO_SUCH_HOST",
                                              f"no registered host named {wanted}"),))
        verdict = judge(req, match[0], now)
        if verdict.ok:
            return Placement(wanted, (verdict,), (), verdict.warnings)
        return Placement(None, (verdict,), verdict.errors)
    if not hosts:
        return Placement(None, (), (Issue("host", "NO_HOSTS",
                                          "no host is registered: start the agent on a "
                                          "hypervisor host first"),))
    verdicts = tuple(judge(req, v, now) for v in hosts)
    fitting = [(v, j) for v, j in zip(hosts, verdicts, strict=True) if j.ok]
    if not fitting:
        return Placement(None, verdicts, _none_fits(verdicts))
    fresh = [(v, j) for v, j in fitting if not any(w.code == "HOST_STALE" for w in j.warnings)]
    pool = fresh or fitting
    best, verdict = min(pool, key=lambda vj: (len(vj[1].warnings) > 0, -vj[0].free_ram_mb,
                                              vj[0].name))
    return Placement(best.name, verdicts, (), verdict.warnings)


#: the fields a capacity reason can belong to besides the host
FIELD_WORDS = ("ram_mb", "vcpus", "disk_gb", "network")


def _none_fits(verdicts: tuple[Verdict, ...]) -> tuple[Issue, ...]:
    """Why no host fits, each reason said once: a reason every host shares on a field goes on
    that field alone; the host field sums up only the rest (none when nothing is left)."""
    shared = [fld for fld in FIELD_WORDS
              if all(any(e.field == fld for e in j.errors) for j in verdicts)]
    errors = [e for j in verdicts for e in j.errors if e.field in shared]
    parts = [e.message if e.message.startswith(f"{j.host} ") else f"{j.host}: {e.message}"
             for j in verdicts for e in j.errors if e.field not in shared]
    if parts or not errors:
        errors.insert(0, Issue("host", "NO_HOST_FITS",
                               "no registered host can take this order: " + "; ".join(parts)))
    return tuple(errors)


@dataclass
class Usage:
    """Running totals per host of what active orders use (helper for building views)."""

    per_host: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)

    def add(self, host: str, vcpus: int, ram_mb: int, disk_gb: int) -> None:
        self.per_host.setdefault(host, []).append((vcpus, ram_mb, disk_gb))
