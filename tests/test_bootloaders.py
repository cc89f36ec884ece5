"""``provisioner bootloaders install``: the plan per package layout, and a real install."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner import bootloaders
from provisioner.bootloaders import Step, install, plan
from provisioner.cli import main

DEBIAN = {"/usr/lib/PXELINUX/pxelinux.0", "/usr/lib/syslinux/modules/bios/ldlinux.c32",
          "/usr/lib/ipxe/undionly.kpxe", "/usr/lib/ipxe/ipxe.efi",
          "/usr/lib/grub/x86_64-efi/moddep.lst"}
RHEL = {"/usr/share/syslinux/pxelinux.0", "/usr/share/syslinux/ldlinux.c32",
        "/usr/share/ipxe/undionly.kpxe", "/usr/share/ipxe/ipxe-x86_64.efi",
        "/boot/efi/EFI/redhat/grubx64.efi"}


def _by_dest(steps: list[Step]) -> dict[str, Step]:
    return {s.dest: s for s in steps}


LAYOUTS = [
    ("Debian packages", DEBIAN, "grub-mkimage",
     {"pxelinux.0": "/usr/lib/PXELINUX/pxelinux.0", "ipxe.efi": "/usr/lib/ipxe/ipxe.efi",
      "grubx64.efi": "grub"}),
    ("RHEL family packages", RHEL, None,
     {"pxelinux.0": "/usr/share/syslinux/pxelinux.0",
      "ipxe.efi": "/usr/share/ipxe/ipxe-x86_64.efi",
      "grubx64.efi": "/boot/efi/EFI/redhat/grubx64.efi"}),
    ("nothing installed", set(), None,
     {"pxelinux.0": "missing", "ipxe.efi": "missing", "grubx64.efi": "missing"}),
]


@pytest.mark.parametrize("files,mkimage,want", [c[1:] for c in LAYOUTS],
                         ids=[c[0] for c in LAYOUTS])
def test_plan(files: set[str], mkimage: str | None, want: dict[str, str]) -> None:
    steps = _by_dest(plan(files.__contains__, lambda name: mkimage))
    for dest, src in want.items():
        step = steps[dest]
        got = step.action if step.action in ("missing", "grub") else step.src
        assert got == src, dest


def test_missing_report_names_the_package() -> None:
    steps = _by_dest(plan(set().__contains__, lambda name: None))
    assert steps["pxelinux.0"].describe() == (
        "missing pxelinux.0 (required): install pxelinux (Debian) / syslinux-tftpboot (RHEL)")
    assert not steps["grubx64.efi"].required


def test_install_from_this_machines_packages_is_idempotent(tmp_path: Path) -> None:
    if not all(Path(p).exists() for p in DEBIAN):
        pytest.skip("Debian boot loader packages not installed (scripts/setup.sh)")
    first = install(tmp_path)
    assert first.ok and not first.unchanged
    for name in ("pxelinux.0", "ldlinux.c32", "undionly.kpxe", "ipxe.efi", "grubx64.efi",
                 "grub/x86_64-efi/normal.mod"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "grubx64.efi").read_bytes()[:2] == b"MZ"  # a PE/COFF EFI image
    second = install(tmp_path)
    assert not second.installed and len(second.unchanged) == len(first.installed)


def test_cli_dry_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["--data-dir", str(tmp_path / "data"), "bootloaders", "install", "--root",
               str(tmp_path / "tb"), "--dry-run"])
    out = capsys.readouterr().out
    assert "would: copy" in out and "missing" in out
    assert not (tmp_path / "tb").exists()
    assert rc == (0 if install(tmp_path / "x", dry_run=True).ok else 1)


def test_cli_reports_missing_required_files_with_exit_1(tmp_path: Path, monkeypatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(bootloaders, "plan", lambda: plan(set().__contains__, lambda n: None))
    rc = main(["--data-dir", str(tmp_path), "bootloaders", "install", "--root", str(tmp_path)])
    assert rc == 1 and "missing pxelinux.0 (required)" in capsys.readouterr().out


@pytest.mark.skipif(not bootloaders.plan() or not install(Path("/nonexistent"),
                                                          dry_run=True).ok,
                    reason="needs the boot loader packages")
def test_cli_shows_each_step_as_it_goes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Issue 15 item 5: every step is shown when it starts and when it is done (plain lines
    here; a terminal gets the same rows redrawn in place)."""
    rc = main(["--data-dir", str(tmp_path / "data"), "bootloaders", "install", "--root",
               str(tmp_path / "tb")])
    lines = capsys.readouterr().out.splitlines()
    n = len(bootloaders.plan())
    grub = [x for x in lines if "grub-mkimage" in x]
    assert grub[0].startswith("[") and f"/{n}] doing: build grubx64.efi" in grub[0]
    assert f"/{n}] did: build grubx64.efi" in grub[1]
    assert lines.index(grub[0]) < lines.index(grub[1])
    assert any(x.startswith(f"[1/{n}] did: copy ") and x.endswith("pxelinux.0") for x in lines)
    assert lines[-1].startswith(f"TFTP root {tmp_path / 'tb'}: ") and rc == 0
