"""The CPU model of a live-migratable guest: the newest named model every candidate host can
run (pure).

A migratable guest must not use ``host-passthrough`` (issue 13: "a named model the hosts
share"). Each agent reports, per libvirt domain type, the models its domain capabilities call
usable, oldest first in libvirt's CPU map order, with their vendors (``agent/guest/cpumap.py``).
The candidates are the hosts the guest could migrate to: every registered host with the placed
host's hypervisor and architecture. The choice: among the models all candidates list, one of
the hosts' common vendor first (Intel hosts get an Intel model, not ``Opteron_G2``), then a
vendor-neutral one (``qemu64``), then any; the newest of those in the first host's order. An
explicit model must be usable on every candidate. A refusal names the field and each host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioner.core.scheduler import Issue


@dataclass(frozen=True)
class HostModels:
    """One candidate host's usable CPU models, oldest first, and its CPU vendor."""

    name: str
    models: tuple[tuple[str, str], ...] = ()  # (model, vendor)
    vendor: str | None = None


def host_models(name: str, capacity: Mapping[str, Any], hypervisor: str | None) -> HostModels:
    """What the agent reported for the domain type the guest will run on (KVM before TCG)."""
    reported = capacity.get("cpu_models") or {}
    for dt in (("kvm", "qemu") if hypervisor in (None, "kvm") else (hypervisor,)):
        if reported.get(dt):
            models = tuple((str(m["name"]), str(m.get("vendor") or "unknown"))
                           for m in reported[dt])
            return HostModels(name, models, capacity.get("cpu_vendor"))
    return HostModels(name, (), capacity.get("cpu_vendor"))


def _hosts_said(hosts: Sequence[HostModels]) -> str:
    return ", ".join(f"{h.name} ({len(h.models)} usable)" for h in hosts)


def choose(hosts: Sequence[HostModels], wanted: str | None = None) -> str | Issue:
    """The model for the guest, or the field error saying why there is none."""
    if not hosts:
        return Issue("migratable", "NO_CPU_MODELS", "no host to migrate between was found")
    silent = [h.name for h in hosts if not h.models]
    if silent:
        return Issue("migratable", "NO_CPU_MODELS",
                     f"{', '.join(silent)} reported no usable named CPU model (libvirt domain "
                     "capabilities): a migratable guest needs one every host can run")
    if wanted:
        lacking = [h.name for h in hosts if wanted not in {m for m, _ in h.models}]
        if lacking:
            return Issue("cpu_model", "CPU_MODEL_NOT_SHARED",
                         f"CPU model {wanted} is not usable on {', '.join(lacking)} (libvirt "
                         "domain capabilities); leave it empty to get the newest model all "
                         "hosts share")
        return wanted
    shared = set.intersection(*({m for m, _ in h.models} for h in hosts))
    if not shared:
        return Issue("migratable", "NO_SHARED_CPU_MODEL",
                     "no named CPU model is usable on every host the guest could migrate "
                     f"between: {_hosts_said(hosts)}; order it without migration or add "
                     "hosts with a common CPU generation")
    vendors = {h.vendor for h in hosts}
    common = vendors.pop() if len(vendors) == 1 else None
    first = hosts[0].models
    rank = {m: (vendor == common, vendor == "unknown", i) for i, (m, vendor) in enumerate(first)}
    return max(shared, key=lambda m: rank[m])
