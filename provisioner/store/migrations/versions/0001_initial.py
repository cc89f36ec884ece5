"""Initial schema: inventory, timeline, API tokens, agent hosts, work queue, orders, users.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "distros",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("arch", sa.String(16), nullable=False),
        sa.Column("os_version", sa.String(32), nullable=False),
        sa.Column("breed", sa.String(16), nullable=False),
        sa.Column("kernel", sa.Text, nullable=False),
        sa.Column("initrd", sa.Text, nullable=False),
        sa.Column("tree_url", sa.Text, nullable=False),
        sa.Column("kernel_options", sa.Text, nullable=False),
    )
    op.create_table(
        "profiles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("distro", sa.String(64), nullable=True),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("kickstart", sa.String(255), nullable=True),
        sa.Column("kernel_options", sa.Text, nullable=True),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("vm", sa.JSON, nullable=False),
    )
    op.create_index("ix_profiles_distro", "profiles", ["distro"])
    op.create_index("ix_profiles_parent", "profiles", ["parent"])
    op.create_table(
        "systems",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=True),
        sa.Column("netboot_enabled", sa.Boolean, nullable=False),
        sa.Column("kernel_options", sa.Text, nullable=True),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("vm", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("token", sa.String(128), nullable=True, unique=True),
    )
    op.create_index("ix_systems_profile", "systems", ["profile"])
    op.create_table(
        "interfaces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(64), sa.ForeignKey("systems.name", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("mac", sa.String(17), nullable=False, unique=True),
        sa.Column("ip", sa.String(15), nullable=True, unique=True),
        sa.Column("bridge", sa.String(64), nullable=True),
        sa.Column("netmask", sa.String(15), nullable=True),
        sa.Column("gateway", sa.String(15), nullable=True),
    )
    op.create_index("ix_interfaces_system", "interfaces", ["system"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_events_subject_id", "events", ["subject", "id"])
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "hosts",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("capacity", sa.JSON, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "work_items",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True, unique=True),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_work_items_host_state", "work_items", ["host", "state"])
    op.create_table(
        "orders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("ram_mb", sa.Integer, nullable=False),
        sa.Column("disk_gb", sa.Integer, nullable=False),
        sa.Column("network", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("system", sa.String(64), nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_orders_owner", "orders", ["owner"])
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    for table in ("users", "orders", "work_items", "hosts", "api_tokens", "events",
                  "interfaces", "systems", "profiles", "distros"):
        op.drop_table(table)
