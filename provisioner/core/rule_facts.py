"""The facts the seed's rules match on: a request's values (and a host) flattened into names.

:func:`facts` turns the plain resolved values of an order or profile (and, when known, the
host's :class:`HostInfo`) into the flat names ``rules.toml`` matches on; the matching itself is
:mod:`provisioner.core.rules`.

``values`` keys (plain resolved values; all optional, unknown keys are ignored):

==================  ===========================================================================
hypervisor          ``kvm`` | ``xen``
virt_type           ``hvm`` | ``pv`` (also ``fv``/``fullvirt``/``paravirt``)
ram_mb, vcpus       guest RAM in MB, vCPU count
disk_gb, disk_bus   size of the main disk; bus ``virtio``/``ide``/``scsi``/``xen``/``sata``
disks               int (number of disks on ``disk_bus``) or list of ``{bus, path, backing}``
                    (``backing``: ``file`` -> counts against Xen's tap:aio limit, or ``phy``);
                    default: one disk on ``disk_bus``
nics                int or list of ``{model}`` (``virtio``, ``e1000``, ``netfront``...); default 1
pci_passthrough     number of VT-d devices (KVM PCI slots)
bridge              bridge name; ``virbr0``/``default``/``network:default`` mean libvirt NAT
install_method      ``url`` (HTTP/FTP/NFS tree; also ``network_tree``), ``pxe``, ``iso``,
                    ``cdrom`` (also ``local_media``); default: ``url`` when tree_url is remote
tree_url            install tree URL (scheme and server checked; PV needs HTTP/FTP/NFS)
os_version, arch    distro OS version (``rhel5.4``) and arch; guest defaults
kickstart           template name; ``kvm-host.ks`` profiles get the KVM host checks
guest_os            ``rhel3|rhel4|rhel5|win2000|win2003|win2003r2|win2003sp2|winxp|vista|
                    win2008|solaris``; default from os_version (``rhel5.4`` -> ``rhel5``)
guest_arch          default ``arch``
host_arch           host arch when no HostInfo is given (also ``host_release``)
disk_path           guest image path (SELinux default directories)
media_path          install ISO/image path (same check)
original_hypervisor the hypervisor the guest was created on (it can never change)
workload_role       e.g. ``database``, ``kdump server``
metadata            a dict; ``workload_role``, ``guest_os`` and ``selinux`` are read from it
==================  ===========================================================================

Malformed inputs (a non-integer ``vcpus``, ``disks`` that is neither a count nor a list...)
raise :class:`provisioner.errors.Invalid` naming the field.

Host-dependent rules (CPU flags, capacity, releases) run only when :class:`HostInfo` (or
``host_arch``/``host_release`` in values) supplies the facts; an unknown fact never fires a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.errors import Invalid
from provisioner.platform.clock import windows_clock_switch
from provisioner.platform.osversion import parse_os_version, release_tuple
from provisioner.platform.tables import libvirt_nat_names, limit, limits, table

NAT_BRIDGES = libvirt_nat_names()
IMAGE_DIRS = ("/var/lib/libvirt/images/", "/var/lib/xen/images/")


@dataclass(frozen=True)
class HostInfo:
    """What a host agent reports; ``None`` means unknown (rules needing it stay silent)."""

    arch: str = "x86_64"
    release: str | None = None  # host RHEL release, e.g. "5.4"
    cores: int | None = None  # physical cores
    threads: int | None = None  # logical CPUs incl. hyper-threads
    ram_mb: int | None = None
    free_disk_gb: float | None = None
    cpu_flags: frozenset[str] | None = None  # /proc/cpuinfo flags
    running_xen: bool | None = None  # running kernel-xen
    hypervisors: tuple[str, ...] | None = None  # installed: ("kvm",), ("xen",)...
    used_vcpus: int = 0  # by the guests already on the host
    used_ram_mb: int = 0
    tap_aio_disks: int = 0
    emulated_ide: int = 0
    loop_devices: int | None = None  # default 8 (limits.toml)
    vendor: str | None = None  # /proc/cpuinfo vendor_id: GenuineIntel, AuthenticAMD



def data_release(text: str) -> tuple[int, ...]:
    """A release written in a data file (``"5.4"``); malformed data is a bug, not an input."""
    numbers = release_tuple(text)
    if numbers is None:
        raise ValueError(f"bad release {text!r} in the seed's tables")
    return numbers


def _os_parts(os_version: str | None) -> tuple[str, str | None]:
    """``rhel5.4`` -> ``("rhel", "5.4")``; ``rhel5`` -> ``("rhel", "5")``;
    junk -> ``("", None)``."""
    v = parse_os_version(os_version)
    return ("", None) if v is None else (v.family, v.release)



# ---- facts --------------------------------------------------------------------------------

_VIRT = {"hvm": "hvm", "fv": "hvm", "fullvirt": "hvm", "full": "hvm", "pv": "pv",
         "paravirt": "pv", "para": "pv"}
_METHOD = {"url": "url", "network_tree": "url", "http": "url", "https": "url", "ftp": "url",
           "nfs": "url", "location": "url", "pxe": "pxe", "iso": "iso", "local_media": "iso",
           "cdrom": "cdrom", "dvd": "cdrom"}
_MAX_DEVICES = 4096  # far above every limit of the seed; bounds the work a request can cause
_WINDOWS = ("win2000", "win2003", "win2003r2", "win2003sp2", "winxp", "vista", "win2008")


def _number(values: Mapping[str, Any], key: str) -> int | None:
    """An optional non-negative integer input; anything else is rejected, not guessed."""
    v = values.get(key)
    if v is None:
        return None
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    raise Invalid(f"{key} must be a non-negative integer, not {v!r}", field=key)


def _items(values: Mapping[str, Any], key: str, attr: str, default: Any) -> list[dict[str, Any]]:
    """``disks``/``nics``: a count (of ``default``) or a list of dicts (or of ``attr`` strings)."""
    raw = values.get(key)
    if raw is None:
        raw = 1
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 0 <= raw <= _MAX_DEVICES:
            raise Invalid(f"{key} must be between 0 and {_MAX_DEVICES}", field=key)
        return [{attr: default} for _ in range(raw)]
    if isinstance(raw, list | tuple):
        if len(raw) > _MAX_DEVICES:
            raise Invalid(f"{key}: at most {_MAX_DEVICES} entries", field=key)
        out = []
        for item in raw:
            if isinstance(item, Mapping):
                out.append({attr: default, **item})
            elif isinstance(item, str):
                out.append({attr: item})
            else:
                raise Invalid(f"{key} entries must be objects or strings, not {item!r}", field=key)
        return out
    raise Invalid(f"{key} must be a count or a list, not {raw!r}", field=key)


def _disk_list(values: Mapping[str, Any], hypervisor: str | None) -> list[dict[str, Any]]:
    default_bus = values.get("disk_bus") or ("virtio" if hypervisor == "kvm" else None)
    return _items(values, "disks", "bus", default_bus)


def _nic_list(values: Mapping[str, Any], hypervisor: str | None) -> list[dict[str, Any]]:
    default_model = {"kvm": "virtio", "xen": "netfront"}.get(hypervisor or "", None)
    return _items(values, "nics", "model", default_model)


def _host_core_limit(hypervisor: str | None, host_arch: str | None,
                     release: str | None) -> int | None:
    if hypervisor == "kvm":
        kvm_cores: int = limit("kvm.max_cores")
        return kvm_cores
    if hypervisor != "xen" or host_arch is None:
        return None
    if host_arch == "x86_64":
        by_release: dict[str, int] = limit("xen.max_cores_x86_64")
        ver = release_tuple(release)
        if ver is None or len(ver) < 2:
            return None
        fitting = [v for k, v in by_release.items() if data_release(k) <= ver]
        return fitting[-1] if fitting else None
    xen_cores: int | None = limit("xen.max_cores").get(host_arch)
    return xen_cores


def facts(values: Mapping[str, Any], host: HostInfo | None = None) -> dict[str, Any]:
    """Flatten values and host facts into the names rules.toml matches on.

    Besides the input keys: ``guest_os``, ``guest_family`` (rhel/windows/solaris),
    ``windows_clock_switch`` (the boot.ini switch of clock.toml for XP/2003, else None),
    ``guest_release``, ``os_family``, ``os_release``, ``tree_scheme``, ``tree_has_host``,
    ``install_method``
    (normalised), ``bridge_is_nat``, ``bridge_set``, device counts (``n_disks``, ``n_ide``,
    ``n_scsi``, ``n_virtio_disks``, ``n_nics``, ``n_virtio_nics``, ``n_pv_devices``,
    ``n_file_disks``, ``kvm_pci_used``, ``uses_virtio``), ``guest_virtio_min``, ``selinux``
    (from metadata), ``disk_path_default``, ``guest_arch_fits_host`` and the
    host facts (``host_*``, ``total_vcpus``, ``kvm_vcpu_limit``, ``xen_ram_needed``,
    ``host_ide_total``, ``host_tap_aio_total``, ``host_core_limit``, ``hypervisor_installed``).
    """
    metadata = values.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise Invalid("metadata must be an object", field="metadata")
    f: dict[str, Any] = {k: v for k, v in values.items() if k != "metadata"}
    for key in ("ram_mb", "vcpus", "disk_gb", "pci_passthrough"):
        f[key] = _number(values, key)
    f["hypervisor"] = values.get("hypervisor")
    f["virt_type"] = _VIRT.get(str(values.get("virt_type") or "").lower())
    f.update(_guest_facts(values, metadata))
    f.update(_install_facts(values))
    f.update(_device_facts(values, f))
    f.update(_host_facts(values, host, f))
    return f


def _guest_facts(values: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The guest OS, its family and release, arch, SELinux and workload from values/metadata."""
    f: dict[str, Any] = {}
    os_family, os_release = _os_parts(values.get("os_version"))
    f["os_family"], f["os_release"] = os_family, os_release
    guest_os = values.get("guest_os") or metadata.get("guest_os")
    if not guest_os and os_family == "rhel" and os_release:
        guest_os = f"rhel{os_release.split('.')[0]}"
    f["guest_os"] = guest_os
    f["guest_release"] = os_release if guest_os and guest_os.startswith(os_family or "-") else None
    f["guest_family"] = ("windows" if guest_os in _WINDOWS else
                         "rhel" if guest_os and guest_os.startswith("rhel") else guest_os)
    f["guest_arch"] = values.get("guest_arch") or values.get("arch")
    f["windows_clock_switch"] = windows_clock_switch(guest_os)
    f["guest_virtio_min"] = limits()["kvm"]["virtio_min_guest_release"].get(guest_os or "")
    f["selinux"] = str(metadata["selinux"]).lower() if metadata.get("selinux") else None
    for key in ("disk_path", "media_path"):
        path = values.get(key)
        f[f"{key}_default"] = (None if not path else
                               any(str(path).startswith(p) for p in IMAGE_DIRS))
    role = values.get("workload_role") or metadata.get("workload_role") or ""
    f["workload_role"] = str(role).lower() or None
    return f


def _install_facts(values: Mapping[str, Any]) -> dict[str, Any]:
    """The install tree's scheme and server, the install method, and the bridge."""
    f: dict[str, Any] = {}
    tree = values.get("tree_url") or ""
    scheme = ("file" if tree.startswith("/") else tree.split(":", 1)[0].lower()
              if ":" in tree else None) if tree else None
    f["tree_scheme"] = scheme
    if scheme in ("http", "https", "ftp", "nfs"):
        rest = tree.split(":", 1)[1]
        server = rest[2:].split("/", 1)[0] if rest.startswith("//") else rest.split(":", 1)[0]
        f["tree_has_host"] = bool(server)
    else:
        f["tree_has_host"] = None
    method = values.get("install_method")
    if method:
        f["install_method"] = _METHOD.get(str(method).lower(), str(method).lower())
    elif scheme in ("http", "https", "ftp", "nfs"):
        f["install_method"] = "url"
    elif scheme:
        f["install_method"] = "iso" if tree.endswith(".iso") else "local"
    else:
        f["install_method"] = None
    bridge = values.get("bridge")
    f["bridge_is_nat"] = bool(bridge) and str(bridge) in NAT_BRIDGES
    f["bridge_set"] = bool(bridge)
    return f


def _device_facts(values: Mapping[str, Any], g: Mapping[str, Any]) -> dict[str, Any]:
    """Device counts per bus/model (``g``: the facts so far, for hypervisor and virt type)."""
    f: dict[str, Any] = {}
    disks = _disk_list(values, g["hypervisor"])
    nics = _nic_list(values, g["hypervisor"])
    buses = [d.get("bus") for d in disks]
    f["n_disks"] = len(disks)
    f["n_ide"] = buses.count("ide")
    f["n_scsi"] = buses.count("scsi")
    f["n_virtio_disks"] = buses.count("virtio")
    f["n_nics"] = len(nics)
    f["n_virtio_nics"] = sum(1 for n in nics if n.get("model") == "virtio")
    f["n_pci_passthrough"] = g["pci_passthrough"] or 0
    f["kvm_pci_used"] = f["n_virtio_disks"] + f["n_virtio_nics"] + f["n_pci_passthrough"]
    f["uses_virtio"] = bool(f["n_virtio_disks"] or f["n_virtio_nics"])
    pv = g["virt_type"] == "pv"
    f["n_pv_devices"] = (len(disks) if pv else buses.count("xen")) + (len(nics) if pv else 0)
    f["n_file_disks"] = sum(1 for d in disks if d.get("backing", "file") == "file")
    return f


_HOST_KEYS = ("host_cores", "host_threads", "host_ram_mb", "host_free_disk_gb", "host_has_vt",
              "host_has_pae", "host_has_lm", "host_running_xen", "hypervisor_installed",
              "host_has_both_hypervisors", "total_vcpus", "kvm_vcpu_limit", "xen_ram_needed",
              "host_ide_total", "host_tap_aio_total", "host_loop_devices", "host_core_limit")


def _host_facts(values: Mapping[str, Any], host: HostInfo | None,
                g: Mapping[str, Any]) -> dict[str, Any]:
    """Host arch/release (from ``host`` or values), and with a host its capacity and totals."""
    host_arch = host.arch if host is not None else values.get("host_arch")
    release = host.release if host is not None else values.get("host_release")
    f: dict[str, Any] = {"host_arch": host_arch, "host_release": release}
    compat = table("support")["arch_compat"]
    ga = g["guest_arch"]
    f["guest_arch_fits_host"] = (None if not host_arch or not ga or host_arch not in compat
                                 else ga in compat[host_arch])
    f.update(dict.fromkeys(_HOST_KEYS))
    if host is not None:
        f.update(_capacity_facts(host, g))
        f["host_core_limit"] = _host_core_limit(g["hypervisor"], host_arch, release)
    return f


def _capacity_facts(host: HostInfo, g: Mapping[str, Any]) -> dict[str, Any]:
    lim = limits()
    hypervisor = g["hypervisor"]
    flags = host.cpu_flags
    f: dict[str, Any] = {"host_cores": host.cores, "host_threads": host.threads or host.cores,
                         "host_ram_mb": host.ram_mb, "host_free_disk_gb": host.free_disk_gb,
                         "host_running_xen": host.running_xen}
    if flags is not None:
        f["host_has_vt"] = host.arch == "ia64" or bool({"vmx", "svm"} & flags)
        f["host_has_pae"] = "pae" in flags
        f["host_has_lm"] = "lm" in flags
    if host.hypervisors is not None:
        f["host_has_both_hypervisors"] = {"kvm", "xen"} <= set(host.hypervisors)
        if hypervisor:
            f["hypervisor_installed"] = hypervisor in host.hypervisors
    f["total_vcpus"] = host.used_vcpus + (g["vcpus"] or 1)
    if host.cores:
        f["kvm_vcpu_limit"] = lim["kvm"]["max_vcpu_per_core"] * host.cores
    if host.ram_mb is not None:
        f["xen_ram_needed"] = (lim["host"]["reserved_ram_mb"] + host.used_ram_mb
                               + (g["ram_mb"] or 0))
    f["host_ide_total"] = host.emulated_ide + g["n_ide"]
    f["host_tap_aio_total"] = host.tap_aio_disks + g["n_file_disks"]
    f["host_loop_devices"] = host.loop_devices or lim["xen"]["default_loop_devices"]
    return f
