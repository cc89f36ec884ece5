"""Editing an existing ``ifcfg-<nic>`` to make the NIC a bridge port, as the guide does.

The guide's procedure (seed 6.3 step 2, 12.2) adds ``BRIDGE=<bridge>`` to the NIC's file; the
address moves to the bridge's file. Only the keys the procedure names change: ``BRIDGE`` is set
(in place, or added before a trailing ``MTU=``, the line the seed keeps last), the address keys
go, ``ONBOOT=no`` becomes ``yes`` (the port must come up with the network service),
``NM_CONTROLLED=no`` and ``MTU`` are set when asked. Comments, blank lines, ``ETHTOOL_OPTS``,
quoting and the order of every other line stay byte for byte; a second run changes nothing.
A NIC without a file gets the seed's file (:func:`render_nic_ifcfg`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: the keys that carry an address: they move to the bridge (IPADDR0, PREFIX1, DNS2...)
ADDRESS_KEY = re.compile(r"^(?:(?:IPADDR|NETMASK|PREFIX|GATEWAY)\d*|DNS\d+|DOMAIN)$")
_ASSIGN = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


def address_keys(kv: dict[str, str]) -> dict[str, str]:
    """The address keys of a parsed ifcfg file, in file order (what moves to the bridge)."""
    return {k: v for k, v in kv.items() if ADDRESS_KEY.match(k)}


def _key(line: str) -> str | None:
    m = _ASSIGN.match(line)
    return m.group("key") if m and not line.lstrip().startswith("#") else None


def _value(line: str) -> str:
    m = _ASSIGN.match(line)
    return m.group("value").strip().strip("\"'") if m else ""


@dataclass(frozen=True)
class IfcfgEnslave:
    """The transform of one ``ifcfg-<nic>``; ``fresh`` is the whole file when there is none."""

    bridge: str
    fresh: str
    mtu: int | None = None
    nm_controlled_no: bool = False

    def apply(self, text: str | None) -> str | None:
        if text is None:
            return self.fresh
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        out = [ln for ln in lines if not ADDRESS_KEY.match(_key(ln) or "")]
        out = [("ONBOOT=yes\n" if _key(ln) == "ONBOOT" and _value(ln).lower() in ("no", "n")
                else ln) for ln in out]
        out = self._set(out, "BRIDGE", self.bridge, before_mtu=True)
        if self.nm_controlled_no:
            out = self._set(out, "NM_CONTROLLED", "no", before_mtu=True)
        if self.mtu:
            out = self._set(out, "MTU", str(self.mtu), before_mtu=False)
        return "".join(out)

    @staticmethod
    def _set(lines: list[str], key: str, value: str, *, before_mtu: bool) -> list[str]:
        """``KEY=value`` replacing the first ``KEY=`` line (later ones dropped), else added:
        before a trailing ``MTU=`` line when ``before_mtu``, else at the end."""
        want = f"{key}={value}\n"
        hits = [i for i, ln in enumerate(lines) if _key(ln) == key]
        if hits:
            first = hits[0]
            if _value(lines[first]) == value:
                want = lines[first]           # same value: keep its quoting as written
            return [want if i == first else ln for i, ln in enumerate(lines)
                    if i == first or i not in hits]
        keyed = [i for i, ln in enumerate(lines) if _key(ln)]
        at = len(lines)
        if before_mtu and keyed and _key(lines[keyed[-1]]) == "MTU":
            at = keyed[-1]
            while at > 0 and lines[at - 1].lstrip().startswith("#"):
                at -= 1                       # the MTU line's own comment stays with it
        return lines[:at] + [want] + lines[at:]

    def describe(self) -> str:
        return f"set BRIDGE={self.bridge}, drop the address keys; other lines kept"
