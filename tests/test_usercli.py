"""``provisioner user ...``: the first admin of an appliance comes from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.core.users import Users
from provisioner.store import open_store


def test_user_add_list_passwd_role_remove(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    d = ["--data-dir", str(tmp_path)]
    assert main([*d, "user", "add", "root", "--role", "admin"]) == 0
    out = capsys.readouterr().out
    password = out.split("password of root: ")[1].strip()
    (tmp_path / "pw").write_text("bob-password\n")
    assert main([*d, "user", "add", "bob", "--password-file", str(tmp_path / "pw")]) == 0
    assert "password of" not in capsys.readouterr().out  # given, so never printed
    assert main([*d, "user", "add", "root", "--if-missing"]) == 0
    assert main([*d, "user", "passwd", "bob", "--password-out", str(tmp_path / "new")]) == 0
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o600
    assert main([*d, "user", "role", "bob", "admin"]) == 0
    assert main([*d, "user", "remove", "root"]) == 0
    assert main([*d, "user", "remove", "bob"]) == 2  # the last admin stays
    capsys.readouterr()
    assert main([*d, "user", "list"]) == 0
    assert capsys.readouterr().out == "bob\tadmin\n"
    store = open_store(f"sqlite:///{tmp_path / 'provisioner.db'}")
    try:
        users = Users(store)
        assert users.authenticate("bob", (tmp_path / "new").read_text().strip()) is not None
        assert users.authenticate("root", password) is None  # removed
    finally:
        store.close()
