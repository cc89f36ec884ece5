"""The Jinja2 environment every template renders in: sandboxed, strict, file-backed.

* ``SandboxedEnvironment``: templates cannot reach Python internals (``__class__``, ``mro``...),
  so a template edited by an admin cannot run code on the appliance.
* ``StrictUndefined``: a missing variable is an error, never an empty string.
* ``FileSystemLoader`` over ``Settings.templates_dir``: templates live in files, never in Python
  strings (house rule 6); ``{% include "snippets/<name>" %}`` pulls in a snippet.
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


def dashmac(mac: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` -> ``aa-bb-cc-dd-ee-ff`` (pxelinux config file naming)."""
    return mac.replace(":", "-")


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
    )
    env.filters["kopts"] = kopts
    env.filters["shellquote"] = shellquote
    env.filters["dashmac"] = dashmac
    return env
