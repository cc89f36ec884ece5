"""The machinery every option parser shares: virt-install's sub-option syntax and errors.

virt-install splits ``--disk path=/x,size=2`` with a POSIX shlex whose only separator is the
comma (so ``"a,b"`` may be quoted), maps leading bare tokens to the option's positional names
(``--disk /x`` is ``path=/x``), accepts documented aliases (``driver.cache`` for ``cache``),
lets a later ``key=`` win over an earlier one, and refuses a key it does not know with
"Unknown --disk options: ['foo']". :func:`split_kv` does the same, and says which keys are
known; a key virt-install knows but the agent does not implement is refused as such (code
``UNSUPPORTED_OPTION``), never silently dropped.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any, ClassVar

from agent.guest.domain import Guest
from agent.guest.errors import GuestError

#: (option, sub-option key) pairs parsed since the last reset (for the checkprops test).
KEYS_SEEN: set[tuple[str, str]] = set()

TRUE = ("y", "yes", "1", "true", "t", "on")
FALSE = ("n", "no", "0", "false", "f", "off")


def tokens(text: str) -> list[tuple[str, str | None]]:
    """``'a=1,b,"c=x,y"'`` -> [("a", "1"), ("b", None), ("c", "x,y")] (virt-install's shlex)."""
    lexer = shlex.shlex(text or "", posix=True)
    lexer.commenters = ""
    lexer.whitespace = ","
    lexer.whitespace_split = True
    try:
        parts = list(lexer)
    except ValueError as exc:
        raise GuestError(f"cannot split {text!r}: {exc}", "BAD_OPTION") from None
    out: list[tuple[str, str | None]] = []
    for part in parts:
        key, eq, value = part.partition("=")
        out.append((key, value if eq else None))
    return out


def split_kv(option: str, text: str, keys: tuple[str, ...], positional: tuple[str, ...] = (),
             aliases: dict[str, str] | None = None,
             unsupported: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Sub-options of one ``--option`` value, by canonical key (a later key wins).

    A value of ``None`` means the key was given bare (``--boot network``); parsers that take
    bare keys say so by checking for it, the others refuse it.
    """
    aliases = aliases or {}
    pairs = tokens(text)
    for i, name in enumerate(positional):  # leading bare tokens fill the positional names
        if i >= len(pairs) or pairs[i][1] is not None:
            break
        pairs[i] = (name, pairs[i][0])
    out: dict[str, str | None] = {}
    for key, value in pairs:
        key = aliases.get(key, key)
        if key not in keys:
            if key in unsupported:
                raise GuestError(f"--{option}: the agent does not implement the sub-option "
                                 f"{key!r} (virt-install has it)", "UNSUPPORTED_OPTION")
            raise GuestError(f"--{option}: unknown sub-option {key!r} (known: "
                             f"{', '.join(keys)})", "BAD_OPTION")
        KEYS_SEEN.add((option, key))
        out[key] = value
    return out


def need(option: str, kv: dict[str, str | None], key: str) -> str | None:
    """The value of ``key`` ('' counts as unset, like virt-install); refuses a bare key."""
    if key not in kv:
        return None
    value = kv[key]
    if value is None:
        raise GuestError(f"--{option}: {key} needs a value ({key}=...)", "BAD_OPTION")
    return value or None


def yesno(option: str, key: str, value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise GuestError(f"--{option}: {key} must be 'yes' or 'no', not {value!r}", "BAD_OPTION")


def integer(option: str, key: str, value: str | None, *, minimum: int = 0) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise GuestError(f"--{option}: {key} must be a whole number, not {value!r}",
                         "BAD_OPTION") from None
    if number < minimum:
        raise GuestError(f"--{option}: {key} must be at least {minimum}, not {number}",
                         "BAD_OPTION")
    return number


def choice(option: str, key: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise GuestError(f"--{option}: {key}={value!r} is not one of {', '.join(allowed)}",
                         "BAD_OPTION")
    return value


class OptionParser:
    """One virt-install option: its flags, argparse settings, sub-option keys and effect."""

    name: ClassVar[str]
    flags: ClassVar[tuple[str, ...]]
    keys: ClassVar[tuple[str, ...]] = ()
    positional: ClassVar[tuple[str, ...]] = ()
    aliases: ClassVar[dict[str, str]] = {}
    unsupported: ClassVar[tuple[str, ...]] = ()
    kwargs: ClassVar[dict[str, Any]] = {}
    help: ClassVar[str] = ""

    @classmethod
    def dest(cls) -> str:
        return cls.name.replace("-", "_")

    @classmethod
    def add(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*cls.flags, dest=cls.dest(), help=cls.help, **cls.kwargs)

    @classmethod
    def kv(cls, text: str) -> dict[str, str | None]:
        return split_kv(cls.name, text, cls.keys, cls.positional, cls.aliases, cls.unsupported)

    @classmethod
    def apply(cls, guest: Guest, value: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class ListParser(OptionParser):
    """An option that may be repeated (``--disk``, ``--network``...): one device per value."""

    kwargs: ClassVar[dict[str, Any]] = {"action": "append", "default": []}

    @classmethod
    def apply(cls, guest: Guest, values: list[str]) -> None:
        for text in values:
            cls.apply_one(guest, text)

    @classmethod
    def apply_one(cls, guest: Guest, text: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class FlagParser(OptionParser):
    """A bare switch (``--pxe``, ``--vnc``...)."""

    kwargs: ClassVar[dict[str, Any]] = {"action": "store_true"}
