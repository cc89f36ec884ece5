"""What the pre-flight needs from both hosts at once, asked over libvirt: the guest as the source
runs it, whether the destination's CPU can run the guest's CPU (``compareHypervisorCPU``),
whether the destination sees the guest's storage at the same path, and whether the guest's name
is free there.

The storage test is the seed's ``touch``/``rm`` write test (§3.6) done through libvirt's
storage API, so it needs no shell on either host: a zero-size marker volume is created in the
disk's directory on the source (through an active pool at that path, or a transient one made for
the test), the destination's pool at the same path is refreshed and asked for it, then the
marker is deleted and transient pools are destroyed. Seen: shared at the same path. Not seen,
or no such directory on the destination: not shared.
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import libvirt

from provisioner.platform.tables import table
from provisioner.remote.errors import ConnectError
from provisioner.remote.libvirt_conn import tcp_probe
from provisioner.remote.preflight import CPU_INCOMPATIBLE, GuestInfo, Observed, guest_info

MARKER_PREFIX = ".provisioner-shared-"


def _cpu_compare(dst: Any, xml: str, g: GuestInfo) -> tuple[int | None, str | None]:
    root = ET.fromstring(xml)
    cpu = root.find("cpu")
    if cpu is None or cpu.find("model") is None:
        return 1, None  # the hypervisor's default model: nothing beyond it to compare
    try:
        r = dst.compareHypervisorCPU(None, g.arch, g.machine, root.get("type"),
                                     ET.tostring(cpu, encoding="unicode"),
                                     libvirt.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE)
        return int(r), None
    except libvirt.libvirtError as exc:
        msg = " ".join(str(exc).split())
        if "incompatible" in msg.lower():
            return CPU_INCOMPATIBLE, msg
        return None, msg


@contextlib.contextmanager
def _pool_at(conn: Any, path: str) -> Iterator[Any]:
    """An active pool whose target is ``path``: an existing one, or a transient one for the
    duration (libvirtError when the directory does not exist on that host)."""
    for p in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        with contextlib.suppress(libvirt.libvirtError):
            target = ET.fromstring(p.XMLDesc(0)).findtext("target/path")
            if target and posixpath.normpath(target) == posixpath.normpath(path):
                yield p
                return
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>provisioner-probe-{uuid.uuid4().hex[:12]}</name>"
        f"<target><path>{path}</path></target></pool>", 0)
    try:
        yield pool
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            pool.destroy()


def _visible(dst: Any, directory: str, name: str) -> bool:
    try:
        with _pool_at(dst, directory) as dp:
            dp.refresh(0)
            try:
                dp.storageVolLookupByName(name)
                return True
            except libvirt.libvirtError:
                return False
    except libvirt.libvirtError:
        return False  # no such directory (or not usable) on the destination


def storage_seen(src: Any, dst: Any, directory: str) -> bool | None:
    """True/False as in the module docstring; None when the source cannot write there."""
    name = f"{MARKER_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        with _pool_at(src, directory) as sp:
            vol = sp.createXML(f"<volume><name>{name}</name><capacity>0</capacity>"
                               "<target><format type='raw'/></target></volume>", 0)
            try:
                return _visible(dst, directory, name)
            finally:
                with contextlib.suppress(libvirt.libvirtError):
                    vol.delete(0)
                with contextlib.suppress(libvirt.libvirtError), _pool_at(dst, directory) as dp:
                    dp.refresh(0)  # forget the marker there too
    except libvirt.libvirtError:
        return None


def observe(src: Any, dst: Any, name: str, *, dst_host: str | None = None,
            timeout: float = 5.0) -> tuple[GuestInfo, Observed]:
    """The guest (from the source) and everything :class:`Observed` holds."""
    dom = src.lookupByName(name)
    active = bool(dom.isActive())
    flags = libvirt.VIR_DOMAIN_XML_MIGRATABLE | (
        libvirt.VIR_DOMAIN_XML_UPDATE_CPU if active else 0)
    xml = dom.XMLDesc(flags)
    g = guest_info(xml, active=active)
    cmp, cmp_err = _cpu_compare(dst, xml, g)
    seen = {d: storage_seen(src, dst, d) for d in sorted({posixpath.dirname(p)
                                                         for p in g.disks})}
    try:
        dst.lookupByName(name)
        has = True
    except libvirt.libvirtError:
        has = False
    listening = None
    if dst_host and dst.getType().lower() == "xen":
        try:
            tcp_probe(dst_host, table("remote")["migration"]["xen_relocation_port"], timeout)
            listening = True
        except ConnectError:
            listening = False
    return g, Observed(cpu_compare=cmp, cpu_compare_error=cmp_err, storage_seen=seen,
                       dest_has_name=has, relocation_listening=listening)
