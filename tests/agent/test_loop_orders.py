"""A web order reaches a guest: ``Ordering.submit`` (the UI's use-case) queues ``guest.create``
through ``core.orders.enqueue``; the agent, registered over the real API with its facts, leases
it, makes the guest on the libvirt test driver, and the order's progress follows its events."""

from __future__ import annotations

import threading

from agent.facts.model import Bridge, Cpu, HostFacts, Kernel, Network, Nic
from agent.guest.virt import Virt
from agent.workitems import order_argv
from provisioner.core import orders
from provisioner.core.ordering import Ordering
from provisioner.core.rules import check
from provisioner.core.users import Users
from provisioner.models import Distro, Profile, VmDefaults
from tests.agent.guest.conftest import reset_test_driver
from tests.agent.loophelpers import appliance, make_agent
from tests.fakes import MemoryStore


def test_web_order_becomes_a_running_guest(tmp_path) -> None:
    store = MemoryStore()
    store.put_distro(Distro(name="rhel5", os_version="rhel5.4",
                            tree_url="http://mirror.example/5.4"))
    store.put_profile(Profile(name="web", distro="rhel5",
                              vm=VmDefaults(ram_mb=512, vcpus=1, disk_gb=1, bridge="br0")))
    images = tmp_path / "images"
    facts = HostFacts(
        hostname="hv1", mem_kib=16 * 2**20, image_dir=str(images),
        image_dir_free_bytes=100 * 2**30,
        cpu=Cpu(vendor="GenuineIntel", cores=4, threads=8,
                flags=("constant_tsc", "lm", "nx", "pae", "vmx")),
        kernel=Kernel(arch="x86_64", kvm_modules=("kvm", "kvm_intel")),
        network=Network(nics=(Nic("eth0", master="br0"), Nic("br0", kind="bridge")),
                        bridges=(Bridge("br0", ports=("eth0",)),)))
    virt = Virt("test:///default", image_dir=str(images))
    with appliance(store) as app:
        agent = make_agent(app.url, app.host_token, virt, facts, str(tmp_path / "state"),
                           virt_type="test")  # the test driver stands in for KVM
        agent.register()  # facts and capacity, over the API
        clock = app.core.clock
        ordering = Ordering(store, rules_check=check, clock=clock,
                            enqueue=lambda host, kind, payload, key: orders.enqueue(
                                store, host, kind, payload, key=key, now=clock()))
        alice = Users(store).create("alice", "alice-password")
        order = ordering.submit({"name": "web01", "profile": "web", "vcpus": "1",
                                 "ram_mb": "512", "disk_gb": "1", "network": "br0",
                                 "host": "any"}, alice)
        [item] = store.list_work(host="hv1")
        assert item.kind == "guest.create" and item.payload["order"] == order.id
        stop = threading.Event()
        assert agent.run(stop, max_items=1) == 1
        done = store.get_work(item.id)
        assert done.state == "done", done.result
        dom = virt.conn.lookupByName("web01")
        assert dom.isActive() and item.payload["mac"] in dom.XMLDesc(0)
        progress = ordering.progress(store.get_order(order.id))
        assert progress.state == "defined", progress
        argv = order_argv(item.payload, agent.config)
        assert argv[argv.index("--network") + 1] == f"bridge=br0,mac={item.payload['mac']}"
    virt.close()
    reset_test_driver()
