"""The Vagrant lab: `vagrant validate` (with Debian's vagrant-libvirt plugin) accepts it.

Runs the real `vagrant` with a throw-away VAGRANT_HOME, so no box is downloaded and nothing on the
machine changes. A second case proves the plugin's own validation really runs (a bad provider
option must be refused), so a pass is not just "Ruby parsed".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VAGRANTFILE = ROOT / "Vagrantfile"

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")

# Evaluates the Vagrantfile with a recording stand-in for Vagrant (Ruby comes with vagrant) and
# prints the inline provisioning scripts, so the shell they become can be checked too.
EXTRACT_RB = r'''
# Evaluate a Vagrantfile with a recording stand-in for Vagrant and print every inline
# provisioning script as JSON (name -> script). No plugin, no box, nothing started.
require "json"

class Recorder
  attr_reader :scripts

  def initialize(scripts, prefix = [])
    @scripts = scripts
    @prefix = prefix
  end

  def define(name, *_args, **_kw)
    yield Recorder.new(@scripts, @prefix + [name.to_s]) if block_given?
  end

  def provision(name, type: nil, inline: nil, **_kw)
    @scripts[(@prefix + [name.to_s]).join("/")] = inline if inline
  end

  def provider(*_args)
    yield Recorder.new(@scripts, @prefix), Recorder.new(@scripts, @prefix) if block_given?
  end

  def method_missing(_name, *_args, **_kw)
    yield Recorder.new(@scripts, @prefix) if block_given?
    self
  end

  def respond_to_missing?(*_args) = true
end

module Vagrant
  def self.configure(_version)
    $scripts = {}
    yield Recorder.new($scripts)
  end
end

load ARGV[0]
puts JSON.generate($scripts)
'''


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


def _scripts(tmp_path: Path) -> dict[str, str]:
    rb = tmp_path / "extract.rb"
    rb.write_text(EXTRACT_RB)
    env = {**os.environ, "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotvagrant")}
    res = subprocess.run(["ruby", str(rb), str(VAGRANTFILE)], capture_output=True, text=True,
                         timeout=60, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_provisioning_scripts_are_valid_shell_and_settings(tmp_path: Path) -> None:
    from provisioner.settings import load

    scripts = _scripts(tmp_path)
    assert set(scripts) == {"appliance/appliance", "host1/agent"}
    for name, script in scripts.items():
        res = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 0, f"{name}: {res.stderr}"
    app = scripts["appliance/appliance"]
    toml = app.split("cat > /etc/provisioner/provisioner.toml <<'EOF'\n", 1)[1].split("EOF\n")[0]
    (tmp_path / "p.toml").write_text(toml)
    settings = load(str(tmp_path / "p.toml"), environ={})
    assert settings.dhcp_enabled and settings.tftp_enabled and settings.interfaces == ("eth1",)
    token = (tmp_path / "dotvagrant" / "lab-api-token").read_text().strip()
    assert settings.api_token == token and f"echo '{token}'" in scripts["host1/agent"]
    for i in (1, 2):  # the box-less clients are known to the appliance
        assert f"system add pxe{i} --profile rhel9-guest --mac 52:54:00:79:10:0{i}" in app
    assert "provisioner-agent apply bridge --root / --live-host --bridge br0 --nic eth1" in \
        scripts["host1/agent"]
