"""Persistence of encrypted secrets (``core/ports.py`` ``SecretStore``): opaque ciphertext by
name. The stores never see plain text; ``core/keyring.py`` encrypts before it writes."""

from __future__ import annotations

import threading

from sqlalchemy import delete, insert, select, update

from provisioner.store import schema as t
from provisioner.store.sqlbase import SqlBase


class SqlSecrets(SqlBase):
    """Mixed into ``SqlStore`` (``SqlBase`` supplies ``_read``/``_tx``)."""

    def get_secret(self, name: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(select(t.secrets.c.ciphertext).where(
                t.secrets.c.name == name)).first()
        return None if row is None else str(row[0])

    def put_secret(self, name: str, ciphertext: str, now: float) -> None:
        with self._tx() as conn:
            row = {"name": name, "ciphertext": ciphertext, "updated": now}
            if conn.execute(update(t.secrets).where(t.secrets.c.name == name)
                            .values(**row)).rowcount == 0:
                conn.execute(insert(t.secrets).values(**row))

    def delete_secret(self, name: str) -> bool:
        with self._tx() as conn:
            return conn.execute(delete(t.secrets).where(t.secrets.c.name == name)).rowcount > 0

    def secret_names(self) -> list[str]:
        with self._read() as conn:
            return [str(r[0]) for r in conn.execute(select(t.secrets.c.name)
                                                    .order_by(t.secrets.c.name))]


class MemorySecrets:
    """Mixed into ``MemoryStore``."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._secrets_lock = threading.Lock()

    def get_secret(self, name: str) -> str | None:
        return self._secrets.get(name)

    def put_secret(self, name: str, ciphertext: str, now: float) -> None:
        with self._secrets_lock:
            self._secrets[name] = ciphertext

    def delete_secret(self, name: str) -> bool:
        with self._secrets_lock:
            return self._secrets.pop(name, None) is not None

    def secret_names(self) -> list[str]:
        return sorted(self._secrets)
