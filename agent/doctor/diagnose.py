"""Matching the catalogue against facts and logs: ``diagnose(facts, health) -> [Finding]``.
Pure: the facts come in, findings (with the guide's fix and the agent plan) go out."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.doctor.checks import CHECKS, Context, Details
from agent.facts.health import Health
from agent.facts.model import HostFacts
from provisioner.platform.doctor import Entry, catalogue, fill

MAX_PER_ENTRY = 8          # distinct findings of one row (e.g. one per missing bridge)


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    title: str
    seed: str
    cause: str
    fix: str
    plan: str | None
    evidence: tuple[str, ...]
    details: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "severity": self.severity, "title": self.title,
                "seed": self.seed, "cause": self.cause, "fix": self.fix, "plan": self.plan,
                "evidence": list(self.evidence), "details": dict(self.details)}


def _log_hits(entry: Entry, logs: dict[str, str]) -> list[Details]:
    hits: list[Details] = []
    for path, text in logs.items():
        if entry.unless is not None and entry.unless.search(text):
            continue
        if entry.log_all:
            found = [p.search(text) for p in entry.log_all]
            if all(found):
                d: Details = {k: v for m in found if m for k, v in m.groupdict().items() if v}
                first = min(m.start() for m in found if m)
                line = text.count("\n", 0, first) + 1
                hits.append({**d, "evidence": f"{path}:{line}: " + "; ".join(
                    m.group(0).strip() for m in found if m)})
            continue
        for n, line_text in enumerate(text.splitlines(), 1):
            for p in entry.log:
                m = p.search(line_text)
                if m:
                    hits.append({**{k: v for k, v in m.groupdict().items() if v},
                                 "evidence": f"{path}:{n}: {line_text.strip()[:300]}"})
    return hits


def _balloon(details: Details, facts: HostFacts) -> Details:
    """E3's numbers: the shortfall, and a dom0 size that frees it (dom0's memory less it)."""
    if "free_kib" in details and "need_kib" in details:
        short = int(details["need_kib"]) - int(details["free_kib"])
        details["shortfall_kib"] = str(short)
        if facts.mem_kib:
            details["dom0_target_mib"] = str(max(0, facts.mem_kib - short) // 1024)
    details.setdefault("dom0_target_mib", "NewMemSize")
    return details


def _merge(entry: Entry, found: list[Details], facts: HostFacts) -> list[Finding]:
    """One finding per distinct set of details; evidence collected under it."""
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for d in found:
        d = _balloon(dict(d), facts) if entry.id == "E3" else dict(d)
        seen = d.pop("evidence", "")
        groups.setdefault(tuple(sorted(d.items())), []).append(seen)
    out = []
    for key, evidence in list(groups.items())[:MAX_PER_ENTRY]:
        d = dict(key)
        out.append(Finding(entry.id, entry.severity, entry.title, entry.seed,
                           fill(entry.cause, d), fill(entry.fix, d),
                           fill(entry.plan, d) if entry.plan else None,
                           tuple(dict.fromkeys(e for e in evidence if e))[:5], key))
    return out


def diagnose(facts: HostFacts, health: Health) -> list[Finding]:
    """Every catalogue row matched against the facts and the logs, errors first."""
    ctx = Context.build(facts, health)
    findings: list[Finding] = []
    for entry in catalogue():
        found = _log_hits(entry, health.logs) if (entry.log or entry.log_all) else []
        if entry.check:
            found += CHECKS[entry.check](ctx)
        if found:
            findings += _merge(entry, found, facts)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: order[f.severity])


def matching_ids(text: str) -> list[str]:
    """The ids of the rows whose log patterns match ``text`` (for tests and --explain)."""
    return [e.id for e in catalogue()
            if any(re.search(p, text) for p in e.log)
            or (e.log_all and all(p.search(text) for p in e.log_all))]
