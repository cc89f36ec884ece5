"""A private libvirtd (or any daemon) per test "host": the holder pattern of
``vagrant-libvirt-recipe.md``, so several libvirt daemons can run on one machine at once.

A *holder* is one ``sleep`` process that owns a network namespace (made by ``tests.netns``) and
a private mount namespace in which:

* ``/sys`` is remounted (libvirt reads ``/sys/class/net``: it must list this namespace's links);
* ``/etc`` is an overlay on the machine's ``/etc`` whose upper layer lives in the test's
  directory, so ``/etc/libvirt``, ``/etc/pki`` and ``/etc/ssh`` can be written freely and the
  machine's own files never change;
* ``/var/lib/libvirt``, ``/var/cache/libvirt``, ``/var/log/libvirt`` are the test's directories
  (the QEMU capabilities cache is copied in when the machine has one: 0.4 s to ready, not 8 s);
* ``/run`` is a fresh tmpfs (libvirt's sockets and state, sshd's privilege-separation dir).

Commands enter both namespaces with ``nsenter -t PID -m -n``; from outside, a file inside is
``Holder.path("/run/libvirt/libvirt-sock")`` (``/proc/PID/root/...``), so the test process can
reach each daemon's unix socket without sharing ``/run/libvirt`` with anyone. Everything is
stopped by PID and the namespace deleted when the context exits.

:class:`PrivateLibvirtd` is one libvirtd in a holder: its own ``host_uuid`` (two daemons with
the same one refuse to migrate to each other), optional TCP/TLS listeners, ``kill()`` to lose it
mid-operation. :func:`sshd` runs an OpenSSH server in a holder with a test key (never the
machine's sshd or root's ``authorized_keys``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libvirt

from tests import procs
from tests.netns import Netns

QEMU_CONF = """# written by the provisioner test suite (tests/integration/holder.py)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""
CAPS_CACHE = Path("/var/cache/libvirt/qemu/capabilities")
_HOLDER_SH = r"""
set -e
W="$1"
[ -n "$2" ] && hostname "$2"
mount -t sysfs sysfs /sys
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$W/etc.up,workdir=$W/etc.work" /etc
for d in lib cache log; do mount --bind "$W/var-$d" "/var/$d/libvirt"; done
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/libvirt /run/sshd
touch "$W/ready"
exec sleep infinity
"""


def _quiet(_ctx: object, _err: object) -> None:
    pass


@dataclass
class Holder:
    ns: Netns
    workdir: Path
    proc: subprocess.Popen
    started: list[subprocess.Popen] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-m", "-n", "-u", "--", *argv]

    def run(self, argv: Sequence[str], timeout: float = 60, check: bool = True,
            **kw) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(argv), check=check, capture_output=True, text=True,
                              timeout=timeout, **kw)

    def popen(self, argv: Sequence[str], **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.STDOUT)
        proc = subprocess.Popen(self.argv(argv), start_new_session=True, **kw)
        self.started.append(proc)
        return proc

    def path(self, inside: str) -> Path:
        """A path inside the holder's mount namespace, seen from outside."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

    def write(self, inside: str, text: str, mode: int = 0o644) -> None:
        """Write a file in the holder's view (its /etc overlay, its /run...)."""
        self.run(["install", "-D", "-m", f"{mode:o}", "/dev/stdin", inside], input=text)


@contextlib.contextmanager
def holder(ns: Netns, workdir: Path, timeout: float = 20,
           hostname: str = "") -> Iterator[Holder]:
    """A holder process in ``ns`` (with its own host name when given: a UTS namespace too);
    stops everything started through it, then itself."""
    workdir.mkdir(parents=True, exist_ok=True)
    for d in ("etc.up", "etc.work", "var-lib/images", "var-cache", "var-log/qemu"):
        (workdir / d).mkdir(parents=True, exist_ok=True)
    if CAPS_CACHE.is_dir() and not (workdir / "var-cache/qemu").exists():
        shutil.copytree(CAPS_CACHE, workdir / "var-cache/qemu/capabilities")
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns.name}", "unshare", "-m", "-u",
                             "--propagation", "private", "sh", "-c", _HOLDER_SH, "holder",
                             str(workdir), hostname], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    h = Holder(ns, workdir, proc)
    try:
        if not procs.poll(lambda: (workdir / "ready").exists() or proc.poll() is not None,
                          timeout) or proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
            raise RuntimeError(f"holder did not start: {err.strip()}")
        yield h
    finally:
        for p in reversed(h.started):
            procs.stop(p, grace=10)
        procs.stop(proc, grace=5)
        if proc.stderr:
            proc.stderr.close()


@dataclass
class PrivateLibvirtd:
    """One libvirtd inside a holder. ``listen`` is None (unix socket only), "tcp" or "tls".

    The configuration it writes has ``listen_tls = 0``: for "tls", whoever installs the
    certificates turns it on (the agent's ``tls`` plan in the two-host lab)."""

    holder: Holder
    host_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    listen_addr: str | None = None
    listen: str | None = None
    ready_timeout: float = 60
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.holder.write("/etc/libvirt/qemu.conf", QEMU_CONF)
        lines = ['auth_unix_rw = "none"', 'auth_unix_ro = "none"', 'unix_sock_rw_perms = "0700"',
                 f'host_uuid = "{self.host_uuid}"',
                 f'log_outputs = "3:file:{self.holder.workdir}/libvirtd.log"',
                 f"listen_tcp = {int(self.listen == 'tcp')}",
                 "listen_tls = 0", 'auth_tcp = "none"']  # TLS: enabled with the certificates
        if self.listen_addr:
            lines.append(f'listen_addr = "{self.listen_addr}"')
        self.holder.write("/etc/libvirt/libvirtd.conf", "\n".join(lines) + "\n")

    @property
    def socket(self) -> Path:
        return self.holder.path("/run/libvirt/libvirt-sock")

    @property
    def uri(self) -> str:
        """The daemon's own unix socket, reachable from the test process."""
        return f"qemu+unix:///system?socket={self.socket}"

    def open(self) -> libvirt.virConnect:
        libvirt.registerErrorHandler(_quiet, None)
        return libvirt.open(self.uri)

    def answering(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            self.open().close()
            return True
        except libvirt.libvirtError:
            return False

    def start(self) -> None:
        argv = ["/usr/sbin/libvirtd", "-f", "/etc/libvirt/libvirtd.conf"]
        if self.listen:
            argv.append("--listen")
        self.proc = self.holder.popen(argv)
        deadline = time.monotonic() + self.ready_timeout
        while not self.answering():
            if self.proc.poll() is not None:
                log = self.holder.workdir / "libvirtd.log"
                tail = log.read_text()[-1500:] if log.exists() else ""
                raise RuntimeError(f"libvirtd exited with {self.proc.returncode}: {tail}")
            if time.monotonic() > deadline:
                raise RuntimeError("libvirtd did not answer in time")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (running guests survive it, as with any libvirtd)."""
        if self.proc is not None:
            procs.stop(self.proc, grace=30, group=False)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: the host's libvirt is lost (its QEMU processes keep running)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy_all(self) -> list[str]:
        """Destroy and undefine every domain (the daemon is private: they are all ours)."""
        gone: list[str] = []
        with contextlib.suppress(libvirt.libvirtError):
            conn = self.open()
            try:
                for dom in conn.listAllDomains(0):
                    with contextlib.suppress(libvirt.libvirtError):
                        if dom.isActive():
                            dom.destroy()
                    with contextlib.suppress(libvirt.libvirtError):
                        if dom.isPersistent():
                            dom.undefine()
                    gone.append(dom.name())
            finally:
                conn.close()
        return gone


@contextlib.contextmanager
def private_libvirtd(h: Holder, daemon: PrivateLibvirtd | None = None,
                     **kw) -> Iterator[PrivateLibvirtd]:
    """Start ``daemon`` (or a new one made with ``kw``); at exit destroy its guests, stop it."""
    d = daemon or PrivateLibvirtd(h, **kw)
    d.start()
    try:
        yield d
    finally:
        if d.proc is None or d.proc.poll() is not None:
            with contextlib.suppress(RuntimeError):
                d.start()  # reconnects to (and lets us destroy) guests a killed daemon left
        d.destroy_all()
        d.stop()


SSHD_CONFIG = """# provisioner test sshd (tests/integration/holder.py)
Port {port}
ListenAddress {addr}
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
"""


@dataclass
class Sshd:
    proc: subprocess.Popen
    host_pub: str         # the server's public host key line ("ssh-ed25519 AAAA...")
    addr: str
    port: int


def ssh_keypair(path: Path) -> str:
    """A fresh ed25519 key pair at ``path``; returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f",
                    str(path)], check=True, timeout=30, capture_output=True)
    return Path(f"{path}.pub").read_text().strip()


def sshd(h: Holder, addr: str, authorized: Sequence[str], port: int = 22,
         timeout: float = 20) -> Sshd:
    """OpenSSH's sshd in the holder, keys and config in the test's directory."""
    d = h.workdir / "sshd"
    d.mkdir(mode=0o700, exist_ok=True)
    host_key = d / "host_ed25519"
    host_pub = ssh_keypair(host_key)
    (d / "authorized_keys").write_text("".join(k + "\n" for k in authorized))
    (d / "sshd_config").write_text(SSHD_CONFIG.format(
        port=port, addr=addr, host_key=host_key, authorized_keys=d / "authorized_keys"))
    h.run(["/usr/sbin/sshd", "-t", "-f", str(d / "sshd_config")])
    proc = h.popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                   stdout=open(d / "sshd.log", "w"))  # noqa: SIM115 - closed with the process
    ok = procs.poll(lambda: proc.poll() is not None or f":{port} " in h.run(
        ["ss", "-Htln"], check=False).stdout, timeout)
    if not ok or proc.poll() is not None:
        raise RuntimeError(f"sshd did not start: {(d / 'sshd.log').read_text()[-800:]}")
    return Sshd(proc, " ".join(host_pub.split()[:2]), addr, port)


_CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def in_netns(ns: Netns) -> Iterator[None]:
    """Run the calling *thread* inside ``ns`` (setns(2)): sockets it opens there (a libvirt
    client connection, the ssh it spawns) stay there after the block ends. The thread goes back
    to its own namespace on exit."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns.name}", os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns.name} failed")
        try:
            yield
        finally:
            if libc.setns(own, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back failed")
    finally:
        os.close(target)
        os.close(own)
