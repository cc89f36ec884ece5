"""Help that answers (issue 15): every ``provisioner`` command's ``--help`` shows an example
that really parses, and an error always says what to run next."""

from __future__ import annotations

import shlex

import pytest

from provisioner.cli import main, parser
from provisioner.helptext import EXAMPLES, next_step, walk

COMMANDS = [path for path, _ in walk(parser())]


@pytest.mark.parametrize("path", COMMANDS, ids=[p or "(root)" for p in COMMANDS])
def test_every_command_shows_an_example_that_parses(path: str) -> None:
    p = dict(walk(parser()))[path]
    text = p.format_help()
    assert "\nexamples:\n" in text, f"`provisioner {path} --help` has no example (helptext.py)"
    examples = [line.strip() for line in text.split("\nexamples:\n", 1)[1].splitlines()
                if line.strip().startswith("provisioner ")]
    assert examples
    for example in examples:
        argv = shlex.split(example.split("  #", 1)[0])[1:]
        try:
            parser().parse_args(argv)
        except SystemExit as exc:  # argparse refused it
            pytest.fail(f"example {example!r} does not parse ({exc})")


def test_no_example_for_a_command_that_does_not_exist() -> None:
    assert set(EXAMPLES) <= set(COMMANDS)


ERRORS = [
    (["system", "show", "nope"], "system 'nope' not found",
     "`provisioner system list` shows the systems"),
    (["profile", "add", "p1", "--distro", "nod"], "distro 'nod' does not exist",
     "`provisioner distro list` shows the distros"),
    (["user", "passwd", "nobody"], "no user nobody", "`provisioner user list` shows the users"),
    (["import", "/nonexistent/tree"], "no such directory",
     "mount -o loop,ro FILE.iso /mnt/iso"),
    (["token", "create", "bad name"], "bad token name",
     "`provisioner token create --help` shows its options and an example"),
    (["timeline", "ghost"], "system 'ghost' not found", "`provisioner system list`"),
]


@pytest.mark.parametrize("argv,error,hint", ERRORS, ids=[" ".join(e[0]) for e in ERRORS])
def test_errors_say_what_to_run_next(tmp_path, capsys, monkeypatch, argv, error, hint) -> None:
    monkeypatch.delenv("PROVISIONER_CONFIG", raising=False)
    assert main(["--data-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("provisioner: error: ") and error in err[0], err
    assert err[1].startswith("provisioner: hint: ") and hint in err[1], err


def test_next_step_table() -> None:
    assert next_step("[Errno 98] Address already in use") .startswith("another process")
    assert next_step("something new") is None
