"""Reading ``vagrant up`` as it runs: clean lines, named phases and their wall times (pure).

Vagrant's output says what it is doing, machine by machine; :func:`phase_of` maps a line to the
phase it starts (a table, below), and :class:`Phases` keeps the wall time of each, so the lab
can print where the time goes, name the step that failed, and record the times in
``bench/results``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MACHINE = re.compile(r"^(?:==>|   ) ?(\w[\w.-]*): (.*)$")

#: (pattern on the text after ``==> machine:``, phase name). The first match wins.
PHASES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), n) for p, n in (
    (r"^Uploading base box image as volume", "box volume upload"),
    (r"^Creating (image|domain)", "define"),
    (r"^Starting domain", "start"),
    (r"^Waiting for domain to get an IP address", "boot (until DHCP on the management NIC)"),
    (r"^Waiting for machine to boot", "boot (until SSH answers)"),
    (r"^Machine booted and ready", "guest set-up (key, hostname, networks)"),
    (r"^Running provisioner", "provisioning"),
    (r"^lab: \S+: dhcp\b", "network boot: DHCP"),
    (r"^lab: \S+: boot config\b", "network boot: boot config, kernel, initrd"),
    (r"^lab: \S+: kickstart\b", "installer: kickstart fetched"),
    (r"^lab: \S+: installing\b", "installer: installing"),
    (r"^lab: \S+: done\b", "done"),
    (r"^Running action triggers after up", "waiting (after-up trigger)"),
    (r"^Removing domain|^Deleting the machine folder", "destroy"),
))


def clean(raw: str) -> list[str]:
    """Printable lines of a chunk of terminal output: no colour codes, no progress redraws."""
    out = []
    for part in raw.replace("\r", "\n").split("\n"):
        line = _ANSI.sub("", part).rstrip()
        if line and not line.lstrip().startswith("Progress:"):
            out.append(line)
    return out


def phase_of(line: str) -> tuple[str, str] | None:
    """``(machine, phase)`` a line of ``vagrant up`` output starts, or None."""
    m = _MACHINE.match(line)
    if not m:
        return None
    machine, text = m.groups()
    for pattern, name in PHASES:
        if pattern.search(text):
            return machine, name
    return None


@dataclass
class Phase:
    name: str
    start: float
    end: float | None = None

    @property
    def seconds(self) -> float:
        return (self.end if self.end is not None else self.start) - self.start


@dataclass
class Phases:
    """Phases in order; starting one ends the previous one."""

    items: list[Phase] = field(default_factory=list)

    def start(self, name: str, at: float) -> None:
        if self.items and self.items[-1].name == name:
            return
        self.end(at)
        self.items.append(Phase(name, at))

    def end(self, at: float) -> None:
        if self.items and self.items[-1].end is None:
            self.items[-1].end = at

    @property
    def current(self) -> str:
        return self.items[-1].name if self.items else "start"

    def table(self) -> list[tuple[str, float]]:
        return [(p.name, round(p.seconds, 1)) for p in self.items]

    def format(self) -> str:
        width = max((len(p.name) for p in self.items), default=0)
        return "\n".join(f"  {p.name:<{width}}  {p.seconds:7.1f} s" for p in self.items)
