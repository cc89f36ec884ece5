"""The order form: its fields, per-field messages (:class:`Draft`) and the pure checks.

Every problem is an :class:`~provisioner.core.scheduler.Issue` naming the form field it
belongs to, so the page can print it next to that field; errors block the order, warnings are
shown on the review step. What needs the store (name taken, profile defaults, placement) is in
``core/ordering.py``; what is decided from the form, a host record or a rule finding alone is
here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.core import scheduler
from provisioner.core.rules import HostInfo
from provisioner.core.scheduler import Issue
from provisioner.errors import Invalid
from provisioner.models import Host

FIELDS = ("name", "profile", "vcpus", "ram_mb", "disk_gb", "network", "host", "migratable",
          "cpu_model")
LABELS = {"name": "Name", "profile": "OS profile", "vcpus": "vCPUs", "ram_mb": "Memory (MiB)",
          "disk_gb": "Disk (GiB)", "network": "Network (bridge)", "host": "Host",
          "migratable": "Live-migratable", "cpu_model": "CPU model"}
_YES, _NO = ("on", "yes", "true", "1"), ("", "off", "no", "false", "0")
_CPU_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
HOST_CODES = ("HYPERVISOR_NOT_INSTALLED", "KVM_HOST_ARCH", "KVM_HOST_TOO_OLD", "FV_REQUIRES_VT",
              "KVM_REQUIRES_64BIT_CPU", "PV_NEEDS_KERNEL_XEN", "PV_REQUIRES_PAE",
              "PXE_HOST_TOO_OLD", "GUEST_ARCH_ON_HOST")
MAX_VCPUS, MAX_RAM_MB, MAX_DISK_GB = 256, 4 * 2**20, 64 * 1024
#: the values an order takes over from its profile (and the profile's distro)
PROFILE_VALUES = ("hypervisor", "virt_type", "disk_bus", "os_version", "arch", "breed", "distro",
                  "kickstart", "tree_url")
#: the scheduler and the seed's rules can report one fact under two codes: said once
SAME_FINDING = {"HYPERVISOR_NOT_INSTALLED": "NO_HYPERVISOR", "HYPERVISOR_MISMATCH": "NO_HYPERVISOR",
                "KVM_HOST_ARCH": "KVM_NEEDS_X86_64"}
_GUEST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_BRIDGE = re.compile(r"[A-Za-z0-9:_.-]{1,32}")


@dataclass
class Draft:
    """A validated (or rejected) form: normalised values and per-field messages."""

    form: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)
    host: str | None = None  # where the scheduler placed it
    runs: str = ""  # what that host really runs (hypervisor_label), for the review step
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, issue: Issue) -> None:
        fld = issue.field if issue.field in FIELDS else "host"
        key = (fld, SAME_FINDING.get(issue.code, issue.code))
        if key in self._seen:
            return  # the same finding from the scheduler and the seed rules
        self._seen.add(key)
        bucket = self.errors if issue.severity == "error" else self.warnings
        msgs = bucket.setdefault(fld, [])
        if issue.message not in msgs:
            msgs.append(issue.message)
        self.codes.append(issue.code)


class OrderRejected(Invalid):
    """The form has errors; ``draft`` carries every field's messages."""

    def __init__(self, draft: Draft) -> None:
        first = next(iter(draft.errors.items()))
        super().__init__(f"{LABELS.get(first[0], first[0])}: {first[1][0]}", field=first[0])
        self.draft = draft


def name_issue(name: str) -> Issue | None:
    """What is wrong with a guest name on its own (taken names need the store)."""
    if not name:
        return Issue("name", "REQUIRED", "Name is required")
    if not _GUEST_NAME.match(name):
        return Issue("name", "BAD_NAME",
                     f"{name!r} is not a valid name: use letters, digits and '-' only "
                     "(no spaces or punctuation), at most 63 characters, not starting "
                     "or ending with '-'")
    return None


def parse_int(form: Mapping[str, str], name: str, lo: int, hi: int, draft: Draft,
              default: int | None) -> int | None:
    """A whole number field in ``lo..hi``; empty takes ``default`` (required when None)."""
    raw = (form.get(name) or "").strip()
    label = LABELS[name]
    if not raw:
        if default is None:
            draft.add(Issue(name, "REQUIRED", f"{label} is required"))
        return default
    if not re.fullmatch(r"[0-9]+", raw):
        draft.add(Issue(name, "NOT_A_NUMBER", f"{label} must be a whole number, not {raw!r}"))
        return None
    value = int(raw)
    if not lo <= value <= hi:
        draft.add(Issue(name, "OUT_OF_RANGE", f"{label} must be between {lo} and {hi}"))
        return None
    return value


def form_values(f: Mapping[str, str], defaults: Mapping[str, Any], draft: Draft) -> None:
    """Sizes, network and host from the form (profile defaults fill gaps) into ``draft.values``."""
    vcpus = parse_int(f, "vcpus", 1, MAX_VCPUS, draft, defaults.get("vcpus"))
    ram = parse_int(f, "ram_mb", 1, MAX_RAM_MB, draft, defaults.get("ram_mb"))
    disk = parse_int(f, "disk_gb", 1, MAX_DISK_GB, draft, defaults.get("disk_gb"))
    network = f["network"] or str(defaults.get("bridge") or "")
    if network and not _BRIDGE.fullmatch(network):
        draft.add(Issue("network", "BAD_NETWORK", f"{network!r} is not a bridge name"))
    draft.values = {"name": f["name"], "profile": f["profile"], "vcpus": vcpus, "ram_mb": ram,
                    "disk_gb": disk, "network": network, "host": f["host"] or "any",
                    **migration_values(f, draft), **{k: defaults.get(k) for k in PROFILE_VALUES}}


def migration_values(f: Mapping[str, str], draft: Draft) -> dict[str, Any]:
    """``migratable`` (a checkbox: on/yes/true/1, or empty/off/no/false/0) and an optional
    ``cpu_model`` (a libvirt CPU model name; giving one implies migratable). Anything else is
    a field error, never read as "no"."""
    raw = f.get("migratable", "").lower()
    if raw not in _YES + _NO:
        draft.add(Issue("migratable", "BAD_CHOICE",
                        f"{LABELS['migratable']} must be on or off, not {f['migratable']!r}"))
    model = f.get("cpu_model", "")
    if model and not _CPU_MODEL.fullmatch(model):
        draft.add(Issue("cpu_model", "BAD_CPU_MODEL",
                        f"{model!r} is not a CPU model name (like Skylake-Server or qemu64)"))
        model = ""
    return {"migratable": raw in _YES or bool(model), "cpu_model": model or None}


def rule_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The order's values as the seed's platform rules read them (PXE install, bridge)."""
    out = {**values, "install_method": "pxe", "bridge": values.get("network") or None,
           "kickstart": values.get("kickstart")}
    out.pop("host", None)
    return out


def rule_issues(findings: Sequence[Any]) -> list[Issue]:
    """The platform rules' findings as form issues, each on the field the user can change."""
    out = []
    for ri in findings:
        code = str(getattr(ri, "code", "") or "RULE")
        fld = str(getattr(ri, "field", "") or "profile")
        if code in HOST_CODES or fld == "host":
            fld = "host"
        elif fld == "bridge":
            fld = "network"
        elif fld not in FIELDS:
            fld = "profile"  # the profile decides OS, arch, virt type, disks, install
        level = str(getattr(ri, "level", getattr(ri, "severity", "error")))
        out.append(Issue(fld, code, str(getattr(ri, "message", ri)),
                         "error" if level == "error" else "warning"))
    return out


def emulated(host: Host) -> bool:
    """Guests on this host run under QEMU software emulation: libvirt offers the ``qemu``
    domain type and either no ``kvm`` or a CPU without VT/AMD-V flags. The seed's "full
    virtualization needs VT" then becomes a warning (TCG needs none), not an error."""
    types = set((host.capacity or {}).get("domain_types") or ())
    flags = set(((host.facts or {}).get("cpu") or {}).get("flags") or ())
    no_vt = bool(flags) and not flags & {"vmx", "svm"}
    return "qemu" in types and ("kvm" not in types or no_vt)


def hypervisor_label(host: Host) -> str:
    """What the host really runs, for people: KVM, Xen, QEMU software emulation, or none."""
    hyper = scheduler.host_view(host.name, host.facts or {}, host.capacity or {}).hypervisor
    if hyper is None:
        return "none"
    if hyper == "xen":
        return "Xen"
    if emulated(host):
        return "QEMU (TCG, software emulation)"
    return "KVM" if hyper == "kvm" else hyper


def emulated_issue(host: Host) -> Issue:
    return Issue("host", "EMULATED", f"{host.name} has no usable hardware virtualization: the "
                 "guest runs under QEMU software emulation (much slower)", "warning")


def host_info(host: Host) -> HostInfo:
    """The host's capabilities as the platform rules read them (capacity left out on purpose)."""
    facts = host.facts or {}
    cpu = facts.get("cpu") or {}
    kernel = facts.get("kernel") or {}
    distro = facts.get("distro") or {}
    view = scheduler.host_view(host.name, facts, host.capacity)
    flags = cpu.get("flags")
    if emulated(host):
        flags = None  # TCG needs no VT; the review step says it is emulated instead
    return HostInfo(
        arch=view.arch,
        release=str(distro.get("version")) if distro.get("family") == "rhel" else None,
        cpu_flags=frozenset(flags) if flags else None,
        running_xen=bool(kernel.get("is_xen")) if kernel else None,
        hypervisors=(view.hypervisor,) if view.hypervisor else None)
