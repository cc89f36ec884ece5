"""The fact predicates the catalogue's rows name (``check = "..."``): each reads the facts and
returns one details dict per finding (``evidence`` says what was seen), or nothing. Pure."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.facts.health import Health
from agent.facts.model import HostFacts
from agent.plan.paravirt.seedtext import parse_proc_partitions
from agent.xen.specs import SpecError, parse_disk, parse_vif
from agent.xen.sxp import SxpError, parse_xend, settings_dict
from agent.xen.xmcfg import XenCfgError, parse_xmcfg
from provisioner.platform.tables import limit, pv_matrix, table
from provisioner.platform.xend import effective, relocation_open

Details = dict[str, str]
IMAGE_DIRS = ("/var/lib/libvirt/images/", "/var/lib/xen/images/")


@dataclass
class Context:
    facts: HostFacts
    health: Health
    guests: dict[str, dict[str, object]] = field(default_factory=dict)   # parsed guest files
    guest_errors: dict[str, XenCfgError] = field(default_factory=dict)

    @classmethod
    def build(cls, facts: HostFacts, health: Health) -> Context:
        ctx = cls(facts, health)
        for path, text in health.guest_files.items():
            try:
                ctx.guests[posixpath.basename(path)] = parse_xmcfg(text, path).values
            except XenCfgError as exc:
                ctx.guest_errors[posixpath.basename(path)] = exc
        return ctx


def xend_down(c: Context) -> list[Details]:
    if c.facts.kernel.is_xen and c.health.running.get("xend") is False:
        return [{"evidence": f"kernel {c.facts.kernel.release} is kernel-xen; no xend process"}]
    return []


def xen_not_booted(c: Context) -> list[Details]:
    k = c.facts.kernel
    if c.health.xen_installed and k.release and not k.is_xen and "kvm" not in k.kvm_modules:
        return [{"evidence": f"xen is installed but the running kernel is {k.release}"}]
    return []


def default_kernel_not_xen(c: Context) -> list[Details]:
    dk = c.health.default_kernel
    if c.facts.kernel.is_xen and dk and dk != "kernel-xen":
        return [{"default_kernel": dk, "evidence": f"/etc/sysconfig/kernel: DEFAULTKERNEL={dk}"}]
    return []


def hosts_no_localhost(c: Context) -> list[Details]:
    text = c.health.hosts
    if text is None or re.search(r"(?m)^\s*127\.0\.0\.1\s+(\S+\s+)*localhost(\s|$)", text):
        return []
    return [{"evidence": "/etc/hosts has no line mapping 127.0.0.1 to localhost"}]


def _host_bridges(c: Context) -> set[str] | None:
    names = {b.name for b in c.facts.network.bridges}
    if c.health.sysfs_bridges is not None:
        names |= set(c.health.sysfs_bridges)
    return names if names or c.health.sysfs_bridges is not None or c.facts.network.nics else None


def _xml_bridges(text: str) -> tuple[str, list[str]]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return "", []
    return (root.findtext("name") or "", [s.get("bridge", "") for s in root.findall(
        "devices/interface[@type='bridge']/source") if s.get("bridge")])


def guest_bridge_missing(c: Context) -> list[Details]:
    have = _host_bridges(c)
    if have is None:
        return []
    wanted: list[tuple[str, str]] = []
    for name, values in c.guests.items():
        for vif in values.get("vif", []):  # type: ignore[attr-defined]
            bridge = parse_vif(str(vif)).get("bridge")
            if bridge:
                wanted.append((name, bridge))
    for text in c.health.libvirt_domains.values():
        name, bridges = _xml_bridges(text)
        wanted += [(name, b) for b in bridges]
    return [{"guest": g, "bridge": b, "evidence": f"guest {g} uses bridge {b}; this host has "
             + (", ".join(sorted(have)) or "no bridges")} for g, b in wanted if b not in have]


def guest_file_invalid(c: Context) -> list[Details]:
    return [{"guest": g, "line": str(e.line), "evidence": str(e)}
            for g, e in sorted(c.guest_errors.items())]


def loop_devices(c: Context) -> list[Details]:
    n = 0
    for values in c.guests.values():
        for d in values.get("disk", []):  # type: ignore[attr-defined]
            try:
                n += parse_disk(str(d)).kind == "file"
            except SpecError:
                continue
    if n > 8 and "max_loop=" not in (c.health.modprobe or ""):
        return [{"file_disks": str(n), "evidence": f"{n} file: disks in /etc/xen guests; "
                 "/etc/modprobe.conf sets no max_loop"}]
    return []


def pv_nic_alias_missing(c: Context) -> list[Details]:
    if c.facts.kernel.xen_role != "domU":
        return []
    text = c.health.modprobe or ""
    return [{"nic": n.name, "evidence": f"PV guest; no 'alias {n.name} xen-vnif'"}
            for n in c.facts.network.nics if n.name.startswith("eth")
            and not re.search(rf"(?m)^\s*alias\s+{n.name}\s+xen-vnif\b", text)]


def pv_drivers_loaded(c: Context) -> list[Details]:
    mods = c.health.modules or ()
    if "xen_vnif" in mods and "xen_platform_pci" in mods:
        return [{"evidence": "xen_vnif and xen_platform_pci are loaded (a fully virtualized "
                 "guest with PV drivers)"}]
    return []


def pv_drivers_partial(c: Context) -> list[Details]:
    """E17 / T42: a fully virtualized guest with xen-platform-pci loaded but not every PV
    module; /proc/partitions (T29) says which xvd (major 202) disks the guest sees."""
    mods = set(c.health.modules or ())
    if "xen_platform_pci" not in mods:
        return []
    order = list(pv_matrix()["xen"]["load_order"])
    missing = [m for m in order if m.replace("-", "_") not in mods]
    if not missing:
        return []
    xvd = sorted(n for n, (major, _) in parse_proc_partitions(c.health.partitions or "").items()
                 if major == 202)
    return [{"missing": ", ".join(missing), "order": ", ".join(order),
             "load_args": " ".join(f"--load {m.replace('-', '_')}" for m in missing),
             "evidence": f"/proc/modules: xen_platform_pci loaded, {', '.join(missing)} not; "
                         f"/proc/partitions: {', '.join(xvd) or 'no'} xvd (major 202) devices"}]


def kvm_rtl8139(c: Context) -> list[Details]:
    out = []
    for path, text in c.health.libvirt_domains.items():
        if re.search(r"<model\s+type=['\"]rtl8139['\"]", text):
            name = _xml_bridges(text)[0] or posixpath.basename(path)
            out.append({"guest": name, "evidence": f"{path}: <model type='rtl8139'/>"})
    return out


def _no_vt(c: Context) -> bool:
    cpu = c.facts.cpu
    return bool(cpu.flags) and cpu.virt_extension is None and not c.facts.kernel.is_xen


def no_virt_extensions(c: Context) -> list[Details]:
    if _no_vt(c) and "hypervisor" not in c.facts.cpu.flags:
        return [{"evidence": "no vmx or svm in the /proc/cpuinfo flags"}]
    return []


def nested_virt_off(c: Context) -> list[Details]:
    """A virtual machine (the CPU's ``hypervisor`` flag) whose CPU shows no VT: the BIOS
    advice does not apply, the outer hypervisor has to pass VT through."""
    if _no_vt(c) and "hypervisor" in c.facts.cpu.flags:
        return [{"evidence": "'hypervisor' in the /proc/cpuinfo flags; no vmx or svm"}]
    return []


def kvm_modules_missing(c: Context) -> list[Details]:
    ext, k = c.facts.cpu.virt_extension, c.facts.kernel
    if ext is None or k.is_xen or not c.health.libvirt_installed or "kvm" in k.kvm_modules:
        return []
    module = "kvm_intel" if ext == "vmx" else "kvm_amd"
    return [{"extension": ext, "module": module,
             "evidence": f"{ext} in /proc/cpuinfo; kvm and {module} not in /proc/modules"}]


def vt_disabled(c: Context) -> list[Details]:
    """Seed 31.12: the CPU shows vmx/svm, kvm is loaded but its vendor module is not (it
    refuses to load when the BIOS keeps VT off: "kvm: disabled by bios")."""
    ext, k = c.facts.cpu.virt_extension, c.facts.kernel
    module = {"vmx": "kvm_intel", "svm": "kvm_amd"}.get(ext or "")
    if module and not k.is_xen and "kvm" in k.kvm_modules and module not in k.kvm_modules:
        return [{"evidence": f"{ext} in /proc/cpuinfo, kvm loaded, {module} not"}]
    return []


def libvirtd_down(c: Context) -> list[Details]:
    if c.health.libvirt_installed and c.health.running.get("libvirtd") is False:
        return [{"evidence": "libvirt is installed; no libvirtd (or virtqemud) process"}]
    return []


def selinux_image_label(c: Context) -> list[Details]:
    if c.health.selinux != "enforcing":
        return []
    return [{"path": p, "label": label or "unknown", "directory": posixpath.dirname(p),
             "evidence": f"{p}: SELinux type {label or 'unknown'}"}
            for p, label in c.health.labels.items()
            if label != "virt_image_t" and not p.startswith(IMAGE_DIRS)
            and not p.startswith("/dev/")]


def disk_space(c: Context) -> list[Details]:
    free, need = c.facts.image_dir_free_bytes, int(limit("host.min_free_disk_gb"))
    if free is None or free >= need * 2**30:
        return []
    gib = f"{free / 2**30:.1f}"
    return [{"free_gib": gib, "min_gib": str(need), "image_dir": c.facts.image_dir,
             "evidence": f"{gib} GiB free in {c.facts.image_dir}"}]


def xend_settings(c: Context) -> tuple[dict[str, str] | None, SxpError | None]:
    if c.facts.xend_config is None:
        return None, None
    try:
        return settings_dict(parse_xend(c.facts.xend_config)), None
    except SxpError as exc:
        return None, exc


def relocation_open_check(c: Context) -> list[Details]:
    settings, _ = xend_settings(c)
    if settings is None or not relocation_open(settings):
        return []
    port = effective(settings)["xend-relocation-port"]
    return [{"port": port, "evidence": "(xend-relocation-server yes), "
             "(xend-relocation-hosts-allow '')"}]


def xend_config_invalid(c: Context) -> list[Details]:
    _, error = xend_settings(c)
    return [{"error": str(error), "evidence": str(error)}] if error else []


def exports_forbidden(c: Context) -> list[Details]:
    """D1 §7.1: /var/lib/xen exported over NFS (the migration pre-flight's same list)."""
    out = []
    for n, line in enumerate((c.health.exports or "").splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        path = words[0].rstrip("/") or "/"
        for bad in table("remote")["migration"]["forbidden_export_dirs"]:
            if path in (bad, "/") or path.startswith(bad + "/") or bad.startswith(path + "/"):
                out.append({"path": path, "evidence": f"/etc/exports:{n}: {line.strip()}"})
    return out


def vnc_open(c: Context) -> list[Details]:
    """D2 §8: guests' VNC consoles listen on loopback only (reach them over SSH or TLS)."""
    settings, _ = xend_settings(c)
    if settings is None:
        return []
    eff = effective(settings)
    listen = eff["vnc-listen"]
    if listen in ("127.0.0.1", "localhost", "::1") or eff["vnc-tls"] == "1":
        return []
    return [{"listen": listen, "evidence": f"(vnc-listen '{listen}'), (vnc-tls 0)"}]


def ntpd_down(c: Context) -> list[Details]:
    if c.health.running.get("ntpd") is False:
        return [{"evidence": "no ntpd (or chronyd) process"}]
    return []


def tsc_cstates(c: Context) -> list[Details]:
    cpu, k = c.facts.cpu, c.facts.kernel
    if "kvm" in k.kvm_modules and cpu.flags and not cpu.constant_tsc \
            and "processor.max_cstate=1" not in k.cmdline.split():
        return [{"evidence": "no constant_tsc flag; kernel line without processor.max_cstate=1"}]
    return []


#: the catalogue's check names -> predicates
CHECKS: dict[str, Callable[[Context], list[Details]]] = {
    "xend_down": xend_down, "xen_not_booted": xen_not_booted,
    "default_kernel_not_xen": default_kernel_not_xen, "hosts_no_localhost": hosts_no_localhost,
    "guest_bridge_missing": guest_bridge_missing, "guest_file_invalid": guest_file_invalid,
    "loop_devices": loop_devices, "pv_nic_alias_missing": pv_nic_alias_missing,
    "pv_drivers_loaded": pv_drivers_loaded, "pv_drivers_partial": pv_drivers_partial,
    "kvm_rtl8139": kvm_rtl8139,
    "no_virt_extensions": no_virt_extensions, "nested_virt_off": nested_virt_off,
    "kvm_modules_missing": kvm_modules_missing,
    "libvirtd_down": libvirtd_down, "vt_disabled": vt_disabled,
    "selinux_image_label": selinux_image_label,
    "disk_space": disk_space, "relocation_open": relocation_open_check,
    "xend_config_invalid": xend_config_invalid, "ntpd_down": ntpd_down,
    "exports_forbidden": exports_forbidden, "vnc_open": vnc_open,
    "tsc_cstates": tsc_cstates,
}
