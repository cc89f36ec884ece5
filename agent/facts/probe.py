"""The only reader of the host: /proc, /sys, /etc, boot loader files and ``ip -j``.

``probe(root, runner)`` reads files under ``root`` (``/`` on a real host, a fixture tree in
tests) and runs commands through ``runner`` (a ``FakeRunner`` with canned ``ip -j`` output in
tests). Parsers are small pure functions over text so they are tested on their own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path

from agent.facts.model import (
    FLAGS_THAT_MATTER,
    Bootloader,
    Bridge,
    Cpu,
    Distro,
    HostFacts,
    Kernel,
    Network,
    Nic,
    Route,
)
from agent.run import Runner

GRUB_LEGACY = ("boot/grub/grub.conf", "boot/grub/menu.lst", "etc/grub.conf")
GRUB2_CFG = ("boot/grub2/grub.cfg", "boot/grub/grub.cfg", "boot/efi/EFI/redhat/grub.cfg")
ELILO = ("etc/elilo.conf", "boot/efi/efi/redhat/elilo.conf")
GRUBBY = ("sbin/grubby", "usr/sbin/grubby", "usr/bin/grubby")


# ---------------------------------------------------------------- pure parsers

def parse_cpuinfo(text: str) -> Cpu:
    """Vendor, model, sockets/cores/threads and the flags that matter from /proc/cpuinfo.

    A flags line may wrap onto continuation lines (the seed's samples do); those are joined.
    """
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last_key = None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
            cur, last_key = {}, None
            continue
        if ":" in line and not (last_key == "flags" and line[:1].isspace()):
            key, _, val = line.partition(":")
            last_key = key.strip()
            cur[last_key] = val.strip()
        elif last_key:
            cur[last_key] += " " + line.strip()
    if cur:
        blocks.append(cur)
    procs = [b for b in blocks if "processor" in b or "flags" in b]
    if not procs:
        return Cpu()
    first = procs[0]
    flags: set[str] = set()
    for b in procs:
        flags |= set(b.get("flags", "").split())
    physical = {b.get("physical id", "0") for b in procs}
    cores = set()
    for b in procs:
        if "core id" in b:
            cores.add((b.get("physical id", "0"), b["core id"]))
    ncores = len(cores) if cores else len(procs)
    return Cpu(
        vendor=first.get("vendor_id", ""),
        model_name=first.get("model name", ""),
        sockets=len(physical),
        cores=ncores,
        threads=len(procs),
        flags=tuple(sorted(f for f in flags if f in FLAGS_THAT_MATTER)),
    )


def parse_meminfo(text: str) -> int:
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.M)
    return int(m.group(1)) if m else 0


def is_xen_kernel(release: str) -> bool:
    """Seed 28.2: a running kernel whose ``uname -r`` ends in ``xen`` is the Xen kernel."""
    return release.strip().endswith("xen")


def kvm_modules(proc_modules: str) -> tuple[str, ...]:
    names = {line.split()[0] for line in proc_modules.splitlines() if line.strip()}
    return tuple(m for m in ("kvm", "kvm_intel", "kvm_amd") if m in names)


def xen_role(capabilities: str | None, dsdt: str | None = None) -> str | None:
    """Seed 28.7's script (oracle T10): the ACPI DSDT naming ``int-xen`` -> a fully virtualized
    Xen guest ("hvm"); else /proc/xen/capabilities with ``control_d`` -> "dom0", without ->
    a para-virtualized "domU"; neither -> None (bare metal, or KVM: the script is Xen-only)."""
    if dsdt is not None and "int-xen" in dsdt:
        return "hvm"
    if capabilities is None:
        return None
    return "dom0" if "control_d" in capabilities else "domU"


#: where the DSDT is: RHEL 5's /proc/acpi/dsdt, later kernels' sysfs copy
DSDT_PATHS = ("proc/acpi/dsdt", "sys/firmware/acpi/tables/DSDT")


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            try:
                out[k.strip()] = " ".join(shlex.split(v))
            except ValueError:
                out[k.strip()] = v.strip().strip('"')
    return out


def parse_distro(redhat_release: str | None, os_release: str | None) -> Distro:
    """Distro from /etc/redhat-release (preferred: RHEL 5 has no os-release) or /etc/os-release."""
    if redhat_release:
        line = redhat_release.strip().splitlines()[0]
        m = re.search(r"release\s+([\d.]+)", line)
        low = line.lower()
        did = ("centos" if "centos" in low else "fedora" if "fedora" in low
               else "rhel")
        return Distro(id=did, family="rhel", version=m.group(1) if m else "", name=line)
    if os_release:
        d = parse_os_release(os_release)
        did = d.get("ID", "")
        like = d.get("ID_LIKE", "").split()
        family = ("rhel" if did in ("rhel", "centos", "fedora", "rocky", "almalinux")
                  or "rhel" in like or "fedora" in like
                  else "debian" if did in ("debian", "ubuntu") or "debian" in like else "")
        return Distro(id=did, family=family, version=d.get("VERSION_ID", ""),
                      name=d.get("PRETTY_NAME", ""))
    return Distro()


def parse_ifcfg(text: str) -> dict[str, str]:
    """KEY=value pairs of an ifcfg file (quotes removed, comments skipped)."""
    out = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or "=" not in s:
            continue
        k, _, v = s.partition("=")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        out[k.strip()] = v
    return out


def parse_ip_links(link_json: str, addr_json: str) -> tuple[tuple[Nic, ...], tuple[Bridge, ...]]:
    """Links and bridges from ``ip -j -d link show`` and ``ip -j addr show``."""
    links = json.loads(link_json or "[]")
    addrs = {a["ifname"]: a for a in json.loads(addr_json or "[]")}
    nics, bridges = [], []
    for link in links:
        name = link["ifname"]
        if name == "lo":
            continue
        info = link.get("linkinfo", {}) or {}
        kind = info.get("info_kind", "")
        a = addrs.get(name, {})
        cidrs = tuple(f"{x['local']}/{x['prefixlen']}" for x in a.get("addr_info", [])
                      if x.get("scope") == "global")
        nics.append(Nic(name=name, mac=link.get("address", ""), mtu=int(link.get("mtu", 1500)),
                        kind=kind, master=link.get("master"),
                        up="UP" in link.get("flags", []), addresses=cidrs))
        if kind == "bridge":
            data = info.get("info_data", {}) or {}
            fd = int(data.get("forward_delay", 0))
            bridges.append(Bridge(name=name, stp=bool(data.get("stp_state", 0)),
                                  forward_delay=fd // 100 if fd >= 100 else fd))
    by_master: dict[str, list[str]] = {}
    for n in nics:
        if n.master:
            by_master.setdefault(n.master, []).append(n.name)
    bridges = [Bridge(b.name, tuple(by_master.get(b.name, [])), b.stp, b.forward_delay)
               for b in bridges]
    return tuple(nics), tuple(bridges)


def parse_ip_routes(route_json: str) -> tuple[Route, ...]:
    out = []
    for r in json.loads(route_json or "[]"):
        out.append(Route(dst=r.get("dst", ""), dev=r.get("dev", ""), gateway=r.get("gateway"),
                         metric=r.get("metric"), proto=r.get("protocol"),
                         scope=r.get("scope"), prefsrc=r.get("prefsrc")))
    return tuple(out)


def default_route(routes: tuple[Route, ...]) -> Route | None:
    """The default route with the lowest metric (seed 19: take the token after ``dev``)."""
    defaults = [r for r in routes if r.dst == "default"]
    return min(defaults, key=lambda r: r.metric or 0) if defaults else None


def default_route_dev_from_text(text: str) -> str | None:
    """``ip route`` text -> the default route's device (``default dev ppp0 scope link`` -> ppp0)."""
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["default"] and "dev" in words[:-1]:
            return words[words.index("dev") + 1]
    return None


# ---------------------------------------------------------------- the probe

class _Root:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def read(self, rel: str) -> str | None:
        try:
            return self.path(rel).read_text(errors="replace")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            return None

    def read_bytes_text(self, rel: str) -> str | None:
        """The file's bytes as Latin-1 text (byte n = character n): a parser sees junk and
        non-ASCII exactly as written, where ``read`` would replace it."""
        try:
            return self.path(rel).read_bytes().decode("latin-1")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            return None

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def first(self, rels: tuple[str, ...]) -> str | None:
        return next((r for r in rels if self.path(r).is_file()), None)


def _bootloader(r: _Root, arch: str) -> Bootloader:
    grubby = any(r.exists(p) for p in GRUBBY)
    default_file = "/etc/default/grub" if r.exists("etc/default/grub") else None
    elilo = r.first(ELILO)
    if elilo and arch == "ia64":
        return Bootloader("elilo", "/" + elilo, None, grubby)
    legacy = r.first(GRUB_LEGACY)
    grub2 = r.first(GRUB2_CFG)
    if grub2 or default_file:
        return Bootloader("grub2", "/" + grub2 if grub2 else None, default_file, grubby)
    if legacy:
        return Bootloader("grub-legacy", "/" + legacy, None, grubby)
    if elilo:
        return Bootloader("elilo", "/" + elilo, None, grubby)
    return Bootloader(None, None, None, grubby)


def _network_manager(r: _Root) -> bool:
    return any(r.exists(p) for p in (
        "run/NetworkManager/NetworkManager.pid", "var/run/NetworkManager/NetworkManager.pid",
        "var/run/NetworkManager.pid",
        "etc/systemd/system/multi-user.target.wants/NetworkManager.service",
        "etc/rc.d/rc3.d/S98NetworkManager", "etc/rc.d/rc5.d/S98NetworkManager"))


def _ifcfg(r: _Root) -> dict[str, dict[str, str]]:
    d = r.path("etc/sysconfig/network-scripts")
    out = {}
    if d.is_dir():
        for f in sorted(d.glob("ifcfg-*")):
            if f.is_file():
                out[f.name[len("ifcfg-"):]] = parse_ifcfg(f.read_text(errors="replace"))
    return out


def _nm_keyfiles(r: _Root) -> dict[str, str]:
    d = r.path("etc/NetworkManager/system-connections")
    out = {}
    if d.is_dir():
        for f in sorted(d.glob("*.nmconnection")):
            if f.is_file():
                out[f.name] = f.read_text(errors="replace")
    return out


def read_config(root: str | os.PathLike[str], path: str) -> str | None:
    """A configuration file under ``root`` as Latin-1 text (its bytes exactly; None: absent),
    for parsers that must see junk as written (xend-config.sxp, /etc/xen/<guest>)."""
    return _Root(Path(root)).read_bytes_text(path)


def probe(root: str | os.PathLike[str] = "/", runner: Runner | None = None, *,
          image_dir: str = "/var/lib/libvirt/images",
          libvirt_uri: str = "qemu:///system",
          statvfs: Callable[[str], os.statvfs_result] = os.statvfs) -> HostFacts:
    """Read the host under ``root``; commands (``ip -j``, ``virsh``) go through ``runner``."""
    r = _Root(Path(root))
    warnings: list[str] = []
    cpu = _probe_cpu(r)
    kernel = _probe_kernel(r, cpu)
    distro = parse_distro(r.read("etc/redhat-release"), r.read("etc/os-release"))
    network, libvirt = _probe_network(r, runner, libvirt_uri, warnings)
    free = _free_bytes(r, image_dir, statvfs, warnings)
    hostname = (r.read("proc/sys/kernel/hostname") or r.read("etc/hostname") or "").strip()
    mem_kib = parse_meminfo(r.read("proc/meminfo") or "")
    return HostFacts(hostname=hostname, cpu=cpu, mem_kib=mem_kib, image_dir=image_dir,
                     image_dir_free_bytes=free, kernel=kernel, distro=distro,
                     bootloader=_bootloader(r, kernel.arch), network=network,
                     libvirt_reachable=libvirt,
                     xend_config=r.read_bytes_text("etc/xen/xend-config.sxp"),
                     warnings=tuple(warnings))


def _probe_cpu(r: _Root) -> Cpu:
    cpu = parse_cpuinfo(r.read("proc/cpuinfo") or "")
    freqs = (r.read("sys/devices/system/cpu/cpu0/cpufreq/scaling_available_frequencies")
             or "").split()
    if freqs and all(f.isdigit() for f in freqs):
        cpu = dataclasses.replace(cpu, cpufreq_max=max(int(f) for f in freqs))
    return cpu


def _probe_kernel(r: _Root, cpu: Cpu) -> Kernel:
    release = (r.read("proc/sys/kernel/osrelease") or "").strip()
    arch = (r.read("proc/sys/kernel/arch") or "").strip()
    if not arch:
        arch = "x86_64" if cpu.has("lm") else ("i686" if cpu.flags else "")
    return Kernel(release=release, arch=arch, is_xen=is_xen_kernel(release),
                  xen_role=xen_role(r.read("proc/xen/capabilities"), next(
                      (t for t in map(r.read_bytes_text, DSDT_PATHS) if t is not None), None)),
                  kvm_modules=kvm_modules(r.read("proc/modules") or ""),
                  cmdline=(r.read("proc/cmdline") or "").strip())


def _probe_network(r: _Root, runner: Runner | None, libvirt_uri: str,
                   warnings: list[str]) -> tuple[Network, bool | None]:
    """Links, bridges and routes (``ip -j``), NetworkManager, the config files; and whether
    libvirt answers (None without a runner)."""
    nics: tuple[Nic, ...] = ()
    bridges: tuple[Bridge, ...] = ()
    routes: tuple[Route, ...] = ()
    libvirt = None
    nm_running = False
    if runner is not None:
        nics, bridges, routes = _ip_state(runner, warnings)
        libvirt = runner(["virsh", "-c", libvirt_uri, "uri"], timeout=15).ok
        nm = runner(["nmcli", "-t", "-f", "RUNNING", "general"], timeout=15)
        nm_running = nm.ok and nm.stdout.strip() == "running"
    dr = default_route(routes)
    network = Network(nics=nics, bridges=bridges, routes=routes,
                      default_route_dev=dr.dev if dr else None,
                      default_gateway=dr.gateway if dr else None,
                      network_manager=nm_running or _network_manager(r), ifcfg=_ifcfg(r),
                      nm_keyfiles=_nm_keyfiles(r), interfaces=r.read("etc/network/interfaces"))
    return network, libvirt


def _ip_state(runner: Runner, warnings: list[str]
              ) -> tuple[tuple[Nic, ...], tuple[Bridge, ...], tuple[Route, ...]]:
    nics: tuple[Nic, ...] = ()
    bridges: tuple[Bridge, ...] = ()
    routes: tuple[Route, ...] = ()
    links = runner(["ip", "-j", "-d", "link", "show"])
    addrs = runner(["ip", "-j", "addr", "show"])
    rts = runner(["ip", "-j", "route", "show"])
    if links.ok and addrs.ok:
        try:
            nics, bridges = parse_ip_links(links.stdout, addrs.stdout)
        except (ValueError, KeyError) as exc:
            warnings.append(f"cannot parse ip -j link/addr output: {exc}")
    else:
        warnings.append("ip -j link/addr failed: " + (links.stderr or addrs.stderr).strip())
    if rts.ok:
        try:
            routes = parse_ip_routes(rts.stdout)
        except (ValueError, KeyError) as exc:
            warnings.append(f"cannot parse ip -j route output: {exc}")
    return nics, bridges, routes


def _free_bytes(r: _Root, image_dir: str, statvfs: Callable[[str], os.statvfs_result],
                warnings: list[str]) -> int | None:
    """Free bytes where images go (the nearest existing parent of ``image_dir``)."""
    probe_dir = r.path(image_dir)
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    try:
        st = statvfs(str(probe_dir))
    except OSError as exc:
        warnings.append(f"cannot stat {image_dir}: {exc}")
        return None
    return st.f_bavail * st.f_frsize


#: the root-relative reader, for the other fact collectors (agent/facts/health.py)
Root = _Root
