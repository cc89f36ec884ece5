"""The System the applier changes: files under a root directory, commands, live network.

``RealSystem(root, runner, net)`` edits files below ``root`` (a copy of a fixture tree in
tests, ``/`` only when the CLI is told so explicitly), runs commands through ``runner`` and
changes links through ``net``. ``FakeSystem`` keeps files in a dict.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agent.apply.netlink import NetOps
from agent.run import FakeRunner, Result, Runner


class System(Protocol):
    net: NetOps | None

    def read(self, path: str) -> str | None: ...
    def write(self, path: str, text: str, mode: int | None = None) -> None: ...
    def remove(self, path: str) -> None: ...
    def exists(self, path: str) -> bool: ...
    def mode(self, path: str) -> int | None: ...
    def run(self, argv: Sequence[str], timeout: float = 120) -> Result: ...


class UnsafePath(ValueError):
    """A path that would leave the root (``..``, symlinks out of the tree)."""


@dataclass
class RealSystem:
    root: Path
    runner: Runner
    net: NetOps | None = None

    def _p(self, path: str) -> Path:
        if not path.startswith("/"):
            raise UnsafePath(f"not absolute: {path!r}")
        root = Path(self.root).resolve()
        full = (root / path.lstrip("/")).resolve()
        if full != root and root not in full.parents:
            raise UnsafePath(f"{path!r} leaves the root {root}")
        return full

    def read(self, path: str) -> str | None:
        try:
            return self._p(path).read_text()
        except FileNotFoundError:
            return None

    def write(self, path: str, text: str, mode: int | None = None) -> None:
        """Atomic replace (temp file + rename), keeping the existing file's mode."""
        full = self._p(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        old_mode = full.stat().st_mode & 0o7777 if full.exists() else None
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=f".{full.name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chmod(tmp, old_mode if old_mode is not None else (mode or 0o644))
            os.replace(tmp, full)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, path: str) -> None:
        self._p(path).unlink(missing_ok=True)

    def exists(self, path: str) -> bool:
        return self._p(path).exists()

    def mode(self, path: str) -> int | None:
        full = self._p(path)
        return full.stat().st_mode & 0o7777 if full.exists() else None

    def run(self, argv: Sequence[str], timeout: float = 120) -> Result:
        return self.runner(argv, timeout=timeout)

    def close(self) -> None:
        close = getattr(self.net, "close", None)
        if close:
            close()


@dataclass
class FakeSystem:
    files: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    runner: FakeRunner = field(default_factory=FakeRunner)
    net: NetOps | None = None
    fail_writes: set[str] = field(default_factory=set)   # paths whose write raises

    def read(self, path):
        return self.files.get(path)

    def write(self, path, text, mode=None):
        if path in self.fail_writes:
            raise OSError(f"injected write failure: {path}")
        if path not in self.files:
            self.modes[path] = mode or 0o644
        self.files[path] = text

    def remove(self, path):
        self.files.pop(path, None)
        self.modes.pop(path, None)

    def exists(self, path):
        return path in self.files

    def mode(self, path):
        return self.modes.get(path) if path in self.files else None

    def run(self, argv, timeout=120):
        return self.runner(argv, timeout=timeout)
