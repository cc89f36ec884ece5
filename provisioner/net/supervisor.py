"""``provisioner serve``'s network services: worker processes, supervised from the HTTP process.

The HTTP server (waitress, ``main.py``) never runs a packet path. For every enabled role in
``net/roles.py`` (DHCP: 1 process, DNS: 1, TFTP: ``tftp_workers``, 0 = one per core) the
:class:`Supervisor` starts ``python -m provisioner.net.worker ROLE INDEX`` and

* waits until every worker reports ``ready`` (sockets bound) or fails: :meth:`Supervisor.start`
  then stops the others and raises, so ``serve`` never runs half its services;
* restarts a worker that dies (killed, crashed) after a back-off of :data:`RESTART_MIN` seconds,
  doubling to :data:`RESTART_MAX` while it keeps dying young, and logs each death (exit code or
  signal) and restart;
* receives the workers' timeline events on one Unix datagram link (``net/eventlink.py``) and hands
  them to the HTTP process's batched writer (``core.events.BatchRecorder``, group commit), so
  no packet path waits for the database;
* stops them all on :meth:`close` (SIGTERM, then SIGKILL for any still alive after
  ``timeout``; ``serve`` uses :data:`STOP_TIMEOUT` so SIGTERM/SIGINT ends everything in < 5 s).

Nothing listens unless ``settings.interfaces`` lists interfaces (as before). Workers are in the
same process group as ``serve`` and die with it (``PR_SET_PDEATHSIG``, ``net/worker.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.errors import ProvisionerError
from provisioner.metrics import WORKER_RESTARTS, worker_env
from provisioner.models import Event
from provisioner.net.eventlink import LinkReceiver, link_pair
from provisioner.net.roles import ROLES, Role
from provisioner.settings import Settings

log = logging.getLogger("provisioner.net")

START_TIMEOUT = 60.0
STOP_TIMEOUT = 3.5
RESTART_MIN = 0.2
RESTART_MAX = 10.0
STABLE = 30.0  # a worker that ran this long restarts after RESTART_MIN again


class WorkerStartError(ProvisionerError):
    """A network worker could not start (its log line says why)."""


@dataclass
class Worker:
    """One supervised worker slot: a role and index, and the process currently filling it."""

    role: str
    index: int
    proc: subprocess.Popen | None = None
    pid: int = 0
    started: float = 0.0
    restarts: int = 0
    ready: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class Supervisor:
    """See the module docstring. ``record`` receives the workers' timeline events."""

    def __init__(self, settings: Settings, record: Callable[[Event], None], *,
                 python: str = sys.executable, log_level: int | None = None) -> None:
        self.settings = settings
        self.record = record
        self.python = python
        self.log_level = log_level if log_level is not None else logging.getLogger().level
        self.workers: list[Worker] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._rx: Any = None
        self._tx: Any = None
        self._receiver: LinkReceiver | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def roles(self) -> list[Role]:
        return [r for r in ROLES.values() if r.enabled(self.settings)]

    def start(self, timeout: float = START_TIMEOUT) -> Supervisor:
        roles = self.roles()
        if not roles:
            return self
        if not self.settings.interfaces:
            log.warning("%s enabled but no interfaces listed in settings: not serving them",
                        "/".join(r.name.upper() for r in roles))
            return self
        from provisioner.net.ifaces import served_addresses

        addrs = served_addresses(self.settings.interfaces,  # Invalid: a bad interface name
                                 require_ipv4=self.settings.dhcp_enabled)
        for role in roles:
            role.preflight(self.settings, addrs)
        self._rx, self._tx = link_pair()
        self._receiver = LinkReceiver(self._rx, self.record, self._on_control)
        try:
            for role in roles:
                for i in range(role.count(self.settings)):
                    w = Worker(role.name, i)
                    self.workers.append(w)
                    self._spawn(w)
            self._wait_ready(timeout)
        except BaseException:
            self.close()
            raise
        for w in self.workers:
            w.thread = threading.Thread(target=self._watch, args=(w,), name=f"watch-{w.name}",
                                        daemon=True)
            w.thread.start()
        log.info("network workers: %s", ", ".join(f"{w.name} (pid {w.pid})" for w in self.workers))
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for w in self.workers:
            while not w.ready.wait(0.05):
                assert w.proc is not None
                code = w.proc.poll()
                if code is not None:
                    raise WorkerStartError(f"network worker {w.name} could not start "
                                           f"({describe_exit(code)}; its log says why)")
                if time.monotonic() > deadline:
                    raise WorkerStartError(f"network worker {w.name} not ready after "
                                           f"{timeout:.0f} s")

    def _spawn(self, w: Worker) -> None:
        spec = {"settings": _settings_dict(self.settings), "link_fd": self._tx.fileno(),
                "parent": os.getpid(), "log_level": self.log_level or logging.INFO}
        w.ready.clear()
        proc = subprocess.Popen([self.python, "-m", "provisioner.net.worker", w.role,
                                 str(w.index)], stdin=subprocess.PIPE,
                                pass_fds=(self._tx.fileno(),),
                                env=worker_env(self.settings.data_dir))
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(spec).encode())
            proc.stdin.close()
        except OSError:  # it died at once; the watcher sees the exit
            pass
        w.proc, w.pid, w.started = proc, proc.pid, time.monotonic()

    def _on_control(self, msg: dict[str, Any]) -> None:
        if msg.get("t") != "ready":
            log.warning("network worker sent an unknown message: %.200r", msg)
            return
        for w in self.workers:
            if (w.role, w.index, w.pid) == (msg.get("role"), msg.get("index"), msg.get("pid")):
                w.ready.set()
                if w.restarts:
                    log.info("network worker %s is back (pid %d, restart %d)", w.name, w.pid,
                             w.restarts)
                return

    def _watch(self, w: Worker) -> None:
        """Restart ``w`` whenever its process ends, until :meth:`close`."""
        backoff = RESTART_MIN
        while not self._stopping.is_set():
            assert w.proc is not None
            code = w.proc.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - w.started
            if ran >= STABLE:
                backoff = RESTART_MIN
            delay, backoff = backoff, min(backoff * 2, RESTART_MAX)
            log.error("network worker %s (pid %d) %s after %.1f s; restarting in %.1f s",
                      w.name, w.pid, describe_exit(code), ran, delay)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                w.restarts += 1
                WORKER_RESTARTS.labels(w.name).inc()
                try:
                    self._spawn(w)
                except OSError as exc:
                    log.error("cannot restart network worker %s: %s", w.name, exc)
                    w.started = time.monotonic()

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every worker, SIGKILL what is left after ``timeout``, stop the link."""
        with self._lock:
            self._stopping.set()
        procs = [w.proc for w in self.workers if w.proc is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("network worker pid %d did not stop in %.1f s: killing it", p.pid,
                          timeout)
                p.kill()
                p.wait()
        for w in self.workers:
            if w.thread is not None:
                w.thread.join(1.0)
        if self._receiver is not None:
            self._receiver.close(self._tx)
            self._receiver = None
        for s in (self._rx, self._tx):
            if s is not None:
                s.close()
        self._rx = self._tx = None

    # -- status -------------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        return [{"name": w.name, "pid": w.pid, "restarts": w.restarts,
                 "alive": w.proc is not None and w.proc.poll() is None} for w in self.workers]


def _settings_dict(settings: Settings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def start_network_services(settings: Settings, record: Callable[[Event], None]) -> Supervisor:
    """Start the workers ``settings`` enable; raises (and leaves nothing running) on failure."""
    return Supervisor(settings, record).start()
