"""``guest.power`` work: the agent's side of the appliance's libvirt power driver
(``agent/guest/power.py``) and the driver itself (``provisioner/power/agentwork.py``), end to
end: the real appliance API on loopback, the agent's real work loop, libvirt's test driver."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET

import pytest

from agent.facts.model import HostFacts
from agent.guest.errors import GuestError
from agent.guest.power import boot_order
from agent.guest.virt import Virt
from provisioner.errors import PowerError
from provisioner.models import PowerConfig
from provisioner.power.agentwork import AgentGuestPower
from tests.agent.guest.conftest import reset_test_driver
from tests.agent.loophelpers import appliance, make_agent

PXE = ["--name", "web1", "--memory", "256", "--pxe", "--network",
       "bridge=br0,mac=52:54:00:42:00:07", "--disk", "size=0.01,sparse=yes", "--graphics", "none",
       "--osinfo", "detect=on,require=off"]


@pytest.fixture
def env(tmp_path):
    images = tmp_path / "images"
    virt = Virt("test:///default", image_dir=str(images))
    with appliance() as app:
        agent = make_agent(app.url, app.host_token, virt, HostFacts(image_dir=str(images)),
                           str(tmp_path / "state"))
        agent.execute({"id": "c1", "key": "order:1:create", "kind": "guest.create",
                       "payload": {"system": "web1", "argv": PXE}})
        stop = threading.Event()
        loop = threading.Thread(target=agent.run, args=(stop,), daemon=True)
        loop.start()
        try:
            yield app, virt
        finally:
            stop.set()
            loop.join(timeout=15)
    virt.close()
    reset_test_driver()


def driver(app, timeout: float = 10, domain: str = "web1", host: str = "hv1"):
    cfg = PowerConfig(system="web1", driver="libvirt", address=host, system_id=domain,
                      timeout=timeout)
    return AgentGuestPower(cfg, app.core.store, clock=time.time, sleep=time.sleep, step=0.05)


def boots(virt: Virt) -> list[str]:
    root = ET.fromstring(virt.inactive_xml("web1"))
    return [b.get("dev") for b in root.findall("./os/boot")]


def test_power_and_boot_order_through_the_agent(env) -> None:
    app, virt = env
    d = driver(app)
    assert d.status() == "on"
    d.power("off")
    assert virt.state("web1") == "shutoff" and d.status() == "off"
    d.power("on")
    assert virt.state("web1") == "running"
    d.set_boot("disk", once=False)
    assert boots(virt) == ["hd"]
    d.set_boot("pxe", once=True)
    assert boots(virt) == ["network", "hd"]
    d.power("cycle")
    d.power("reset")
    assert d.status() == "on"
    kinds = app.kinds("web1")
    assert kinds.count("agent:done") >= 9  # every call was one work item, done by the agent


def test_refusals_are_named_and_not_retried(env) -> None:
    app, virt = env
    err = pytest.raises(PowerError, driver(app).set_boot, "http", once=True).value
    assert err.kind == "unsupported"
    err = pytest.raises(PowerError, driver(app, domain="ghost").status).value
    assert err.kind == "missing" and "ghost" in str(err)
    items = [w for w in app.core.store.list_work(host="hv1") if w.kind == "guest.power"]
    assert all(w.state in ("done", "failed") and w.attempts <= 1 for w in items)
    err = pytest.raises(PowerError, driver(app, host="hv9").status).value
    assert err.kind == "unreachable" and "not registered" in str(err)


def test_a_call_nobody_answers_expires_and_a_late_agent_refuses_it(env, tmp_path) -> None:
    app, virt = env
    from provisioner.models import Host
    app.core.store.put_host(Host(name="hv2", last_seen=time.time() - 40))
    t0 = time.monotonic()
    err = pytest.raises(PowerError, driver(app, timeout=1, host="hv2").power, "off").value
    assert err.kind == "timeout" and 1 <= time.monotonic() - t0 < 3
    assert "last polled 4" in str(err) and err.hint
    item = next(w for w in app.core.store.list_work(host="hv2"))
    assert item.state == "failed"  # never handed out later
    # an agent that got such an item anyway (it was leased just before) refuses to act
    from tests.agent.loophelpers import make_agent as _make
    agent = _make(app.url, app.host_token, virt, HostFacts(image_dir=str(tmp_path)),
                  str(tmp_path / "s2"))
    with pytest.raises(GuestError) as late:
        agent.power_guest({"id": "x", "payload": {"name": "web1", "op": "off",
                                                  "not_after": time.time() - 1}})
    assert late.value.code == "POWER_EXPIRED" and virt.state("web1") == "running"


BASE = """<domain type='qemu'><name>g</name><os><type arch='x86_64'>hvm</type>{os}</os>
<devices><disk type='file' device='disk'>{disk}<target dev='vda'/></disk>
<interface type='bridge'>{nic}<source bridge='br0'/></interface></devices></domain>"""


@pytest.mark.parametrize("before,device,want", [
    ({"os": "<boot dev='hd'/>"}, "pxe", ["network", "hd"]),
    ({"os": "<boot dev='network'/><boot dev='hd'/>"}, "disk", ["hd"]),
    ({"disk": "<boot order='2'/>", "nic": "<boot order='1'/>"}, "disk", ["hd"]),  # sushy-tools
    ({"os": "<boot dev='cdrom'/>"}, "pxe", ["network", "hd"]),
])
def test_boot_order_rewrites_only_the_boot_list(before, device, want) -> None:
    xml = BASE.format(**{"os": "", "disk": "", "nic": "", **before})
    out = ET.fromstring(boot_order(xml, device))
    assert [b.get("dev") for b in out.findall("./os/boot")] == want
    assert out.findall("./devices/*/boot") == []  # libvirt refuses both kinds at once
    assert out.find("./devices/interface/source").get("bridge") == "br0"


def test_boot_order_refuses_what_it_cannot_do() -> None:
    with pytest.raises(GuestError) as err:
        boot_order(BASE.format(os="", disk="", nic=""), "http")
    assert err.value.code == "POWER_UNSUPPORTED"
    direct = "<domain><name>g</name><os><type>hvm</type><kernel>/k</kernel></os></domain>"
    with pytest.raises(GuestError):
        boot_order(direct, "pxe")
