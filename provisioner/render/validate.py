"""Check a rendered kickstart with pykickstart under the handler of the distro's OS version.

``validate_kickstart(text, os_version) -> list[KsIssue]``: ``rhel5.4`` -> pykickstart's RHEL5
handler, ``rhel9`` -> RHEL9, ``centos7``/``rocky9``/``almalinux8``/``ol8`` -> RHEL<major>,
``fedora39`` -> F39 (``handler_commands`` says which commands that installer knows, for the
templates). Parse errors are ``error`` issues; pykickstart's parse and deprecation
warnings (which ``ksvalidator`` counts as failures) are ``warning`` issues. An empty list means
the kickstart is clean for that installer.

The serving path validates every kickstart it hands out (each system's text differs), and
building a pykickstart handler costs ~17 ms of CPU (an argparse parser per command), several
times the parse itself. So each version's handler is built once and reused: after a parse, the
commands the text used (``seen``) get back the state they had before any parse (a copy of
it taken when the handler was built; each keeps its parser, and aliases stay one object) and
the handler's section state (scripts, packages, certificates, platform) starts over.
Commands the text did not use were never touched. ``tests/render/test_validate.py`` checks
that a reused handler answers as a fresh one.
"""

from __future__ import annotations

import copy
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pykickstart.errors import KickstartError, KickstartParseWarning
from pykickstart.parser import KickstartParser, Packages
from pykickstart.version import makeVersion, versionMap

from provisioner.platform.osversion import parse_os_version

_RHEL_LIKE = ("rhel", "centos", "rocky", "almalinux", "alma", "ol", "el")
_LINE = re.compile(r"line (\d+)")
# warnings.catch_warnings swaps process-global state: one parse at a time
_LOCK = threading.Lock()


@dataclass(frozen=True)
class KsIssue:
    """One pykickstart finding; ``line`` is the kickstart line when pykickstart names it."""

    level: str  # "error" | "warning"
    line: int | None
    message: str


def handler_name(os_version: str) -> str | None:
    """The pykickstart version name for ``os_version``, or None when it has none."""
    v = parse_os_version(os_version)
    if v is None or not v.family:
        return None
    family, major = v.family, v.major
    name = f"RHEL{major}" if family in _RHEL_LIKE else f"F{major}" if family == "fedora" else None
    return name if name in versionMap else None


@lru_cache(maxsize=64)
def handler_commands(os_version: str) -> frozenset[str]:
    """The kickstart commands the installer of ``os_version`` knows (its pykickstart handler):
    the templates ask this before writing a command only some releases have (``key`` is RHEL 5
    only, ``repo`` RHEL 5 on, ``selinux`` RHEL 4 on). Empty when there is no handler."""
    name = handler_name(os_version)
    return frozenset(makeVersion(name).commands) if name else frozenset()


class _CollectingParser(KickstartParser):  # type: ignore[misc]  # untyped library
    """Keeps going after an error (like ``ksvalidator`` without ``-e``) and records each one."""

    def __init__(self, handler: object) -> None:
        super().__init__(handler, followIncludes=False, errorsAreFatal=False,
                         missingIncludeIsFatal=False)
        self.issues: list[KsIssue] = []

    def _tryFunc(self, fn: Callable[[], object]) -> None:  # pykickstart's per-command hook
        try:
            fn()
        except KickstartError as e:
            self.errorsCount += 1
            self.issues.append(KsIssue("error", e.lineno, _clean(e.message or str(e))))


def _clean(message: object) -> str:
    return " ".join(str(message).split())


def validate_kickstart(text: str, os_version: str) -> list[KsIssue]:
    """All problems pykickstart finds in ``text`` for ``os_version``'s installer (the same
    text is parsed once: the answers are cached, the serving path asks on every fetch)."""
    return list(_validate(text, os_version))


_SHARED = ("op", "handler")  # a command's parser and handler: not per-parse state


class _Handler:
    """A version's pykickstart handler and its commands' state before any parse."""

    def __init__(self, name: str) -> None:
        self.handler: Any = makeVersion(name)
        self.pristine = {id(c): copy.deepcopy({k: v for k, v in vars(c).items()
                                               if k not in _SHARED})
                         for c in self.handler.commands.values() if c is not None}

    def reset(self) -> None:
        """Make the used handler equivalent to a new one (see the module docstring)."""
        h, done = self.handler, set()
        for cmd in h.commands.values():
            if cmd is None or not cmd.seen or id(cmd) in done:
                continue
            done.add(id(cmd))
            shared = {k: vars(cmd)[k] for k in _SHARED if k in vars(cmd)}
            vars(cmd).clear()
            vars(cmd).update(copy.deepcopy(self.pristine[id(cmd)]), **shared)
        h.certificates, h.scripts, h.packages = [], [], Packages()
        h.platform, h._null_section_strings, h.currentLine = "", [], ""


_HANDLERS: dict[str, _Handler] = {}  # version name -> its handler, reused under _LOCK


@lru_cache(maxsize=256)
def _validate(text: str, os_version: str) -> tuple[KsIssue, ...]:
    name = handler_name(os_version)
    if name is None:
        return (KsIssue("error", None, f"no pykickstart handler for OS version {os_version!r}"),)
    with _LOCK, warnings.catch_warnings(record=True) as caught:
        handler = _HANDLERS.get(name)
        if handler is None:
            handler = _HANDLERS[name] = _Handler(name)
        parser = _CollectingParser(handler.handler)
        warnings.simplefilter("always", KickstartParseWarning)
        try:
            parser.readKickstartFromString(text)
        except KickstartError as e:
            parser.issues.append(KsIssue("error", e.lineno, _clean(e.message or str(e))))
        finally:
            handler.reset()
    issues = list(parser.issues)
    for w in caught:
        if issubclass(w.category, KickstartParseWarning):
            msg = _clean(w.message)
            m = _LINE.search(msg)
            issues.append(KsIssue("warning", int(m.group(1)) if m else None, msg))
    return tuple(sorted(issues, key=lambda i: (i.level != "error", i.line or 0)))
