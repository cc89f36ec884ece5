"""Pure text edits of boot loader configuration: GRUB legacy, /etc/default/grub, ELILO.

Each edit is a frozen value with ``apply(text) -> text`` that changes only the lines it must
(indentation, comments, blank lines and every other entry stay byte for byte) and is
idempotent: applying it to its own output changes nothing.

GRUB legacy anatomy (seed 28.2/28.5, notes E §2.3): a regular entry has
``kernel /vmlinuz-... args`` + ``initrd``; a Xen entry has ``kernel /xen.gz-... <hypervisor
args>``, ``module /vmlinuz-...xen <dom0 args>``, ``module /initrd-...``. ``default=N`` is a
0-based index of ``title`` entries.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from agent.plan.steps import TextEdit

#: Keys that may appear several times on one command line (never replaced, only added).
MULTI_KEYS = frozenset({"console"})


def _key(token: str) -> str:
    return token.split("=", 1)[0]


def merge_args(current: list[str], add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
               ) -> list[str]:
    """Add tokens (a ``key=value`` replaces the same key's value in place; bare flags and
    multi-keys like ``console=`` are added once), remove tokens or ``key=`` prefixes."""
    out = [t for t in current if not any(
        t == r or (r.endswith("=") and t.startswith(r)) for r in remove)]
    for tok in add:
        if tok in out:
            continue
        k = _key(tok)
        if "=" in tok and k not in MULTI_KEYS:
            idx = [i for i, t in enumerate(out) if "=" in t and _key(t) == k]
            if idx:
                out[idx[0]] = tok
                for i in reversed(idx[1:]):
                    del out[i]
                continue
        out.append(tok)
    return out


# ------------------------------------------------------------------ GRUB legacy

_LINE = re.compile(r"^(\s*)(\S+)(\s*=\s*|\s+)?(.*?)(\s*)$")


@dataclass(frozen=True)
class Entry:
    title: str
    start: int                 # line index of "title"
    end: int                   # exclusive
    kernel: int | None         # line index of "kernel"
    modules: tuple[int, ...]   # line indexes of "module"

    @property
    def is_xen(self) -> bool:
        return bool(self.modules)


def parse_grub_legacy(text: str) -> tuple[dict[str, int], list[Entry]]:
    """(global keyword -> line index, entries). Tolerant: unknown lines are kept as they are."""
    lines = text.splitlines()
    globals_: dict[str, int] = {}
    entries: list[Entry] = []
    cur: dict[str, Any] | None = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        word = re.split(r"[\s=]", s, maxsplit=1)[0]
        if word == "title":
            if cur:
                entries.append(Entry(cur["title"], cur["start"], i, cur["kernel"],
                                     tuple(cur["modules"])))
            cur = {"title": s[5:].strip(), "start": i, "kernel": None, "modules": []}
        elif cur is None:
            globals_.setdefault(word, i)
        elif word == "kernel":
            cur["kernel"] = i
        elif word == "module":
            cur["modules"].append(i)
    if cur:
        entries.append(Entry(cur["title"], cur["start"], len(lines), cur["kernel"],
                             tuple(cur["modules"])))
    return globals_, entries


def is_xen_image(kernel_line: str) -> bool:
    parts = kernel_line.split()
    return len(parts) > 1 and "xen.gz" in parts[1]


def _rewrite_args(line: str, add: tuple[str, ...], remove: tuple[str, ...]) -> str:
    """Keep ``<indent>kernel<sep>/image`` as written; rewrite the arguments after it."""
    m = re.match(r"^(\s*\S+\s+\S+)(.*)$", line)
    if not m:
        return line
    head, rest = m.group(1), m.group(2)
    args = rest.split()
    new = merge_args(args, add, remove)
    if new == args:
        return line
    return head + ("" if not new else " " + " ".join(new))


def default_index(text: str) -> int:
    g, _ = parse_grub_legacy(text)
    if "default" not in g:
        return 0
    m = re.search(r"default\s*=?\s*(\d+)", text.splitlines()[g["default"]])
    return int(m.group(1)) if m else 0


@dataclass(frozen=True)
class GrubArgs:
    """Add/remove arguments on GRUB legacy lines.

    which: ``regular`` (non-Xen entries), ``xen`` (Xen entries), ``default`` (the default
    entry), ``all``. line: ``kernel`` (regular kernel line, or the xen.gz line of a Xen
    entry = hypervisor arguments) or ``dom0`` (the first ``module`` line of a Xen entry).
    """

    which: str
    line: str
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def apply(self, text: str | None) -> str | None:
        if text is None:
            return None
        lines = text.splitlines(keepends=True)
        _, entries = parse_grub_legacy(text)
        dflt = default_index(text)
        for n, e in enumerate(entries):
            kind = "xen" if e.is_xen else "regular"
            if self.which not in ("all", kind) and not (self.which == "default" and n == dflt):
                continue
            if self.line == "dom0":
                if not e.modules:
                    continue
                idx = e.modules[0]
            else:
                if e.kernel is None:
                    continue
                idx = e.kernel
            raw = lines[idx]
            eol = raw[len(raw.rstrip("\r\n")):]
            lines[idx] = _rewrite_args(raw.rstrip("\r\n"), self.add, self.remove) + eol
        return "".join(lines)

    def describe(self) -> str:
        where = {"kernel": "kernel line", "dom0": "dom0 module line"}[self.line]
        if self.line == "kernel" and self.which == "xen":
            where = "xen.gz (hypervisor) line"
        parts = []
        if self.add:
            parts.append("add " + " ".join(self.add))
        if self.remove:
            parts.append("remove " + " ".join(self.remove))
        return f"{', '.join(parts)} on the {where} of {self.which} entries"


@dataclass(frozen=True)
class GrubDefault:
    """Point ``default=`` at the first Xen or regular entry (only that line changes)."""

    kind: str   # "xen" | "regular"

    def apply(self, text: str | None) -> str | None:
        if text is None:
            return None
        g, entries = parse_grub_legacy(text)
        want = next((n for n, e in enumerate(entries)
                     if (e.is_xen if self.kind == "xen" else not e.is_xen)), None)
        if want is None:
            raise ValueError(f"grub.conf has no {self.kind} entry to make the default")
        lines = text.splitlines(keepends=True)
        if "default" in g:
            i = g["default"]
            lines[i] = re.sub(r"(default\s*=?\s*)\d+", lambda m: f"{m.group(1)}{want}", lines[i],
                              count=1)
        else:
            lines.insert(0, f"default={want}\n")
        return "".join(lines)

    def describe(self) -> str:
        return f"make the first {self.kind} entry the default"


@dataclass(frozen=True)
class GrubGlobals:
    """Ensure global directives (e.g. ``serial``/``terminal``) before the first ``title``;
    an existing line with the same keyword is replaced in place."""

    lines: tuple[str, ...]

    def apply(self, text: str | None) -> str | None:
        if text is None:
            return None
        out = text.splitlines(keepends=True)
        for want in self.lines:
            g, entries = parse_grub_legacy("".join(out))
            word = want.split()[0]
            if word in g:
                i = g[word]
                eol = out[i][len(out[i].rstrip("\r\n")):] or "\n"
                out[i] = want + eol
            else:
                at = entries[0].start if entries else len(out)
                out.insert(at, want + "\n")
        return "".join(out)

    def describe(self) -> str:
        return "global lines: " + "; ".join(self.lines)


@dataclass(frozen=True)
class GrubChain:
    """Several GRUB legacy edits of one file, applied in order (one file step)."""

    edits: tuple[TextEdit, ...]

    def apply(self, text: str | None) -> str | None:
        for e in self.edits:
            text = e.apply(text)
        return text

    def describe(self) -> str:
        return "; ".join(e.describe() for e in self.edits)


def validate_xen_entries(text: str) -> list[str]:
    """Seed 28.5: a Xen entry needs all five lines (title, root, kernel xen.gz, 2 modules)."""
    errors = []
    lines = text.splitlines()
    _, entries = parse_grub_legacy(text)
    for e in entries:
        if e.kernel is None or not is_xen_image(lines[e.kernel]):
            continue
        body = [ln.split()[0] for ln in lines[e.start + 1:e.end] if ln.strip()
                and not ln.strip().startswith("#")]
        if "root" not in body or len(e.modules) < 2:
            errors.append(f"Xen entry {e.title!r} lacks its root or module lines")
    return errors


# ------------------------------------------------------------------ /etc/default/grub

@dataclass(frozen=True)
class DefaultGrubArgs:
    """Edit one ``VAR="..."`` of /etc/default/grub (added at the end when absent)."""

    var: str = "GRUB_CMDLINE_LINUX"
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def apply(self, text: str | None) -> str | None:
        text = text or ""
        lines = text.splitlines(keepends=True)
        pat = re.compile(rf"^(\s*{re.escape(self.var)}=)(.*?)(\s*)$")
        for i, line in enumerate(lines):
            m = pat.match(line.rstrip("\n"))
            if not m:
                continue
            raw = m.group(2)
            quote = raw[0] if raw[:1] in "\"'" else '"'
            try:
                value = shlex.split(raw)[0] if raw.strip() else ""
            except ValueError:
                raise ValueError(f"cannot parse {self.var} in /etc/default/grub") from None
            args = value.split()
            new = merge_args(args, self.add, self.remove)
            if new != args:
                lines[i] = f"{m.group(1)}{quote}{' '.join(new)}{quote}\n"
            return "".join(lines)
        if text and not text.endswith("\n"):
            lines.append("\n")
        lines.append(f'{self.var}="{" ".join(merge_args([], self.add))}"\n')
        return "".join(lines)

    def describe(self) -> str:
        return f"{self.var}: add {' '.join(self.add)}" + (
            f", remove {' '.join(self.remove)}" if self.remove else "")


# ------------------------------------------------------------------ ELILO

def split_hv_kernel(append: str) -> tuple[list[str], list[str]]:
    """``"dom0_mem=2G -- quiet"`` -> (hypervisor args, kernel args)."""
    words = append.split()
    if "--" not in words:
        return words, []
    i = words.index("--")
    return words[:i], words[i + 1:]


def build_append(hv: list[str], kernel: list[str]) -> str:
    """Always keep ``--`` (seed ch. 26: it separates hypervisor from kernel arguments)."""
    return " ".join([*hv, "--", *kernel])


def elilo_cmdline(stanza: dict[str, str | bool]) -> str:
    """The command line ELILO builds: root=, read-only -> ro, merged with append."""
    hv, kernel = split_hv_kernel(str(stanza.get("append", "")))
    pre = [f"root={stanza['root']}"] if stanza.get("root") else []
    if stanza.get("read-only"):
        pre.append("ro")
    return " ".join([*hv, "--", *pre, *kernel])


@dataclass(frozen=True)
class EliloArgs:
    """Add arguments to the ``append=`` of Xen image stanzas (those with ``vmm=``)."""

    hv_add: tuple[str, ...] = ()
    kernel_add: tuple[str, ...] = ()

    def apply(self, text: str | None) -> str | None:
        if text is None:
            return None
        lines = text.splitlines(keepends=True)
        stanzas: list[list[int]] = []
        for i, line in enumerate(lines):
            if re.match(r"^\s*image\s*=", line):
                stanzas.append([i])
            elif stanzas and line.strip():
                stanzas[-1].append(i)
        for idxs in reversed(stanzas):
            if not any(re.match(r"^\s*vmm\s*=", lines[i]) for i in idxs):
                continue
            app = [i for i in idxs if re.match(r"^\s*append\s*=", lines[i])]
            if app:
                i = app[0]
                m = re.match(r'^(\s*append\s*=\s*)"?(.*?)"?\s*$', lines[i])
                if m is None:  # pragma: no cover - every append= line matches
                    continue
                hv, kern = split_hv_kernel(m.group(2))
                new = build_append(merge_args(hv, self.hv_add), merge_args(kern, self.kernel_add))
                if new.split() != m.group(2).split() or "--" not in m.group(2).split():
                    lines[i] = f'{m.group(1)}"{new}"\n'
            else:
                last = lines[idxs[-1]]
                indent = last[:len(last) - len(last.lstrip())] if len(idxs) > 1 else "\t"
                lines.insert(idxs[-1] + 1, f'{indent}append="'
                             f'{build_append(list(self.hv_add), list(self.kernel_add))}"\n')
        return "".join(lines)

    def describe(self) -> str:
        return (f"ELILO append: hypervisor {' '.join(self.hv_add) or '-'} -- "
                f"kernel {' '.join(self.kernel_add) or '-'}")
