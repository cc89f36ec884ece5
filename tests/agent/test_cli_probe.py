"""``provisioner-agent probe --root <fixture>`` prints the host as JSON."""

from __future__ import annotations

import json

from agent import cli
from tests.agent.fixtures.hosts import root_of


def test_cli_probe_reads_the_given_root(capsys):
    assert cli.main(["probe", "--root", str(root_of("rhel54-kvm"))]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["distro"]["version"] == "5.4"
    assert out["hypervisor"] == "kvm"
    assert out["bootloader"]["kind"] == "grub-legacy"


def test_cli_subcommands_register_through_register_functions():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "probe" in sub.choices
