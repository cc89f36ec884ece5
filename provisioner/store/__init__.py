"""Persistence: the Store Protocol (base), SQLAlchemy (sql) and in-memory (memory) stores."""

from __future__ import annotations

from provisioner.store.base import Store, StoreError


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the SQL store at ``url`` and (by default) upgrade its schema to the newest revision."""
    from provisioner.store import migrate as migrations
    from provisioner.store.sql import SqlStore

    store = SqlStore.open(url)
    if migrate:
        migrations.upgrade(store.engine)
    return store


__all__ = ["Store", "StoreError", "open_store"]
