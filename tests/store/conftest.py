"""The store fixture: every contract test runs on memory, a SQLite file, and PostgreSQL.

PostgreSQL runs when the Debian server binaries and psycopg are installed: a throw-away cluster
is made in a temporary directory (as the ``postgres`` user), listening on a Unix socket only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from provisioner.store import open_store
from provisioner.store.memory import MemoryStore


def _pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _have_psycopg() -> bool:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    bindir = _pg_bindir()
    if bindir is None or not _have_psycopg():
        pytest.skip("PostgreSQL server or psycopg not installed")
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user")
    tmp = tempfile.mkdtemp(prefix="pgtest-")
    os.chown(tmp, pw.pw_uid, pw.pw_gid)
    data, sock = os.path.join(tmp, "data"), tmp

    def as_pg(*argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                       capture_output=True, timeout=120)

    try:
        as_pg(f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres")
        as_pg(f"{bindir}/pg_ctl", "-D", data, "-w", "-t", "60", "-l", f"{tmp}/log",
              "-o", f"-c listen_addresses='' -k {sock}", "start")
        yield f"postgresql+psycopg://postgres@/postgres?host={sock}"
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{bindir}/pg_ctl", "-D", data, "-w",
                        "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


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
