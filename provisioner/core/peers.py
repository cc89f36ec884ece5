"""Which system is behind a client address, for timelines of served files (TFTP and HTTP).

A TFTP transfer or an HTTP asset request only shows the client's IP. :class:`PeerDirectory` maps
it to a system name, in this order:

1. a MAC learned from this peer's own per-MAC boot config request (``pxelinux.cfg/01-<mac>``,
   ``grub.cfg-01-<mac>``: loaders only ask for their own MAC), then
2. the DHCP lease for the address (``leases()``, the DHCP server's active leases), then
3. a static reservation (an interface's ``ip`` in the inventory: ``system_by_ip(ip)`` when
   given, an indexed lookup, else the table from ``systems()``).

A MAC becomes a system through ``dhcp_lookup(mac)`` (``Core.dhcp_lookup``: one indexed query).
Lease and reservation tables are read at most once per ``ttl`` seconds. Unknown peers map to None
and their transfers are not recorded (there is no timeline to put them on).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from provisioner.models import DhcpRecord, System

Leases = Callable[[], Iterable[dict[str, Any]]]


class PeerDirectory:
    def __init__(self, dhcp_lookup: Callable[[str], DhcpRecord | None],
                 leases: Leases | None = None,
                 systems: Callable[[], Iterable[System]] | None = None,
                 clock: Callable[[], float] = time.monotonic, ttl: float = 2.0,
                 system_by_ip: Callable[[str], System | None] | None = None) -> None:
        self.dhcp_lookup = dhcp_lookup
        self.system_by_ip = system_by_ip  # an indexed lookup: used instead of ``systems()``
        self.leases = leases
        self.systems = systems
        self.clock = clock
        self.ttl = ttl
        self._learned: dict[str, str] = {}
        self._by_ip: dict[str, str] = {}  # ip -> mac (leases)
        self._static: dict[str, str] = {}  # ip -> system (reservations)
        self._read_at = -1e18
        self._lock = threading.Lock()

    def learn(self, ip: str, mac: str) -> None:
        with self._lock:
            self._learned[ip] = mac

    def _refresh(self) -> None:
        now = self.clock()
        if now - self._read_at < self.ttl:
            return
        self._read_at = now
        if self.leases is not None:
            try:
                self._by_ip = {d["ip"]: d["mac"] for d in self.leases() if d.get("mac")}
            except Exception:  # noqa: BLE001 - a timeline must never break serving
                self._by_ip = {}
        if self.systems is not None:
            try:
                self._static = {i.ip: s.name for s in self.systems() for i in s.interfaces if i.ip}
            except Exception:  # noqa: BLE001
                self._static = {}

    def system_for(self, ip: str) -> str | None:
        with self._lock:
            mac = self._learned.get(ip)
            if mac is None:
                self._refresh()
                mac = self._by_ip.get(ip)
            static = self._static.get(ip)
        if self.system_by_ip is not None:
            found = self.system_by_ip(ip)
            static = found.name if found is not None else None
        if mac is not None:
            try:
                record = self.dhcp_lookup(mac)
            except Exception:  # noqa: BLE001
                record = None
            if record is not None:
                return record.system
        return static
