"""The undo journal of an apply run, and rollback.

Every change the applier makes records the ops that reverse it (see
:mod:`agent.apply.handlers`); the journal is saved after every step when it has a path, so
``provisioner-agent rollback`` works even after a crash. :func:`rollback` replays the ops in
reverse through :data:`UNDO`, one function per op kind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.apply.handlers import StepFailed, UndoOp, net
from agent.apply.system import System


@dataclass
class Journal:
    """Undo operations in the order they were recorded; persisted as JSON when ``path`` is set.

    Ops: ``{"op": "file", "path", "old", "mode"}``, ``{"op": "net", "call", "kw", "phase"}``,
    ``{"op": "cmd", "argv"}``. Phase-1 ops (putting routes back) run after all others.
    """

    path: Path | None = None
    ops: list[UndoOp] = field(default_factory=list)
    title: str = ""

    def record(self, ops: list[UndoOp]) -> None:
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


def _undo_file(op: UndoOp, system: System) -> None:
    if op["old"] is None:
        system.remove(op["path"])
    else:
        system.write(op["path"], op["old"], op.get("mode"))


def _undo_net(op: UndoOp, system: System) -> None:
    kw: dict[str, Any] = dict(op["kw"])
    getattr(net(system), op["call"])(**kw)


def _undo_cmd(op: UndoOp, system: System) -> None:
    res = system.run(op["argv"])
    if not res.ok:
        raise StepFailed(f"{' '.join(op['argv'])}: rc {res.returncode} {res.stderr.strip()}")


UNDO: dict[str, Callable[[UndoOp, System], None]] = {
    "file": _undo_file, "net": _undo_net, "cmd": _undo_cmd}


def _undo(op: UndoOp, system: System) -> None:
    undo = UNDO.get(op["op"])
    if undo is None:
        raise ValueError(f"unknown undo op {op['op']!r}")
    undo(op, system)
