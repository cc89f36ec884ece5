"""Compare the agent's definitions with virt-install's and classify each case.

Both documents of each phase go through libvirt's own parser (the test driver's define +
``XMLDesc(INACTIVE)``: units, quoting, implicit controllers and element order come out the
same), then these are normalised: UUIDs, generated MACs (explicit ones are kept), the fetched
kernel/initrd paths (virt-install's per-user cache vs the agent's image directory), machine
aliases (``q35`` and ``pc-q35-7.2`` are the same machine on these hosts) and the osinfo
metadata namespace prefix. Then:

* ``equal``: identical;
* ``cosmetic``: identical once child order and explicit defaults are ignored;
* ``meaningful``: anything else, or an agent document libvirt's schema refuses (every agent
  document is defined with schema validation; the test fails);
* ``rejected``: both refuse;
* ``by-design``: only the agent refuses, with one of its own rules, and re-building the
  case with that rule switched off gives virt-install's XML (equal or cosmetic);
* ``seed``: a seed variant whose seed departures are the only difference (same proof);
* ``mismatch``: one side refuses and the other does not, otherwise (the test fails).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace

import libvirt

from agent.guest.build import Policy, build
from agent.guest.errors import GuestError
from agent.guest.ids import sequential
from tests.agent.guest.equiv.generate import Case
from tests.agent.guest.equiv.hosts import agent_host

#: The agent's own refusals (validation limits), allowed where virt-install accepts.
LIMIT_CODES = {"VCPU_LIMIT", "RAM_ZERO", "RAM_OVER_HOST", "DISK_OVER_POOL",
               "VCPU_CURRENT_OVER_MAX", "VCPU_ZERO"}
#: The seed's refusals (agent.guest.rules), allowed for seed variants.
SEED_CODES = {"KVM_NO_SCSI", "KVM_IDE_LIMIT", "PCI_SLOTS_EXCEEDED", "XEN_NIC_LIMIT",
              "XEN_IDE_LIMIT", "XEN_PV_DISK_LIMIT", "PV_REQUIRES_XEN", "PV_REQUIRES_NETWORK_TREE",
              "WINDOWS_REQUIRES_FULLVIRT", "WINDOWS_REQUIRES_LOCAL_MEDIA", "WINXP_NO_VIRTIO_BLOCK",
              "WINDOWS_VIRTIO_BOOT_NEEDS_DRIVERS", "PXE_NEEDS_NIC", "PXE_NEEDS_BRIDGE"}
OSINFO = "{http://libosinfo.org/xmlns/libvirt/domain/1.0}os"
#: Elements libvirt fills with the same value whether or not a side wrote them.
DEFAULTS = {("on_poweroff", "destroy"), ("on_crash", "destroy"), ("on_reboot", "restart")}


@dataclass
class Outcome:
    case: Case
    kind: str
    detail: str = ""
    diffs: list[str] = field(default_factory=list)


def split_docs(text: str) -> list[str]:
    return [d + "</domain>\n" for d in text.split("</domain>") if d.strip()]


def canonical(conn: libvirt.virConnect, xml: str, canon_machine: dict[str, str],
              *, validate: bool = False) -> str:
    """libvirt's canonical form of ``xml``, normalised (see the module docstring).

    ``validate``: define with ``VIR_DOMAIN_DEFINE_VALIDATE`` (libvirt's RNG schema, the one
    virt-xml-validate uses), for the agent's documents.
    """
    xml = re.sub(r"\s*<uuid>.*?</uuid>", "", xml)
    flags = libvirt.VIR_DOMAIN_DEFINE_VALIDATE if validate else 0
    dom = conn.defineXMLFlags(xml, flags)
    try:
        out = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        dom.undefine()
    root = ET.fromstring(out)
    for tag in ("uuid",):
        for node in root.findall(tag):
            root.remove(node)
    os_id = root.find(f".//{OSINFO}")
    meta = root.find("metadata")
    if meta is not None:
        root.remove(meta)
    if os_id is not None:
        ET.SubElement(root, "osinfo").set("id", os_id.get("id", ""))
    for node in root.iter():
        if node.tag in ("kernel", "initrd"):
            node.text = "BOOT-FILE"
        if node.tag == "type" and node.get("machine") in canon_machine:
            node.set("machine", canon_machine[node.get("machine", "")])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def _macs(text: str, explicit: set[str]) -> str:
    return re.sub(r"address=[\"']([0-9a-f:]{17})[\"']",
                  lambda m: m.group(0) if m.group(1) in explicit else "address=\"MAC\"", text)


def _sorted_tree(node: ET.Element) -> str:
    """Order-insensitive serialisation with libvirt-default elements dropped."""
    kids = [c for c in node if (c.tag, (c.text or "").strip()) not in DEFAULTS]
    parts = sorted(_sorted_tree(c) for c in kids)
    attrs = " ".join(f"{k}={v}" for k, v in sorted(node.attrib.items()))
    return f"<{node.tag} {attrs}>{(node.text or '').strip()}{''.join(parts)}</{node.tag}>"


def diff_kind(a: str, b: str) -> tuple[str, list[str]]:
    if a == b:
        return "equal", []
    if _sorted_tree(ET.fromstring(a)) == _sorted_tree(ET.fromstring(b)):
        return "cosmetic", []
    import difflib

    lines = [ln for ln in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
             if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return "meaningful", lines


class Comparer:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        libvirt.registerErrorHandler(lambda *_: None, None)
        self.conn = libvirt.open("test:///default")

    def close(self) -> None:
        self.conn.close()

    def ours(self, case: Case, policy: Policy | None = None) -> list[str]:
        argv = [a.format(**self.values) for a in case.argv]
        built = build(argv, agent_host(case.host), sequential(), print_only=True,
                      policy=policy or Policy())
        docs = [built.install.get_xml()]
        if built.final is not built.install:
            docs.append(built.final.get_xml())
        return docs

    def _compare_docs(self, case: Case, theirs: list[str],
                      ours: list[str]) -> tuple[str, list[str]]:
        if len(theirs) != len(ours):
            return "meaningful", [f"phases: virt-install {len(theirs)}, agent {len(ours)}"]
        host = agent_host(case.host)
        canon = {k: v for g in host.caps.guests for k, v in g.canonical.items()}
        explicit = set(re.findall(r"mac=([0-9a-f:]{17})", " ".join(case.argv)))
        worst, diffs = "equal", []
        for t, o in zip(theirs, ours, strict=True):
            ct = _macs(canonical(self.conn, t, canon), explicit)
            co = _macs(canonical(self.conn, o, canon, validate=True), explicit)
            kind, lines = diff_kind(ct, co)
            order = ("equal", "cosmetic", "meaningful")
            worst = max(worst, kind, key=order.index)
            diffs += lines
        return worst, diffs

    def classify(self, case: Case, answer: dict) -> Outcome:
        try:
            ours = self.ours(case)
            error = None
        except GuestError as exc:
            ours, error = [], exc
        if answer["rc"] != 0:
            if error is not None:
                return Outcome(case, "rejected", f"{error.code}: {error}")
            return Outcome(case, "mismatch", "virt-install refuses, the agent accepts: "
                                             + answer["err"].strip()[-300:])
        theirs = split_docs(answer["out"])
        if error is not None:
            return self._agent_only_refusal(case, theirs, error)
        try:
            kind, diffs = self._compare_docs(case, theirs, ours)
        except libvirt.libvirtError as exc:
            return Outcome(case, "meaningful", f"libvirt refuses a document: {exc}")
        if kind == "meaningful":
            seed = self._seed_departure(case, theirs)
            if seed is not None:
                return seed
        return Outcome(case, kind, diffs=diffs)

    def _seed_departure(self, case: Case, theirs: list[str]) -> Outcome | None:
        """A seed guest whose departures are the whole difference."""
        argv = [a.format(**self.values) for a in case.argv]
        built = build(argv, agent_host(case.host), sequential(), print_only=True)
        if not built.guest.departures:
            return None
        plain = self.ours(case, Policy(seed_departures=False))
        kind, _ = self._compare_docs(case, theirs, plain)
        if kind in ("equal", "cosmetic"):
            return Outcome(case, "seed", "departures: " + ", ".join(built.guest.departures))
        return None

    def _libvirt_refuses(self, theirs: list[str]) -> str | None:
        for doc in theirs:
            try:
                canonical(self.conn, doc, {})
            except libvirt.libvirtError as exc:
                return str(exc)
        return None

    def _agent_only_refusal(self, case: Case, theirs: list[str], error: GuestError) -> Outcome:
        refused = self._libvirt_refuses(theirs)
        if refused:
            return Outcome(case, "rejected", f"{error.code}; libvirt refuses virt-install's XML "
                                             f"too: {refused}")
        codes, policy = [], Policy()
        while True:
            if error.code in LIMIT_CODES:
                policy = replace(policy, limits=False)
            elif error.code in SEED_CODES:
                policy = replace(policy, seed_rules=False, seed_departures=False)
            else:
                why = f" (after {', '.join(codes)} off)" if codes else ""
                return Outcome(case, "mismatch", f"the agent refuses, virt-install accepts: "
                                                 f"{error.code}: {error}{why}")
            codes.append(error.code)
            try:
                relaxed = self.ours(case, policy)
                break
            except GuestError as exc:
                if exc.code in codes:
                    return Outcome(case, "mismatch", f"{exc.code} persists with it off")
                error = exc
        kind, diffs = self._compare_docs(case, theirs, relaxed)
        if kind == "meaningful":
            return Outcome(case, "meaningful", f"{', '.join(codes)} off: still differs", diffs)
        return Outcome(case, "by-design", ", ".join(codes))
