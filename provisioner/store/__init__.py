"""Persistence: the core's Store Protocol (``core/ports.py``) over SQLAlchemy (sql) or memory."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from provisioner.core.ports import Store
from provisioner.errors import StoreError
from provisioner.store import migrate as migrations
from provisioner.store.sql import SqlStore

URL_HINT = ("database_url takes a SQLAlchemy URL: sqlite:////var/lib/provisioner/provisioner.db "
            "or postgresql+psycopg://USER:PASSWORD@HOST/DBNAME (pip install "
            "'provisioner[postgresql]'); check that the server runs and accepts this user")


def safe_url(url: str) -> str:
    """``url`` for messages: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the SQL store at ``url`` and (by default) upgrade its schema to the newest revision.

    Without ``migrate`` the schema is still checked (a database newer than this code is
    refused). A URL that cannot be parsed, a driver that is not installed and a server that
    cannot be reached are a :class:`StoreError` naming the URL (password hidden), not a
    traceback.
    """
    try:
        store = SqlStore.open(url)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database {safe_url(url)}: {exc}", hint=URL_HINT) from None
    try:
        if migrate:
            migrations.upgrade(store.engine)
        else:
            with store.engine.connect() as conn:
                migrations.check_not_newer(conn)
    except SQLAlchemyError as exc:
        store.close()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"cannot open database {safe_url(url)}: {reason}", hint=URL_HINT) \
            from None
    except BaseException:
        store.close()
        raise
    return store


__all__ = ["open_store", "safe_url"]
