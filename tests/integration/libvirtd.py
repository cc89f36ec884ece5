"""A real libvirtd for tests, running inside a test-made network namespace (libvirt recipe §5).

libvirtd creates each guest's tap device in its own namespace and enslaves it to the bridge
there, so guests only ever see the test's namespace; clients (libvirt-python, the agent) stay in
the host namespace and talk to it over the unix socket ``/run/libvirt/libvirt-sock``.

There can be only one system libvirtd per machine (fixed socket and state paths), so a lock file
serialises its users: :func:`system_libvirtd` holds ``LOCK`` for as long as the daemon runs,
waits (bounded) for another holder, and refuses to start when a daemon it did not start already
answers. Setup done here, as the recipe found necessary on Debian 12 without systemd:

* the ``libvirt-qemu`` account (the QEMU driver resolves it before reading qemu.conf);
* ``/etc/libvirt/qemu.conf``: run QEMU as root, no security driver, no cgroups or mount
  namespaces (``ip netns exec`` gives the daemon a fresh /sys), console logs to files (no
  virtlogd);
* a private ``libvirtd.conf`` (no auth on the local socket, logs in the test's directory).

Teardown destroys and undefines every domain whose name starts with the caller's prefix, stops
the daemon by its PID and releases the lock. :meth:`Daemon.restart` lets a test restart the
daemon under a running agent.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from tests.netns import Netns, have_root_netns, netns

LOCK = Path("/run/provisioner-tests/libvirtd.lock")
SOCKET = Path("/run/libvirt/libvirt-sock")
URI = "qemu:///system"
QEMU_CONF = """# written by the provisioner test suite (tests/integration/libvirtd.py)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""


class Unavailable(Exception):
    """libvirtd cannot run here (not root, not installed, or busy); tests skip with this."""


def _quiet(_ctx, _err) -> None:
    pass


def ensure_account() -> None:
    if subprocess.run(["getent", "group", "libvirt-qemu"], capture_output=True).returncode:
        subprocess.run(["groupadd", "--system", "libvirt-qemu"], check=True, timeout=30)
    if subprocess.run(["id", "libvirt-qemu"], capture_output=True).returncode:
        subprocess.run(["useradd", "--system", "-g", "libvirt-qemu", "-d", "/var/lib/libvirt",
                        "-s", "/usr/sbin/nologin", "libvirt-qemu"], check=True, timeout=30)


def ensure_qemu_conf() -> None:
    path = Path("/etc/libvirt/qemu.conf")
    if path.exists() and path.read_text() == QEMU_CONF:
        return
    if path.exists() and "provisioner test suite" not in path.read_text():
        backup = path.with_suffix(".conf.before-provisioner-tests")
        if not backup.exists():
            shutil.copy2(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(QEMU_CONF)


def answering() -> bool:
    """True when some libvirtd answers on the system socket."""
    if not SOCKET.exists():
        return False
    libvirt.registerErrorHandler(_quiet, None)
    try:
        libvirt.open(URI).close()
        return True
    except libvirt.libvirtError:
        return False


@contextlib.contextmanager
def _lock(wait: float) -> Iterator[None]:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Unavailable(f"another test run holds {LOCK}") from None
                time.sleep(1)
        yield
    finally:
        os.close(fd)  # releases the lock


class Daemon:
    """One libvirtd process in ``ns`` (the caller holds the lock); can be restarted."""

    def __init__(self, ns: Netns, workdir: Path, ready_timeout: float = 120) -> None:
        self.ns, self.workdir, self.ready_timeout = ns, workdir, ready_timeout
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "libvirtd.conf"
        self.conf.write_text('auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                             'unix_sock_rw_perms = "0700"\n'
                             f'log_outputs = "3:file:{workdir}/libvirtd.log"\n')

    def start(self) -> None:
        self.proc = self.ns.popen(["/usr/sbin/libvirtd", "-f", str(self.conf)],
                                  stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout
        while not answering():
            if self.proc.poll() is not None:
                raise Unavailable(f"libvirtd exited with {self.proc.returncode}; see "
                                  f"{self.workdir}/libvirtd.log")
            if time.monotonic() > deadline:
                raise Unavailable("libvirtd did not answer in time")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM (guests keep running: libvirtd does not kill them), then wait."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def system_libvirtd(ns: Netns, workdir: Path, prefix: str, *, wait: float = 900,
                    ready_timeout: float = 120) -> Iterator[Daemon]:
    """Run libvirtd in ``ns`` (holding the lock); yield it; clean up ``prefix``* guests."""
    if os.geteuid() != 0 or not Path("/usr/sbin/libvirtd").exists():
        raise Unavailable("needs root and libvirt-daemon (+ libvirt-daemon-driver-qemu)")
    with _lock(wait):
        if answering():
            raise Unavailable("a libvirtd this suite did not start is already running")
        ensure_account()
        ensure_qemu_conf()
        daemon = Daemon(ns, workdir, ready_timeout)
        try:
            daemon.start()
            yield daemon
        finally:
            if daemon.proc is not None and daemon.proc.poll() is None:
                with contextlib.suppress(libvirt.libvirtError):
                    cleanup_domains(prefix)
            daemon.stop()


def cleanup_domains(prefix: str) -> list[str]:
    """Destroy and undefine every domain named ``prefix``*; returns their names."""
    conn = libvirt.open(URI)
    gone = []
    try:
        for dom in conn.listAllDomains(0):
            if not dom.name().startswith(prefix):
                continue
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()
            gone.append(dom.name())
    finally:
        conn.close()
    return gone


PREFIX = "pt-"  # every guest the libvirtd tests define is named pt-*


@dataclass
class Lab:
    ns: Netns
    daemon: Daemon
    workdir: Path
    uri: str = URI
    bridge: str = "br0"
    server_ip: str = "10.79.0.1"


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """A namespace with bridge br0 (10.79.0.1/24) and a real libvirtd inside it, for one test
    module (so the daemon and the lock are released before other modules run)."""
    if not have_root_netns():
        pytest.skip("needs root and network namespaces")
    workdir = tmp_path_factory.mktemp("libvirt-lab")
    with netns("pvl") as ns:
        ns.add_bridge("br0", "10.79.0.1/24")
        running = system_libvirtd(ns, workdir / "libvirtd", PREFIX)
        try:
            daemon = running.__enter__()
        except Unavailable as exc:
            pytest.skip(str(exc))
        try:
            yield Lab(ns, daemon, workdir)
        finally:
            running.__exit__(None, None, None)
