"""The small languages inside a Xen guest file's values (seed Table 27.2, 28.9, 30.13): disk
and vif specs, vfb, PCI, I/O ports, bandwidth rates, UUIDs and memory sizes. Pure functions;
a bad value raises :class:`SpecError` saying what is wrong and what is allowed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from provisioner.platform.xencfg import xen_section


class SpecError(ValueError):
    """One value of a guest file that is not what Table 27.2 allows."""


@dataclass(frozen=True)
class Disk:
    kind: str            # tap:aio | file | phy
    source: str
    vdev: str            # xvda, hda ...
    mode: str            # r | w | w!
    cdrom: bool = False
    backend: int | None = None

    def render(self) -> str:
        vdev = self.vdev + (":cdrom" if self.cdrom else "")
        tail = f",{self.backend}" if self.backend is not None else ""
        return f"{self.kind}:{self.source},{vdev},{self.mode}{tail}"


def parse_disk(spec: str) -> Disk:
    """``phy:/dev/sdb1,xvdb,r`` -> Disk; ``file:``, ``tap:aio:`` and ``phy:`` only (a disk
    without its prefix, like the seed's FV example, is refused)."""
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) not in (3, 4):
        raise SpecError(f"disk {spec!r}: <prefix>:<source>,<vdev>,<mode>[,<domain>]")
    where, vdev, mode = parts[:3]
    kind = next((p for p in xen_section("disk")["prefixes"] if where.startswith(p + ":")), None)
    if kind is None:
        raise SpecError(f"disk {spec!r}: the source needs a prefix: "
                        + ", ".join(f"{p}:" for p in xen_section("disk")["prefixes"]))
    if mode not in xen_section("disk")["modes"]:
        raise SpecError(f"disk {spec!r}: mode {mode!r}: r (read-only) or w (read/write)")
    cdrom = vdev.endswith(":cdrom")
    vdev = vdev.removesuffix(":cdrom")
    if not re.fullmatch(r"(xvd|hd|sd)[a-z]+\d*", vdev):
        raise SpecError(f"disk {spec!r}: guest device {vdev!r} (xvda, hda, sda ...)")
    backend = parts[3] if len(parts) == 4 else None
    if backend is not None and not backend.isdigit():
        raise SpecError(f"disk {spec!r}: backend domain {backend!r} is a domain id")
    return Disk(kind, where[len(kind) + 1:], vdev, mode, cdrom,
                int(backend) if backend is not None else None)


_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def parse_kv(spec: str, what: str, keys: list[str]) -> dict[str, str]:
    """``k=v, k=v`` (spaces around commas allowed) with keys from ``keys``."""
    out: dict[str, str] = {}
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise SpecError(f"{what} {spec!r}: {item!r} is not one of {'=, '.join(keys)}=")
        if " " in value.strip():
            raise SpecError(f"{what} {spec!r}: {item!r}: a comma is missing between settings")
        out[key] = value.strip()
    return out


def parse_vif(spec: str) -> dict[str, str]:
    """``mac=00:16:3e:2e:c5:a9,bridge=xenbr0`` -> dict (no type: netfront, Table 27.2)."""
    vif = xen_section("vif")
    out = parse_kv(spec, "vif", vif["keys"])
    if "type" in out and out["type"] not in vif["types"]:
        raise SpecError(f"vif {spec!r}: type {out['type']!r}: one of {', '.join(vif['types'])}")
    if "mac" in out and not _MAC.match(out["mac"]):
        raise SpecError(f"vif {spec!r}: mac {out['mac']!r} is not a MAC address")
    if "rate" in out:
        parse_rate(out["rate"])
    return out


def render_kv(values: dict[str, str], sep: str = ",") -> str:
    return sep.join(f"{k}={v}" for k, v in values.items())


def render_vif(mac: str, bridge: str) -> str:
    """The seed's vif entry (30.14, E7's fix): ``mac=00:16:3e:49:1d:11, bridge=xenbr0``."""
    return render_kv({"mac": mac, "bridge": bridge}, ", ")


def vif_for_pv_drivers(spec: str) -> str:
    """The vif of a guest using the PV network driver: without ``type=ioemu`` (seed 32.6, E15);
    the other settings keep their order and spelling."""
    parse_vif(spec)
    items = [p.strip() for p in spec.split(",") if p.strip()]
    return ", ".join(i for i in items if i.replace(" ", "") != "type=ioemu")


def parse_vfb(spec: str) -> dict[str, str]:
    vfb = xen_section("vfb")
    out = parse_kv(spec, "vfb", vfb["keys"])
    if out.get("type") not in vfb["types"]:
        raise SpecError(f"vfb {spec!r}: type=vnc or type=sdl")
    return out


def vnc_port(display: int | None, domid: int, vncunused: bool = False) -> int | None:
    """The VNC server port: 5900 + N, N the display (default: the domain id); None with
    vncunused (the first free port from 5900, known only at start)."""
    if vncunused and display is None:
        return None
    return int(xen_section("vfb")["vnc_base_port"]) + (domid if display is None else display)


def vncviewer_port(display: int) -> int:
    """vncviewer's listening port: 5500 + DISPLAY (Table 27.2; not the server's 5900 + N)."""
    return int(xen_section("vfb")["vncviewer_base_port"]) + display


def parse_pci(spec: str) -> tuple[int, int, int]:
    """``c0:02.1a`` -> (0xc0, 0x02, 0x1a): bus, device, function in hex (Table 27.2)."""
    m = re.fullmatch(r"([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-9a-fA-F]{1,2})", spec.strip())
    if m is None:
        raise SpecError(f"pci {spec!r}: BUS:DEV.FUNC in hex (e.g. c0:02.1a)")
    return int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16)


def parse_ioports(spec: str) -> tuple[int, int]:
    """``02f8-02ff`` -> (0x2f8, 0x2ff); ``02f8`` -> (0x2f8, 0x2f8)."""
    m = re.fullmatch(r"([0-9a-fA-F]+)(?:-([0-9a-fA-F]+))?", spec.strip())
    if m is None:
        raise SpecError(f"ioports {spec!r}: FROM[-TO] in hex")
    lo = int(m.group(1), 16)
    return lo, int(m.group(2), 16) if m.group(2) else lo


_RATE = re.compile(r"^(\d+)([KMG]?)([Bb])/s(?:@(\d+)ms)?$")


def parse_rate(spec: str) -> tuple[int, int]:
    """``10MB/s@50ms`` -> (bytes per second, window ms); B = bytes, b = bits (upstream Xen's
    reading; the seed's 28.9 says 10MB/s loosely); the window defaults to 50 ms."""
    m = _RATE.match(spec.strip())
    if m is None:
        raise SpecError(f"rate {spec!r}: <number>[K|M|G]B/s or b/s, optionally @<ms>ms")
    n = int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]
    per_s = n if m.group(3) == "B" else n // 8
    return per_s, int(m.group(4) or 50)


def normalize_uuid(text: str) -> str:
    """32 hex digits with or without dashes -> lower-case 8-4-4-4-12 (D2 oracle 1)."""
    raw = text.replace("-", "").lower()
    if not re.fullmatch(r"[0-9a-f]{32}", raw) or (
            "-" in text and not re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}",
                                             text)):
        raise SpecError(f"uuid {text!r}: 32 hexadecimal digits (8-4-4-4-12)")
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def kib_to_mib(kib: int) -> int:
    """libvirt ``<memory>`` (KiB) -> Xen ``memory`` / ``xm list`` (MiB): 512000 -> 500."""
    return kib // 1024


def mib_to_kib(mib: int) -> int:
    return mib * 1024


def parse_xen_size(text: str) -> int:
    """A hypervisor memory size (``dom0_mem=``, ``mem=``) in bytes: suffix B, K, M or G; no
    suffix means KiB (seed ch.25/26)."""
    m = re.fullmatch(r"(\d+)([BKMG]?)", text.strip())
    if m is None:
        raise SpecError(f"size {text!r}: a number with an optional B/K/M/G suffix")
    return int(m.group(1)) * {"B": 1, "": 1024, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]
