"""The guest-side plan: what to run inside the guest so it uses the PV/virtio drivers."""

from __future__ import annotations

from agent.facts.model import HostFacts
from agent.plan.grub import GrubArgs
from agent.plan.paravirt.rules import validate
from agent.plan.paravirt.seedtext import (
    modconf_path,
    modprobe_aliases,
    pv_packages,
    rhel3_paths,
    rhel4_vbd_fallback,
)
from agent.plan.paravirt.want import PvWant, parse_kernel_rpm, version_of
from agent.plan.steps import Assert, Command, FileStep, LineRule, Lines, Manual, Plan, Step
from provisioner.platform.tables import pv_matrix


def _xen_guest_steps(facts: HostFacts, want: PvWant) -> list[Step]:
    m = pv_matrix()["xen"]
    steps: list[Step] = [Assert(
        ("sh", "-c",
         f"test \"$(df -Pm /lib | awk 'NR==2 {{print $4}}')\" -ge {m['min_lib_free_mb']}"),
        f"at least {m['min_lib_free_mb']} MB free in /lib (seed 14.1)")]
    steps += _xen_package_steps(facts, want)
    steps += _xen_module_steps(want)
    steps += _xen_config_steps(facts, want)
    return steps


def _xen_package_steps(facts: HostFacts, want: PvWant) -> list[Step]:
    """Install the driver package the way the seed does for each release (14.3.2-14.3.4)."""
    major = version_of(want.guest_version)[0]
    pkgs = pv_packages(facts, want)
    if not pkgs:
        return [Manual(f"no driver package needed: RHEL {want.guest_version} carries the "
                       "pv-on-hvm modules in its default kernel (4.7+/5.3+)")]
    if major == 5:
        return [Command(("yum", "install", "-y", pkgs[0] + "*"), check=("rpm", "-q", pkgs[0]),
                        why="PV block/net modules for this kernel variant (seed 14.3.4)")]
    if major == 4:
        return [
            Command(("rpm", "-ivh", "modversions*.rpm"), check=("rpm", "-q", "modversions"),
                    why="seed 14.3.3 step 2, in this order"),
            Command(("rpm", "-Uvh", "module-init-tools*.rpm"),
                    check=("sh", "-c", "rpm -q module-init-tools | grep -q el4_6"),
                    why="kmod-xenpv needs module-init-tools from RHEL 4.6z or later"),
            Command(("rpm", "-ivh", pkgs[-1] + "*.rpm"), check=("rpm", "-q", pkgs[-1])),
        ]
    return [Command(("rpm", "-ivh", pkgs[0] + "*.rpm"), check=("rpm", "-q", pkgs[0]),
                    why="seed 14.3.2 step 2")]


def _xen_module_steps(want: PvWant) -> list[Step]:
    """Load the modules in the seed's order: RHEL 3 by insmod from a copy, others by modprobe."""
    m = pv_matrix()["xen"]
    major = version_of(want.guest_version)[0]
    steps: list[Step] = []
    if major == 3:
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
        return steps
    if major == 4:
        rc_line = (f"grep -q '^xen_vbd ' /proc/modules || "
                   f"{rhel4_vbd_fallback(want.pv_release)}")
        steps.append(FileStep("/etc/rc.local", Lines((LineRule(rc_line),)),
                              why="xen-vbd may not load by itself on RHEL 4 (seed 14.3.3)"))
    for mod in m["load_order"]:
        steps.append(Command(("modprobe", mod),
                             check=("grep", "-q", f"^{mod.replace('-', '_')} ", "/proc/modules"),
                             runtime=True,
                             why="platform-pci, balloon, vnif, vbd (seed 32.4)"))
    return steps


def _xen_config_steps(facts: HostFacts, want: PvWant) -> list[Step]:
    """NIC aliases, kudzu, and ``noapic`` under a RHEL 5.1 dom0."""
    major = version_of(want.guest_version)[0]
    steps: list[Step] = [FileStep(modconf_path(want.guest_version), Lines(tuple(
        LineRule(a, rf"^\s*alias\s+eth{i}\s") for i, a in enumerate(modprobe_aliases(want.nics)))),
        why="the NICs use the PV network driver (seed 14.4, 31.3)")]
    if major == 5:
        steps.append(Command(("chkconfig", "kudzu", "off"),
                             check=("sh", "-c",
                                    "! chkconfig --list kudzu 2>/dev/null | grep -q :on"),
                             why="kudzu would offer to drop the new NIC at boot (seed 14.3.4)"))
    elif major == 4:
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
    gv = version_of(want.guest_version)
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
