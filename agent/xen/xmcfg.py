"""``/etc/xen/<guest>``: read without executing it, render, edit in place (seed ch.27, 30.13).

xm executes the file as Python 2; this module never does. :func:`parse_xmcfg` parses it with
:mod:`ast`, accepts only ``name = <literal>`` statements, and passes each value through its
key's setter (Table 27.3: ``set_bool`` yes/y/no/n, ``set_int``, ``set_float``,
``append_value``) and the key's own rule (Table 27.2: on_* values, boot, dhcp, disk and vif
specs, uuid...). Anything else is an :class:`XenCfgError` naming the file, the line and the
key: a syntax error (the seed's mismatched quotes), a non-ASCII byte (seed E8), binary junk, an
unknown key (``on_boot``), a call or a name instead of a value. Deprecated keys (``restart``,
``nics``, ``bootentry``) and VNC options without ``vnc=1`` are warnings.

:func:`render_xmcfg` writes a file xm reads: every string single-quoted, lists as Python lists.
:class:`XmCfgEdit` changes the values asked for where they stand (comments kept) and refuses a
file it cannot read.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.xen import specs
from provisioner.platform.xencfg import xen_enum, xen_keys, xen_section

#: the order a rendered file lists its keys in (the rest follow in Table 27.4's order)
ORDER = ("name", "uuid", "maxmem", "memory", "vcpus", "builder", "kernel", "ramdisk", "root",
         "extra", "bootloader", "bootargs", "device_model", "boot", "pae", "acpi", "apic",
         "localtime", "on_poweroff", "on_reboot", "on_crash", "vnc", "vncunused", "vncdisplay",
         "vnclisten", "vncpasswd", "keymap", "sdl", "vfb", "serial", "disk", "vif")


class XenCfgError(ValueError):
    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


@dataclass
class XmCfg:
    values: dict[str, Any] = field(default_factory=dict)     # key -> value after its setter
    lines: dict[str, int] = field(default_factory=dict)      # key -> line of its (last) setting
    warnings: list[str] = field(default_factory=list)


def _check_bytes(text: str, path: str) -> None:
    for n, line in enumerate(text.split("\n"), 1):
        for c in line:
            if c == "\x00" or (ord(c) < 32 and c not in "\t\r"):
                raise XenCfgError(path, n, f"binary data (byte {ord(c):#04x}): not a text file")
            if ord(c) > 126:
                raise XenCfgError(path, n, f"non-ASCII character '\\x{ord(c):02x}': xm reads "
                                  "the file as Python 2 source, which refuses it (seed E8)")


def _statements(text: str, path: str) -> list[ast.Assign]:
    _check_bytes(text, path)
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        line = exc.lineno or 0
        m = re.match(r"\s*([A-Za-z_]\w*)\s*=", (text.splitlines() or [""])[max(line - 1, 0)]
                     if line else "")
        what = f"{m.group(1)}: " if m else ""
        raise XenCfgError(path, line, f"{what}invalid syntax ({exc.msg}): a value must be a "
                          "Python literal, strings in quotes") from None
    out: list[ast.Assign] = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            raise XenCfgError(path, node.lineno, "only 'name = value' lines are allowed "
                              "(the file is read, never executed)")
        out.append(node)
    return out


def _literal(node: ast.Assign, path: str, key: str) -> Any:
    try:
        return ast.literal_eval(node.value)
    except ValueError:
        raise XenCfgError(path, node.lineno, f"{key}: not a plain value (a string, a number or "
                          "a list of them)") from None


def parse_xmcfg(text: str, path: str = "/etc/xen/guest") -> XmCfg:
    """The file's settings after their setters and rules; see the module doc."""
    cfg = XmCfg()
    for node in _statements(text, path):
        key = node.targets[0].id  # type: ignore[attr-defined]
        spec = xen_keys().get(key)
        if spec is None:
            raise XenCfgError(path, node.lineno, f"unknown key {key!r} (not in seed Table 27.4"
                              + ("; did you mean on_reboot?" if key == "on_boot" else "") + ")")
        raw = _literal(node, path, key)
        try:
            value = SETTERS[spec.setter](key, raw)
            if spec.setter == "append_value":
                value = list(cfg.values.get(key, [])) + value
            elif key in cfg.values:
                raise specs.SpecError(f"set twice (lines {cfg.lines[key]} and {node.lineno})")
            cfg.values[key] = check_key(key, value)
        except specs.SpecError as exc:
            raise XenCfgError(path, node.lineno, f"{key}: {exc}") from None
        cfg.lines[key] = node.lineno
    cfg.warnings += _warnings(cfg)
    return cfg


# ---- Table 27.3: the setters ------------------------------------------------------------------

def set_value(key: str, raw: Any) -> Any:
    return raw


def set_bool(key: str, raw: Any) -> int:
    if isinstance(raw, bool | int) and raw in (0, 1):
        return int(raw)
    if isinstance(raw, str) and raw.lower() in ("yes", "y", "no", "n", "1", "0"):
        return 1 if raw.lower() in ("yes", "y", "1") else 0
    raise specs.SpecError(f"{raw!r}: yes, y, no or n (set_bool)")


def set_int(key: str, raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
        return int(raw)
    raise specs.SpecError(f"{raw!r}: a whole number (set_int)")


def set_float(key: str, raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise specs.SpecError(f"{raw!r}: a number (set_float)") from None


def append_value(key: str, raw: Any) -> list[Any]:
    return list(raw) if isinstance(raw, list | tuple) else [raw]


SETTERS = {"set_value": set_value, "set_bool": set_bool, "set_int": set_int,
           "set_float": set_float, "append_value": append_value}


# ---- Table 27.2: what each key may hold -----------------------------------------------------

def check_key(key: str, value: Any) -> Any:
    """``value`` checked (and normalised) by ``key``'s own rule; SpecError when wrong."""
    allowed = xen_enum(key)
    if allowed is not None and value not in allowed:
        raise specs.SpecError(f"{value!r}: one of {', '.join(allowed)}")
    rule = RULES.get(key)
    return rule(value) if rule else value


def _strings(kind: str, value: list[Any]) -> list[str]:
    if not all(isinstance(v, str) for v in value):
        raise specs.SpecError(f"each {kind} entry is a quoted string")
    return value


def _disks(value: list[Any]) -> list[str]:
    for v in _strings("disk", value):
        specs.parse_disk(v)
    return value


def _vifs(value: list[Any]) -> list[str]:
    for v in _strings("vif", value):
        specs.parse_vif(v)
    return value


def _vfbs(value: list[Any]) -> list[str]:
    for v in _strings("vfb", value):
        specs.parse_vfb(v)
    return value


def _uuid(value: Any) -> str:
    return specs.normalize_uuid(str(value))


def _path(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or value.endswith("/")):
        raise specs.SpecError(f"{value!r}: a file path (not a directory)")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
        raise specs.SpecError(f"{value!r}: letters, digits, '_', '.', ':' and '-'")
    return value


def _pci(value: list[Any]) -> list[Any]:
    for v in value:
        specs.parse_pci(str(v))
    return value


def _ioports(value: list[Any]) -> list[Any]:
    for v in value:
        specs.parse_ioports(str(v))
    return value


def _positive(value: int) -> int:
    if value <= 0:
        raise specs.SpecError(f"{value}: more than 0")
    return value


RULES = {"disk": _disks, "vif": _vifs, "vfb": _vfbs, "uuid": _uuid, "kernel": _path,
         "ramdisk": _path, "bootloader": _path, "device_model": _path, "name": _name,
         "pci": _pci, "ioports": _ioports, "memory": _positive, "vcpus": _positive}


def _warnings(cfg: XmCfg) -> list[str]:
    out = [f"{k} is deprecated: {why} (seed Table 27.2)"
           for k, why in xen_section("deprecated").items() if k in cfg.values]
    if str(cfg.values.get("vnc", 0)) not in ("1", "True"):
        out += [f"{k} is valid only with vnc=1 (seed Table 27.2)"
                for k in xen_section("vnc_only")["keys"] if k in cfg.values]
    return out


def resolve_config(name: str, cwd: str, exists: Callable[[str], bool],
                   etc: str = "/etc/xen") -> str | None:
    """The file ``xm create NAME`` reads: ``./NAME`` first, then ``/etc/xen/NAME`` (seed 31.11:
    a stale copy in the working directory wins, a cause of E8)."""
    for path in (posixpath.join(cwd, name), posixpath.join(etc, name)):
        if exists(path):
            return path
    return None


# ---- writing -----------------------------------------------------------------------------

def render_value(value: Any) -> str:
    """A Python literal xm reads: strings in single quotes, lists of them, numbers bare."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[ " + ", ".join(render_value(v) for v in value) + " ]" if value else "[]"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"cannot write {value!r} in a Xen guest file")
    return repr(value)


def render_xmcfg(values: Mapping[str, Any]) -> str:
    """A whole ``/etc/xen/<name>`` for ``values`` (None values left out)."""
    keys = [k for k in ORDER if k in values] + [k for k in xen_keys() if k in values
                                                 and k not in ORDER]
    unknown = set(values) - set(keys)
    if unknown:
        raise ValueError(f"not Xen guest keys: {', '.join(sorted(unknown))}")
    return "".join(f"{k} = {render_value(values[k])}\n" for k in keys if values[k] is not None)


@dataclass(frozen=True)
class XmCfgEdit:
    """Set (or, with None, remove) keys of an existing guest file in place."""

    updates: tuple[tuple[str, Any], ...]
    path: str = "/etc/xen/guest"

    def apply(self, text: str | None) -> str | None:
        if text is None:
            raise XenCfgError(self.path, 0, "not found")
        for key, value in self.updates:
            text = _set_one(text, key, value, self.path)
        parse_xmcfg(text, self.path)            # what is written must read back
        return text

    def describe(self) -> str:
        return "set " + ", ".join(f"{k} = {render_value(v)}" if v is not None else f"del {k}"
                                  for k, v in self.updates)


def _set_one(text: str, key: str, value: Any, path: str) -> str:
    parse_xmcfg(text, path)
    if key not in xen_keys():
        raise XenCfgError(path, 0, f"unknown key {key!r} (not in seed Table 27.4)")
    lines = text.splitlines(keepends=True)
    nodes = [n for n in _statements(text, path) if n.targets[0].id == key]  # type: ignore
    if not nodes:
        if value is None:
            return text
        tail = "" if not text or text.endswith("\n") else "\n"
        return text + tail + f"{key} = {render_value(value)}\n"
    spans = [(n.lineno - 1, (n.end_lineno or n.lineno) - 1) for n in nodes]
    node, (first, last) = nodes[-1], spans[-1]
    if value is None:
        new: list[str] = []
    else:
        head = lines[first][:node.value.col_offset]
        rest = lines[last][node.value.end_col_offset or 0:]
        new = [head + render_value(value) + rest]
    out = lines[:first] + new + lines[last + 1:]
    for a, b in reversed(spans[:-1]):       # an append key set more than once: one line
        del out[a:b + 1]
    return "".join(out)
