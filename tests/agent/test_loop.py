"""The agent's work loop against the real appliance API (Flask on loopback) and the libvirt
test driver (``test:///default``: one in-process hypervisor, reset after each test). Restarts
of either side are in ``test_loop_restart.py``."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import libvirt
import pytest

from agent.client import AgentClient
from agent.facts.model import Bridge, HostFacts, Network, Nic
from agent.guest.errors import GuestError
from agent.guest.virt import Virt
from agent.loop import Agent, LoopConfig
from agent.workitems import guest_uuid, order_argv
from tests.agent.guest.conftest import reset_test_driver
from tests.agent.loophelpers import appliance, make_agent
from tests.netns import have_root_netns, netns

ROOT = Path(__file__).resolve().parents[2]

PXE = ["--name", "web1", "--memory", "256", "--pxe", "--network",
       "bridge=br0,mac=52:54:00:42:00:01", "--disk", "size=0.01,sparse=yes", "--graphics", "none",
       "--osinfo", "detect=on,require=off"]


@pytest.fixture
def env(tmp_path):
    images = tmp_path / "images"
    virt = Virt("test:///default", image_dir=str(images))
    facts = HostFacts(image_dir=str(images))
    with appliance() as app:
        agent = make_agent(app.url, app.host_token, virt, facts, str(tmp_path / "state"))
        yield app, agent, virt
    virt.close()
    reset_test_driver()  # the test driver outlives a connection while another one is open


def _run(agent: Agent, n: int = 1) -> None:
    stop = threading.Event()
    timer = threading.Timer(60, stop.set)  # a bound, never reached when the test passes
    timer.start()
    try:
        assert agent.run(stop, max_items=n) == n
    finally:
        timer.cancel()


def test_create_defines_starts_and_reports(env) -> None:
    app, agent, virt = env
    item = app.enqueue("guest.create", {"system": "web1", "argv": PXE}, key="order:1:create")
    _run(agent)
    dom = virt.conn.lookupByName("web1")
    assert dom.isActive() and dom.UUIDString() == guest_uuid({"key": "order:1:create"})
    assert "<boot dev='network'/>" in dom.XMLDesc(0) and "<on_reboot>destroy" in dom.XMLDesc(0)
    done = app.core.store.get_work(item.id)
    assert done.state == "done" and done.result["uuid"] == dom.UUIDString()
    assert done.result["timing"]["libvirt_calls"] > 0
    kinds = app.kinds("web1")
    assert kinds[:2] == ["guest.disk-created", "guest.defined"]
    assert "guest.started" in kinds and "agent:done" in kinds


def test_replayed_work_finds_its_guest(env) -> None:
    app, agent, virt = env
    work = {"id": "w1", "key": "order:9:create", "kind": "guest.create",
            "payload": {"system": "web1", "argv": PXE}}
    first = agent.execute(work)
    second = agent.execute({**work, "id": "w2"})  # same key: the lease came back after a crash
    assert second["uuid"] == first["uuid"] and second["resumed"] is True
    assert [d.name() for d in virt.conn.listAllDomains()].count("web1") == 1


def test_replay_draws_the_same_generated_macs(env) -> None:
    app, agent, virt = env
    argv = ["--name", "web1", "--memory", "256", "--pxe", "--network", "bridge=br0",
            "--disk", "size=0.01,sparse=yes", "--graphics", "none", "--osinfo", "generic"]
    work = {"id": "w1", "key": "order:7:create", "kind": "guest.create",
            "payload": {"system": "web1", "argv": argv}}
    first = agent.execute(work)
    second = agent.execute({**work, "id": "w2"})
    assert first["macs"] == second["macs"] and first["macs"][0].startswith("52:54:00:")
    final = agent._load("web1")["final_xml"]
    assert first["macs"][0] in final  # the final definition keeps the install phase's MAC


def test_power_off_after_install_switches_to_final_definition(env) -> None:
    app, agent, virt = env
    app.enqueue("guest.create", {"system": "web1", "argv": PXE}, key="k")
    _run(agent)
    agent.watch()
    virt.conn.lookupByName("web1").destroy()  # the installer powered the guest off
    agent.watch()
    dom = virt.conn.lookupByName("web1")
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert dom.isActive() and "<boot dev='hd'/>" in xml and "on_reboot>destroy" not in xml
    agent.flush()
    kinds = app.kinds("web1")
    assert "guest.install-finished" in kinds
    assert kinds.count("guest.state") >= 2  # running -> shutoff -> running reported


def test_delete_undefines_and_removes_storage(env) -> None:
    app, agent, virt = env
    app.enqueue("guest.create", {"system": "web1", "argv": PXE}, key="k")
    _run(agent)
    disk = f"{virt.image_dir}/web1.qcow2"
    assert os.path.exists(disk)
    item = app.enqueue("guest.delete", {"system": "web1", "name": "web1"}, key="k-del")
    _run(agent)
    assert virt.lookup("web1") is None and not os.path.exists(disk)
    assert app.core.store.get_work(item.id).result["removed"] == [disk]
    assert not agent.managed()


def test_stop_asks_the_guest_to_shut_down(env) -> None:
    app, agent, virt = env
    app.enqueue("guest.create", {"system": "web1", "argv": PXE}, key="k")
    _run(agent)
    item = app.enqueue("guest.stop", {"system": "web1", "name": "web1"}, key="k-stop")
    _run(agent)
    # the test driver's guests obey ACPI at once
    assert app.core.store.get_work(item.id).result["state"] == "shutoff"
    assert "guest.stopping" in app.kinds("web1")
    agent.watch()  # a requested power-off is not the end of the install phase
    assert virt.state("web1") == "shutoff"


def test_name_clash_fails_without_retry(env) -> None:
    app, agent, virt = env
    virt.conn.defineXML("<domain type='test'><name>web1</name><memory>1024</memory>"
                        "<os><type>hvm</type></os></domain>")
    item = app.enqueue("guest.create", {"system": "web1", "argv": PXE}, key="k")
    _run(agent)
    failed = app.core.store.get_work(item.id)
    assert failed.state == "failed" and failed.result["error"].startswith("NAME_CLASH")
    assert "guest.failed" in app.kinds("web1")


@pytest.mark.parametrize("extra", [
    ["--disk", "path=/dev/sda"],
    ["--disk", "path=/etc/shadow"],
    ["--disk", "path=IMAGES/../../etc/passwd"],
    ["--cdrom", "/root/secret.iso"],
    ["--serial", "file,path=/etc/cron.d/x"],
], ids=["host-block-device", "host-file", "dotdot-escape", "iso-elsewhere", "serial-log-anywhere"])
def test_work_naming_host_paths_fails_closed(env, extra) -> None:
    app, agent, virt = env
    extra = [e.replace("IMAGES", virt.image_dir) for e in extra]
    argv = ["--name", "web1", "--memory", "256", "--network", "bridge=br0", "--graphics",
            "none", "--osinfo", "generic", *(["--import"] if extra[0] != "--cdrom" else []),
            *(["--disk", "none"] if extra[0] != "--disk" else []), *extra]
    item = app.enqueue("guest.create", {"system": "web1", "argv": argv}, key="k")
    _run(agent)
    failed = app.core.store.get_work(item.id)
    assert failed.state == "failed" and failed.result["error"].startswith("PATH_NOT_ALLOWED")
    assert virt.lookup("web1") is None


def test_missing_bridge_is_a_clear_error(env, tmp_path) -> None:
    app, _, virt = env
    facts = HostFacts(image_dir=virt.image_dir, network=Network(
        nics=(Nic("eth0"),), bridges=(Bridge("br9"),)))
    agent = make_agent(app.url, app.host_token, virt, facts, str(tmp_path / "s2"))
    item = app.enqueue("guest.create", {"system": "web1", "argv": PXE}, key="k")
    _run(agent)
    assert app.core.store.get_work(item.id).result["error"].startswith("BRIDGE_MISSING")
    assert virt.lookup("web1") is None


def test_order_payload_becomes_virt_install_options() -> None:
    payload = {"order": "o1", "name": "vm1", "vcpus": 2, "ram_mb": 512, "disk_gb": 4,
               "bridge": "br0", "mac": "52:54:00:00:00:09", "hypervisor": "kvm",
               "virt_type": "hvm", "disk_bus": "virtio", "os_version": "rhel5.4",
               "system": "vm1"}
    argv = order_argv(payload, LoopConfig(state_dir="/x", virt_type="qemu"))
    assert argv == ["--name", "vm1", "--memory", "512", "--vcpus", "2", "--pxe", "--network",
                    "bridge=br0,mac=52:54:00:00:00:09", "--disk", "size=4,bus=virtio",
                    "--graphics", "none", "--osinfo", "rhel5.4", "--virt-type", "qemu"]


@pytest.mark.parametrize("field,value", [("ram_mb", 0), ("ram_mb", None), ("vcpus", 0),
                                         ("disk_gb", "ten"), ("vcpus", -2)])
def test_order_without_a_usable_size_is_refused_not_defaulted(field, value) -> None:
    payload = {"name": "vm1", "vcpus": 2, "ram_mb": 512, "disk_gb": 4, "bridge": "br0"}
    payload[field] = value
    with pytest.raises(GuestError) as exc:
        order_argv(payload, LoopConfig(state_dir="/x"))
    assert exc.value.code == "ORDER_FIELD" and field in str(exc.value)


def test_migratable_order_gets_a_named_cpu_model() -> None:
    payload = {"name": "vm1", "vcpus": 2, "ram_mb": 512, "disk_gb": 4, "bridge": "br0",
               "migratable": True}
    assert order_argv(payload, LoopConfig(state_dir="/x"))[-2:] == ["--cpu", "host-model-only"]
    payload["cpu_model"] = "Skylake-Client-IBRS"
    assert order_argv(payload, LoopConfig(state_dir="/x"))[-2:] == ["--cpu",
                                                                    "Skylake-Client-IBRS"]


def test_order_os_version_maps_to_libosinfo_or_generic() -> None:
    from agent.guest.osinfo import default_db
    from agent.workitems import order_osinfo

    db = default_db()
    assert order_osinfo("rhel9.0", db) == ["--osinfo", "rhel9.0"]
    assert order_osinfo("rhel9", db) == ["--osinfo", "rhel9-unknown"]
    assert order_osinfo("rhel5", None) == ["--osinfo", "rhel5"]  # the seed's spelling
    assert order_osinfo("plan9", db) == ["--osinfo", "detect=on,require=off"]


def test_events_wait_in_the_outbox_while_the_appliance_is_down(env, tmp_path) -> None:
    app, agent, virt = env
    down = Agent(AgentClient("http://127.0.0.1:9", "hv1", app.host_token, timeout=1), virt,
                 agent.facts, agent.caps, LoopConfig(state_dir=str(tmp_path / "s3")))
    down.event("guest.state", {"to": "running"}, system="web1")
    assert len(down.outbox) == 1 and not down.flush()
    down.client = agent.client  # the appliance is back
    assert down.flush() and not down.outbox
    assert app.kinds("web1") == ["guest.state"]


def test_missing_bridge_is_planned_when_a_planner_is_wired(env, tmp_path) -> None:
    app, _, virt = env
    facts = HostFacts(image_dir=virt.image_dir, network=Network(nics=(Nic("eth0"),)))
    agent = make_agent(app.url, app.host_token, virt, facts, str(tmp_path / "s4"))
    planned = []

    def ensure(name: str) -> None:  # stands in for agent.plan.bridges + apply (tested there)
        planned.append(name)
        agent.facts = HostFacts(image_dir=virt.image_dir, network=Network(
            nics=(Nic("eth0"), Nic(name, kind="bridge")), bridges=(Bridge(name),)))

    agent.ensure_bridge = ensure
    item = app.enqueue("guest.create", {"system": "web1", "argv": PXE}, key="k")
    _run(agent)
    assert planned == ["br0"] and app.core.store.get_work(item.id).state == "done"


@pytest.mark.netns
@pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")
def test_run_bridge_planner_creates_the_bridge_in_a_namespace(tmp_path) -> None:
    """``run --bridge-plans``'s hook for real: probe, plan (agent.plan.bridges), apply (live
    only), probe again, inside a test namespace with a veth as the uplink."""
    script = (
        "import argparse, json, sys\n"
        "from agent.guest import cli\n"
        f"args = argparse.Namespace(bridge_nic='vx0', bridge_persist='none', "
        f"state_dir={str(tmp_path)!r}, facts=None, image_dir='/tmp', connect='test:///default')\n"
        "class Ag:\n"
        "    facts = cli._facts(args)\n"
        "    events = []\n"
        "    def event(self, kind, detail, **kw): self.events.append(kind)\n"
        "ag = Ag()\n"
        "cli._bridge_planner(args, ag)('brlab0')\n"
        "print(json.dumps({'bridges': [b.name for b in ag.facts.network.bridges],"
        " 'events': ag.events}))\n")
    with netns("pbr") as ns:
        ns.ip("link", "add", "vx0", "type", "veth", "peer", "name", "vx1")
        ns.ip("link", "set", "vx0", "up")
        out = ns.run([sys.executable, "-c", script], timeout=120, cwd=ROOT)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result == {"bridges": ["brlab0"], "events": ["bridge.planned"]}
        assert "master brlab0" in ns.ip("-o", "link", "show", "vx0").stdout


def test_registration_sends_the_doctor_report(env) -> None:
    """`provisioner-agent run` wires the doctor in: its report follows each registration; a
    diagnosis that fails is logged and never stops the agent."""
    app, agent, _ = env
    agent.doctor = lambda: {"status": "findings", "findings": [{
        "id": "H4", "severity": "warning", "title": "libvirtd is not running", "seed": "20.1",
        "cause": "c", "fix": "f", "plan": None, "evidence": ["no libvirtd"]}]}
    agent.register()
    rep = app.core.store.get_host("hv1").facts["doctor"]
    assert rep["status"] == "findings" and rep["findings"][0]["id"] == "H4"

    def broken() -> dict:
        raise OSError("cannot read /proc")
    agent.doctor = broken
    agent.register()
    assert agent.registered and app.core.store.get_host("hv1").facts["doctor"] == rep


def test_run_refreshes_the_doctor_report(env) -> None:
    """The loop re-sends the report every doctor_interval (the host page shows how old it is)."""
    app, agent, _ = env
    sent: list[int] = []

    def report() -> dict:
        sent.append(1)
        return {"status": "healthy", "findings": [], "facts": {"hostname": f"r{len(sent)}"}}
    agent.doctor = report
    agent.config.doctor_interval = 0.01
    stop = threading.Event()
    threading.Timer(2.5, stop.set).start()
    agent.run(stop)
    assert len(sent) >= 2           # the registration's report and at least one refresh
    assert app.core.store.get_host("hv1").facts["doctor"]["facts"]["hostname"] == \
        f"r{len(sent)}"


def test_registration_reports_the_usable_cpu_models_oldest_first(env, monkeypatch) -> None:
    """What the appliance picks a migratable guest's CPU model from (``core/cpu_models``): the
    host's usable named models per domain type, here this machine's real TCG domcaps."""
    from agent.guest.domcaps import parse_domcaps
    from tests.agent.guest.cases import HOSTS

    app, agent, virt = env
    dc = parse_domcaps((HOSTS / "tcg-x86_64" / "domcaps.xml").read_text())
    monkeypatch.setattr(virt, "domcaps", lambda *a, **k: dc)
    agent.register()
    capacity = app.core.store.get_host("hv1").capacity
    names = [m["name"] for m in capacity["cpu_models"]["test"]]
    assert names.index("Conroe") < names.index("Penryn") < names.index("Westmere")
    assert "Haswell" not in names and {"name": "athlon", "vendor": "AMD"} in \
        capacity["cpu_models"]["test"]
