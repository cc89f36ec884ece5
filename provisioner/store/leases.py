"""DHCP leases in PostgreSQL, shared by every appliance on the database (``dhcp_leases``).

On SQLite each DHCP worker keeps its own journal (``net/dhcp.py``); with a PostgreSQL
``database_url`` the lease table lives here, so several appliances serving the same or
different segments hand out addresses from one truth:

* **Atomic claims.** :meth:`SharedLeases.claim` writes a batch of lease changes in one
  statement, ``INSERT ... ON CONFLICT (network, address) DO UPDATE ... WHERE`` the row is free
  for this client (the same MAC and not quarantined, or expired) ``RETURNING`` what was taken.
  The primary key (network, address) and PostgreSQL's row lock on conflict make it impossible
  for two appliances (or two clients) to hold one address: there is no "read, then write".
  A change that lost the race is returned with the row that holds the address, so the caller
  can answer again (another address, or a NAK). Reservations from the inventory (``force``)
  take their address whatever a pool lease says.
* **Durability.** A batch that acknowledges a lease (``durable=True``) commits with
  ``synchronous_commit`` on, so an ACK is sent only once its lease is on the database's disk;
  offers alone commit without waiting for the WAL flush (an offer lost in a crash of the
  database is only an offer).
* **Following.** Each batch ``pg_notify``s :data:`CHANNEL` (payload: the writing appliance) at
  commit; :meth:`SharedLeases.changes` returns the rows written by *other* appliances since the
  previous call. It reads ``txid >= xmin`` of the snapshot taken at the previous call
  (``pg_snapshot_xmin``): a transaction still running then has an id at least that, so nothing
  that commits late is missed, whatever the order of commits (rows may come twice; that is
  harmless). Notifications only say *when* to call it; a lost one (a reset connection) loses
  nothing, the next call catches up.

The SQL is PostgreSQL's own (arrays, ``ON CONFLICT``, ``pg_current_xact_id``) on a raw psycopg
connection: this is the DHCP packet path, one round trip per batch. Every database failure is a
:class:`StoreError` (the caller's outage policy decides, ``net/leasedb.py``); the next call
reconnects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from provisioner.errors import StoreError

log = logging.getLogger(__name__)
CHANNEL = "provisioner_leases"
CONNECT_TIMEOUT = 3  # seconds; a down database must not stall a packet path for long
TX_RETRIES = 2  # a batch aborted by a deadlock with another appliance's batch runs again

_COLUMNS = "network, address, mac, expires, state, hostname"

CLAIM = f"""
INSERT INTO dhcp_leases AS l ({_COLUMNS}, server, txid)
SELECT u.network, u.address, u.mac, u.expires, u.state, u.hostname, %(server)s,
       pg_current_xact_id()::text::bigint
FROM unnest(%(network)s::text[], %(address)s::text[], %(mac)s::text[], %(expires)s::float8[],
            %(state)s::text[], %(hostname)s::text[])
     AS u(network, address, mac, expires, state, hostname)
ON CONFLICT (network, address) DO UPDATE
   SET mac = EXCLUDED.mac, expires = EXCLUDED.expires, state = EXCLUDED.state,
       hostname = EXCLUDED.hostname, server = EXCLUDED.server, txid = EXCLUDED.txid
 WHERE l.expires <= %(now)s
    OR (l.mac = EXCLUDED.mac AND l.state <> 'declined')
    OR EXCLUDED.address = ANY(%(forced)s::text[])
RETURNING network, address
"""

# an offer this appliance made and the client turned down (it chose another server): only
# while it is still this appliance's offer, never a lease someone bound since
WITHDRAW = """
UPDATE dhcp_leases SET state = 'released', expires = %(now)s, server = %(server)s,
       txid = pg_current_xact_id()::text::bigint
 WHERE network = %(network)s AND mac = %(mac)s AND state = 'offered' AND server = %(server)s
"""

# a client bound an address: every other offer to it on that network (this appliance's or
# another's, which may not have seen the REQUEST naming the winner yet) is moot
RELEASE_OFFERS = """
UPDATE dhcp_leases AS l SET state = 'released', expires = %(now)s, server = %(server)s,
       txid = pg_current_xact_id()::text::bigint
  FROM unnest(%(network)s::text[], %(address)s::text[], %(mac)s::text[]) AS b(network, address, mac)
 WHERE l.network = b.network AND l.mac = b.mac AND l.address <> b.address
   AND l.state = 'offered'
"""

HOLDERS = f"""
SELECT {_COLUMNS} FROM dhcp_leases
 WHERE (network, address) IN (SELECT * FROM unnest(%(network)s::text[], %(address)s::text[]))
"""

XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
CHANGES = f"SELECT {_COLUMNS} FROM dhcp_leases WHERE txid >= %(since)s AND server <> %(server)s"
LOAD_ALL = f"SELECT {_COLUMNS} FROM dhcp_leases"
LOAD = f"SELECT {_COLUMNS} FROM dhcp_leases WHERE network = ANY(%(networks)s::text[])"
ACTIVE = (f"SELECT {_COLUMNS} FROM dhcp_leases WHERE state = 'bound' AND expires > %(now)s "
          "ORDER BY network, address")
PRUNE = ("DELETE FROM dhcp_leases WHERE network = ANY(%(networks)s::text[]) "
         "AND expires < %(before)s")


class LeaseRow(NamedTuple):
    """One lease as stored: ``address`` in canonical text, ``expires`` in epoch seconds."""

    network: str
    address: str
    mac: str
    expires: float
    state: str
    hostname: str | None = None


class ClaimResult(NamedTuple):
    """What :meth:`SharedLeases.claim` could not take, and who holds it (None: nobody now)."""

    lost: list[LeaseRow]
    holders: dict[tuple[str, str], LeaseRow]


def dsn_of(url: str) -> str:
    """A libpq connection string from a SQLAlchemy ``postgresql+psycopg://`` URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(f"shared leases need PostgreSQL, not {parsed.get_backend_name()}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _chunks(rows: Sequence[LeaseRow], force: Sequence[bool]
            ) -> list[tuple[list[LeaseRow], list[bool]]]:
    """Split so that no address repeats within a chunk (one statement may touch a row once),
    keeping the order of changes."""
    out: list[tuple[list[LeaseRow], list[bool]]] = [([], [])]
    seen: set[tuple[str, str]] = set()
    for row, f in zip(rows, force, strict=True):
        key = (row.network, row.address)
        if key in seen:
            out.append(([], []))
            seen = set()
        seen.add(key)
        out[-1][0].append(row)
        out[-1][1].append(f)
    return out


class SharedLeases:
    """One appliance's connection to the shared lease table (see the module docstring).

    ``server`` names this appliance in the rows it writes (and its notifications). Not
    thread-safe: one DHCP worker's event loop uses it.
    """

    def __init__(self, dsn: str, server: str, connect_timeout: int = CONNECT_TIMEOUT) -> None:
        self.dsn = dsn
        self.server = server[:64]
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._since: int | None = None
        self.round_trips = 0

    # -- connection ---------------------------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            try:
                self._conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout,
                                             application_name=f"provisioner-dhcp {self.server}")
            except psycopg.Error as exc:
                self._conn = None
                raise StoreError(f"lease database unreachable: {exc}") from None
        return self._conn

    def _run(self, fn: Any) -> Any:
        """``fn(conn)`` inside one transaction; any database failure is a StoreError. A
        deadlock between two appliances' batches (each locks the other's rows) is no outage:
        PostgreSQL aborts one, which runs again (at most :data:`TX_RETRIES` times)."""
        import psycopg
        from psycopg import errors

        for attempt in range(TX_RETRIES + 1):
            fresh = self._conn is None or self._conn.closed
            conn = self._connection()
            try:
                with conn.transaction():
                    return fn(conn)
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == TX_RETRIES:
                    raise StoreError(f"lease database: {type(exc).__name__}: {exc}") from None
                log.info("lease batch aborted by the database (%s); running it again", exc)
            except psycopg.OperationalError as exc:
                self._drop()  # a connection reset (database restarted, backend terminated)
                if fresh or attempt == TX_RETRIES:  # is an outage only if a new one fails too
                    raise StoreError(f"lease database error: {exc}") from None
                log.warning("lease database connection lost (%s); reconnecting", exc)
            except psycopg.Error as exc:
                self._drop()
                raise StoreError(f"lease database error: {type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._conn = None

    def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers (outage recovery)."""
        self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    def close(self) -> None:
        self._drop()

    # -- writing ------------------------------------------------------------------------------

    def claim(self, rows: Sequence[LeaseRow], now: float, *, durable: bool,
              force: Sequence[bool] | None = None,
              withdraw: Iterable[LeaseRow] = ()) -> ClaimResult:
        """Write ``rows`` (in order) and ``withdraw`` offers in one transaction; see the module
        docstring. ``durable``: wait for the commit to reach the disk (a batch with an ACK)."""
        flags = list(force) if force is not None else [False] * len(rows)
        gone = list(withdraw)

        def tx(conn: Any) -> ClaimResult:
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            taken: set[tuple[str, str]] = set()
            for chunk, fl in _chunks(rows, flags) if rows else []:
                cur = conn.execute(CLAIM, {
                    "server": self.server, "now": now,
                    "network": [r.network for r in chunk], "address": [r.address for r in chunk],
                    "mac": [r.mac for r in chunk], "expires": [r.expires for r in chunk],
                    "state": [r.state for r in chunk], "hostname": [r.hostname for r in chunk],
                    "forced": [r.address for r, f in zip(chunk, fl, strict=True) if f]})
                taken.update((n, a) for n, a in cur.fetchall())
            for r in gone:
                conn.execute(WITHDRAW, {"now": now, "server": self.server, "network": r.network,
                                        "mac": r.mac})
            won = [r for r in rows if r.state == "bound" and (r.network, r.address) in taken]
            if won:
                conn.execute(RELEASE_OFFERS, {
                    "now": now, "server": self.server, "network": [r.network for r in won],
                    "address": [r.address for r in won], "mac": [r.mac for r in won]})
            lost = [r for r in rows if (r.network, r.address) not in taken]
            holders: dict[tuple[str, str], LeaseRow] = {}
            if lost:
                cur = conn.execute(HOLDERS, {"network": [r.network for r in lost],
                                             "address": [r.address for r in lost]})
                holders = {(h[0], h[1]): LeaseRow(*h) for h in cur.fetchall()}
            if rows or gone:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.server))
            return ClaimResult(lost, holders)

        self.round_trips += 1
        result: ClaimResult = self._run(tx)
        return result

    def prune(self, networks: Sequence[str], before: float) -> int:
        """Delete rows of ``networks`` that expired before ``before`` (absent = free)."""
        def tx(conn: Any) -> int:
            return int(conn.execute(PRUNE, {"networks": list(networks), "before": before})
                       .rowcount)

        n: int = self._run(tx)
        return n

    # -- reading ------------------------------------------------------------------------------

    def load(self, networks: Sequence[str] | None = None) -> list[LeaseRow]:
        """Every row of ``networks`` (None: of all); also restarts :meth:`changes` from now."""
        def tx(conn: Any) -> list[LeaseRow]:
            self._since = int(conn.execute(XMIN).fetchone()[0])
            if networks is None:
                return [LeaseRow(*r) for r in conn.execute(LOAD_ALL)]
            return [LeaseRow(*r) for r in conn.execute(LOAD, {"networks": list(networks)})]

        rows: list[LeaseRow] = self._run(tx)
        return rows

    def changes(self) -> list[LeaseRow]:
        """Rows other appliances wrote since the previous call (or :meth:`load`)."""
        def tx(conn: Any) -> list[LeaseRow]:
            since = int(conn.execute(XMIN).fetchone()[0])
            rows = [] if self._since is None else [
                LeaseRow(*r) for r in conn.execute(CHANGES, {"since": self._since,
                                                             "server": self.server})]
            self._since = since
            return rows

        rows: list[LeaseRow] = self._run(tx)
        return rows


def active_leases(dsn: str, now: float | None = None) -> list[LeaseRow]:
    """Bound, unexpired leases of every appliance (listings; one short connection)."""
    shared = SharedLeases(dsn, "reader")
    try:
        rows: list[LeaseRow] = shared._run(lambda conn: [
            LeaseRow(*r) for r in conn.execute(ACTIVE, {"now": time.time() if now is None
                                                        else now})])
        return rows
    finally:
        shared.close()
