"""Start a daemon and enable it at boot, as the guide says (D1 §9.6, 30.10): the doctor's plan
for "xend / libvirtd / ntpd is not running". ``plan_service(facts, want) -> Plan`` is pure.

On RHEL 3-6 the steps are the guide's ``service``/``chkconfig`` commands in its order, each
checked first (``service NAME status``, ``chkconfig NAME``: rc 0 = already so) and undone by
its opposite; newer hosts get ``systemctl enable`` / ``start`` of the table's unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.facts.model import HostFacts
from agent.plan.steps import Command, Plan, PlanError
from provisioner.platform.doctor import Service, services


@dataclass(frozen=True)
class ServiceWant:
    start: tuple[str, ...]          # names from the table: xend, libvirtd, ntpd


def uses_sysv(facts: HostFacts) -> bool:
    """RHEL before 7 manages daemons with service/chkconfig; everything else with systemctl."""
    d = facts.distro
    return d.family == "rhel" and (d.version_tuple or (0,))[0] < 7


def _sysv(svc: Service) -> list[Command]:
    out = []
    for argv in svc.sysv:
        if argv[0] == "service":
            out.append(Command(argv, check=("service", svc.name, "status"),
                               undo=("service", svc.name, "stop"), why=f"seed {svc.seed}"))
        else:
            out.append(Command(argv, check=("chkconfig", svc.name),
                               undo=("chkconfig", svc.name, "off"),
                               why=f"started at boot too (seed {svc.seed})"))
    return out


def _systemd(svc: Service) -> list[Command]:
    u = svc.unit
    return [Command(("systemctl", "enable", u), check=("systemctl", "is-enabled", "--quiet", u),
                    undo=("systemctl", "disable", u),
                    why=f"started at boot (seed {svc.seed}: chkconfig {svc.name} on)"),
            Command(("systemctl", "start", u), check=("systemctl", "is-active", "--quiet", u),
                    undo=("systemctl", "stop", u),
                    why=f"seed {svc.seed}: service {svc.name} start")]


def plan_service(facts: HostFacts, want: ServiceWant) -> Plan:
    table = services()
    if not want.start:
        raise PlanError("E_NO_SERVICE", "name a daemon: --start " + "|".join(table))
    steps: list[Command] = []
    for name in dict.fromkeys(want.start):
        svc = table.get(name)
        if svc is None:
            raise PlanError("E_UNKNOWN_SERVICE",
                            f"{name!r}: the guide starts {', '.join(table)}; nothing else")
        steps += _sysv(svc) if uses_sysv(facts) else _systemd(svc)
    return Plan(f"start and enable {', '.join(dict.fromkeys(want.start))}", tuple(steps))
