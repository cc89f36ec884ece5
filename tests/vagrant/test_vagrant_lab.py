"""The Vagrant lab for real: ``vagrant up appliance pxe1`` with Debian's vagrant and
vagrant-libvirt, on a libvirtd the lab starts in its own network and mount namespaces.

One module-wide run, shared by every assertion (each boot costs minutes of software emulation):

1. the contained environment and the appliance box (built here with mmdebstrap from Debian's
   packages, cached by the content hash of its inputs in /var/cache/provisioner/lab, so only
   the first run on a machine pays for it) added under its local name;
2. refused before anything is made: the web UI port in use, the lab's subnet in use;
3. ``vagrant up appliance pxe1``: the appliance boots the box, its provisioning seeds the store
   offline and (re)starts the packaged ``provisioner.service``; pxe1 (no box) network-boots from
   it, fetches its kickstart and reports ``done``, which the Vagrantfile's trigger waits for;
4. the appliance's timeline shows pxe1 DHCP -> boot config -> kickstart -> done, in that order;
   the unit is the packaged one, the insecure key was replaced, the VM has no route out, and
   nothing of the lab appeared in the machine's own network namespace;
5. a PXE client that never finishes is reported with the last step it reached, and
   ``lab vagrant up`` names the phase and keeps the logs (consoles, libvirtd, journal);
6. ``vagrant destroy -f`` leaves no domain, volume, network or bridge; the environment's removal
   leaves no namespace and no process.

The phase wall times are printed (``-s``); ``bench/vagrant_lab_bench.py`` records them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.lab import procs
from provisioner.lab.vagrant import boxbuild, boxspec, contained, session

pytestmark = [
    pytest.mark.slow, pytest.mark.qemu, pytest.mark.libvirtd, pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("vagrant") is None
                       or shutil.which("mmdebstrap") is None,
                       reason="needs root, vagrant + vagrant-libvirt and mmdebstrap"),
]

APPLIANCE = "http://10.79.10.2:8080"
BOX = boxspec.box_name("debian-12", "appliance")
INSECURE_KEY = boxbuild.vagrant_public_key().split()[1].decode()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[session.Lab]:
    d = tmp_path_factory.mktemp("vagrant-lab")
    with pytest.MonkeyPatch.context() as mp:
        for k in [k for k in os.environ if k.startswith(("LAB_", "VAGRANT_", "LIBVIRT_"))]:
            mp.delenv(k)
        opts = session.Options(dir=d / "env", vagrant_home=d / "home", dotfile=d / "dot")
        lab = session.prepare(["appliance", "pxe1"], opts)
        try:
            yield lab
        finally:
            session.down(opts, say=lambda _m: None)


@pytest.fixture(scope="module")
def lab(prepared: session.Lab) -> session.Lab:
    session.vagrant_up(prepared, ["appliance", "pxe1"])
    print("\nphases (wall time):\n" + prepared.phases.format())
    return prepared


def inside(lab: session.Lab, *argv: str, timeout: float = 120,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(contained.command(lab.env, list(argv), cwd=session.project_dir()),
                          env={**lab.venv, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def vagrant(lab: session.Lab, *args: str, timeout: float = 900,
            **env: str) -> subprocess.CompletedProcess[str]:
    return inside(lab, "vagrant", *args, timeout=timeout, env=env)


def virsh(lab: session.Lab, *args: str) -> list[str]:
    res = contained.virsh(lab.env, *args)
    assert res.returncode == 0, res.stderr
    return [ln.split()[0] for ln in res.stdout.splitlines() if ln.strip()]


def test_the_box_was_built_here_and_added_under_its_local_name(prepared: session.Lab) -> None:
    home = prepared.opts.vagrant_home
    assert home is not None
    box = next((home / "boxes" / BOX).glob("*/libvirt"))
    meta = json.loads((box / "metadata.json").read_text())
    assert meta["provider"] == "libvirt" and meta["format"] == "qcow2"
    info = json.loads((box / boxspec.BOX_INFO).read_text())
    assert info["key"] == boxbuild.added_key(BOX, home)
    assert "provisioner==" not in " ".join(info["pins"]) and info["pins"]
    qemu_img = subprocess.run(["qemu-img", "info", "--output=json", str(box / "box.img")],
                              capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(qemu_img.stdout)["format"] == "qcow2"
    assert (box / "vmlinuz").stat().st_size > 1 << 20


def test_a_port_in_use_is_refused_before_anything_is_made(prepared: session.Lab) -> None:
    holder = subprocess.Popen(contained.command(prepared.env, [
        "python3", "-c", "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 18080));"
        " s.listen(); print('ok', flush=True); time.sleep(300)"]), stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        res = vagrant(prepared, "up", "appliance", LAB_UI_PORT="18080")
    finally:
        procs.stop([holder.pid])
    assert res.returncode != 0
    assert "port 127.0.0.1:18080 (the web UI forward) is in use by another program: pick " \
           "another with LAB_UI_PORT" in res.stdout + res.stderr
    assert virsh(prepared, "list", "--all", "--name") == []


def test_a_subnet_in_use_is_refused_before_anything_is_made(prepared: session.Lab) -> None:
    ip = ["ip", "link", "add", "labtaken", "type", "bridge"]
    assert inside(prepared, *ip).returncode == 0
    try:
        assert inside(prepared, "ip", "addr", "add", "10.79.77.5/24", "dev",
                      "labtaken").returncode == 0
        res = vagrant(prepared, "up", "appliance", LAB_SUBNET="10.79.77")
    finally:
        inside(prepared, "ip", "link", "del", "labtaken")
    assert res.returncode != 0
    assert "subnet 10.79.77.0/24 is already used by labtaken (10.79.77.5/24): pick another " \
           "with LAB_SUBNET" in res.stdout + res.stderr
    assert virsh(prepared, "list", "--all", "--name") == []
    assert virsh(prepared, "net-list", "--all", "--name") == []


def test_pxe1_installs_from_the_appliance_in_order(lab: session.Lab) -> None:
    out = lab.opts.dir / "logs" / "vagrant-up.log"
    text = out.read_text()
    for step in ("dhcp", "boot config", "kickstart", "done"):
        assert f"lab: pxe1: {step} (" in text
    res = inside(lab, "curl", "-sf", f"{APPLIANCE}/api/v1/systems/pxe1/timeline")
    assert res.returncode == 0, res.stderr
    kinds = [e["kind"] for e in json.loads(res.stdout)]
    order = [kinds.index(k) for k in ("dhcp-ack", "boot-config", "kickstart", "callback:done")]
    assert order == sorted(order), kinds
    events = {e["kind"]: e for e in json.loads(res.stdout)}
    assert events["dhcp-ack"]["detail"]["mac"] == "52:54:00:79:10:01"
    assert events["kickstart"]["detail"]["client"].startswith("10.79.10.1")  # its lease
    assert events["callback:done"]["detail"]["status"] == "installed"
    # the installer wrote the kickstart to pxe1's disk and powers off
    pxe1 = next(n for n in virsh(lab, "list", "--all", "--name") if n.endswith("_pxe1"))
    deadline = time.monotonic() + 60
    while contained.virsh(lab.env, "domstate", pxe1).stdout.strip() != "shut off":
        assert time.monotonic() < deadline, "pxe1 did not power off after `done`"
        time.sleep(1)


def test_the_appliance_runs_the_packaged_unit_offline(lab: session.Lab) -> None:
    script = ("systemctl is-enabled provisioner.service; systemctl is-active provisioner.service;"
              " sudo cat /etc/systemd/system/provisioner.service | sha256sum;"
              " cat ~/.ssh/authorized_keys;"
              " python3 -c 'import socket; socket.create_connection((\"151.101.2.132\", 80), "
              "timeout=5)' 2>&1 | tail -n 1")
    res = vagrant(lab, "ssh", "appliance", "-c", script)
    lines = res.stdout.splitlines()
    assert lines[0:2] == ["enabled", "active"], res.stdout + res.stderr
    unit = session.project_dir() / "packaging" / "systemd" / "provisioner.service"
    digest = subprocess.run(["sha256sum"], input=unit.read_bytes(), capture_output=True,
                            check=True).stdout.decode().split()[0]
    assert lines[2].split()[0] == digest
    # Vagrant replaced the box's insecure key on first boot
    assert INSECURE_KEY not in res.stdout and "ssh-" in lines[3]
    # no route out of the lab (the namespace has no uplink)
    assert "Error" in lines[-1] or "unreachable" in lines[-1] or "timed out" in lines[-1]


def test_nothing_of_the_lab_is_in_the_machines_own_network(lab: session.Lab) -> None:
    host = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "10.79.10." not in host and "10.79.11." not in host
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    ours = inside(lab, "ip", "-o", "link").stdout
    assert "virbr" in ours and "vnet" in ours
    for line in ours.splitlines():
        name = line.split(": ")[1].split("@")[0]
        if name != "lo":
            assert f": {name}:" not in links and f": {name}@" not in links


def test_a_client_that_never_finishes_names_the_last_step_and_keeps_the_logs(
        lab: session.Lab) -> None:
    # pxe1 is installed (netboot off now): a new boot gets DHCP but no install, and the wait
    # for `done` ends with the step it reached; `lab vagrant up` names the phase and keeps the
    # logs (PROVISIONER_LAB_KEEP_FAILED=1 here, so the appliance stays for the next test)
    assert vagrant(lab, "destroy", "-f", "pxe1").returncode == 0
    said: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROVISIONER_LAB_KEEP_FAILED", "1")
        mp.setitem(lab.runner.venv, "LAB_INSTALL_TIMEOUT", "25")
        mp.setattr(lab.runner, "say", said.append)
        with pytest.raises(session.LabError) as err:
            session.vagrant_up(lab, ["pxe1"])
    out = "\n".join(said)
    assert "lab: pxe1: no `done` within 25 s; last step reached:" in out
    assert "pxe1-console.log" in out and "journalctl -u provisioner" in out
    assert re.match(r"vagrant up pxe1 failed \(exit \d+\) during 'pxe1: ", str(err.value))
    kept = sorted((lab.opts.dir / "logs").glob("failed-*"))
    assert len(kept) == 1 and f"keeping the logs in {kept[0]}" in out
    files = {f.name: f.read_text(errors="replace") for f in kept[0].iterdir()}
    assert "pxe1-console.log" in files and "libvirtd.log" in files
    assert "no `done` within 25 s" in files["vagrant-up.log"]
    assert "provisioner" in files["appliance-journal.log"]  # the appliance's own journal
    assert "the machines and the environment stay" in out
    assert vagrant(lab, "destroy", "-f", "pxe1").returncode == 0


def test_destroy_leaves_no_domain_volume_network_or_bridge(lab: session.Lab) -> None:
    res = vagrant(lab, "destroy", "-f")
    assert res.returncode == 0, res.stdout + res.stderr
    assert virsh(lab, "list", "--all", "--name") == []
    assert virsh(lab, "vol-list", "default") == []
    assert virsh(lab, "net-list", "--all", "--name") == []
    links = inside(lab, "ip", "-o", "link").stdout
    assert [ln.split(": ")[1] for ln in links.splitlines()] == ["lo"]
    holder, netns = lab.env.holder, lab.env.netns
    assert session.down(lab.opts, say=lambda _m: None)
    assert not contained.netns_exists(netns)
    assert not Path(f"/proc/{holder}").exists()
    assert not (lab.opts.dir / contained.STATE).exists()
