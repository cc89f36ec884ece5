"""The Xen guest configuration keys (``data/xencfg.toml``: seed Tables 27.1-27.4): each key's
setter and default, the enumerations, the disk/vif/vfb vocabulary, deprecated keys and the
keys valid only with ``vnc=1``. The agent's parser and converter read it (agent/xen/)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from typing import Any

from provisioner.platform.tables import table

SETTERS = ("set_value", "set_bool", "set_int", "set_float", "append_value")


@dataclass(frozen=True)
class XenKey:
    name: str
    setter: str
    default: Any          # the Python value of Table 27.4's default (None for なし)
    extra: bool = False   # named by Table 27.1 only


@cache
def xen_keys() -> dict[str, XenKey]:
    """Every key a guest file may set, in Table 27.4's order."""
    out: dict[str, XenKey] = {}
    for r in table("xencfg")["key"]:
        if r["setter"] not in SETTERS:
            raise ValueError(f"xencfg.toml: {r['name']}: unknown setter {r['setter']!r}")
        out[r["name"]] = XenKey(r["name"], r["setter"], ast.literal_eval(r["default"]),
                                bool(r.get("extra", False)))
    return out


def xen_defaults() -> dict[str, Any]:
    """Table 27.4's defaults (what ``XenConfig()`` holds before a file sets anything)."""
    return {k.name: (list(k.default) if isinstance(k.default, list) else k.default)
            for k in xen_keys().values()}


def xen_enum(key: str) -> tuple[str, ...] | None:
    """The allowed values of ``key`` (``on_crash``, ``boot``, ``dhcp``, ``builder``), or None."""
    values = table("xencfg")["enum"].get(key)
    return tuple(values) if values is not None else None


def xen_section(name: str) -> dict[str, Any]:
    """``disk``, ``vif``, ``vfb``, ``deprecated`` or ``vnc_only`` of the table."""
    section: dict[str, Any] = table("xencfg")[name]
    return section
