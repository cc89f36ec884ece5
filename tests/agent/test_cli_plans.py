"""``provisioner-agent plan|apply`` on fixture roots (file plans: no network involved)."""

from __future__ import annotations

from agent import cli
from tests.agent.fixtures.hosts import copy_root


def test_plan_bootparams_is_a_dry_run(tmp_path, capsys):
    root = copy_root("rhel5-xen", tmp_path)
    before = (root / "boot/grub/grub.conf").read_text()
    assert cli.main(["plan", "bootparams", "--root", str(root), "--default-hypervisor", "kvm",
                     "--hypervisor-arg", "dom0_mem=2G"]) == 0
    out = capsys.readouterr().out
    assert "-default=1" in out and "+default=0" in out and "(none applied)" in out
    assert (root / "boot/grub/grub.conf").read_text() == before


def test_apply_bootparams_then_rollback(tmp_path, capsys):
    root = copy_root("rhel5-xen", tmp_path)
    before = (root / "boot/grub/grub.conf").read_text()
    state = str(tmp_path / "state")
    args = ["apply", "bootparams", "--root", str(root), "--state-dir", state,
            "--hypervisor-arg", "dom0_mem=2G"]
    assert cli.main(args) == 0
    assert "dom0_mem=2G" in (root / "boot/grub/grub.conf").read_text()
    assert cli.main(args) == 0
    assert "0 change(s)" in capsys.readouterr().out.splitlines()[-1]
    assert cli.main(["rollback", "--root", str(root), "--state-dir", state]) == 0
    assert (root / "boot/grub/grub.conf").read_text() == before


def test_apply_requires_root_and_refuses_bad_requests(tmp_path, capsys):
    root = copy_root("rhel5-xen", tmp_path)
    rc = cli.main(["apply", "bootparams", "--root", str(root), "--state-dir", str(tmp_path),
                   "--hypervisor-arg", "acpi=on"])
    assert rc == cli.EXIT_REFUSED and "E_BAD_ACPI" in capsys.readouterr().err
    try:
        cli.main(["apply", "bootparams", "--state-dir", str(tmp_path)])
    except SystemExit as exc:
        assert exc.code == 2          # argparse: --root is required for apply
    else:
        raise AssertionError("apply without --root must be refused")


def test_apply_network_plan_needs_a_namespace(tmp_path, capsys):
    root = copy_root("rhel54-kvm", tmp_path)
    rc = cli.main(["apply", "bridge", "--root", str(root), "--state-dir", str(tmp_path / "s"),
                   "--nic", "eth1", "--bridge", "br0"])
    err = capsys.readouterr().err
    # Refused either way: no --netns for a live change, or the real host has no usable eth1.
    assert rc == cli.EXIT_REFUSED and err.startswith("refused:")
    assert not (root / "etc/sysconfig/network-scripts/ifcfg-br0").exists()


def test_pv_kickstart_command(capsys):
    assert cli.main(["pv-kickstart", "--hypervisor", "xen", "--host-version", "5.1",
                     "--guest-version", "5.2", "--nics", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("%post\n") and "alias eth1 xen-vnif" in out and "noapic" in out
    assert cli.main(["pv-kickstart", "--hypervisor", "kvm", "--host-version", "5.3",
                     "--guest-version", "5.4"]) == cli.EXIT_REFUSED


def test_confirm_writes_marker(tmp_path):
    assert cli.main(["confirm", "--state-dir", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "confirmed").exists()
