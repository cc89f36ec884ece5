"""``/etc/xen/xend-config.sxp``: parse without losing a byte, edit in place (seed ch.16, 18.1).

The file is S-expressions, one ``(name value)`` per setting, ``#`` to the end of the line a
comment, values bare (``yes``, ``8002``, ``/bin/true``) or quoted (``''``,
``'^localhost$ ^localhost\\\\.localdomain$'``: inside quotes ``\\\\`` is one backslash).

:func:`parse_xend` reads every setting with its line and place in the text, checking each key
and value against ``provisioner/platform/data/xend.toml``; anything it cannot read with
certainty (an unbalanced parenthesis, an unterminated string, binary junk, a non-ASCII byte
outside a comment, an unknown key, a value of the wrong type) is an :class:`SxpError` naming
the file and the line. :func:`set_values` changes only the settings asked for: a setting in
force is replaced where it stands, a commented-out one (``#(xend-relocation-server no)``) is
uncommented in place (the guide's "remove the leading #"), a missing one is appended; every
other byte, comments included, stays as it was. A corrupt file is refused, never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from provisioner.platform.xend import canonical, check_value, xend_params

_BARE = re.compile(r"^[A-Za-z0-9_./:=+,@-]+$")


class SxpError(ValueError):
    """A file that cannot be read with certainty: ``path:line: message``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


@dataclass(frozen=True)
class Setting:
    key: str          # as written (an alias stays an alias)
    value: str        # the value as xend reads it (quotes and escapes resolved)
    line: int         # 1-based line of the opening parenthesis
    start: int        # offsets of the whole form in the text
    end: int


def check_text(text: str, path: str) -> None:
    """Binary junk and non-ASCII bytes (the file is decoded as Latin-1, byte = code point):
    outside comments they are an error, as Python 2's reader made them (seed E8)."""
    for n, line in enumerate(text.split("\n"), 1):
        bad = next((c for c in line if c == "\x00" or (ord(c) < 32 and c not in "\t\r")), None)
        if bad is not None:
            raise SxpError(path, n, f"binary data (byte {ord(bad):#04x}): not a text file")
        code = line.split("#", 1)[0] if "'" not in line and '"' not in line else line
        high = next((c for c in code if ord(c) > 126), None)
        if high is not None and not line.lstrip().startswith("#"):
            raise SxpError(path, n, f"non-ASCII character {high.encode('latin-1')!r}"
                           .replace("b'", "'"))


def _scan(text: str, path: str) -> Iterator[tuple[str, int, int, int]]:
    """Tokens (kind, text-start, text-end, line): '(' ')' 'atom' 'str'; comments skipped."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "()":
            yield c, i, i + 1, line
            i += 1
        elif c in "'\"":
            j, start_line = i + 1, line
            while j < n and text[j] != c:
                if text[j] == "\n":
                    raise SxpError(path, start_line, "string not closed on its line")
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise SxpError(path, start_line, "string not closed")
            yield "str", i, j + 1, line
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n()#'\"":
                j += 1
            yield "atom", i, j, line
            i = j


def _unquote(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


def parse_xend(text: str, path: str = "/etc/xen/xend-config.sxp") -> list[Setting]:
    """Every ``(name value)`` form of the file, in order; :class:`SxpError` on anything
    unreadable, unknown or mistyped."""
    check_text(text, path)
    out: list[Setting] = []
    depth, form_start, form_line = 0, 0, 0
    items: list[tuple[str, int, int, int]] = []
    for kind, s, e, line in _scan(text, path):
        if kind == "(":
            if depth == 0:
                form_start, form_line, items = s, line, []
            elif depth >= 1:
                items.append(("nested", s, e, line))
            depth += 1
        elif kind == ")":
            if depth == 0:
                raise SxpError(path, line, "')' without a matching '('")
            depth -= 1
            if depth == 0:
                out.append(_setting(text, path, items, form_start, e, form_line))
        elif depth == 0:
            raise SxpError(path, line, f"{text[s:e]!r} outside a (name value) form")
        elif depth == 1 or not items or items[-1][0] != "nested":
            items.append((kind, s, e, line))
    if depth:
        raise SxpError(path, form_line, "'(' never closed (unbalanced parentheses)")
    return out


def _setting(text: str, path: str, items: list[tuple[str, int, int, int]], start: int,
             end: int, line: int) -> Setting:
    if not items or items[0][0] != "atom":
        raise SxpError(path, line, "a form must start with a parameter name")
    key = text[items[0][1]:items[0][2]]
    rest = items[1:]
    if len(rest) == 1 and rest[0][0] in ("atom", "str"):
        raw = text[rest[0][1]:rest[0][2]]
        value = _unquote(raw) if rest[0][0] == "str" else raw
    else:                       # nested or several values: the text as written
        value = text[items[0][2]:end - 1].strip()
    why = check_value(key, value)
    if why is not None:
        raise SxpError(path, line, f"{key}: {why}")
    return Setting(key, value, line, start, end)


def render_value(value: str) -> str:
    """A value as the file writes it: bare when it is one plain word, else single-quoted
    with backslashes and quotes escaped (``''`` for empty)."""
    if value and _BARE.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_setting(key: str, value: str) -> str:
    return f"({key} {render_value(value)})"


def settings_dict(settings: list[Setting]) -> dict[str, str]:
    """Canonical name -> value of the forms in force (the first of a repeated key, as xend
    reads it)."""
    out: dict[str, str] = {}
    for s in settings:
        out.setdefault(canonical(s.key) or s.key, s.value)
    return out


def _commented(text: str, key: str) -> re.Match[str] | None:
    return re.search(rf"(?m)^[ \t]*#[ \t]*\({re.escape(key)}[ \t)][^\n]*$", text)


def set_values(text: str, updates: Mapping[str, str | None],
               path: str = "/etc/xen/xend-config.sxp") -> str:
    """``text`` with each ``key`` set to its value (None: commented out); see the module doc."""
    for key, value in updates.items():
        name = canonical(key)
        if name is None or (value is not None and check_value(name, value)):
            raise SxpError(path, 0, f"{key}: {check_value(key, value or '')}")
        current = [s for s in parse_xend(text, path) if canonical(s.key) == name]
        if current:
            text = _replace(text, current, value)
            continue
        if value is None:
            continue
        new = render_setting(name, value)
        m = next((m for k in (name, *_aliases(name)) if (m := _commented(text, k))), None)
        if m is not None:
            text = text[:m.start()] + new + text[m.end():]
        else:
            text = (text if not text or text.endswith("\n") else text + "\n") + new + "\n"
    parse_xend(text, path)                  # what we write must read back
    return text


def _aliases(name: str) -> tuple[str, ...]:
    return xend_params()[name].aliases


def _replace(text: str, forms: list[Setting], value: str | None) -> str:
    """The first form takes the new value (or a leading '#'); later repeats are commented."""
    for i, s in reversed(list(enumerate(forms))):
        old = text[s.start:s.end]
        if i == 0 and value is not None:
            new = render_setting(s.key, value) if s.value != value else old
        else:
            new = "#" + old if "\n" not in old else "#" + old.replace("\n", "\n#")
        text = text[:s.start] + new + text[s.end:]
    return text


@dataclass(frozen=True)
class XendEdit:
    """A plan's edit of xend-config.sxp (a ``TextEdit``): :func:`set_values`, refusing a
    missing or corrupt file instead of writing over it."""

    updates: tuple[tuple[str, str | None], ...]
    path: str = "/etc/xen/xend-config.sxp"

    def apply(self, text: str | None) -> str | None:
        if text is None:
            raise SxpError(self.path, 0, "not found (is xen installed?)")
        return set_values(text, dict(self.updates), self.path)

    def describe(self) -> str:
        return "set " + " ".join(render_setting(k, v) if v is not None else f"#({k} ...)"
                                 for k, v in self.updates)
