"""The store fixture: every contract test runs on memory, a SQLite file, and PostgreSQL.

PostgreSQL runs when the Debian server binaries and psycopg are installed: a throw-away cluster
is made in a temporary directory (as the ``postgres`` user), listening on a Unix socket only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioner.store import open_store
from provisioner.store.memory import MemoryStore
from tests import pg


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    why = pg.available()
    if why is not None:
        pytest.skip(why)
    cluster = pg.PgCluster()
    try:
        yield cluster.url
    finally:
        cluster.close()


def _reset_pg(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        _reset_pg(url)
    s = open_store(url)
    try:
        yield s
    finally:
        s.close()
