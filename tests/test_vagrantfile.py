"""The Vagrant lab: `vagrant validate` (with Debian's vagrant-libvirt plugin) accepts it.

Runs the real `vagrant` with a throw-away VAGRANT_HOME, so no box is downloaded and nothing on the
machine changes. A second case proves the plugin's own validation really runs (a bad provider
option must be refused), so a pass is not just "Ruby parsed".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VAGRANTFILE = ROOT / "Vagrantfile"

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")


def _vagrant(cwd: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "vagrant-home"
    home.mkdir(exist_ok=True)
    environ = {**os.environ, "VAGRANT_HOME": str(home), "VAGRANT_DEFAULT_PROVIDER": "libvirt",
               "VAGRANT_CHECKPOINT_DISABLE": "1",
               "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotvagrant"), **env}
    return subprocess.run(["vagrant", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=300)


def test_vagrant_validate_passes(tmp_path: Path) -> None:
    res = _vagrant(ROOT, tmp_path, "validate")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "validated successfully" in res.stdout


def test_machines_are_appliance_host_and_boxless_pxe_clients(tmp_path: Path) -> None:
    res = _vagrant(ROOT, tmp_path, "status", LAB_PXE_CLIENTS="3")
    assert res.returncode == 0, res.stdout + res.stderr
    names = re.findall(r"^(\S+)\s+not created \(libvirt\)$", res.stdout, re.M)
    assert names == ["appliance", "host1", "pxe1", "pxe2", "pxe3"]


def test_lab_network_has_libvirt_dhcp_off_and_pxe_boot() -> None:
    text = VAGRANTFILE.read_text()
    assert "libvirt__dhcp_enabled: false" in text
    assert 'libvirt__forward_mode: "none"' in text
    assert 'lv.boot "network"' in text and "lv.mgmt_attach = false" in text
    assert "provisioner-agent" in text and "provisioner serve" in text


def test_plugin_validation_really_runs(tmp_path: Path) -> None:
    broken = tmp_path / "lab"
    broken.mkdir()
    text = VAGRANTFILE.read_text().replace(
        "lv.mgmt_attach = false", 'lv.mgmt_attach = false\n        lv.qemu_use_agent = "yes"')
    (broken / "Vagrantfile").write_text(text)
    res = _vagrant(broken, tmp_path, "validate")
    assert res.returncode != 0
    assert "qemu_use_agent must be a boolean" in res.stdout + res.stderr
