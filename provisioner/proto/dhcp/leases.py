"""Lease state and address allocation (pure: ``now`` comes in, changes go out).

A :class:`LeaseTable` holds one :class:`Lease` per address (``by_ip``) and the current lease of
each client (``by_mac``). States: ``offered`` (held for :attr:`LeaseTable.offer_hold` seconds,
never persisted), ``bound`` (acknowledged: persisted before the ACK leaves), ``declined``
(quarantined for :attr:`LeaseTable.decline_hold` seconds after a DECLINE), ``released``.

Every persistent change is appended to :attr:`LeaseTable.pending`; the transport drains it,
writes it to its :class:`LeaseStore` (a journal, fsync'ed) and only then sends the replies of
that batch. That ordering is what makes an ACK crash-safe. :func:`encode_record` /
:func:`decode_record` define the journal's line format (one lease per line, last one wins).

Shared mode (several appliances over one database, ``net/leasedb.py``): offers are persisted
too (the database claim is what reserves an address for 60 s), an offer the client turned down
is listed in :attr:`LeaseTable.withdrawn`, every change of a batch can be undone
(:meth:`LeaseTable.rollback` to the last :meth:`LeaseTable.checkpoint`: the database refused the
batch), and each appliance starts walking a range at its own ``cursor_seed`` so two appliances
on one segment rarely try the same free address at the same moment.

Allocation for a client, in order: its current lease (same MAC, same address back), the address
it asks for (option 50), then the first free address found by a cursor that walks each range
(O(1) amortised). Free = no lease, the client's own, or an expired one; never an excluded
address (server, router, network/broadcast, reserved for a system).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from provisioner.proto.dhcp.config import INFINITE

FOREVER = float("inf")
STATES = ("offered", "bound", "declined", "released")


@dataclass(slots=True)
class Lease:
    """One address's state. ``expires`` is seconds since the epoch (``inf`` = infinite)."""

    ip: int
    mac: str
    expires: float
    state: str
    hostname: str | None = None

    @property
    def address(self) -> str:
        return str(ipaddress.IPv4Address(self.ip))

    def as_row(self) -> dict[str, Any]:
        """The lease as listings show it (``provisioner leases``, the UI, the peer directory)."""
        return {"ip": self.address, "mac": self.mac, "hostname": self.hostname,
                "state": self.state,
                "expires": None if self.expires == FOREVER else int(self.expires)}

    def active(self, now: float) -> bool:
        return self.state == "bound" and self.expires > now


class Range(Protocol):
    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def size(self) -> int: ...


class Pool(Protocol):
    """What allocation needs of a subnet (DHCPv4 ``Subnet``, DHCPv6 ``Subnet6``)."""

    @property
    def ranges(self) -> tuple[Range, ...]: ...

    def in_pool(self, ip: int) -> bool: ...


class LeaseStore(Protocol):
    """Persistence behind the table (implemented in ``net/dhcp.py``)."""

    def load(self) -> Iterable[Lease]: ...

    def append(self, leases: list[Lease]) -> None: ...


def encode_record(lease: Lease) -> str:
    """One journal line: ``ip mac expires state hostname`` (tab-separated, newline-terminated)."""
    exp = "inf" if lease.expires == FOREVER else str(int(lease.expires))
    n = lease.ip
    return (f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}\t{lease.mac}\t{exp}\t"
            f"{lease.state}\t{lease.hostname or ''}\n")


def decode_record(line: str) -> Lease | None:
    """Parse a journal line; None if it is torn or corrupt (it is then skipped)."""
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 5 or not line.endswith("\n"):
        return None
    ip, mac, exp, state, host = parts
    try:
        ipn = int(ipaddress.IPv4Address(ip))
        expires = FOREVER if exp == "inf" else float(exp)
    except ValueError:
        return None
    if state not in STATES or len(mac) != 17:
        return None
    return Lease(ipn, mac, expires, state, host or None)


class LeaseTable:
    """All leases of one server, in memory; see the module docstring."""

    def __init__(self, offer_hold: float = 60, decline_hold: float = 600, *,
                 shared: bool = False, cursor_seed: int = 0) -> None:
        self.offer_hold = offer_hold
        self.decline_hold = decline_hold
        self.shared = shared
        self.cursor_seed = cursor_seed
        self.by_ip: dict[int, Lease] = {}
        self.by_mac: dict[str, Lease] = {}
        self.pending: list[Lease] = []
        self.withdrawn: list[Lease] = []  # shared mode: offers turned down since the last drain
        self._cursor: dict[tuple[int, int], int] = {}
        # shared mode: what each touched address/client held at the last checkpoint
        self._undo_ip: dict[int, Lease | None] | None = {} if shared else None
        self._undo_mac: dict[str, Lease | None] = {}

    # --- loading and persistence ------------------------------------------------------------

    def load(self, records: Iterable[Lease]) -> None:
        """Replay persisted records (last one per address wins)."""
        for lease in records:
            old = self.by_ip.get(lease.ip)
            if old is not None and self.by_mac.get(old.mac) is old:
                del self.by_mac[old.mac]
            self.by_ip[lease.ip] = lease
            if lease.state in ("bound", "declined"):
                prev = self.by_mac.get(lease.mac)
                if prev is not None and prev is not lease and prev.ip != lease.ip:
                    self.by_ip.pop(prev.ip, None)
                if lease.state == "bound":
                    self.by_mac[lease.mac] = lease

    def replace_all(self, records: Iterable[Lease]) -> None:
        """Forget everything and load ``records`` (a resynchronisation from the database)."""
        self.by_ip.clear()
        self.by_mac.clear()
        self.pending.clear()
        self.withdrawn.clear()
        self.checkpoint()
        self.load(records)

    def checkpoint(self) -> None:
        """What the table holds now is what :meth:`rollback` returns to (shared mode)."""
        if self._undo_ip is not None:
            self._undo_ip.clear()
            self._undo_mac.clear()

    def rollback(self) -> None:
        """Undo every change since :meth:`checkpoint` (the database did not take them)."""
        if self._undo_ip is None:
            raise RuntimeError("rollback needs a shared-mode table")
        for ip, lease in self._undo_ip.items():
            if lease is None:
                self.by_ip.pop(ip, None)
            else:
                self.by_ip[ip] = lease
        for mac, lease in self._undo_mac.items():
            if lease is None:
                self.by_mac.pop(mac, None)
            else:
                self.by_mac[mac] = lease
        self.pending.clear()
        self.withdrawn.clear()
        self.checkpoint()

    def _touch(self, ip: int, mac: str) -> None:
        undo = self._undo_ip
        if undo is not None:
            if ip not in undo:
                undo[ip] = self.by_ip.get(ip)
            if mac not in self._undo_mac:
                self._undo_mac[mac] = self.by_mac.get(mac)

    def drain_withdrawn(self) -> list[Lease]:
        out, self.withdrawn = self.withdrawn, []
        return out

    def drain(self) -> list[Lease]:
        """The persistent changes since the last drain (copies, safe to write later)."""
        out = [Lease(x.ip, x.mac, x.expires, x.state, x.hostname) for x in self.pending]
        self.pending.clear()
        return out

    def snapshot(self, now: float) -> list[Lease]:
        """What a compacted journal keeps: bound and still-quarantined leases."""
        return [x for x in self.by_ip.values()
                if x.state in ("bound", "declined") and x.expires > now]

    def active(self, now: float) -> Iterator[Lease]:
        return (x for x in self.by_ip.values() if x.active(now))

    # --- queries ----------------------------------------------------------------------------

    def lease_of(self, mac: str) -> Lease | None:
        return self.by_mac.get(mac)

    def held(self, mac: str, now: float, pool: Pool, longest: int,
             excluded: Callable[[int], bool]) -> tuple[int, int] | None:
        """``mac``'s bound, unexpired lease in ``pool`` and its seconds left (at most
        ``longest``): what it may keep while no new claim can be made (degraded mode)."""
        lease = self.by_mac.get(mac)
        if (lease is None or lease.state != "bound" or lease.expires <= now
                or not pool.in_pool(lease.ip) or excluded(lease.ip)):
            return None
        left = lease.expires - now
        return lease.ip, longest if left >= longest else max(1, int(left))

    def free_for(self, ip: int, mac: str, now: float) -> bool:
        """May ``mac`` have ``ip``? (ignores exclusions; see :meth:`allocate`)."""
        lease = self.by_ip.get(ip)
        if lease is None or lease.mac == mac and lease.state != "declined":
            return True
        return lease.expires <= now

    # --- changes ----------------------------------------------------------------------------

    def allocate(self, subnet: Pool, mac: str, now: float, requested: int | None,
                 excluded: Callable[[int], bool]) -> int | None:
        """Pick an address for ``mac`` in ``subnet``'s pool, or None when it is exhausted."""
        own = self.by_mac.get(mac)
        for ip in (own.ip if own else None, requested):
            if (ip is not None and subnet.in_pool(ip) and not excluded(ip)
                    and self.free_for(ip, mac, now)):
                return ip
        for r in subnet.ranges:
            key = (r.start, r.end)
            pos = self._cursor.get(key, self.cursor_seed % r.size)
            for k in range(r.size):
                i = (pos + k) % r.size
                ip = r.start + i
                if self.free_for(ip, mac, now) and not excluded(ip):
                    self._cursor[key] = (i + 1) % r.size
                    return ip
        return None

    def _set(self, ip: int, mac: str, expires: float, state: str, hostname: str | None,
             persist: bool) -> Lease:
        prev = self.by_mac.get(mac)
        self._touch(ip, mac)
        if prev is not None and prev.ip != ip and self.by_ip.get(prev.ip) is prev:
            self._touch(prev.ip, mac)
            if prev.state == "offered":
                del self.by_ip[prev.ip]
            elif prev.state == "bound" and state == "bound":  # client moved: free the old one
                freed = Lease(prev.ip, prev.mac, 0.0, "released", prev.hostname)
                self.by_ip[prev.ip] = freed  # a new object: the old one may be restored
                self.pending.append(freed)
        old = self.by_ip.get(ip)
        if old is not None and old.mac != mac and self.by_mac.get(old.mac) is old:
            self._touch(ip, old.mac)
            del self.by_mac[old.mac]
        lease = Lease(ip, mac, expires, state, hostname)
        self.by_ip[ip] = lease
        if state in ("offered", "bound"):
            self.by_mac[mac] = lease
        elif self.by_mac.get(mac) is not None and self.by_mac[mac].ip == ip:
            del self.by_mac[mac]
        if persist:
            self.pending.append(lease)
        return lease

    def offer(self, ip: int, mac: str, now: float, hostname: str | None = None) -> Lease:
        """Hold ``ip`` for ``mac`` while it decides (in memory only)."""
        cur = self.by_ip.get(ip)
        if cur is not None and cur.mac == mac and cur.state == "bound" and cur.expires > now:
            return cur  # keep the acknowledged lease as it is
        return self._set(ip, mac, now + self.offer_hold, "offered", hostname,
                         persist=self.shared)

    def withdraw(self, mac: str) -> None:
        """``mac`` took another server's offer: drop ours (listed for the database if shared)."""
        lease = self.by_mac.get(mac)
        if lease is None:
            return
        if lease.state != "offered":  # e.g. the winner's binding, followed before the REQUEST:
            if self.shared:  # our offer may still be in the database (withdrawn by MAC there)
                self.withdrawn.append(lease)
            return
        self._touch(lease.ip, mac)
        if self.by_ip.get(lease.ip) is lease:
            del self.by_ip[lease.ip]
        del self.by_mac[mac]
        if self.shared:
            self.withdrawn.append(lease)

    def bind(self, ip: int, mac: str, now: float, lease_secs: int,
             hostname: str | None = None) -> Lease:
        """Acknowledge ``ip`` to ``mac`` for ``lease_secs`` (persisted)."""
        expires = FOREVER if lease_secs >= INFINITE else now + lease_secs
        return self._set(ip, mac, expires, "bound", hostname, persist=True)

    def release(self, ip: int, mac: str, now: float) -> bool:
        lease = self.by_ip.get(ip)
        if lease is None or lease.mac != mac or lease.state != "bound":
            return False
        self._set(ip, mac, now, "released", lease.hostname, persist=True)
        return True

    def decline(self, ip: int, mac: str, now: float) -> None:
        """Quarantine ``ip`` (someone else answers ARP for it)."""
        self._set(ip, mac, now + self.decline_hold, "declined", None, persist=True)

