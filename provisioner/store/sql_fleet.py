"""The SQL store's records beyond the inventory: API tokens, agent hosts, the work queue (with
its compare-and-swap lease), VM orders and UI users."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select, update

from provisioner.models import ApiToken, Host, Order, User, WorkItem
from provisioner.store import schema as t
from provisioner.store.sqlbase import SqlBase

_LEASE_RETRIES = 8


class FleetTables(SqlBase):
    """Tokens, hosts, work items, orders and users (part of :class:`~.sql.SqlStore`)."""

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

    def touch_host(self, name: str, now: float) -> bool:
        with self._tx() as conn:
            done = conn.execute(update(t.hosts).where(t.hosts.c.name == name)
                                .values(last_seen=now))
        return bool(done.rowcount)

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
