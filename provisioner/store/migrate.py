"""Schema migrations with Alembic's API; the scripts ship inside the package.

``upgrade(engine)`` brings any database to the newest revision (run by ``provisioner db upgrade``
and at every start). ``current(engine)`` reports the revision a database is at.

Several appliances on one PostgreSQL may start at the same moment: ``upgrade`` then runs inside
one transaction holding the advisory lock :data:`LOCK_KEY` (``pg_advisory_xact_lock``), so the
first one migrates and the others wait, find the schema at head and do nothing. A database at a
revision this code does not know (written by a newer release) is refused with both versions
named (:class:`SchemaTooNew`), before anything is changed: an older appliance must not serve
from, or "upgrade", a schema it does not understand.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from provisioner.errors import StoreError

SCRIPT_LOCATION = str(Path(__file__).resolve().parent / "migrations")
LOCK_KEY = 0x70726F76  # "prov": the advisory lock every appliance migrates under


class SchemaTooNew(StoreError):
    """The database was migrated by a newer release than this one."""


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    url = engine.url.render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _known(rev: str) -> bool:
    try:
        return ScriptDirectory(SCRIPT_LOCATION).get_revision(rev) is not None
    except CommandError:
        return False


def check_not_newer(conn: Connection) -> str | None:
    """The database's revision; :class:`SchemaTooNew` if this code does not know it."""
    rev = MigrationContext.configure(conn).get_current_revision()
    if rev is not None and not _known(rev):
        raise SchemaTooNew(
            f"the database schema is at revision {rev}, newer than this provisioner knows "
            f"(its newest is {head()}): it was upgraded by a newer release",
            hint="run the same (or a newer) provisioner release on every appliance that shares "
                 "this database; never downgrade one alone")
    return rev


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` in one transaction (under the advisory lock on
    PostgreSQL, see the module docstring)."""
    cfg = _config(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        check_not_newer(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The database's revision, ``None`` when it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory(SCRIPT_LOCATION).get_current_head()
