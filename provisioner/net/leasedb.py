"""DHCP leases in the shared PostgreSQL database: the DHCP worker's batches, its follower, and
the outage policy (several appliances over one database; SQLite keeps the journal).

A batch of datagrams (``net/dhcp.py`` reads every one that waits) is answered by the sans-IO
core against its in-memory :class:`LeaseTable`, then :meth:`SharedLeaseBatches.run` claims the
batch's lease changes in one transaction (``store/leases.py``: the database decides who owns an
address) and only then sends the replies, OFFERs included: an OFFER names an address this
appliance holds in the database for the client. A change another appliance won (the same free
address picked at the same moment) is loaded into the table as the database has it and that
datagram is answered again (another address, or a NAK for a REQUEST), at most
:data:`RETRIES` times. Before each batch the table takes in what the other appliances wrote
(``LISTEN provisioner_leases``; on a lost connection, or at least every :data:`FOLLOW_EVERY`
seconds, it reads the changes anyway, so nothing depends on a notification arriving).

**Outage policy.** When the database cannot be reached (a claim, a read or a connection fails)
the batch's table changes are rolled back, no reply that needed them is sent, and the worker
is *degraded* (``DhcpCore.degraded``): it keeps answering reserved systems (their address
comes from the inventory snapshot, not from the lease table) and clients renewing a lease the
table holds, for the time the database recorded (never extended, nothing written), and stays
silent to everything else (new clients, other addresses; no NAK), rather than risk handing out
an address another appliance may have given meanwhile. Every :data:`RETRY` seconds it tries
again; when the database answers it reloads the whole lease table from it and serves normally.
The state is logged on each transition and written to a file in the data directory
(``provisioner/leasestate.py``), which ``GET /api/v1/health`` and ``provisioner status`` show
without touching the database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from provisioner.errors import StoreError
from provisioner.leasestate import write_state
from provisioner.metrics import DHCP_DEGRADED, LEASE_CLAIMS
from provisioner.proto.dhcp.core import DhcpCore, Reply
from provisioner.proto.dhcp.leases import Lease, LeaseTable
from provisioner.store.changes import NotifyListener
from provisioner.store.leases import CHANNEL, LeaseRow, SharedLeases, active_leases, dsn_of

log = logging.getLogger("provisioner.dhcp")
RETRIES = 3  # answers per datagram when its claims keep losing races
FOLLOW_EVERY = 1.0  # seconds: read other appliances' changes at least this often
FOLLOW_MIN = 0.05  # ... and at most this often while the listener is down
RETRY = 1.0  # seconds between reconnection attempts while degraded
PRUNE_EVERY = 60.0
PRUNE_AFTER = 600.0  # seconds after expiry a row is deleted (absent = free)


def shared_leases_enabled(db_url: str) -> bool:
    """Leases go to the database when it is PostgreSQL (several appliances may share it)."""
    return db_url.startswith(("postgresql", "postgres:"))


def _ip_int(text: str) -> int:
    return int.from_bytes(socket.inet_aton(text), "big")


def _ip_text(n: int) -> str:
    return f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def to_lease(row: LeaseRow) -> Lease:
    return Lease(_ip_int(row.address), row.mac, row.expires, row.state, row.hostname)


def lease_rows(db_url: str, now: float | None = None) -> list[dict[str, Any]]:
    """Active leases of every appliance on the database, as ``Lease.as_row`` (listings)."""
    return [to_lease(r).as_row() for r in active_leases(dsn_of(db_url), now)
            if ":" not in r.address]


Answer = Callable[[Any], Reply | None]  # datagram -> reply (the transport's core.handle)


class SharedLeaseBatches:
    """One DHCP worker's side of the shared lease table (see the module docstring)."""

    def __init__(self, core: DhcpCore, db: SharedLeases, listener: NotifyListener | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 state_path: str | None = None) -> None:
        self.core = core
        self.state_path = state_path
        self.table = core.leases
        self.db = db
        self.listener = listener
        self.clock = clock
        self.networks = [str(s.network) for s in core.subnets]
        self.degraded = False
        self._followed = self._tried = self._pruned = -1e18
        self.stats = {"claims": 0, "conflicts": 0, "allocations": 0, "unanswered": 0,
                      "outages": 0, "batches": 0}
        self.on_claims: Callable[[dict[str, int]], None] | None = None  # metrics hook

    # -- following and recovering --------------------------------------------------------------

    def start(self) -> None:
        """Load the table from the database (degraded if it cannot be reached now)."""
        try:
            self._reload()
        except StoreError as exc:
            self._outage(exc)
        else:
            write_state(self.state_path, False, "", self.db.server)

    def _reload(self) -> None:
        rows = self.db.load(self.networks)
        self.table.replace_all(to_lease(r) for r in rows if ":" not in r.address)
        self._followed = self.clock()

    def _outage(self, exc: Exception) -> None:
        if not self.degraded:
            self.stats["outages"] += 1
            log.error("lease database unreachable (%s): degraded, answering only reserved "
                      "systems and held leases until it is back", exc)
            write_state(self.state_path, True, str(exc), self.db.server)
        self.degraded = self.core.degraded = True
        DHCP_DEGRADED.set(1)
        self._tried = self.clock()

    def follow(self, wall_now: float) -> None:
        """Before a batch: take in other appliances' changes, or try to recover."""
        mono = self.clock()
        if self.degraded:
            if mono - self._tried >= RETRY:
                self._tried = mono
                try:
                    self._reload()
                except StoreError:
                    return
                self.degraded = self.core.degraded = False
                DHCP_DEGRADED.set(0)
                write_state(self.state_path, False, "recovered", self.db.server)
                log.warning("lease database reachable again: %d lease(s) reloaded, serving "
                            "normally", len(self.table.by_ip))
            return
        notes = self.listener.poll() if self.listener is not None else None
        heard = bool(notes) and any(n != self.db.server for n in notes or ())
        due = mono - self._followed >= (FOLLOW_EVERY if notes is not None else FOLLOW_MIN)
        try:
            if heard or due:
                self._followed = mono
                self.table.load(to_lease(r) for r in self.db.changes()
                                if r.network in self.networks)
            if mono - self._pruned >= PRUNE_EVERY:
                self._pruned = mono
                self.db.prune(self.networks, wall_now - PRUNE_AFTER)
        except StoreError as exc:
            self._outage(exc)

    # -- one batch ------------------------------------------------------------------------------

    def _row(self, lease: Lease) -> LeaseRow | None:
        for s in self.core.subnets:
            if s.contains(lease.ip):
                return LeaseRow(str(s.network), _ip_text(lease.ip), lease.mac, lease.expires,
                                lease.state, lease.hostname)
        return None

    def run(self, batch: list[Any], answer: Answer, now: float) -> list[Reply]:
        """Answer ``batch`` and commit its claims; the replies that may be sent now."""
        self.stats["batches"] += 1
        self.follow(now)
        out: list[Reply] = []
        pending = batch
        for _ in range(RETRIES):
            self.table.checkpoint()
            answered = [(dg, answer(dg), self.table.drain(), self.table.drain_withdrawn())
                        for dg in pending]
            if self.degraded or not any(ch or wd for _, _, ch, wd in answered):
                out += [r for _, r, _, _ in answered if r is not None]
                return out
            try:
                lost = self._commit(answered, now)
            except StoreError as exc:
                self.table.rollback()
                self._outage(exc)  # answer again, degraded: nothing that needs a claim
                return out + [r for dg in pending if (r := answer(dg)) is not None]
            self.table.checkpoint()
            redo = []
            for dg, reply, changes, _ in answered:
                if any((c.ip in lost) for c in changes):
                    redo.append(dg)
                elif reply is not None:
                    out.append(reply)
            if not redo:
                return out
            pending = redo
        self.stats["unanswered"] += len(pending)
        return out

    def _commit(self, answered: Iterable[tuple[Any, Any, list[Lease], list[Lease]]],
                now: float) -> set[int]:
        """Claim the changes; the addresses lost to someone else (now loaded as they are)."""
        rows: list[LeaseRow] = []
        withdraw: list[LeaseRow] = []
        reserved = self.core.reserved()
        force: list[bool] = []
        for _, _, changes, withdrawn in answered:
            for c in changes:
                row = self._row(c)
                if row is not None:
                    rows.append(row)
                    force.append(c.ip in reserved)
            withdraw += [r for w in withdrawn if (r := self._row(w)) is not None]
        durable = any(r.state in ("bound", "declined") for r in rows)
        res = self.db.claim(rows, now, durable=durable, force=force, withdraw=withdraw)
        lost = {_ip_int(r.address) for r in res.lost}
        self.stats["claims"] += len(rows)
        self.stats["allocations"] += sum(1 for r in rows if r.state == "bound") - sum(
            1 for r in res.lost if r.state == "bound")
        self.stats["conflicts"] += len(res.lost)
        LEASE_CLAIMS.labels("won").inc(len(rows) - len(res.lost))
        LEASE_CLAIMS.labels("lost").inc(len(res.lost))
        if res.lost:
            for r in res.lost:  # forget what we thought we had, then take the database's view
                mine = self.table.by_ip.get(_ip_int(r.address))
                if mine is not None and self.table.by_mac.get(mine.mac) is mine:
                    del self.table.by_mac[mine.mac]
                self.table.by_ip.pop(_ip_int(r.address), None)
            self.table.load(to_lease(h) for h in res.holders.values())
        if self.on_claims is not None:
            self.on_claims({"claims": len(rows), "conflicts": len(res.lost)})
        return lost

    def close(self) -> None:
        self.db.close()
        if self.listener is not None:
            self.listener.close()


class SharedLeaseFollower:
    """Every appliance's leases for the other worker processes (DNS names, the peer directory
    of TFTP/HTTP timelines): :class:`~provisioner.net.leasefile.LeaseFollower`'s interface over
    the shared table. Reads only what changed, when notified or at least every
    :data:`FOLLOW_EVERY` seconds; a database outage keeps the last known leases."""

    def __init__(self, db_url: str, clock: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic) -> None:
        dsn = dsn_of(db_url)
        self.db = SharedLeases(dsn, f"follower-{os.getpid()}")
        self.listener = NotifyListener(dsn, CHANNEL)
        self.clock, self.mono = clock, mono
        self.table = LeaseTable()
        self._loaded = False
        self._checked = -1e18
        self._version = 0

    def refresh(self) -> None:
        notes = self.listener.poll()
        now = self.mono()
        due = now - self._checked >= (FOLLOW_EVERY if notes is not None else FOLLOW_MIN)
        if not (notes or due or not self._loaded):
            return
        self._checked = now
        try:
            if self._loaded:
                rows = self.db.changes()
            else:
                rows = self.db.load()
                self._loaded = True
        except StoreError as exc:
            log.debug("lease follower: %s (keeping the last known leases)", exc)
            return
        if rows:
            self.table.load(to_lease(r) for r in rows if ":" not in r.address)
            self._version += 1

    def version(self) -> tuple[int, int]:
        self.refresh()
        return (1, self._version)

    def active(self) -> list[Lease]:
        self.refresh()
        return list(self.table.active(self.clock()))

    def leases(self) -> list[dict[str, Any]]:
        return [x.as_row() for x in self.active()]

    def records(self) -> list[tuple[str, str]]:
        return [(x.hostname, x.address) for x in self.active() if x.hostname]

    def close(self) -> None:
        self.db.close()
        self.listener.close()


def open_shared(core: DhcpCore, db_url: str, server: str,
                state_path: str | None = None) -> SharedLeaseBatches:
    """The worker's shared lease batches on ``db_url`` (PostgreSQL), loaded."""
    dsn = dsn_of(db_url)
    batches = SharedLeaseBatches(core, SharedLeases(dsn, server), NotifyListener(dsn, CHANNEL),
                                 state_path=state_path)
    batches.start()
    return batches


def appliance_id(configured: str, addrs: Iterable[Any]) -> str:
    """This appliance's name in the lease table: the setting, else host name + first address."""
    if configured:
        return configured
    first = next((a.ip for a in addrs if ":" not in a.ip), "")
    return f"{socket.gethostname()}/{first}"[:64]


def cursor_seed(server: str) -> int:
    """A stable per-appliance start in each range (two appliances rarely pick alike)."""
    return int.from_bytes(hashlib.sha256(server.encode()).digest()[:4], "big")


__all__ = ["SharedLeaseBatches", "SharedLeaseFollower", "appliance_id",
           "cursor_seed", "lease_rows", "open_shared", "shared_leases_enabled"]
