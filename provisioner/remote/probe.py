"""What a host is, asked over libvirt (no shell on it): capabilities, domain capabilities,
memory, storage pools, networks and bridges. The result is a JSON-able dict stored as the
host's facts; :func:`capacity` turns it into what the scheduler reads for any host.

The parsers are pure (XML text in, values out); :func:`probe` is the thin part that asks one
connection. ``cpu_flags`` is the host CPU's full feature list (libvirt lists only the features
beyond the named model; ``baselineHypervisorCPU`` with ``EXPAND_FEATURES`` spells them all out,
``nx`` included, which the seed's same-NX-setting rule needs).
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from typing import Any

import libvirt

from provisioner.remote.libvirt_conn import version_tuple

IMAGE_DIR = "/var/lib/libvirt/images"


def parse_caps(xml: str) -> dict[str, Any]:
    root = ET.fromstring(xml)
    host = root.find("host")
    cpu = host.find("cpu") if host is not None else None
    topo = cpu.find("topology") if cpu is not None else None
    guests: dict[str, set[str]] = {}
    machines: set[str] = set()
    for g in root.findall("guest"):
        arch = g.find("arch")
        if arch is None:
            continue
        for m in arch.findall("machine"):
            machines.add(m.text or "")
            if m.get("canonical"):
                machines.add(m.get("canonical") or "")
        for d in arch.findall("domain"):
            guests.setdefault(arch.get("name") or "", set()).add(d.get("type") or "")
    return {
        "uuid": host.findtext("uuid") if host is not None else None,
        "arch": cpu.findtext("arch") if cpu is not None else None,
        "cpu_vendor": cpu.findtext("vendor") if cpu is not None else None,
        "cpu_model": cpu.findtext("model") if cpu is not None else None,
        "cpu_xml": ET.tostring(cpu, encoding="unicode") if cpu is not None else None,
        "cores": int(topo.get("cores", 0)) * int(topo.get("sockets", 1)) if topo is not None
        else None,
        "domain_types": sorted({t for ts in guests.values() for t in ts}),
        "guest_arches": sorted(guests),
        "machines": sorted(m for m in machines if m),
    }


def parse_features(cpu_xml: str) -> list[str]:
    root = ET.fromstring(cpu_xml)
    return sorted(f.get("name") or "" for f in root.findall("feature")
                  if f.get("policy", "require") in ("require", "force"))


def parse_pool(xml: str) -> dict[str, Any]:
    root = ET.fromstring(xml)

    def num(tag: str) -> int:
        return int(root.findtext(tag) or 0)

    def attr(path: str, name: str) -> str | None:
        el = root.find(path)
        return None if el is None else el.get(name)

    return {"name": root.findtext("name"), "type": root.get("type"),
            "path": root.findtext("target/path"), "capacity": num("capacity"),
            "allocation": num("allocation"), "available": num("available"),
            "source_host": attr("source/host", "name"), "source_dir": attr("source/dir", "path")}


def parse_interface(xml: str) -> dict[str, Any]:
    root = ET.fromstring(xml)
    return {"name": root.get("name"), "type": root.get("type"),
            "ports": [i.get("name") for i in root.findall("bridge/interface")]}


def _each(items: Any, fn: Any) -> list[Any]:
    out = []
    for item in items:
        with contextlib.suppress(libvirt.libvirtError):
            out.append(fn(item))
    return out


def probe(conn: Any) -> dict[str, Any]:
    """Everything the appliance keeps about a host; one round of libvirt calls."""
    caps = parse_caps(conn.getCapabilities())
    info = conn.getInfo()  # [arch, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
    flags: list[str] = []
    if caps["cpu_xml"]:
        with contextlib.suppress(libvirt.libvirtError, AttributeError):
            flags = parse_features(conn.baselineHypervisorCPU(
                None, caps["arch"], None, None, [caps["cpu_xml"]],
                libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES))
    pools = _each(conn.listAllStoragePools(0), lambda p: {
        **parse_pool(p.XMLDesc(0)), "active": bool(p.isActive())})
    nets = _each(conn.listAllNetworks(0), lambda n: {
        "name": n.name(), "bridge": n.bridgeName(), "active": bool(n.isActive())})
    ifaces = _each(conn.listAllInterfaces(0), lambda i: parse_interface(i.XMLDesc(0)))
    bridges = sorted({i["name"] for i in ifaces if i["type"] == "bridge"}
                     | {n["bridge"] for n in nets if n["bridge"]})
    hv = conn.getType()
    return {
        "hostname": conn.getHostname(),
        "libvirt_version": ".".join(map(str, version_tuple(conn.getLibVersion()))),
        "hypervisor_type": hv,
        "hypervisor": "xen" if hv.lower() == "xen" else "kvm",
        "hypervisor_version": ".".join(map(str, version_tuple(conn.getVersion()))),
        "uuid": caps["uuid"], "arch": caps["arch"],
        "cpu": {"vendor": caps["cpu_vendor"], "model": caps["cpu_model"],
                "threads": int(info[2]), "cores": caps["cores"] or int(info[2])},
        "cpu_flags": flags, "cpu_xml": caps["cpu_xml"],
        "mem_kib": int(info[1]) * 1024, "free_mem_bytes": int(conn.getFreeMemory()),
        "domain_types": caps["domain_types"], "machines": caps["machines"],
        "pools": pools, "networks": nets, "bridges": bridges,
    }


def image_pool(facts: dict[str, Any]) -> dict[str, Any] | None:
    """The pool guests' disks go to: the one at the image directory, else ``default``."""
    pools = [p for p in facts.get("pools") or () if p.get("active")]
    return (next((p for p in pools if p.get("path") == IMAGE_DIR), None)
            or next((p for p in pools if p.get("name") == "default"), None))


def capacity(facts: dict[str, Any]) -> dict[str, Any]:
    """The scheduler's view of a probed host (the same keys an agent reports)."""
    pool = image_pool(facts)
    cpu = facts.get("cpu") or {}
    return {"vcpus": cpu.get("threads"), "cores": cpu.get("cores"),
            "threads": cpu.get("threads"), "ram_mb": int(facts.get("mem_kib") or 0) // 1024,
            "disk_free_gb": pool["available"] / 2**30 if pool else None,
            "bridges": list(facts.get("bridges") or ()),
            "domain_types": list(facts.get("domain_types") or ()),
            "hypervisor": facts.get("hypervisor"), "arch": facts.get("arch") or "x86_64"}
