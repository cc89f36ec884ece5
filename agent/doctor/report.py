"""The doctor's report: findings plus a summary of the facts, as text for people and JSON for
machines (the appliance stores it and shows it on the host page); the exit status."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from agent.doctor.checks import Context, xend_settings
from agent.doctor.diagnose import Finding
from agent.facts.health import Health
from agent.facts.model import HostFacts
from provisioner.platform.xend import effective

EXIT_HEALTHY, EXIT_FINDINGS, EXIT_CANNOT_RUN = 0, 1, 2
REPORT_VERSION = 1


def status(findings: Sequence[Finding]) -> str:
    """healthy (nothing, or only info notes) | findings."""
    return "findings" if any(f.severity != "info" for f in findings) else "healthy"


def exit_code(findings: Sequence[Finding]) -> int:
    return EXIT_FINDINGS if status(findings) == "findings" else EXIT_HEALTHY


def summary(facts: HostFacts, health: Health) -> dict[str, Any]:
    """The facts the appliance shows and the migration pre-flight reads (``xend``)."""
    ctx = Context.build(facts, health)
    settings, error = xend_settings(ctx)
    return {
        "hostname": facts.hostname, "hypervisor": facts.hypervisor,
        "kernel": facts.kernel.release, "xen_role": facts.kernel.xen_role,
        "virt_extension": facts.cpu.virt_extension, "kvm_modules": list(facts.kernel.kvm_modules),
        "running": dict(health.running), "selinux": health.selinux,
        "bridges": sorted({b.name for b in facts.network.bridges}
                          | set(health.sysfs_bridges or ())),
        "image_dir": facts.image_dir, "image_dir_free_bytes": facts.image_dir_free_bytes,
        "xend": effective(settings) if settings is not None else None,
        "xend_error": str(error) if error else None,
        "guest_files": sorted(ctx.guests) + sorted(ctx.guest_errors),
        "logs_read": sorted(health.logs),
    }


def report(facts: HostFacts, health: Health, findings: Sequence[Finding], *,
           now: float | None = None) -> dict[str, Any]:
    return {"version": REPORT_VERSION, "generated": time.time() if now is None else now,
            "status": status(findings), "findings": [f.to_dict() for f in findings],
            "facts": summary(facts, health)}


def text(rep: dict[str, Any]) -> str:
    """The report for a terminal: one block per finding, the plan to run where one exists."""
    facts = rep["facts"]
    out = [f"doctor: {facts['hostname'] or 'host'} ({facts['hypervisor'] or 'no hypervisor'}, "
           f"kernel {facts['kernel'] or '?'}): {rep['status']}, "
           f"{len(rep['findings'])} finding(s)"]
    for f in rep["findings"]:
        out.append(f"\n[{f['severity']}] {f['id']}: {f['title']}  (seed {f['seed']})")
        out += [f"  seen:  {e}" for e in f["evidence"]]
        out.append(f"  cause: {f['cause']}")
        out.append(f"  fix:   {f['fix']}")
        if f["plan"]:
            out.append(f"  plan:  {f['plan']}")
    if not rep["findings"]:
        out.append("nothing from the guide's troubleshooting chapters applies")
    return "\n".join(out) + "\n"
