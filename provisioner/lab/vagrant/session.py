"""``provisioner lab vagrant up|down|run|status``: the Vagrant lab in its contained libvirtd.

``up MACHINES`` (default ``appliance pxe1``) makes the contained environment
(:mod:`provisioner.lab.vagrant.contained`), builds and adds the boxes the machines need
(:mod:`provisioner.lab.vagrant.boxbuild`, cached), then runs the project's ``Vagrantfile`` with
``vagrant up`` inside the namespace, printing its output with the elapsed time and a line
every 30 s of silence, and timing each phase (:mod:`provisioner.lab.vagrant.progress`). The
Vagrantfile's own triggers wait for the PXE clients' installs. On a failure the step is
named, the logs (vagrant's output, consoles, libvirtd's log, the appliance's journal) are copied
to ``<dir>/logs`` and kept, and everything else is removed (``vagrant destroy -f``, then the
environment), unless ``PROVISIONER_LAB_KEEP_FAILED=1``.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.lab import procs
from provisioner.lab.state import DEFAULT_CACHE
from provisioner.lab.vagrant import boxbuild, contained, progress


class LabError(Exception):
    """The Vagrant lab failed; the message names the step, the cause and where the logs are."""


@dataclass
class Options:
    dir: Path = contained.DEFAULT_DIR
    cache: Path = DEFAULT_CACHE
    distro: str = "debian-12"
    vagrant_home: Path | None = None
    dotfile: Path | None = None
    timeout: float = 3600
    extra_env: dict[str, str] = field(default_factory=dict)


def project_dir() -> Path:
    root = boxbuild.checkout_root()
    if not (root / "Vagrantfile").is_file():
        raise LabError(f"no Vagrantfile in {root}")
    return root


def vagrant_env(opts: Options) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISIONER_")}
    env.update(VAGRANT_DEFAULT_PROVIDER="libvirt", VAGRANT_CHECKPOINT_DISABLE="1",
               LIBVIRT_DEFAULT_URI=contained.URI, LAB_DISTRO=opts.distro)
    if opts.vagrant_home:
        env["VAGRANT_HOME"] = str(opts.vagrant_home)
    if opts.dotfile:
        env["VAGRANT_DOTFILE_PATH"] = str(opts.dotfile)
    env.update(opts.extra_env)
    return env


def dot_dir(opts: Options) -> Path:
    return opts.dotfile or project_dir() / ".vagrant"


def check_plugin(env: dict[str, str]) -> None:
    """``vagrant validate`` of the project's Vagrantfile before anything is made: it fails with
    the Vagrantfile's own message when vagrant-libvirt is not loaded, or on a bad setting."""
    if shutil.which("vagrant") is None:
        raise LabError("vagrant is not installed: apt-get install vagrant vagrant-libvirt")
    res = subprocess.run(["vagrant", "validate"], cwd=project_dir(), env=env,
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        out = " ".join(progress.clean(res.stdout + res.stderr))
        raise LabError(f"vagrant validate failed: {out[-1500:]}")


def _roles(machines: Sequence[str]) -> list[str]:
    roles = []
    if any(m == "appliance" for m in machines):
        roles.append("appliance")
    if any(m.startswith("host") for m in machines):
        roles.append("host")
    return roles


class Runner:
    """Runs commands in the environment, echoing lines with elapsed time and timing phases."""

    def __init__(self, env: contained.Env, venv: dict[str, str], log: Path,
                 say: Callable[[str], None], t0: float) -> None:
        self.env, self.venv, self.log, self.say, self.t0 = env, venv, log, say, t0
        self.phases = progress.Phases()

    def stamp(self, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:6.1f}s] {text}"
        self.say(line)
        with self.log.open("a") as fh:
            fh.write(line + "\n")

    def vagrant(self, args: Sequence[str], timeout: float, quiet_every: float = 30) -> int:
        cmd = contained.command(self.env, ["vagrant", *args], cwd=project_dir())
        proc = subprocess.Popen(cmd, env=self.venv, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
        deadline, last = time.monotonic() + timeout, time.monotonic()
        while True:
            try:
                chunk = lines.get(timeout=1)
            except queue.Empty:
                chunk = b""
            if chunk is None:
                break
            for line in progress.clean(chunk.decode(errors="replace")):
                found = progress.phase_of(line)
                if found:
                    self.phases.start(f"{found[0]}: {found[1]}", time.monotonic() - self.t0)
                self.stamp(line)
                last = time.monotonic()
            if time.monotonic() - last > quiet_every:
                self.stamp(f"... still working: {self.phases.current}")
                last = time.monotonic()
            if time.monotonic() > deadline:
                procs.stop([proc.pid])
                self.stamp(f"timed out after {timeout:.0f} s")
                return 124
        rc = proc.wait(timeout=60)
        self.phases.end(time.monotonic() - self.t0)
        return rc


def _pump(proc: subprocess.Popen[bytes], out: queue.Queue[bytes | None]) -> None:
    assert proc.stdout is not None
    for chunk in iter(lambda: proc.stdout.readline(), b""):  # type: ignore[union-attr]
        out.put(chunk)
    out.put(None)


@dataclass
class Lab:
    """A prepared lab: the environment, vagrant's environment variables and the runner."""

    opts: Options
    env: contained.Env
    venv: dict[str, str]
    runner: Runner
    phases: progress.Phases


def prepare(machines: Sequence[str], opts: Options, say: Callable[[str], None] = print) -> Lab:
    """Everything before ``vagrant up``: the checks, the environment, the boxes (cached)."""
    t0 = time.monotonic()
    venv = vagrant_env(opts)
    check_plugin(venv)
    phases = progress.Phases()
    phases.start("contained libvirtd", 0)
    env = contained.up(opts.dir, opts.cache, say)
    log = opts.dir / "logs" / "vagrant-up.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    lab = Lab(opts, env, venv, Runner(env, venv, log, say, t0), phases)
    try:
        for role in _roles(machines):
            phases.start(f"box build ({role})", time.monotonic() - t0)
            built = boxbuild.build(opts.distro, role, opts.cache, say)
            phases.start(f"vagrant box add ({role})", time.monotonic() - t0)
            boxbuild.add(built, venv, say)
        phases.end(time.monotonic() - t0)
    except BaseException as exc:
        _failed(lab.runner, opts, exc, say)
        raise
    return lab


def up(machines: Sequence[str], opts: Options, say: Callable[[str], None] = print
       ) -> progress.Phases:
    """Bring ``machines`` up (see the module docstring); returns the timed phases."""
    lab = prepare(machines, opts, say)
    vagrant_up(lab, machines)
    return lab.phases


def vagrant_up(lab: Lab, machines: Sequence[str]) -> None:
    """``vagrant up MACHINES`` in the prepared lab; on failure: logs kept, everything removed."""
    runner = lab.runner
    try:
        rc = runner.vagrant(["up", *machines], lab.opts.timeout)
        lab.phases.items += runner.phases.items
        if rc != 0:
            raise LabError(f"vagrant up {' '.join(machines)} failed (exit {rc}) during "
                           f"'{runner.phases.current}'")
    except BaseException as exc:
        _failed(runner, lab.opts, exc, runner.say)
        raise


def _failed(runner: Runner, opts: Options, exc: BaseException,
            say: Callable[[str], None]) -> None:
    keep = opts.dir / "logs" / time.strftime("failed-%Y%m%d-%H%M%S")
    keep.mkdir(parents=True, exist_ok=True)
    say(f"lab: failed ({exc}); keeping the logs in {keep}")
    consoles = dot_dir(opts) / "lab-logs"
    for f in [*consoles.glob("*.log"), opts.dir / "logs" / "libvirtd.log",
              opts.dir / "logs" / "vagrant-up.log"]:
        if f.is_file():
            shutil.copy2(f, keep / f.name)
    journal = subprocess.run(
        contained.command(runner.env, ["vagrant", "ssh", "appliance", "-c",
                                       "sudo journalctl -b --no-pager -n 400"],
                          cwd=project_dir()),
        env=runner.venv, capture_output=True, text=True, timeout=120)
    (keep / "appliance-journal.log").write_text(journal.stdout + journal.stderr)
    if os.environ.get("PROVISIONER_LAB_KEEP_FAILED") == "1":
        say("lab: PROVISIONER_LAB_KEEP_FAILED=1: the machines and the environment stay")
        return
    down(opts, say)


def down(opts: Options, say: Callable[[str], None] = print) -> bool:
    """``vagrant destroy -f`` in the environment, then remove the environment."""
    env = contained.Env.load(opts.dir)
    if env is None:
        return False
    if procs.alive(env.holder):
        res = subprocess.run(contained.command(env, ["vagrant", "destroy", "-f"],
                                               cwd=project_dir()),
                             env=vagrant_env(opts), capture_output=True, text=True, timeout=600)
        say("lab: vagrant destroy -f: " + ("done" if res.returncode == 0 else
                                           f"exit {res.returncode}: {res.stderr.strip()[-400:]}"))
    return contained.down(opts.dir, say, keep_logs=(opts.dir / "logs").is_dir()
                          and any((opts.dir / "logs").glob("failed-*")))


def run(args: Sequence[str], opts: Options) -> int:
    """``vagrant ARGS`` inside the environment, attached to this terminal."""
    env = contained.Env.load(opts.dir)
    if env is None or not procs.alive(env.holder):
        raise LabError(f"no Vagrant lab environment in {opts.dir}: "
                       "run `provisioner lab vagrant up` first")
    return subprocess.call(contained.command(env, ["vagrant", *args], cwd=project_dir()),
                           env=vagrant_env(opts))
