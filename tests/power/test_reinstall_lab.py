"""Reinstall a running, installed lab guest through each power driver, for real.

One namespace (``lab`` fixture: bridge br0 at 10.79.0.1/24 and the machine's real libvirtd)
holds the appliance (``provisioner serve``: DHCP, TFTP, HTTP on br0), the agent of host ``hv1``
(``provisioner-agent run`` against the real libvirtd), and the BMC emulators OpenStack Ironic's
CI uses, both driving that libvirtd: sushy-tools' Redfish emulator and virtualbmc (IPMI).

The guest (``pt-rei1``: TCG, 256 MiB, the lab kit's kernel and busybox "installer") is made once
by the agent and installed the ordinary way; its disk then holds the lab's "installed system",
a boot sector that prints ``LAB: booted from disk`` on the serial console. Each driver's test
then gives the reinstall through the API and watches it: the one-time network boot override,
the power-cycle, DHCP and the boot config from the appliance, the kickstart, the installer's
``started`` and ``done`` callbacks, the boot device set back to disk, and the guest booting
from its disk again (the console's last ``LAB:`` line). The faults (an unreachable BMC, wrong
credentials, a BMC rejecting the override, a Redfish service with missing properties) go
through the same API and must fail within their timeout with netboot as it was.

The guest is shared by every test of the module (the module's tests run in order on one
worker: they share the machine's libvirtd group).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
import pytest

from provisioner.core import orders
from provisioner.core.app import Core
from provisioner.lab.kit import BOOTED_FROM_DISK
from provisioner.models import Distro, Interface, Profile, System
from tests.integration.libvirtd import lab  # noqa: F401  (module fixture)
from tests.netns import Netns
from tests.power.emulators import sushy_emulator, virtualbmc
from tests.procs import poll, stop, wait_until

pytestmark = [pytest.mark.netns, pytest.mark.libvirtd, pytest.mark.qemu, pytest.mark.slow,
              pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="needs QEMU")]
ROOT = Path(__file__).resolve().parents[2]
SERVER = "10.79.0.1"
NAME, MAC, IP = "pt-rei1", "52:54:00:79:00:31", "10.79.0.61"
BROKEN = "pt-rei-broken"  # a second system, on the broken Redfish service
ADMIN = "power-test-admin-token"
USER, PASSWORD = "admin", "Pw-for-the-BMCs-1"
REDFISH, IPMI_PORT, BROKEN_PORT = 8000, 6230, 8100


@dataclass
class Rig:
    ns: Netns
    url: str
    tmp: Path
    console: Path
    uuid: str
    logs: dict[str, Path]

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[
            int, Any]:
        argv = ["curl", "-sS", "--max-time", str(int(timeout)), "-X", method, "-H",
                f"Authorization: Bearer {ADMIN}", "-w", "\n%{http_code}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        out = self.ns.run([*argv, f"{self.url}{path}"], timeout=timeout + 10).stdout
        text, _, code = out.rpartition("\n")
        return int(code), (json.loads(text) if text.strip() else None)

    def ok(self, method: str, path: str, body: Any = None, want: int = 200) -> Any:
        code, data = self.call(method, path, body)
        assert code == want, (method, path, code, data)
        return data

    def timeline(self, system: str = NAME) -> list[dict[str, Any]]:
        return self.ok("GET", f"/api/v1/systems/{system}/timeline")

    def system(self, name: str = NAME) -> dict[str, Any]:
        return self.ok("GET", f"/api/v1/systems/{name}")

    def diagnostics(self) -> str:
        tail = self.console.read_text(errors="replace")[-1500:] if self.console.exists() else ""
        parts = [f"--- console\n{tail}"]
        for what, path in self.logs.items():
            if path.exists():
                parts.append(f"--- {what}\n{path.read_text(errors='replace')[-2000:]}")
        kinds = [(e["kind"], e["detail"].get("stage") or e["detail"].get("action") or "")
                 for e in self.timeline()[-60:]]
        return "\n".join(parts) + f"\n--- timeline {kinds}"

    def lab_lines(self) -> list[str]:
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        return [line.strip() for line in text.splitlines() if "LAB: " in line]


def _persistent_xml() -> str:
    conn = libvirt.open("qemu:///system")
    try:
        return conn.lookupByName(NAME).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        conn.close()


def first_boot_device(xml: str) -> str:
    """What the next start boots first: ``<os><boot dev>`` or the device with boot order 1."""
    root = ET.fromstring(xml)
    os_boot = root.find("./os/boot")
    if os_boot is not None:
        return {"hd": "disk", "network": "network"}.get(os_boot.get("dev", ""), "?")
    for dev in root.find("devices") or []:
        boot = dev.find("boot")
        if boot is not None and boot.get("order") == "1":
            return {"disk": "disk", "interface": "network"}.get(dev.tag, dev.tag)
    return "?"


@pytest.fixture(scope="module")
def rig(lab, tmp_path_factory):  # noqa: F811
    from provisioner.bootloaders import install
    from tests.e2e import fixture
    from tests.e2e.appliance import appliance

    tmp = tmp_path_factory.mktemp("reinstall")
    fx = fixture.build()
    assert install(tmp / "tftpboot").ok
    host_token: list[str] = []

    def fill(core: Core) -> None:
        core.add_distro(Distro(name="fixture", os_version="rhel9", kernel=str(fx.kernel),
                               initrd=str(fx.initrd), tree_url=f"http://{SERVER}:8080/tree",
                               kernel_options="console=ttyS0 quiet"))
        core.add_profile(Profile(name="guests", distro="fixture", kickstart="rhel9-guest.ks"))
        core.add_system(System(name=NAME, profile="guests", token="tok-rei1",
                               interfaces=(Interface(mac=MAC, ip=IP, bridge="br0"),)))
        core.add_system(System(name=BROKEN, profile="guests", netboot_enabled=False,
                               interfaces=(Interface(mac="52:54:00:79:00:32"),)))
        host_token.append(orders.create_host_token(core.store, "hv1", now=time.time()))

    consoles = tmp / "consoles"
    consoles.mkdir()
    with appliance(lab.ns, tmp, SERVER, fill, interfaces=("br0",), dhcp_enabled=True,
                   dhcp_ranges=("10.79.0.100,10.79.0.150,255.255.255.0,1h",),
                   tftp_enabled=True, api_token=ADMIN, power_poll_interval=5) as app:
        agent_log = tmp / "agent.log"
        with open(agent_log, "wb") as out:
            agent = lab.ns.popen(
                [sys.executable, "-m", "agent.guest.cli", "run", "--appliance", app.url,
                 "--host", "hv1", "--token", host_token[0], "--connect", lab.uri,
                 "--image-dir", str(tmp / "images"), "--state-dir", str(tmp / "agent"),
                 "--serial-dir", str(consoles), "--virt-type", "qemu", "--poll-timeout", "5"],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        broken = lab.ns.popen([sys.executable, "-m", "tests.power.brokenbmc", "--listen",
                               SERVER, "--port", str(BROKEN_PORT), "--user", USER,
                               "--password", PASSWORD], cwd=ROOT,
                              stdout=open(tmp / "broken.log", "wb"), stderr=subprocess.STDOUT)
        rig = Rig(lab.ns, app.url, tmp, consoles / f"{NAME}.log", "",
                  {"appliance": app.log_path, "agent": agent_log})
        try:
            _make_installed_guest(rig)
            rig.uuid = ET.fromstring(_persistent_xml()).findtext("uuid") or ""
            with sushy_emulator(lab.ns, tmp / "sushy", address=SERVER, port=REDFISH,
                                users={USER: PASSWORD}, libvirt_uri=lab.uri,
                                allowed=(rig.uuid,)) as redfish, \
                    virtualbmc(lab.ns, tmp / "vbmc", domain=NAME, address=SERVER,
                               port=IPMI_PORT, user=USER, password=PASSWORD,
                               libvirt_uri=lab.uri) as vbmc:
                rig.logs.update(redfish=redfish.log, vbmc=vbmc.log)
                yield rig
        finally:
            stop(broken)
            stop(agent, grace=30)


def _make_installed_guest(rig: Rig) -> None:
    """The agent makes the guest, it installs, the agent restarts it from its disk: a running
    installed system (its console says it booted from disk)."""
    code, body = rig.call("POST", "/api/agent/work", {
        "host": "hv1", "kind": "guest.create", "key": f"{NAME}:create",
        "payload": {"system": NAME, "argv": [
            "--name", NAME, "--memory", "256", "--vcpus", "1", "--pxe", "--network",
            f"bridge=br0,mac={MAC},model=e1000", "--disk", "size=0.05,bus=virtio",
            "--graphics", "none", "--osinfo", "detect=on,require=off"]}})
    assert code in (200, 201), body
    if not poll(lambda: BOOTED_FROM_DISK in rig.lab_lines(), 480, step=2):
        raise AssertionError("the guest did not install and boot its disk" + rig.diagnostics())
    assert rig.system()["status"] == "installed"


def _reinstall(rig: Rig, settings: dict[str, Any], *, timeout: float = 480) -> dict[str, Any]:
    """Configure ``settings``, give the reinstall, wait for its job; the job and the events
    from its start."""
    rig.ok("PUT", f"/api/v1/systems/{NAME}/power", {**settings, "password": PASSWORD})
    assert rig.system()["netboot_enabled"] is False
    lines_before = len(rig.lab_lines())
    job = rig.ok("POST", f"/api/v1/systems/{NAME}/reinstall", {"timeout": timeout}, want=202)
    finished = poll(lambda: (j := rig.ok("GET", f"/api/v1/reinstalls/{job['id']}"))["finished"]
                    and j, timeout + 60, step=2)
    assert finished, "the reinstall job did not finish" + rig.diagnostics()
    assert finished["systems"][0]["stage"] == "done", (finished, rig.diagnostics())
    events = rig.timeline()
    start = max(i for i, e in enumerate(events) if e["kind"] == "reinstall:started")
    took = [e["detail"]["seconds"] for e in events[start:] if e["kind"] == "reinstall:done"]
    print(f"\nreinstall via {settings['driver']}: {took} s (reinstall:done)")  # -s shows it
    # back from its disk: the console's last LAB line, after the installer's lines
    wait_until(lambda: rig.lab_lines()[-1:] == [BOOTED_FROM_DISK], 120,
               "the guest to boot from its disk again")
    new = rig.lab_lines()[lines_before:]
    assert any("kickstart fetched" in line for line in new), new
    assert new.index(BOOTED_FROM_DISK) > max(i for i, line in enumerate(new)
                                             if "callback done" in line), new
    return {"job": finished, "events": events[start:]}


def _in_order(events: list[dict[str, Any]], *steps: tuple[str, dict[str, Any]]) -> None:
    """Each (kind, detail subset) happens, in this order."""
    at = 0
    for kind, want in steps:
        for i in range(at, len(events)):
            e = events[i]
            if e["kind"] == kind and all(e["detail"].get(k) == v for k, v in want.items()):
                at = i + 1
                break
        else:
            raise AssertionError(f"{kind} {want} missing after #{at}: "
                                 f"{[(e['kind'], e['detail']) for e in events]}")


def _check_reinstall(run: dict[str, Any], power_on_after: bool = True) -> None:
    _in_order(run["events"],
              ("reinstall:started", {}),
              ("power:action", {"action": "status", "result": "ok"}),
              ("power:action", {"action": "boot", "device": "pxe", "once": True}),
              ("updated", {"fields": ["netboot_enabled"]}),
              ("power:action", {"action": "cycle", "result": "ok"}),
              ("boot-config", {}), ("kickstart", {}), ("callback:started", {}),
              ("callback:done", {"netboot": False}),
              ("power:action", {"action": "boot", "device": "disk", "once": False}),
              *([("power:action", {"action": "on", "result": "ok"})] if power_on_after else []),
              ("reinstall:done", {}))


def test_redfish_reinstall(rig: Rig) -> None:
    run = _reinstall(rig, {"driver": "redfish", "address": f"http://{SERVER}:{REDFISH}",
                           "username": USER, "system_id": rig.uuid, "auth": "basic",
                           "timeout": 30})
    _check_reinstall(run)
    assert rig.system()["netboot_enabled"] is False
    # sushy-tools writes per-device boot order (and ignores "Once"): the disk is first again
    assert first_boot_device(_persistent_xml()) == "disk"
    view = rig.ok("GET", f"/api/v1/systems/{NAME}/power")
    assert "password" not in json.dumps(view) or view["settings"]["password_set"] is True
    assert PASSWORD not in json.dumps(view) and view["settings"]["password_set"] is True
    assert "plain HTTP" in " ".join(view["settings"]["warnings"])
    polled = wait_until(lambda: (v := rig.ok("GET", f"/api/v1/systems/{NAME}/power"))["status"]
                        ["last_seen"] > run["events"][-1]["at"] and v, 30,
                        "the poller to see the guest", step=1)
    assert polled["status"]["state"] == "on"


def test_ipmi_reinstall(rig: Rig) -> None:
    run = _reinstall(rig, {"driver": "ipmi", "address": SERVER, "port": IPMI_PORT,
                           "username": USER, "system_id": "", "timeout": 30})
    _check_reinstall(run)
    # vbmc writes <os><boot dev>; persist=False is persistent there: disk set back explicitly
    assert first_boot_device(_persistent_xml()) == "disk"


def test_libvirt_reinstall_and_bulk_with_a_broken_bmc(rig: Rig) -> None:
    """The libvirt driver through host hv1's agent, in a bulk reinstall with a second system
    whose BMC rejects the override: one is done, the other fails alone, netboot as it was."""
    rig.ok("PUT", f"/api/v1/systems/{BROKEN}/power", {
        "driver": "redfish", "address": f"http://{SERVER}:{BROKEN_PORT}", "username": USER,
        "password": PASSWORD, "system_id": "reject", "timeout": 10})
    rig.ok("PUT", f"/api/v1/systems/{NAME}/power", {"driver": "libvirt", "address": "hv1",
                                                    "timeout": 60})
    lines_before = len(rig.lab_lines())
    job = rig.ok("POST", "/api/v1/reinstalls", {"systems": [NAME, BROKEN], "concurrency": 2,
                                                 "timeout": 480}, want=202)
    early = poll(lambda: (j := rig.ok("GET", f"/api/v1/reinstalls/{job['id']}"))["systems"][1]
                 ["stage"] == "failed" and j, 60, step=1)
    assert early and not early["finished"], "the broken one fails alone, at once"
    assert "override" in early["systems"][1]["message"]
    finished = poll(lambda: (j := rig.ok("GET", f"/api/v1/reinstalls/{job['id']}"))["finished"]
                    and j, 540, step=2)
    assert finished and finished["done"] == 1 and finished["failed"] == 1, rig.diagnostics()
    assert rig.system(BROKEN)["netboot_enabled"] is False
    events = rig.timeline()
    start = max(i for i, e in enumerate(events) if e["kind"] == "reinstall:started")
    _check_reinstall({"events": events[start:]})
    wait_until(lambda: rig.lab_lines()[-1:] == [BOOTED_FROM_DISK], 120,
               "the guest to boot from its disk again")
    assert any("kickstart fetched" in line for line in rig.lab_lines()[lines_before:])
    assert first_boot_device(_persistent_xml()) == "disk"
    kinds = [e["kind"] for e in events[start:]]
    assert "agent:done" in kinds  # the power actions were the agent's guest.power work


FAULTS = [
    ("unreachable", {"driver": "redfish", "address": "http://10.79.0.250:8000",
                     "username": USER, "timeout": 5}, "checking", 5),
    ("wrong password", {"driver": "redfish", "address": f"http://{SERVER}:{REDFISH}",
                        "username": USER, "auth": "basic", "timeout": 5, "password": "nope"},
     "checking", 5),
    ("wrong IPMI password", {"driver": "ipmi", "address": SERVER, "port": IPMI_PORT,
                             "username": USER, "timeout": 5, "password": "nope"},
     "checking", 5),
    ("override rejected", {"driver": "redfish", "address": f"http://{SERVER}:{BROKEN_PORT}",
                           "username": USER, "system_id": "reject", "timeout": 5},
     "override", 5),
    ("missing properties", {"driver": "redfish", "address": f"http://{SERVER}:{BROKEN_PORT}",
                            "username": USER, "system_id": "noboot", "timeout": 5},
     "override", 5),
    ("no power state", {"driver": "redfish", "address": f"http://{SERVER}:{BROKEN_PORT}",
                        "username": USER, "system_id": "nopower", "timeout": 5},
     "checking", 5),
    ("no reset action", {"driver": "redfish", "address": f"http://{SERVER}:{BROKEN_PORT}",
                         "username": USER, "system_id": "noreset", "timeout": 5}, "cycling", 5),
    ("BMC never answers", {"driver": "redfish", "address": f"http://{SERVER}:{BROKEN_PORT}",
                           "username": USER, "system_id": "hang", "timeout": 4}, "checking", 4),
]


@pytest.mark.parametrize("what,settings,stage,timeout", FAULTS, ids=[f[0] for f in FAULTS])
def test_faults_fail_in_time_and_leave_netboot_as_it_was(rig: Rig, what: str,
                                                         settings: dict[str, Any], stage: str,
                                                         timeout: float) -> None:
    rig.ok("PUT", f"/api/v1/systems/{BROKEN}/power",
           {"password": PASSWORD, "system_id": "", "auth": "auto", **settings})
    before = rig.system(BROKEN)["netboot_enabled"]
    t0 = time.monotonic()
    job = rig.ok("POST", f"/api/v1/systems/{BROKEN}/reinstall", {"timeout": 60}, want=202)
    done = poll(lambda: (j := rig.ok("GET", f"/api/v1/reinstalls/{job['id']}"))["finished"]
                and j, 3 * timeout + 15, step=0.5)
    took = time.monotonic() - t0
    assert done, f"{what}: no result within {3 * timeout + 15} s"
    p = done["systems"][0]
    assert p["stage"] == "failed" and p["message"].startswith(stage), p
    assert rig.system(BROKEN)["netboot_enabled"] is before
    failed = [e for e in rig.timeline(BROKEN) if e["kind"] == "reinstall:failed"][-1]
    assert failed["detail"]["stage"] == stage and failed["detail"]["reason"]
    assert PASSWORD not in json.dumps(failed) and "nope" not in json.dumps(failed)
    if stage == "cycling":  # netboot and the override were on: both put back
        assert failed["detail"]["restored"] == {"netboot": before, "boot": "disk"}, failed
        patch = json.loads(rig.ns.run(["curl", "-s", "-u", f"{USER}:{PASSWORD}",
                                       f"http://{SERVER}:{BROKEN_PORT}/redfish/v1/Systems/"
                                       "noreset/LastPatch"]).stdout)["body"]
        assert patch["Boot"]["BootSourceOverrideTarget"] == "Hdd", patch
    assert took < 3 * timeout + 10, f"{what}: {took:.1f} s"
    # a direct status: the cause when the status itself failed, else the state it answers
    code, body = rig.call("POST", f"/api/v1/systems/{BROKEN}/power/status")
    if stage == "checking":
        assert code == 200 and body["state"] == "unknown" and body["error"], body
    else:
        assert code == 200 and body["state"] in ("on", "off") and not body.get("error"), body
