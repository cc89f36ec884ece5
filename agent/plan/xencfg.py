"""Plans for ``/etc/xen/<guest>`` (seed ch.27, 30.13): set or remove keys in place, or write
the file from libvirt domain XML (``virsh domxml-to-native xen-xm``).

``plan_xencfg(current, want) -> Plan`` is pure; ``current`` is the file's text (None: absent).
A file that does not parse is refused here, and again by the edit if it turned corrupt before
the apply. The seed advises against editing these files (ch.30.13: use ``virsh edit`` on the
libvirt XML): the plan says so, and shows the diff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agent.plan.steps import Content, FileStep, Plan, PlanError
from agent.xen.convert import ConvertError, from_xml
from agent.xen.specs import SpecError
from agent.xen.xmcfg import XenCfgError, XmCfgEdit, check_key, parse_xmcfg, render_xmcfg
from provisioner.platform.xencfg import xen_keys

_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
RESERVED = ("xend-config.sxp", "xmexample1", "xmexample2", "xmexample.hvm", "qemu-ifup",
            "xend-pci-permissive.sxp", "xend-pci-quirks.sxp")
ADVICE = ("the seed advises against editing Xen guest files by hand (ch.30.13): libvirt's XML "
          "(virsh edit) has error and safety checks")


@dataclass(frozen=True)
class XenCfgWant:
    guest: str
    updates: tuple[tuple[str, Any], ...] = ()      # (key, value); value None removes the key
    from_xml: str | None = None                    # a whole file from this domain XML


def guest_path(guest: str) -> str:
    """``/etc/xen/<guest>``, refusing names that are paths or xend's own files."""
    if not _NAME.match(guest) or guest in RESERVED or guest.startswith("."):
        raise PlanError("E_BAD_GUEST_NAME", f"{guest!r}: a guest name, not a path or one of "
                        "xend's files")
    return f"/etc/xen/{guest}"


def plan_xencfg(current: str | None, want: XenCfgWant) -> Plan:
    path = guest_path(want.guest)
    if want.from_xml is not None:
        try:
            values = from_xml(want.from_xml)
        except (ConvertError, SpecError) as exc:
            raise PlanError("E_BAD_DOMAIN_XML", str(exc)) from None
        if values.get("name") != want.guest:
            raise PlanError("E_NAME_MISMATCH", f"the XML names {values.get('name')!r}, the "
                            f"file is {path}")
        return Plan(f"{path} from domain XML", (FileStep(
            path, Content(render_xmcfg(values)), mode=0o600,
            why="xm reads the guest's settings from this file (seed ch.27)"),),
            warnings=(ADVICE,))
    if current is None:
        raise PlanError("E_NO_GUEST_FILE", f"{path} not found")
    try:
        parse_xmcfg(current, path)
    except XenCfgError as exc:
        raise PlanError("E_GUEST_FILE_CORRUPT", f"{exc}; fix the file first (nothing is "
                        "written over a file that cannot be read)") from None
    if not want.updates:
        raise PlanError("E_NOTHING_TO_SET", "name at least one key to set or remove")
    for key, value in want.updates:
        if key not in xen_keys():
            raise PlanError("E_BAD_KEY", f"{key!r} is not a key of seed Table 27.4")
        if value is not None:
            try:
                check_key(key, value)
            except SpecError as exc:
                raise PlanError("E_BAD_VALUE", f"{key}: {exc}") from None
    edit = XmCfgEdit(want.updates, path)
    return Plan(f"{path}: {edit.describe()}", (FileStep(
        path, edit, why="only the keys named change; comments and other lines are kept"),),
        warnings=(ADVICE,))
