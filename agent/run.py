"""Runner: the one way the agent runs commands (argv in, Result out).

``SubprocessRunner`` runs real commands, optionally inside a network namespace
(``ip netns exec <ns> ...``); ``FakeRunner`` answers from a table, for probes over
fixture hosts and for unit tests of the applier.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Result:
    """Outcome of one command."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner(Protocol):
    def __call__(self, argv: Sequence[str], *, timeout: float = 60,
                 input: str | None = None) -> Result: ...


@dataclass
class SubprocessRunner:
    """Runs argv with a timeout; inside ``netns`` when given. A missing program is rc 127."""

    netns: str | None = None

    def __call__(self, argv: Sequence[str], *, timeout: float = 60,
                 input: str | None = None) -> Result:
        full = list(argv)
        if self.netns:
            full = ["ip", "netns", "exec", self.netns, *full]
        try:
            cp = subprocess.run(full, capture_output=True, text=True, timeout=timeout,
                                input=input, check=False)
        except FileNotFoundError as exc:
            return Result(tuple(argv), 127, "", str(exc))
        except subprocess.TimeoutExpired:
            return Result(tuple(argv), 124, "", f"timed out after {timeout}s")
        return Result(tuple(argv), cp.returncode, cp.stdout, cp.stderr)


Answer = Result | str | Callable[[Sequence[str]], Result]


@dataclass
class FakeRunner:
    """Answers commands from ``table`` (argv joined by spaces -> stdout text or Result).

    Unknown commands return rc 127 ("not found"), like a host without that program.
    Every call is recorded in ``calls``.
    """

    table: Mapping[str, Answer] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], *, timeout: float = 60,
                 input: str | None = None) -> Result:
        self.calls.append(tuple(argv))
        key = " ".join(argv)
        ans = self.table.get(key)
        if ans is None:
            return Result(tuple(argv), 127, "", f"{argv[0]}: command not found")
        if isinstance(ans, Result):
            return ans
        if isinstance(ans, str):
            return Result(tuple(argv), 0, ans, "")
        return ans(argv)
