"""HostFacts of a host seen only through a libvirt connection: capabilities, node info,
interfaces and storage pools. The parsing is pure (XML in, values out); :func:`probe_libvirt`
asks the connection (a ``virConnect``; no libvirt import here: only its methods are called).

What libvirt cannot tell stays at its default: the distro, the boot loader, routes and the
kernel command line (no planner runs against an agentless host; the guest model needs none).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from agent.facts.model import Bridge, Cpu, HostFacts, Kernel, Network, Nic

#: libvirt's vendor names -> /proc/cpuinfo's vendor_id (what the agent's facts carry)
VENDORS = {"Intel": "GenuineIntel", "AMD": "AuthenticAMD"}
EXPAND_FEATURES = 1  # VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES


def cpu_from_caps(caps_xml: str, threads: int, features: list[str]) -> tuple[Cpu, str]:
    """(Cpu, arch) from the capabilities' host CPU; ``features`` is the expanded list."""
    cpu = ET.fromstring(caps_xml).find("host/cpu")
    if cpu is None:
        return Cpu(threads=threads), ""
    topo = cpu.find("topology")
    sockets = int(topo.get("sockets", 1)) if topo is not None else 1
    cores = sockets * int(topo.get("cores", 1)) if topo is not None else threads
    flags = sorted(set(features) | {f.get("name") or "" for f in cpu.findall("feature")})
    vendor = cpu.findtext("vendor") or ""
    return (Cpu(vendor=VENDORS.get(vendor, vendor), model_name=cpu.findtext("model") or "",
                sockets=sockets, cores=cores, threads=threads,
                flags=tuple(f for f in flags if f)), cpu.findtext("arch") or "")


def network_from_interfaces(xmls: list[str]) -> Network:
    nics, bridges = [], []
    for text in xmls:
        root = ET.fromstring(text)
        name = root.get("name") or ""
        kind = root.get("type") or ""
        if kind == "bridge":
            ports = tuple(i.get("name") or "" for i in root.findall("bridge/interface"))
            br = root.find("bridge")
            bridges.append(Bridge(name, ports, stp=br is not None and br.get("stp") == "on"))
            nics += [Nic(p, master=name, up=True) for p in ports]
        mac = root.find("mac")
        nics.append(Nic(name, mac=mac.get("address", "") if mac is not None else "",
                        kind="bridge" if kind == "bridge" else "", up=True))
    return Network(nics=tuple(nics), bridges=tuple(bridges))


def pool_free(pool_xmls: list[str], path: str) -> int | None:
    for text in pool_xmls:
        root = ET.fromstring(text)
        if (root.findtext("target/path") or "").rstrip("/") == path.rstrip("/"):
            return int(root.findtext("available") or 0)
    return None


def probe_libvirt(conn: Any, image_dir: str) -> HostFacts:
    caps = conn.getCapabilities()
    info = conn.getInfo()
    cpu_el = ET.fromstring(caps).find("host/cpu")
    features: list[str] = []
    if cpu_el is not None:
        try:
            expanded = conn.baselineHypervisorCPU(None, cpu_el.findtext("arch"), None, None,
                                                  [ET.tostring(cpu_el, encoding="unicode")],
                                                  EXPAND_FEATURES)
            features = [f.get("name") or "" for f in ET.fromstring(expanded).findall("feature")
                        if f.get("policy", "require") == "require"]
        except Exception:  # noqa: BLE001 - older libvirt: the listed features will do
            features = []
    cpu, arch = cpu_from_caps(caps, int(info[2]), features)
    domain_types = {d.get("type") for d in ET.fromstring(caps).findall("guest/arch/domain")}
    hv_type = conn.getType().lower()
    kernel = Kernel(arch=arch, is_xen=hv_type == "xen",
                    kvm_modules=("kvm",) if hv_type == "qemu" and domain_types else ())
    ifaces = [i.XMLDesc(0) for i in conn.listAllInterfaces(0)]
    pools = [p.XMLDesc(0) for p in conn.listAllStoragePools(0) if p.isActive()]
    return HostFacts(hostname=conn.getHostname(), cpu=cpu, mem_kib=int(info[1]) * 1024,
                     image_dir=image_dir, image_dir_free_bytes=pool_free(pools, image_dir),
                     kernel=kernel, network=network_from_interfaces(ifaces),
                     libvirt_reachable=True,
                     warnings=("facts from libvirt: no distro, boot loader or routes",))
