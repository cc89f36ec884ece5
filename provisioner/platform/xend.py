"""The xend-config.sxp parameters (``data/xend.toml``: seed Table 16.1, ch.18.1) and their rules.

Shared by the agent (parser, editor, plans, ``doctor``) and the appliance (the migration
pre-flight reads the settings an agent reported): types and defaults, one value check per type,
the effective settings of a parsed file, and the relocation allow-list semantics: a
space-separated list of regular expressions; a peer is allowed when its fully qualified name or
its IP address matches one (``re.match``, as xend does); an empty list allows everyone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from provisioner.platform.tables import table

LOGLEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BOOLS = ("yes", "no")


@dataclass(frozen=True)
class XendParam:
    name: str
    type: str
    default: str
    source: str
    meaning: str
    aliases: tuple[str, ...] = ()


@cache
def xend_params() -> dict[str, XendParam]:
    """Every known parameter by its file key (aliases included, mapping to the same row)."""
    out: dict[str, XendParam] = {}
    for r in table("xend")["param"]:
        p = XendParam(r["name"], r["type"], str(r["default"]), r["source"], r["meaning"],
                      tuple(r.get("aliases", ())))
        for key in (p.name, *p.aliases):
            out[key] = p
    return out


def open_relocation_warning() -> str:
    """The guide's security warning for relocation open to everyone (ch.18)."""
    return str(table("xend")["warning"]["open_relocation"])


def restart_command() -> tuple[str, ...]:
    """How xend re-reads its settings: ``service xend restart``."""
    return tuple(str(table("xend")["warning"]["restart"]).split())


def vnc_tls_files() -> tuple[str, ...]:
    """The certificate files ``(vnc-tls 1)`` needs (seed §5.3)."""
    return tuple(str(f) for f in table("xend")["warning"]["vnc_tls_files"])


def console_log() -> tuple[str, str, str]:
    """(sysconfig file, variable, log directory) of xenconsoled's guest console log (T44)."""
    c = table("xend")["console_log"]
    return str(c["file"]), str(c["variable"]), str(c["log_dir"])


def canonical(key: str) -> str | None:
    """The parameter's name for ``key`` (an alias too); None for a key the table lacks."""
    p = xend_params().get(key)
    return p.name if p else None


def check_value(key: str, value: str) -> str | None:
    """Why ``value`` is not a valid ``key`` setting, or None when it is."""
    p = xend_params().get(key)
    if p is None:
        return f"unknown parameter {key!r} (not in seed Table 16.1 nor a RHEL 5 key)"
    return _CHECKS[p.type](value)


def _bool(v: str) -> str | None:
    return None if v in BOOLS else f"{v!r}: yes or no"


def _flag(v: str) -> str | None:
    return None if v in ("0", "1") else f"{v!r}: 0 or 1"


def _int(v: str) -> str | None:
    return None if re.fullmatch(r"-?\d+", v) else f"{v!r}: a whole number"


def _port(v: str) -> str | None:
    return None if v.isdigit() and 0 < int(v) < 65536 else f"{v!r}: a port (1-65535)"


def _path(v: str) -> str | None:
    return None if v == "" or v.startswith("/") else f"{v!r}: an absolute path"


def _address(v: str) -> str | None:
    if v == "" or re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", v):
        return None
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return f"{v!r}: one IP address or host name ('' = every interface)"
    return None


def _regexes(v: str) -> str | None:
    for rx in v.split():
        try:
            re.compile(rx)
        except re.error as exc:
            return f"{rx!r} is not a regular expression: {exc}"
    return None


def _loglevel(v: str) -> str | None:
    return None if v in LOGLEVELS else f"{v!r}: one of {', '.join(LOGLEVELS)}"


def _text(v: str) -> str | None:
    return None


_CHECKS: dict[str, Callable[[str], str | None]] = {
    "bool": _bool, "flag": _flag, "int": _int, "port": _port, "path": _path,
    "address": _address, "regexes": _regexes, "loglevel": _loglevel, "text": _text}


def effective(settings: Mapping[str, str]) -> dict[str, str]:
    """Every parameter's value: the file's settings (by canonical name) over the defaults."""
    out = {p.name: p.default for p in xend_params().values()}
    for key, value in settings.items():
        out[canonical(key) or key] = value
    return out


def hosts_allow(value: str) -> list[str]:
    """``'^localhost$ ^localhost\\.localdomain$'`` (as parsed) -> the regexes xend uses."""
    return value.split()


def relocation_allowed(value: str, peer: str, peer_ip: str | None = None) -> bool:
    """Whether ``peer`` (its FQDN) or ``peer_ip`` may migrate into a host with this
    hosts-allow; empty: everyone."""
    rules = hosts_allow(value)
    if not rules:
        return True
    names = [n for n in (peer, peer_ip) if n]
    return any(re.match(rx, n) for rx in rules for n in names)


def relocation_open(settings: Mapping[str, str]) -> bool:
    """Relocation enabled for anyone who reaches the port (the seed's security warning)."""
    eff = effective(settings)
    return eff["xend-relocation-server"] == "yes" and not hosts_allow(
        eff["xend-relocation-hosts-allow"])
