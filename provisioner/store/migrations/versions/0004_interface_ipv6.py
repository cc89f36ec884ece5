"""Interfaces get a reserved IPv6 address and a DHCPv6 DUID (both unique, optional).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interfaces", recreate="always") as batch:
        batch.add_column(sa.Column("ipv6", sa.String(39), nullable=True))
        batch.add_column(sa.Column("duid", sa.String(260), nullable=True))
        batch.create_unique_constraint("uq_interfaces_ipv6", ["ipv6"])
        batch.create_unique_constraint("uq_interfaces_duid", ["duid"])


def downgrade() -> None:
    with op.batch_alter_table("interfaces", recreate="always") as batch:
        batch.drop_constraint("uq_interfaces_duid", type_="unique")
        batch.drop_constraint("uq_interfaces_ipv6", type_="unique")
        batch.drop_column("duid")
        batch.drop_column("ipv6")
