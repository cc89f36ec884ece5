"""The README as a fresh machine meets it (issue 15): its commands run as root without sudo,
every ``provisioner`` line it shows parses, its TOML loads, and the firewall ports are named."""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from provisioner.cli import parser
from provisioner.settings import load

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def test_the_two_commands_run_as_root_and_sudo_is_the_alternative() -> None:
    first = _blocks("sh")[0].split()
    assert first == ["scripts/appliance.sh", "scripts/test.sh"], first
    for script in first:
        path = ROOT / script
        assert path.is_file() and os.access(path, os.X_OK), script
    intro = README[:README.index("```sh")]
    assert "**as root**" in intro and "`sudo scripts/appliance.sh`" in intro
    assert not re.search(r"^sudo scripts/", README, re.M)  # no block starts with sudo


def _commands() -> list[str]:
    out = []
    for block in _blocks("sh"):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith(("provisioner ", ".venv/bin/provisioner ")):
                out.append(line)
    return out


@pytest.mark.parametrize("line", _commands())
def test_every_provisioner_command_in_the_readme_parses(line: str) -> None:
    argv = shlex.split(line)[1:]
    try:
        parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"README: `{line}` does not parse ({exc})")


def test_getting_started_toml_is_valid_settings(tmp_path: Path) -> None:
    guide = README[README.index("## Getting started"):README.index("## What it is")]
    (toml,) = re.findall(r"```toml\n(.*?)```", guide, re.S)
    tomllib.loads(toml)
    path = tmp_path / "p.toml"
    path.write_text(toml)
    settings = load(str(path), environ={})
    assert settings.interfaces and settings.dhcp_enabled and settings.tftp_enabled


def test_getting_started_names_the_firewall_ports_and_what_to_do_on_failure() -> None:
    guide = README[README.index("## Getting started"):README.index("## What it is")]
    for port in ("| 67 | UDP", "| 69 | UDP", "| 53 | UDP and TCP", "| 4011 | UDP", "| 8080 | TCP"):
        assert port in guide, port
    assert "provisioner timeline <system>" in guide and "provisioner status" in guide
    # the sample "next:" line is the diagnosis the command really prints for that case
    from provisioner.core.diagnosis import STOPS

    sample = re.search(r"next: (.*?)\n```", guide, re.S).group(1).replace("\n", " ")
    assert sample == dict(STOPS)["address"]
