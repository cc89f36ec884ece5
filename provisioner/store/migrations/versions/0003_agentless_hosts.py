"""Agentless hosts (a libvirt URI and the recorded SSH host key) and encrypted secrets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("uri", sa.String(2048), nullable=False, server_default=""))
        batch.add_column(sa.Column("ssh_host_key", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("secrets")
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("ssh_host_key")
        batch.drop_column("uri")
