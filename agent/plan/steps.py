"""Plan steps: frozen values a planner returns and the applier executes check-then-act.

Each step says *what* (``describe()``), *why* (``why``) and carries everything the applier
needs to check it, act and undo it:

- ``FileStep``: ``edit.apply(current_text) -> new_text`` is a pure transform; converged when
  it changes nothing. Undo restores the previous bytes (or removes a file that was absent).
- link/address/route steps: desired netlink state; converged when the state is already there.
- ``Command``: ``check`` argv answering rc 0 when converged; ``undo`` argv when reversible;
  ``when`` argv that must answer rc 0 for the command to run at all (a reload of a running
  service).
- ``Manual``: something outside this host's reach (guest-side or another component); shown,
  never executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol


class PlanError(ValueError):
    """An impossible or refused request (the seed's rules); ``code`` is a stable id."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TextEdit(Protocol):
    def apply(self, text: str | None) -> str | None: ...
    def describe(self) -> str: ...


@dataclass(frozen=True)
class Content:
    """The whole file is exactly ``text``."""

    text: str

    def apply(self, text: str | None) -> str | None:
        return self.text

    def describe(self) -> str:
        return "write whole file"


@dataclass(frozen=True)
class LineRule:
    """Ensure ``line`` is present; lines matching ``match`` (a regex) are replaced by it."""

    line: str
    match: str | None = None

    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.match if self.match else "^" + re.escape(self.line) + r"\s*$")


@dataclass(frozen=True)
class Lines:
    """Ensure lines: replace the first line matching each rule, drop later duplicates,
    append when absent. Other lines stay byte for byte."""

    rules: tuple[LineRule, ...]

    def apply(self, text: str | None) -> str | None:
        lines = (text or "").splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        for rule in self.rules:
            pat = rule.pattern()
            out, seen = [], False
            for ln in lines:
                if pat.search(ln.rstrip("\n")):
                    if not seen:
                        out.append(rule.line + "\n")
                        seen = True
                    continue
                out.append(ln)
            if not seen:
                out.append(rule.line + "\n")
            lines = out
        return "".join(lines)

    def describe(self) -> str:
        return "ensure lines: " + "; ".join(r.line for r in self.rules)


@dataclass(frozen=True)
class Step:
    why: str = field(default="", kw_only=True)

    def describe(self) -> str:  # pragma: no cover - every step overrides
        raise NotImplementedError


@dataclass(frozen=True)
class FileStep(Step):
    path: str                      # absolute path on the target (under the applier's root)
    edit: TextEdit
    mode: int | None = None        # file mode when the file is created
    secret: bool = False           # a private key: diffs and reports never show its text

    def describe(self) -> str:
        return f"edit {self.path}: {self.edit.describe()}"


@dataclass(frozen=True)
class EnsureLink(Step):
    """A link of ``kind`` (bridge/dummy) exists and is up, with MTU and bridge options."""

    name: str
    kind: str
    mtu: int | None = None
    stp: bool | None = None
    forward_delay: int | None = None   # seconds
    mac: str | None = None

    def describe(self) -> str:
        opts = [f"{k}={v}" for k, v in (("mtu", self.mtu), ("stp", self.stp),
                                          ("forward_delay", self.forward_delay),
                                          ("mac", self.mac)) if v is not None]
        return f"ensure {self.kind} {self.name} up" + (f" ({', '.join(opts)})" if opts else "")


@dataclass(frozen=True)
class EnslaveLink(Step):
    name: str
    master: str

    def describe(self) -> str:
        return f"enslave {self.name} to bridge {self.master}"


@dataclass(frozen=True)
class SetMtu(Step):
    name: str
    mtu: int

    def describe(self) -> str:
        return f"set mtu {self.mtu} on {self.name}"


@dataclass(frozen=True)
class MoveAddress(Step):
    cidr: str
    src: str
    dst: str

    def describe(self) -> str:
        return f"move address {self.cidr} from {self.src} to {self.dst}"


@dataclass(frozen=True)
class AddAddress(Step):
    cidr: str
    dev: str

    def describe(self) -> str:
        return f"add address {self.cidr} to {self.dev}"


@dataclass(frozen=True)
class MoveRoute(Step):
    dst: str                        # "default" or a prefix
    src: str
    dev: str
    gateway: str | None = None
    metric: int | None = None

    def describe(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        return f"move route {self.dst}{via} from {self.src} to {self.dev}"


@dataclass(frozen=True)
class Command(Step):
    argv: tuple[str, ...]
    check: tuple[str, ...] | None = None   # rc 0 -> already converged (skip)
    undo: tuple[str, ...] | None = None
    only_if_changed: bool = False           # run only if an earlier step changed something
    runtime: bool = False                   # affects only the running system (not %post)
    when: tuple[str, ...] | None = None     # run only if this exits 0 (a condition, not a
                                            # convergence check: never re-checked after acting)

    def describe(self) -> str:
        return "run " + " ".join(self.argv)


@dataclass(frozen=True)
class Assert(Step):
    """A precondition: ``argv`` must exit 0 or the plan stops (and rolls back). Never a change."""

    argv: tuple[str, ...]
    message: str

    def describe(self) -> str:
        return "require: " + self.message


@dataclass(frozen=True)
class Manual(Step):
    """Done elsewhere (inside the guest, on the guest definition, by a person)."""

    text: str

    def describe(self) -> str:
        return "manual: " + self.text


@dataclass(frozen=True)
class Plan:
    title: str
    steps: tuple[Step, ...]
    network: bool = False          # touches live networking: connectivity check + rollback
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        out = [f"# {self.title}"]
        out += [f"# warning: {w}" for w in self.warnings]
        for i, s in enumerate(self.steps, 1):
            out.append(f"{i:2d}. {s.describe()}")
            if s.why:
                out.append(f"      why: {s.why}")
        return "\n".join(out) + "\n"

    def __add__(self, other: Plan) -> Plan:
        return Plan(f"{self.title} + {other.title}", self.steps + other.steps,
                    self.network or other.network, self.warnings + other.warnings)
