"""The appliance's secret key and authenticated encryption of secrets at rest (Fernet: AES-128-CBC
+ HMAC-SHA256, from ``cryptography``). The key lives in its own file (mode 0600, created on first
use), apart from the database, or comes from the environment (``PROVISIONER_SECRET_KEY``, read
by ``main.build_cipher``): a copy of the database alone reveals no secret."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from provisioner.errors import StoreError


class FernetCipher:
    def __init__(self, key: bytes) -> None:
        self._f = Fernet(key)

    @classmethod
    def from_file(cls, path: str | Path) -> FernetCipher:
        """The key in ``path``; a new one is written (0600, never overwritten) when missing."""
        p = Path(path)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first: use theirs
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key())
        if p.stat().st_mode & 0o077:
            raise StoreError(f"{p} is readable by others: chmod 600 it")
        return cls(p.read_bytes().strip())

    @classmethod
    def from_key(cls, key: str, where: str) -> FernetCipher:
        """A key given directly (e.g. ``PROVISIONER_SECRET_KEY`` from the environment)."""
        try:
            return cls(key.strip().encode())
        except ValueError:
            raise StoreError(f"{where} is not a Fernet key (32 url-safe base64-encoded bytes: "
                             "python -c 'from cryptography.fernet import Fernet; "
                             "print(Fernet.generate_key().decode())')") from None

    def encrypt(self, plain: bytes) -> str:
        return self._f.encrypt(plain).decode()

    def decrypt(self, token: str) -> bytes:
        try:
            return self._f.decrypt(token.encode())
        except InvalidToken:
            raise StoreError("a stored secret does not decrypt with this appliance's key "
                             "(another secret.key?)") from None
