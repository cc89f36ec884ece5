"""SQLAlchemy table definitions, portable between SQLite and PostgreSQL.

The Alembic migrations in ``store/migrations/versions`` create exactly this schema
(``tests/store/test_migrations.py`` compares them). Change both together: add a migration.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

distros = Table(
    "distros", metadata,
    Column("name", String(64), primary_key=True),
    Column("arch", String(16), nullable=False),
    Column("os_version", String(32), nullable=False),
    Column("breed", String(16), nullable=False),
    Column("kernel", Text, nullable=False),
    Column("initrd", Text, nullable=False),
    Column("tree_url", Text, nullable=False),
    Column("kernel_options", Text, nullable=False),
)

profiles = Table(
    "profiles", metadata,
    Column("name", String(64), primary_key=True),
    Column("distro", String(64), nullable=True, index=True),
    Column("parent", String(64), nullable=True, index=True),
    Column("kickstart", String(255), nullable=True),
    Column("kernel_options", Text, nullable=True),
    Column("meta", JSON, nullable=False),
    Column("vm", JSON, nullable=False),
)

systems = Table(
    "systems", metadata,
    Column("name", String(64), primary_key=True),
    Column("profile", String(64), nullable=False, index=True),
    Column("hostname", String(255), nullable=True),
    Column("netboot_enabled", Boolean, nullable=False),
    Column("kernel_options", Text, nullable=True),
    Column("meta", JSON, nullable=False),
    Column("vm", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("token", String(128), nullable=True, unique=True),
)

interfaces = Table(
    "interfaces", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(64), ForeignKey("systems.name", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("name", String(32), nullable=False),
    Column("mac", String(17), nullable=False, unique=True),
    Column("ip", String(15), nullable=True, unique=True),
    Column("bridge", String(64), nullable=True),
    Column("netmask", String(15), nullable=True),
    Column("gateway", String(15), nullable=True),
    Column("ipv6", String(39), nullable=True, unique=True),
    Column("duid", String(260), nullable=True, unique=True),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_events_subject_id", "subject", "id"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("name", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

hosts = Table(
    "hosts", metadata,
    Column("name", String(255), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("facts", JSON, nullable=False),
    Column("capacity", JSON, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("uri", String(2048), nullable=False, server_default=""),
    Column("ssh_host_key", Text, nullable=False, server_default=""),
)

# the appliance's own keys and the agentless hosts' tokens, encrypted (core/keyring.py)
secrets = Table(
    "secrets", metadata,
    Column("name", String(128), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("updated", Float, nullable=False),
)

# power control per system (store/power.py): the controller's settings as JSON (never a
# password: that is the secret bmc/<system>) and the last polled state
power = Table(
    "power", metadata,
    Column("system", String(64), primary_key=True),
    Column("driver", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("checked", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("error", Text, nullable=False),
)

work_items = Table(
    "work_items", metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("idempotency_key", String(255), nullable=True, unique=True),
    Column("result", JSON, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_work_items_host_state", "host", "state"),
)

orders = Table(
    "orders", metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("profile", String(64), nullable=False),
    Column("vcpus", Integer, nullable=False),
    Column("ram_mb", Integer, nullable=False),
    Column("disk_gb", Integer, nullable=False),
    Column("network", String(255), nullable=False),
    Column("host", String(255), nullable=True),
    Column("state", String(32), nullable=False),
    Column("system", String(64), nullable=True),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
)

# The inventory's change counter (``store/changes.py``): one row whose ``revision`` every write
# to distros, profiles or systems bumps in its own transaction, and which of them changed at
# each revision (pruned to the newest ``changes.KEEP``), so caches reload only what changed.
inventory_revision = Table(
    "inventory_revision", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", Integer, nullable=False),
)

inventory_changes = Table(
    "inventory_changes", metadata,
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("entity", String(16), nullable=False),  # distro | profile | system
    Column("name", String(64), nullable=False),
)

# DHCP leases shared by every appliance on one PostgreSQL (``store/leases.py``; on SQLite the
# DHCP worker keeps its journal and this table stays empty). One row per address of a network:
# the primary key is what makes two appliances unable to hold one address at once; ``txid`` is
# the writing transaction (followers read what changed since a snapshot's xmin).
dhcp_leases = Table(
    "dhcp_leases", metadata,
    Column("network", String(43), primary_key=True),  # the subnet, e.g. 10.78.0.0/16
    Column("address", String(39), primary_key=True),
    Column("mac", String(64), nullable=False),
    Column("expires", Float, nullable=False),  # seconds since the epoch; inf = infinite
    Column("state", String(10), nullable=False),  # offered | bound | declined | released
    Column("hostname", String(255), nullable=True),
    Column("server", String(64), nullable=False),  # the appliance that wrote it last
    Column("txid", BigInteger, nullable=False, server_default="0"),
    Index("ix_dhcp_leases_txid", "txid"),
)
