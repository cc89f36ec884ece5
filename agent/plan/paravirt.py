"""Paravirtual driver plans (seed ch. 14, 15, 32; notes C §10 "deterministic planner").

Two plans per request, both pure:

- ``plan_paravirt(facts, want)`` -> the **guest-side** plan (run inside the guest, or
  rendered by ``kickstart_post`` as a kickstart ``%post`` snippet for new guests): packages
  (``kmod-xenpv``...), ``alias ethN xen-vnif`` lines, module load order, ``chkconfig kudzu
  off``, RHEL 3 insmod/rc.local, initrd rebuild when the boot disk moves to virtio, the guest
  ``noapic`` when dom0 is RHEL 5.1, and the "no change needed" cases (RHEL 4.7+/5.3+ carry
  the Xen modules; RHEL 4.8+/5.3+ load virtio by themselves).
- ``plan_paravirt_host(facts, want)`` -> the **host-side** plan: the xm config rewrite for
  Xen (``type=ioemu`` removed, extra disks as ``tap:aio``/``phy`` on ``xvdX``; the boot disk
  stays emulated IDE because GRUB cannot read PV disks), the ``virtio-win`` package, and the
  device changes for KVM guests (``bus='virtio'``, ``<model type='virtio'/>``, Windows
  drivers before the bus switch) as ordered manual steps for the guest-definition component.

``facts`` is the HostFacts of the hypervisor host the guest runs on (``host_facts(...)``
builds a minimal one when only the hypervisor and version are known, e.g. in the appliance's
profile metadata).
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from agent.facts.model import Distro, HostFacts, Kernel
from agent.plan.grub import GrubArgs
from agent.plan.steps import (
    Assert,
    Command,
    Content,
    FileStep,
    LineRule,
    Lines,
    Manual,
    Plan,
    PlanError,
    Step,
)
from provisioner.platform.osversion import parse_release
from provisioner.platform.tables import limit, pv_matrix


def matrix() -> dict[str, Any]:
    return pv_matrix()


def _v(text: str) -> tuple[int, int]:
    release = parse_release(str(text))
    if release is None:
        raise PlanError("E_BAD_VERSION", f"bad version {text!r}")
    return release


def virtio_floor(major: int) -> str | None:
    """The first RHEL ``major`` release whose default kernel carries virtio (None: none)."""
    floor: str | None = limit("kvm.virtio_min_guest_release").get(f"rhel{major}")
    return floor


@dataclass(frozen=True)
class KernelRpm:
    variant: str
    version: str
    release: str
    arch: str
    rhel: int | None


def parse_kernel_rpm(name: str) -> KernelRpm:
    """``kernel-PAE-2.6.18-53.1.4.el5.i686`` -> (PAE, 2.6.18, 53.1.4.el5, i686, 5)."""
    base, _, arch = name.rpartition(".")
    parts = base.split("-")
    if not parts or parts[0] != "kernel":
        raise PlanError("E_BAD_KERNEL", f"not a kernel package: {name!r}")
    vi = next((i for i, p in enumerate(parts) if p[:1].isdigit()), None)
    if vi is None or vi + 1 >= len(parts):
        raise PlanError("E_BAD_KERNEL", f"no version-release in {name!r}")
    release = "-".join(parts[vi + 1:])
    m = re.search(r"\.el(\d+)", release) or re.search(r"\.EL", release)
    rhel = int(m.group(1)) if m and m.groups() else None
    return KernelRpm("-".join(parts[1:vi]), parts[vi], release, arch, rhel)


@dataclass(frozen=True)
class Disk:
    path: str                       # file path or block device
    backend: str = "file"           # file | phy
    pv: bool = True                 # use the PV/virtio driver for this disk
    boot: bool = False              # holds MBR, GRUB, /boot


@dataclass(frozen=True)
class PvWant:
    guest_os: str = "rhel"          # rhel | windows
    guest_version: str = "5.4"      # "5.2" | "xp" | "2003" | "vista" | "2008"
    guest_arch: str = "x86_64"
    guest_kernel: str | None = None  # kernel rpm name, for the variant (RHEL 3/4/5 on Xen)
    cpu_vendor: str | None = None    # intel | amd (RHEL 3 only)
    guest_name: str = "guest"
    nics: int = 1
    disks: tuple[Disk, ...] = ()
    pv_release: str = "0.1-5.el"    # PV driver release (RHEL 3/4 insmod paths)
    drivers_installed: bool = False  # Windows: virtio drivers already inside the guest
    install_time: bool = False       # Windows: being installed now (viostor.vfd floppy)
    virtio_boot_disk: bool = False   # KVM Linux: move the boot disk to virtio (initrd rebuild)
    extra_pci_devices: int = 0       # VT-d and other PCI devices (28-slot budget)
    host_tap_aio_in_use: int = 0     # tap:aio devices already used on this Xen host
    kmod_names: dict[str, str] = field(default_factory=dict)  # variant -> package override


def host_facts(hypervisor: str, version: str, arch: str = "x86_64") -> HostFacts:
    """Minimal facts of a hypervisor host (for callers without a probe, e.g. kickstarts)."""
    release = "2.6.18-xen" if hypervisor == "xen" else "2.6.18"
    return HostFacts(kernel=Kernel(release=release, arch=arch, is_xen=hypervisor == "xen",
                                   kvm_modules=("kvm",) if hypervisor == "kvm" else ()),
                     distro=Distro(id="rhel", family="rhel", version=version))


def _variant(want: PvWant) -> str:
    if not want.guest_kernel:
        return "i686" if want.guest_arch in ("i386", "i586", "x86") else want.guest_arch
    k = parse_kernel_rpm(want.guest_kernel)
    arch = "i686" if k.arch in ("i386", "i586", "i686") else k.arch
    if arch == "ia32e":
        return "ia32e"
    return f"{arch}-{k.variant}" if k.variant else arch


def kmod_package(want: PvWant) -> str:
    """``kmod-xenpv`` plus the kernel variant (derived naming, configurable per variant)."""
    variant = parse_kernel_rpm(want.guest_kernel).variant if want.guest_kernel else ""
    if variant in want.kmod_names:
        return want.kmod_names[variant]
    return f"kmod-xenpv-{variant}" if variant else "kmod-xenpv"


def validate(facts: HostFacts, want: PvWant) -> None:
    """The seed's rules in order; the first failure wins (notes C §10)."""
    hv = facts.hypervisor
    m = matrix()
    if hv not in ("xen", "kvm"):
        raise PlanError("E_NO_HYPERVISOR", "the host runs neither a Xen kernel nor kvm")
    # The seed's host minimums are RHEL releases; other distributions (Debian...) are current.
    host_v = (facts.distro.version_tuple[:2] or (0, 0)) if facts.distro.family == "rhel" \
        else (99, 0)
    if hv == "xen" and host_v < _v(m["xen"]["min_host"]):
        raise PlanError("E_HOST_TOO_OLD", "Xen PV drivers need a RHEL 5.1 or later host")
    if hv == "kvm" and host_v < _v(limit("kvm.min_host_release")):
        raise PlanError("E_HOST_TOO_OLD_FOR_VIRTIO", "virtio needs a RHEL 5.4 or later host")
    if want.guest_arch in ("ia64", "IA64") or "ia64" in (want.guest_kernel or ""):
        raise PlanError("E_ARCH_UNSUPPORTED", "Itanium PV driver builds are not available")
    if hv == "xen" and want.guest_os == "rhel":
        gv = _v(want.guest_version)
        if gv[0] < 3:
            raise PlanError("E_GUEST_UNSUPPORTED", f"RHEL {want.guest_version} is not supported")
        floor = m["xen"]["min_guest"].get(str(gv[0]))
        if floor is None:
            raise PlanError("E_GUEST_UNSUPPORTED", f"RHEL {want.guest_version} has no Xen PV "
                            "driver package in the seed (3.9+, 4.6+, 5.1+)")
        if gv < _v(floor):
            raise PlanError("E_GUEST_TOO_OLD", f"RHEL {want.guest_version}: needs {floor} or later")
        variant = _variant(want)
        allowed = {a.lower() for a in m["xen"]["variants"].get(str(gv[0]), [])}
        if variant.lower() not in allowed:
            raise PlanError("E_KERNEL_VARIANT_UNSUPPORTED",
                            f"kernel {variant} is not in Table 14.1 for RHEL {gv[0]}")
        if gv[0] == 3:
            vendor = (want.cpu_vendor or "intel").lower()
            table = {k.lower(): v for k, v in m["xen"]["rhel3_host_kernel"].get(vendor, {}).items()}
            need = table.get(variant.lower())
            if need and need != facts.kernel.arch:
                raise PlanError("E_HOST_KERNEL_MISMATCH",
                                f"RHEL 3 {variant} ({vendor}) needs a {need} host kernel, "
                                f"not {facts.kernel.arch}")
        pv_disks = [d for d in want.disks if d.pv]
        if any(d.boot for d in pv_disks):
            raise PlanError("E_BOOT_DISK_NOT_PV", "GRUB cannot read PV block devices: the disk "
                            "with the MBR, GRUB and /boot stays emulated")
        if want.nics > limit("xen.max_nics"):
            raise PlanError("E_TOO_MANY_NICS", f"at most {limit('xen.max_nics')} NICs per Xen guest")
        if len(pv_disks) > limit("xen.max_pv_devices"):
            raise PlanError("E_TOO_MANY_DISKS",
                            f"at most {limit('xen.max_pv_devices')} PV block devices per guest")
        taps = sum(1 for d in pv_disks if d.backend == "file")
        if want.host_tap_aio_in_use + taps > limit("xen.max_tap_aio"):
            raise PlanError("E_TAP_AIO_LIMIT", f"at most {limit('xen.max_tap_aio')} tap:aio "
                            "devices per Xen host; use phy: devices")
    if hv == "xen" and want.guest_os == "windows":
        raise PlanError("E_SEE_WINDOWS_PV_GUIDE", "Windows PV drivers on Xen are in the separate "
                        "Windows Para-virtualized Drivers Guide")
    if hv == "kvm" and want.guest_os == "rhel":
        gv = _v(want.guest_version)
        floor = virtio_floor(gv[0])
        if gv[0] < 6 and (floor is None or gv < _v(floor)):
            raise PlanError("E_GUEST_NO_VIRTIO", f"RHEL {want.guest_version} has no virtio "
                            "drivers (4.8+ and 5.3+ do)")
    if hv == "kvm" and want.guest_os == "windows":
        ver = want.guest_version.lower()
        if ver not in m["kvm"]["windows"]:
            raise PlanError("E_GUEST_UNSUPPORTED", f"Windows {want.guest_version}: one of "
                            + ", ".join(m["kvm"]["windows"]))
        pv_disks = [d for d in want.disks if d.pv]
        if ver in m["kvm"]["windows_no_virtio_block"] and pv_disks:
            raise PlanError("E_WINXP_NO_VIRTIO_BLOCK", "Windows XP supports only the virtio NIC")
        if any(d.boot for d in pv_disks) and not want.drivers_installed and not want.install_time:
            raise PlanError("E_WOULD_NOT_BOOT", "the guest will not boot: install the virtio "
                            "drivers before switching its boot disk to virtio")
    if hv == "kvm":
        devices = want.nics + sum(1 for d in want.disks if d.pv) + want.extra_pci_devices
        if devices > limit("kvm.max_pci_free"):
            raise PlanError("E_PCI_SLOTS_EXCEEDED", f"{devices} devices: a guest has "
                            f"{limit('kvm.max_pci_free')} PCI slots")


# ------------------------------------------------------------------ seed-text helpers

def pv_packages(facts: HostFacts, want: PvWant) -> list[str]:
    if facts.hypervisor != "xen" or want.guest_os != "rhel":
        return []
    gv = _v(want.guest_version)
    builtin = matrix()["xen"]["builtin_from"].get(str(gv[0]))
    if builtin and gv >= _v(builtin):
        return []
    if gv[0] == 4:
        return ["modversions", "module-init-tools", kmod_package(want)]
    return [kmod_package(want)]


def pv_commands(facts: HostFacts, want: PvWant) -> list[str]:
    """The seed's install commands, as written (``yum install kmod-xenpv*``...)."""
    pkgs = pv_packages(facts, want)
    if not pkgs:
        return []
    major = _v(want.guest_version)[0]
    if major == 5:
        return ["yum install kmod-xenpv*"]
    if major == 4:
        return ["rpm -ivh modversions", "rpm -Uvh module-init-tools", "rpm -ivh kmod-xenpv*"]
    return ["rpm -ivh kmod-xenpv*"]


def modconf_path(guest_version: str) -> str:
    return "/etc/modules.conf" if _v(guest_version)[0] == 3 else "/etc/modprobe.conf"


def modprobe_aliases(n_ifaces: int) -> list[str]:
    return [f"alias eth{i} xen-vnif" for i in range(n_ifaces)]


def rhel3_paths(variant: str, release: str) -> tuple[str, str]:
    """(cp source dir, rc.local insmod line) for RHEL 3 (seed 14.3.2, oracles 18-19)."""
    build = matrix()["xen"]["rhel3_build_kernel"]
    src = f"/lib/modules/{build}{variant}/extra/xenpv/{release}"
    rc = f"insmod /lib/modules/$(uname -r)/extra/xenpv/{release}/xen-vbd.o"
    return src, rc


#: Where kmod-xenpv installs its modules (seed 14.3.1).
INSTALL_DIR_TEMPLATE = "/lib/modules/[%kversion][%kvariant]/extra/xenpv/%release"


def rhel4_vbd_fallback(release: str) -> str:
    """RHEL 4: xen-vbd may not load by itself (seed 14.3.3); load it from weak-updates."""
    return f"insmod /lib/modules/$(uname -r)/weak-updates/xenpv/{release}/xen-vbd.ko"


def network_tool(major: int) -> str:
    return "redhat-config-network" if major == 3 else "system-config-network"


def parse_lsmod(text: str) -> set[str]:
    return {ln.split()[0] for ln in text.splitlines()[0:] if ln.strip()
            and not ln.startswith("Module")}


def pv_loaded(modules: set[str]) -> bool:
    """All four PV modules loaded (lsmod shows underscores)."""
    return {m.replace("-", "_") for m in matrix()["xen"]["modules"]} <= modules


def parse_proc_partitions(text: str) -> dict[str, tuple[int, int]]:
    out = {}
    for ln in text.splitlines():
        f = ln.split()
        if len(f) == 4 and f[0].isdigit() and f[1].isdigit():
            out[f[3]] = (int(f[0]), int(f[1]))
    return out


def insmod_outcome(text: str) -> str:
    """``ok`` | ``ok-with-warnings`` (seed 32.3, harmless) | ``wrong-rpm`` (32.2)."""
    if "unresolved symbol" in text:
        return "wrong-rpm"
    if "loaded, with warnings" in text:
        return "ok-with-warnings"
    return "ok"


def minor(disk_index: int, partition: int) -> int:
    """xvd minor numbers: 16 per disk (seed 14.3.2)."""
    return 16 * disk_index + partition


# ------------------------------------------------------------------ guest plan

def _xen_guest_steps(facts: HostFacts, want: PvWant) -> list[Step]:
    m = matrix()["xen"]
    gv = _v(want.guest_version)
    steps: list[Step] = [Assert(
        ("sh", "-c", f"test \"$(df -Pm /lib | awk 'NR==2 {{print $4}}')\" -ge {m['min_lib_free_mb']}"),
        f"at least {m['min_lib_free_mb']} MB free in /lib (seed 14.1)")]
    pkgs = pv_packages(facts, want)
    if not pkgs:
        steps.append(Manual(f"no driver package needed: RHEL {want.guest_version} carries the "
                            "pv-on-hvm modules in its default kernel (4.7+/5.3+)"))
    elif gv[0] == 5:
        steps.append(Command(("yum", "install", "-y", pkgs[0] + "*"), check=("rpm", "-q", pkgs[0]),
                             why="PV block/net modules for this kernel variant (seed 14.3.4)"))
    elif gv[0] == 4:
        steps += [
            Command(("rpm", "-ivh", "modversions*.rpm"), check=("rpm", "-q", "modversions"),
                    why="seed 14.3.3 step 2, in this order"),
            Command(("rpm", "-Uvh", "module-init-tools*.rpm"),
                    check=("sh", "-c", "rpm -q module-init-tools | grep -q el4_6"),
                    why="kmod-xenpv needs module-init-tools from RHEL 4.6z or later"),
            Command(("rpm", "-ivh", pkgs[-1] + "*.rpm"), check=("rpm", "-q", pkgs[-1])),
        ]
    else:
        steps.append(Command(("rpm", "-ivh", pkgs[0] + "*.rpm"), check=("rpm", "-q", pkgs[0]),
                             why="seed 14.3.2 step 2"))
    if gv[0] == 3:
        variant = parse_kernel_rpm(want.guest_kernel).variant.lower() if want.guest_kernel else ""
        src, rc_line = rhel3_paths(variant, want.pv_release)
        dst = "/lib/modules/$(uname -r)/extra/xenpv"
        steps.append(Command(("sh", "-c", f"mkdir -p {dst} && cp -R {src} {dst}"),
                             check=("sh", "-c", f"test -d {dst}/{want.pv_release}"),
                             why="RHEL 3 has no weak-modules: copy the modules for this kernel"))
        for mod in m["load_order_rhel3"]:
            name = mod.replace("-", "_")
            steps.append(Command(("sh", "-c", f"insmod {dst}/{want.pv_release}/{mod}.o"),
                                 check=("grep", "-q", f"^{name} ", "/proc/modules"),
                                 why="load order: platform-pci first, then balloon"))
        steps.append(FileStep("/etc/rc.local", Lines((LineRule(rc_line),)),
                              why="xen-vbd is not loaded automatically on RHEL 3"))
    else:
        if gv[0] == 4:
            rc_line = (f"grep -q '^xen_vbd ' /proc/modules || "
                       f"{rhel4_vbd_fallback(want.pv_release)}")
            steps.append(FileStep("/etc/rc.local", Lines((LineRule(rc_line),)),
                                  why="xen-vbd may not load by itself on RHEL 4 (seed 14.3.3)"))
        for mod in m["load_order"]:
            steps.append(Command(("modprobe", mod),
                                 check=("grep", "-q", f"^{mod.replace('-', '_')} ", "/proc/modules"),
                                 runtime=True,
                                 why="platform-pci, balloon, vnif, vbd (seed 32.4)"))
    steps.append(FileStep(modconf_path(want.guest_version), Lines(tuple(
        LineRule(a, rf"^\s*alias\s+eth{i}\s") for i, a in enumerate(modprobe_aliases(want.nics)))),
        why="the NICs use the PV network driver (seed 14.4, 31.3)"))
    if gv[0] == 5:
        steps.append(Command(("chkconfig", "kudzu", "off"),
                             check=("sh", "-c", "! chkconfig --list kudzu 2>/dev/null | grep -q :on"),
                             why="kudzu would offer to drop the new NIC at boot (seed 14.3.4)"))
    elif gv[0] == 4:
        steps.append(Manual("on the first reboot kudzu asks about the Realtek device and "
                            "xen-bridge: configure xen-bridge, remove Realtek (seed 14.3.3)"))
    if facts.distro.version_tuple[:2] == (5, 1):
        steps.append(FileStep("/boot/grub/grub.conf", GrubArgs("regular", "kernel", ("noapic",)),
                              why="a RHEL 5.1 dom0 needs noapic in its HVM guests (5.2+ does not)"))
    return steps


def _kvm_guest_steps(facts: HostFacts, want: PvWant) -> list[Step]:
    if want.guest_os == "windows":
        if want.drivers_installed:
            return [Manual("virtio drivers are installed in the guest")]
        return [Manual("install the virtio drivers from the virtio-win CD-ROM inside Windows "
                       "(Device Manager), then reboot; only then switch disks to virtio")]
    gv = _v(want.guest_version)
    steps: list[Step] = [Manual(f"no driver package needed: RHEL {want.guest_version} loads "
                                "virtio drivers by itself (4.8+/5.3+)")]
    if want.virtio_boot_disk and gv[0] < 6:
        img = "/boot/initrd-$(uname -r).img"
        steps.append(Command(
            ("sh", "-c", f"mkinitrd -f --with=virtio_pci --with=virtio_blk {img} $(uname -r)"),
            check=("sh", "-c", f"zcat {img} | cpio -t 2>/dev/null | grep -q virtio_blk"),
            why="the boot disk moves to virtio: the initrd must carry virtio_blk "
                "(mkinitrd --with; not in the seed)"))
    return steps


def plan_paravirt(facts: HostFacts, want: PvWant) -> Plan:
    """Guest-side steps; ``facts`` describe the hypervisor host the guest runs on."""
    validate(facts, want)
    if facts.hypervisor == "xen":
        steps = _xen_guest_steps(facts, want)
    else:
        steps = _kvm_guest_steps(facts, want)
    return Plan(f"paravirt drivers in guest {want.guest_name} ({want.guest_os} "
                f"{want.guest_version} {want.guest_arch}, {facts.hypervisor})", tuple(steps))


# ------------------------------------------------------------------ host plan (xm config)

_ASSIGN = re.compile(r"^(vif|disk)\s*=\s*\[", re.M)


def strip_ioemu(vif: str) -> str:
    """``'type=ioemu, mac=..., bridge=xenbr0'`` -> ``'mac=..., bridge=xenbr0'`` (seed 32.6)."""
    parts = [p.strip() for p in vif.split(",")]
    sep = ", " if ", " in vif else ","
    return sep.join(p for p in parts if p.replace(" ", "") != "type=ioemu")


def pv_disk_entries(existing: list[str], disks: tuple[Disk, ...]) -> list[str]:
    """Keep existing entries; add each new PV disk on the next free ``xvdX`` (seed 14.5.2)."""
    out = list(existing)
    used = {e.split(",")[1].strip() for e in out if e.count(",") >= 2}
    have = {e.split(",")[0].split(":", 2)[-1] for e in out}
    for d in disks:
        if not d.pv or d.path in have:
            continue
        letter = next(c for c in "abcdefghijklmnopqrstuvwxyz" if f"xvd{c}" not in used)
        used.add(f"xvd{letter}")
        prefix = "tap:aio:" if d.backend == "file" else "phy:"
        out.append(f"{prefix}{d.path},xvd{letter},w")
    return out


def _render_list(name: str, items: list[str]) -> str:
    if len(items) == 1:
        return f'{name} = [ "{items[0]}" ]'
    return f'{name} = [ "{items[0]}",\n' + ",\n".join(f'    "{i}"' for i in items[1:]) + " ]"


@dataclass(frozen=True)
class XmConfigEdit:
    """Rewrite ``vif =`` (no ``type=ioemu``) and ``disk =`` (extra PV disks) of /etc/xen/<g>."""

    disks: tuple[Disk, ...] = ()

    def apply(self, text: str | None) -> str | None:
        if text is None:
            raise PlanError("E_NO_XM_CONFIG", "no xm configuration file for this guest")
        out = text
        for m in reversed(list(_ASSIGN.finditer(text))):
            end = _list_end(out, m.end() - 1)
            try:
                items = ast.literal_eval(out[m.end() - 1:end + 1])
            except (ValueError, SyntaxError) as exc:
                raise PlanError("E_BAD_XM_CONFIG", f"{m.group(1)} is not a list of strings") \
                    from exc
            if m.group(1) == "vif":
                new = [strip_ioemu(v) for v in items]
            else:
                new = pv_disk_entries(list(items), self.disks)
            if new != list(items):
                out = out[:m.start()] + _render_list(m.group(1), new) + out[end + 1:]
        return out

    def describe(self) -> str:
        return "vif: drop type=ioemu; disk: add PV disks on xvdX (boot disk stays hda)"


def _list_end(text: str, start: int) -> int:
    depth, quote = 0, None
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i
    raise PlanError("E_BAD_XM_CONFIG", "unterminated list")


def plan_paravirt_host(facts: HostFacts, want: PvWant) -> Plan:
    """Host-side steps for the guest definition (after the guest-side plan succeeded)."""
    validate(facts, want)
    steps: list[Step] = []
    name = want.guest_name
    if facts.hypervisor == "xen":
        steps += [
            Manual(f"shut the guest down: virsh shutdown {name} (seed 14.3.1 step 4)"),
            FileStep(f"/etc/xen/{name}", XmConfigEdit(want.disks),
                     why="PV NIC (netfront) instead of the emulated one; extra disks via "
                         "xen-vbd; the boot disk stays emulated hda (GRUB cannot read PV)"),
            Manual(f"start the guest: virsh start {name}; in the guest: lsmod | grep xen shows "
                   "xen_vbd, xen_vnif, xen_balloon, xen_platform_pci; /proc/partitions has "
                   "major 202"),
        ]
        return Plan(f"paravirt host changes for {name} (xen)", tuple(steps))
    m = matrix()["kvm"]
    if want.guest_os == "windows":
        steps.append(Command(("yum", "install", "-y", m["host_package"]),
                             check=("rpm", "-q", m["host_package"]),
                             why="Windows virtio drivers from the Supplementary channel (seed 15.1)"))
        if want.install_time:
            steps.append(Manual("attach viostor.vfd as a floppy (fda) for the installer; "
                                + ("press F6 for third-party drivers" if want.guest_version == "2003"
                                   else "click Load Driver and choose drive A:")))
        else:
            steps.append(Manual(f"attach {m['virtio_win_iso']} as an IDE cdrom (hdc, readonly) "
                                "BEFORE any device switches to virtio"))
    order = "after the drivers are installed in the guest: " if want.guest_os == "windows" else ""
    for d in want.disks:
        if d.pv and not (want.guest_os == "windows" and d.boot and not want.drivers_installed
                         and not want.install_time):
            steps.append(Manual(f"{order}disk {d.path}: <target bus='virtio'/> instead of ide"
                                + (" (boot disk)" if d.boot else "")))
    for i in range(want.nics):
        steps.append(Manual(f"{order}NIC {i}: <model type='virtio'/>"))
    steps.append(Manual(f"reboot the guest {name}; new virtio devices appear after the restart"))
    return Plan(f"paravirt host changes for {name} (kvm)", tuple(steps))


# ------------------------------------------------------------------ kickstart %post

def _sh_step(step: Step) -> list[str]:
    q = shlex.quote
    if isinstance(step, Manual):
        return [f"# {step.text}"]
    if isinstance(step, Assert):
        return [f"if ! {shlex.join(step.argv)}; then echo {q('precondition failed: ' + step.message)} >&2; fi"]
    if isinstance(step, Command) and step.runtime:
        return [f"# at the first boot the kernel does this: {shlex.join(step.argv)}"]
    if isinstance(step, Command):
        cmd = shlex.join(step.argv) if step.argv[:2] != ("sh", "-c") else step.argv[2]
        if step.check is None:
            return [cmd]
        chk = shlex.join(step.check) if step.check[:2] != ("sh", "-c") else step.check[2]
        return [f"{chk} || {cmd}"] if "||" not in chk and "&&" not in chk else \
            [f"( {chk} ) || {cmd}"]
    if isinstance(step, FileStep):
        edit = step.edit
        if isinstance(edit, Lines):
            out = []
            for rule in edit.rules:
                pat = rule.match or "^" + re.escape(rule.line) + r"\s*$"
                sed_pat = pat.replace("\\s", "[[:space:]]").replace("/", r"\/")
                out.append(f"if grep -Eq {q(sed_pat)} {step.path}; then "
                           f"sed -i -E {q('s/' + sed_pat + '.*/' + rule.line.replace('/', chr(92) + '/') + '/')} "
                           f"{step.path}; else echo {q(rule.line)} >> {step.path}; fi")
            return out
        if isinstance(edit, GrubArgs) and edit.which == "regular" and edit.line == "kernel":
            out = []
            for tok in edit.add:
                out.append(f"sed -i -E '/^[[:space:]]*kernel[[:space:]]+\\/vmlinuz/ "
                           f"{{ / {tok}( |$)/! s/$/ {tok}/ }}' {step.path}")
            return out
        if isinstance(edit, Content):
            return [f"cat > {step.path} <<'PROVISIONER_EOF'", edit.text.rstrip("\n"),
                    "PROVISIONER_EOF"]
    raise PlanError("E_NOT_RENDERABLE", f"cannot render {step.describe()} as %post shell")


def kickstart_post(facts_or_guest_spec: HostFacts | tuple[str, ...], want: PvWant) -> str:
    """The guest-side plan as kickstart ``%post`` text (a pure function).

    ``facts_or_guest_spec`` is the host's HostFacts, or ``(hypervisor, host_version[, arch])``.
    Returns ``%post`` ... ``%end``; every command is guarded by its check so the snippet is
    safe to re-run. The appliance includes the text through profile metadata.
    """
    facts = (host_facts(*facts_or_guest_spec) if isinstance(facts_or_guest_spec, tuple)
             else facts_or_guest_spec)
    plan = plan_paravirt(facts, want)
    lines = ["%post", f"# {plan.title}", "# generated by provisioner-agent (agent.plan.paravirt)"]
    for step in plan.steps:
        if step.why:
            lines.append(f"# {step.why}")
        lines += _sh_step(step)
    lines.append("%end")
    return "\n".join(lines) + "\n"


def add_arguments(p) -> None:
    """CLI options of ``provisioner-agent plan|apply paravirt``."""
    p.add_argument("--guest-os", default="rhel", choices=("rhel", "windows"))
    p.add_argument("--guest-version", required=True)
    p.add_argument("--guest-arch", default="x86_64")
    p.add_argument("--guest-kernel")
    p.add_argument("--guest-name", default="guest")
    p.add_argument("--nics", type=int, default=1)
    p.add_argument("--pv-disk", action="append", default=[], help="extra disk path for PV")
    p.add_argument("--side", choices=("guest", "host"), default="guest")


def build(facts: HostFacts, args) -> Plan:
    want = PvWant(guest_os=args.guest_os, guest_version=args.guest_version,
                  guest_arch=args.guest_arch, guest_kernel=args.guest_kernel,
                  guest_name=args.guest_name, nics=args.nics,
                  disks=tuple(Disk(p) for p in args.pv_disk))
    return (plan_paravirt_host if args.side == "host" else plan_paravirt)(facts, want)
