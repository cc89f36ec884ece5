"""Web UI users: scrypt-hashed passwords and two roles, over the Store.

A password hash is ``scrypt$<n>$<r>$<p>$<salt hex>$<digest hex>`` (hashlib.scrypt, 16-byte random
salt), compared in constant time. Plain passwords are never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from provisioner.core.ports import Store
from provisioner.errors import Conflict, Invalid, NotFound
from provisioner.models import User

ROLES = ("admin", "user")
MIN_PASSWORD = 8
_N, _R, _P = 2**14, 8, 1
_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """A salted scrypt hash of ``password`` in the self-describing format above."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for any malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(got, bytes.fromhex(digest))


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _USER_RE.match(name):
        raise Invalid("user name: lower-case letters, digits, '_', '.', '-'; at most 32",
                      field="name")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid(f"password must be at least {MIN_PASSWORD} characters", field="password")
    return password


class Users:
    """Use-cases on UI users: create, authenticate, change password/role, delete."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, name: str, password: str, role: str = "user") -> User:
        check_user_name(name)
        check_password(password)
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}", field="role")
        if self.store.get_user(name) is not None:
            raise Conflict(f"user {name} already exists")
        user = User(name=name, password_hash=hash_password(password), role=role)
        self.store.put_user(user)
        return user

    def authenticate(self, name: str, password: str) -> User | None:
        user = self.store.get_user(name) if isinstance(name, str) else None
        if user is None:
            # same work either way, so timing does not reveal which user names exist
            verify_password(password or "", _DUMMY_HASH)
            return None
        return user if verify_password(password or "", user.password_hash) else None

    def find(self, name: str) -> User | None:
        """The user named ``name`` or None (a session naming a user that was deleted)."""
        return self.store.get_user(name)

    def get(self, name: str) -> User:
        user = self.store.get_user(name)
        if user is None:
            raise NotFound(f"no user {name}")
        return user

    def list(self) -> list[User]:
        return self.store.list_users()

    def set_password(self, name: str, password: str) -> User:
        user = self.get(name)
        check_password(password)
        new = User(name=user.name, password_hash=hash_password(password), role=user.role)
        self.store.put_user(new)
        return new

    def set_role(self, name: str, role: str) -> User:
        user = self.get(name)
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}", field="role")
        if user.role == "admin" and role != "admin" and self.admins() == 1:
            raise Conflict("cannot demote the last admin")
        new = User(name=user.name, password_hash=user.password_hash, role=role)
        self.store.put_user(new)
        return new

    def delete(self, name: str) -> None:
        user = self.get(name)
        if user.role == "admin" and self.admins() == 1:
            raise Conflict("cannot delete the last admin")
        self.store.delete_user(name)

    def admins(self) -> int:
        """How many admins there are (the last one cannot be removed)."""
        return sum(1 for u in self.store.list_users() if u.role == "admin")


_DUMMY_HASH = hash_password("not-a-password", n=2**14)
