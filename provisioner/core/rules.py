"""The seed's platform rules (support matrices, limits, constraints), loaded from data files.

The rules live in ``provisioner/platform/data/`` as TOML, not as ifs: ``support.toml`` (guest
support matrices, A1 ch.2-3), ``limits.toml`` (numbers, A1 ch.1/4), ``rules.toml`` (constraints
with messages). This module turns the inputs into flat *facts*, matches every rule's ``when``
against them and returns findings. (The guest clock table is :mod:`provisioner.platform.clock`.)

Public API::

    check(values, host=None) -> list[RuleIssue]     # every finding, errors first
    check_migration(src, dst, src_hv, dst_hv) -> list[RuleIssue]
    support_level(values, host=None) -> str | None  # "optimized", "tech-preview", ... or None

The values a request may carry and the facts derived from them are documented in
:mod:`provisioner.core.rule_facts`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.core.rule_facts import HostInfo, data_release, facts
from provisioner.platform.osversion import release_lt, release_tuple
from provisioner.platform.tables import limit, table

__all__ = ["LEVELS", "HostInfo", "RuleIssue", "check", "check_migration", "facts", "rules",
           "support_level"]

LEVELS = ("error", "warning")


@dataclass(frozen=True)
class RuleIssue:
    """One finding: ``level`` is ``error`` (refuse) or ``warning`` (allow, tell the admin)."""

    level: str
    field: str
    message: str
    code: str = ""



# ---- data ---------------------------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = table("rules")["rule"]
    return found



# ---- matching -----------------------------------------------------------------------------


def _operand(raw: Any, f: Mapping[str, Any]) -> Any:
    if isinstance(raw, str) and raw.startswith("$"):
        return limit(raw[1:])
    if isinstance(raw, str) and raw.startswith("@"):
        return f.get(raw[1:])
    return raw


_OPS: dict[str, Callable[[Any, Any], bool | None]] = {
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "ne": lambda a, b: a != b, "not_in": lambda a, b: a not in b,
    "lt_version": release_lt,
    "ge_version": lambda a, b: None if release_lt(a, b) is None else not release_lt(a, b),
}


def _matches(cond: Any, fact: Any, f: Mapping[str, Any], used: list[Any]) -> bool:
    if fact is None:
        return False
    if isinstance(cond, dict):
        for op, raw in cond.items():
            operand = _operand(raw, f)
            if operand is None:
                return False
            used.append(operand)
            try:
                ok = _OPS[op](fact, operand)
            except TypeError:
                return False
            if not ok:
                return False
        return True
    if isinstance(cond, list):
        return fact in cond
    return bool(fact == cond)


class _Facts(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _fire(table: list[dict[str, Any]], f: Mapping[str, Any]) -> list[RuleIssue]:
    issues: list[RuleIssue] = []
    for rule in table:
        used: list[Any] = []
        if all(_matches(cond, f.get(key), f, used) for key, cond in rule["when"].items()):
            msg = rule["message"].format_map(_Facts(f, limit=used[0] if used else "?"))
            issues.append(RuleIssue(rule["level"], rule["field"], msg, rule["code"]))
    return issues


def check(values: Mapping[str, Any], host: HostInfo | None = None) -> list[RuleIssue]:
    """Every rule that fires for ``values`` (and ``host``), errors before warnings."""
    f = facts(values, host)
    issues = _fire(rules(), f) + _support_issues(f)
    return sorted(issues, key=lambda i: LEVELS.index(i.level))


def check_migration(src: HostInfo, dst: HostInfo, src_hypervisor: str | None = None,
                    dst_hypervisor: str | None = None) -> list[RuleIssue]:
    """Can a guest live-migrate from ``src`` to ``dst``? (same CPU vendor, same NX setting,
    same hypervisor type). Unknown facts on either side stay silent."""
    def nx(h: HostInfo) -> bool | None:
        return None if h.cpu_flags is None else "nx" in h.cpu_flags

    f: dict[str, Any] = {"src_vendor": src.vendor, "dst_vendor": dst.vendor,
                         "src_nx": nx(src), "dst_nx": nx(dst),
                         "src_hypervisor": src_hypervisor, "dst_hypervisor": dst_hypervisor}
    for name, a, b in (("same_vendor", src.vendor, dst.vendor), ("same_nx", nx(src), nx(dst)),
                       ("same_hypervisor", src_hypervisor, dst_hypervisor)):
        f[name] = None if a is None or b is None else a == b
    return _fire(table("rules")["migration"], f)


# ---- support matrix -----------------------------------------------------------------------


def _lookup(f: Mapping[str, Any]) -> tuple[dict[str, Any], str | None] | None:
    key = (f.get("hypervisor"), f.get("host_arch"), f.get("virt_type"))
    guest = [f.get("guest_os"), f.get("guest_arch")]
    for row in table("support")["support"]:
        if (row["hypervisor"], row["host_arch"], row["virt_type"]) != key:
            continue
        if guest not in row["guests"]:
            continue
        if "levels_by_host_release" in row:
            steps = row["levels_by_host_release"]
            ver = release_tuple(f.get("host_release"))
            if ver is None:
                return row, steps[-1][1]
            level = None
            for since, lvl in steps:
                if ver >= data_release(since):
                    level = lvl
            return row, level
        return row, row["level"]
    return None


def support_level(values: Mapping[str, Any], host: HostInfo | None = None) -> str | None:
    """The seed's support level for the guest, or None (not listed or facts missing)."""
    found = _lookup(facts(values, host))
    return found[1] if found else None


def _support_issues(f: Mapping[str, Any]) -> list[RuleIssue]:
    hv, host_arch, vt = f.get("hypervisor"), f.get("host_arch"), f.get("virt_type")
    guest, garch = f.get("guest_os"), f.get("guest_arch")
    if not all((hv, host_arch, vt, guest, garch)) or f.get("guest_arch_fits_host") is False:
        return []
    if hv == "kvm" and (vt == "pv" or host_arch != "x86_64"):
        return []  # already an error of rules.toml
    # the matrices describe RHEL 5 hosts and the guests of their time: a guest the seed never
    # names (rhel6+, other OSes) or a host of another release gets no verdict from them
    known = {g[0] for row in table("support")["support"] for g in row["guests"]}
    host_ver = release_tuple(f.get("host_release"))
    if guest not in known or (host_ver is not None and host_ver[0] != 5):
        return []
    what = f"{guest} {garch} as a {vt} guest on a {host_arch} {hv} host"
    found = _lookup(f)
    if found is None:
        return [RuleIssue("warning", "guest_os", f"{what} is not in the support matrix: "
                          "untested and not supported by Red Hat", "GUEST_UNSUPPORTED")]
    _row, level = found
    if level is None:
        return [RuleIssue("warning", "guest_os", f"{what} is not supported on host release "
                          f"{f.get('host_release')}", "GUEST_UNSUPPORTED_RELEASE")]
    if level == "tech-preview":
        return [RuleIssue("warning", "guest_os", f"{what} is a technology preview on host "
                          f"release {f.get('host_release') or '5.2/5.3'}", "TECH_PREVIEW")]
    return []
