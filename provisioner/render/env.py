"""The Jinja2 environment every template renders in: sandboxed, strict, file-backed.

* ``SandboxedEnvironment``: templates cannot reach Python internals (``__class__``, ``mro``...),
  so a template edited by an admin cannot run code on the appliance.
* ``StrictUndefined``: a missing variable is an error, never an empty string.
* ``FileSystemLoader`` over ``Settings.templates_dir``: templates live in files, never in Python
  strings (house rule 6); ``{% include "snippets/<name>" %}`` pulls in a snippet.
* ``finalize``: a value printed by ``{{ ... }}`` may not contain a line break (kickstarts and boot
  configs are line-oriented: a newline in a metadata value would inject commands), unless the
  template marks it ``| multiline`` on purpose (e.g. a ``%post`` body).
* ``trim_blocks``/``lstrip_blocks``: block tags do not leave blank lines in kickstarts; files keep
  their final newline, so a snippet included on its own line stays on its own line.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment


def kopts(value: Any) -> str:
    """Kernel options as one space-separated string.

    Accepts a string (returned with whitespace collapsed), a mapping (``key=value``, or just
    ``key`` when the value is ``None``/``True``) or an iterable of strings. Empty parts vanish.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, Mapping):
        parts = [str(k) if v is None or v is True else f"{k}={v}" for k, v in value.items()
                 if v is not False]
        return " ".join(parts)
    if isinstance(value, Iterable):
        return " ".join(kopts(v) for v in value if kopts(v))
    return str(value)


def shellquote(value: Any) -> str:
    """Quote a value for a POSIX shell line (``%pre``/``%post`` bodies)."""
    return shlex.quote(str(value))


class Multiline(str):
    """A string a template explicitly allows to span lines (``{{ text | multiline }}``)."""


def multiline(value: Any) -> Multiline:
    return Multiline("" if value is None else str(value))


_LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def finalize(value: Any) -> Any:
    """Refuse a line break in a printed value unless it is :class:`Multiline`."""
    if isinstance(value, str) and not isinstance(value, Multiline):
        if any(ch in value for ch in _LINE_BREAKS):
            raise ValueError(f"value {value[:60]!r} contains a line break; a printed value must "
                             "stay on its line (use '| multiline' where a block is meant)")
    return value


def dashmac(mac: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` -> ``aa-bb-cc-dd-ee-ff`` (pxelinux config file naming)."""
    return mac.replace(":", "-")


def fail(message: str) -> None:
    """``{{ fail("...") }}``: a template refuses (the render fails closed, naming the line)."""
    raise ValueError(message)


def make_env(templates_dir: str | Path) -> SandboxedEnvironment:
    """A fresh sandboxed, strict environment over ``templates_dir``."""
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
        finalize=finalize,
    )
    env.filters["kopts"] = kopts
    env.filters["shellquote"] = shellquote
    env.filters["dashmac"] = dashmac
    env.filters["multiline"] = multiline
    env.globals["fail"] = fail
    return env
