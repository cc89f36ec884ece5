"""Size limits, checked after the defaults: vCPUs, RAM and disk space against the host.

Each refusal names the limit and where it comes from (domain capabilities, capabilities,
the seed's table, the storage pool). virt-install accepts most of these and lets libvirt or
the guest fail later, or silently replaces a 0; the agent refuses before anything is created.
The same checks run on the appliance before an order is queued
(``provisioner`` calls :func:`check_sizes` through the shared rules).

* vCPUs: at most the domain capabilities' ``<vcpu max>`` for the guest's machine, the
  capabilities' ``maxCpus`` of that machine, and on KVM the seed's 10 vCPUs per physical core
  (seed A1.md §4.2, L480);
* RAM: more than 0 (the option parser refuses 0), at most the host's memory (capabilities
  NUMA cells, else the probe's MemTotal);
* disk: a new image the agent preallocates (anything but ``sparse=yes``) must fit in its pool's
  free space (the pool's ``available``, else the image directory's free space).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.guest.defaults.context import Ctx
from agent.guest.errors import GuestError
from provisioner.platform.tables import limit

#: The seed's KVM overcommit limit (A1.md §4.2 L480), from the shared seed tables.
KVM_VCPUS_PER_CORE: int = limit("kvm.max_vcpu_per_core")
GIB = 1024 ** 3


@dataclass(frozen=True)
class Limit:
    value: int
    source: str


def vcpu_limits(ctx: Ctx) -> list[Limit]:
    g, limits = ctx.guest, []
    dc = ctx.domcaps()
    if dc is not None and dc.max_vcpus:
        limits.append(Limit(dc.max_vcpus, f"domain capabilities of {g.type} {ctx.arch} "
                                          f"{dc.machine or ctx.machine} (<vcpu max>)"))
    if ctx.gcaps is not None:
        machine = ctx.gcaps.canonical_machine(g.os.machine) or ""
        for name in (g.os.machine, machine):
            if name in ctx.gcaps.max_cpus:
                limits.append(Limit(ctx.gcaps.max_cpus[name],
                                    f"capabilities: machine {name} maxCpus"))
                break
    cores = ctx.host.caps.host_cores or ctx.host.facts.cpu.cores
    if g.type == "kvm" and cores:
        limits.append(Limit(KVM_VCPUS_PER_CORE * cores,
                            f"the seed's KVM limit of {KVM_VCPUS_PER_CORE} vCPUs per physical "
                            f"core x {cores} cores (seed A1.md §4.2, platform limits.toml)"))
    return limits


def check_vcpus(ctx: Ctx) -> None:
    n = ctx.guest.vcpus or 1
    for cap in vcpu_limits(ctx):
        if n > cap.value:
            raise GuestError(f"{n} vCPUs: more than the {cap.value} this host allows "
                             f"({cap.source})", "VCPU_LIMIT")


def host_memory_kib(ctx: Ctx) -> tuple[int, str] | None:
    if ctx.host.caps.host_memory_kib:
        return ctx.host.caps.host_memory_kib, "capabilities: the host's NUMA cells"
    if ctx.host.facts.mem_kib:
        return ctx.host.facts.mem_kib, "the host probe's MemTotal"
    return None


def check_memory(ctx: Ctx) -> None:
    g = ctx.guest
    host = host_memory_kib(ctx)
    for what, kib in (("RAM", g.current_memory_kib), ("maximum RAM", g.memory_kib)):
        if kib is not None and kib <= 0:
            raise GuestError(f"{what} of 0 MiB: a guest needs memory", "RAM_ZERO")
        if kib and host and kib > host[0]:
            raise GuestError(f"{what} of {kib // 1024} MiB: more than the host's "
                             f"{host[0] // 1024} MiB ({host[1]})", "RAM_OVER_HOST")


def check_disks(ctx: Ctx) -> None:
    need: dict[str, float] = {}
    for disk in ctx.guest.disk:
        if disk.size_gb is None or disk.is_cdrom or disk.sparse is True or \
                disk.path in ctx.host.existing_files:
            continue
        pool = ctx.host.pool(disk.pool) if disk.pool else ctx.host.pool_of(disk.path or "")
        if pool is None or pool.available is None:
            continue
        need[pool.name] = need.get(pool.name, 0.0) + disk.size_gb * GIB
        if need[pool.name] > pool.available:
            raise GuestError(
                f"disk {disk.path}: {disk.size_gb:g} GiB (preallocated; {need[pool.name] / GIB:g}"
                f" GiB in this pool for this guest) but pool {pool.name!r} has "
                f"{pool.available / GIB:.1f} GiB free (storage pool {pool.path}); use a "
                "smaller size, another pool, or sparse=yes", "DISK_OVER_POOL")


def check(ctx: Ctx) -> None:
    check_vcpus(ctx)
    check_memory(ctx)
    check_disks(ctx)
