"""Persistence of power settings and polled power state (``core/ports.py`` ``PowerStore``).

One row per system in ``power``: the controller's settings (driver, address, user... as JSON,
never a password: that is a secret, ``bmc_secret_name``) and the last polled state. A system's
row and its BMC secret are deleted with the system (``delete_system`` of both stores)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from provisioner.models import PowerConfig, PowerStatus, bmc_secret_name
from provisioner.store import schema as t
from provisioner.store.sqlbase import SqlBase

_STATUS = ("state", "checked", "last_seen", "error")


def _config(row: Any) -> PowerConfig:
    return PowerConfig(system=row.system, **dict(row.config))


def _status(row: Any) -> PowerStatus:
    return PowerStatus(system=row.system, state=row.state, checked=row.checked,
                       last_seen=row.last_seen, error=row.error)


class SqlPower(SqlBase):
    """Mixed into ``SqlStore`` (``SqlBase`` supplies ``_read``/``_tx``)."""

    def get_power_config(self, system: str) -> PowerConfig | None:
        with self._read() as conn:
            row = conn.execute(select(t.power).where(t.power.c.system == system)).first()
        return None if row is None or not row.driver else _config(row)

    def put_power_config(self, config: PowerConfig) -> None:
        values = config.as_dict()
        values.pop("system")
        self._power_upsert({"driver": config.driver, "config": values}, config.system)

    def delete_power_config(self, system: str) -> bool:
        with self._tx() as conn:
            return _forget_power(conn, system)

    def list_power_configs(self) -> list[PowerConfig]:
        with self._read() as conn:
            rows = conn.execute(select(t.power).where(t.power.c.driver != "")
                                .order_by(t.power.c.system)).all()
        return [_config(r) for r in rows]

    def get_power_status(self, system: str) -> PowerStatus | None:
        with self._read() as conn:
            row = conn.execute(select(t.power).where(t.power.c.system == system)).first()
        return None if row is None else _status(row)

    def put_power_status(self, status: PowerStatus) -> None:
        self._power_upsert({k: getattr(status, k) for k in _STATUS}, status.system)

    def _power_upsert(self, values: dict[str, Any], system: str) -> None:
        with self._tx() as conn:
            if conn.execute(update(t.power).where(t.power.c.system == system)
                            .values(**values)).rowcount == 0:
                row: dict[str, Any] = {"system": system, "driver": "", "config": {},
                                       "state": "unknown", "checked": 0.0, "last_seen": 0.0,
                                       "error": ""}
                conn.execute(insert(t.power).values({**row, **values}))


def _forget_power(conn: Connection, system: str) -> bool:
    """Delete a system's power row and BMC secret (in the caller's transaction)."""
    conn.execute(delete(t.secrets).where(t.secrets.c.name == bmc_secret_name(system)))
    return conn.execute(delete(t.power).where(t.power.c.system == system)).rowcount > 0


def forget_power_sql(conn: Connection, system: str) -> None:
    """For ``SqlStore.delete_system``: the system's power row and BMC secret go with it."""
    _forget_power(conn, system)


class MemoryPower:
    """Mixed into ``MemoryStore`` (after ``MemorySecrets``)."""

    _secrets: dict[str, str]

    def __init__(self) -> None:
        self._power_configs: dict[str, PowerConfig] = {}
        self._power_status: dict[str, PowerStatus] = {}
        self._power_lock = threading.Lock()

    def get_power_config(self, system: str) -> PowerConfig | None:
        return self._power_configs.get(system)

    def put_power_config(self, config: PowerConfig) -> None:
        with self._power_lock:
            self._power_configs[config.system] = config

    def delete_power_config(self, system: str) -> bool:
        with self._power_lock:
            self._power_status.pop(system, None)
            self._secrets.pop(bmc_secret_name(system), None)
            return self._power_configs.pop(system, None) is not None

    def list_power_configs(self) -> list[PowerConfig]:
        return [self._power_configs[k] for k in sorted(self._power_configs)]

    def get_power_status(self, system: str) -> PowerStatus | None:
        return self._power_status.get(system)

    def put_power_status(self, status: PowerStatus) -> None:
        with self._power_lock:
            self._power_status[status.system] = status
