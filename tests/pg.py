"""A throw-away PostgreSQL cluster from the distribution's binaries, in a temporary directory.

Used by the store tests (``tests/store/conftest.py``), the two-appliance tests
(``tests/multi/``) and the benchmarks. The cluster runs as the ``postgres`` user (initdb refuses
root), listens on a Unix socket in its directory only (reachable from every network namespace a
test makes, since those share the file system), and can be stopped and started again (the
database outage tests) or killed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile


def bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def available() -> str | None:
    """None when a cluster can be made here, else why not."""
    if bindir() is None:
        return "PostgreSQL server binaries not installed (Debian package postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg not installed"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    return None


class PgCluster:
    """``initdb`` + ``pg_ctl start`` in a fresh directory; :attr:`url` for SQLAlchemy."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.bindir = bindir() or ""
        pw = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="pgtest-")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.settings = {"listen_addresses": "''", "unix_socket_directories": self.dir,
                         "max_connections": "200", **(settings or {})}
        self._as_pg(f"{self.bindir}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/postgres?host={self.dir}"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.dir}"

    def _as_pg(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=check,
                              capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        opts = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._as_pg(f"{self.bindir}/pg_ctl", "-D", self.data, "-w", "-t", "60", "-l",
                    f"{self.dir}/log", "-o", opts, "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client (what a database restart does to appliances)."""
        self._as_pg(f"{self.bindir}/pg_ctl", "-D", self.data, "-w", "-t", "60", "-m", mode,
                    "stop", check=False)

    def create_database(self, name: str) -> str:
        """A new, empty database on this cluster; its SQLAlchemy URL."""
        self._as_pg(f"{self.bindir}/psql", "-h", self.dir, "-U", "postgres", "-c",
                    f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@/{name}?host={self.dir}"

    def pid(self) -> int | None:
        """The postmaster's PID while it runs (its ``postmaster.pid``)."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as fh:
                return int(fh.readline())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        self.stop("immediate")
        pid = self.pid()
        if pid is not None:  # pg_ctl failed: the postmaster by its PID, never by name
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run ``sql`` on database ``db``; unaligned, tuples only (``a|b`` per row)."""
        return self._as_pg(f"{self.bindir}/psql", "-h", self.dir, "-U", "postgres", "-At",
                           "-d", db, "-c", sql).stdout
