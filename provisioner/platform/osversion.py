"""The one parser of OS version strings (``rhel5.4``) and release numbers (``5.4``).

An *OS version* names a family and a release: ``rhel5.4``, ``centos5``, ``fedora39``; a bare
release (``5.4``, as the agent's guest version or a ``.treeinfo`` carries it) parses with an
empty family. Only the leading ``<letters><major>[.<minor>]`` counts: ``rhel5.4-server`` is
5.4 and ``rhel5.4.1`` is 5.4 too. Upper case and leading spaces do not parse (callers strip).

A *release* (``5.4``, ``5.10``, ``12``) compares as a tuple of numbers: ``5.10`` > ``5.9``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OS_VERSION = re.compile(r"([a-z]*)(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class OsVersion:
    """``rhel5.4`` -> ``OsVersion("rhel", 5, 4)``; ``rhel9`` -> ``OsVersion("rhel", 9, None)``."""

    family: str  # "" for a bare release
    major: int
    minor: int | None = None

    @property
    def release(self) -> str:
        """``"5.4"``, or ``"5"`` when the string named no minor release."""
        return f"{self.major}" if self.minor is None else f"{self.major}.{self.minor}"

    @property
    def numbers(self) -> tuple[int, int]:
        """(major, minor) with an unnamed minor read as 0: ``5`` -> (5, 0)."""
        return self.major, self.minor or 0


def parse_os_version(text: str | None) -> OsVersion | None:
    """The family and release at the start of ``text``; None when it starts with neither."""
    m = _OS_VERSION.match(text or "")
    if m is None:
        return None
    return OsVersion(m.group(1), int(m.group(2)), int(m.group(3)) if m.group(3) else None)


def parse_release(text: str | None) -> tuple[int, int] | None:
    """A bare release ``5.4`` -> (5, 4), ``5`` -> (5, 0); None for anything with a family
    (``rhel5``) or no number. Surrounding spaces are ignored."""
    v = parse_os_version((text or "").strip())
    return v.numbers if v is not None and not v.family else None


def release_numbers(text: str) -> tuple[int, ...]:
    """The leading dotted numbers: ``9.3`` -> (9, 3), ``12`` -> (12,), ``5.4beta`` -> (5,),
    ``bookworm`` -> ()."""
    out: list[int] = []
    for part in text.split("."):
        if not part.isdecimal():
            break
        out.append(int(part))
    return tuple(out)


def release_tuple(value: object) -> tuple[int, ...] | None:
    """Every dotted part a number (``5.4`` -> (5, 4)), else None; None stays None."""
    if value is None:
        return None
    text = str(value)
    numbers = release_numbers(text)
    return numbers if len(numbers) == text.count(".") + 1 else None


def release_lt(fact: object, operand: object) -> bool | None:
    """``fact < operand`` on release numbers; None when undecidable (``5`` vs ``5.4``, junk)."""
    a, b = release_tuple(fact), release_tuple(operand)
    if a is None or b is None:
        return None
    if a[0] != b[0]:
        return a[0] < b[0]
    if len(a) < len(b):  # same major, unknown minor: no verdict
        return None
    return a < b
