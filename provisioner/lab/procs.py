"""The processes a lab starts: run a command, spawn one in the lab namespace with its log,
wait for a condition, stop by PID (TERM, then KILL). Bounded waits everywhere."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from provisioner.lab.state import LabError, LabState


def run(argv: Sequence[str], *, timeout: float = 60, check: bool = True,
         **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check, **kw)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", *args], timeout=30, check=check)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def stop(pids: Sequence[int], grace: float = 10.0) -> None:
    """SIGTERM each PID, wait up to ``grace`` seconds, then SIGKILL the survivors."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        for pid in pids:  # reap our own children so they do not stay zombies
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def spawn(state: LabState, role: str, argv: Sequence[str], *, netns: bool = True,
           env: dict[str, str] | None = None, pass_fds: Sequence[int] = ()) -> int:
    """Start a background process (in the lab namespace), log to ``<dir>/logs/<role>.log``."""
    logs = Path(state.dir) / "logs"
    logs.mkdir(exist_ok=True)
    cmd = (["ip", "netns", "exec", state.netns] if netns else []) + list(argv)
    # the lab's own settings file decides; the caller's PROVISIONER_* variables must not
    # override it (they would point the appliance at another data directory)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROVISIONER_")}
    with open(logs / f"{role}.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env={**base, **(env or {})},
                                pass_fds=tuple(pass_fds))
    state.pids[role] = proc.pid
    state.save()
    return proc.pid


def wait_for(what: str, check: Callable[[], bool], timeout: float,
              dead: Callable[[], str | None] = lambda: None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        why = dead()
        if why:
            raise LabError(f"{what}: {why}")
        time.sleep(0.25)
    raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")


def python_argv() -> list[str]:
    return [sys.executable]


def tail_logs(state: LabState, lines: int = 15) -> str:
    out = []
    for log in sorted((Path(state.dir) / "logs").glob("*.log")):
        with contextlib.suppress(OSError):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(out)


def dead(state: LabState) -> str | None:
    for role in ("appliance", "agent", "forwarder", "router-adverts"):
        pid = state.pids.get(role)
        if pid and not alive(pid):
            return f"the {role} (pid {pid}) exited; see {state.dir}/logs/{role}.log"
    return None
