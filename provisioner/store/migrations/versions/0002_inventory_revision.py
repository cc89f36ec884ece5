"""The inventory change counter: a revision row and the log of what changed at each revision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "inventory_revision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "revision": 0}])
    op.create_table(
        "inventory_changes",
        sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inventory_changes")
    op.drop_table("inventory_revision")
