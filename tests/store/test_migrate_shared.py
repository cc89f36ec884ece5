"""Migrations on a database several appliances share (real PostgreSQL): started together they
migrate once; a schema newer than the code is refused with both versions named; a database that
cannot be reached or named is a clear error and exit status, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from provisioner.errors import StoreError
from provisioner.store import migrate, open_store
from tests.store.conftest import _reset_pg

STARTER = r"""
import logging, sys, time
logging.basicConfig(level=logging.INFO, format="%(message)s")
from provisioner.store import open_store
at = float(sys.argv[2])
while time.time() < at:
    time.sleep(0.001)
open_store(sys.argv[1]).close()
print("OPENED")
"""


def test_appliances_starting_together_migrate_once(pg_url):
    _reset_pg(pg_url)
    at = time.time() + 2.0  # every process opens the fresh database at the same instant
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, pg_url, str(at)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    ran = sum(o.count("Running upgrade  -> 0001") for o in outs)
    assert ran == 1, outs  # the others waited on the advisory lock and found it done
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() \
            == [migrate.head()]
    engine.dispose()


def _stamp(url: str, rev: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": rev})
    engine.dispose()


def test_a_schema_newer_than_the_code_is_refused_naming_both(pg_url, tmp_path):
    _reset_pg(pg_url)
    open_store(pg_url).close()
    _stamp(pg_url, "0099")
    for migrate_flag in (True, False):  # the HTTP process and a network worker
        with pytest.raises(migrate.SchemaTooNew, match=f"0099.*{migrate.head()}"):
            open_store(pg_url, migrate=migrate_flag)
    env = {**os.environ, "PROVISIONER_DATABASE_URL": pg_url,
           "PROVISIONER_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "provisioner.cli", "serve"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "revision 0099, newer than this provisioner knows" in out.stderr
    assert "Traceback" not in out.stderr
    _stamp(pg_url, migrate.head() or "")


@pytest.mark.parametrize("url, says", [
    ("postgresql+psycopg://app:s3cret@127.0.0.1:9/none", "Connection refused"),
    ("postgresql+psycopg://app@/none?host=/nonexistent", "No such file"),
    ("postgresqlx://x", "Can't load plugin"),
    ("not a url", "Could not parse"),
])
def test_a_wrong_or_unreachable_database_is_a_clear_error(url, says, tmp_path):
    with pytest.raises(StoreError, match=says):
        open_store(url)
    env = {**os.environ, "PROVISIONER_DATABASE_URL": url, "PROVISIONER_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "provisioner.cli", "serve"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("provisioner: error: cannot ")
    assert says in out.stderr and "Traceback" not in out.stderr
    assert "s3cret" not in out.stderr  # the password is never printed
