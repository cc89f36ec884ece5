"""PostgreSQL specifics: the same migrations, and recovery when the server drops connections."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from provisioner.errors import StoreError
from provisioner.store import migrate, open_store
from tests import fixtures as fx
from tests.store.conftest import _reset_pg


def test_migrated_and_recovers_after_backends_are_killed(pg_url):
    _reset_pg(pg_url)
    store = open_store(pg_url)
    assert migrate.current(store.engine) == migrate.head()
    fx.fill(store)
    assert store.get_system("web01") == fx.SYSTEM  # this thread's read connection is open
    admin = create_engine(pg_url)
    with admin.begin() as conn:  # what a server restart does to every session
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE pid <> pg_backend_pid() AND datname = current_database()"))
    admin.dispose()
    with pytest.raises(StoreError):
        store.get_system("web01")  # the dead connection is reported once, then replaced
    assert store.get_system("web01") == fx.SYSTEM
    store.put_system(fx.SYSTEM)  # writes check pooled connections before use (pre-ping)
    assert store.system_by_mac(fx.MAC).name == "web01"
    store.close()
