"""UI users: scrypt hashes, authentication, roles, last-admin protection."""

from __future__ import annotations

import pytest

from provisioner.core.users import Users, hash_password, verify_password
from provisioner.errors import Conflict, Invalid
from provisioner.store.memory import MemoryStore


def test_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a.startswith("scrypt$16384$8$1$") and a != b
    assert "correct horse" not in a
    assert verify_password("correct horse", a) and verify_password("correct horse", b)
    assert not verify_password("wrong horse", a)


@pytest.mark.parametrize("stored", ["", "plain", "md5$x$y$z$aa$bb", "scrypt$x$8$1$aa$bb",
                                    "scrypt$16384$8$1$zz$bb"],
                         ids=["empty", "no fields", "other scheme", "bad n", "bad hex"])
def test_malformed_hash_never_verifies(stored: str) -> None:
    assert verify_password("anything", stored) is False


def test_create_authenticate_and_roles() -> None:
    users = Users(MemoryStore())
    users.create("alice", "alice-password", "admin")
    users.create("bob", "bob-password")
    assert users.authenticate("alice", "alice-password").role == "admin"
    assert users.authenticate("bob", "bob-password").role == "user"
    assert users.authenticate("bob", "alice-password") is None
    assert users.authenticate("nobody", "whatever-pw") is None
    with pytest.raises(Conflict):
        users.create("bob", "another-password")


@pytest.mark.parametrize("name,password,role,field", [
    ("Bad Name", "long-enough", "user", "name"),
    ("carol", "short", "user", "password"),
    ("carol", "long-enough", "root", "role"),
], ids=["name with space", "short password", "unknown role"])
def test_create_rejects_bad_input(name: str, password: str, role: str, field: str) -> None:
    with pytest.raises(Invalid) as exc:
        Users(MemoryStore()).create(name, password, role)
    assert exc.value.field == field


def test_last_admin_cannot_be_removed_or_demoted() -> None:
    users = Users(MemoryStore())
    users.create("root", "root-password", "admin")
    with pytest.raises(Conflict):
        users.delete("root")
    with pytest.raises(Conflict):
        users.set_role("root", "user")
    users.create("second", "second-password", "admin")
    users.set_role("root", "user")
    assert users.get("root").role == "user"


def test_set_password() -> None:
    users = Users(MemoryStore())
    users.create("dave", "old-password")
    users.set_password("dave", "new-password")
    assert users.authenticate("dave", "old-password") is None
    assert users.authenticate("dave", "new-password") is not None
