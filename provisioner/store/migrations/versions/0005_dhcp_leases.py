"""DHCP leases in the database, shared by several appliances (PostgreSQL).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dhcp_leases",
        sa.Column("network", sa.String(43), primary_key=True),
        sa.Column("address", sa.String(39), primary_key=True),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=True),
        sa.Column("server", sa.String(64), nullable=False),
        sa.Column("txid", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("ix_dhcp_leases_txid", "dhcp_leases", ["txid"])


def downgrade() -> None:
    op.drop_index("ix_dhcp_leases_txid", table_name="dhcp_leases")
    op.drop_table("dhcp_leases")
