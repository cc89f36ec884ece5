"""libosinfo's database (osinfo-db), read from its XML files.

The same files libosinfo loads (``/usr/share/osinfo`` from Debian's ``osinfo-db``, then
``/etc/osinfo``, then ``$XDG_CONFIG_HOME/osinfo``; a later copy of an id wins), resolved the
way libosinfo 1.10 resolves them, so the agent needs neither GObject introspection nor a C
library in its virtualenv. ``tests/agent/guest/test_osinfo.py`` checks every OS of the installed
database against libosinfo itself (``gir1.2-libosinfo-1.0`` through the system ``python3-gi``).

Resolution rules (libosinfo's ``osinfo_os_get_all_devices``, ``get_*_resources``,
``get_complete_firmware_list``):

* devices: the OS's own device links plus, recursively, those of every OS it derives from or
  clones; a link marked ``supported="false"`` removes that device, at the level that says so
  and below it;
* resources (minimum, recommended, maximum, network-install): the OS's own, per arch; an arch
  given as ``<resources arch="A" inherit="true"/>`` takes the first parent's figures for A;
* firmware: the OS's own entries, then its parents' for (arch, type) pairs it does not name;
* kernel URL argument: the OS's own, else its parents'.

Parsing is pure (text in, records out); :func:`load` is the only part that reads files.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_DIRS = ("/usr/share/osinfo", "/etc/osinfo")
KINDS = ("minimum", "recommended", "maximum", "network-install")


@dataclass(frozen=True)
class Resources:
    """One arch's figures; -1 means "not given" (libosinfo's convention)."""

    ncpus: int = -1
    ram: int = -1  # bytes
    storage: int = -1  # bytes


@dataclass(frozen=True)
class Firmware:
    arch: str
    type: str  # bios | efi
    supported: bool = True


@dataclass
class OsRecord:
    """One ``<os>`` element as written (before inheritance)."""

    id: str
    short_ids: tuple[str, ...] = ()
    name: str = ""
    family: str = ""
    distro: str = ""
    version: str = ""
    derives_from: tuple[str, ...] = ()
    clones: tuple[str, ...] = ()
    upgrades: tuple[str, ...] = ()
    devices: tuple[tuple[str, bool], ...] = ()  # (device id, supported)
    resources: dict[str, dict[str, Resources]] = field(default_factory=dict)  # kind -> arch ->
    firmware: tuple[Firmware, ...] = ()
    inherit_resources: tuple[str, ...] = ()  # arches of <resources inherit="true"/>
    kernel_url_arg: str | None = None
    trees: tuple[tuple[str, str | None, str | None], ...] = ()  # (arch, kernel, initrd)
    #: ``<media><iso>`` and ``<tree><treeinfo>`` patterns: ((field, regex), ...) per medium
    media: tuple[tuple[tuple[str, str], ...], ...] = ()
    treeinfos: tuple[tuple[tuple[str, str], ...], ...] = ()


def _int(node: ET.Element, tag: str) -> int:
    text = node.findtext(tag)
    return int(text) if text and text.strip().lstrip("-").isdigit() else -1


def _resources(os_el: ET.Element) -> dict[str, dict[str, Resources]]:
    out: dict[str, dict[str, Resources]] = {}
    for res in os_el.findall("resources"):
        arch = res.get("arch", "all")
        for kind in KINDS:
            node = res.find(kind)
            if node is not None:
                out.setdefault(kind, {})[arch] = Resources(
                    _int(node, "n-cpus"), _int(node, "ram"), _int(node, "storage"))
    return out


def _record(el: ET.Element) -> OsRecord:
    def ids(tag: str) -> tuple[str, ...]:
        return tuple(e.get("id", "") for e in el.findall(tag))

    return OsRecord(
        id=el.get("id", ""),
        short_ids=tuple((e.text or "").strip() for e in el.findall("short-id")),
        name=(el.findtext("name") or "").strip(),
        family=(el.findtext("family") or "").strip(),
        distro=(el.findtext("distro") or "").strip(),
        version=(el.findtext("version") or "").strip(),
        derives_from=ids("derives-from"), clones=ids("clones"), upgrades=ids("upgrades"),
        devices=tuple((d.get("id", ""), d.get("supported", "true") != "false")
                      for d in el.findall("devices/device")),
        resources=_resources(el),
        firmware=tuple(Firmware(f.get("arch", ""), f.get("type", ""),
                                f.get("supported", "true") != "false")
                       for f in el.findall("firmware")),
        inherit_resources=tuple(r.get("arch", "all") for r in el.findall("resources")
                                if r.get("inherit") == "true"),
        kernel_url_arg=(el.findtext("kernel-url-argument") or "").strip() or None,
        trees=tuple((t.get("arch", "all"), t.findtext("kernel"), t.findtext("initrd"))
                    for t in el.findall("tree")),
        media=_patterns(el, "media/iso", MEDIA_FIELDS),
        treeinfos=_patterns(el, "tree/treeinfo", TREE_FIELDS))


MEDIA_FIELDS = ("volume-id", "system-id", "publisher-id", "application-id")
TREE_FIELDS = ("family", "variant", "version", "arch")


def _patterns(el: ET.Element, path: str,
              fields: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], ...]:
    out = []
    for node in el.findall(path):
        pats = tuple((f, (node.findtext(f) or "").strip()) for f in fields
                     if (node.findtext(f) or "").strip())
        if pats:
            out.append(pats)
    return tuple(out)


def _matches(regex: str, value: str) -> bool:
    """libosinfo's match_regex: an absent value never matches; an unanchored search."""
    try:
        return bool(value) and re.search(regex, value) is not None
    except re.error:
        return False


def parse(text: str) -> list[OsRecord]:
    """Every ``<os>`` of one osinfo-db file."""
    return [_record(el) for el in ET.fromstring(text).findall("os")]


def device_classes(texts: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``{device id: (class, name)}`` from ``device/**.xml`` files (``class`` is e.g. net)."""
    out: dict[str, tuple[str, str]] = {}
    for text in texts:
        for dev in ET.fromstring(text).findall("device"):
            out[dev.get("id", "")] = ((dev.findtext("class") or "").strip(),
                                      (dev.findtext("name") or "").strip())
    return out


class OsinfoDB:
    """All OS records by id and short id, with libosinfo's inheritance rules."""

    def __init__(self, records: Iterable[OsRecord],
                 devices: dict[str, tuple[str, str]] | None = None) -> None:
        self.by_id: dict[str, OsRecord] = {}
        for rec in records:
            self.by_id[rec.id] = rec  # a later directory overrides an earlier one
        self.by_short: dict[str, OsRecord] = {}
        for rec in self.by_id.values():
            for sid in rec.short_ids:
                self.by_short.setdefault(sid, rec)
        self.devices = devices or {}

    def __len__(self) -> int:
        return len(self.by_id)

    def lookup(self, short_id: str) -> OsRecord | None:
        return self.by_short.get(short_id)

    def identify(self, kind: str, ids: Mapping[str, str]) -> OsRecord | None:
        """The OS whose ``<media><iso>`` (kind ``media``) or ``<tree><treeinfo>`` (``tree``)
        patterns all match the media's identifiers (libosinfo's identify_media/tree)."""
        for rec in self.by_id.values():
            for pats in rec.media if kind == "media" else rec.treeinfos:
                if all(_matches(rx, ids.get(f.replace("-", "_"), "")) for f, rx in pats):
                    return rec
        return None

    def _parents(self, rec: OsRecord) -> Iterator[OsRecord]:
        for pid in (*rec.derives_from, *rec.clones):
            parent = self.by_id.get(pid)
            if parent is not None:
                yield parent

    def related(self, rec: OsRecord) -> set[str]:
        """Short ids of every OS ``rec`` derives from, clones or upgrades, transitively."""
        out: set[str] = set()
        todo = [rec]
        while todo:
            cur = todo.pop()
            for pid in (*cur.derives_from, *cur.clones, *cur.upgrades):
                parent = self.by_id.get(pid)
                if parent is not None and parent.short_ids and parent.short_ids[0] not in out:
                    out.add(parent.short_ids[0])
                    todo.append(parent)
        return out

    def all_devices(self, rec: OsRecord, _seen: frozenset[str] = frozenset()) -> set[str]:
        """Supported device ids of ``rec`` including inherited ones."""
        if rec.id in _seen:
            return set()
        seen = _seen | {rec.id}
        found: set[str] = set()
        for parent in self._parents(rec):
            found |= self.all_devices(parent, seen)
        for dev, supported in rec.devices:
            if supported:
                found.add(dev)
            else:
                found.discard(dev)
        return found

    def resources(self, rec: OsRecord, kind: str,
                  _seen: frozenset[str] = frozenset()) -> dict[str, Resources]:
        """``{arch: Resources}`` of one kind: the OS's own; for an arch whose
        ``<resources inherit="true"/>`` it takes the first parent's figures (blank if none)."""
        own = dict(rec.resources.get(kind, {}))
        if not rec.inherit_resources or rec.id in _seen:
            return own
        parent = next(self._parents(rec), None)
        theirs = self.resources(parent, kind, _seen | {rec.id}) if parent else {}
        for arch in rec.inherit_resources:
            own.setdefault(arch, theirs.get(arch, Resources()))
        return own

    def firmware(self, rec: OsRecord, _seen: frozenset[str] = frozenset()) -> list[Firmware]:
        out = list(rec.firmware)
        if rec.id in _seen:
            return out
        named = {(f.arch, f.type) for f in out}
        for parent in self._parents(rec):
            for fw in self.firmware(parent, _seen | {rec.id}):
                if (fw.arch, fw.type) not in named:
                    named.add((fw.arch, fw.type))
                    out.append(fw)
        return out

    def kernel_url_arg(self, rec: OsRecord, _seen: frozenset[str] = frozenset()) -> str | None:
        if rec.kernel_url_arg or rec.id in _seen:
            return rec.kernel_url_arg
        for parent in self._parents(rec):
            got = self.kernel_url_arg(parent, _seen | {rec.id})
            if got:
                return got
        return None


def default_dirs() -> list[Path]:
    """libosinfo's default search path (``osinfo_loader_process_default_path``)."""
    dirs = [Path(os.environ.get("OSINFO_SYSTEM_DIR", SYSTEM_DIRS[0])), Path(SYSTEM_DIRS[1])]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return [*dirs, Path(config) / "osinfo"]


def load(dirs: Iterable[Path] | None = None) -> OsinfoDB:
    """Read every ``os/**.xml`` and ``device/**.xml`` under ``dirs`` (later dirs win)."""
    records: list[OsRecord] = []
    device_texts: list[str] = []
    for base in dirs if dirs is not None else default_dirs():
        for path in sorted((base / "os").rglob("*.xml")) if (base / "os").is_dir() else []:
            records.extend(parse(path.read_text(encoding="utf-8")))
        if (base / "device").is_dir():
            device_texts += [p.read_text(encoding="utf-8")
                             for p in sorted((base / "device").rglob("*.xml"))]
    return OsinfoDB(records, device_classes(device_texts))
