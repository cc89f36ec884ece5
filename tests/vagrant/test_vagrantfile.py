"""The Vagrantfile without booting anything: the real ``vagrant`` and vagrant-libvirt check it,
its scripts are valid shell with settings the appliance accepts, its KVM detection matches this
machine, and bad situations are refused with a message naming cause and fix before anything is
made (no plugin, box not added, no libvirtd).

``vagrant up appliance pxe1`` for real is ``test_vagrant_lab.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VAGRANTFILE = ROOT / "Vagrantfile"
BOX = "provisioner-appliance-debian-12"

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")

# Evaluates the Vagrantfile with a recording stand-in for Vagrant (Ruby comes with vagrant):
# prints the inline provisioning scripts and the provider driver it chose, as JSON.
EXTRACT_RB = r'''
require "json"

class Recorder
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

  def ruby(*_args)  # a trigger's Ruby block runs at `up` time, not here
    self
  end

  def method_missing(_name, *_args, **_kw)
    yield Recorder.new(@scripts, @prefix) if block_given?
    self
  end

  def respond_to_missing?(*_args) = true
end

module Vagrant
  module Errors
    class VagrantError < StandardError; end
  end

  def self.has_plugin?(*_args) = true

  def self.configure(_version)
    $scripts = {}
    yield Recorder.new($scripts)
  end
end

load ARGV[0]
puts JSON.generate({"scripts" => $scripts, "driver" => DRIVER, "note" => DRIVER_NOTE})
'''


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "vagrant-home"
    home.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LAB_", "VAGRANT_", "LIBVIRT_"))}
    return {**base, "VAGRANT_HOME": str(home), "VAGRANT_DEFAULT_PROVIDER": "libvirt",
            "VAGRANT_CHECKPOINT_DISABLE": "1",
            "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotvagrant"), **extra}


def _vagrant(cwd: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["vagrant", *args], cwd=cwd, env=_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=300)


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
    assert text.count("libvirt__dhcp_enabled: false") == 3  # appliance, host1, pxe clients
    assert text.count('libvirt__forward_mode: "none"') == 3
    assert 'lv.boot "network"' in text and "lv.mgmt_attach = false" in text
    assert "provisioner-agent" in text and "provisioner.service" in text
    # local boxes by default, LAB_BOX still overrides
    assert 'ENV.fetch("LAB_BOX", local_box("appliance"))' in text


def test_plugin_validation_really_runs(tmp_path: Path) -> None:
    broken = tmp_path / "lab"
    broken.mkdir()
    text = VAGRANTFILE.read_text().replace(
        "lv.mgmt_attach = false", 'lv.mgmt_attach = false\n        lv.qemu_use_agent = "yes"')
    (broken / "Vagrantfile").write_text(text)
    res = _vagrant(broken, tmp_path, "validate")
    assert res.returncode != 0
    assert "qemu_use_agent must be a boolean" in res.stdout + res.stderr


def _evaluate(tmp_path: Path, **env: str) -> dict:
    rb = tmp_path / "extract.rb"
    rb.write_text(EXTRACT_RB)
    res = subprocess.run(["ruby", str(rb), str(VAGRANTFILE)], capture_output=True, text=True,
                         timeout=60, env=_env(tmp_path, **env), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_provisioning_scripts_are_valid_shell_and_settings(tmp_path: Path) -> None:
    from provisioner.settings import load

    scripts = _evaluate(tmp_path)["scripts"]
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
    assert settings.public_url == "http://10.79.10.2:8080"
    assert settings.worker_start_timeout >= 300  # workers start slowly under TCG
    token = (tmp_path / "dotvagrant" / "lab-api-token").read_text().strip()
    assert settings.api_token == token and f"echo '{token}'" in scripts["host1/agent"]
    # the box-less clients are seeded, offline, by the box's own Python
    assert ("python -m provisioner.lab.vagrant.vm_setup seed --system pxe1=52:54:00:79:10:01 "
            "--system pxe2=52:54:00:79:10:02") in app
    assert "apt-get" not in app and "pip install" not in app
    assert "provisioner-agent apply bridge --root / --live-host --bridge br0 --nic eth1" in \
        scripts["host1/agent"]


def _kvm_usable() -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    flags = re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    return bool(flags and {"vmx", "svm"} & set(flags.group(1).split()))


def test_driver_is_kvm_only_where_kvm_can_run_a_guest(tmp_path: Path) -> None:
    got = _evaluate(tmp_path)
    if _kvm_usable():
        assert got["driver"] == "kvm"
    else:  # this machine: /dev/kvm is kvm_pvm, no vmx/svm; QEMU aborts with driver kvm
        assert got["driver"] == "qemu"
        assert "software emulation" in got["note"] and "TCG" in got["note"]
    assert _evaluate(tmp_path, LAB_DRIVER="qemu")["driver"] == "qemu"


def test_without_the_plugin_the_message_names_it(tmp_path: Path) -> None:
    res = _vagrant(ROOT, tmp_path, "status", VAGRANT_NO_PLUGINS="1")
    assert res.returncode != 0
    assert "vagrant-libvirt plugin is not loaded: apt-get install vagrant-libvirt" in \
        res.stdout + res.stderr


def _up_without_libvirtd(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``vagrant up appliance`` where no libvirtd can answer: fresh network and mount
    namespaces with an empty /run/libvirt (whatever the machine runs stays unseen)."""
    script = 'mount -t tmpfs tmpfs /run/libvirt && exec vagrant up appliance'
    return subprocess.run(["unshare", "-m", "-n", "--propagation", "private", "sh", "-c",
                           script], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=300)


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")
def test_up_refuses_a_missing_box_then_a_missing_libvirtd(tmp_path: Path) -> None:
    Path("/run/libvirt").mkdir(exist_ok=True)
    res = _up_without_libvirtd(tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"the box {BOX} is not added: build and add it with `provisioner lab box build`" in out
    (tmp_path / "vagrant-home" / "boxes" / BOX).mkdir(parents=True)  # as if added
    res = _up_without_libvirtd(tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "no libvirtd answers on /run/libvirt/libvirt-sock: start it" in out
    assert "provisioner lab vagrant up" in out
    # nothing was made: Vagrant never got to create the machine
    assert not list((tmp_path / "dotvagrant").glob("machines/*/libvirt/id"))
