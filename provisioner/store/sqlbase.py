"""The SQL store's plumbing: engines, per-thread connections, transactions, error mapping.

:class:`SqlBase` owns the connections (one read connection per thread, one writer on SQLite),
turns unique-key clashes into :class:`Conflict` and other database failures into
:class:`StoreError`, and lets a write of the inventory record the change (``_changed``, in
``sql.py``) in the same transaction. The tables are read and written by ``sql_fleet.py`` and
``sql.py``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from provisioner.errors import Conflict, StoreError

DB_HINT = ("check that the database named by db_url is running and reachable, and that its disk "
           "has room; `provisioner db upgrade` brings its schema up to date")


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
        args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        return create_engine(url, pool_pre_ping=True, connect_args=args)
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


class SqlBase:
    """Connections, transactions and error mapping shared by every table of the SQL store."""

    def __init__(self, engine: Engine, hot: dict[str, Any]) -> None:
        """``hot``: the per-request lookups by name, compiled once (:class:`_HotRead`)."""
        self.engine = engine
        # Each thread keeps one read connection (a pool checkout plus commit per call costs more
        # than the query). SQLite has one writer at a time and its busy handler sleep-polls
        # (1, 2, 5, 10... ms), so this process's writers queue on a lock and share one
        # connection; other processes still meet busy_timeout. PostgreSQL writes use the pool.
        self._local = threading.local()
        # every open connection and the thread whose reader it is (None: the shared writer)
        self._conns: dict[Connection, threading.Thread | None] = {}
        self._conns_lock = threading.Lock()
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._writer: Connection | None = None
        self._hot = {name: _HotRead(stmt, engine.dialect) for name, stmt in hot.items()}
        self._notify = engine.dialect.name == "postgresql"

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

    def _connect(self, reader: bool = True) -> Connection:
        """A new connection; a reader belongs to this thread. Readers of threads that ended
        go back to the pool first (worker threads come and go: they would exhaust it)."""
        with self._conns_lock:
            dead = [c for c, t in self._conns.items() if t is not None and not t.is_alive()]
            for c in dead:
                del self._conns[c]
        for c in dead:
            with contextlib.suppress(SQLAlchemyError):
                c.close()
        conn = self.engine.connect()
        with self._conns_lock:
            self._conns[conn] = threading.current_thread() if reader else None
        return conn

    def _discard(self, conn: Connection) -> None:
        with self._conns_lock:
            self._conns.pop(conn, None)
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
                self._writer = self._connect(reader=False)
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

    def _changed(self, conn: Connection, entity: str, name: str) -> None:
        """Record an inventory change inside ``conn``'s transaction (``sql.py`` does)."""
        raise NotImplementedError

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = list(self._conns), {}
        for conn in conns:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()
        self._writer = None
        self.engine.dispose()
