"""Power control of a guest for the appliance's ``guest.power`` work (its libvirt power driver):
status, on (start), off (destroy), cycle (destroy, then start: a changed boot order applies),
reset, and the boot device of the next start.

libvirt has no "next boot only": :func:`boot_order` rewrites the persistent definition's
``<os><boot dev=.../>`` list (``pxe``: network, then disk; ``disk``: disk only) and drops any
per-device ``<boot order=.../>`` (libvirt refuses both kinds at once); the appliance sets
``disk`` again after an install. ``http`` is refused: a libvirt guest boots over the network
with PXE (its iPXE fetches over HTTP itself).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any, Protocol

from agent.guest.errors import GuestError

DEVICES = {"pxe": ("network", "hd"), "disk": ("hd",)}
ON = {"running": "on", "blocked": "on", "paused": "on", "pmsuspended": "on", "shutdown": "on",
      "shutoff": "off", "crashed": "off", "nostate": "off"}
OPS = ("status", "on", "off", "cycle", "reset", "boot")


class GuestVirt(Protocol):
    def state(self, name: str) -> str: ...
    def start(self, name: str) -> bool: ...
    def destroy(self, name: str) -> None: ...
    def reset(self, name: str) -> None: ...
    def inactive_xml(self, name: str) -> str: ...
    def redefine_xml(self, xml: str, name: str) -> None: ...


def boot_order(xml: str, device: str) -> str:
    """``xml`` (a domain definition) booting from ``device`` first; pure."""
    devs = DEVICES.get(device)
    if devs is None:
        raise GuestError(f"a libvirt guest boots from pxe or disk, not {device!r} (PXE guests "
                         "fetch over HTTP through iPXE)", "POWER_UNSUPPORTED")
    root = ET.fromstring(xml)
    os_el = root.find("os")
    if os_el is None:
        raise GuestError("the guest definition has no <os> element", "POWER_FAILED")
    if os_el.find("kernel") is not None:
        raise GuestError("the guest boots a kernel directly (no boot device to choose)",
                         "POWER_UNSUPPORTED")
    for el in os_el.findall("boot"):
        os_el.remove(el)
    for dev in root.iter():
        for boot in dev.findall("boot"):
            if dev is not os_el:
                dev.remove(boot)
    at = next((i + 1 for i, el in enumerate(list(os_el)) if el.tag == "type"), 0)
    for offset, d in enumerate(devs):
        el = ET.Element("boot", {"dev": d})
        el.tail = os_el[at - 1].tail if at else None
        os_el.insert(at + offset, el)
    return ET.tostring(root, encoding="unicode")


def run(virt: GuestVirt, name: str, op: str, device: str | None = None,
        wait_off: float = 30.0) -> dict[str, Any]:
    """Do ``op`` on guest ``name``; ``{"state": on|off, ...}`` afterwards."""
    if op not in OPS:
        raise GuestError(f"unknown power op {op!r}; one of {', '.join(OPS)}", "BAD_OPTION")
    if virt.state(name) == "absent":
        raise GuestError(f"no guest named {name!r} on this host", "POWER_NO_GUEST")
    out: dict[str, Any] = {}
    if op == "on":
        out["started"] = virt.start(name)
    elif op == "off":
        virt.destroy(name)
    elif op == "cycle":
        virt.destroy(name)
        end = time.monotonic() + wait_off
        while ON.get(virt.state(name)) == "on" and time.monotonic() < end:
            time.sleep(0.2)
        out["started"] = virt.start(name)
    elif op == "reset":
        virt.reset(name)
    elif op == "boot":
        virt.redefine_xml(boot_order(virt.inactive_xml(name), device or ""), name)
        out["boot"] = device
    state = virt.state(name)
    return {"name": name, "op": op, "state": ON.get(state, "off"), "libvirt_state": state, **out}
