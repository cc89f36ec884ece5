"""Execute a plan check-then-act, journal every change, roll back on any failure.

``apply(plan, system, dry_run=...)`` walks the steps in order. For each step it asks the
handler whether the system already matches (``check``); if not, and not a dry run, it acts,
records undo operations in the ``Journal`` (saved after every step when it has a path, so
``provisioner-agent rollback`` works even after a crash) and checks again (verification).
Any failure rolls back everything this run did, so nothing is left half-applied.

Network plans get a connectivity check after the last step (and an optional wait for
``confirm``, like ``netplan try``); a failed check or a missing confirmation rolls back.
"""

from __future__ import annotations

import difflib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.apply.system import System
from agent.plan.steps import (
    AddAddress,
    Assert,
    Command,
    EnslaveLink,
    EnsureLink,
    FileStep,
    Manual,
    MoveAddress,
    MoveRoute,
    Plan,
    SetMtu,
    Step,
)


class StepFailed(RuntimeError):
    pass


# ------------------------------------------------------------------ journal

@dataclass
class Journal:
    """Undo operations in the order they were recorded; persisted as JSON when ``path`` is set.

    Ops: ``{"op": "file", "path", "old", "mode"}``, ``{"op": "net", "call", "kw", "phase"}``,
    ``{"op": "cmd", "argv"}``. Phase-1 ops (putting routes back) run after all others.
    """

    path: Path | None = None
    ops: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""

    def record(self, ops: list[dict[str, Any]]) -> None:
        self.ops.extend(ops)
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"title": self.title, "ops": self.ops}, indent=1))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path) -> Journal:
        data = json.loads(Path(path).read_text())
        return cls(Path(path), list(data.get("ops", [])), data.get("title", ""))

    def clear(self) -> None:
        self.ops.clear()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def rollback(journal: Journal, system: System, since: int = 0) -> list[str]:
    """Undo the ops recorded from index ``since`` on (reverse order; phase-1 route restores
    last) and drop them from the journal. Returns errors; keeps going past errors so as much
    as possible is restored."""
    errors = []
    ops = list(reversed(journal.ops[since:]))
    ordered = [o for o in ops if o.get("phase", 0) == 0] + \
              [o for o in reversed(ops) if o.get("phase", 0) == 1]
    for op in ordered:
        try:
            _undo(op, system)
        except (FileExistsError, LookupError):
            pass   # already in the wanted state (e.g. routes dropped with their link)
        except Exception as exc:  # noqa: BLE001 - keep restoring the rest
            if _already(exc):
                continue
            errors.append(f"undo {op.get('op')} {op.get('call', op.get('path', ''))}: {exc}")
    if since:
        del journal.ops[since:]
        journal.save()
    else:
        journal.clear()
    return errors


def _already(exc: Exception) -> bool:
    code = getattr(exc, "code", None)
    return code in (17, 19, 3, 99)   # EEXIST, ENODEV, ESRCH, EADDRNOTAVAIL


def _undo(op: dict[str, Any], system: System) -> None:
    kind = op["op"]
    if kind == "file":
        if op["old"] is None:
            system.remove(op["path"])
        else:
            system.write(op["path"], op["old"], op.get("mode"))
    elif kind == "net":
        kw = dict(op["kw"])
        getattr(_net(system), op["call"])(**kw)
    elif kind == "cmd":
        res = system.run(op["argv"])
        if not res.ok:
            raise StepFailed(f"{' '.join(op['argv'])}: rc {res.returncode} {res.stderr.strip()}")
    else:
        raise ValueError(f"unknown undo op {kind!r}")


# ------------------------------------------------------------------ handlers

def _net(system: System):
    if system.net is None:
        raise StepFailed("this plan changes live networking but no network target was given "
                         "(--netns NAME, or --live-host on a real host)")
    return system.net


def _diff(path: str, old: str | None, new: str | None) -> str:
    return "".join(difflib.unified_diff((old or "").splitlines(keepends=True),
                                        (new or "").splitlines(keepends=True),
                                        fromfile=f"a{path}", tofile=f"b{path}"))


def _check(step: Step, system: System) -> tuple[bool, str]:
    """(converged, detail) for one step; never changes anything.

    A link that does not exist yet (an earlier step creates it; seen in dry runs) means
    "not converged", not an error.
    """
    try:
        return _check_step(step, system)
    except LookupError as exc:
        return False, f"{exc.args[0] if exc.args else exc} (yet)"


def _check_step(step: Step, system: System) -> tuple[bool, str]:
    if isinstance(step, FileStep):
        old = system.read(step.path)
        new = step.edit.apply(old)
        return new == old, _diff(step.path, old, new)
    if isinstance(step, EnsureLink):
        link = _net(system).links().get(step.name)
        if link is None:
            return False, f"{step.name} does not exist"
        if link.kind != step.kind:
            raise StepFailed(f"{step.name} exists but is a {link.kind or 'plain'} link, "
                             f"not a {step.kind}")
        want = {"up": True, "mtu": step.mtu, "stp": step.stp,
                "forward_delay": step.forward_delay, "mac": step.mac}
        diff = [f"{k}: {getattr(link, k)} -> {v}" for k, v in want.items()
                if v is not None and getattr(link, k) != v]
        return not diff, "; ".join(diff)
    if isinstance(step, EnslaveLink):
        link = _net(system).links().get(step.name)
        if link is None:
            raise LookupError(f"no such link: {step.name}")
        return link.master == step.master and link.up, f"master {link.master} -> {step.master}"
    if isinstance(step, SetMtu):
        link = _net(system).links().get(step.name)
        if link is None:
            raise LookupError(f"no such link: {step.name}")
        return link.mtu == step.mtu, f"mtu {link.mtu} -> {step.mtu}"
    if isinstance(step, MoveAddress):
        net = _net(system)
        on_dst = step.cidr in net.addrs(step.dst)
        on_src = step.src in net.links() and step.cidr in net.addrs(step.src)
        return on_dst and not on_src, f"on {step.src}: {on_src}, on {step.dst}: {on_dst}"
    if isinstance(step, AddAddress):
        return step.cidr in _net(system).addrs(step.dev), ""
    if isinstance(step, MoveRoute):
        routes = _net(system).routes()
        on_dst = any(r.dst == step.dst and r.dev == step.dev and r.gateway == step.gateway
                     for r in routes)
        on_src = any(r.dst == step.dst and r.dev == step.src and r.gateway == step.gateway
                     for r in routes)
        return on_dst and not on_src, f"on {step.src}: {on_src}, on {step.dev}: {on_dst}"
    if isinstance(step, Command):
        if step.check is None:
            return False, ""
        return system.run(step.check).ok, ""
    if isinstance(step, Manual):
        return True, ""
    raise TypeError(f"no handler for {type(step).__name__}")


def _act(step: Step, system: System, undo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make the change, appending to ``undo`` the ops that reverse exactly what was changed
    (as it goes, so a step failing halfway is still undone)."""
    if isinstance(step, FileStep):
        old = system.read(step.path)
        mode = system.mode(step.path)
        new = step.edit.apply(old)
        undo.append({"op": "file", "path": step.path, "old": old, "mode": mode})
        if new is None:
            system.remove(step.path)
        else:
            system.write(step.path, new, step.mode)
        return undo
    if isinstance(step, EnsureLink):
        net = _net(system)
        link = net.links().get(step.name)
        if link is None:
            net.add_link(step.name, step.kind)
            undo.append({"op": "net", "call": "del_link", "kw": {"name": step.name}})
        else:
            undo.append({"op": "net", "call": "set_link", "kw": {
                "name": step.name, "mtu": link.mtu, "up": link.up,
                "stp": link.stp if step.stp is not None else None,
                "forward_delay": link.forward_delay if step.forward_delay is not None else None,
                "mac": link.mac if step.mac is not None else None}})
        net.set_link(step.name, mtu=step.mtu, stp=step.stp, forward_delay=step.forward_delay,
                     mac=step.mac, up=True)
        return undo
    if isinstance(step, EnslaveLink):
        net = _net(system)
        link = net.links()[step.name]
        undo.append({"op": "net", "call": "set_link",
                     "kw": {"name": step.name, "master": link.master, "up": link.up}})
        net.set_link(step.name, master=step.master, up=True)
        return undo
    if isinstance(step, SetMtu):
        net = _net(system)
        link = net.links()[step.name]
        undo.append({"op": "net", "call": "set_link", "kw": {"name": step.name, "mtu": link.mtu}})
        net.set_link(step.name, mtu=step.mtu)
        return undo
    if isinstance(step, MoveAddress):
        net = _net(system)
        if step.cidr not in net.addrs(step.dst):
            net.add_addr(step.dst, step.cidr)
            undo.append({"op": "net", "call": "del_addr", "kw": {"name": step.dst,
                                                                  "cidr": step.cidr}})
        undo.append({"op": "net", "call": "add_addr", "kw": {"name": step.src,
                                                              "cidr": step.cidr}})
        if step.cidr in net.addrs(step.src):
            gw_routes = [r for r in net.routes() if r.dev == step.src and r.gateway]
            net.del_addr(step.src, step.cidr)
            left = net.routes()
            for r in gw_routes:   # the kernel drops routes through the address with it
                if r not in left:
                    undo.append({"op": "net", "call": "add_route", "phase": 1, "kw": {
                        "dst": r.dst, "dev": r.dev, "gateway": r.gateway, "metric": r.metric}})
        return undo
    if isinstance(step, AddAddress):
        _net(system).add_addr(step.dev, step.cidr)
        undo.append({"op": "net", "call": "del_addr", "kw": {"name": step.dev, "cidr": step.cidr}})
        return undo
    if isinstance(step, MoveRoute):
        net = _net(system)
        routes = net.routes()
        kw = {"dst": step.dst, "gateway": step.gateway, "metric": step.metric}
        # Putting the route back on the source is always part of the undo (the kernel may
        # already have dropped it with the source's address); it runs in the last phase.
        undo.append({"op": "net", "call": "add_route", "kw": {**kw, "dev": step.src},
                     "phase": 1})
        if not any(r.dst == step.dst and r.dev == step.dev and r.gateway == step.gateway
                   for r in routes):
            net.add_route(dev=step.dev, **kw)
            undo.append({"op": "net", "call": "del_route", "kw": {**kw, "dev": step.dev}})
        for r in routes:
            if r.dst == step.dst and r.dev == step.src and r.gateway == step.gateway:
                net.del_route(step.dst, step.src, r.gateway, r.metric)
        return undo
    if isinstance(step, Command):
        res = system.run(step.argv)
        if not res.ok:
            raise StepFailed(f"{' '.join(step.argv)} failed (rc {res.returncode}): "
                             f"{(res.stderr or res.stdout).strip()}")
        if step.undo:
            undo.append({"op": "cmd", "argv": list(step.undo)})
        return undo
    raise TypeError(f"no handler for {type(step).__name__}")


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


def apply(plan: Plan, system: System, *, dry_run: bool = False, journal: Journal | None = None,
          connectivity: Connectivity | None = None, confirm: ConfirmWait | None = None) -> Report:
    report = Report(plan.title, dry_run)
    journal = journal if journal is not None else Journal()
    journal.title = plan.title
    start = len(journal.ops)      # earlier runs' ops stay for a later manual rollback
    changed_any = False
    for i, step in enumerate(plan.steps, 1):
        desc = step.describe()
        try:
            if isinstance(step, Manual):
                report.steps.append(StepReport(i, desc, "manual"))
                continue
            if isinstance(step, Assert):
                res = system.run(step.argv)
                if not res.ok:
                    raise StepFailed(f"precondition failed: {step.message}")
                report.steps.append(StepReport(i, desc, "checked"))
                continue
            if isinstance(step, Command) and step.only_if_changed and not changed_any:
                report.steps.append(StepReport(i, desc, "skipped", "nothing changed before it"))
                continue
            converged, detail = _check(step, system)
            if converged:
                report.steps.append(StepReport(i, desc, "unchanged"))
                continue
            if dry_run:
                report.steps.append(StepReport(i, desc, "would-change", detail))
                changed_any = True
                continue
            undo: list[dict] = []
            try:
                _act(step, system, undo)
            finally:
                journal.record(undo)
            changed_any = True
            if not isinstance(step, Command) or step.check is not None:
                again, why = _check(step, system)
                if not again:
                    raise StepFailed(f"verification failed after acting: {why}")
            report.steps.append(StepReport(i, desc, "changed", detail))
        except Exception as exc:  # noqa: BLE001 - any failure means: undo this run
            report.steps.append(StepReport(i, desc, "failed", str(exc)))
            report.error = f"step {i} ({desc}) failed: {exc}"
            if not dry_run:
                report.rollback_errors = rollback(journal, system, start)
                report.rolled_back = True
            return report
    if dry_run or not changed_any:
        return report
    if plan.network and connectivity is not None:
        ok, why = connectivity(system)
        if not ok:
            report.error = f"connectivity check failed after applying: {why}"
            report.rollback_errors = rollback(journal, system, start)
            report.rolled_back = True
            return report
    if confirm is not None:
        report.confirmed = confirm.wait()
        if not report.confirmed:
            report.error = f"not confirmed within {confirm.timeout:g}s"
            report.rollback_errors = rollback(journal, system, start)
            report.rolled_back = True
    return report

