"""Execute a plan check-then-act, journal every change, roll back on any failure.

``apply(plan, system, dry_run=...)`` walks the steps in order. For each step it asks the
step's handler (:mod:`agent.apply.handlers`, one per step type) whether the system already
matches (``check``); if not, and not a dry run, it acts, records undo operations in the
:class:`~agent.apply.journal.Journal` (saved after every step when it has a path, so
``provisioner-agent rollback`` works even after a crash) and checks again (verification).
Any failure rolls back everything this run did, so nothing is left half-applied.

Network plans get a connectivity check after the last step (and an optional wait for
``confirm``, like ``netplan try``); a failed check or a missing confirmation rolls back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.apply.handlers import StepFailed, UndoOp, check, handler
from agent.apply.journal import Journal, rollback
from agent.apply.system import System
from agent.plan.steps import Plan, Step

__all__ = ["ConfirmWait", "Journal", "Report", "StepFailed", "StepReport", "apply", "rollback"]


# ------------------------------------------------------------------ report

@dataclass
class StepReport:
    index: int
    describe: str
    status: str              # unchanged | changed | would-change | skipped | manual | failed
    detail: str = ""


@dataclass
class Report:
    title: str
    dry_run: bool
    steps: list[StepReport] = field(default_factory=list)
    error: str | None = None
    rolled_back: bool = False
    rollback_errors: list[str] = field(default_factory=list)
    confirmed: bool | None = None

    @property
    def changed(self) -> int:
        return sum(s.status in ("changed", "would-change") for s in self.steps)

    @property
    def ok(self) -> bool:
        return self.error is None

    def text(self) -> str:
        head = "dry run" if self.dry_run else "apply"
        out = [f"# {head}: {self.title}"]
        for s in self.steps:
            out.append(f"[{s.status}] {s.index:2d}. {s.describe}")
            if s.detail and s.status in ("would-change", "changed", "failed"):
                out += ["    " + ln for ln in s.detail.rstrip("\n").splitlines()]
        if self.error:
            out.append(f"error: {self.error}")
        if self.rolled_back:
            out.append("rolled back: every change of this run was undone")
        out += [f"rollback error: {e}" for e in self.rollback_errors]
        out.append(f"{self.changed} change(s)" + (" (none applied)" if self.dry_run else ""))
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------ confirm wait

@dataclass
class ConfirmWait:
    """Wait up to ``timeout`` seconds for ``confirmed()``; no confirmation -> rollback."""

    timeout: float
    confirmed: Callable[[], bool]
    poll: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def wait(self) -> bool:
        deadline = self.monotonic() + self.timeout
        while True:
            if self.confirmed():
                return True
            if self.monotonic() >= deadline:
                return False
            self.sleep(self.poll)


Connectivity = Callable[[System], tuple[bool, str]]


def _step(i: int, step: Step, system: System, journal: Journal, *, dry_run: bool,
          changed_before: bool) -> StepReport:
    """Check, and unless converged or a dry run, act and verify one step; raises on failure."""
    desc = step.describe()
    h = handler(step)
    if h.act is None:                    # never a change: report it (an Assert may raise)
        h.check(step, system)
        return StepReport(i, desc, h.status)
    if h.skip(step, changed_before):
        return StepReport(i, desc, "skipped", "nothing changed before it")
    converged, detail = check(step, system)
    if converged:
        return StepReport(i, desc, h.status)
    if dry_run:
        return StepReport(i, desc, "would-change", detail)
    undo: list[UndoOp] = []
    try:
        h.act(step, system, undo)
    finally:
        journal.record(undo)
    if h.verify(step):
        again, why = check(step, system)
        if not again:
            raise StepFailed(f"verification failed after acting: {why}")
    return StepReport(i, desc, "changed", detail)


def _roll_back(report: Report, journal: Journal, system: System, since: int, error: str) -> Report:
    report.error = error
    report.rollback_errors = rollback(journal, system, since)
    report.rolled_back = True
    return report


def apply(plan: Plan, system: System, *, dry_run: bool = False, journal: Journal | None = None,
          connectivity: Connectivity | None = None, confirm: ConfirmWait | None = None) -> Report:
    report = Report(plan.title, dry_run)
    journal = journal if journal is not None else Journal()
    journal.title = plan.title
    start = len(journal.ops)      # earlier runs' ops stay for a later manual rollback
    changed_any = False
    for i, step in enumerate(plan.steps, 1):
        try:
            done = _step(i, step, system, journal, dry_run=dry_run, changed_before=changed_any)
        except Exception as exc:  # noqa: BLE001 - any failure means: undo this run
            desc = step.describe()
            report.steps.append(StepReport(i, desc, "failed", str(exc)))
            if dry_run:
                report.error = f"step {i} ({desc}) failed: {exc}"
                return report
            return _roll_back(report, journal, system, start, f"step {i} ({desc}) failed: {exc}")
        report.steps.append(done)
        changed_any = changed_any or done.status in ("changed", "would-change")
    if dry_run or not changed_any:
        return report
    if plan.network and connectivity is not None:
        ok, why = connectivity(system)
        if not ok:
            return _roll_back(report, journal, system, start,
                              f"connectivity check failed after applying: {why}")
    if confirm is not None:
        report.confirmed = confirm.wait()
        if not report.confirmed:
            _roll_back(report, journal, system, start, f"not confirmed within {confirm.timeout:g}s")
    return report
