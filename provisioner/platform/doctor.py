"""The troubleshooting catalogue (``data/doctor.toml``: seed ch.30-32, notes E §24): each
message of the guide with its cause, the fix, and the agent plan that applies it where one
exists. ``provisioner-agent doctor`` matches the rows; the appliance shows the findings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from provisioner.platform.tables import table

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Entry:
    id: str
    severity: str
    title: str
    seed: str
    cause: str
    fix: str
    plan: str = ""
    check: str = ""
    log: tuple[re.Pattern[str], ...] = ()
    log_all: tuple[re.Pattern[str], ...] = ()
    unless: re.Pattern[str] | None = None


@cache
def catalogue() -> tuple[Entry, ...]:
    """Every row, in the table's order; a bad row (severity, regex) fails at load."""
    out = []
    for r in table("doctor")["entry"]:
        if r["severity"] not in SEVERITIES:
            raise ValueError(f"doctor.toml {r['id']}: severity {r['severity']!r}")
        out.append(Entry(
            r["id"], r["severity"], r["title"], r["seed"], r["cause"], r["fix"],
            r.get("plan", ""), r.get("check", ""),
            tuple(re.compile(p) for p in r.get("log", ())),
            tuple(re.compile(p, re.M) for p in r.get("log_all", ())),
            re.compile(r["unless"]) if r.get("unless") else None))
    return tuple(out)


def log_files() -> tuple[str, ...]:
    """The log files the guide names (globs, relative to the root)."""
    return tuple(table("doctor")["logs"]["files"])


def log_limits() -> tuple[int, int]:
    """(bytes read from the end of each log, most log files read)."""
    logs = table("doctor")["logs"]
    return int(logs["tail_bytes"]), int(logs["max_files"])


def fill(template: str, details: dict[str, str]) -> str:
    """``template`` with ``{name}`` replaced by details; unknown names stay as written."""
    return re.sub(r"\{(\w+)\}", lambda m: details.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class Service:
    name: str
    seed: str
    sysv: tuple[tuple[str, ...], ...]   # the guide's commands, in its order
    unit: str                           # the systemd unit on newer hosts


def services() -> dict[str, Service]:
    """The daemons the guide starts and enables (``[services.*]``)."""
    return {name: Service(name, r["seed"], tuple(tuple(c) for c in r["sysv"]), r["unit"])
            for name, r in table("doctor")["services"].items()}
