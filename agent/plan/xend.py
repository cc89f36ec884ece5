"""xend-config.sxp plans (seed Table 16.1, ch.16, ch.18.1): relocation, dom0 memory and CPUs,
the network script, console and VNC settings, any other parameter of the table by name.

``plan_xend(current, want) -> Plan`` is pure: ``current`` is the file's text (the probe reads
it), checked first so that a corrupt file is refused here, before anything is written (the
edit checks again when it applies). The file is edited in place (:mod:`agent.xen.sxp`), then
``service xend restart``. Enabling relocation writes the seed's four settings; without
``hosts-allow`` the plan carries the guide's security warning (``xend.toml [warning]``).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.plan.steps import Assert, Command, FileStep, LineRule, Lines, Plan, PlanError, Step
from agent.xen.sxp import SxpError, XendEdit, parse_xend, settings_dict
from provisioner.platform.xend import (
    canonical,
    check_value,
    console_log,
    effective,
    open_relocation_warning,
    restart_command,
    vnc_tls_files,
)

XEND_CONFIG = "/etc/xen/xend-config.sxp"


@dataclass(frozen=True)
class XendWant:
    relocation: bool | None = None            # xend-relocation-server yes|no
    relocation_port: int | None = None
    relocation_address: str | None = None     # '' = every interface
    hosts_allow: tuple[str, ...] | None = None  # regexes; () = everyone (warned)
    dom0_min_mem: int | None = None
    dom0_cpus: int | None = None
    network_script: str | None = None
    console_limit: int | None = None
    loglevel: str | None = None
    vnc_listen: str | None = None
    vnc_tls: bool | None = None
    vnc_x509_verify: bool | None = None
    settings: tuple[tuple[str, str], ...] = ()  # any other parameter: (name, value)
    console_log: bool | None = None           # XENCONSOLED_LOG_GUESTS in /etc/sysconfig/xend
    restart: bool = True
    path: str = XEND_CONFIG


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def xend_updates(want: XendWant) -> dict[str, str]:
    """Parameter -> value, in the order the file will get them (relocation first)."""
    u: dict[str, str] = {}
    if want.relocation is not None:
        u["xend-relocation-server"] = _yes(want.relocation)
    if want.relocation:                      # the seed's four lines (ch.18.1, D1 §9.3)
        u["xend-relocation-port"] = str(want.relocation_port or 8002)
        u["xend-relocation-address"] = want.relocation_address or ""
        u["xend-relocation-hosts-allow"] = " ".join(want.hosts_allow or ())
    else:
        for key, val in (("xend-relocation-port", want.relocation_port),
                         ("xend-relocation-address", want.relocation_address)):
            if val is not None:
                u[key] = str(val)
        if want.hosts_allow is not None:
            u["xend-relocation-hosts-allow"] = " ".join(want.hosts_allow)
    for key, val in (("dom0-min-mem", want.dom0_min_mem), ("dom0-cpus", want.dom0_cpus),
                     ("network-script", want.network_script),
                     ("console-limit", want.console_limit), ("loglevel", want.loglevel),
                     ("vnc-listen", want.vnc_listen)):
        if val is not None:
            u[key] = str(val)
    for key, flag in (("vnc-tls", want.vnc_tls), ("vnc-x509-verify", want.vnc_x509_verify)):
        if flag is not None:
            u[key] = "1" if flag else "0"
    for key, val in want.settings:
        u[canonical(key) or key] = val
    return u


def plan_xend(current: str | None, want: XendWant) -> Plan:
    """Pure: the file's text + what to set -> the edit, the checks and the restart."""
    if current is None:
        raise PlanError("E_NO_XEND_CONFIG", f"{want.path} not found: is xen installed?")
    try:
        now = settings_dict(parse_xend(current, want.path))
    except SxpError as exc:
        raise PlanError("E_XEND_CONFIG_CORRUPT", f"{exc}; fix the file first (nothing "
                        "is written over a file that cannot be read)") from None
    updates = xend_updates(want)
    if not updates and want.console_log is None:
        raise PlanError("E_NOTHING_TO_SET", "name at least one setting")
    for key, value in updates.items():
        why = check_value(key, value)
        if why is not None:
            raise PlanError("E_BAD_XEND_VALUE", f"{key}: {why}")
    after = effective({**now, **updates})
    warnings = _warnings(after)
    steps: list[Step] = [FileStep(want.path, XendEdit(tuple(updates.items()), want.path),
                                  why="xend reads its settings from this file at start "
                                      "(seed ch.16); comments and other settings are kept")
                         ] if updates else []
    if want.console_log is not None:
        steps.append(_console_log_step(want.console_log))
    if after["vnc-tls"] == "1":
        files = vnc_tls_files()
        test: list[str] = ["test"]
        for f in files:
            test += (["-a"] if len(test) > 1 else []) + ["-f", f]
        steps.append(Assert(tuple(test), f"VNC TLS needs {', '.join(files)} (seed §5.3)"))
    if want.restart:
        steps.append(Command(restart_command(), only_if_changed=True,
                             why="xend reads xend-config.sxp only when it starts (seed 18.1)"))
    names = [*updates] + ([console_log()[1]] if want.console_log is not None else [])
    return Plan(f"xend settings ({', '.join(names)})", tuple(steps), warnings=warnings)


def _console_log_step(on: bool) -> FileStep:
    """T44: the (commented) ``#XENCONSOLED_LOG_GUESTS=no`` line becomes ``...=yes``; the
    comment above it and every other line stay."""
    path, var, log_dir = console_log()
    value = "yes" if on else "no"
    return FileStep(path, Lines((LineRule(f"{var}={value}", rf"^\s*#?\s*{var}\s*="),)),
                    mode=0o644, why=f"xenconsoled logs every para-virtualized guest's console "
                    f"to {log_dir} (seed 30.12.2; fully virtualized guests' are not logged)")


def _warnings(after: dict[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    if after["xend-relocation-server"] == "yes":
        if not after["xend-relocation-hosts-allow"].split():
            out.append(open_relocation_warning())
        if not after["xend-relocation-address"]:
            out.append("xend-relocation-address '' listens on every interface: the seed says "
                       "to give one address (ch.18.1)")
        out.append(f"open port {after['xend-relocation-port']} on both hosts, to the peers "
                   "only (seed ch.18.1)")
    return tuple(out)
