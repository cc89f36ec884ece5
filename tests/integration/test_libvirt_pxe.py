"""End to end: the appliance gives work, the agent makes a libvirt guest, the guest PXE-boots.

One namespace (``lab`` fixture: bridge br0 at 10.79.0.1/24) holds a real libvirtd
(``tests/integration/libvirtd.py``), the real appliance (``provisioner serve`` with DHCP and TFTP
on br0, SQLite; ``tests/e2e/appliance.py``) and the agent (``provisioner-agent run``, probing
the namespace's network for real). The test only talks to the appliance's API:

1. it queues ``guest.create`` (virt-install options) for host ``hv1``;
2. the agent long-polls, gets it, creates the disk image, defines the install phase
   (``<boot dev='network'/>`` first, ``on_reboot=destroy``) and starts a QEMU guest
   (``type='qemu'``, TCG); libvirtd puts its tap on br0 inside the namespace;
3. the guest's firmware (SeaBIOS + iPXE) gets DHCP and its iPXE script from the appliance,
   boots the fixture kernel (``tests/e2e/fixture.py``), which fetches its kickstart from the
   appliance, calls ``done`` and powers off;
4. the agent sees the power-off, switches the guest to its final definition and starts it;
5. ``guest.delete`` tears it down: no domain, no image, no state file, no tap left.

Every step is asserted in the system's timeline (agent events and appliance events together).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from provisioner.core import orders
from provisioner.core.app import Core
from provisioner.models import Distro, Interface, Profile, System
from tests.integration.libvirtd import lab  # noqa: F401  (module fixture)
from tests.procs import poll, stop, wait_until

pytestmark = [pytest.mark.netns, pytest.mark.libvirtd, pytest.mark.qemu,
              pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="needs QEMU")]
ROOT = Path(__file__).resolve().parents[2]
SERVER = "10.79.0.1"
NAME, MAC, IP = "pt-pxe1", "52:54:00:79:00:21", "10.79.0.51"
ADMIN = "integration-admin-token"


def test_agent_makes_a_guest_that_pxe_boots_from_the_appliance(lab, tmp_path) -> None:  # noqa: F811
    from provisioner.bootloaders import install
    from tests.e2e import fixture
    from tests.e2e.appliance import appliance

    fx = fixture.build()
    report = install(tmp_path / "tftpboot")
    assert report.ok, [s.describe() for s in report.missing]
    host_token: list[str] = []

    def fill(core: Core) -> None:
        core.add_distro(Distro(name="fixture", os_version="rhel9", kernel=str(fx.kernel),
                               initrd=str(fx.initrd), tree_url=f"http://{SERVER}:8080/tree",
                               kernel_options="console=ttyS0 quiet"))
        core.add_profile(Profile(name="guests", distro="fixture", kickstart="rhel9-guest.ks"))
        core.add_system(System(name=NAME, profile="guests", token="tok-pxe1",
                               interfaces=(Interface(mac=MAC, ip=IP, bridge="br0"),)))
        host_token.append(orders.create_host_token(core.store, "hv1", now=time.time()))

    images, state, consoles = tmp_path / "images", tmp_path / "agent", tmp_path / "consoles"
    consoles.mkdir()
    with appliance(lab.ns, tmp_path, SERVER, fill, interfaces=("br0",), dhcp_enabled=True,
                   dhcp_ranges=("10.79.0.100,10.79.0.150,255.255.255.0,1h",),
                   tftp_enabled=True, api_token=ADMIN) as app:
        agent_log = open(tmp_path / "agent.log", "wb")
        agent = lab.ns.popen(
            [sys.executable, "-m", "agent.guest.cli", "run", "--appliance", app.url,
             "--host", "hv1", "--token", host_token[0], "--connect", lab.uri,
             "--image-dir", str(images), "--state-dir", str(state), "--serial-dir",
             str(consoles), "--virt-type", "qemu", "--poll-timeout", "5"],
            stdout=agent_log, stderr=subprocess.STDOUT, cwd=ROOT)

        def api(path: str, body: dict) -> dict:
            r = lab.ns.run(["curl", "-sS", "--max-time", "30", "-X", "POST", "-H",
                            f"Authorization: Bearer {ADMIN}", "-H",
                            "Content-Type: application/json", "--data", json.dumps(body),
                            f"{app.url}/api/agent{path}"], timeout=60)
            return json.loads(r.stdout)

        def work(wid: str) -> dict:
            r = lab.ns.run(["curl", "-sS", "-H", f"Authorization: Bearer {ADMIN}",
                            f"{app.url}/api/agent/work/{wid}"], timeout=60)
            return json.loads(r.stdout)["work"]

        def kinds() -> list[str]:
            return [e["kind"] for e in app.timeline(NAME)]

        def diagnostics() -> str:
            console = consoles / f"{NAME}.log"
            tail = console.read_text(errors="replace")[-3000:] if console.exists() else ""
            return (f"\n--- agent\n{(tmp_path / 'agent.log').read_text()[-3000:]}"
                    f"\n--- console\n{tail}"
                    f"\n--- appliance\n{app.log()[-3000:]}\n--- timeline {kinds()}")

        try:
            create = api("/work", {"host": "hv1", "kind": "guest.create", "key": f"{NAME}:create",
                                   "payload": {"system": NAME, "argv": [
                                       "--name", NAME, "--memory", "256", "--vcpus", "1",
                                       "--pxe", "--network", f"bridge=br0,mac={MAC},model=e1000",
                                       "--disk", "size=0.05", "--graphics", "none",
                                       "--osinfo", "detect=on,require=off"]}})["work"]
            started = time.monotonic()
            wait_until(lambda: work(create["id"])["state"] in ("done", "failed"), 180,
                       "the agent to start the guest", step=1)
            assert work(create["id"])["state"] == "done", diagnostics()
            conn = libvirt.open(lab.uri)
            try:
                dom = conn.lookupByName(NAME)
                assert dom.isActive()
                assert "<boot dev='network'/>" in dom.XMLDesc(0)
                tap = ET.fromstring(dom.XMLDesc(0)).find("./devices/interface/target").get("dev")
            finally:
                conn.close()
            links = lab.ns.run(["ip", "-o", "link", "show", "master", "br0"]).stdout
            assert tap in links  # the guest's tap is on br0 inside the namespace
            # the guest installs: DHCP, iPXE script, kernel, kickstart, callback, power off;
            # then the agent switches it to its final definition and starts it again.
            if not poll(lambda: "guest.install-finished" in kinds(), 420, step=2):
                raise AssertionError("the guest did not install and restart" + diagnostics())
            install_s = round(time.monotonic() - started, 1)
            system = app.system(NAME)
            assert system["status"] == "installed" and system["netboot_enabled"] is False
            console = (consoles / f"{NAME}.log").read_text(errors="replace")
            assert fixture.KICKSTART_FETCHED in console and fixture.CALLBACK_DONE in console, \
                console[-2000:]
            conn = libvirt.open(lab.uri)
            try:
                final = conn.lookupByName(NAME).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            finally:
                conn.close()
            assert "<boot dev='hd'/>" in final and "<boot dev='network'/>" not in final

            delete = api("/work", {"host": "hv1", "kind": "guest.delete",
                                   "key": f"{NAME}:delete",
                                   "payload": {"system": NAME, "name": NAME}})["work"]
            if not poll(lambda: work(delete["id"])["state"] == "done", 120, step=1):
                raise AssertionError("tear-down did not finish" + diagnostics())
        finally:
            stop(agent, grace=30)
            agent_log.close()
        events = app.timeline(NAME)

    seen = [e["kind"] for e in events]
    for kind in ("guest.disk-created", "guest.defined", "guest.started", "boot-config",
                 "kickstart", "callback:done", "guest.install-finished", "guest.destroyed",
                 "guest.undefined"):
        assert kind in seen, (kind, seen)
    order = [seen.index(k) for k in ("guest.defined", "guest.started", "kickstart",
                                     "callback:done", "guest.install-finished",
                                     "guest.undefined")]
    assert order == sorted(order), seen
    # tear-down left nothing: no domain, no image, no agent state, no tap on the bridge
    conn = libvirt.open(lab.uri)
    try:
        assert NAME not in [d.name() for d in conn.listAllDomains(0)]
    finally:
        conn.close()
    assert not list(images.glob("*")) and not list((state / "guests").glob("*"))
    assert "vnet" not in lab.ns.run(["ip", "-o", "link"]).stdout
    print(f"\nagent -> libvirt -> PXE install -> final definition: {install_s}s")
