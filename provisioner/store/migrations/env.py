"""Alembic environment: runs on the connection handed over by ``provisioner.store.migrate``."""

from __future__ import annotations

from alembic import context

from provisioner.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via the `alembic` command line
    from provisioner.store.sqlbase import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
