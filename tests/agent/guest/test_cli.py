"""``provisioner-agent guest``: virt-install-like command line, --print-xml and --dry-run."""

from __future__ import annotations

import argparse
import json

import pytest

from agent.facts.model import HostFacts
from agent.guest import cli
from tests.agent.guest.cases import DATA


def _run(argv: list[str], tmp_path, capsys) -> tuple[int, str, str]:
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(HostFacts(image_dir=str(tmp_path / "images")).to_dict()))
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["guest", "--facts", str(facts), *argv])
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


PXE = ["--name", "g1", "--ram", "512", "--pxe", "--network", "bridge=br0", "--disk", "size=0.01",
       "--graphics", "none", "--osinfo", "rhel9.0"]


@pytest.mark.parametrize("which,count,boots", [("1", 1, ["network"]), ("2", 1, ["hd"]),
                                                (None, 2, ["network", "hd"])],
                         ids=["install-phase", "final", "both"])
def test_print_xml(which, count, boots, tmp_path, capsys) -> None:
    extra = ["--print-xml"] + ([which] if which else [])
    rc, out, _ = _run([*PXE, "--caps", str(DATA / "caps-qemu-system.xml"), *extra], tmp_path,
                      capsys)
    assert rc == 0 and out.count("<domain") == count
    assert all(f'<boot dev="{b}"/>' in out for b in boots)


def test_dry_run_on_test_driver_changes_nothing(tmp_path, capsys) -> None:
    rc, out, _ = _run([*PXE, "--connect", "test:///default", "--dry-run"], tmp_path, capsys)
    assert rc == 0
    assert out.splitlines()[0].startswith(f"would create image {tmp_path}/images/g1.qcow2")
    assert not (tmp_path / "images").exists()


def test_create_on_test_driver(tmp_path, capsys) -> None:
    rc, out, _ = _run([*PXE, "--connect", "test:///default"], tmp_path, capsys)
    assert rc == 0 and out.startswith("started g1")
    assert (tmp_path / "images" / "g1.qcow2").exists()


def test_rule_violation_exits_2_with_code(tmp_path, capsys) -> None:
    rc, _, err = _run([*PXE, "--disk", "size=1,bus=scsi", "--virt-type", "kvm", "--caps",
                       str(DATA / "caps-qemu-system.xml"), "--os-variant", "rhel5.4",
                       "--print-xml"], tmp_path, capsys)
    assert rc == 2 and err.startswith("ERROR KVM_NO_SCSI")


def test_dry_run_explains_the_defaults(tmp_path, capsys) -> None:
    hosts = DATA / "hosts" / "kvm-x86_64"
    rc, out, _ = _run([*PXE, "--caps", str(hosts / "caps.xml"), "--domcaps",
                       str(hosts / "domcaps.xml"), "--dry-run"], tmp_path, capsys)
    assert rc == 0
    assert "because machine: q35: rhel9.0 supports it" in out
    assert "because cpu: host-passthrough: KVM on x86" in out
    assert "because disk bus: virtio: rhel9.0 lists virtio-block (libosinfo)" in out


def test_run_refuses_a_second_agent_on_the_same_state_dir(tmp_path, capsys) -> None:
    import fcntl

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["run", "--appliance", "http://127.0.0.1:9", "--token", "t",
                              "--state-dir", str(tmp_path)])
    with open(tmp_path / "agent.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the agent that is already running
        assert args.func(args) == 2
    assert "another agent is running" in capsys.readouterr().err
