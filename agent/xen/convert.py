"""A Xen guest file <-> libvirt domain XML (what ``virsh domxml-from-native xen-xm`` and
``domxml-to-native`` do), with plain ElementTree (the guest builder's device model is for
virt-install options, not for this mapping).

``to_xml(values)`` takes a parsed file's settings (:func:`agent.xen.xmcfg.parse_xmcfg`),
``from_xml(text)`` gives settings back; ``render_xmcfg(from_xml(to_xml(v)))`` equals
``render_xmcfg(v)`` for the guide's examples (tests/agent/xen). Units: the file's ``memory``
is MiB, the XML's KiB. Whether the file wrote its VNC console as ``vnc = 1`` keys or as a
``vfb`` entry travels in ``<metadata>`` (libvirt keeps foreign-namespace metadata), so the
round trip gives the same file. A setting with no place in the XML (pci, irq, a disk backend
domain...) is refused by name, never dropped. A guest booted by pygrub gets no kernel, initrd
or cmdline in the file: pygrub extracts them at every start (the seed's dumpxml shows them
as temporary files).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from agent.xen import specs
from provisioner.platform.xencfg import xen_section

XM_NS = "urn:provisioner:xen-xm"
_BUS = {"xvd": "xen", "hd": "ide", "sd": "scsi"}
_BOOT = {"a": "fd", "c": "hd", "d": "cdrom", "n": "network"}
#: keys this converter maps (anything else set in a file is refused by name)
MAPPED = {"name", "uuid", "memory", "maxmem", "vcpus", "cpus", "builder", "kernel", "ramdisk",
          "root", "extra", "bootloader", "bootargs", "device_model", "boot", "pae", "acpi",
          "apic", "localtime", "on_poweroff", "on_reboot", "on_crash", "vnc", "vncunused",
          "vncdisplay", "vnclisten", "vncpasswd", "keymap", "sdl", "display", "xauthority",
          "vfb", "serial", "disk", "vif"}


class ConvertError(ValueError):
    """Something the other format cannot say."""


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def to_xml(values: dict[str, Any]) -> str:
    """Domain XML for a Xen guest file's settings."""
    extra = sorted(k for k, v in values.items() if k not in MAPPED and v not in (None, [], ""))
    if extra:
        raise ConvertError(f"no domain XML for: {', '.join(extra)}")
    hvm = values.get("builder") == "hvm"
    dom = ET.Element("domain", type="xen")
    _sub(dom, "name", values["name"])
    if values.get("uuid"):
        _sub(dom, "uuid", specs.normalize_uuid(values["uuid"]))
    memory = int(values.get("memory", 128))
    _sub(dom, "memory", str(specs.mib_to_kib(int(values.get("maxmem") or memory))), unit="KiB")
    _sub(dom, "currentMemory", str(specs.mib_to_kib(memory)), unit="KiB")
    vcpu = _sub(dom, "vcpu", str(values.get("vcpus", 1)))
    if values.get("cpus"):
        vcpu.set("cpuset", str(values["cpus"]))
    if values.get("bootloader"):
        _sub(dom, "bootloader", values["bootloader"])
        if values.get("bootargs"):
            _sub(dom, "bootloader_args", values["bootargs"])
    _os(dom, values, hvm)
    if hvm:
        feats = _sub(dom, "features")
        for f in ("pae", "acpi", "apic"):
            if values.get(f):
                _sub(feats, f)
    _sub(dom, "clock", offset="localtime" if values.get("localtime") else "utc")
    for ev in ("on_poweroff", "on_reboot", "on_crash"):
        if values.get(ev):
            _sub(dom, ev, values[ev])
    devices = _sub(dom, "devices")
    if values.get("device_model"):
        _sub(devices, "emulator", values["device_model"])
    for d in values.get("disk", []):
        _disk(devices, specs.parse_disk(d))
    for v in values.get("vif", []):
        _interface(devices, specs.parse_vif(v), hvm)
    style = _graphics(devices, values)
    if values.get("serial") == "pty":
        _sub(_sub(devices, "serial", type="pty"), "target", port="0")
    elif values.get("serial"):
        raise ConvertError(f"serial {values['serial']!r}: only 'pty' is converted")
    if style:
        meta = _sub(dom, "metadata")
        ET.SubElement(meta, f"{{{XM_NS}}}xm", {"graphics": style})
    ET.register_namespace("xm", XM_NS)
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode") + "\n"


def _os(dom: ET.Element, values: dict[str, Any], hvm: bool) -> None:
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm" if hvm else "linux")
    if hvm:
        if values.get("kernel"):
            _sub(os_el, "loader", values["kernel"])
        for letter in str(values.get("boot") or "c"):
            if letter not in _BOOT:
                raise ConvertError(f"boot {letter!r}: one of {', '.join(_BOOT)}")
            _sub(os_el, "boot", dev=_BOOT[letter])
        return
    if values.get("bootloader"):
        return                                   # pygrub finds the kernel itself
    for key, tag in (("kernel", "kernel"), ("ramdisk", "initrd")):
        if values.get(key):
            _sub(os_el, tag, values[key])
    cmdline = " ".join(x for x in ((f"root={values['root']}" if values.get("root") else ""),
                                   values.get("extra") or "") if x)
    if cmdline:
        _sub(os_el, "cmdline", cmdline)


def _disk(devices: ET.Element, d: specs.Disk) -> None:
    if d.backend is not None:
        raise ConvertError(f"disk {d.render()}: a backend domain has no domain XML here")
    block = d.kind == "phy"
    el = _sub(devices, "disk", type="block" if block else "file",
              device="cdrom" if d.cdrom else "disk")
    if d.kind == "tap:aio":
        _sub(el, "driver", name="tap", type="aio")
    else:
        _sub(el, "driver", name=d.kind)
    _sub(el, "source", **({"dev": d.source} if block else {"file": d.source}))
    bus = next((b for p, b in _BUS.items() if d.vdev.startswith(p)), "xen")
    _sub(el, "target", dev=d.vdev, bus=bus)
    if d.mode == "r":
        _sub(el, "readonly")
    elif d.mode == "w!":
        _sub(el, "shareable")


def _interface(devices: ET.Element, vif: dict[str, str], hvm: bool) -> None:
    if "backend" in vif:
        raise ConvertError("vif backend= has no domain XML here")
    el = _sub(devices, "interface", type="bridge" if vif.get("bridge") else "ethernet")
    if vif.get("mac"):
        _sub(el, "mac", address=vif["mac"].lower())
    if vif.get("bridge"):
        _sub(el, "source", bridge=vif["bridge"])
    if vif.get("script"):
        _sub(el, "script", path=vif["script"])
    if vif.get("vifname"):
        _sub(el, "target", dev=vif["vifname"])
    if vif.get("ip"):
        _sub(el, "ip", address=vif["ip"])
    vtype = vif.get("type") or "netfront"        # Table 27.2: no type is netfront
    if vtype == "ioemu" and not hvm:
        raise ConvertError("vif type=ioemu is for fully virtualized (hvm) guests")
    model = vif.get("model") or ("netfront" if hvm and vtype == "netfront" else None)
    if model:
        _sub(el, "model", type=model)
    if vif.get("rate"):
        per_s, _window = specs.parse_rate(vif["rate"])
        _sub(_sub(el, "bandwidth"), "outbound", average=str(per_s // 1024))


def _graphics(devices: ET.Element, values: dict[str, Any]) -> str | None:
    """The console: ``vfb`` entries or the ``vnc``/``sdl`` keys; returns which form."""
    vfbs = values.get("vfb") or []
    if len(vfbs) > 1:
        raise ConvertError("more than one vfb entry")
    if vfbs:
        g, style = specs.parse_vfb(vfbs[0]), "vfb"
    elif str(values.get("vnc", "")) == "1":
        g = {"type": "vnc", **{k: str(values[k]) for k in
                               ("vncunused", "vncdisplay", "vnclisten", "vncpasswd", "keymap")
                               if values.get(k) is not None}}
        style = "keys"
    elif str(values.get("sdl", "")) == "1":
        g, style = {"type": "sdl", **{k: str(values[k]) for k in ("display", "xauthority")
                                      if values.get(k) is not None}}, "keys"
    else:
        return None
    el = _sub(devices, "graphics", type=g["type"])
    if g["type"] == "sdl":
        for k in ("display", "xauthority"):
            if k in g:
                el.set(k, g[k])
        return style
    base = int(xen_section("vfb")["vnc_base_port"])
    if "vncdisplay" in g:
        el.set("port", str(base + int(g["vncdisplay"])))
        el.set("autoport", "no")
    else:
        el.set("port", "-1")
        el.set("autoport", "yes" if g.get("vncunused", "1") != "0" else "no")
    for src, attr in (("vnclisten", "listen"), ("vncpasswd", "passwd"), ("keymap", "keymap")):
        if g.get(src):
            el.set(attr, g[src])
    return style


# ---- domain XML -> a guest file's settings ---------------------------------------------------

_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gib": 1024**3}


def _kib(el: ET.Element | None) -> int | None:
    if el is None or not (el.text or "").strip():
        return None
    unit = _UNITS.get((el.get("unit") or "KiB").lower())
    if unit is None:
        raise ConvertError(f"memory unit {el.get('unit')!r}")
    return int(el.text or 0) * unit // 1024


def from_xml(text: str) -> dict[str, Any]:
    """A Xen guest file's settings for a ``<domain type='xen'>`` document."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConvertError(f"not XML: {exc}") from None
    if root.tag != "domain" or root.get("type") != "xen":
        raise ConvertError("not a Xen domain (<domain type='xen'>)")
    hvm = root.findtext("os/type") == "hvm"
    v: dict[str, Any] = {"name": root.findtext("name") or ""}
    if root.findtext("uuid"):
        v["uuid"] = specs.normalize_uuid(root.findtext("uuid") or "")
    top, cur = _kib(root.find("memory")), _kib(root.find("currentMemory"))
    v["memory"] = specs.kib_to_mib(cur or top or 131072)
    if top and cur and top != cur:
        v["maxmem"] = specs.kib_to_mib(top)
    vcpu = root.find("vcpu")
    v["vcpus"] = int(vcpu.text or 1) if vcpu is not None else 1
    if vcpu is not None and vcpu.get("cpuset"):
        v["cpus"] = vcpu.get("cpuset")
    if hvm:
        v["builder"] = "hvm"
    _os_back(root, v, hvm)
    for f in ("pae", "acpi", "apic"):
        if hvm and root.find(f"features/{f}") is not None:
            v[f] = 1
    if root.find("clock[@offset='localtime']") is not None:
        v["localtime"] = 1
    for ev in ("on_poweroff", "on_reboot", "on_crash"):
        if root.findtext(ev):
            v[ev] = root.findtext(ev)
    _devices_back(root, v, hvm)
    return v


def _os_back(root: ET.Element, v: dict[str, Any], hvm: bool) -> None:
    if root.findtext("bootloader"):
        v["bootloader"] = root.findtext("bootloader")
        if root.findtext("bootloader_args"):
            v["bootargs"] = root.findtext("bootloader_args")
    if hvm:
        if root.findtext("os/loader"):
            v["kernel"] = root.findtext("os/loader")
        letters = {dev: k for k, dev in _BOOT.items()}
        boot = "".join(letters[b.get("dev", "hd")] for b in root.findall("os/boot"))
        if boot and boot != "c":                 # c (the disk) is Table 27.4's default
            v["boot"] = boot
        return
    if "bootloader" in v:
        return                           # pygrub's kernel/initrd/cmdline are temporary
    for tag, key in (("os/kernel", "kernel"), ("os/initrd", "ramdisk")):
        if root.findtext(tag):
            v[key] = root.findtext(tag)
    cmdline = (root.findtext("os/cmdline") or "").strip()
    if cmdline.startswith("root="):
        first, _, cmdline = cmdline.partition(" ")
        v["root"] = first[len("root="):]
    if cmdline:
        v["extra"] = cmdline


def _devices_back(root: ET.Element, v: dict[str, Any], hvm: bool) -> None:
    dev = root.find("devices")
    if dev is None:
        return
    if dev.findtext("emulator"):
        v["device_model"] = dev.findtext("emulator")
    disks = [_disk_back(d) for d in dev.findall("disk")]
    if disks:
        v["disk"] = disks
    vifs = [_vif_back(i, hvm) for i in dev.findall("interface")]
    if vifs:
        v["vif"] = vifs
    g = dev.find("graphics")
    if g is not None:
        hint = root.find(f"metadata/{{{XM_NS}}}xm")
        style = hint.get("graphics") if hint is not None else ("keys" if hvm else "vfb")
        _graphics_back(g, v, style or "vfb")
    if dev.find("serial[@type='pty']") is not None:
        v["serial"] = "pty"


def _disk_back(d: ET.Element) -> str:
    src = d.find("source")
    driver = d.find("driver")
    name = driver.get("name") if driver is not None else None
    if d.get("type") == "block":
        kind, path = "phy", src.get("dev") if src is not None else None
    else:
        kind = "tap:aio" if name == "tap" else "file"
        path = src.get("file") if src is not None else None
    target = d.find("target")
    if not path or target is None or not target.get("dev"):
        raise ConvertError("a disk without a source or a target device")
    mode = "r" if d.find("readonly") is not None else "w!" if d.find(
        "shareable") is not None else "w"
    return specs.Disk(kind, path, target.get("dev", ""), mode,
                      cdrom=d.get("device") == "cdrom").render()


_VIF_ORDER = ("type", "mac", "bridge", "ip", "script", "vifname", "model", "rate")


def _vif_back(i: ET.Element, hvm: bool) -> str:
    out: dict[str, str] = {}
    model = i.find("model")
    mtype = model.get("type") if model is not None else None
    if hvm and mtype != "netfront":
        out["type"] = "ioemu"
    for path, attr, key in (("mac", "address", "mac"), ("source", "bridge", "bridge"),
                            ("ip", "address", "ip"), ("script", "path", "script"),
                            ("target", "dev", "vifname")):
        el = i.find(path)
        if el is not None and el.get(attr):
            out[key] = str(el.get(attr))
    if mtype and mtype != "netfront":
        out["model"] = mtype
    avg = i.find("bandwidth/outbound")
    if avg is not None and avg.get("average"):
        kb = int(avg.get("average") or 0)
        out["rate"] = f"{kb // 1024}MB/s" if kb % 1024 == 0 else f"{kb}KB/s"
    return ", ".join(f"{k}={out[k]}" for k in _VIF_ORDER if k in out)


def _graphics_back(g: ET.Element, v: dict[str, Any], style: str) -> None:
    kind = g.get("type")
    out: dict[str, str] = {"type": str(kind)}
    if kind == "vnc":
        port = int(g.get("port") or -1)
        auto = g.get("autoport", "yes" if port < 0 else "no") == "yes"
        out["vncunused"] = "1" if auto or port < 0 else "0"
        if not auto and port >= 0:
            out["vncdisplay"] = str(port - int(xen_section("vfb")["vnc_base_port"]))
        for attr, key in (("listen", "vnclisten"), ("passwd", "vncpasswd"), ("keymap", "keymap")):
            if g.get(attr):
                out[key] = str(g.get(attr))
    elif kind == "sdl":
        for key in ("display", "xauthority"):
            if g.get(key):
                out[key] = str(g.get(key))
    else:
        raise ConvertError(f"graphics type {kind!r}: vnc or sdl")
    if style == "vfb":
        v["vfb"] = [",".join(f"{k}={val}" for k, val in out.items())]
        return
    v[str(kind)] = 1
    for key, val in out.items():
        if key != "type":
            v[key] = int(val) if key in ("vncunused", "vncdisplay") else val
