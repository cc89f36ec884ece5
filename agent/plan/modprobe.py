"""Kernel module settings the guide asks for, as a plan (the doctor's fix for E10, E12, H3):

- ``--max-loop N``: ``options loop max_loop=N`` (seed 31.4: more than 8 file-backed disks);
- ``--vnif-alias NIC``: ``alias NIC xen-vnif`` in a para-virtualized guest (seed 31.3);
- ``--load MODULE``: ``modprobe MODULE`` unless /proc/modules lists it (A1 §6: kvm_intel).

The file is the one the host's release reads: ``/etc/modules.conf`` on RHEL 3,
``/etc/modprobe.conf`` on RHEL 4-5, ``/etc/modprobe.d/provisioner-agent.conf`` elsewhere. Lines
are edited in place (others kept byte for byte). ``plan_modprobe(facts, want)`` is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.facts.model import HostFacts
from agent.plan.paravirt.seedtext import vnif_alias
from agent.plan.steps import Command, FileStep, LineRule, Lines, Manual, Plan, PlanError, Step

_MODULE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NIC = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")
DEFAULT_LOOPS = 8          # seed 31.4: the kernel's default number of loop devices


@dataclass(frozen=True)
class ModprobeWant:
    max_loop: int | None = None
    vnif_aliases: tuple[str, ...] = ()
    load: tuple[str, ...] = ()


def modprobe_file(facts: HostFacts) -> str:
    d = facts.distro
    major = (d.version_tuple or (0,))[0]
    if d.family == "rhel" and major == 3:
        return "/etc/modules.conf"
    if d.family == "rhel" and 0 < major < 6:
        return "/etc/modprobe.conf"
    return "/etc/modprobe.d/provisioner-agent.conf"


def _check(want: ModprobeWant) -> None:
    if want.max_loop is None and not want.vnif_aliases and not want.load:
        raise PlanError("E_NOTHING", "say what: --max-loop N, --vnif-alias NIC or --load MODULE")
    if want.max_loop is not None and not DEFAULT_LOOPS < want.max_loop <= 4096:
        raise PlanError("E_BAD_MAX_LOOP", f"--max-loop {want.max_loop}: more than the default "
                        f"{DEFAULT_LOOPS} and at most 4096 (the seed's example is 64)")
    for nic in want.vnif_aliases:
        if not _NIC.match(nic):
            raise PlanError("E_BAD_NIC", f"--vnif-alias {nic!r}: an interface name (eth0)")
    for m in want.load:
        if not _MODULE.match(m):
            raise PlanError("E_BAD_MODULE", f"--load {m!r}: a module name (kvm_intel)")


def _alias_warnings(facts: HostFacts, want: ModprobeWant) -> tuple[str, ...]:
    """xen-vnif drives a guest's para-virtualized NIC: on a host it would replace the real
    NIC's driver (refused on dom0; a warning where the host does not look like a guest)."""
    if not want.vnif_aliases:
        return ()
    if facts.kernel.xen_role == "dom0":
        raise PlanError("E_NOT_A_GUEST", "--vnif-alias: this is a Xen host (dom0); 'alias NIC "
                        "xen-vnif' belongs in a para-virtualized guest (seed 31.3)")
    if facts.kernel.xen_role not in ("domU", "hvm") and "hypervisor" not in facts.cpu.flags:
        return ("this machine does not look like a Xen guest: alias only NICs that are "
                "para-virtualized (xen-vnif), or the real NIC loses its driver",)
    return ()


def plan_modprobe(facts: HostFacts, want: ModprobeWant) -> Plan:
    _check(want)
    warnings = _alias_warnings(facts, want)
    path = modprobe_file(facts)
    rules: list[LineRule] = []
    if want.max_loop is not None:
        rules.append(LineRule(f"options loop max_loop={want.max_loop}", r"^\s*options\s+loop\b"))
    rules += [LineRule(vnif_alias(n), rf"^\s*alias\s+{re.escape(n)}\s") for n in
              dict.fromkeys(want.vnif_aliases)]
    steps: list[Step] = []
    if rules:
        steps.append(FileStep(path, Lines(tuple(rules)), mode=0o644,
                              why="seed 31.4 / 31.3: the module options the guide names"))
    if want.max_loop is not None:
        steps.append(Manual("loop devices are counted when the module loads: with no loop "
                            "device in use, rmmod loop; modprobe loop (else reboot) (seed 31.4)"))
    steps += [Command(("modprobe", m), check=("grep", "-q", f"^{m} ", "/proc/modules"),
                      undo=("modprobe", "-r", m), runtime=True,
                      why="load it now (lsmod | grep kvm shows it when it works)")
              for m in dict.fromkeys(want.load)]
    return Plan("kernel module settings", tuple(steps), warnings=warnings)
