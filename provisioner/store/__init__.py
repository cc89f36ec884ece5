"""Persistence: the core's Store Protocol (``core/ports.py``) over SQLAlchemy (sql) or memory."""

from __future__ import annotations

from provisioner.core.ports import Store
from provisioner.store import migrate as migrations
from provisioner.store.sql import SqlStore


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the SQL store at ``url`` and (by default) upgrade its schema to the newest revision."""
    store = SqlStore.open(url)
    if migrate:
        migrations.upgrade(store.engine)
    return store


__all__ = ["open_store"]
