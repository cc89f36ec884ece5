"""SQLAlchemy Store: SQLite (WAL) by default, PostgreSQL by URL, with the same portable SQL.

Only SQLAlchemy Core expressions are used (no raw SQL, no dialect-specific upserts); the only
SQLite-specific code is the connection PRAGMAs, issued when the dialect is SQLite. Every method
is one short transaction; unique-key clashes become :class:`Conflict`, other database failures
:class:`StoreError`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from provisioner.errors import Conflict, StoreError
from provisioner.models import (
    ApiToken,
    Change,
    Distro,
    Event,
    Host,
    Interface,
    Order,
    Profile,
    System,
    User,
    VmDefaults,
    WorkItem,
)
from provisioner.store import schema as t
from provisioner.store.changes import CHANNEL, KEEP, PRUNE_EVERY

DB_HINT = ("check that the database named by db_url is running and reachable, and that its disk "
           "has room; `provisioner db upgrade` brings its schema up to date")
_LEASE_RETRIES = 8

# Hot-path statements, built once: constructing a select() per call costs more than running it.
_DISTRO = select(t.distros).where(t.distros.c.name == bindparam("key"))
_PROFILE = select(t.profiles).where(t.profiles.c.name == bindparam("key"))
_SYSTEM = select(t.systems).where(t.systems.c.name == bindparam("key"))
_SYSTEM_BY_TOKEN = select(t.systems).where(t.systems.c.token == bindparam("key"))
_SYSTEM_BY_MAC = select(t.systems).where(t.systems.c.name == select(t.interfaces.c.system).where(
    t.interfaces.c.mac == bindparam("key")).scalar_subquery())
_SYSTEM_BY_IP = select(t.systems).where(t.systems.c.name == select(t.interfaces.c.system).where(
    t.interfaces.c.ip == bindparam("key")).scalar_subquery())
_INTERFACES = (select(t.interfaces).where(t.interfaces.c.system == bindparam("key"))
               .order_by(t.interfaces.c.position))
_ADD_EVENT = insert(t.events)
_REVISION = select(t.inventory_revision.c.revision).where(
    t.inventory_revision.c.id == bindparam("key"))
_BUMP = (update(t.inventory_revision).where(t.inventory_revision.c.id == 1)
         .values(revision=t.inventory_revision.c.revision + 1)
         .returning(t.inventory_revision.c.revision))
_CHANGES = (select(t.inventory_changes).where(t.inventory_changes.c.revision > bindparam("key"))
            .order_by(t.inventory_changes.c.revision))
_ADDRESSES = (select(t.systems.c.name, t.systems.c.hostname, t.interfaces.c.name, t.interfaces.c.ip)
              .join(t.interfaces, t.interfaces.c.system == t.systems.c.name)
              .where(t.interfaces.c.ip.is_not(None))
              .order_by(t.systems.c.name, t.interfaces.c.position))


class _HotRead:
    """A per-request lookup compiled once for the engine's dialect, run on the DBAPI cursor.

    The SQL text is SQLAlchemy's own compilation for the dialect (so it stays portable); only
    the per-call execution machinery is skipped, which costs several times the query itself.
    Rows come back as dicts keyed like ``.mappings()``; JSON columns are decoded when the
    driver returns text (SQLite) and left alone when it decodes them itself (psycopg).
    """

    def __init__(self, stmt: Any, dialect: Any) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        self.n_params = len(compiled.positiontup or ())
        columns = list(stmt.selected_columns)
        self.keys = [c.key for c in columns]
        self.json = [isinstance(c.type, JSON) for c in columns]
        self.dbapi_error = dialect.dbapi.Error

    def rows(self, conn: Connection, key: str) -> list[dict[str, Any]]:
        if not conn.in_transaction():
            conn.begin()  # so that SQLAlchemy ends the driver's implicit transaction for us
        try:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                params = (key,) * self.n_params if self.positional else {"key": key}
                cursor.execute(self.sql, params)
                fetched = cursor.fetchall()
            finally:
                cursor.close()
        except self.dbapi_error as exc:  # not wrapped by SQLAlchemy on this path: do it here
            conn.invalidate()  # the next read reconnects
            raise StoreError(f"database error: {type(exc).__name__}: {exc}",
                             hint=DB_HINT) from exc
        return [{k: (json.loads(v) if j and isinstance(v, str | bytes) else v)
                 for k, j, v in zip(self.keys, self.json, row, strict=True)} for row in fetched]


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout per connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a crashed or killed process in WAL mode (not power loss).
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


def _conflict_message(exc: IntegrityError) -> str:
    text = str(exc.orig).lower()
    for key, what in (("mac", "MAC address"), ("ip", "IP address"), ("token", "token"),
                      ("idempotency_key", "idempotency key"), ("name", "name")):
        if f".{key}" in text or f"({key})" in text or f"_{key}_" in text or f"{key}_key" in text:
            return f"duplicate {what}"
    return "duplicate key"


def _vm(raw: dict[str, Any]) -> VmDefaults:
    return VmDefaults(**raw)


def _vm_json(vm: VmDefaults) -> dict[str, Any]:
    return {k: v for k, v in asdict(vm).items() if v is not None}


class SqlStore:
    """A :class:`~provisioner.core.ports.Store` over a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Each thread keeps one read connection (a pool checkout plus commit per call costs more
        # than the query). SQLite has one writer at a time and its busy handler sleep-polls
        # (1, 2, 5, 10... ms), so this process's writers queue on a lock and share one
        # connection; other processes still meet busy_timeout. PostgreSQL writes use the pool.
        self._local = threading.local()
        self._conns: list[Connection] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._writer: Connection | None = None
        self._hot = {name: _HotRead(stmt, engine.dialect) for name, stmt in (
            ("distro", _DISTRO), ("profile", _PROFILE), ("system", _SYSTEM),
            ("system_by_token", _SYSTEM_BY_TOKEN), ("system_by_mac", _SYSTEM_BY_MAC),
            ("system_by_ip", _SYSTEM_BY_IP), ("interfaces", _INTERFACES),
            ("revision", _REVISION))}
        self._notify = engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, url: str) -> SqlStore:
        return cls(make_engine(url))

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError as exc:
            raise Conflict(_conflict_message(exc)) from None
        except SQLAlchemyError as exc:
            raise StoreError(
                f"database error: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}",
                hint=DB_HINT) from exc

    def _connect(self) -> Connection:
        conn = self.engine.connect()
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _discard(self, conn: Connection) -> None:
        with self._conns_lock:
            if conn in self._conns:
                self._conns.remove(conn)
        with contextlib.suppress(SQLAlchemyError):
            conn.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """This thread's reads inside the block share one read transaction."""
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                self._end_read()

    def _end_read(self) -> None:
        conn = getattr(self._local, "reader", None)
        if conn is not None and conn.in_transaction():
            try:
                conn.rollback()
            except SQLAlchemyError:
                self._local.reader = None
                self._discard(conn)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._errors():
            conn = getattr(self._local, "reader", None)
            if conn is None or conn.closed or conn.invalidated:
                conn = self._local.reader = self._connect()
            try:
                yield conn
            except SQLAlchemyError:
                self._local.reader = None
                self._discard(conn)
                raise
            finally:
                if not getattr(self._local, "depth", 0):
                    self._end_read()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One write transaction: committed at the end of the block, rolled back on error."""
        if self._write_lock is None:
            with self._errors(), self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self._errors():
            if self._writer is None or self._writer.closed or self._writer.invalidated:
                self._writer = self._connect()
            conn = self._writer
            try:
                with conn.begin():
                    yield conn
            except SQLAlchemyError:
                if conn.invalidated or conn.closed:
                    self._writer = None
                    self._discard(conn)
                raise

    def _upsert(self, conn: Connection, table: Any, key: str, row: dict[str, Any]) -> None:
        col = table.c[key]
        res = conn.execute(update(table).where(col == row[key]).values(**row))
        if res.rowcount == 0:
            conn.execute(insert(table).values(**row))

    def _delete(self, table: Any, key: str, value: Any, entity: str | None = None) -> bool:
        with self._tx() as conn:
            gone = conn.execute(delete(table).where(table.c[key] == value)).rowcount > 0
            if gone and entity is not None:
                self._changed(conn, entity, value)
            return gone

    # the inventory change counter (store/changes.py)
    def _changed(self, conn: Connection, entity: str, name: str) -> None:
        """Bump the revision and log the change, inside the caller's write transaction."""
        n = conn.execute(_BUMP).scalar_one()
        conn.execute(insert(t.inventory_changes).values(revision=n, entity=entity, name=name))
        if n % PRUNE_EVERY == 0:
            conn.execute(delete(t.inventory_changes).where(
                t.inventory_changes.c.revision <= n - KEEP))
        if self._notify:  # delivered to listeners when (and only if) this transaction commits
            conn.execute(select(func.pg_notify(CHANNEL, str(n))))

    def revision(self) -> int:
        with self._read() as conn:
            rows = self._hot["revision"].rows(conn, 1)  # type: ignore[arg-type]
        return int(rows[0]["revision"]) if rows else 0

    def changes_since(self, revision: int) -> tuple[int, list[Change]] | None:
        with self._read() as conn:
            current = self._hot["revision"].rows(conn, 1)  # type: ignore[arg-type]
            rows = conn.execute(_CHANGES, {"key": revision}).all()
        now = int(current[0]["revision"]) if current else 0
        if now < revision or now > revision and (not rows or rows[0][0] != revision + 1):
            return None  # the log no longer reaches back (or the database went backwards)
        return now, [Change(r[0], r[1], r[2]) for r in rows if r[0] <= now]

    # distros
    def get_distro(self, name: str) -> Distro | None:
        with self._read() as conn:
            rows = self._hot["distro"].rows(conn, name)
        return Distro(**rows[0]) if rows else None

    def put_distro(self, distro: Distro) -> None:
        with self._tx() as conn:
            self._upsert(conn, t.distros, "name", asdict(distro))
            self._changed(conn, "distro", distro.name)

    def delete_distro(self, name: str) -> bool:
        return self._delete(t.distros, "name", name, "distro")

    def list_distros(self) -> list[Distro]:
        with self._read() as conn:
            rows = conn.execute(select(t.distros).order_by(t.distros.c.name)).mappings().all()
        return [Distro(**r) for r in rows]

    # profiles
    @staticmethod
    def _profile(row: Any) -> Profile:
        return Profile(name=row["name"], distro=row["distro"], parent=row["parent"],
                       kickstart=row["kickstart"], kernel_options=row["kernel_options"],
                       metadata=dict(row["meta"]), vm=_vm(row["vm"]))

    def get_profile(self, name: str) -> Profile | None:
        with self._read() as conn:
            rows = self._hot["profile"].rows(conn, name)
        return self._profile(rows[0]) if rows else None

    def put_profile(self, profile: Profile) -> None:
        row = {"name": profile.name, "distro": profile.distro, "parent": profile.parent,
               "kickstart": profile.kickstart, "kernel_options": profile.kernel_options,
               "meta": dict(profile.metadata), "vm": _vm_json(profile.vm)}
        with self._tx() as conn:
            self._upsert(conn, t.profiles, "name", row)
            self._changed(conn, "profile", profile.name)

    def delete_profile(self, name: str) -> bool:
        return self._delete(t.profiles, "name", name, "profile")

    def list_profiles(self, *, distro: str | None = None,
                      parent: str | None = None) -> list[Profile]:
        query = select(t.profiles).order_by(t.profiles.c.name)
        if distro is not None:
            query = query.where(t.profiles.c.distro == distro)
        if parent is not None:
            query = query.where(t.profiles.c.parent == parent)
        with self._read() as conn:
            return [self._profile(r) for r in conn.execute(query).mappings().all()]

    # systems
    @staticmethod
    def _system(row: Any, ifaces: list[Any]) -> System:
        return System(
            name=row["name"], profile=row["profile"], hostname=row["hostname"],
            interfaces=tuple(Interface(mac=i["mac"], ip=i["ip"], name=i["name"],
                                       bridge=i["bridge"], netmask=i["netmask"],
                                       gateway=i["gateway"]) for i in ifaces),
            netboot_enabled=bool(row["netboot_enabled"]), kernel_options=row["kernel_options"],
            metadata=dict(row["meta"]), vm=_vm(row["vm"]), status=row["status"],
            token=row["token"] or "")

    def _load_system(self, query: str, key: str) -> System | None:
        """Two indexed queries in one transaction: the system row, then its interfaces."""
        with self._read() as conn:
            rows = self._hot[query].rows(conn, key)
            if not rows:
                return None
            ifaces = self._hot["interfaces"].rows(conn, rows[0]["name"])
        return self._system(rows[0], ifaces)

    def get_system(self, name: str) -> System | None:
        return self._load_system("system", name)

    def system_by_mac(self, mac: str) -> System | None:
        return self._load_system("system_by_mac", mac)

    def system_by_ip(self, ip: str) -> System | None:
        return self._load_system("system_by_ip", ip)

    def system_by_token(self, token: str) -> System | None:
        return self._load_system("system_by_token", token)

    def list_addresses(self) -> list[tuple[str, str | None, str, str]]:
        with self._read() as conn:
            return [(row[0], row[1], row[2], row[3]) for row in conn.execute(_ADDRESSES).all()]

    def put_system(self, system: System) -> None:
        row = {"name": system.name, "profile": system.profile, "hostname": system.hostname,
               "netboot_enabled": system.netboot_enabled, "kernel_options": system.kernel_options,
               "meta": dict(system.metadata), "vm": _vm_json(system.vm), "status": system.status,
               "token": system.token or None}
        with self._tx() as conn:
            self._upsert(conn, t.systems, "name", row)
            conn.execute(delete(t.interfaces).where(t.interfaces.c.system == system.name))
            for pos, iface in enumerate(system.interfaces):
                conn.execute(insert(t.interfaces).values(
                    system=system.name, position=pos, name=iface.name, mac=iface.mac, ip=iface.ip,
                    bridge=iface.bridge, netmask=iface.netmask, gateway=iface.gateway))
            self._changed(conn, "system", system.name)

    def delete_system(self, name: str) -> bool:
        with self._tx() as conn:
            conn.execute(delete(t.interfaces).where(t.interfaces.c.system == name))
            gone = conn.execute(delete(t.systems).where(t.systems.c.name == name)).rowcount > 0
            if gone:
                self._changed(conn, "system", name)
            return gone

    def list_systems(self, *, profile: str | None = None) -> list[System]:
        query = select(t.systems).order_by(t.systems.c.name)
        iq = select(t.interfaces).order_by(t.interfaces.c.system, t.interfaces.c.position)
        if profile is not None:
            query = query.where(t.systems.c.profile == profile)
            iq = iq.where(t.interfaces.c.system.in_(
                select(t.systems.c.name).where(t.systems.c.profile == profile)))
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
            by_system: dict[str, list[Any]] = {}
            for i in conn.execute(iq).mappings():
                by_system.setdefault(i["system"], []).append(i)
        return [self._system(r, by_system.get(r["name"], [])) for r in rows]

    # timeline
    def add_event(self, event: Event) -> Event:
        with self._tx() as conn:
            res = conn.execute(_ADD_EVENT, {"subject": event.subject, "kind": event.kind,
                                            "detail": dict(event.detail), "at": event.at})
            key = res.inserted_primary_key
            assert key is not None, "INSERT returned no primary key"
            new_id = key[0]
        return Event(event.subject, event.kind, dict(event.detail), event.at, new_id)

    def add_events(self, events: list[Event]) -> None:
        rows = [{"subject": e.subject, "kind": e.kind, "detail": dict(e.detail), "at": e.at}
                for e in events]
        if rows:
            with self._tx() as conn:
                conn.execute(_ADD_EVENT, rows)

    def list_events(self, subject: str, limit: int | None = None) -> list[Event]:
        query = select(t.events).where(t.events.c.subject == subject).order_by(t.events.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [Event(r["subject"], r["kind"], dict(r["detail"]), r["at"], r["id"])
                for r in reversed(rows)]

    # API tokens
    def put_token(self, token: ApiToken) -> None:
        with self._tx() as conn:
            self._upsert(conn, t.api_tokens, "name", asdict(token))

    def has_token(self, token_hash: str) -> bool:
        with self._read() as conn:
            return conn.execute(select(t.api_tokens.c.name)
                                .where(t.api_tokens.c.token_hash == token_hash)).first() is not None

    def list_tokens(self) -> list[ApiToken]:
        with self._read() as conn:
            rows = conn.execute(select(t.api_tokens).order_by(t.api_tokens.c.name)).mappings()
            return [ApiToken(**r) for r in rows]

    def delete_token(self, name: str) -> bool:
        return self._delete(t.api_tokens, "name", name)

    # agent hosts
    def get_host(self, name: str) -> Host | None:
        with self._read() as conn:
            row = conn.execute(select(t.hosts).where(t.hosts.c.name == name)).mappings().first()
        return Host(**row) if row else None

    def put_host(self, host: Host) -> None:
        with self._tx() as conn:
            self._upsert(conn, t.hosts, "name", asdict(host))

    def delete_host(self, name: str) -> bool:
        return self._delete(t.hosts, "name", name)

    def list_hosts(self) -> list[Host]:
        with self._read() as conn:
            return [Host(**r) for r in conn.execute(select(t.hosts).order_by(t.hosts.c.name))
                    .mappings()]

    # work queue
    def get_work(self, id: str) -> WorkItem | None:
        with self._read() as conn:
            query = select(t.work_items).where(t.work_items.c.id == id)
            row = conn.execute(query).mappings().first()
        return WorkItem(**row) if row else None

    def work_by_key(self, idempotency_key: str) -> WorkItem | None:
        with self._read() as conn:
            row = conn.execute(select(t.work_items).where(
                t.work_items.c.idempotency_key == idempotency_key)).mappings().first()
        return WorkItem(**row) if row else None

    def put_work(self, item: WorkItem) -> None:
        with self._tx() as conn:
            self._upsert(conn, t.work_items, "id", asdict(item))

    def delete_work(self, id: str) -> bool:
        return self._delete(t.work_items, "id", id)

    def list_work(self, *, host: str | None = None, state: str | None = None) -> list[WorkItem]:
        query = select(t.work_items).order_by(t.work_items.c.created, t.work_items.c.id)
        if host is not None:
            query = query.where(t.work_items.c.host == host)
        if state is not None:
            query = query.where(t.work_items.c.state == state)
        with self._read() as conn:
            return [WorkItem(**r) for r in conn.execute(query).mappings()]

    def lease_work(self, host: str, now: float, lease_seconds: float) -> WorkItem | None:
        """Compare-and-swap: pick a due item, then update it only if nobody changed it since."""
        w = t.work_items
        due = ((w.c.state == "queued") | ((w.c.state == "leased") & (w.c.lease_until < now)))
        for _ in range(_LEASE_RETRIES):
            with self._tx() as conn:
                row = conn.execute(select(w).where(w.c.host == host, due)
                                   .order_by(w.c.created, w.c.id).limit(1)).mappings().first()
                if row is None:
                    return None
                res = conn.execute(
                    update(w).where(w.c.id == row["id"], w.c.state == row["state"],
                                    w.c.lease_until == row["lease_until"],
                                    w.c.attempts == row["attempts"])
                    .values(state="leased", lease_until=now + lease_seconds,
                            attempts=row["attempts"] + 1, updated=now))
                if res.rowcount == 1:
                    return WorkItem(**{**row, "state": "leased", "lease_until": now + lease_seconds,
                                       "attempts": row["attempts"] + 1, "updated": now})
        return None

    # orders
    def get_order(self, id: str) -> Order | None:
        with self._read() as conn:
            row = conn.execute(select(t.orders).where(t.orders.c.id == id)).mappings().first()
        return Order(**row) if row else None

    def put_order(self, order: Order) -> None:
        with self._tx() as conn:
            self._upsert(conn, t.orders, "id", asdict(order))

    def delete_order(self, id: str) -> bool:
        return self._delete(t.orders, "id", id)

    def list_orders(self, *, owner: str | None = None) -> list[Order]:
        query = select(t.orders).order_by(t.orders.c.created, t.orders.c.id)
        if owner is not None:
            query = query.where(t.orders.c.owner == owner)
        with self._read() as conn:
            return [Order(**r) for r in conn.execute(query).mappings()]

    # users
    def get_user(self, name: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).mappings().first()
        return User(**row) if row else None

    def put_user(self, user: User) -> None:
        with self._tx() as conn:
            self._upsert(conn, t.users, "name", asdict(user))

    def delete_user(self, name: str) -> bool:
        return self._delete(t.users, "name", name)

    def list_users(self) -> list[User]:
        with self._read() as conn:
            return [User(**r) for r in conn.execute(select(t.users).order_by(t.users.c.name))
                    .mappings()]

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()
        self._writer = None
        self.engine.dispose()
