"""SQLite specifics: WAL mode, migrations equal the schema, committed writes survive a kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from provisioner.errors import StoreError
from provisioner.store import migrate, open_store
from provisioner.store.schema import metadata
from provisioner.store.sql import SqlStore
from tests import fixtures as fx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_wal_mode_and_foreign_keys(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
    # persistent: a plain sqlite3 connection sees WAL too
    assert sqlite3.connect(tmp_path / "p.db").execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_migrations_create_exactly_the_schema(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert migrate.current(store.engine) == migrate.head()
    store.close()


def test_upgrade_is_idempotent_and_keeps_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    fx.fill(store)
    store.close()
    again = open_store(url)
    assert again.get_system("web01") == fx.SYSTEM
    again.close()


def test_unmigrated_database_reports_no_revision(tmp_path):
    store = SqlStore.open(f"sqlite:///{tmp_path / 'p.db'}")
    assert migrate.current(store.engine) is None
    migrate.upgrade(store.engine)
    assert migrate.current(store.engine) == migrate.head()


WRITER = textwrap.dedent("""
    import sys
    from provisioner.models import Interface, System
    from provisioner.store import open_store
    from tests import fixtures as fx
    store = open_store(sys.argv[1])
    fx.fill(store)
    i = 0
    while True:
        mac = "52:54:01:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255)
        store.put_system(System(f"s{i}", "web", interfaces=(Interface(mac),)))
        print(i, flush=True)
        i += 1
""")


def test_killed_writer_loses_nothing_committed(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    committed = -1
    try:
        for line in proc.stdout:  # bounded: we kill after 200 confirmed commits
            committed = int(line)
            if committed >= 200:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert committed >= 200
    conn = sqlite3.connect(tmp_path / "p.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    store = open_store(url)
    names = {s.name for s in store.list_systems(profile="web")}
    assert {f"s{i}" for i in range(committed + 1)} <= names
    assert all(store.system_by_mac(s.interfaces[0].mac).name == s.name
               for s in store.list_systems(profile="web") if s.interfaces)
    store.close()


def test_a_change_by_another_process_is_seen_at_once(tmp_path):
    """No sync step: a second store (another appliance process, the CLI) writes, the first reads."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    server, cli = open_store(url), open_store(url)
    fx.fill(cli)
    assert server.get_system("web01").status == "new"  # opens the server's read connection
    cli.put_system(replace(fx.SYSTEM, status="installed"))
    assert server.get_system("web01").status == "installed"
    with server.snapshot():
        server.get_distro(fx.DISTRO.name)
    cli.delete_system("web01")
    assert server.system_by_mac(fx.MAC) is None
    server.close()
    cli.close()


HOT_QUERIES = ["_SYSTEM", "_SYSTEM_BY_MAC", "_SYSTEM_BY_IP", "_SYSTEM_BY_TOKEN", "_INTERFACES",
               "_PROFILE", "_DISTRO"]


@pytest.mark.parametrize("name", HOT_QUERIES)
def test_hot_queries_use_indexes_not_scans(tmp_path, name):
    """Per-request lookups are index searches: 10,000 systems cost what 10 do."""
    from provisioner.store import sql

    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    compiled = getattr(sql, name).compile(dialect=store.engine.dialect)
    params = tuple("x" for _ in compiled.positiontup)
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", params).all()
    details = [row[-1] for row in plan]
    assert all(d.startswith(("SEARCH", "USE TEMP B-TREE", "SCALAR SUBQUERY"))
               for d in details), details
    store.close()


def test_a_dead_read_connection_is_a_store_error_then_reconnects(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    fx.fill(store)
    assert store.get_system("web01") is not None  # opens this thread's read connection
    store._local.reader.connection.driver_connection.close()  # the database "goes away"
    with pytest.raises(StoreError):
        store.get_system("web01")
    assert store.get_system("web01") == fx.SYSTEM
    assert store.get_distro(fx.DISTRO.name) == fx.DISTRO
    store.close()


def test_threads_that_end_give_their_read_connection_back(tmp_path):
    """Each thread keeps a read connection; one that ended must not hold it for good (worker
    threads of the power poller and of reinstall jobs come and go: 15 would exhaust the pool)."""
    import threading

    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        fx.fill(store)
        errors: list[Exception] = []

        def read() -> None:
            try:
                assert store.get_system(fx.SYSTEM.name) is not None
            except Exception as exc:  # pool exhausted -> StoreError after its timeout
                errors.append(exc)

        for _ in range(40):
            t = threading.Thread(target=read)
            t.start()
            t.join(timeout=60)
        assert not errors
        assert len(store._conns) <= 3  # this thread's, the writer's, the last dead reader's
    finally:
        store.close()
