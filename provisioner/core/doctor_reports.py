"""The last ``provisioner-agent doctor`` report of each host: checked, trimmed to what the host
page and the migration pre-flight read, kept in the host's facts (``facts["doctor"]``, kept
across re-registrations). Bad input is refused with the field named, never stored in part."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from provisioner.core.ports import Store
from provisioner.core.scheduler import Issue
from provisioner.errors import Invalid, NotFound
from provisioner.models import Host
from provisioner.platform.doctor import SEVERITIES

MAX_BYTES = 262144
MAX_FINDINGS = 200
_FINDING_KEYS = ("id", "severity", "title", "seed", "cause", "fix", "plan", "evidence")
_FACT_KEYS = ("hostname", "hypervisor", "kernel", "xen_role", "virt_extension", "running",
              "selinux", "bridges", "image_dir", "image_dir_free_bytes", "xend", "xend_error",
              "guest_files", "logs_read")


def _text(value: object, field: str, limit: int = 4000) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text", field=field)
    return value[:limit]


def _finding(raw: object, i: int) -> dict[str, Any]:
    where = f"report.findings[{i}]"
    if not isinstance(raw, Mapping):
        raise Invalid(f"{where} must be an object", field=where)
    f = {k: raw.get(k) for k in _FINDING_KEYS}
    if f["severity"] not in SEVERITIES:
        raise Invalid(f"{where}.severity: one of {', '.join(SEVERITIES)}", field=where)
    for key in ("id", "title", "seed", "cause", "fix"):
        f[key] = _text(f[key], f"{where}.{key}")
    f["plan"] = None if f["plan"] is None else _text(f["plan"], f"{where}.plan")
    evidence = f["evidence"] or []
    if not isinstance(evidence, list):
        raise Invalid(f"{where}.evidence must be a list", field=where)
    f["evidence"] = [_text(e, f"{where}.evidence") for e in evidence[:5]]
    return f


def clean_report(report: object, now: float) -> dict[str, Any]:
    """The report as stored: known fields only, checked; ``received`` is the appliance's time."""
    if not isinstance(report, Mapping):
        raise Invalid("report must be a JSON object", field="report")
    if len(json.dumps(report, default=str)) > MAX_BYTES:
        raise Invalid(f"report larger than {MAX_BYTES} bytes", field="report")
    if report.get("status") not in ("healthy", "findings"):
        raise Invalid("report.status: healthy or findings", field="report.status")
    findings = report.get("findings")
    if not isinstance(findings, list) or len(findings) > MAX_FINDINGS:
        raise Invalid(f"report.findings: a list of at most {MAX_FINDINGS}",
                      field="report.findings")
    facts = report.get("facts") or {}
    if not isinstance(facts, Mapping):
        raise Invalid("report.facts must be an object", field="report.facts")
    xend = facts.get("xend")
    if xend is not None and not (isinstance(xend, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in xend.items())):
        raise Invalid("report.facts.xend: names to text values", field="report.facts.xend")
    return {"status": report["status"], "generated": report.get("generated"),
            "received": now, "findings": [_finding(f, i) for i, f in enumerate(findings)],
            "facts": {k: facts.get(k) for k in _FACT_KEYS if k in facts}}


def store_report(store: Store, host: str, report: object, now: float) -> dict[str, Any]:
    rec = store.get_host(host)
    if rec is None:
        raise NotFound(f"no host {host}")
    clean = clean_report(report, now)
    store.put_host(dataclasses.replace(rec, facts={**rec.facts, "doctor": clean}))
    return clean


def last_report(facts: Mapping[str, Any]) -> dict[str, Any] | None:
    """A host's last report (from its facts), or None."""
    rep = facts.get("doctor")
    return rep if isinstance(rep, dict) else None


def xend_settings(facts: Mapping[str, Any]) -> dict[str, str] | None:
    """The xend-config.sxp settings the host's agent last reported (for the pre-flight)."""
    rep = last_report(facts)
    xend = (rep or {}).get("facts", {}).get("xend")
    return dict(xend) if isinstance(xend, dict) else None


def report_text(host: str, rep: Mapping[str, Any], now: float) -> str:
    """A stored report for a terminal (``provisioner host doctor NAME``): one block per
    finding, with the guide's fix and the agent plan to run on the host."""
    age = now - float(rep.get("received") or now)
    out = [f"{host}: {rep['status']}, {len(rep['findings'])} finding(s) "
           f"(reported {age:.0f} s ago by provisioner-agent doctor)"]
    for f in rep["findings"]:
        out.append(f"\n[{f['severity']}] {f['id']}: {f['title']}  (seed {f['seed']})")
        out += [f"  seen:  {e}" for e in f["evidence"]]
        out += [f"  cause: {f['cause']}", f"  fix:   {f['fix']}"]
        if f["plan"]:
            out.append(f"  plan:  {f['plan']}  (on {host})")
    return "\n".join(out) + "\n"


def order_warnings(host: Host, most: int = 3) -> list[Issue]:
    """The errors of the host's last doctor report, as warnings on an order's review step
    (the order is not refused: the report may be old; the admin sees what to fix)."""
    rep = last_report(host.facts)
    errors = [f for f in (rep or {}).get("findings", ()) if f.get("severity") == "error"]
    return [Issue("host", f"HOST_DOCTOR_{f['id']}",
                  f"{host.name}'s last doctor report: {f['title']} ({f['id']}); on the host: "
                  f"{f['plan'] or f['fix']}", severity="warning") for f in errors[:most]]
