"""``provisioner serve`` runs the agent's own work loop for every agentless host: one
``provisioner-agent run --remote --connect URI`` child per host, on this machine, talking to this
appliance's agent API with the host's token (kept encrypted; handed over in a 0600 file under the
runtime directory). So orders reach agentless hosts through the same scheduler, work queue,
guest model and agent code as agent hosts; only the connection differs.

:class:`AgentLoops` keeps the children in step with the store every ``interval`` seconds: a host
added (CLI, API, UI) gets its loop, a removed host's loop stops, a loop that dies restarts after
a back-off (doubling to :data:`RESTART_MAX`). The same thread runs the hosts' certificate
rotation (``remote/rotation.py``) at start and every :data:`ROTATE_EVERY` seconds. Children die
with the appliance (``PR_SET_PDEATHSIG``) and are stopped by PID on :meth:`close`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.errors import ProvisionerError

log = logging.getLogger("provisioner.remote")
RESTART_MIN, RESTART_MAX = 1.0, 60.0
ROTATE_EVERY = 6 * 3600.0
PR_SET_PDEATHSIG = 1
AGENT = [sys.executable, "-m", "agent.cli"]


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    proc: subprocess.Popen[bytes]
    uri: str
    started: float
    backoff: float = RESTART_MIN
    due: float = 0.0  # when a dead loop may start again


class AgentLoops:
    def __init__(self, remote: Any, appliance_url: str, state_dir: str | Path,
                 runtime_dir: str | Path, *, interval: float = 2.0,
                 agent: list[str] | None = None, virt_type: str = "",
                 clock: Callable[[], float] = time.monotonic,
                 rotate: Callable[[], Any] | None = None,
                 rotate_every: float = ROTATE_EVERY) -> None:
        self.remote, self.url = remote, appliance_url
        self.rotate, self.rotate_every, self._rotate_due = rotate, rotate_every, 0.0
        self.state_dir, self.runtime_dir = Path(state_dir), Path(runtime_dir) / "loops"
        self.interval, self.agent, self.clock = interval, agent or AGENT, clock
        self.virt_type = virt_type
        self.children: dict[str, Child] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _argv(self, name: str) -> tuple[list[str], str]:
        uri, token, virt_type = self.remote.loop_spec(name)
        self.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tok = self.runtime_dir / f"{name}.token"
        fd = os.open(tok, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        argv = [*self.agent, "run", "--remote", "--connect", uri, "--appliance", self.url,
                "--host", name, "--token-file", str(tok),
                "--state-dir", str(self.state_dir / name), "--poll-timeout", "10"]
        if self.virt_type or virt_type:
            argv += ["--virt-type", self.virt_type or virt_type]
        return argv, uri

    def _spawn(self, name: str) -> Child:
        argv, uri = self._argv(name)
        log.info("agent loop for %s: starting", name)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509 - prctl only
        return Child(proc, uri, self.clock())

    def reconcile(self) -> None:
        with self._lock:
            want = {h.name for h in self.remote.agentless()}
            for name in sorted(set(self.children) - want):
                self._stop_child(name)
            now = self.clock()
            for name in sorted(want):
                c = self.children.get(name)
                if c is not None and c.proc.poll() is None:
                    continue
                if c is not None and not c.due:
                    young = now - c.started < 30
                    c.backoff = min(RESTART_MAX, c.backoff * 2) if young else RESTART_MIN
                    c.due = now + c.backoff
                    log.warning("agent loop for %s exited (%s); restart in %.0f s", name,
                                c.proc.returncode, c.backoff)
                if c is not None and now < c.due:
                    continue
                try:
                    new = self._spawn(name)
                except (ProvisionerError, OSError) as exc:
                    log.error("agent loop for %s cannot start: %s", name, exc)
                    continue
                if c is not None:
                    new.backoff = c.backoff
                self.children[name] = new

    def _stop_child(self, name: str) -> None:
        c = self.children.pop(name)
        if c.proc.poll() is None:
            c.proc.terminate()
            try:
                c.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            (self.runtime_dir / f"{name}.token").unlink()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - keep supervising; log and try again
                log.exception("agent loops: reconcile failed")
            self._rotation()
            self._stop.wait(self.interval)

    def _rotation(self) -> None:
        if self.rotate is None or self.clock() < self._rotate_due:
            return
        self._rotate_due = self.clock() + self.rotate_every
        try:
            self.rotate()
        except Exception:  # noqa: BLE001 - a host's trouble is in its timeline; keep going
            log.exception("certificate rotation failed")

    def start(self) -> AgentLoops:
        self._thread = threading.Thread(target=self._run, name="agent-loops", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            for name in list(self.children):
                self._stop_child(name)
