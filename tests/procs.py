"""Test-only helpers for the processes tests start: poll with a deadline, stop by PID.

Every process here was started by the test itself with ``start_new_session=True`` (or through
``Netns.popen``, which does the same), so its PID is also its process group's ID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(pred: Callable[[], T], timeout: float, step: float = 0.1) -> T | None:
    """``pred()``'s first true value within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return None


def wait_until(pred: Callable[[], T], timeout: float, what: str, step: float = 0.1) -> T:
    """``pred()``'s first true value within ``timeout`` seconds, else AssertionError."""
    value = poll(pred, timeout, step)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return value


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of ``proc`` and reap it (a group already gone is fine)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def stop(proc: subprocess.Popen | None, grace: float = 20, group: bool = True) -> None:
    """SIGTERM ``proc`` (its whole group, or the process alone if ``group`` is False so it can
    clean up its children itself) if still running; after ``grace`` seconds, SIGKILL the group."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill(proc)


def _running(pid: int) -> bool:
    """``pid`` exists and is not a zombie (a daemon's zombie waits for its reaper, not for us)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def stop_pid(pid: int, grace: float = 10) -> None:
    """SIGTERM a process a test's command daemonized (known by its pid file, not our child, so
    not waitable) and wait until it is gone; SIGKILL after ``grace`` seconds, then wait again.
    Whatever it held (a port, a lease file) is free when this returns."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if poll(lambda: not _running(pid), wait, step=0.05):
            return
    raise AssertionError(f"process {pid} still runs after SIGKILL")
