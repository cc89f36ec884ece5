"""A contained libvirtd for the Vagrant lab: its own network and mount namespaces.

``up`` makes a network namespace ``prvlab-<id>`` and a *holder* process in it with a private
mount namespace, where ``/sys`` is remounted (libvirt's network driver reads the namespace's
devices there) and libvirt's directories (``/etc/libvirt``, ``/var/lib/libvirt``,
``/var/log/libvirt``, ``/var/cache/libvirt``) are bind mounts of the lab's own directories, with a
tmpfs on ``/run/libvirt``. libvirtd runs in there, and so does every ``vagrant``/``virsh`` the lab
starts (:func:`command`): the bridges, dnsmasq instances, iptables rules and port forwards that
vagrant-libvirt creates exist only in that namespace. The machine's own network, its
``/run/libvirt`` and any libvirtd it runs are not touched.

``down`` destroys what is left in the contained libvirtd (domains with their storage, networks,
the pool), stops libvirtd, kills every process left in the namespace (by PID), deletes the
namespace and removes the lab's directories; the QEMU capability cache is kept next to the box
cache (a cold probe costs ~8 s). Requirements are checked before anything is made, and a failed
``up`` is undone before the error is raised.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from provisioner.lab.guests import ensure_qemu_account
from provisioner.lab.procs import alive, stop
from provisioner.lab.state import DEFAULT_CACHE

DEFAULT_DIR = Path("/var/lib/provisioner/vagrant-lab")
STATE = "env.json"
URI = "qemu:///system"
PRIVATE = {"etc": "/etc/libvirt", "lib": "/var/lib/libvirt", "log": "/var/log/libvirt"}
QEMU_CONF = """# written by `provisioner lab vagrant` (contained libvirtd; libvirt recipe section 5)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""
#: Debian packages providing what the contained lab runs (named in the error when missing).
NEEDS = {"/usr/sbin/libvirtd": "libvirt-daemon libvirt-daemon-driver-qemu",
         "virsh": "libvirt-clients", "dnsmasq": "dnsmasq-base", "iptables": "iptables",
         "qemu-system-x86_64": "qemu-system-x86", "nsenter": "util-linux", "ip": "iproute2"}


class EnvError(Exception):
    """The contained environment cannot be made or used; the message names cause and fix."""


@dataclass
class Env:
    dir: str
    netns: str
    cache: str
    holder: int = 0
    libvirtd: int = 0
    created: float = 0.0

    @property
    def path(self) -> Path:
        return Path(self.dir)

    def save(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / (STATE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(self.path / STATE)

    @classmethod
    def load(cls, d: Path) -> Env | None:
        try:
            return cls(**json.loads((d / STATE).read_text()))
        except (OSError, ValueError, TypeError):
            return None


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def netns_pids(name: str) -> list[int]:
    return [int(p) for p in _ip("netns", "pids", name).stdout.split() if p.isdigit()]


def netns_exists(name: str) -> bool:
    return name in _ip("netns", "list").stdout.split()


def check_requirements() -> None:
    if os.geteuid() != 0:
        raise EnvError("the contained Vagrant lab needs root (namespaces, libvirtd)")
    missing = sorted({pkg for tool, pkg in NEEDS.items()
                      if shutil.which(tool) is None and not Path(tool).is_file()})
    if missing:
        raise EnvError("missing programs for the contained libvirtd: "
                       f"apt-get install {' '.join(missing)}")


def command(env: Env, argv: Sequence[str], cwd: str | Path | None = None) -> list[str]:
    """``argv`` run inside the lab's network and mount namespaces."""
    wd = [f"--wd={cwd}"] if cwd else []
    return ["nsenter", "-t", str(env.holder), "-m", "-n", *wd, "--", *argv]


def virsh(env: Env, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(env, ["virsh", "-q", "-c", URI, *args]), capture_output=True,
                          text=True, timeout=timeout)


def _holder_script(env: Env) -> str:
    d = env.path / "libvirt"
    binds = [(d / k, v) for k, v in PRIVATE.items()]
    binds.append((Path(env.cache) / "libvirt-cache", "/var/cache/libvirt"))
    lines = ["set -e", "mount -t sysfs sysfs /sys"]
    lines += [f"mkdir -p '{dst}' && mount --bind '{src}' '{dst}'" for src, dst in binds]
    lines += ["mkdir -p /run/libvirt && mount -t tmpfs -o mode=0755 tmpfs /run/libvirt",
              "ip link set lo up", "echo ready", "exec sleep infinity"]
    return "\n".join(lines) + "\n"


def _start_holder(env: Env) -> None:
    for sub in (*PRIVATE, "run"):
        (env.path / "libvirt" / sub).mkdir(parents=True, exist_ok=True)
    (Path(env.cache) / "libvirt-cache").mkdir(parents=True, exist_ok=True)
    (env.path / "libvirt" / "etc" / "qemu.conf").write_text(QEMU_CONF)
    if _ip("netns", "add", env.netns).returncode != 0:
        raise EnvError(f"cannot create network namespace {env.netns}")
    env.save()
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{env.netns}", "unshare", "-m", "--propagation",
         "private", "sh", "-c", _holder_script(env)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, text=True)
    env.holder = proc.pid  # nsenter, unshare and sh exec each other: this PID is the holder
    env.save()
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    proc.stdout.close()
    if line != "ready":
        raise EnvError(f"the namespace holder did not start: {line or 'no output'}")


def _libvirtd_conf(env: Env) -> Path:
    conf = env.path / "libvirt" / "libvirtd.conf"
    conf.write_text('auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                    'unix_sock_rw_perms = "0700"\n'
                    f'log_outputs = "3:file:{env.path / "logs" / "libvirtd.log"}"\n')
    return conf


def _start_libvirtd(env: Env, timeout: float) -> None:
    (env.path / "logs").mkdir(parents=True, exist_ok=True)
    pidfile = env.path / "libvirt" / "run" / "libvirtd.pid"
    res = subprocess.run(command(env, ["/usr/sbin/libvirtd", "--daemon", "-f",
                                       str(_libvirtd_conf(env)), "--pid-file", str(pidfile)]),
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise EnvError(f"libvirtd did not start ({res.returncode}): {res.stderr.strip()}; "
                       f"log: {env.path / 'logs' / 'libvirtd.log'}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            env.libvirtd = int(pidfile.read_text().strip())
        if env.libvirtd and virsh(env, "version", timeout=30).returncode == 0:
            env.save()
            return
        time.sleep(0.25)
    raise EnvError(f"libvirtd did not answer within {timeout:.0f} s; "
                   f"log: {env.path / 'logs' / 'libvirtd.log'}")


def _default_pool(env: Env) -> None:
    """vagrant-libvirt creates pool ``default`` only on a box's path; box-less PXE machines
    need it to exist already (recipe: 'Storage pool not found')."""
    for args in (("pool-define-as", "default", "dir", "--target", "/var/lib/libvirt/images"),
                 ("pool-build", "default"), ("pool-start", "default")):
        res = virsh(env, *args)
        if res.returncode != 0:
            raise EnvError(f"virsh {' '.join(args)}: {res.stderr.strip()}")


def up(d: Path = DEFAULT_DIR, cache: Path | None = None, say: Callable[[str], None] = print,
       timeout: float = 120) -> Env:
    """The contained environment in ``d``: the running one, or a new one."""
    old = Env.load(d)
    if old is not None and alive(old.holder) and alive(old.libvirtd):
        return old
    if old is not None:
        say(f"lab: the environment in {d} is half gone; cleaning it up first")
        down(d, say=lambda _m: None)
    check_requirements()
    ensure_qemu_account(say)
    env = Env(dir=str(d), netns=f"prvlab-{secrets.token_hex(3)}",
              cache=str(cache or DEFAULT_CACHE), created=time.time())
    say(f"lab: namespace {env.netns} with its own libvirtd (state in {d})")
    try:
        _start_holder(env)
        _start_libvirtd(env, timeout)
        _default_pool(env)
    except BaseException:
        down(d, say=lambda _m: None, keep_logs=True)
        raise
    return env


def _purge_libvirt(env: Env) -> None:
    """Whatever vagrant left in the contained libvirtd: domains (with storage), networks."""
    if not (alive(env.holder) and alive(env.libvirtd)):
        return
    for name in virsh(env, "list", "--all", "--name").stdout.split():
        virsh(env, "destroy", name)
        virsh(env, "undefine", name, "--remove-all-storage", "--nvram")
    for name in virsh(env, "net-list", "--all", "--name").stdout.split():
        virsh(env, "net-destroy", name)
        virsh(env, "net-undefine", name)
    for name in virsh(env, "pool-list", "--all", "--name").stdout.split():
        virsh(env, "pool-destroy", name)
        virsh(env, "pool-undefine", name)


def down(d: Path = DEFAULT_DIR, say: Callable[[str], None] = print,
         keep_logs: bool = False) -> bool:
    """Remove the environment in ``d``; False when there was none."""
    env = Env.load(d)
    if env is None:
        return False
    say(f"lab: removing namespace {env.netns} and its libvirtd")
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        _purge_libvirt(env)
    stop([env.libvirtd], grace=30)
    if netns_exists(env.netns):
        stop([*netns_pids(env.netns), env.holder])
        _ip("netns", "delete", env.netns)
    else:
        stop([env.holder])
    if netns_exists(env.netns) or alive(env.holder):
        raise EnvError(f"could not remove namespace {env.netns} (holder {env.holder})")
    shutil.rmtree(d / "libvirt", ignore_errors=True)
    (d / STATE).unlink(missing_ok=True)
    if not keep_logs:
        shutil.rmtree(d / "logs", ignore_errors=True)
        with contextlib.suppress(OSError):
            d.rmdir()
    return True
