"""Windows XP/2003 guests: the ``boot.ini`` switch of the seed's clock rule (ch.17, D1 §2.6).

Windows keeps time with the real-time clock instead of the TSC when its OS line in
``[operating systems]`` carries the switch of ``provisioner/platform/data/clock.toml``
``[windows]`` (``/usepmtimer``; the seed prints ``/use pmtimer``, which Windows ignores). The
file is inside the guest: with ``boot_ini`` (the file on the guest's disk mounted on this host)
the plan edits it in place, line endings and every other line kept; without it the plan says
what to change by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.plan.steps import FileStep, Manual, Plan, PlanError, Step
from provisioner.platform.clock import windows_clock_switch
from provisioner.platform.tables import table

_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")


@dataclass(frozen=True)
class BootIniSwitch:
    """Add ``switch`` to every OS line of ``[operating systems]`` that lacks it; the seed's
    misspelt form (``seed_text``) is removed. Everything else stays byte for byte."""

    switch: str
    seed_text: str = ""

    def apply(self, text: str | None) -> str | None:
        if text is None:
            raise PlanError("E_NO_BOOT_INI", "boot.ini not found: is the guest's system "
                            "partition mounted there?")
        out, in_os, found = [], False, False
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\r\n")
            m = _SECTION.match(body)
            if m:
                in_os = m.group("name").strip().lower() == "operating systems"
            elif in_os and "=" in body and not body.lstrip().startswith(";"):
                found = True
                body = self._fix(body)
            out.append(body + line[len(line.rstrip("\r\n")):])
        if not found:
            raise PlanError("E_BOOT_INI_NO_OS_LINE", "boot.ini has no [operating systems] line")
        return "".join(out)

    def _fix(self, body: str) -> str:
        if self.seed_text:
            body = body.replace(" " + self.seed_text, "")
        words = body.split()
        if any(w.lower() == self.switch.lower() for w in words):
            return body
        return body.rstrip() + " " + self.switch

    def describe(self) -> str:
        return f"add {self.switch} to the OS lines of [operating systems]"


def plan_boot_ini(guest_os: str, boot_ini: str | None) -> Plan:
    """The Windows clock plan for ``guest_os`` (``winxp``...): edit ``boot_ini`` or say how."""
    switch = windows_clock_switch(guest_os)
    if switch is None:
        raise PlanError("E_NO_BOOT_INI_RULE", f"{guest_os!r} has no boot.ini clock switch "
                        "(only Windows XP and 2003 use boot.ini)")
    seed_text = str(table("clock")["windows"]["seed_text"])
    why = "Windows keeps time with the real-time clock, not the TSC (seed ch.17)"
    step: Step
    if boot_ini:
        step = FileStep(boot_ini, BootIniSwitch(switch, seed_text), why=why)
    else:
        step = Manual(f"in the guest, add {switch} to the OS line of C:\\boot.ini "
                      "([operating systems]), then reboot it", why=why)
    return Plan(f"guest clock ({guest_os}: boot.ini {switch})", (step,),
                warnings=(f"the seed prints '{seed_text}'; the switch is '{switch}'",))
