"""What ``provisioner-agent doctor`` reads besides :func:`agent.facts.probe.probe`: daemons,
Xen and libvirt configuration files, /etc/hosts, SELinux and image labels, and the log files
the guide names. Files only, under ``root`` (``/``, or a fixture tree: ``--root``); nothing is
run and nothing is written. Whatever cannot be read is None ("unknown": no finding from it).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from agent.facts.probe import Root

#: /etc/xen entries that are xend's or examples, not guests
XEN_NOT_GUESTS = re.compile(r"^(xend-.*\.sxp|xmexample.*|qemu-ifup|xend-config.*|.*\.rpm\w+|"
                            r"README.*|cpupool|xl\.conf|xlexample.*)$")
DAEMONS = {"xend": ("xend",), "libvirtd": ("libvirtd", "virtqemud", "virtxend"),
           "ntpd": ("ntpd", "chronyd", "systemd-timesyn", "systemd-timesyncd")}
#: socket units enabled here start their daemon on demand (Debian's libvirtd exits when idle)
SOCKETS = "etc/systemd/system/sockets.target.wants"
_MAX_GUEST_FILES = 128
_MAX_FILE_BYTES = 262144
_DISK_PATH = re.compile(r"(?:file|tap:aio|phy):(/[^,'\"\s]+)|<source (?:file|dev)=['\"](/[^'\"]+)")


@dataclass(frozen=True)
class Health:
    xen_installed: bool = False
    libvirt_installed: bool = False
    running: dict[str, bool | None] = field(default_factory=dict)  # daemon -> running?
    guest_files: dict[str, str] = field(default_factory=dict)     # /etc/xen/<name> -> text
    libvirt_domains: dict[str, str] = field(default_factory=dict)  # xml path -> text
    sysfs_bridges: tuple[str, ...] | None = None
    hosts: str | None = None                  # /etc/hosts
    selinux: str | None = None                # enforcing | permissive | disabled
    labels: dict[str, str | None] = field(default_factory=dict)   # image path -> SELinux type
    default_kernel: str | None = None         # /etc/sysconfig/kernel DEFAULTKERNEL
    modprobe: str | None = None               # modprobe.conf, modules.conf, modprobe.d/*.conf
    dev_kvm: bool = False
    modules: tuple[str, ...] | None = None    # /proc/modules names (None: unreadable)
    partitions: str | None = None             # /proc/partitions
    exports: str | None = None                # /etc/exports
    logs: dict[str, str] = field(default_factory=dict)            # log path -> its tail


def _running(r: Root) -> dict[str, bool | None]:
    """Which daemons have a process: /proc/<pid>/comm (or cmdline) under the root."""
    proc = r.path("proc")
    if not proc.is_dir():
        return {name: None for name in DAEMONS}
    seen: set[str] = set()
    for n, d in enumerate(proc.glob("[0-9]*")):
        if n > 65536:
            break
        comm = (r.read(f"proc/{d.name}/comm") or "").strip()
        cmdline = (r.read(f"proc/{d.name}/cmdline") or "").replace("\x00", " ")
        words = {comm} | {os.path.basename(w) for w in cmdline.split()[:3]}
        seen |= words
    running: dict[str, bool | None] = {n: bool(seen & set(v)) for n, v in DAEMONS.items()}
    for name, names in DAEMONS.items():     # systemd starts it on the first connection
        if not running[name] and any(r.exists(f"{SOCKETS}/{n}.socket") for n in names):
            running[name] = True
    return running


def _modules(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(ln.split()[0] for ln in text.splitlines() if ln.strip())


def _dir_texts(r: Root, rel: str, pattern: str, skip: re.Pattern[str] | None = None
               ) -> dict[str, str]:
    out: dict[str, str] = {}
    base = r.path(rel)
    if not base.is_dir():
        return out
    for f in sorted(base.glob(pattern))[:_MAX_GUEST_FILES]:
        if not f.is_file() or (skip is not None and skip.match(f.name)):
            continue
        text = r.read_bytes_text(f"{rel}/{f.name}")
        if text is not None and len(text) <= _MAX_FILE_BYTES:
            out[f"/{rel}/{f.name}"] = text
    return out


def _modprobe(r: Root) -> str | None:
    """Every modprobe configuration file the host reads (RHEL 3's modules.conf, RHEL 4-5's
    modprobe.conf, modprobe.d/*.conf), concatenated; None when there is none."""
    texts = [t for t in (r.read("etc/modules.conf"), r.read("etc/modprobe.conf")) if t]
    texts += list(_dir_texts(r, "etc/modprobe.d", "*.conf").values())
    return "\n".join(texts) if texts else None


def _selinux(r: Root) -> str | None:
    enforce = (r.read("sys/fs/selinux/enforce") or "").strip()
    if enforce in ("0", "1"):
        return "enforcing" if enforce == "1" else "permissive"
    m = re.search(r"(?m)^\s*SELINUX=(\w+)", r.read("etc/selinux/config") or "")
    return m.group(1).lower() if m else None


def _label(path: Path) -> str | None:
    try:
        raw = os.getxattr(path, "security.selinux").decode(errors="replace").rstrip("\x00")
    except OSError:
        return None
    parts = raw.split(":")
    return parts[2] if len(parts) >= 3 else raw


def _labels(r: Root, texts: list[str]) -> dict[str, str | None]:
    paths = {a or b for t in texts for a, b in _DISK_PATH.findall(t)}
    return {p: _label(r.path(p)) for p in sorted(paths)[:256]}


def _logs(r: Root, patterns: tuple[str, ...], extra: tuple[str, ...], tail: int,
          most: int) -> dict[str, str]:
    per_glob = max(1, most // 4)            # many guest consoles never crowd out the rest
    files = [f for p in patterns for f in sorted(glob.glob(str(r.path(p))), key=_newest_first
                                                 )[:per_glob]]
    out: dict[str, str] = {}
    for f in files[:most]:
        out["/" + str(Path(f).relative_to(r.root))] = _tail(Path(f), tail)
    for f in extra:                         # --log FILE: a sample from elsewhere, as given
        out[f] = _tail(Path(f), tail)
    return out


def _newest_first(path: str) -> tuple[float, str]:
    try:
        return -os.stat(path).st_mtime, path
    except OSError:
        return 0.0, path


def _tail(path: Path, n: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - n))
            return fh.read(n).decode("utf-8", errors="replace")
    except OSError:
        return ""


def probe_health(root: str | os.PathLike[str], *, log_patterns: tuple[str, ...],
                 extra_logs: tuple[str, ...] = (), tail_bytes: int = 524288,
                 max_logs: int = 64) -> Health:
    """Read the doctor's facts under ``root`` (files only; see the module doc)."""
    r = Root(Path(root))
    guests = _dir_texts(r, "etc/xen", "*", XEN_NOT_GUESTS)
    domains = {**_dir_texts(r, "etc/libvirt/qemu", "*.xml"),
               **_dir_texts(r, "etc/libvirt/libxl", "*.xml")}
    net = r.path("sys/class/net")
    bridges = (tuple(sorted(d.name for d in net.iterdir() if (d / "bridge").is_dir()))
               if net.is_dir() else None)
    kernel = re.search(r"(?m)^\s*DEFAULTKERNEL=(\S+)", r.read("etc/sysconfig/kernel") or "")
    return Health(
        xen_installed=r.exists("etc/xen/xend-config.sxp") or r.exists("usr/sbin/xend"),
        libvirt_installed=r.exists("usr/sbin/libvirtd") or r.exists("etc/libvirt/libvirtd.conf"),
        running=_running(r), guest_files=guests, libvirt_domains=domains,
        sysfs_bridges=bridges, hosts=r.read("etc/hosts"), selinux=_selinux(r),
        labels=_labels(r, [*guests.values(), *domains.values()]),
        default_kernel=kernel.group(1).strip("\"'") if kernel else None,
        modprobe=_modprobe(r), dev_kvm=r.exists("dev/kvm"),
        modules=_modules(r.read("proc/modules")), partitions=r.read("proc/partitions"),
        exports=r.read("etc/exports"),
        logs=_logs(r, log_patterns, extra_logs, tail_bytes, max_logs))
