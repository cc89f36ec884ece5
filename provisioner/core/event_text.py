"""Timeline events for people: one sentence per event, from its kind and detail (pure).

The web UI's timelines, ``provisioner timeline`` and ``status`` and the lab's progress display
show these sentences; the raw detail (JSON) stays one click (or ``--json``) away. Each event
kind the appliance records has one row in :data:`TEXT`; a kind it does not know (an agent's own)
is shown as ``kind: key=value, ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from provisioner.models import Event, EventKind

Detail = Mapping[str, Any]


def size(n: object) -> str:
    """Bytes in the unit libvirt and ``ls -h`` use: ``512 B``, ``8.1 KiB``, ``63.4 MiB``."""
    if not isinstance(n, int | float) or isinstance(n, bool):
        return "? B"
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


def duration(seconds: object) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``, ``11 h 59 min``."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _transfer(d: Detail) -> str:
    """``8.1 MiB in 1.2 s (6.7 MiB/s)``."""
    sent = d.get("bytes")
    secs = d.get("seconds")
    text = size(sent)
    if isinstance(secs, int | float) and not isinstance(secs, bool):
        text += f" in {duration(secs)}"
        if secs > 0 and isinstance(sent, int | float):
            text += f" ({size(sent / secs)}/s)"
    return text


def _file(path: object) -> str:
    name = str(path or "?")
    for part, what in (("kernel", "kernel"), ("vmlinuz", "kernel"), ("initrd", "initrd")):
        if part in name.rsplit("/", 1)[-1]:
            return f"{what} {name}"
    return name


def _tftp(d: Detail) -> str:
    if d.get("outcome") not in (None, "ok", "done", "complete"):
        why = d.get("error") or d.get("outcome")
        return f"TFTP {_file(d.get('path'))} failed after {size(d.get('bytes'))}: {why}"
    extra = f", blksize {d['blksize']}" if d.get("blksize") else ""
    if d.get("retransmits"):
        extra += f", {d['retransmits']} retransmitted"
    return f"TFTP sent {_file(d.get('path'))}: {_transfer(d)}{extra}"


def _http_asset(d: Detail) -> str:
    rng = f" (range {d['range']})" if d.get("range") else ""
    return f"HTTP sent {_file(d.get('path'))}: {_transfer(d)}{rng}"


def _dhcp(verb: str) -> Callable[[Detail], str]:
    def text(d: Detail) -> str:
        out = f"DHCP {verb} {d.get('ip') or 'no address'}"
        if d.get("bootfile"):
            out += f", boot loader {d['bootfile']}"
            if d.get("next_server"):
                out += f" from {d['next_server']}"
        return out
    return text


def _proxy(d: Detail) -> str:
    loader = d.get("bootfile") or "none"
    return f"proxyDHCP: boot loader {loader}" + (f" from {d['next_server']}"
                                                   if d.get("next_server") else "")


def _boot_config(d: Detail) -> str:
    what = {"pxelinux": "pxelinux", "grub": "GRUB", "ipxe": "iPXE"}.get(str(d.get("kind")),
                                                                     str(d.get("kind", "?")))
    then = "install" if d.get("netboot", True) else "boot from the local disk (netboot off)"
    return f"{what} boot config served: {then}"


def _paths(key: str, verb: str) -> Callable[[Detail], str]:
    def text(d: Detail) -> str:
        items = d.get(key) or []
        names = ", ".join(str(p) for p in items) if isinstance(items, list) else str(items)
        return f"{verb}: {names or 'nothing'}"
    return text


def _tls(verb: str) -> Callable[[Detail], str]:
    def text(d: Detail) -> str:
        out = f"TLS certificate {verb}"
        for key in ("reason", "not_after", "error", "fix"):
            if d.get(key):
                out += f"; {d[key]}" if key != "not_after" else f", valid until {d[key]}"
        return out
    return text


def _migration(verb: str) -> Callable[[Detail], str]:
    def text(d: Detail) -> str:
        out = f"migration {d.get('from', '?')} -> {d.get('to', '?')} {verb}"
        if d.get("total_s") is not None:
            out += f" in {duration(d['total_s'])}"
        if d.get("downtime_ms") is not None:
            out += f" ({d['downtime_ms']} ms down)"
        if d.get("error"):
            out += f": {d['error']}"
        if d.get("running_on"):
            out += f"; the guest runs on {d['running_on']}"
        return out
    return text


def _migration_progress(d: Detail) -> str:
    out = f"migration -> {d.get('to', '?')}: {size(d.get('sent_bytes'))} sent"
    if d.get("memory_remaining_bytes") is not None:
        out += f", {size(d.get('memory_remaining_bytes'))} of memory to go"
    return out


def _by(d: Detail) -> str:
    return f" by {d['by']}" if d.get("by") else ""


def _power_what(d: Detail) -> str:
    """``power cycle``, ``boot device set to pxe for the next boot``, ``power status read``."""
    action = d.get("action", "?")
    if action == "boot":
        when = "for the next boot" if d.get("once", True) else "for every boot"
        return f"boot device set to {d.get('device', '?')} {when}"
    return "power status read" if action == "status" else f"power {action}"


def _power_action(d: Detail) -> str:
    took = f" ({duration(d['seconds'])})" if d.get("seconds") is not None else ""
    return f"{_power_what(d)}{_by(d)}{took}"


def _power_failed(d: Detail) -> str:
    cause = f" [{d['cause']}]" if d.get("cause") else ""
    return f"{_power_what(d)}{_by(d)} failed: {d.get('error', '?')}{cause}"


def _power_configured(d: Detail) -> str:
    fields = d.get("fields") or []
    if fields == ["removed"]:
        return f"power control removed{_by(d)}"
    out = f"power control set to {d.get('driver', '?')}{_by(d)}"
    if fields:
        out += " (" + ", ".join(str(f) for f in fields) + ")"
    for warning in d.get("warnings") or []:
        out += f"; warning: {warning}"
    return out


def _power_state(d: Detail) -> str:
    out = f"power {d.get('from') or 'unknown'} -> {d.get('to', '?')}"
    return out + (f": {d['error']}" if d.get("error") else "")


def _reinstall_failed(d: Detail) -> str:
    out = f"reinstall failed at {d.get('stage', '?')}: {d.get('reason', '?')}"
    raw = d.get("restored")
    restored: Detail = raw if isinstance(raw, Mapping) else {}
    back = [f"netboot {'on' if restored['netboot'] else 'off'}"] if "netboot" in restored else []
    back += [f"boot from {restored['boot']}"] if restored.get("boot") else []
    if back:
        out += "; put back: " + ", ".join(back)
    for key in ("netboot_error", "boot_error"):
        if restored.get(key):
            out += f"; not put back: {restored[key]}"
    return out


def _on_host(text: str) -> Callable[[Detail], str]:
    return lambda d: text + (f" on {d['host']}" if d.get("host") else "")


#: event kind -> sentence from its detail
TEXT: dict[str, Callable[[Detail], str]] = {
    EventKind.SYSTEM_CREATED: lambda d: f"system created (profile {d.get('profile', '?')})",
    EventKind.SYSTEM_UPDATED: lambda d: "system changed: " + ", ".join(d.get("fields") or ["?"]),
    EventKind.SYSTEM_REMOVED: lambda d: "system removed",
    EventKind.DISCOVERED: lambda d: f"unknown machine {d.get('mac', '?')} asked for an address "
                                    f"({d.get('arch') or 'arch unknown'})",
    EventKind.DHCP_OFFER: _dhcp("offered"),
    EventKind.DHCP_ACK: _dhcp("gave"),
    EventKind.PROXY_OFFER: _proxy,
    EventKind.PROXY_ACK: _proxy,
    EventKind.DHCP6_ADVERTISE: lambda d: "DHCPv6 offered " + (", ".join(d.get("ip") or [])
                                                           or "no address"),
    EventKind.DHCP6_REPLY: lambda d: "DHCPv6 gave " + (", ".join(d.get("ip") or [])
                                                      or "no address"),
    EventKind.BOOT_FILE_MISSING: lambda d: f"no boot file for architecture {d.get('arch', '?')}: "
                                           f"{d.get('file', '?')} is not in the TFTP root "
                                           "(provisioner bootloaders install)",
    EventKind.BOOT_CONFIG: _boot_config,
    EventKind.TFTP: _tftp,
    EventKind.HTTP_ASSET: _http_asset,
    EventKind.KICKSTART: lambda d: " ".join(filter(None, (
        "kickstart", str(d.get("template") or ""), f"fetched ({size(d.get('bytes'))})"))),
    EventKind.RENDER_ERROR: lambda d: f"{d.get('kind', '?')} template {d.get('template', '?')} "
                                      f"line {d.get('line', '?')} failed: {d.get('message', '')}",
    EventKind.CALLBACK_STARTED: lambda d: "installer started",
    EventKind.CALLBACK_DONE: lambda d: "installer finished; netboot switched off",
    EventKind.CALLBACK_FAILED: lambda d: "installer reported a failure",
    EventKind.ORDER_QUEUED: lambda d: f"ordered by {d.get('by', '?')}",
    EventKind.ORDER_PLACED: lambda d: f"placed on {d.get('host', '?')}" + (
        f" ({len(d['warnings'])} warning{'s' if len(d['warnings']) != 1 else ''})"
        if d.get("warnings") else ""),
    EventKind.ORDER_FAILED: lambda d: f"order failed: {d.get('error', '?')}",
    EventKind.ORDER_CANCELLED: lambda d: f"cancelled by {d.get('by', '?')}",
    EventKind.ORDER_DELETED: lambda d: f"deleted by {d.get('by', '?')}",
    EventKind.WORK_QUEUED: lambda d: f"work {d.get('kind', '?')} queued for the host's agent",
    EventKind.WORK_DROPPED: lambda d: "queued work withdrawn (the agent never took it)",
    EventKind.WORK_DONE: lambda d: f"agent finished {d.get('kind') or 'its work'}"
                                   + (f" on {d['host']}" if d.get("host") else ""),
    EventKind.WORK_RETRY: lambda d: f"agent will retry: {d.get('error', '?')}",
    EventKind.WORK_FAILED: lambda d: f"agent gave up: {d.get('error', '?')}",
    EventKind.GUEST_DISK_CREATED: _paths("paths", "disk created"),
    EventKind.GUEST_BOOT_FILES: _paths("paths", "boot files copied to the host"),
    EventKind.GUEST_DEFINED: _on_host("guest defined in libvirt"),
    EventKind.GUEST_STARTED: _on_host("guest started"),
    EventKind.GUEST_STATE: lambda d: f"guest {d.get('from') or '?'} -> {d.get('to') or '?'}",
    EventKind.GUEST_INSTALL_FINISHED: lambda d: "install finished: guest restarted from its disk",
    EventKind.GUEST_STOPPING: _on_host("guest stopping"),
    EventKind.GUEST_DESTROYED: _on_host("guest destroyed"),
    EventKind.GUEST_UNDEFINED: _paths("removed", "guest undefined; removed"),
    EventKind.GUEST_FAILED: lambda d: f"guest failed: {d.get('error', '?')}"
                                      + (f" ({d['code']})" if d.get("code") else ""),
    EventKind.BRIDGE_PLANNED: lambda d: "bridge planned"
                                        + (f": {d['bridge']}" if d.get("bridge") else ""),
    EventKind.MIGRATION_STARTED: _migration("started"),
    EventKind.MIGRATION_PROGRESS: _migration_progress,
    EventKind.MIGRATION_DONE: _migration("done"),
    EventKind.MIGRATION_FAILED: _migration("failed"),
    EventKind.TLS_ROTATED: _tls("renewed"),
    EventKind.TLS_ROTATION_QUEUED: _tls("renewal queued for the agent"),
    EventKind.TLS_ROTATION_FAILED: _tls("renewal failed"),
    EventKind.POWER_CONFIGURED: _power_configured,
    EventKind.POWER_ACTION: _power_action,
    EventKind.POWER_FAILED: _power_failed,
    EventKind.POWER_STATE: _power_state,
    EventKind.REINSTALL_STARTED: lambda d: f"reinstall started{_by(d)} (boot {d.get('boot', '?')},"
                                           f" up to {duration(d.get('timeout'))})",
    EventKind.REINSTALL_PROGRESS: lambda d: f"reinstall: {d.get('stage', '?')}"
                                            + (f", {d['message']}" if d.get("message") else ""),
    EventKind.REINSTALL_DONE: lambda d: f"reinstalled in {duration(d.get('seconds'))}{_by(d)}; "
                                        "boots from its disk again",
    EventKind.REINSTALL_FAILED: _reinstall_failed,
    EventKind.TLS_ROTATION_MANUAL: _tls("needs renewal by hand"),
}


def describe(kind: str, detail: Detail | None) -> str:
    """One sentence for an event; never raises, whatever an agent put in the detail."""
    d: Detail = detail if isinstance(detail, Mapping) else {}
    fn = TEXT.get(kind)
    if fn is not None:
        try:
            return fn(d)
        except (TypeError, ValueError, KeyError, AttributeError):
            pass
    pairs = ", ".join(f"{k}={v}" for k, v in d.items())
    return f"{kind}: {pairs}" if pairs else kind


def describe_event(event: Event) -> str:
    return describe(event.kind, event.detail)
