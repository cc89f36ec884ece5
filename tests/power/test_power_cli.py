"""``provisioner power ...`` and ``provisioner reinstall ...``: settings in and out without the
password, the key from the environment, errors as one line with a hint and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from provisioner.cli import main

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-Bmc-secret-9"


@pytest.fixture
def run(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PROVISIONER_CONFIG", raising=False)
    monkeypatch.delenv("PROVISIONER_SECRET_KEY", raising=False)
    monkeypatch.setenv("PROVISIONER_TEMPLATES_DIR", str(ROOT / "templates"))
    monkeypatch.setenv("PROVISIONER_RUNTIME_DIR", str(tmp_path / "run"))
    data = tmp_path / "data"

    def call(*argv: str) -> tuple[int, str, str]:
        rc = main(["--data-dir", str(data), *argv])
        out = capsys.readouterr()
        return rc, out.out, out.err

    assert call("demo")[0] == 0
    return call


def test_set_show_list_remove(run, tmp_path) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(SECRET + "\n")
    rc, out, err = run("power", "set", "demo01", "--driver", "redfish", "--address",
                       "https://bmc.example.com", "--username", "admin", "--password-file",
                       str(pw), "--insecure")
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["settings"]["password_set"] is True and SECRET not in out + err
    assert "TLS verification is off" in err  # the warning, on stderr
    key = tmp_path / "data" / "secret.key"
    assert key.exists() and key.stat().st_mode & 0o077 == 0
    assert SECRET.encode() not in (tmp_path / "data" / "provisioner.db").read_bytes()
    rc, out, _ = run("power", "list")
    assert rc == 0 and out.startswith("demo01") and "never" in out
    assert run("power", "remove", "demo01")[0] == 0
    rc, _, err = run("power", "show", "demo01")
    assert rc == 2 and "no power controller" in err and "hint:" in err


def test_key_from_the_environment(run, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PROVISIONER_SECRET_KEY", Fernet.generate_key().decode())
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    rc, _, err = run("power", "set", "demo01", "--driver", "ipmi", "--address", "10.0.0.9",
                     "--username", "admin", "--password-stdin")
    assert rc == 0, err
    assert not (tmp_path / "data" / "secret.key").exists()  # the environment's key was used
    monkeypatch.setenv("PROVISIONER_SECRET_KEY", "not-a-key")
    rc, _, err = run("power", "show", "demo01")
    assert rc == 2 and "PROVISIONER_SECRET_KEY is not a Fernet key" in err


@pytest.mark.parametrize("argv,message", [
    (("reinstall", "demo01"), "no power controller configured"),
    (("reinstall", "ghost"), "no system ghost"),
    (("reinstall", "demo01", "--timeout", "5"), "timeout must be"),
    (("power", "set", "demo01", "--driver", "redfish", "--address", "bmc.example.com"),
     "base URL"),
    (("power", "set", "demo01", "--driver", "ipmi", "--address", "10.0.0.9"), "user name"),
])
def test_errors_are_one_line_exit_2(run, argv, message) -> None:
    rc, out, err = run(*argv)
    assert rc == 2 and message in err and "Traceback" not in err, err


def test_an_unanswered_status_is_exit_1_with_the_cause(run) -> None:
    assert run("power", "set", "demo01", "--driver", "ipmi", "--address", "127.0.0.1",
               "--port", "9", "--username", "admin", "--timeout", "2")[0] == 0
    rc, out, err = run("power", "status", "demo01")
    assert rc == 1 and "unknown" in out and ("timeout" in out or "no answer" in out)
    rc, out, err = run("power", "boot", "demo01", "http")
    assert rc == 2 and "IPMI has no boot device 'http'" in err
