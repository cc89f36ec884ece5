"""The host-side plan: the guest's definition (Xen ``xm`` config rewrite, KVM device models)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from agent.facts.model import HostFacts
from agent.plan.paravirt.rules import validate
from agent.plan.paravirt.want import Disk, PvWant
from agent.plan.steps import Command, FileStep, Manual, Plan, PlanError, Step
from provisioner.platform.tables import pv_matrix

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
    m = pv_matrix()["kvm"]
    if want.guest_os == "windows":
        steps.append(Command(
            ("yum", "install", "-y", m["host_package"]), check=("rpm", "-q", m["host_package"]),
            why="Windows virtio drivers from the Supplementary channel (seed 15.1)"))
        if want.install_time:
            load = ("press F6 for third-party drivers" if want.guest_version == "2003"
                    else "click Load Driver and choose drive A:")
            steps.append(Manual("attach viostor.vfd as a floppy (fda) for the installer; " + load))
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
